"""DiBS-MTL (arXiv 2509.23948): the 1-step sum of unit gradients and the T-step bargaining loop.

The T-step combiner runs in Gram space (on the cosine matrix); here it is checked
against the algorithm written plainly in parameter space, task by task, in numpy
(``tstep_in_parameter_space``), and against two cases worked out by hand.
"""

import math

import numpy as np
import pytest
import torch

from mtrl.combine import make

F64 = torch.float64
G = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 1.0, 0.0]])  # conflicting (cosine -0.71)
L = torch.tensor([1.0, 2.0])


def tstep_direction(grads: torch.Tensor, **options) -> torch.Tensor:
    k = grads.shape[0]
    return make("dibs-tstep", k, **options)(torch.ones(k, dtype=grads.dtype), grads).direction


def cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.nn.functional.cosine_similarity(a, b, dim=0).item()


# ---------------------------------------------------------------- 1-step
def test_dibs_hand_computed():
    out = make("dibs", 2)(L, G)
    s = 2**-0.5
    torch.testing.assert_close(out.direction, torch.tensor([1 - s, s, 0.0]), atol=1e-6, rtol=0)
    torch.testing.assert_close(out.info["grad_norm"], torch.tensor([1.0, 2**0.5]))
    torch.testing.assert_close(out.info["cosine_min"], torch.tensor(-s))


def test_dibs_three_aligned_tasks_point_along_the_common_direction():
    g = torch.tensor([[1.0, 1.0, 0.0], [10.0, 10.0, 0.0], [1e-3, 1e-3, 0.0]])
    out = make("dibs", 3)(torch.ones(3), g)
    torch.testing.assert_close(out.direction, torch.tensor([3.0, 3.0, 0.0]) / 2**0.5)


@pytest.mark.parametrize("factor", [1e-6, 0.3, 7.0, 1e6])
def test_dibs_is_invariant_to_rescaling_one_task(factor):
    torch.manual_seed(0)
    g = torch.randn(3, 20, dtype=F64)
    scaled = g.clone()
    scaled[1] *= factor
    a = make("dibs", 3)(torch.ones(3), g).direction
    b = make("dibs", 3)(torch.ones(3), scaled).direction
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------- T-step
def tstep_in_parameter_space(
    grads: np.ndarray, steps: int, radius: float
) -> tuple[np.ndarray, bool]:
    """DiBS-MTL T-step from the paper's description, in parameter space.

    Task i's preferred point in the ε-ball (ε = ``radius``) for its linearised loss
    is ``pᵢ = −ε gᵢ/‖gᵢ‖``. From δ = 0, T times: every task pulls δ along its unit
    gradient in proportion to δ's distance from its preferred point,
    ``δ ← δ − (ε/T) Σᵢ ‖δ − pᵢ‖ gᵢ/‖gᵢ‖``, and a δ outside the ball is projected
    back onto it. The update direction is ``−δ``. Also returns whether the
    projection was ever needed.
    """
    k, p = grads.shape
    units = [grads[i] / np.linalg.norm(grads[i]) for i in range(k)]
    preferred = [-radius * units[i] for i in range(k)]
    delta = np.zeros(p)
    projected = False
    for _ in range(steps):
        pull = np.zeros(p)
        for i in range(k):
            pull += np.linalg.norm(delta - preferred[i]) * units[i]
        delta = delta - (radius / steps) * pull
        length = np.linalg.norm(delta)
        if length > radius:
            delta = delta / length * radius
            projected = True
    return -delta, projected


CONFIGS = [(1, 1.0), (2, 1.0), (10, 1.0), (25, 0.1), (5, 3e-4), (10, 3.0)]


@pytest.mark.parametrize("k", [2, 3, 10])
def test_tstep_equals_the_parameter_space_loop(k):
    gen = torch.Generator().manual_seed(k)
    scales = torch.logspace(-3, 3, k, dtype=F64)[:, None]  # the loop sees only unit gradients
    grads = torch.randn(k, 50, dtype=F64, generator=gen) * scales
    outcomes = set()
    for steps, radius in CONFIGS:
        want, projected = tstep_in_parameter_space(grads.numpy(), steps, radius)
        outcomes.add(projected)
        got = tstep_direction(grads, steps=steps, radius=radius)
        torch.testing.assert_close(got, torch.from_numpy(want), rtol=1e-9, atol=1e-12)
    assert outcomes == {True, False}  # both branches of the loop are exercised


def test_tstep_two_orthogonal_tasks_by_hand():
    """u₁ = e₁, u₂ = e₂, ε = 1, T = 2, step ε/T = ½.

    δ₁ = −½(1·e₁ + 1·e₂) = −(½, ½), inside (‖δ₁‖ = 0.707).
    Both distances are then ‖(½, −½)‖ = 1/√2: δ₂ = δ₁ − ½·(1/√2)(1, 1) = −(0.854, 0.854),
    outside (1.207): projected to −(1/√2)(1, 1). Stopping at the exit instead would
    give (½, ½) (the authors' MT10 loop); keeping the unprojected iterate (0.854, 0.854).
    """
    g = torch.tensor([[3.0, 0.0], [0.0, 0.5]], dtype=F64)
    d = tstep_direction(g, steps=2, radius=1.0)
    torch.testing.assert_close(d, torch.tensor([1.0, 1.0], dtype=F64) / math.sqrt(2))


def test_tstep_moves_weight_to_the_task_left_behind_by_hand():
    """Tasks 1 and 2 share e₁, task 3 has e₂; ε = 1, T = 2.

    δ₁ = −½(2, 1) leaves the ball (1.118) → −(2, 1)/√5. Distances from there:
    to p₁ = p₂ = −e₁: √(2 − 4/√5); to p₃ = −e₂: √(2 − 2/√5).
    δ₂ = δ₁ − ½(2√(2 − 4/√5), √(2 − 2/√5)) leaves the ball again (1.667) and is
    projected. The 1-step direction would be (2, 1)/√5 = (0.894, 0.447); the
    bargaining turns it towards task 3: (0.812, 0.584).
    """
    g = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]], dtype=F64)
    r5 = math.sqrt(5)
    v = torch.tensor(
        [2 / r5 + math.sqrt(2 - 4 / r5), 1 / r5 + 0.5 * math.sqrt(2 - 2 / r5)], dtype=F64
    )
    d = tstep_direction(g, steps=2, radius=1.0)
    torch.testing.assert_close(d, v / v.norm())


def test_tstep_small_radius_is_the_one_step_direction_to_first_order():
    """At the authors' radius (the learning rate) the iterate moves O(ε²) inside a ball of
    radius ε, so the T-step direction is ε²·Σuᵢ up to a relative O(εK/T)."""
    g = torch.randn(4, 30, dtype=F64, generator=torch.Generator().manual_seed(5))
    eps = 3e-4
    d = tstep_direction(g, steps=5, radius=eps)
    one_step = make("dibs", 4)(torch.ones(4, dtype=F64), g).direction
    torch.testing.assert_close(d, eps**2 * one_step, rtol=1e-3, atol=0)


# ---------------------------------------------------------------- T-step, by hand
def test_dibs_tstep_symmetric_and_bounded():
    u = torch.tensor([[1.0, 0.0], [0.0, 5.0]], dtype=F64)
    d = tstep_direction(u, radius=0.5, steps=7)
    assert cos(d, torch.tensor([1.0, 1.0], dtype=F64)) == pytest.approx(1.0)
    assert d.norm() <= 0.5 + 1e-12
    # aligned tasks: the direction is the common one
    d = tstep_direction(torch.tensor([[2.0, 0.0], [7.0, 0.0]], dtype=F64))
    assert cos(d, torch.tensor([1.0, 0.0], dtype=F64)) == pytest.approx(1.0)


def test_dibs_tstep_keeps_the_projected_iterate():
    """One step of size ε·K·ε leaves the ball; the kept iterate is its projection."""
    u = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], dtype=F64)
    d = tstep_direction(u, radius=1.0, steps=1)
    torch.testing.assert_close(d, torch.tensor([1.0, 0.0], dtype=F64))  # not 3.0
