"""Meta-World benchmarks as gymnasium vector envs, task ids and seeding."""

from envs.metaworld_envs import (
    ACTION_DIM,
    ALL_TASKS,
    BENCHMARKS,
    DEFAULT_MAX_EPISODE_STEPS,
    EVAL_GOALS,
    HELDOUT_SEED_OFFSET,
    STATE_DIM,
    GoalCycle,
    choose_vector_strategy,
    make_eval_env,
    make_task_env,
    make_vector_env,
    resolve_tasks,
    task_goals,
)

__all__ = [
    "ACTION_DIM",
    "ALL_TASKS",
    "BENCHMARKS",
    "DEFAULT_MAX_EPISODE_STEPS",
    "EVAL_GOALS",
    "HELDOUT_SEED_OFFSET",
    "STATE_DIM",
    "GoalCycle",
    "choose_vector_strategy",
    "make_eval_env",
    "make_task_env",
    "make_vector_env",
    "resolve_tasks",
    "task_goals",
]
