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

from mtrl.combine.base import CombineOutput, Combiner, gram_and_info


class PCGrad(Combiner):
    """Sum of conflict-projected gradients, random order per task."""

    name = "pcgrad"
    needs_grads = True

    def __init__(self, num_tasks: int, seed: int = 0, eps: float = 1e-12):
        super().__init__(num_tasks)
        self.eps, self.seed = eps, seed
        self.generator = torch.Generator().manual_seed(seed)

    def reset(self) -> None:
        self.generator = torch.Generator().manual_seed(self.seed)

    def combine(self, losses: Tensor, grads: Tensor | None) -> CombineOutput:
        assert grads is not None
        gram, info = gram_and_info(grads)
        gram = gram.double()
        k = grads.shape[0]
        # orders[i] = a random permutation of the tasks; i itself is skipped below
        orders = torch.rand(k, k, generator=self.generator).argsort(dim=1).to(grads.device)
        sq_norms = gram.diagonal().clamp_min(self.eps)
        rows = torch.arange(k, device=grads.device)
        coeffs = torch.eye(k, dtype=gram.dtype, device=grads.device)  # projected = coeffs @ G
        for s in range(k):
            partner = orders[:, s]
            dots = (coeffs @ gram)[rows, partner]  # projected_i · g_partner(i)
            coef = torch.where((dots < 0) & (partner != rows), dots / sq_norms[partner], 0.0)
            coeffs[rows, partner] -= coef
        weights = coeffs.sum(0).to(grads.dtype)
        return CombineOutput(direction=weights @ grads, weights=weights, info=info)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
