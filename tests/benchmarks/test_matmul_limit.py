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


def test_per_task_weight_gradients_written_into_g_are_counted():
    """``mtrl.grads`` writes per-task weight gradients with ``bmm(out=…)``: a recorder that
    saw only ``bmm.default`` counted the G-based methods short by those products."""
    from agents.networks import linear
    from mtrl.grads import per_task_grads

    k, b, i, o = 3, 5, 7, 2
    layer = torch.nn.Linear(i, o)
    x = torch.randn(k, b, i)
    params = {"weight": layer.weight, "bias": layer.bias}

    def losses(p):
        p = p or params
        return linear(x, p["weight"], p["bias"]).sum((1, 2))

    products = record_matmuls(lambda: per_task_grads(losses, params, k))
    # forward one shared product [k·b, i] @ [i, o]; backward the per-task weight gradients
    assert sorted(p.flops for p in products) == [2 * k * b * i * o] * 2
