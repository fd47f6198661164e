"""Monotonic reward maps, each a named, vectorised function of a NumPy array.

Every map is strictly increasing, so it keeps the order of rewards (and of
returns of single steps) while changing their scale and curvature. ``affine``
is the control: an affine map with a > 0 should not change what a
scale-invariant method learns, nor, up to step size, what the others learn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

RewardFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class RewardMap:
    """A named monotonic map ``fn`` with the arguments it was built from."""

    name: str
    args: tuple[float, ...]
    fn: RewardFn

    def __call__(self, rewards: np.ndarray) -> np.ndarray:
        return self.fn(np.asarray(rewards, dtype=np.float64))

    def __str__(self) -> str:
        if not self.args:
            return self.name
        return f"{self.name}({','.join(f'{a:g}' for a in self.args)})"


def _pow4(r: np.ndarray) -> np.ndarray:
    return np.sign(r) * np.abs(r) ** 4


def _cube(r: np.ndarray) -> np.ndarray:
    return r**3


def _exp(r: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.exp(r)


def _log1p(r: np.ndarray) -> np.ndarray:
    return np.sign(r) * np.log1p(np.abs(r))


def _sqrt(r: np.ndarray) -> np.ndarray:
    return np.sign(r) * np.sqrt(np.abs(r))


def _affine(a: float, b: float) -> RewardFn:
    if not a > 0:
        raise ValueError(f"affine(a,b) needs a > 0 to be monotonic, got a={a:g}")

    def fn(r: np.ndarray) -> np.ndarray:
        return a * r + b

    return fn


# name -> (number of arguments, builder taking those arguments)
_BUILDERS: dict[str, tuple[int, Callable[..., RewardFn]]] = {
    "pow4": (0, lambda: _pow4),
    "cube": (0, lambda: _cube),
    "exp": (0, lambda: _exp),
    "log1p": (0, lambda: _log1p),
    "sqrt": (0, lambda: _sqrt),
    "affine": (2, _affine),
}

MAP_NAMES: tuple[str, ...] = tuple(_BUILDERS)
"""The names a transform spec may use, e.g. ``pow4`` or ``affine(a,b)``."""


def usage() -> str:
    """The valid maps as a user would type them."""
    return ", ".join(
        n if k == 0 else f"{n}({','.join('ab'[:k])})" for n, (k, _) in _BUILDERS.items()
    )


def make_map(name: str, args: tuple[float, ...] = ()) -> RewardMap:
    """Build the map ``name`` with ``args``; ValueError naming the valid maps otherwise."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown reward map {name!r}; valid maps: {usage()}")
    nargs, builder = _BUILDERS[name]
    if len(args) != nargs:
        want = f"{nargs} argument{'s' if nargs != 1 else ''}"
        raise ValueError(
            f"reward map {name!r} takes {want}, got {len(args)}; valid maps: {usage()}"
        )
    return RewardMap(name, tuple(float(a) for a in args), builder(*args))
