"""What code a run ran: a fingerprint of the modules that decide what a run computes.

A run's ``finished.json`` keeps ``code_fingerprint()``: for every module of the
compute path (SAC, networks, replay, envs, reward maps, combiners, gradients,
trainer, evaluation), a hash of its syntax tree with docstrings removed, so that
comments, docstrings and formatting do not count as a change and any code change
does. ``stale_modules`` compares a recorded fingerprint with the code of today for
one run's method: a change to another method's combiner leaves the run valid.
``behaviour_unchanged`` reads a ledger of ``mtrl.behaviour`` digests: a code change
that leaves a method's tiny real run bit-identical does not make its runs stale.
"""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
COMPUTE_PATHS = (
    "agents",
    "envs",
    "reward_transforms",
    "mtrl/combine",
    "mtrl/grads.py",
    "mtrl/trainer.py",
    "mtrl/stl_trainer.py",
    "mtrl/evaluate.py",
)
"""Files and packages (relative to the repository root) whose code decides a run's numbers."""
LEDGER = "behaviour.json"
"""A behaviour ledger's file name in a sweep folder (written by ``mtrl.behaviour``)."""


def _code_hash(path: Path) -> str:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:16]


def code_fingerprint(root: Path = ROOT) -> dict[str, str]:
    """``{relative path: hash of its code}`` for every module of the compute path."""
    files: list[Path] = []
    for entry in COMPUTE_PATHS:
        path = root / entry
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return {f.relative_to(root).as_posix(): _code_hash(f) for f in files if f.is_file()}


def _other_methods_modules(method: str) -> set[str]:
    """The combiner modules of every registered method but ``method`` (and its actor's)."""
    import inspect

    from mtrl.combine import REGISTRY

    own = {inspect.getfile(REGISTRY[method])} if method in REGISTRY else set()
    if method in REGISTRY:
        actor = getattr(REGISTRY[method], "actor_default", None)
        if isinstance(actor, str) and actor in REGISTRY:
            own.add(inspect.getfile(REGISTRY[actor]))
    for path in list(own):  # the combiner modules a method's own module builds on
        for node in ast.walk(ast.parse(Path(path).read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mtrl.combine."):
                own.add(str(ROOT / (node.module.replace(".", "/") + ".py")))  # type: ignore[union-attr]
    own = {str(Path(f).resolve()) for f in own}
    others = {str(Path(inspect.getfile(cls)).resolve()) for cls in REGISTRY.values()} - own
    return {Path(f).relative_to(ROOT).as_posix() for f in others}


def stale_modules(recorded: dict[str, str], method: str, root: Path = ROOT) -> list[str]:
    """Modules of ``method``'s compute path whose code differs from ``recorded`` (sorted)."""
    now = code_fingerprint(root)
    ignore = _other_methods_modules(method)
    names = (set(now) | set(recorded)) - ignore
    return sorted(n for n in names if now.get(n) != recorded.get(n))


def method_key(method: str, options: dict[str, Any] | None = None) -> str:
    """``method`` or ``method:k=v,…`` (options sorted): a ledger's key for one setting."""
    if not options:
        return method
    return method + ":" + ",".join(f"{k}={options[k]}" for k in sorted(options))


def read_ledger(path: str | Path) -> list[dict[str, Any]]:
    """A behaviour ledger's entries (``[]`` when there is none)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else []


def _restricted(fingerprint: dict[str, str], ignore: set[str]) -> dict[str, str]:
    return {name: h for name, h in fingerprint.items() if name not in ignore}


def behaviour_unchanged(
    recorded: dict[str, str],
    method: str,
    key: str,
    ledger: list[dict[str, Any]],
    root: Path = ROOT,
) -> bool:
    """Whether a behaviour ledger (``mtrl.behaviour``) shows that the code ``recorded`` and
    today's code give the setting ``key`` of ``method`` the same digest.

    An entry counts for a code version when their fingerprints agree on ``method``'s
    compute path (other methods' combiners ignored, as in ``stale_modules``).
    """
    ignore = _other_methods_modules(method)

    def digest(fingerprint: dict[str, str]) -> str | None:
        mine = _restricted(fingerprint, ignore)
        for entry in ledger:
            if _restricted(entry["code"], ignore) == mine and key in entry["digests"]:
                return str(entry["digests"][key])
        return None

    then = digest(recorded)
    return then is not None and then == digest(code_fingerprint(root))
