"""Meta-World benchmarks as gymnasium vector envs, task ids and seeding."""

from envs.metaworld_envs import (
    ALL_TASKS,
    BENCHMARKS,
    DEFAULT_MAX_EPISODE_STEPS,
    make_task_env,
    make_vector_env,
    resolve_tasks,
)

__all__ = [
    "ALL_TASKS",
    "BENCHMARKS",
    "DEFAULT_MAX_EPISODE_STEPS",
    "make_task_env",
    "make_vector_env",
    "resolve_tasks",
]
