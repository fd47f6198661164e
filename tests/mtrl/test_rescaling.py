"""What rescaling one task's gradient does to the methods that are not scale-invariant.

"The direction changes" holds for every such method, `mean` included, so it proves
nothing about any one of them. Instead, for each method the claim that defines it
is checked on the rescaled gradients, the direction is shown to change, and the
claim is shown to *fail* for another method's direction (so the check discriminates).
The methods that declare ``scale_invariant`` (dibs, dibs-tstep, nashmtl) are tested in
test_combine_properties.py::test_scale_invariant, with every other method's counterexample.
"""

import numpy as np
import pytest
import torch

from mtrl.combine import make

F64 = torch.float64
K, TASK = 3, 2
G = torch.randn(K, 8, dtype=F64, generator=torch.Generator().manual_seed(4))
FACTORS = [1e-3, 1e3]


def rescaled(factor: float) -> torch.Tensor:
    g = G.clone()
    g[TASK] *= factor
    return g


def run(name: str, grads: torch.Tensor, **options):
    c = make(name, grads.shape[0], **options)
    out = c(torch.ones(grads.shape[0], dtype=F64), grads if c.needs_grads else None)
    direction = out.direction if out.direction is not None else out.weights @ grads
    return direction, out.weights


def cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.nn.functional.cosine_similarity(a, b, dim=0).item()


def changes(name: str, factor: float, below: float = 0.99, **options) -> bool:
    """The direction turns: cosine to the unscaled one under ``below`` (invariant: 1 − 1e-9)."""
    return cos(run(name, G, **options)[0], run(name, rescaled(factor), **options)[0]) < below


# ---------------------------------------------------------------- mean
def mean_claim(d: torch.Tensor, factor: float) -> bool:
    """The average gradient: task 2 enters with weight 1/K at its new scale."""
    want = run("mean", G)[0] + (factor - 1) * G[TASK] / K
    return torch.allclose(d, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("factor", FACTORS)
def test_mean_follows_the_rescaled_task_with_weight_one_over_k(factor):
    assert mean_claim(run("mean", rescaled(factor))[0], factor)
    assert changes("mean", factor)
    assert not mean_claim(run("dibs", rescaled(factor))[0], factor)


# ---------------------------------------------------------------- pcgrad
def projected(grads: torch.Tensor, i: int, order: list[int]) -> torch.Tensor:
    """Task i's gradient projected off the original gⱼ it conflicts with, in ``order``."""
    g = grads[i].clone()
    for j in order:
        if j != i and g @ grads[j] < 0:
            g = g - (g @ grads[j]) / (grads[j] @ grads[j]) * grads[j]
    return g


def pcgrad_claim(d: torch.Tensor, factor: float) -> bool:
    """Projections off a rescaled gⱼ are unchanged (the projection depends on its direction
    only), and task 2's own projected gradient scales with it: d(s) = d(1) + (s − 1) g₂'."""
    orders = torch.rand(K, K, generator=torch.Generator().manual_seed(0)).argsort(dim=1)
    own = projected(G, TASK, orders[TASK].tolist())
    want = run("pcgrad", G, seed=0)[0] + (factor - 1) * own
    return torch.allclose(d, want, rtol=1e-9, atol=1e-9 * want.norm().item())


@pytest.mark.parametrize("factor", FACTORS)
def test_pcgrad_moves_only_by_the_rescaled_tasks_own_projection(factor):
    assert pcgrad_claim(run("pcgrad", rescaled(factor), seed=0)[0], factor)
    assert changes("pcgrad", factor, seed=0)
    assert not pcgrad_claim(run("mean", rescaled(factor))[0], factor)


# ---------------------------------------------------------------- mgda
PLAIN_MGDA = {"normalization": "none"}
"""MGDA's claim is about the raw gradients; the default normalisation (loss+) solves for
the weights on normalised ones (tests/mtrl/test_mgda.py)."""


def mgda_claim(d: torch.Tensor, weights: torch.Tensor | None, grads: torch.Tensor) -> bool:
    """The min-norm point of the hull: d = Σ wᵢgᵢ with w on the simplex and gᵢ·d ≥ ‖d‖²
    for every task (the optimality condition), so ‖d‖ ≤ minᵢ ‖gᵢ‖."""
    if weights is None or (weights < -1e-12).any() or abs(weights.sum().item() - 1) > 1e-9:
        return False
    in_hull = torch.allclose(weights @ grads, d, rtol=1e-9, atol=1e-12)
    sq = (d @ d).item()
    return in_hull and bool((grads @ d >= sq - 1e-7 * max(sq, 1e-300)).all())


@pytest.mark.parametrize("factor", FACTORS)
def test_mgda_is_the_min_norm_point_of_the_rescaled_hull(factor):
    opts = PLAIN_MGDA
    g = rescaled(factor)
    d, w = run("mgda", g, **opts)
    assert mgda_claim(d, w, g)
    if factor < 1:  # the shrunk task bounds the step: ‖d‖ ≤ ‖s·g₂‖
        assert d.norm() <= g[TASK].norm() * (1 + 1e-9)
    assert changes("mgda", factor, **opts)
    assert not mgda_claim(*run("mean", g), g)


# ---------------------------------------------------------------- cagrad
def max_min_value(grads: np.ndarray, c: float) -> float:
    """max over ‖d − g₀‖ ≤ c‖g₀‖ of minᵢ gᵢᵀd, by cvxpy in parameter space."""
    import cvxpy as cp

    g0 = grads.mean(0)
    d, t = cp.Variable(grads.shape[1]), cp.Variable()
    problem = cp.Problem(
        cp.Maximize(t), [grads @ d >= t, cp.norm(d - g0) <= c * np.linalg.norm(g0)]
    )
    problem.solve(solver=cp.CLARABEL)
    return float(problem.value)


def cagrad_claim(d: torch.Tensor, grads: torch.Tensor, c: float = 0.9) -> bool:
    """(1 + c²)·d is in the ball around the rescaled g₀ and attains the best worst-case
    improvement minᵢ gᵢᵀd there (the paper's primal problem)."""
    g, step = grads.numpy(), (1 + c**2) * d.numpy()
    g0 = g.mean(0)
    scale = np.linalg.norm(g) * np.linalg.norm(g0)
    inside = np.linalg.norm(step - g0) <= c * np.linalg.norm(g0) * (1 + 1e-9)
    return bool(inside and (g @ step).min() >= max_min_value(g, c) - 1e-6 * scale)


@pytest.mark.parametrize("factor", FACTORS)
def test_cagrad_solves_the_max_min_problem_of_the_rescaled_gradients(factor):
    g = rescaled(factor)
    assert cagrad_claim(run("cagrad", g, c=0.9)[0], g)
    # scaled up 1000×, task 2 turns `mean` by 75° but CAGrad by only 4° (cosine 0.998)
    assert changes("cagrad", factor, below=0.999, c=0.9)
    assert not cagrad_claim(run("mean", g)[0], g)
    assert not cagrad_claim(run("cagrad", G, c=0.9)[0] * g.mean(0).norm() / G.mean(0).norm(), g)
