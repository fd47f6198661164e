"""A vector-env wrapper that passes chosen tasks' rewards through monotonic maps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from reward_transforms.maps import RewardMap

FLOAT32_MAX = float(np.finfo(np.float32).max)
"""The largest reward the replay buffers (float32, ours and SB3's) hold as a finite number."""


class NonFiniteReward(ArithmeticError):
    """A task's reward (raw from the env, or after its map) is NaN, infinite, or finite only
    in float64: beyond ``FLOAT32_MAX`` it would reach the networks as inf."""


def transform_rewards(
    raw: np.ndarray,
    maps: Mapping[int, RewardMap],
    task_ids: Sequence[int],
    task_names: Sequence[str],
) -> np.ndarray:
    """``raw[j]`` through ``maps[j]`` (where given); ``NonFiniteReward`` unless |r| ≤ float32 max.

    Position ``j`` is task ``task_ids[j]`` named ``task_names[j]``; the error names the
    task and, when the map pushed the value out of range, the map and the raw reward. NaN,
    inf and a finite value beyond float32's range all fail: the replay stores float32. The one
    check both wrappers (the multi-task vector env and ``stl``'s single envs) go through.
    """
    raw = np.asarray(raw, dtype=np.float64)
    out = raw.copy()
    with np.errstate(over="ignore", invalid="ignore"):  # reported below, by task
        for j, fn in maps.items():
            out[j : j + 1] = fn(raw[j : j + 1])
    held = np.abs(out) <= FLOAT32_MAX  # False for NaN and inf too
    if not held.all():
        j = int(np.flatnonzero(~held)[0])
        what = f"task{task_ids[j]} ({task_names[j]})"
        beyond = "" if not np.isfinite(out[j]) else " (beyond float32, the replay's dtype)"
        if not np.isfinite(raw[j]):
            raise NonFiniteReward(f"the env returned a non-finite reward {raw[j]} for {what}")
        if j not in maps:
            raise NonFiniteReward(f"the env returned a reward {raw[j]:.6g} for {what}{beyond}")
        mapped = f"raw reward {raw[j]:.6g} -> {out[j]}{beyond}"
        raise NonFiniteReward(f"reward map {maps[j]} overflowed for {what}: {mapped}")
    return out


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
        out = transform_rewards(raw, self.transforms, range(len(raw)), self.task_names)
        info = dict(info)
        info["raw_reward"] = raw
        return obs, out, terminated, truncated, info


class RewardTransform(gym.Wrapper):
    """The single-env form of ``TaskRewardTransform``: one env (task ``task``), one map or None.

    It runs the same ``transform_rewards`` check: a non-finite reward raises
    ``NonFiniteReward`` naming ``task{task} (name)`` and the map.
    """

    def __init__(self, env: gym.Env, fn: RewardMap | None, task: int = 0, name: str | None = None):
        super().__init__(env)
        self.fn = fn
        self.task, self.name = task, name or f"env{task}"

    def step(self, action: Any):  # type: ignore[override]
        obs, reward, terminated, truncated, info = self.env.step(action)
        raw = float(reward)
        info = dict(info)
        info["raw_reward"] = raw
        maps = {} if self.fn is None else {0: self.fn}
        out = float(transform_rewards(np.array([raw]), maps, [self.task], [self.name])[0])
        return obs, out, terminated, truncated, info
