"""What a combiner's options may be: each one's kind and range, checked before a run starts.

A method declares ``options = declare(eps=number(gt=0), steps=integer(ge=1, le=1000), …)``;
``Combiner.check_options`` refuses anything else with one line naming the method, the
option, what it must be and what it got. Numbers refuse bools, NaN and ±inf; a float
option takes an int, and a decimal number written as text (PyYAML reads ``1e-8``, with
no dot, as a string).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class Option:
    """One option's declaration: ``kind`` float, int or str, bounds or choices."""

    kind: type
    low: float | None = None
    low_open: bool = False
    """True for ``> low``, False for ``>= low``."""
    high: float | None = None
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        """What a value must be, e.g. ``a number > 0`` or ``one of newton, ccp``."""
        if self.kind is str:
            return "one of " + ", ".join(self.choices)
        noun = "an integer" if self.kind is int else "a finite number"
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.low_open else '>='} {_bound(self.low)}")
        if self.high is not None:
            bounds.append(f"<= {_bound(self.high)}")
        if bounds and self.kind is float:
            noun = "a number"
        return " ".join([noun, " and ".join(bounds)]).strip()

    def check(self, value: Any) -> Any:
        """``value`` as the option's kind (a float option's int becomes a float), or
        ValueError with ``describe()``."""
        checked = self._convert(value)
        if checked is None or not self._in_range(checked):
            raise ValueError(self.describe())
        return checked

    def _convert(self, value: Any) -> Any:
        if self.kind is str:
            return value if isinstance(value, str) and value in self.choices else None
        if isinstance(value, bool):
            return None
        if self.kind is int:
            return int(value) if isinstance(value, numbers.Integral) else None
        if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
            value = float(value)
        if not isinstance(value, numbers.Real):
            return None
        try:
            value = float(value)
        except OverflowError:  # an int past the float range
            return None
        return value if math.isfinite(value) else None

    def _in_range(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high


def _bound(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def number(gt: float | None = None, ge: float | None = None, le: float | None = None) -> Option:
    """A finite float option, ``> gt`` or ``>= ge``, and ``<= le``, when given."""
    if gt is not None:
        return Option(float, low=gt, low_open=True, high=le)
    return Option(float, low=ge, high=le)


def integer(ge: int | None = None, le: int | None = None) -> Option:
    """An int option (no bools) within ``[ge, le]``."""
    return Option(int, low=ge, high=le)


def choice(*values: str) -> Option:
    """A str option, one of ``values``."""
    return Option(str, choices=values)


MAX_ITERATIONS = 1000
"""The most inner iterations a solver option may ask for per update (defaults: 10–30)."""


def short(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters (one line: repr escapes line breaks)."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        return f"an integer of {value.bit_length()} bits"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def declare(**options: Option) -> Mapping[str, Option]:
    """A method's option declarations, read-only: ``declare(eps=number(gt=0), …)``."""
    return MappingProxyType(options)
