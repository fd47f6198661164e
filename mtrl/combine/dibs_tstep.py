"""DiBS-MTL, T-step (arXiv 2509.23948): bargaining inside an ε-ball.

On the linearised losses, task i prefers the point ``pᵢ = −ε uᵢ`` of the ball
(``uᵢ = gᵢ/‖gᵢ‖``). From ``δ = 0`` the iterate moves ``T`` times by
``δ ← δ − (ε/T) Σᵢ ‖δ − pᵢ‖ uᵢ`` (the DiBS step, each task pulling along its own
direction in proportion to its distance from its preferred point) and is
projected back onto the ball when it leaves it; iteration continues from the
projected point. The update direction is ``−δ_T``. Only the unit vectors enter,
so rescaling a task's gradient changes nothing.

Where this differs from the authors' code (suryakmurthy/dibs-mtl):

- On leaving the ball their loop computes the projection and then ``break``s
  without using it. In the MT10 agent (``mtrl/mtrl/agent/dibs.py:190-205``) the
  applied δ is the last iterate *inside* the ball; in the supervised code
  (``mtl/methods/gradient_weight_methods.py:349-365``, weights summed at :383) the
  weights include the exiting step, so the applied direction is the *unprojected*
  iterate outside it. Here the projected iterate is kept and the loop goes on.
- Their radius is the learning rate (``dibs_state_sac.yaml``: ``radius:
  ${agent.optimizers.actor.lr}``; ``gradient_weight_methods.py:414-415``: radius
  = lr, step = lr/5), with T = 1 in the MT10 agent (``dibs.py:144``). Each step
  moves δ by O(ε²K/T) in a ball of radius ε, so for ε ≈ 1e-3 the iterate never
  reaches the boundary and the T-step direction is ε²·Σuᵢ, the 1-step direction,
  up to a relative O(εK/T): the exit rule never matters there. This project's
  default radius is 1.0, where the bargaining does move the direction and the
  exit rule does matter (``radius`` is an option; Adam makes the overall
  scale of the direction nearly irrelevant).
- Their code clips the combined gradient to norm 1 (``gradient_weight_methods.py:422-423``);
  here the trainer does not clip; with the projection ``‖δ_T‖ ≤ ε`` anyway.

δ stays a combination ``−Σ cᵢ uᵢ`` of the unit vectors, so the iteration runs on
``c`` and the cosine matrix ``C = U Uᵀ``: ``‖δ − pᵢ‖² = cᵀCc − 2ε (Cc)ᵢ + ε²`` and
``‖δ‖² = cᵀCc``. G is read twice: for the Gram matrix and for the final direction.
tests/mtrl/test_dibs.py checks it against the loop written in parameter space.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtrl.combine.base import GramCombiner, GramProblem
from mtrl.combine.options import MAX_ITERATIONS, declare, integer, number


class DiBSTStep(GramCombiner):
    """T projected bargaining steps in the ε-ball; direction ``−δ_T``."""

    name = "dibs-tstep"
    options = declare(
        steps=integer(ge=1, le=MAX_ITERATIONS),
        radius=number(gt=0),
        eps=number(gt=0),
    )
    uses_loss_values = False
    scale_invariant = True
    loss_scale_invariant = True
    descends_every_task = False
    permutation_invariant = True
    steps: int
    radius: float
    eps: float

    def __init__(self, num_tasks: int, steps: int = 10, radius: float = 1.0, eps: float = 1e-12):
        super().__init__(num_tasks, steps=steps, radius=radius, eps=eps)

    def weigh(self, problem: GramProblem) -> Tensor:
        norms = problem.norms.double().clamp_min(self.eps)
        cos = problem.cosine(norms)
        alive = (problem.norms > self.eps).double()  # a zero gradient has no direction
        cos = cos * alive.outer(alive)
        eps = self.radius
        c = torch.zeros_like(norms)  # δ = −Σ cᵢ uᵢ
        for _ in range(self.steps):
            cc = cos @ c
            sq_delta = (c @ cc).clamp_min(0)
            pull = (sq_delta - 2 * eps * cc + eps * eps).clamp_min(0).sqrt()  # ‖δ − pᵢ‖
            c = c + (eps / self.steps) * pull
            norm = (c @ cos @ c).clamp_min(0).sqrt()
            c = c * (eps / norm.clamp_min(eps))  # project onto the ball
        return c / norms  # −δ = Σ cᵢ gᵢ/‖gᵢ‖
