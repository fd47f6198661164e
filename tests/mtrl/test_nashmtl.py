"""Nash-MTL (arXiv 2202.01017): the exact solver against a generic convex solver and a
hand-computed case, the reference CCP procedure's drift, and stale weights."""

import itertools
import sys

import numpy as np
import pytest
import torch

from mtrl.combine import make
from mtrl.combine.nashmtl import _ccp_step, nash_weights_ccp

F64 = torch.float64
ORTHO = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=F64)


def cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.nn.functional.cosine_similarity(a, b, dim=0).item()


def test_nashmtl_orthogonal_hand_computed():
    # (GGᵀ) α = 1/α with GGᵀ = diag(1, 4): α = (1, 1/2), direction (1, 1)
    out = make("nashmtl", 2)(torch.ones(2, dtype=F64), ORTHO)
    torch.testing.assert_close(out.weights, torch.tensor([1.0, 0.5], dtype=F64), rtol=1e-6, atol=0)
    torch.testing.assert_close(
        out.direction, torch.tensor([1.0, 1.0], dtype=F64), rtol=1e-6, atol=0
    )


def nash_by_cvxpy(gram: np.ndarray) -> np.ndarray:
    """α from a generic convex solver: min ½ αᵀMα − Σ log αᵢ (optimality: Mα = 1/α)."""
    import cvxpy as cp

    a = cp.Variable(gram.shape[0])
    psd = cp.psd_wrap(gram)
    cp.Problem(cp.Minimize(0.5 * cp.quad_form(a, psd) - cp.sum(cp.log(a)))).solve(cp.CLARABEL)
    return np.asarray(a.value)


@pytest.mark.parametrize(("k", "seed"), list(itertools.product([2, 3, 5, 10], range(3))))
@pytest.mark.parametrize("ratio", [1.0, 1e5])
def test_nashmtl_newton_agrees_with_cvxpy_on_random_gram_matrices(k, seed, ratio):
    g = torch.randn(k, 2 * k + 3, dtype=F64, generator=torch.Generator().manual_seed(seed))
    g[0] *= ratio
    gram = g @ g.T
    alpha = make("nashmtl", k)(torch.ones(k, dtype=F64), g).weights
    torch.testing.assert_close(gram @ alpha, 1 / alpha, rtol=1e-5, atol=0)
    # cvxpy on the unit-norm problem (the α of the scaled one is β / ‖gᵢ‖)
    n = g.norm(dim=1)
    beta = torch.as_tensor(nash_by_cvxpy((gram / torch.outer(n, n)).numpy()))
    torch.testing.assert_close(alpha, beta / n, rtol=1e-4, atol=0)


@pytest.mark.parametrize(("k", "seed"), list(itertools.product([3, 10], range(3))))
def test_nashmtl_reference_ccp_matches_when_well_scaled_and_drifts_at_1e5(k, seed):
    g = torch.randn(k, 30, dtype=F64, generator=torch.Generator().manual_seed(seed))
    exact = make("nashmtl", k)(torch.ones(k, dtype=F64), g).direction
    ref = make("nashmtl", k, solver="ccp")(torch.ones(k, dtype=F64), g).direction
    assert cos(exact, ref) > 0.999
    g[0] *= 1e5
    exact = make("nashmtl", k)(torch.ones(k, dtype=F64), g).direction
    ref = make("nashmtl", k, solver="ccp")(torch.ones(k, dtype=F64), g).direction
    assert cos(exact, ref) < 0.9  # measured 0.22–0.73: the reference drifts far


def test_nashmtl_ccp_on_a_critic_gram_matrix_from_the_study_takes_a_finite_step():
    """The critic's Gram matrix and previous α of cpu_study's nashmtl-ccp, drawer-close
    through exp, seed 0, ~1k updates in (cosine −0.37, norms 1.1e4 and 1.7e7). A CCP step
    with CLARABEL stopped at its iteration limit there with α ≈ 1e230, which the port
    took and the run died of; the authors' problem under ECOS moves α to a finite value."""
    gram = np.array([[123362216.0, -69205327872.0], [-69205336064.0, 288193949728768.0]])
    prev = np.array([0.0005935787867627841, 1.0531595467888343e-06])
    alpha = nash_weights_ccp(gram, prev)
    assert np.all(np.isfinite(alpha)) and np.all(alpha > 0) and alpha.max() < 1e-3
    assert not np.allclose(alpha, prev)  # a solver error keeps prev: ECOS solved it


def test_nashmtl_ccp_freezes_alpha_below_its_absolute_tolerance():
    # the authors' stop: a CCP step under 1e-6 in absolute terms returns the previous α;
    # with gradient norms ~1e7 every αᵢ is ~1e-7, so α never moves again (cpu_study, exp)
    g = np.array([[1.0, 0.3], [0.3, 2.0]])
    prev = nash_weights_ccp(g, None)
    big = g * 1e14
    np.testing.assert_array_equal(nash_weights_ccp(big, prev / 1e7), prev / 1e7)
    # the same matrix at a scale where the tolerance is relative enough: α does move
    assert not np.allclose(nash_weights_ccp(g, prev * 3), prev * 3)


def test_nashmtl_ccp_step_is_compiled_once():
    # DPP: cvxpy keeps the compiled problem and only refills its parameters at each solve
    # (a product of two parameters, e.g. ∇φᵀ(α − α₀)/‖G‖, would recompile every time)
    problem, _ = _ccp_step(3)
    assert problem.is_dpp() and _ccp_step(3)[0] is problem


def test_nashmtl_ccp_keeps_alpha_when_a_task_has_no_gradient():
    # Ĝα has a zero entry: the linearisation is NaN, which cvxpy refuses; α stays
    np.testing.assert_array_equal(nash_weights_ccp(np.diag([1.0, 0.0]), None), [1.0, 1.0])


def test_nashmtl_ccp_passes_a_non_finite_update_on_and_recovers():
    nash = make("nashmtl", 2, solver="ccp")
    good = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=F64)
    before = nash(torch.ones(2, dtype=F64), good).weights
    bad = nash(torch.ones(2, dtype=F64), torch.tensor([[1.0, float("nan")], [0.0, 1.0]], dtype=F64))
    assert not torch.isfinite(bad.direction).all()  # for the trainer's guard to skip
    torch.testing.assert_close(nash(torch.ones(2, dtype=F64), good).weights, before)


def test_nashmtl_ccp_without_its_solver_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ecos", None)  # `import ecos` raises ImportError
    with pytest.raises(ValueError, match=r"solver=ccp needs cvxpy and ecos: pip install"):
        make("nashmtl", 2, solver="ccp")
    make("nashmtl", 2)  # the exact solver needs neither


def test_nashmtl_stale_weights_are_not_the_bargaining_solution():
    g = torch.randn(4, 12, dtype=F64, generator=torch.Generator().manual_seed(9))
    stale = make("nashmtl", 4, update_weights_every=10)
    stale(torch.ones(4, dtype=F64), g)
    g2 = g + 0.5 * torch.randn(4, 12, dtype=F64, generator=torch.Generator().manual_seed(10))
    reused = stale(torch.ones(4, dtype=F64), g2).weights
    gram2 = g2 @ g2.T
    residual = (gram2 @ reused - 1 / reused).abs().max()
    assert residual > 1e-2  # the reused weights no longer solve (GGᵀ)α = 1/α
    fresh = make("nashmtl", 4)(torch.ones(4, dtype=F64), g2).weights
    torch.testing.assert_close(gram2 @ fresh, 1 / fresh, rtol=1e-5, atol=0)
