"""The combiner contract: per-task losses (and gradients) in, one update out.

A method is a subclass of ``Combiner`` that declares its ``options`` (kind and range,
checked on construction: ``mtrl.combine.options``) and what it is (``PROPERTIES``,
asserted for every method by ``tests/mtrl/test_combine_properties.py`` and read by the
README's method table and ``experiments/toy_pareto.py``). A method that needs only the
Gram matrix ``G Gᵀ`` subclasses ``GramCombiner``: the base computes the Gram matrix and
the diagnostics once and hands the method the K×K problem; the method returns task
weights and the base applies them to G.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from mtrl.combine.options import Option, declare, short

PROPERTIES = (
    "needs_grads",
    "uses_loss_values",
    "scale_invariant",
    "loss_scale_invariant",
    "descends_every_task",
    "permutation_invariant",
)
"""What every method declares about itself, with its default options (see ``Combiner``)."""


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

    Subclasses set ``name``, ``options`` and every one of ``PROPERTIES``, pass their
    options to ``Combiner.__init__`` (which checks them and sets them as attributes)
    and implement ``combine``. ``d`` below is the update direction (for loss-weighting
    methods ``Σ wᵢ gᵢ``), ``gᵢ`` task i's gradient.
    """

    name: ClassVar[str]
    options: ClassVar[Mapping[str, Option]] = declare()
    """Each constructor keyword but ``num_tasks`` → its declaration (``mtrl.combine.options``)."""
    needs_grads: ClassVar[bool]
    """True: ``combine`` takes the per-task gradients ``G [K, P]``; False: it gives loss
    weights for one backward of ``Σ wᵢ Lᵢ``."""
    uses_loss_values: ClassVar[bool]
    """The update depends on the loss values, not only on G."""
    scale_invariant: ClassVar[bool]
    """Multiplying one task's gradient by c > 0, whatever its loss value becomes (so any
    increasing map of that loss, to first order), leaves d unchanged up to a positive factor."""
    loss_scale_invariant: ClassVar[bool]
    """Multiplying one task's loss by c > 0 (its value and its gradient, at every call)
    leaves d unchanged up to a positive factor (implied by ``scale_invariant``)."""
    descends_every_task: ClassVar[bool]
    """``⟨d, gᵢ⟩ ≥ 0`` for every task i (gradients linearly independent)."""
    permutation_invariant: ClassVar[bool]
    """Permuting the tasks (rows of G and the losses alike) leaves d unchanged."""
    learns_after_step: bool = False
    """True where ``after_step`` needs the losses recomputed after the optimizer step."""
    actor_default: ClassVar[str | None] = None
    """The SAC actor's combiner when no ``actor`` option is given: None is this method
    itself, ``"mean"`` the plain mean (see ``mtrl.combine.make_pair``)."""
    lr_from_model: ClassVar[bool] = False
    """True where the method's ``lr`` defaults to the learning rate of the model it weights."""

    def __init__(self, num_tasks: int, **options: Any):
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
        self.num_tasks = num_tasks
        for key, value in self.check_options(options).items():
            setattr(self, key, value)

    @classmethod
    def check_options(cls, options: dict[Any, Any]) -> dict[str, Any]:
        """``options`` checked against ``cls.options`` (ints of float options made floats);
        ValueError, one line naming the method and the option, for anything else."""
        checked = {}
        for key, value in options.items():
            if key not in cls.options:
                valid = ", ".join(cls.options) or "none"
                raise ValueError(
                    f"bad options for method {cls.name!r}: unknown option {short(key)}; "
                    f"its options: {valid}"
                )
            try:
                checked[key] = cls.options[key].check(value)
            except ValueError as err:
                raise ValueError(
                    f"method {cls.name}: option {key} must be {err}, got {short(value)}"
                ) from None
        return checked

    def __repr__(self) -> str:
        args = [f"num_tasks={self.num_tasks}"]
        args += [f"{key}={getattr(self, key)!r}" for key in self.options]
        return f"{type(self).__name__}({', '.join(args)})"

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


@dataclass
class GramProblem:
    """The K×K problem a Gram-based method solves, computed once from ``G [K, P]``."""

    gram: Tensor
    """``G Gᵀ`` in G's dtype (``gram_matrix``)."""
    gram64: Tensor
    """The same in float64."""
    info: dict[str, Tensor]
    """The diagnostics (``gradient_info``): ``grad_norm`` ``[K]``, ``cosine_min``."""
    losses: Tensor
    """The task losses ``[K]`` (detached)."""

    @property
    def norms(self) -> Tensor:
        """``‖gᵢ‖`` in G's dtype, from the Gram matrix's diagonal."""
        return self.info["grad_norm"]

    def cosine(self, norms: Tensor) -> Tensor:
        """``gram64 / (nᵢ nⱼ)``: the cosine matrix for float64 ``norms`` the method floors."""
        return self.gram64 / (norms[:, None] * norms[None, :])


class GramCombiner(Combiner):
    """A method that needs G only through ``G Gᵀ``: it maps the K×K problem to task
    weights ``w`` ``[K]``; the direction is ``w @ G`` (G is read twice in all)."""

    needs_grads = True

    def combine(self, losses: Tensor, grads: Tensor | None) -> CombineOutput:
        assert grads is not None
        gram, info = gram_and_info(grads)
        weights = self.weigh(GramProblem(gram, gram.double(), info, losses)).to(grads.dtype)
        return CombineOutput(direction=weights @ grads, weights=weights, info=info)

    @abstractmethod
    def weigh(self, problem: GramProblem) -> Tensor:
        """Task weights ``[K]`` (any float dtype) from the K×K problem."""
