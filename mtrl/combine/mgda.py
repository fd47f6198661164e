"""MGDA (Sener & Koltun, arXiv 1810.04650): the min-norm point of the hull of the task gradients.

The paper's problem, Eq. (3): ``min_α ‖Σᵢ αᵢ ∇_θ Lᵢ‖²`` over the simplex. At the
solution every task's gradient has ``gᵢ·d ≥ ‖d‖²``, so the step decreases every
loss to first order. Here the gradients are those of the shared parameters
(``G[K, P]``); ``mgda-ub`` (mtrl/combine/mgda_ub.py) solves the same problem on the
gradients w.r.t. the shared representation instead.

Gradient normalisation, as the authors' code has it (not in the paper; the authors'
comment, multi_task/train_multi_task.py:157, says so): each gᵢ is divided by

- ``l2``: ``‖gᵢ‖``;
- ``loss``: ``Lᵢ`` (the loss value);
- ``loss+``: ``Lᵢ · ‖gᵢ‖``;
- ``none``: 1

(min_norm_solvers.py:183–199, ``gradient_normalizers``), the min-norm weights are solved
on the normalised gradients (train_multi_task.py:158–166) and then scale the **raw**
losses, with no division by the normaliser (train_multi_task.py:172–183): the
direction here is ``Σ αᵢ gᵢ`` on the raw gᵢ. The default is ``loss+``, what the
authors' sample configuration runs (sample.json:8, ``"normalization_type": "loss+"``).

SAC's actor loss is negative: dividing a gradient by a negative loss would flip it,
and the min-norm problem would then weigh the reversed gradient. ``loss`` and
``loss+`` therefore divide by ``|Lᵢ|`` (identical to the authors' for their positive
losses). Normalisers are floored at 1e-30 (in float64), so a zero gradient or loss
gives a finite problem: a zero normalised gradient takes all the weight (the hull
contains 0), a zero loss with a non-zero gradient takes almost none.

Solver: K = 2 in closed form; otherwise Wolfe's exact min-norm-point method
(``mtrl.combine.simplex.min_norm_point``), which stays exact when the (normalised)
gradient norms differ by orders of magnitude — SLSQP stopped far from the optimum
there. The authors' training loop calls ``find_min_norm_element`` (projected gradient
with an exact line search, min_norm_solvers.py:92–137, started from the best pair of
tasks); their ``find_min_norm_element_FW`` (139–181) is Frank–Wolfe, the paper's
Algorithm 2. Both stop on a 1e-5 change and converge sublinearly (a Frank–Wolfe port
left objective gaps up to 4·10⁻⁴ of max ‖gᵢ‖² at K = 10), and neither increments
``iter_count``, so their 250-iteration cap never acts.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtrl.combine.base import GramCombiner, GramProblem
from mtrl.combine.options import choice, declare
from mtrl.combine.simplex import min_norm_point

NORMALIZATIONS = ("loss+", "l2", "loss", "none")
"""The authors' ``normalization_type`` values; the first is the default (sample.json:8)."""

FLOOR = 1e-30
"""Smallest normaliser (float64)."""


def normalizers(losses: Tensor, sq_norms: Tensor, normalization: str) -> Tensor:
    """Per-task divisors ``[K]`` (float64) of the gradients, from the losses and ‖gᵢ‖²."""
    losses, sq_norms = losses.double(), sq_norms.double().clamp_min(0)
    if normalization == "l2":
        n = sq_norms.sqrt()
    elif normalization == "loss":
        n = losses.abs()
    elif normalization == "loss+":
        n = losses.abs() * sq_norms.sqrt()
    else:
        n = torch.ones_like(losses)
    return n.clamp_min(FLOOR)


def min_norm_weights(gram: Tensor) -> Tensor:
    """Simplex weights w minimising ``wᵀ M w`` for the Gram matrix ``M`` (float64).

    Exact for two tasks; otherwise Wolfe's method on the host (K is small).
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
    w = min_norm_point(m.cpu().numpy())
    return torch.as_tensor(w, dtype=torch.float64, device=m.device)


class MGDA(GramCombiner):
    """Direction ``Σᵢ αᵢ gᵢ``, α the min-norm weights of the normalised gradients ``gᵢ / nᵢ``.

    Only with ``normalization="none"`` is ``⟨d, gᵢ⟩ ≥ ‖d‖²`` for every task; the default
    ``loss+`` solves on ``gᵢ / nᵢ`` but applies α to the raw gᵢ, which can ascend a task.
    """

    name = "mgda"
    options = declare(normalization=choice(*NORMALIZATIONS))
    uses_loss_values = True
    scale_invariant = False
    loss_scale_invariant = False
    descends_every_task = False
    permutation_invariant = True
    normalization: str

    def __init__(self, num_tasks: int, normalization: str = NORMALIZATIONS[0]):
        super().__init__(num_tasks, normalization=normalization)

    def weigh(self, problem: GramProblem) -> Tensor:
        n = normalizers(problem.losses, problem.gram.diagonal(), self.normalization)
        return min_norm_weights(problem.gram64 / torch.outer(n, n))
