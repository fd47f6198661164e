"""DiBS-MTL, T-step (arXiv 2509.23948): bargaining inside an ε-ball.

On the linearised losses, task i prefers the point ``pᵢ = −ε uᵢ`` of the ball
(``uᵢ = gᵢ/‖gᵢ‖``). From ``δ = 0`` the iterate moves ``T`` times by
``δ ← δ − (ε/T) Σᵢ ‖δ − pᵢ‖ uᵢ`` and is projected back onto the ball when it
leaves it; the projected iterate is the one kept (the published code computes
it and then drops it). The update direction is ``−δ``. Only the unit vectors
enter, so rescaling a task's gradient changes nothing.
"""

from __future__ import annotations

from torch import Tensor

from mtrl.combine.base import CombineOutput, Combiner, gradient_info


class DiBSTStep(Combiner):
    """T projected bargaining steps in the ε-ball; direction ``−δ_T``."""

    name = "dibs-tstep"
    needs_grads = True

    def __init__(self, num_tasks: int, steps: int = 10, radius: float = 1.0, eps: float = 1e-12):
        super().__init__(num_tasks)
        if steps < 1 or not radius > 0:
            raise ValueError("dibs-tstep needs steps >= 1 and radius > 0")
        self.steps, self.radius, self.eps = steps, radius, eps

    def combine(self, losses: Tensor, grads: Tensor | None) -> CombineOutput:
        assert grads is not None
        info = gradient_info(grads)
        unit = grads / info["grad_norm"].clamp_min(self.eps).unsqueeze(1)
        preferred = -self.radius * unit
        delta = grads.new_zeros(grads.shape[1])
        for _ in range(self.steps):
            pull = (delta.unsqueeze(0) - preferred).norm(dim=1)  # ‖δ − pᵢ‖
            delta = delta - (self.radius / self.steps) * (pull @ unit)
            norm = delta.norm()
            delta = delta * (self.radius / norm.clamp_min(self.radius))  # project onto the ball
        return CombineOutput(direction=-delta, weights=None, info=info)
