"""Parse ``--transform`` specs: ``TASK:MAP`` with TASK ``taskN`` or a task name.

Examples: ``task3:pow4``, ``window-open-v3:exp``, ``task0:affine(1000,0)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from reward_transforms.maps import RewardMap, make_map, usage

_MAP_RE = re.compile(r"^([a-z0-9_]+)(?:\((.*)\))?$")
_INDEX_RE = re.compile(r"^task(\d+)$")


def _parse_task(token: str, task_names: Sequence[str], spec: str) -> int:
    m = _INDEX_RE.match(token)
    if m:
        index = int(m.group(1))
        if index >= len(task_names):
            raise ValueError(
                f"transform {spec!r}: task index {index} is out of range; "
                f"this run has tasks task0..task{len(task_names) - 1} (see `mtrl tasks`)"
            )
        return index
    if token in task_names:
        return list(task_names).index(token)
    raise ValueError(
        f"transform {spec!r}: unknown task {token!r}; use taskN (0..{len(task_names) - 1}) "
        f"or one of: {', '.join(task_names)}"
    )


def _parse_map(token: str, spec: str) -> RewardMap:
    m = _MAP_RE.match(token)
    if not m:
        raise ValueError(f"transform {spec!r}: cannot read map {token!r}; valid maps: {usage()}")
    name, arg_text = m.group(1), m.group(2)
    args: list[float] = []
    if arg_text is not None and arg_text.strip():
        for part in arg_text.split(","):
            try:
                value = float(part)
            except ValueError:
                raise ValueError(
                    f"transform {spec!r}: argument {part.strip()!r} of {name} is not a number"
                ) from None
            if not math.isfinite(value):
                raise ValueError(f"transform {spec!r}: argument {part.strip()!r} is not finite")
            args.append(value)
    try:
        return make_map(name, tuple(args))
    except ValueError as err:
        raise ValueError(f"transform {spec!r}: {err}") from None


def parse_transform(spec: str, task_names: Sequence[str]) -> tuple[int, RewardMap]:
    """Parse one ``TASK:MAP`` spec into (task index, map)."""
    text = spec.strip()
    task_token, sep, map_token = text.partition(":")
    if not sep or not task_token or not map_token:
        raise ValueError(
            f"transform {spec!r} is not TASK:MAP (e.g. task3:pow4 or window-open-v3:exp)"
        )
    index = _parse_task(task_token.strip(), task_names, spec)
    return index, _parse_map(map_token.strip().replace(" ", ""), spec)


def parse_transforms(specs: Sequence[str], task_names: Sequence[str]) -> dict[int, RewardMap]:
    """Parse several specs into {task index: map}; a task named twice is an error."""
    out: dict[int, RewardMap] = {}
    for spec in specs:
        index, fn = parse_transform(spec, task_names)
        if index in out:
            raise ValueError(
                f"transform {spec!r}: task {task_names[index]} (task{index}) already has "
                f"transform {out[index]}; give each task at most one"
            )
        out[index] = fn
    return out


def describe(transforms: dict[int, RewardMap]) -> list[str]:
    """The canonical spec strings ``taskN:map`` for a parsed transform dict."""
    return [f"task{i}:{transforms[i]}" for i in sorted(transforms)]


def label(specs: Sequence[str]) -> str:
    """A file-name-safe label for specs: ``task3-pow4+task0-affine1000_0``, or ``none``."""
    table = str.maketrans({":": "-", ",": "_", "(": None, ")": None, " ": None, "/": "_"})
    return "+".join(s.translate(table) for s in specs) or "none"
