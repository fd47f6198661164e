"""MGDA-UB (arXiv 1810.04650): the min-norm point of the convex hull of the task gradients.

Solved on the Gram matrix (K×K, float64): exactly for two tasks, by
Frank–Wolfe with exact line search otherwise. At the solution every task's
gradient has a non-negative inner product with the direction (``gᵢ·d ≥ ‖d‖²``),
so the step decreases every loss to first order.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtrl.combine.base import CombineOutput, Combiner, gradient_info


def _line_search(aa: Tensor, ab: Tensor, bb: Tensor) -> Tensor:
    """argmin over t ∈ [0, 1] of ‖t a + (1 − t) b‖², from the three inner products."""
    denom = aa - 2 * ab + bb
    t = (bb - ab) / torch.where(denom > 0, denom, torch.ones_like(denom))
    return torch.where(denom > 0, t.clamp(0.0, 1.0), (aa <= bb).to(aa.dtype))


def min_norm_weights(gram: Tensor, iters: int = 250) -> Tensor:
    """Simplex weights w minimising ``wᵀ M w`` for the Gram matrix ``M``."""
    m = gram.double()
    k = m.shape[0]
    if k == 1:
        return torch.ones(1, dtype=torch.float64, device=m.device)
    if k == 2:
        t = _line_search(m[0, 0], m[0, 1], m[1, 1])
        return torch.stack([t, 1 - t])
    w = torch.full((k,), 1.0 / k, dtype=torch.float64, device=m.device)
    eye = torch.eye(k, dtype=torch.float64, device=m.device)
    for _ in range(iters):
        mw = m @ w
        j = torch.argmin(mw)  # the vertex most opposed to the current point
        t = _line_search(m[j, j], mw[j], w @ mw)  # between vertex j and w
        w = t * eye[j] + (1 - t) * w
    return w


class MGDA(Combiner):
    """Direction ``Σᵢ wᵢ gᵢ`` with w the min-norm convex combination."""

    name = "mgda"
    needs_grads = True

    def __init__(self, num_tasks: int, iters: int = 250):
        super().__init__(num_tasks)
        self.iters = iters

    def combine(self, losses: Tensor, grads: Tensor | None) -> CombineOutput:
        assert grads is not None
        info = gradient_info(grads)
        g = grads.double()
        w = min_norm_weights(g @ g.T, self.iters)
        return CombineOutput(
            direction=(w @ g).to(grads.dtype), weights=w.to(grads.dtype), info=info
        )
