"""MGDA-UB (Sener & Koltun, arXiv 1810.04650, §3.3): the min-norm problem on ∇_Z Lᵢ.

The paper bounds ``‖Σ αᵢ ∇_θ Lᵢ‖ ≤ ‖∂Z/∂θ‖ · ‖Σ αᵢ ∇_Z Lᵢ‖`` for a shared
representation Z = g(x; θ) and minimises the second factor over the simplex
instead of MGDA's Eq. (3): one backward to Z instead of K to the parameters. The
weights then scale the losses for one ordinary backward of ``Σ αᵢ Lᵢ`` — the
authors' loop (multi_task/train_multi_task.py:113–141 for the Z-gradients, taken on a
detached copy of ``rep``; 158–166 for normalisation and solve; 172–183 for the scaled
backward). Normalisation as in ``mgda`` (``normalization``, default ``loss+`` per
the authors' sample.json:8, which also sets ``use_approximation: true``, i.e. MGDA-UB).

Here Z is the last hidden activation of the actor's MLP (actor loss) or of both twin
critics' MLPs, concatenated (critic loss), for the stratified batch ``[K, b, …]``.

**Closed form in multi-task SAC.** Task i's loss is a mean over its own rows
``Z[i]`` only, so ``∇_Z Lᵢ`` is zero outside rows i: the K representation gradients
have disjoint supports and are mutually orthogonal. With normalisers nᵢ and
``sᵢ = ‖∇_Z Lᵢ‖²``, the normalised Gram matrix is ``diag(dᵢ)``, ``dᵢ = sᵢ / nᵢ²``, and the
problem is ``min Σ αᵢ² dᵢ`` s.t. ``Σ αᵢ = 1``, ``α ≥ 0``. Its Lagrangian stationarity
``2 αᵢ dᵢ = μ`` gives ``αᵢ = μ / (2dᵢ)`` (positive, so the bounds are inactive), and
``Σ αᵢ = 1`` fixes μ:

    αᵢ = (1/dᵢ) / Σⱼ (1/dⱼ) = (nᵢ²/sᵢ) / Σⱼ (nⱼ²/sⱼ).

(If some dᵢ = 0, the hull holds 0 and the weight is shared equally among those tasks.)
Per normalisation: ``none`` → αᵢ ∝ 1/‖∇_Z Lᵢ‖²; ``l2`` → αᵢ = 1/K, the mean;
``loss`` → αᵢ ∝ Lᵢ²/‖∇_Z Lᵢ‖²; ``loss+`` (the default) → αᵢ ∝ Lᵢ²: the
representation gradients cancel and MGDA-UB weights each task by its squared loss.

``grads`` given to the combiner: ``[K]`` — the squared norms sᵢ of mutually orthogonal
representation gradients (what ``mtrl.grads.combined_backward`` passes, closed form);
``[K, P]`` — general representation gradients, one row per task (Gram matrix and the
general min-norm solver); or None, defined only for ``l2`` and ``loss+``, where sᵢ
cancels (any other normalisation then raises ValueError).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtrl.combine.base import CombineOutput, Combiner, gram_matrix
from mtrl.combine.mgda import NORMALIZATIONS, min_norm_weights, normalizers
from mtrl.combine.options import choice, declare


def orthogonal_min_norm_weights(d: Tensor) -> Tensor:
    """The min-norm simplex weights for a diagonal Gram matrix ``diag(d)``: ∝ 1/dᵢ."""
    d = d.double().clamp_min(0)
    zero = d == 0
    inv = 1.0 / d.clamp_min(1e-300)
    count = zero.sum()
    return torch.where(count > 0, zero / count.clamp_min(1), inv / inv.sum())  # no host sync


class MGDAUB(Combiner):
    """Loss weights α: the min-norm point of the normalised representation gradients."""

    name = "mgda-ub"
    options = declare(normalization=choice(*NORMALIZATIONS))
    needs_grads = False
    needs_representation_grads = True
    """``mtrl.grads.combined_backward`` passes ``‖∇_Z Lᵢ‖²`` ``[K]`` as ``grads``."""
    uses_loss_values = True
    scale_invariant = False
    loss_scale_invariant = False
    descends_every_task = False
    permutation_invariant = True
    normalization: str

    def __init__(self, num_tasks: int, normalization: str = NORMALIZATIONS[0]):
        super().__init__(num_tasks, normalization=normalization)

    def combine(self, losses: Tensor, grads: Tensor | None) -> CombineOutput:
        k = self.num_tasks
        info: dict[str, Tensor] = {}
        if grads is None:
            if self.normalization not in ("l2", "loss+"):
                raise ValueError(
                    f"mgda-ub with normalization={self.normalization!r} needs the "
                    "representation gradients (train through mtrl.grads.combined_backward)"
                )
            sq = torch.ones(k, dtype=torch.float64, device=losses.device)  # cancels
        elif grads.shape == (k,):
            sq = grads.double()
            info["rep_grad_norm"] = sq.clamp_min(0).sqrt().to(losses.dtype)
        elif grads.dim() == 2 and grads.shape[0] == k:
            gram = gram_matrix(grads).double()
            n = normalizers(losses, gram.diagonal(), self.normalization)
            w = min_norm_weights(gram / torch.outer(n, n)).to(losses.dtype)
            info["rep_grad_norm"] = gram.diagonal().clamp_min(0).sqrt().to(losses.dtype)
            return CombineOutput(direction=None, weights=w, info=info)
        else:
            raise ValueError(
                f"mgda-ub needs grads of shape ({k},) or ({k}, P), got {tuple(grads.shape)}"
            )
        n = normalizers(losses, sq, self.normalization)
        w = orthogonal_min_norm_weights(sq.clamp_min(0) / n**2).to(losses.dtype)
        return CombineOutput(direction=None, weights=w, info=info)
