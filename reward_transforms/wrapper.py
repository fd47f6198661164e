"""A vector-env wrapper that passes chosen tasks' rewards through monotonic maps."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from reward_transforms.maps import RewardMap


class NonFiniteReward(ArithmeticError):
    """A task's reward (raw from the env, or after its map) is NaN or infinite."""


class TaskRewardTransform(gym.vector.VectorWrapper):
    """Apply ``transforms[i]`` to the reward of sub-env ``i`` (one sub-env per task).

    The returned reward is the transformed one (what the agent trains on); the
    untouched rewards are in ``info["raw_reward"]`` for logging. Observations,
    terminations and ``success`` are not touched. A non-finite reward raises
    ``NonFiniteReward`` naming the task and its map, before any network sees it.
    """

    def __init__(
        self,
        env: gym.vector.VectorEnv,
        transforms: dict[int, RewardMap],
        task_names: list[str] | None = None,
    ):
        super().__init__(env)
        self.task_names = task_names or [f"env{i}" for i in range(env.num_envs)]
        bad = [i for i in transforms if not 0 <= i < env.num_envs]
        if bad:
            raise ValueError(f"transform task indices {bad} out of range for {env.num_envs} envs")
        self.transforms = dict(transforms)
        self._pending: Any = None

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call ``name`` on every sub-env (gymnasium's VectorWrapper does not forward it)."""
        return self.env.call(name, *args, **kwargs)

    def step(self, actions: Any):  # type: ignore[override]
        self.step_async(actions)
        return self.step_wait()

    def step_async(self, actions: Any) -> None:
        """Start a step: an async vector env begins it in its workers, others in ``step_wait``."""
        self._pending = actions
        if isinstance(self.env, gym.vector.AsyncVectorEnv):
            self.env.step_async(actions)

    def step_wait(self):  # type: ignore[no-untyped-def]
        """Finish the step ``step_async`` started; the rewards come back transformed."""
        if isinstance(self.env, gym.vector.AsyncVectorEnv):
            obs, reward, terminated, truncated, info = self.env.step_wait()
        else:
            obs, reward, terminated, truncated, info = self.env.step(self._pending)
        raw = np.asarray(reward, dtype=np.float64)
        out = raw.copy()
        with np.errstate(over="ignore", invalid="ignore"):  # reported below, by task
            for i, fn in self.transforms.items():
                out[i : i + 1] = fn(raw[i : i + 1])
        if not np.isfinite(out).all():
            i = int(np.flatnonzero(~np.isfinite(out))[0])
            what = f"task{i} ({self.task_names[i]})"
            if not np.isfinite(raw[i]):
                raise NonFiniteReward(f"the env returned a non-finite reward {raw[i]} for {what}")
            raise NonFiniteReward(
                f"reward map {self.transforms[i]} overflowed for {what}: "
                f"raw reward {raw[i]:.6g} -> {out[i]}"
            )
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
