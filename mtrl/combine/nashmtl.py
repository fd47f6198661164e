"""Nash-MTL (arXiv 2202.01017): the Nash bargaining solution of the task gradients.

The weights α > 0 solve ``(G Gᵀ) α = 1/α`` and the direction is ``Gᵀ α``. With
``uᵢ = gᵢ/‖gᵢ‖``, ``C = U Uᵀ`` (the cosine matrix) and ``βᵢ = ‖gᵢ‖ αᵢ`` the
system becomes ``C β = 1/β`` and the direction ``Uᵀ β``: it depends on the unit
gradients only, so it is invariant to rescaling any task's gradient.

``C β = 1/β`` is the optimality condition of the strictly convex problem
``min_β ½ βᵀ C β − Σ log βᵢ``. The default solver (``solver="newton"``) runs
damped Newton steps on it (the objective is self-concordant, so the damped
step ``1/(1+λ)`` keeps β > 0 and converges quadratically): exact, on the GPU,
no host sync. ``solver="ccp"`` is the paper's reference procedure, a few
convex-concave steps solved by cvxpy on the Gram matrix normalised by its
norm, kept to show how far it drifts when gradient norms differ by orders of
magnitude.

Authors' AvivNavon/nash-mtl ``methods/weight_methods.py``: the Gram matrix divided
by its norm (:229-235), the CCP loop (:133-155, problem at :163-188; ported as
``nash_weights_ccp``), weights reused between updates (:213-240). Their
``backward`` clips the shared gradient to norm 1 (:269-270); the trainer here
does not clip.
"""

from __future__ import annotations

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


def nash_weights_ccp(gram: np.ndarray, prev: np.ndarray | None, iters: int = 20) -> np.ndarray:
    """α from the paper's sequence of convex approximations (cvxpy), on ``gram / ‖gram‖``.

    Returns weights for the *unnormalised* Gram matrix, as the reference does.
    """
    import warnings

    import cvxpy as cp

    k = gram.shape[0]
    norm = float(np.linalg.norm(gram))
    g = gram / max(norm, 1e-30)
    alpha = np.ones(k) if prev is None else prev.copy()
    a = cp.Variable(k, nonneg=True)
    g_par = cp.Parameter((k, k), value=g)
    prev_par = cp.Parameter(k, nonneg=True)
    tangent = cp.Parameter(k)
    # linearisation of the concave part  Σ log αᵢ + log (Gα)ᵢ  around the previous α
    phi = tangent @ (a - prev_par)
    ga = g_par @ a
    constraints = [-cp.log(a[i] * norm) - cp.log(ga[i]) <= 0 for i in range(k)]
    constraints.append(phi <= 0)
    problem = cp.Problem(cp.Minimize(cp.sum(ga) + phi / norm), constraints)
    for _ in range(iters):
        prev_par.value = alpha
        tangent.value = 1.0 / alpha + (1.0 / (g @ alpha)) @ g
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                problem.solve(solver=cp.CLARABEL)
        except cp.error.SolverError:
            break
        if a.value is None:
            break
        new = np.maximum(np.asarray(a.value), 1e-12)
        converged = np.linalg.norm(g @ new - 1.0 / new) < 1e-3 or np.linalg.norm(new - alpha) < 1e-6
        alpha = new
        if converged:
            break
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
