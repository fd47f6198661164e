"""The run contract's finished marker: ``finished.json``, the last file a completed run writes.

Both trainers (multi-task and ``stl``) call ``mark_finished`` as the last act of a run
that reached its ``--total-steps``, after its model files are on disk; a run stopped by
a signal, an error or a kill has none. ``mtrl sweep`` asks ``is_finished`` to skip a run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import yaml

from mtrl.checkpoint import atomic_write_bytes

FINISHED = "finished.json"


def mark_finished(run_dir: str | Path, step: int) -> None:
    """Write ``finished.json`` (the step reached and the time) atomically into ``run_dir``."""
    record = {"step": int(step), "finished_at": datetime.now(UTC).isoformat()}
    atomic_write_bytes(Path(run_dir) / FINISHED, (json.dumps(record) + "\n").encode())


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
