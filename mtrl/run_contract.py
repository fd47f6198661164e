"""The run contract both trainers keep: where a run lives, what it writes, how it ends.

A run gets its own new folder under ``logdir`` with ``config.yaml`` (``open_run``);
a completed run writes ``finished.json`` last (``finish_run``, via ``mtrl.finished``);
a run that stops itself raises ``TrainingStopped``; SIGTERM / SIGINT set a flag both
loops check once an env step (``StopFlag``). ``mtrl.trainer`` (the multi-task
loop) and ``mtrl.stl_trainer`` (one SB3 SAC per task) both build on this module and
on nothing of each other.
"""

from __future__ import annotations

import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

import envs
from agents.replay import replay_bytes
from mtrl import memory
from mtrl.checkpoint import atomic_write_bytes
from mtrl.config import (
    ConfigError,
    Resolved,
    TrainConfig,
    build_config,
    load_yaml,
    to_dict,
    validate,
)
from mtrl.finished import mark_finished
from reward_transforms import NonFiniteReward, describe, label

ALREADY_FINISHED = "the run had already finished"
"""The note of a ``--resume`` of a run that had reached its ``--total-steps``."""


class TrainingStopped(RuntimeError):
    """The run stopped itself (non-finite updates or rewards); its last checkpoint is kept."""


@dataclass
class RunResult:
    """Where a run lives, the step it reached, the signal that stopped it (if any), and
    each task's success at the last evaluation of this process (empty if there was none)."""

    run_dir: Path
    step: int
    signal: int | None = None
    notes: list[str] = field(default_factory=list)
    final_success: dict[str, float] = field(default_factory=dict)


def run_folder_name(cfg: TrainConfig, resolved: Resolved) -> str:
    """A readable name: tasks, method, transforms, seed, start time."""
    what = (
        cfg.benchmark
        if not cfg.tasks
        else (
            resolved.task_names[0]
            if len(resolved.task_names) == 1
            else f"{len(resolved.task_names)}tasks"
        )
    )
    tr = label(describe(resolved.transforms))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{what}__{cfg.method}__{tr}__s{cfg.seed}__{stamp}"


def check_disk(cfg: TrainConfig, num_tasks: int, folder: Path) -> None:
    """ConfigError if ``folder``'s disk cannot hold the checkpoints of a full replay."""
    if not cfg.checkpoint_replay:
        return
    capacity = min(cfg.buffer_size, cfg.total_steps)
    obs_dim = envs.STATE_DIM + num_tasks
    if cfg.method == "stl":  # K stable-baselines3 buffers
        each = memory.stl_need(num_tasks, capacity, cfg.batch_per_task, cfg.hidden).replay
    else:
        each = replay_bytes(num_tasks, capacity, obs_dim, envs.ACTION_DIM)
    need = (cfg.keep_checkpoints + 1) * each  # the kept ones plus the one being written
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if need > free:
        raise ConfigError(
            f"not enough disk under {cfg.logdir!r}: {cfg.keep_checkpoints}+1 checkpoints of the "
            f"replay buffers need {need / 2**30:.1f} GiB, {free / 2**30:.1f} GiB is free; lower "
            "--buffer-size or --keep-checkpoints, or pass --no-checkpoint-replay"
        )


def make_run_dir(cfg: TrainConfig, resolved: Resolved) -> Path:
    """Create the run's own folder under ``logdir``: a new one, never reusing a folder.

    A named run (``--run-name``) that exists already is an error pointing at ``--resume``;
    an unnamed one gets ``-2``, ``-3``, … if two runs start in the same second.
    """
    base = Path(cfg.logdir) / (cfg.run_name or run_folder_name(cfg, resolved))
    if cfg.run_name and base.exists():
        raise ConfigError(
            f"run folder {base} already exists; continue it with `mtrl train --resume {base}` "
            "or choose another --run-name"
        )
    path, n = base, 1
    try:
        Path(cfg.logdir).mkdir(parents=True, exist_ok=True)
        while True:
            try:
                path.mkdir()
                return path
            except FileExistsError:
                n += 1
                path = base.with_name(f"{base.name}-{n}")
    except OSError as err:
        raise ConfigError(
            f"cannot create run folder under {cfg.logdir!r}: {err.strerror}"
        ) from None


def save_config(cfg: TrainConfig, resolved: Resolved, run_dir: Path) -> None:
    """Write every field (with the task list filled in) as ``config.yaml``."""
    data = to_dict(cfg)
    data["tasks"] = ",".join(resolved.task_names)
    data["transform"] = describe(resolved.transforms)
    data["run_name"] = run_dir.name
    data["logdir"] = str(run_dir.parent)
    atomic_write_bytes(run_dir / "config.yaml", yaml.safe_dump(data, sort_keys=False).encode())


def load_run_config(run_dir: Path) -> TrainConfig:
    """The config a run folder was started with (for ``--resume``)."""
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"--resume {run_dir}: no config.yaml there (is it a run folder?)")
    return build_config(load_yaml(run_dir / "config.yaml"))


def open_run(cfg: TrainConfig, resume_dir: Path | None) -> tuple[Resolved, Path]:
    """Validate ``cfg`` and give the run its folder: ``resume_dir``, or a new one with
    ``config.yaml`` (after the disk check). Nothing is written when validation fails."""
    resolved = validate(cfg)
    if resume_dir is not None:
        return resolved, resume_dir
    check_disk(cfg, len(resolved.task_names), Path(cfg.logdir))
    run_dir = make_run_dir(cfg, resolved)
    save_config(cfg, resolved, run_dir)
    return resolved, run_dir


def finish_run(
    run_dir: Path, step: int, notes: list[str], final_success: dict[str, float] | None = None
) -> RunResult:
    """Write the finished marker (after the model files: the last act of a completed run)."""
    mark_finished(run_dir, step)
    return RunResult(run_dir, step, None, notes, dict(final_success or {}))


@contextmanager
def stop_on_nonfinite_reward(kept: str) -> Iterator[None]:
    """Turn a ``NonFiniteReward`` into ``TrainingStopped("<reward>; <kept>")``."""
    try:
        yield
    except NonFiniteReward as err:
        raise TrainingStopped(f"{err}; {kept}") from None


class StopFlag:
    """SIGTERM / SIGINT set a flag; the multi-task loop checkpoints and leaves at the end of
    the step, the ``stl`` loop leaves after the env step, keeping its last checkpoint."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous = {}
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach only the main thread (e.g. a Ray actor's worker thread)
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        self.signum = signum

    def restore(self) -> None:
        """Put back the handlers that were there before."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
