"""PCGrad (arXiv 2001.06782): the Gram-space projections against the algorithm written
plainly in parameter space, and hand-computed cases."""

import pytest
import torch

from mtrl.combine import make

F64 = torch.float64
G2 = torch.tensor([[1.0, 0.0], [-1.0, 1.0]], dtype=F64)  # conflicting


def direction(grads: torch.Tensor, **options) -> torch.Tensor:
    k = grads.shape[0]
    return make("pcgrad", k, **options)(torch.ones(k, dtype=grads.dtype), grads).direction


def test_pcgrad_two_conflicting_tasks():
    # g1' = g1 − (g1·g2/‖g2‖²) g2 = (.5,.5); g2' = g2 − (g2·g1/‖g1‖²) g1 = (0,1)
    torch.testing.assert_close(direction(G2), torch.tensor([0.5, 1.5], dtype=F64))
    # aligned: nothing to project, the plain sum
    aligned = torch.tensor([[1.0, 1.0], [2.0, 1.0]], dtype=F64)
    torch.testing.assert_close(direction(aligned), aligned.sum(0))


def test_pcgrad_three_tasks_random_order_matches_a_reference_loop():
    g = torch.randn(3, 5, dtype=F64, generator=torch.Generator().manual_seed(7))
    c = make("pcgrad", 3, seed=11)
    gen = torch.Generator().manual_seed(11)
    orders = torch.rand(3, 3, generator=gen).argsort(dim=1)
    want = torch.zeros(5, dtype=F64)
    for i in range(3):
        gi = g[i].clone()
        for j in orders[i].tolist():
            if j != i and gi @ g[j] < 0:
                gi = gi - (gi @ g[j]) / (g[j] @ g[j]) * g[j]
        want += gi
    torch.testing.assert_close(c(torch.ones(3, dtype=F64), g).direction, want)


def _pcgrad_reference(grads, orders):
    """PCGrad written directly in parameter space, with the given partner orders."""
    out = []
    for i in range(grads.shape[0]):
        g = grads[i].clone()
        for j in orders[i].tolist():
            if j != i and g @ grads[j] < 0:
                g = g - (g @ grads[j]) / (grads[j] @ grads[j]) * grads[j]
        out.append(g)
    return torch.stack(out).sum(0)


@pytest.mark.parametrize("k", [2, 3, 10])
def test_gram_space_pcgrad_equals_its_parameter_space_form(k):
    torch.manual_seed(k)
    grads = (
        torch.randn(k, 50, dtype=torch.float64)
        * torch.logspace(-2, 2, k, dtype=torch.float64)[:, None]
    )
    pcgrad = make("pcgrad", k, seed=3)
    orders = torch.rand(k, k, generator=torch.Generator().manual_seed(3)).argsort(dim=1)
    out = pcgrad(torch.ones(k), grads)
    torch.testing.assert_close(out.direction, _pcgrad_reference(grads, orders))
