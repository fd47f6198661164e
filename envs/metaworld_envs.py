"""Meta-World v3 benchmarks (MT10, MT50, any task list) as gymnasium vector envs.

One sub-env per task, in the order of the task list; sub-env ``i`` appends the
one-hot id of task ``i`` to its 39-d observation. Seeding is by construction
(Meta-World ignores ``reset(seed=)``): task ``i`` is built with ``seed + i``.

Goals: ``metaworld.make_mt_envs(name, seed=s)`` builds ``MT1(name, seed=s)``, whose
``_make_tasks`` seeds NumPy's global generator with ``s`` and draws the task's 50
goals (``Task``s holding ``rand_vec``, the object and goal positions; Meta-World's
``metaworld/__init__.py:134,152``). A training env's ``RandomTaskSelectWrapper``
picks one of those 50 uniformly at every reset (``wrappers.py:98-99,116``) and
``set_task`` freezes its ``rand_vec`` for that episode (``sawyer_xyz_env.py:309,699``).
An evaluation env (``make_eval_env``) is built the same way but walks through the
50 goals in order instead (``GoalCycle``).
"""

from __future__ import annotations

import pickle
import signal
import time
import warnings
from collections.abc import Sequence
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np

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
EVAL_GOALS = ("train", "heldout")
"""``--eval-goals``: the training goals (the benchmark's protocol) or 50 other goals."""
HELDOUT_SEED_OFFSET = 10_000
"""``heldout`` builds task ``i``'s evaluation env with ``seed + 10_000 + i``: other goals."""


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


class GoalCycle(gym.Wrapper):
    """An evaluation env: reset ``n`` after ``reset(options={"goal": g})`` uses goal ``g + n``.

    Goals are the task's 50 Meta-World goals in the order they were drawn, taken
    modulo 50 (a 51st episode revisits goal 0). The random draw of the training
    wrapper is switched off at every reset (a checkpoint restore may switch it back
    on), so no RNG decides an evaluation episode.
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.goals = list(env.get_wrapper_attr("tasks"))
        self.next_goal = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Set the next goal (or goal ``options["goal"]``), then reset the task's env."""
        options = dict(options or {})
        if "goal" in options:
            self.next_goal = int(options.pop("goal"))
        self.env.get_wrapper_attr("toggle_sample_tasks_on_reset")(False)
        self.env.unwrapped.set_task(self.goals[self.next_goal % len(self.goals)])  # type: ignore[attr-defined]
        self.next_goal += 1
        return self.env.reset(seed=seed, options=options or None)


def task_goals(env: gym.Env) -> np.ndarray:
    """The ``rand_vec`` (object and goal positions) of each of a task env's 50 goals, in order."""
    tasks = env.get_wrapper_attr("goals" if isinstance(env, GoalCycle) else "tasks")
    return np.stack([np.asarray(pickle.loads(t.data)["rand_vec"]) for t in tasks])


def make_task_env(
    name: str,
    index: int,
    num_tasks: int,
    seed: int,
    max_episode_steps: int,
    cycle_goals: bool = False,
) -> gym.Env:
    """Task ``index`` of a ``num_tasks`` list as one env (one-hot id, seeded ``seed + index``).

    ``cycle_goals`` wraps it in ``GoalCycle`` (evaluation) instead of Meta-World's
    random goal at each reset (training).
    """
    warnings.filterwarnings("ignore", message=".*precision lowered by casting.*")
    env = metaworld.make_mt_envs(
        name,
        seed=seed + index,
        num_tasks=num_tasks,
        env_id=index,
        use_one_hot=True,
        max_episode_steps=max_episode_steps,
    )
    return GoalCycle(env) if cycle_goals else env


def _make_task_env_in_worker(*args: Any) -> gym.Env:
    """``make_task_env`` in an async worker, which leaves Ctrl-C to the trainer."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return make_task_env(*args)


def make_vector_env(
    task_names: Sequence[str],
    seed: int,
    max_episode_steps: int = DEFAULT_MAX_EPISODE_STEPS,
    vector: str = "async",
    cycle_goals: bool = False,
) -> gym.vector.VectorEnv:
    """A vector env with one Meta-World sub-env per task (``vector``: async or sync)."""
    args = [
        (name, i, len(task_names), seed, max_episode_steps, cycle_goals)
        for i, name in enumerate(task_names)
    ]
    if vector == "async":
        fns = [partial(_make_task_env_in_worker, *a) for a in args]
        return gym.vector.AsyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    fns = [partial(make_task_env, *a) for a in args]
    if vector == "sync":
        return gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    raise ValueError(f"unknown vector strategy {vector!r}; valid: async, sync")


def make_eval_env(
    task_names: Sequence[str],
    seed: int,
    goals: str = "train",
    max_episode_steps: int = DEFAULT_MAX_EPISODE_STEPS,
    vector: str = "async",
) -> gym.vector.VectorEnv:
    """The evaluation env of a run seeded ``seed``: every task cycles through 50 goals.

    ``train``: the training env's own 50 goals per task (built with the same seeds),
    Meta-World's MT protocol. ``heldout``: 50 goals drawn from ``seed + 10_000``,
    none of them a training goal.
    """
    if goals not in EVAL_GOALS:
        raise ValueError(f"unknown eval goals {goals!r}; valid: {', '.join(EVAL_GOALS)}")
    eval_seed = seed if goals == "train" else seed + HELDOUT_SEED_OFFSET
    return make_vector_env(task_names, eval_seed, max_episode_steps, vector, cycle_goals=True)


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
