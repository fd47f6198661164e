"""Shared fixtures: one tiny real run (as a config or as CLI flags), one small agent, and a
run folder written by hand for the report (a config and real event files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from torch.utils.tensorboard import SummaryWriter

from mtrl.config import TrainConfig

TWO_TASKS = "reach-v3,drawer-close-v3"
TINY_RUN: dict[str, Any] = dict(
    tasks=TWO_TASKS,
    total_steps=120,
    warmup_steps=40,
    batch_per_task=16,
    hidden=[32, 32],
    eval_interval=60,
    eval_episodes=1,
    max_episode_steps=30,
    log_interval=30,
    vector="sync",
    device="cpu",
)
"""A real training run (two Meta-World tasks, tiny networks, short episodes) that
finishes in seconds on a CPU."""


def tiny_config(tmp_path: Path, **overrides) -> TrainConfig:
    """``TINY_RUN`` as a config rooted in ``tmp_path``, with ``overrides``."""
    values = {**TINY_RUN, "logdir": str(tmp_path / "runs"), "progress": False, **overrides}
    return TrainConfig(**values)


def as_flags(values: dict[str, Any]) -> list[str]:
    """Config values as ``mtrl train`` flags (``progress=False`` → ``--no-progress``; a
    value of None leaves its flag out)."""
    argv: list[str] = []
    for key, value in values.items():
        if key == "progress":
            argv += [] if value else ["--no-progress"]
        elif value is not None:
            argv.append("--" + key.replace("_", "-"))
            argv += [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return argv


@pytest.fixture
def tiny(tmp_path: Path):
    """Factory for tiny configs rooted in the test's temp folder."""
    return lambda **kw: tiny_config(tmp_path, **kw)


@pytest.fixture
def tiny_flags():
    """Factory: ``mtrl train`` flags of the tiny run with ``overrides`` (no ``--logdir``)."""
    return lambda **overrides: as_flags({**TINY_RUN, "progress": False, **overrides})


@pytest.fixture
def small_sac():
    """Factory: a small ``MultiTaskSAC``.

    ``small_sac(method="mean", k=2, obs_dim=5, act_dim=2, hidden=(8,), seed=0, compile=False,
    options=None, **hyper)``: the global RNG seeded with ``seed`` (None: left as it is), then
    the critic's and actor's combiners from ``combine.make_pair(method, k, **options)`` (for
    most methods two ``make(method, k)``; famo and ldc give the actor the mean)."""
    import torch

    from agents.sac import MultiTaskSAC, SACHyper
    from mtrl import combine

    def build(
        method: str = "mean",
        k: int = 2,
        obs_dim: int = 5,
        act_dim: int = 2,
        hidden: tuple[int, ...] = (8,),
        seed: int | None = 0,
        compile: bool = False,
        options: dict[str, Any] | None = None,
        **hyper: Any,
    ) -> MultiTaskSAC:
        if seed is not None:
            torch.manual_seed(seed)
        critic, actor = combine.make_pair(method, k, **(options or {}))
        hyper_ = SACHyper(hidden=tuple(hidden), **hyper)
        return MultiTaskSAC(obs_dim, act_dim, k, hyper_, critic, actor, compile=compile)

    return build


SHORT_RUN: dict[str, Any] = dict(
    warmup_steps=20,
    batch_per_task=8,
    hidden=[16, 16],
    eval_interval=30,
    max_episode_steps=15,
    log_interval=15,
    checkpoint_interval=30,
    method="famo",
)
"""The tiny run smaller still, with a checkpoint every 30 steps, through FAMO (whose state a
checkpoint must carry): the resume and determinism tests' run."""


@pytest.fixture
def short_run(tiny_flags) -> list[str]:
    """``mtrl train`` flags of ``SHORT_RUN`` (add ``--total-steps`` and ``--logdir``)."""
    return tiny_flags(**SHORT_RUN)


def _same_state(a: object, b: object) -> bool:
    """Nested dicts / lists / tensors / arrays equal bit for bit."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_state(a[x], b[x]) for x in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_state(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return bool(a == b)


@pytest.fixture
def same_state():
    """Compare two saved states (checkpoints, RNG snapshots) bit for bit."""
    return _same_state


def _write_run_record(
    folder: Path,
    method: str,
    transform: list[str],
    seed: int,
    tasks: list[str],
    success: Any,
    finished: bool = True,
    **config: Any,
) -> None:
    """A run folder as ``mtrl train`` leaves it for the report: ``config.yaml`` (with
    ``config``'s extra keys), real event files holding ``success[evals, K]`` (one evaluation
    every 100 steps) and, when ``finished``, the ``finished.json`` marker."""
    folder.mkdir(parents=True)
    cfg = dict(method=method, transform=transform, seed=seed, tasks=",".join(tasks), **config)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    writer = SummaryWriter(str(folder))
    for i, row in enumerate(success):
        for task, value in zip(tasks, row, strict=True):
            writer.add_scalar(f"success/{task}", value, (i + 1) * 100)
        writer.add_scalar("success/mean", float(np.mean(row)), (i + 1) * 100)
    writer.close()
    if finished:
        (folder / "finished.json").write_text(json.dumps({"step": len(success) * 100}) + "\n")


@pytest.fixture
def run_record():
    """Write a hand-made run folder (``_write_run_record``)."""
    return _write_run_record
