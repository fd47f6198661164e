"""Plain averaging of the task losses (MT-SAC)."""

from __future__ import annotations

import torch
from torch import Tensor

from mtrl.combine.base import CombineOutput, Combiner


class Mean(Combiner):
    """Equal weights 1/K: the gradient of the mean loss, one backward."""

    name = "mean"
    needs_grads = False

    def combine(self, losses: Tensor, grads: Tensor | None) -> CombineOutput:
        weights = torch.full_like(losses, 1.0 / self.num_tasks)
        return CombineOutput(direction=None, weights=weights)
