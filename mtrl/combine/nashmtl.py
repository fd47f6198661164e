"""Nash-MTL (arXiv 2202.01017): the Nash bargaining solution of the task gradients.

The weights α > 0 solve ``(G Gᵀ) α = 1/α`` and the direction is ``Gᵀ α``. With
``uᵢ = gᵢ/‖gᵢ‖``, ``C = U Uᵀ`` (the cosine matrix) and ``βᵢ = ‖gᵢ‖ αᵢ`` the
system becomes ``C β = 1/β`` and the direction ``Uᵀ β``: it depends on the unit
gradients only, so it is invariant to rescaling any task's gradient.

``C β = 1/β`` is the optimality condition of the strictly convex problem
``min_β ½ βᵀ C β − Σ log βᵢ``. The default solver (``solver="newton"``) runs
damped Newton steps on it (the objective is self-concordant, so the damped
step ``1/(1+λ)`` keeps β > 0 and converges quadratically): exact, on the GPU,
no host sync. ``solver="ccp"`` is the authors' reference procedure, a few
convex-concave steps solved by cvxpy + ECOS on the Gram matrix normalised by its
norm, kept to show how far it drifts when gradient norms differ by orders of
magnitude.

Authors' AvivNavon/nash-mtl ``methods/weight_methods.py``: the Gram matrix divided
by its norm (:229-235), the CCP loop (:123-155, problem at :157-188; ported as
``nash_weights_ccp``), weights reused between updates (:213-240). Their
``backward`` clips the shared gradient to norm 1 (:269-270); the MT10 agent the
DiBS-MTL paper ran (suryakmurthy/dibs-mtl at da72040, its release:
``mtrl/mtrl/agent/nashmtl.py`` :193-194) divides it by ``max_norm = 1``, a no-op,
and re-solves at every update (``mtrl/config/agent/nashmtl_state_sac.yaml`` :26,
``update_weights_every: 1``; 100 only from 80b67e3, March 2026). The trainer here
does not clip. That agent also keeps one α (and one step counter) for the critic, the
actor and the temperature, so each CCP solve starts from another loss's α; here the
critic and the actor each have their own combiner, as in the authors' library.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mtrl.combine.base import GramCombiner, GramProblem
from mtrl.combine.options import MAX_ITERATIONS, choice, declare, integer, number


def nash_weights_newton(cos: Tensor, iters: int = 30, ridge: float = 1e-8) -> Tensor:
    """β > 0 with ``(C + ridge·I) β = 1/β`` by damped Newton (float64 inside)."""
    c = cos.double() + ridge * torch.eye(cos.shape[0], dtype=torch.float64, device=cos.device)
    beta = torch.ones(cos.shape[0], dtype=torch.float64, device=cos.device)
    for _ in range(iters):
        grad = c @ beta - 1.0 / beta
        hess = c + torch.diag(1.0 / beta**2)
        step = torch.linalg.solve(hess, grad)
        decrement = torch.sqrt((grad * step).sum().clamp_min(0.0))
        beta = beta - step / (1.0 + decrement)
    return beta


def require_ccp_solver() -> None:
    """ValueError (one line) unless cvxpy and ECOS, the reference solver's, are installed."""
    try:
        import cvxpy  # noqa: F401
        import ecos  # noqa: F401
    except ImportError:
        raise ValueError(
            'nashmtl solver=ccp needs cvxpy and ecos: pip install -e ".[ccp]"'
        ) from None


@functools.cache
def _ccp_step(k: int) -> tuple[Any, dict[str, Any]]:
    """The authors' CCP step for ``k`` tasks as one parametrised (DPP) cvxpy problem, so
    cvxpy compiles it once per process, not at every solve (its compilation was ~95 % of
    a step's time): ``min_α Σ (Ĝα)ᵢ + ∇φᵀ(α − α₀)/‖G‖  s.t.  log(‖G‖ αᵢ) + log((Ĝα)ᵢ) ≥ 0``
    with ``∇φᵀ/‖G‖`` and ``∇φᵀα₀/‖G‖`` passed in as parameters."""
    import cvxpy as cp

    a = cp.Variable(k, nonneg=True)
    par = {
        "alpha": a,
        "g": cp.Parameter((k, k)),
        "norm": cp.Parameter(nonneg=True),
        "slope": cp.Parameter(k),  # ∇φ(α₀)/‖G‖
        "offset": cp.Parameter(),  # ∇φ(α₀)ᵀα₀/‖G‖
    }
    ga = par["g"] @ a
    constraints = [-cp.log(a[i] * par["norm"]) - cp.log(ga[i]) <= 0 for i in range(k)]
    objective = cp.Minimize(cp.sum(ga) + par["slope"] @ a - par["offset"])
    return cp.Problem(objective, constraints), par


def nash_weights_ccp(gram: np.ndarray, prev: np.ndarray | None, iters: int = 20) -> np.ndarray:
    """α from the authors' sequence of convex approximations (cvxpy + ECOS), on ``gram / ‖gram‖``.

    Each step solves ``min_α Σ (Ĝα)ᵢ + φ̃(α)/‖G‖  s.t.  log(‖G‖ αᵢ) + log((Ĝα)ᵢ) ≥ 0``
    (``Ĝ = G Gᵀ/‖G Gᵀ‖``, ``φ̃`` the concave part ``Σ log αᵢ + log (Ĝα)ᵢ`` linearised at
    the previous α) with ECOS at most 100 iterations, accepting what it returns, even
    "optimal_inaccurate"; a solver error, no value or a NaN linearisation (a zero row
    of Ĝ; the reference's bare ``except`` catches it in ``solve``) keeps the previous α,
    and so does a non-finite Gram matrix (where the reference raises; the trainer skips
    that update and counts it).
    It stops when the *previous* α nearly solves ``Ĝα = 1/α`` or the step is under 1e-6,
    and returns the previous α then (AvivNavon/nash-mtl ``methods/weight_methods.py``
    ``_stop_criteria`` :123-131, ``solve_optimization`` :133-155, the problem :163-188;
    the same code in suryakmurthy/dibs-mtl@da72040 ``mtrl/mtrl/agent/nashmtl.py``
    :198-263). The weights are for the *unnormalised* Gram matrix, as the reference's.
    """
    import warnings

    import cvxpy as cp

    k = gram.shape[0]
    alpha = np.ones(k) if prev is None else prev.copy()
    if not np.all(np.isfinite(gram)):  # the trainer skips this update; α waits for the next
        return alpha
    norm = max(float(np.linalg.norm(gram)), 1e-30)
    g = gram / norm
    problem, par = _ccp_step(k)
    par["g"].value, par["norm"].value = g, norm
    for _ in range(iters):
        try:  # a NaN tangent (a zero row of G) is refused by cvxpy: keep α, as on a solver error
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                slope = (1.0 / alpha + (1.0 / (g @ alpha)) @ g) / norm
                par["slope"].value, par["offset"].value = slope, slope @ alpha
                problem.solve(solver=cp.ECOS, max_iters=100)
            new = par["alpha"].value
        except (cp.error.SolverError, ValueError):
            new = alpha
        if (
            new is None
            or np.linalg.norm(g @ alpha - 1.0 / (alpha + 1e-10)) < 1e-3
            or np.linalg.norm(new - alpha) < 1e-6
        ):
            break
        alpha = np.asarray(new, dtype=np.float64)
    return alpha


class NashMTL(GramCombiner):
    """Direction ``Σᵢ αᵢ gᵢ`` with ``(G Gᵀ) α = 1/α``.

    ``update_weights_every``: re-solve every N calls and reuse the weights in
    between, as the paper's practical variant; ``optim_niter``: CCP iterations
    of ``solver="ccp"``; ``newton_iters``: damped Newton steps of the default solver.
    """

    name = "nashmtl"
    options = declare(
        update_weights_every=integer(ge=1),
        optim_niter=integer(ge=1, le=MAX_ITERATIONS),
        solver=choice("newton", "ccp"),
        newton_iters=integer(ge=1, le=MAX_ITERATIONS),
        eps=number(gt=0),
    )
    uses_loss_values = False
    scale_invariant = True
    loss_scale_invariant = True
    descends_every_task = True
    permutation_invariant = True
    update_weights_every: int
    optim_niter: int
    solver: str
    newton_iters: int
    eps: float

    def __init__(
        self,
        num_tasks: int,
        update_weights_every: int = 1,
        optim_niter: int = 20,
        solver: str = "newton",
        newton_iters: int = 30,
        eps: float = 1e-12,
    ):
        super().__init__(
            num_tasks,
            update_weights_every=update_weights_every,
            optim_niter=optim_niter,
            solver=solver,
            newton_iters=newton_iters,
            eps=eps,
        )
        if solver == "ccp":
            require_ccp_solver()
        self.reset()

    def reset(self) -> None:
        self.step = 0
        self.alpha: Tensor | None = None

    def weigh(self, problem: GramProblem) -> Tensor:
        if self.alpha is None or self.step % self.update_weights_every == 0:
            self.alpha = self._solve(problem)
        self.step += 1
        return self.alpha

    def _solve(self, problem: GramProblem) -> Tensor:
        """α from the Gram matrix ``G Gᵀ`` (float64)."""
        gram = problem.gram64
        if self.solver == "newton":
            norms = gram.diagonal().clamp_min(0).sqrt().clamp_min(self.eps)
            beta = nash_weights_newton(problem.cosine(norms), iters=self.newton_iters)
            return beta / norms
        prev = None if self.alpha is None else self.alpha.double().cpu().numpy()
        alpha = nash_weights_ccp(gram.cpu().numpy(), prev, self.optim_niter)
        return torch.as_tensor(alpha, device=gram.device)

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "alpha": self.alpha}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step, self.alpha = state["step"], state["alpha"]
