"""DiBS-MTL, 1-step (arXiv 2509.23948): the sum of normalised task gradients.

Each task's gradient is divided by its norm before summing, so multiplying a
task's gradient by any positive factor (what a monotonic map of its loss does
locally) leaves the direction unchanged.
"""

from __future__ import annotations

from torch import Tensor

from mtrl.combine.base import CombineOutput, Combiner, gradient_info


class DiBS(Combiner):
    """Direction ``Σᵢ gᵢ / max(‖gᵢ‖, eps)``.

    The guard is a floor, not an added constant, so the direction is exactly
    invariant to rescaling any gradient whose norm stays above ``eps``; a zero
    gradient contributes nothing.
    """

    name = "dibs"
    needs_grads = True

    def __init__(self, num_tasks: int, eps: float = 1e-12):
        super().__init__(num_tasks)
        self.eps = eps

    def combine(self, losses: Tensor, grads: Tensor | None) -> CombineOutput:
        assert grads is not None
        info = gradient_info(grads)
        scale = 1.0 / info["grad_norm"].clamp_min(self.eps)
        return CombineOutput(direction=scale @ grads, weights=scale, info=info)
