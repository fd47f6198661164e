"""The combiner contract: per-task losses (and gradients) in, one update out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor


@dataclass
class CombineOutput:
    """What a combiner returns.

    ``direction`` is the update for the shared parameters, ``[P]`` (the
    trainer writes it to ``.grad``); it is None for loss-weighting methods,
    which instead give ``weights`` ``[K]`` to be applied as one backward of
    ``Σ wᵢ Lᵢ``. ``info`` holds tensors for the logs (no host sync).
    """

    direction: Tensor | None
    weights: Tensor | None
    info: dict[str, Tensor] = field(default_factory=dict)


class Combiner(ABC):
    """One gradient-combination method; each instance owns its state.

    Subclasses set ``name`` and ``needs_grads`` and implement ``combine``.
    """

    name: ClassVar[str]
    needs_grads: ClassVar[bool]
    learns_after_step: bool = False
    """True where ``after_step`` needs the losses recomputed after the optimizer step."""
    actor_default: ClassVar[str | None] = None
    """The SAC actor's combiner when no ``actor`` option is given: None is this method
    itself, ``"mean"`` the plain mean (see ``mtrl.combine.make_pair``)."""
    lr_from_model: ClassVar[bool] = False
    """True where the method's ``lr`` defaults to the learning rate of the model it weights."""

    def __init__(self, num_tasks: int):
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
        self.num_tasks = num_tasks

    def __call__(self, losses: Tensor, grads: Tensor | None = None) -> CombineOutput:
        """Combine ``losses`` ``[K]`` and, if ``needs_grads``, ``grads`` ``[K, P]``."""
        if losses.shape != (self.num_tasks,):
            raise ValueError(
                f"losses must have shape ({self.num_tasks},), got {tuple(losses.shape)}"
            )
        if self.needs_grads and (
            grads is None or grads.dim() != 2 or grads.shape[0] != self.num_tasks
        ):
            shape = None if grads is None else tuple(grads.shape)
            raise ValueError(f"{self.name} needs grads of shape ({self.num_tasks}, P), got {shape}")
        return self.combine(losses.detach(), None if grads is None else grads.detach())

    @abstractmethod
    def combine(self, losses: Tensor, grads: Tensor | None) -> CombineOutput:
        """The method itself, on detached tensors."""

    def after_step(self, new_losses: Tensor) -> None:  # noqa: B027  (a no-op by default)
        """Learn from the losses after the optimizer step (FAMO); a no-op otherwise."""

    def reset(self) -> None:  # noqa: B027
        """Forget all learned state."""

    def state_dict(self) -> dict[str, Any]:
        """The state to checkpoint (empty for stateless methods)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027
        """Restore what ``state_dict`` returned."""


def gradient_info(grads: Tensor, eps: float = 1e-12) -> dict[str, Tensor]:
    """Per-task gradient norms and the minimum pairwise cosine of ``grads`` ``[K, P]``."""
    return gram_and_info(grads, eps)[1]


GRAM_CHUNK = 4096
"""Columns of G per block in ``gram_matrix``."""


def gram_matrix(grads: Tensor) -> Tensor:
    """``G Gᵀ`` for a wide ``G`` ``[K, P]``, as a batch of ``[K, GRAM_CHUNK]`` blocks summed.

    One ``[K, P] @ [P, K]`` matmul with a tiny output runs far below the BLAS peak
    (8.5 ms on cpu-2 for the MT10 critic's G); the blocked form takes 3.7 ms and sums
    in blocks, which also loses less precision over P ≈ 7·10⁵ terms.
    """
    k, p = grads.shape
    n = p // GRAM_CHUNK
    rest = grads[:, n * GRAM_CHUNK :]
    gram = rest @ rest.T
    if n:
        blocks = grads[:, : n * GRAM_CHUNK].reshape(k, n, GRAM_CHUNK).transpose(0, 1)
        gram = gram + torch.bmm(blocks, blocks.transpose(1, 2)).sum(0)
    return gram


def gram_and_info(grads: Tensor, eps: float = 1e-12) -> tuple[Tensor, dict[str, Tensor]]:
    """The Gram matrix ``G Gᵀ`` (one pass over G) and ``gradient_info`` computed from it."""
    gram = gram_matrix(grads)
    norms = gram.diagonal().clamp_min(0).sqrt()
    info = {"grad_norm": norms}
    k = grads.shape[0]
    if k > 1:
        cos = gram / (norms[:, None] * norms[None, :]).clamp_min(eps)
        off = ~torch.eye(k, dtype=torch.bool, device=grads.device)
        info["cosine_min"] = cos[off].min()
    return gram, info
