"""Plain averaging of the task losses (MT-SAC).

MT-SAC minimises the average of the per-task losses over a batch with the same
number of transitions per task: weights 1/K on the per-task mean losses.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtrl.combine.base import CombineOutput, Combiner


class Mean(Combiner):
    """Equal weights 1/K: the gradient of the mean loss, one backward."""

    name = "mean"
    needs_grads = False
    uses_loss_values = False
    scale_invariant = False
    loss_scale_invariant = False
    descends_every_task = False
    permutation_invariant = True

    def combine(self, losses: Tensor, grads: Tensor | None) -> CombineOutput:
        weights = torch.full_like(losses, 1.0 / self.num_tasks)
        return CombineOutput(direction=None, weights=weights)
