"""A vector-env wrapper that passes chosen tasks' rewards through monotonic maps."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from reward_transforms.maps import RewardMap


class TaskRewardTransform(gym.vector.VectorWrapper):
    """Apply ``transforms[i]`` to the reward of sub-env ``i`` (one sub-env per task).

    The returned reward is the transformed one (what the agent trains on); the
    untouched rewards are in ``info["raw_reward"]`` for logging. Observations,
    terminations and ``success`` are not touched.
    """

    def __init__(self, env: gym.vector.VectorEnv, transforms: dict[int, RewardMap]):
        super().__init__(env)
        bad = [i for i in transforms if not 0 <= i < env.num_envs]
        if bad:
            raise ValueError(f"transform task indices {bad} out of range for {env.num_envs} envs")
        self.transforms = dict(transforms)

    def step(self, actions: Any):  # type: ignore[override]
        obs, reward, terminated, truncated, info = self.env.step(actions)
        raw = np.asarray(reward, dtype=np.float64)
        out = raw.copy()
        for i, fn in self.transforms.items():
            out[i : i + 1] = fn(raw[i : i + 1])
        info = dict(info)
        info["raw_reward"] = raw
        return obs, out, terminated, truncated, info


class RewardTransform(gym.Wrapper):
    """The single-env form of ``TaskRewardTransform``: one env, one map (or None)."""

    def __init__(self, env: gym.Env, fn: RewardMap | None):
        super().__init__(env)
        self.fn = fn

    def step(self, action: Any):  # type: ignore[override]
        obs, reward, terminated, truncated, info = self.env.step(action)
        raw = float(reward)
        info = dict(info)
        info["raw_reward"] = raw
        out = raw if self.fn is None else float(self.fn(np.array([raw]))[0])
        return obs, out, terminated, truncated, info
