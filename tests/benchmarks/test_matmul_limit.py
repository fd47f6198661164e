"""The FLOP count behind bench_update's matmul-limit columns."""

import torch

from benchmarks.matmul_limit import Matmul, flops, record_matmuls, time_matmuls


def test_a_linear_layer_forward_and_backward_is_three_products_of_2bio_flops():
    b, i, o = 5, 7, 3
    layer = torch.nn.Linear(i, o)
    x = torch.randn(b, i, requires_grad=True)
    products = record_matmuls(lambda: layer(x).sum().backward())
    assert sorted(p.flops for p in products) == [2 * b * i * o] * 3
    assert flops(products) == 6 * b * i * o


def test_batched_products_count_their_batch():
    a, w = torch.randn(4, 5, 6), torch.randn(4, 6, 2)
    products = record_matmuls(lambda: torch.baddbmm(torch.zeros(4, 5, 2), a, w))
    assert products == [Matmul(4, 5, 6, 2)]
    assert time_matmuls(products, torch.device("cpu"), repeats=1) > 0
