"""The gradient-combination layer: one small class per method, one registry.

from mtrl.combine import make
combiner = make("dibs", num_tasks=10)
out = combiner(losses, grads)   # losses [K], grads [K, P] or None
"""

from __future__ import annotations

from typing import Any

from mtrl.combine.base import (
    PROPERTIES,
    CombineOutput,
    Combiner,
    GramCombiner,
    GramProblem,
    gradient_info,
)
from mtrl.combine.cagrad import CAGrad
from mtrl.combine.dibs import DiBS
from mtrl.combine.dibs_tstep import DiBSTStep
from mtrl.combine.famo import FAMO
from mtrl.combine.ldc import LDC
from mtrl.combine.mean import Mean
from mtrl.combine.mgda import MGDA
from mtrl.combine.mgda_ub import MGDAUB
from mtrl.combine.nashmtl import NashMTL
from mtrl.combine.options import short
from mtrl.combine.pcgrad import PCGrad

REGISTRY: dict[str, type[Combiner]] = {
    cls.name: cls
    for cls in (Mean, DiBS, DiBSTStep, NashMTL, FAMO, PCGrad, MGDA, MGDAUB, LDC, CAGrad)
}
"""Method name (as users type it after ``--method``) → combiner class."""

METHODS: tuple[str, ...] = tuple(REGISTRY)


def make(name: str, num_tasks: int, **options: Any) -> Combiner:
    """Build the combiner ``name`` for ``num_tasks`` tasks; ValueError (one line) for an
    unknown name (listing the valid ones) or an option its declaration refuses."""
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(METHODS)}")
    cls = REGISTRY[name]
    return cls(num_tasks, **cls.check_options(options))


def make_pair(
    name: str,
    num_tasks: int,
    critic_lr: float | None = None,
    actor_lr: float | None = None,
    **options: Any,
) -> tuple[Combiner, Combiner]:
    """The SAC critic's and actor's combiners for method ``name``, each its own instance.

    The option ``actor`` picks the actor's: ``"mean"`` or ``name`` itself; without it,
    the method's ``actor_default`` (``famo`` and ``ldc`` give the actor the mean, as
    FAMO's MT10 script does). A method with ``lr_from_model`` gets ``lr = critic_lr``
    and ``actor_lr`` (the model's learning rates) unless ``lr`` is among the options.
    """
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(METHODS)}")
    cls = REGISTRY[name]
    actor = options.pop("actor", cls.actor_default or name)
    if not isinstance(actor, str) or actor not in (name, "mean"):
        raise ValueError(
            f"method {name}: option actor must be one of {name}, mean, got {short(actor)}"
        )

    def build(model_lr: float | None) -> Combiner:
        extra = {"lr": model_lr} if cls.lr_from_model and model_lr is not None else {}
        return make(name, num_tasks, **{**extra, **options})

    critic = build(critic_lr)
    return critic, (build(actor_lr) if actor == name else make("mean", num_tasks))


def property_table() -> str:
    """Every method's declared ``PROPERTIES`` as a Markdown table (the README's copy is
    checked against it by tests/mtrl/test_combine_properties.py)."""
    lines = ["| `--method` | " + " | ".join(f"`{p}`" for p in PROPERTIES) + " |"]
    lines.append("|---|" + "---|" * len(PROPERTIES))
    for name, cls in REGISTRY.items():
        cells = ["yes" if getattr(cls, p) else "no" for p in PROPERTIES]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


__all__ = [
    "METHODS",
    "PROPERTIES",
    "REGISTRY",
    "CombineOutput",
    "Combiner",
    "GramCombiner",
    "GramProblem",
    "gradient_info",
    "make",
    "make_pair",
    "property_table",
]
