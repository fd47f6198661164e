"""Meta-World benchmarks as gymnasium vector envs, task ids and seeding."""

from envs.metaworld_envs import (
    ACTION_DIM,
    ALL_TASKS,
    BENCHMARKS,
    DEFAULT_MAX_EPISODE_STEPS,
    STATE_DIM,
    choose_vector_strategy,
    make_task_env,
    make_vector_env,
    resolve_tasks,
)

__all__ = [
    "ACTION_DIM",
    "ALL_TASKS",
    "BENCHMARKS",
    "DEFAULT_MAX_EPISODE_STEPS",
    "STATE_DIM",
    "choose_vector_strategy",
    "make_task_env",
    "make_vector_env",
    "resolve_tasks",
]
