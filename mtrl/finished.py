"""The run contract's end markers: ``finished.json`` and ``stopped.json``.

Both trainers (multi-task and ``stl``) call ``mark_finished`` as the last act of a run
that reached its ``--total-steps``, after its model files are on disk; a run stopped by
a signal, an error or a kill has none. A run that stopped *itself* (``TrainingStopped``:
non-finite updates or rewards, deterministic, so a resume would stop again) gets
``stopped.json`` from the sweep that ran it (``mark_stopped``): an outcome, not a failure
to retry. ``mtrl sweep`` skips a run with either marker; ``mtrl report`` counts both.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import yaml

from mtrl.checkpoint import atomic_write_bytes
from mtrl.provenance import code_fingerprint

FINISHED = "finished.json"
STOPPED = "stopped.json"


SOURCE_DIRS = ("mtrl", "agents", "envs", "reward_transforms")
"""The packages whose code decides what a run computes."""


def source_commit() -> dict[str, str | bool | None]:
    """The git commit of the code running now, and whether its packages differ from it.

    ``{"commit": None, "dirty": None}`` when the code is not a git checkout.
    """
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no", "--", *SOURCE_DIRS)
    return {"commit": commit, "dirty": bool(status)}


def _record(**fields: object) -> bytes:
    """A marker's JSON: ``fields``, then the commit (``source_commit``) and the fingerprint of
    the compute path (``mtrl.provenance``), by which a report tells a stale run."""
    record = {**fields, **source_commit(), "code": code_fingerprint()}
    return (json.dumps(record) + "\n").encode()


def mark_finished(run_dir: str | Path, step: int) -> None:
    """Write ``finished.json`` atomically into ``run_dir``: the step reached, the time, the
    commit and the code fingerprint."""
    now = datetime.now(UTC).isoformat()
    atomic_write_bytes(Path(run_dir) / FINISHED, _record(step=int(step), finished_at=now))


def mark_stopped(run_dir: str | Path, reason: str) -> None:
    """Write ``stopped.json`` atomically into ``run_dir``: why the run stopped itself (the
    ``TrainingStopped`` message), the time, the commit and the code fingerprint."""
    now = datetime.now(UTC).isoformat()
    atomic_write_bytes(Path(run_dir) / STOPPED, _record(reason=reason, stopped_at=now))


def stopped_reason(run_dir: str | Path) -> str | None:
    """Why the run in ``run_dir`` stopped itself (its ``stopped.json``), or None if it did not
    (an unreadable marker still counts: its reason is then ``"unknown"``)."""
    marker = Path(run_dir) / STOPPED
    if not marker.is_file():
        return None
    try:
        reason = json.loads(marker.read_text()).get("reason")
    except (OSError, ValueError, AttributeError):
        reason = None
    return reason if isinstance(reason, str) else "unknown"


def is_finished(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds a completed run.

    True with ``finished.json``; also for runs from before the marker: a multi-task run's
    ``model.pt``, or an ``stl`` run with every task's ``stl_<task>.zip`` (both were only
    written at the end of a completed run).
    """
    run_dir = Path(run_dir)
    if (run_dir / FINISHED).is_file() or (run_dir / "model.pt").is_file():
        return True
    config = run_dir / "config.yaml"
    if not config.is_file():
        return False
    try:
        cfg = yaml.safe_load(config.read_text()) or {}
    except yaml.YAMLError:
        return False
    tasks = [t for t in str(cfg.get("tasks") or "").split(",") if t]
    return (
        cfg.get("method") == "stl"
        and bool(tasks)
        and all((run_dir / f"stl_{t}.zip").is_file() for t in tasks)
    )
