"""DiBS-MTL, 1-step (arXiv 2509.23948): the sum of normalised task gradients.

Each task's gradient is divided by its norm before summing, so multiplying a
task's gradient by any positive factor (what a monotonic map of its loss does
locally) leaves the direction unchanged.

The authors' supervised code weights task i by ``step·radius/‖gᵢ‖``
(suryakmurthy/dibs-mtl ``mtl/methods/gradient_weight_methods.py:264``), and their
MT10 agent with T = 1 applies ``δ₁ = ε² Σᵢ uᵢ`` (``mtrl/mtrl/agent/dibs.py:175-190``):
both are this direction times a positive constant, which Adam all but removes.
Their norm clip at 1 (``gradient_weight_methods.py:299-300``) is not applied here.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from mtrl.combine.base import CombineOutput, Combiner, gradient_info
from mtrl.combine.options import declare, integer, number


class DiBS(Combiner):
    """Direction ``Σᵢ gᵢ / max(‖gᵢ‖, eps)``.

    The guard is a floor, not an added constant, so the direction is exactly
    invariant to rescaling any gradient whose norm stays above ``eps``; a zero
    gradient contributes nothing.
    """

    name = "dibs"
    options = declare(eps=number(gt=0), cosine_every=integer(ge=1))
    needs_grads = True
    uses_loss_values = False
    scale_invariant = True
    loss_scale_invariant = True
    descends_every_task = False
    permutation_invariant = True
    eps: float
    cosine_every: int

    def __init__(self, num_tasks: int, eps: float = 1e-12, cosine_every: int = 10):
        super().__init__(num_tasks, eps=eps, cosine_every=cosine_every)
        self.calls = 0

    def combine(self, losses: Tensor, grads: Tensor | None) -> CombineOutput:
        assert grads is not None
        # the direction needs only the norms; the cosine diagnostic needs the Gram matrix
        # (a second pass over G), so it is sampled every `cosine_every` calls
        if self.calls % self.cosine_every == 0:
            info = gradient_info(grads)
        else:
            info = {"grad_norm": grads.norm(dim=1)}
        self.calls += 1
        scale = 1.0 / info["grad_norm"].clamp_min(self.eps)
        return CombineOutput(direction=scale @ grads, weights=scale, info=info)

    def reset(self) -> None:
        self.calls = 0

    def state_dict(self) -> dict[str, Any]:
        return {"calls": self.calls}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.calls = int(state["calls"])
