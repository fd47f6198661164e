"""CAGrad (arXiv 2110.14048): the conflict-averse direction near the average gradient.

With ``g₀`` the average gradient and ``φ = c² ‖g₀‖²``, the weights w on the
simplex minimise ``F(w) = g_wᵀ g₀ + √φ ‖g_w‖`` (``g_w = Σ wᵢ gᵢ``); the direction
is ``(g₀ + √φ / ‖g_w‖ · g_w) / (1 + c²)``. ``c = 0`` is the plain average.
F is convex; it is minimised over the K weights on the Gram matrix.

This follows the authors' MT10 agent (Cranial-XIX/CAGrad ``mtrl/mtrl_files/cagrad.py``,
``cagrad``: F at :242, λ = c‖g₀‖/‖g_w‖ at :253, the direction divided by 1 + c² at
:254-255; ``run.sh`` runs MT10 with c = 0.9). Their solver there is 20 SGD steps on
softmax logits (:229-248); here F is minimised to convergence by SLSQP, as their
``cagrad_exact`` (:258-278) does, which however divides by 1 + λ instead of 1 + c².
The direction, times 1 + c², maximises minᵢ gᵢᵀd over the ball ‖d − g₀‖ ≤ c‖g₀‖
(the paper's primal problem); tests/mtrl/test_cagrad.py checks exactly that.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from mtrl.combine.base import GramCombiner, GramProblem
from mtrl.combine.options import declare, number
from mtrl.combine.simplex import minimize_on_simplex, unit_scaled


def cagrad_weights(gram: Tensor, c: float) -> Tensor:
    """Simplex weights minimising CAGrad's ``F`` for the Gram matrix ``M = G Gᵀ``.

    K is small, so F is minimised on the host by SLSQP with its analytic
    gradient, on ``M`` scaled to unit diagonal maximum.
    """
    m = gram.double().cpu().numpy()
    k = m.shape[0]
    m = unit_scaled(m)  # F scales with M: same minimiser
    b = m.mean(axis=1)  # G g₀
    sqrt_phi = c * float(np.sqrt(max(m.mean(), 0.0)))  # c ‖g₀‖

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        mw = m @ w
        norm = float(np.sqrt(max(w @ mw, 1e-30)))
        return float(w @ b + sqrt_phi * norm), b + sqrt_phi * mw / norm

    w = minimize_on_simplex(objective, k, ftol=1e-12)
    return torch.as_tensor(w, dtype=torch.float64, device=gram.device)


class CAGrad(GramCombiner):
    """Conflict-averse gradient with radius ``c`` (0.9 was the MT10 setting)."""

    name = "cagrad"
    options = declare(c=number(ge=0, le=1e100), eps=number(gt=0))  # c² stays a finite float
    uses_loss_values = False
    scale_invariant = False
    loss_scale_invariant = False
    descends_every_task = False
    permutation_invariant = True
    c: float
    eps: float

    def __init__(self, num_tasks: int, c: float = 0.9, eps: float = 1e-12):
        super().__init__(num_tasks, c=c, eps=eps)

    def weigh(self, problem: GramProblem) -> Tensor:
        gram = problem.gram64
        w = cagrad_weights(gram, self.c)
        # ‖g0‖ and ‖G w‖ from the Gram matrix: g0 = (1/K) 1ᵀG
        mean_w = torch.full_like(w, 1.0 / self.num_tasks)
        g0_norm = (mean_w @ gram @ mean_w).clamp_min(0).sqrt()
        gw_norm = (w @ gram @ w).clamp_min(0).sqrt()
        lam = self.c * g0_norm / gw_norm.clamp_min(self.eps)
        # d = (g0 + λ G w) / (1 + c²) as weights on the task gradients: (1/K + λ wᵢ)/(1 + c²)
        return (mean_w + lam * w) / (1 + self.c**2)
