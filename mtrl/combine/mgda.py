"""MGDA-UB (arXiv 1810.04650): the min-norm point of the convex hull of the task gradients.

Solved on the Gram matrix (K×K, float64): in closed form for two tasks, by
a quadratic-programming solver otherwise. At the solution every task's
gradient has a non-negative inner product with the direction (``gᵢ·d ≥ ‖d‖²``),
so the step decreases every loss to first order.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtrl.combine.base import CombineOutput, Combiner, gram_and_info
from mtrl.combine.simplex import minimize_on_simplex, unit_scaled


def min_norm_weights(gram: Tensor) -> Tensor:
    """Simplex weights w minimising ``wᵀ M w`` for the Gram matrix ``M``.

    Exact for two tasks; otherwise SLSQP on the host on ``M`` scaled to unit
    diagonal maximum (K is small).
    """
    m = gram.double()
    k = m.shape[0]
    if k == 1:
        return torch.ones(1, dtype=torch.float64, device=m.device)
    if k == 2:
        aa, ab, bb = m[0, 0], m[0, 1], m[1, 1]
        denom = aa - 2 * ab + bb
        t = (bb - ab) / torch.where(denom > 0, denom, torch.ones_like(denom))
        t = torch.where(denom > 0, t.clamp(0.0, 1.0), (aa <= bb).to(m.dtype))
        return torch.stack([t, 1 - t])
    a = unit_scaled(m.cpu().numpy())
    w = minimize_on_simplex(lambda w: (float(w @ a @ w), 2 * a @ w), k)
    return torch.as_tensor(w, dtype=torch.float64, device=m.device)


class MGDA(Combiner):
    """Direction ``Σᵢ wᵢ gᵢ`` with w the min-norm convex combination."""

    name = "mgda"
    needs_grads = True

    def combine(self, losses: Tensor, grads: Tensor | None) -> CombineOutput:
        assert grads is not None
        gram, info = gram_and_info(grads)
        w = min_norm_weights(gram).to(grads.dtype)
        return CombineOutput(direction=w @ grads, weights=w, info=info)
