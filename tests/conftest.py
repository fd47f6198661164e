"""Shared fixtures: small real configs (two tasks, tiny networks, short episodes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtrl.config import TrainConfig

TWO_TASKS = "reach-v3,drawer-close-v3"


def tiny_config(tmp_path: Path, **overrides) -> TrainConfig:
    """A real training config that finishes in seconds on a CPU."""
    values = dict(
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
        logdir=str(tmp_path / "runs"),
        progress=False,
    )
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture
def tiny(tmp_path: Path):
    """Factory for tiny configs rooted in the test's temp folder."""
    return lambda **kw: tiny_config(tmp_path, **kw)
