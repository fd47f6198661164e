"""Deterministic evaluation: E episodes per task, success = ``info["success"]`` at any step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

Policy = Callable[[np.ndarray], np.ndarray]
"""Observations ``[K, D]`` → deterministic actions ``[K, A]``."""


@dataclass
class EvalResult:
    """Per-task success rate and mean raw return over the evaluation episodes."""

    success: np.ndarray  # [K], fraction of episodes with info["success"] at any step
    returns: np.ndarray  # [K], mean undiscounted raw return


def step_field(info: dict[str, Any], key: str, done: np.ndarray, num_envs: int) -> np.ndarray:
    """``info[key]`` per sub-env of a vector step; from ``final_info`` where an episode ended."""
    out = np.zeros(num_envs, dtype=np.float64)
    if key in info:
        mask = info.get(f"_{key}", np.ones(num_envs, dtype=bool))
        out[mask] = np.asarray(info[key], dtype=np.float64)[mask]
    final = info.get("final_info")
    if final is not None and done.any() and key in final:
        mask = final.get(f"_{key}", done) & done
        out[mask] = np.asarray(final[key], dtype=np.float64)[mask]
    return out


def evaluate(policy: Policy, env: gym.vector.VectorEnv, episodes: int) -> EvalResult:
    """Run ``episodes`` episodes of ``policy`` in every task (all tasks in lockstep)."""
    k = env.num_envs
    successes = np.zeros(k)
    returns = np.zeros(k)
    obs, _ = env.reset()
    for _ in range(episodes):
        success = np.zeros(k, dtype=bool)
        ret = np.zeros(k)
        finished = np.zeros(k, dtype=bool)
        while not finished.all():
            obs, reward, terminated, truncated, info = env.step(policy(obs))
            done = np.asarray(terminated) | np.asarray(truncated)
            live = ~finished
            success |= (step_field(info, "success", done, k) > 0) & live
            ret += np.where(live, reward, 0.0)
            finished |= done
        successes += success
        returns += ret
    return EvalResult(success=successes / episodes, returns=returns / episodes)
