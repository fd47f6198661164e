"""Meta-World v3 benchmarks (MT10, MT50, any task list) as gymnasium vector envs.

One sub-env per task, in the order of the task list; sub-env ``i`` appends the
one-hot id of task ``i`` to its 39-d observation. Seeding is by construction
(Meta-World ignores ``reset(seed=)``): task ``i`` is built with ``seed + i``.
"""

from __future__ import annotations

import signal
import time
import warnings
from collections.abc import Sequence
from functools import partial
from typing import Any

import gymnasium as gym

warnings.filterwarnings("ignore", message=".*precision lowered by casting.*")

import metaworld  # noqa: E402  (after the filter: its spaces warn on import)
from metaworld import env_dict  # noqa: E402

BENCHMARKS: dict[str, tuple[str, ...]] = {
    "mt10": tuple(env_dict.MT10_V3.keys()),
    "mt50": tuple(env_dict.MT50_V3.keys()),
}
ALL_TASKS: tuple[str, ...] = tuple(env_dict.ALL_V3_ENVIRONMENTS.keys())
DEFAULT_MAX_EPISODE_STEPS = 500
"""Meta-World's own episode length (``max_path_length``)."""
STATE_DIM, ACTION_DIM = 39, 4
"""Meta-World v3's observation (before the one-hot task id) and action sizes."""


def resolve_tasks(benchmark: str = "mt10", tasks: str | Sequence[str] | None = None) -> list[str]:
    """The task list of a run: ``tasks`` (names, comma-separated or a list) or the benchmark's."""
    if tasks:
        names = [t.strip() for t in tasks.split(",")] if isinstance(tasks, str) else list(tasks)
        names = [n for n in names if n]
        unknown = [n for n in names if n not in ALL_TASKS]
        if unknown:
            raise ValueError(
                f"unknown Meta-World task {unknown[0]!r}; valid tasks: {', '.join(ALL_TASKS)}"
            )
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ValueError(f"task {dup!r} is listed twice in --tasks")
        if not names:
            raise ValueError("--tasks is empty; give comma-separated Meta-World task names")
        return names
    key = benchmark.lower()
    if key not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; valid: {', '.join(BENCHMARKS)}")
    return list(BENCHMARKS[key])


def make_task_env(
    name: str, index: int, num_tasks: int, seed: int, max_episode_steps: int
) -> gym.Env:
    """Task ``index`` of a ``num_tasks`` list as one env (one-hot id, seeded ``seed + index``)."""
    warnings.filterwarnings("ignore", message=".*precision lowered by casting.*")
    return metaworld.make_mt_envs(
        name,
        seed=seed + index,
        num_tasks=num_tasks,
        env_id=index,
        use_one_hot=True,
        max_episode_steps=max_episode_steps,
    )


def _make_task_env_in_worker(*args: Any) -> gym.Env:
    """``make_task_env`` in an async worker, which leaves Ctrl-C to the trainer."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return make_task_env(*args)


def make_vector_env(
    task_names: Sequence[str],
    seed: int,
    max_episode_steps: int = DEFAULT_MAX_EPISODE_STEPS,
    vector: str = "async",
) -> gym.vector.VectorEnv:
    """A vector env with one Meta-World sub-env per task (``vector``: async or sync)."""
    args = [
        (name, i, len(task_names), seed, max_episode_steps) for i, name in enumerate(task_names)
    ]
    if vector == "async":
        fns = [partial(_make_task_env_in_worker, *a) for a in args]
        return gym.vector.AsyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    fns = [partial(make_task_env, *a) for a in args]
    if vector == "sync":
        return gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    raise ValueError(f"unknown vector strategy {vector!r}; valid: async, sync")


def choose_vector_strategy(
    task_names: Sequence[str],
    seed: int,
    max_episode_steps: int = DEFAULT_MAX_EPISODE_STEPS,
    steps: int = 20,
) -> tuple[str, dict[str, float]]:
    """``--vector auto``: step a sync and an async env side by side, keep the faster kind.

    Each kind takes ``steps`` random-action vector steps (after two warm-up steps) on
    this machine; returns the winner and each kind's env steps per second. The envs
    are closed afterwards: both kinds give the same transitions for the same seed, so
    the choice changes only the speed.
    """
    rates = {}
    for vector in ("sync", "async"):
        env = make_vector_env(task_names, seed, max_episode_steps, vector)
        try:
            env.reset()
            env.action_space.seed(seed)
            actions = [env.action_space.sample() for _ in range(steps + 2)]
            for a in actions[:2]:
                env.step(a)
            t0 = time.perf_counter()
            for a in actions[2:]:
                env.step(a)
            rates[vector] = len(task_names) * steps / (time.perf_counter() - t0)
        finally:
            env.close()
    return max(rates, key=rates.__getitem__), rates
