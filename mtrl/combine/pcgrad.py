"""PCGrad (arXiv 2001.06782): project each task's gradient off the ones it conflicts with.

For every task i, in a random order of the other tasks j, ``gᵢ`` loses its
component along ``gⱼ`` (the *original* gⱼ) whenever the two conflict
(``gᵢ·gⱼ < 0``); the projected gradients are summed. All K tasks are
processed at once: step s projects every ``gᵢ`` off its own s-th partner.

Every projected gradient stays a combination of the original ones, ``W G``, so
the projections run on the K×K Gram matrix (``(W G)·gⱼ = (W GGᵀ)ᵢⱼ``) and G is
read twice in all: once for the Gram matrix, once for the final ``(1ᵀW) G``.

The paper's Algorithm 1 (a random order of the other tasks for each task, projection
onto the normal plane of the original gⱼ on conflict, the sum of the results). The
authors' tianheyu927/PCGrad ``PCGrad_tf.py`` projects against the original
``grads_task[k]`` (:44-49) and sums (:51-65) as here, but its ``tf.random.shuffle``
(:36) discards its result, so its order is fixed; here the order is random, as in
the paper.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mtrl.combine.base import GramCombiner, GramProblem
from mtrl.combine.options import declare, integer, number


class PCGrad(GramCombiner):
    """Sum of conflict-projected gradients, random order per task."""

    name = "pcgrad"
    options = declare(seed=integer(ge=0, le=2**64 - 1), eps=number(gt=0))
    uses_loss_values = False
    scale_invariant = False
    loss_scale_invariant = False
    descends_every_task = False
    permutation_invariant = False  # the random partner orders are drawn per task index
    seed: int
    eps: float

    def __init__(self, num_tasks: int, seed: int = 0, eps: float = 1e-12):
        super().__init__(num_tasks, seed=seed, eps=eps)
        self.generator = torch.Generator().manual_seed(self.seed)

    def reset(self) -> None:
        self.generator = torch.Generator().manual_seed(self.seed)

    def weigh(self, problem: GramProblem) -> Tensor:
        gram = problem.gram64
        k = gram.shape[0]
        device = gram.device
        # orders[i] = a random permutation of the tasks; i itself is skipped below
        orders = torch.rand(k, k, generator=self.generator).argsort(dim=1).to(device)
        sq_norms = gram.diagonal().clamp_min(self.eps)
        rows = torch.arange(k, device=device)
        coeffs = torch.eye(k, dtype=gram.dtype, device=device)  # projected = coeffs @ G
        for s in range(k):
            partner = orders[:, s]
            dots = (coeffs @ gram)[rows, partner]  # projected_i · g_partner(i)
            coef = torch.where((dots < 0) & (partner != rows), dots / sq_norms[partner], 0.0)
            coeffs[rows, partner] -= coef
        return coeffs.sum(0)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
