"""CAGrad (arXiv 2110.14048), checked against solutions found independently of its solver.

The weights are checked against a brute-force search of ``F(w) = g_wᵀg₀ + √φ‖g_w‖``
over the simplex on a case whose minimiser is far from the uniform start point;
the direction against the paper's primal problem, solved directly in parameter
space: ``max_d minᵢ gᵢᵀd`` subject to ``‖d − g₀‖ ≤ c‖g₀‖`` (the returned direction
is that maximiser divided by ``1 + c²``, as in the authors' MT10 code).
"""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar

from mtrl.combine import make
from mtrl.combine.cagrad import cagrad_weights

F64 = torch.float64
# F's minimiser is w ≈ (0, 0.151, 0.849), far from the uniform point SLSQP starts from
ASYMMETRIC = np.array([[1.0, -7.0, 2.0], [-1.0, 0.0, 0.0], [0.0, 1.0, -1.0]])


def cagrad(grads: np.ndarray, c: float):
    out = make("cagrad", grads.shape[0], c=c)(
        torch.ones(grads.shape[0], dtype=F64), torch.tensor(grads)
    )
    return out.direction.numpy(), out.weights.numpy()


def objective_f(w: np.ndarray, grads: np.ndarray, c: float) -> np.ndarray:
    """CAGrad's F for each row of ``w`` (parameter space: g_w = wᵀG)."""
    g0 = grads.mean(0)
    gw = w @ grads
    return gw @ g0 + c * np.linalg.norm(g0) * np.linalg.norm(gw, axis=-1)


def test_weights_match_a_brute_force_search_of_f():
    c = 0.9
    n = 600
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = i + j <= n
    grid = np.stack([i[keep], j[keep], n - i[keep] - j[keep]], axis=1) / n
    values = objective_f(grid, ASYMMETRIC, c)
    coarse = grid[values.argmin()]
    assert coarse[0] == 0.0 and 0.1 < coarse[1] < 0.2  # the minimiser lies on the edge w₀ = 0
    # refine along that edge, w = (0, t, 1 − t)
    edge = minimize_scalar(
        lambda t: objective_f(np.array([0.0, t, 1 - t]), ASYMMETRIC, c),
        bounds=(0.0, 1.0),
        method="bounded",
        options={"xatol": 1e-10},
    )
    want = np.array([0.0, edge.x, 1 - edge.x])
    assert values.min() >= edge.fun - 1e-12  # the refined point is no worse than the grid
    w = cagrad_weights(torch.tensor(ASYMMETRIC @ ASYMMETRIC.T), c).numpy()
    np.testing.assert_allclose(w, want, atol=1e-5)
    _, weights = cagrad(ASYMMETRIC, c)
    # the combiner's weights on G: (1/K + λ w)/(1 + c²) with λ = c‖g₀‖/‖g_w‖
    g0 = ASYMMETRIC.mean(0)
    lam = c * np.linalg.norm(g0) / np.linalg.norm(want @ ASYMMETRIC)
    np.testing.assert_allclose(weights, (1 / 3 + lam * want) / (1 + c**2), atol=1e-5)


def max_min_direction(grads: np.ndarray, c: float) -> np.ndarray:
    """argmax over ‖d − g₀‖ ≤ c‖g₀‖ of minᵢ gᵢᵀd: a second-order cone program in
    parameter space, solved by cvxpy (no weights, no simplex)."""
    import cvxpy as cp

    g0 = grads.mean(0)
    d, t = cp.Variable(grads.shape[1]), cp.Variable()
    problem = cp.Problem(
        cp.Maximize(t), [grads @ d >= t, cp.norm(d - g0) <= c * np.linalg.norm(g0)]
    )
    problem.solve(solver=cp.CLARABEL)
    assert problem.status == cp.OPTIMAL
    return d.value


CASES = {
    "asymmetric": ASYMMETRIC,
    "conflicting": np.array([[1.0, 0.0], [-1.0, 1.0]]),
    "mixed_scales": np.array([[10.0, 1.0, 0.0], [0.0, 0.1, 0.0], [-1.0, 0.0, 1.0]]),
    "random_k5": np.random.default_rng(3).normal(size=(5, 8)),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("c", [0.4, 0.9])
def test_direction_solves_the_papers_max_min_problem(case, c):
    grads = CASES[case]
    d, _ = cagrad(grads, c)
    d = d * (1 + c**2)
    best = max_min_direction(grads, c)
    g0 = grads.mean(0)
    scale = np.linalg.norm(grads) * np.linalg.norm(g0)
    # d is feasible, on the sphere, and attains the optimal worst-case improvement;
    # the maximiser itself is only weakly determined (the value is flat around it)
    assert np.linalg.norm(d - g0) == pytest.approx(c * np.linalg.norm(g0), rel=1e-9)
    assert (grads @ d).min() == pytest.approx((grads @ best).min(), abs=1e-6 * scale)
    np.testing.assert_allclose(d, best, atol=1e-3 * np.linalg.norm(best))


def test_c_zero_is_the_mean():
    grads = CASES["conflicting"]
    d, _ = cagrad(grads, 0.0)
    np.testing.assert_allclose(d, grads.mean(0), atol=1e-12)


def test_negative_c_is_rejected():
    with pytest.raises(ValueError, match="method cagrad: option c must be a number >= 0"):
        make("cagrad", 2, c=-0.1)


def test_c_is_bounded_where_c_squared_would_overflow():
    """``1 + c**2`` raises OverflowError past c ≈ 1.3e154: the declaration stops it first."""
    with pytest.raises(ValueError, match="option c must be a number >= 0 and <= 1e"):
        make("cagrad", 2, c=1e200)
    out = make("cagrad", 2, c=1e100)(torch.ones(2), torch.tensor(CASES["conflicting"]))
    assert torch.isfinite(out.direction).all()
