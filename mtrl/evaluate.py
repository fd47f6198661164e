"""Deterministic evaluation on Meta-World's MT protocol: one episode per goal, in goal order.

Meta-World's documentation (``docs/evaluation/evaluation.md:21``) and Meta-World+
(arXiv 2505.11289) evaluate an MT agent for one episode per *training* goal, 50 per
task, an episode succeeding when ``info["success"]`` is 1 at any step. Episode ``e``
here uses goal ``e mod 50`` of each task (the env must be ``envs.make_eval_env``'s,
whose ``GoalCycle`` sets the goal at each reset), starting from goal 0 at every
call: ``episodes`` = 50 visits each goal once, fewer visits goals ``0..E-1`` (the same
ones at every evaluation), more wraps around. Meta-World's own helper
(``metaworld/evaluation.py:48-99``) instead lets the env's task-select wrapper pick
the goal at each reset (uniformly with replacement for MT envs) and ends an episode
at its first success; success counts the same, returns here are full episodes.

``log_eval`` writes a result's TensorBoard tags, the same for both trainers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from torch.utils.tensorboard import SummaryWriter

Policy = Callable[[np.ndarray], np.ndarray]
"""Observations ``[K, D]`` → deterministic actions ``[K, A]``."""


@dataclass
class EvalResult:
    """Per-task success rate and mean raw return over the evaluation episodes."""

    success: np.ndarray  # [K], fraction of episodes with info["success"] at any step
    returns: np.ndarray  # [K], mean undiscounted raw return


def eval_tag_prefix(goals: str) -> str:
    """TensorBoard prefix of an evaluation on ``goals``: none for ``train``, ``heldout/``."""
    return "" if goals == "train" else f"{goals}/"


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


StepFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
"""Actions ``[K, A]`` → next observations ``[K, D]``, rewards, episode ends, successes ``[K]``."""


def vector_step(env: gym.vector.VectorEnv) -> StepFn:
    """One step of any vector env (same-step autoreset), success read through ``step_field``."""
    k = env.num_envs

    def step(actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        obs, reward, terminated, truncated, info = env.step(actions)
        done = np.asarray(terminated) | np.asarray(truncated)
        return obs, np.asarray(reward), done, step_field(info, "success", done, k)

    return step


def sub_env_step(env: gym.vector.SyncVectorEnv) -> StepFn:
    """``SyncVectorEnv.step`` with same-step autoreset, minus its info merging: the same
    calls on the same sub-envs in the same order (a sub-env whose episode ends is reset
    at once), so the same observations, rewards and successes, in less time (BENCHMARKS.md,
    "Evaluation's share of a study run")."""
    envs, space, k = env.envs, env.single_observation_space, env.num_envs
    frames: list[Any] = [None] * k

    def step(actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        reward, done, success = np.zeros(k), np.zeros(k, dtype=bool), np.zeros(k)
        for i, sub in enumerate(envs):
            frames[i], reward[i], terminated, truncated, info = sub.step(actions[i])
            success[i] = info.get("success", 0.0)
            if terminated or truncated:
                done[i] = True
                frames[i], _ = sub.reset()
        obs = gym.vector.utils.concatenate(
            space, frames, gym.vector.utils.create_empty_array(space, k)
        )
        return obs, reward, done, success

    return step


def evaluate(
    policy: Policy, env: gym.vector.VectorEnv, episodes: int, step: StepFn | None = None
) -> EvalResult:
    """Run episodes ``0..episodes-1`` of ``policy`` in every task (all tasks in lockstep).

    Episode ``e`` starts on goal ``e`` (``reset(options={"goal": e})``, or the
    same-step autoreset that follows goal ``e - 1`` when every task ended on the same
    step; if they ended apart, the early tasks ran on and all are reset to goal ``e``).
    ``step`` defaults to ``sub_env_step`` for a ``SyncVectorEnv`` in same-step autoreset
    mode and to ``vector_step`` for any other vector env.
    """
    k = env.num_envs
    if step is None:
        direct = (
            isinstance(env, gym.vector.SyncVectorEnv)
            and env.autoreset_mode == gym.vector.AutoresetMode.SAME_STEP
        )
        step = sub_env_step(env) if direct else vector_step(env)
    successes = np.zeros(k)
    returns = np.zeros(k)
    obs, _ = env.reset(options={"goal": 0})
    for episode in range(episodes):
        success = np.zeros(k, dtype=bool)
        ret = np.zeros(k)
        finished = np.zeros(k, dtype=bool)
        ended_together = True
        while not finished.all():
            obs, reward, done, step_success = step(policy(obs))
            live = ~finished
            success |= (step_success > 0) & live
            ret += np.where(live, reward, 0.0)
            ended_together &= bool(done[live].all()) or not done[live].any()
            finished |= done
        successes += success
        returns += ret
        if not ended_together and episode + 1 < episodes:
            obs, _ = env.reset(options={"goal": episode + 1})
    return EvalResult(success=successes / episodes, returns=returns / episodes)


def log_eval(
    writer: SummaryWriter,
    task_names: list[str],
    result: EvalResult,
    step: int,
    goals: str = "train",
) -> None:
    """``success/<task>``, ``success/mean``, ``eval/return/<task>``, ``eval/return/mean``.

    Held-out goals log the same under ``heldout/`` (``heldout/success/<task>``, …), so
    the two protocols never share a tag.
    """
    prefix = eval_tag_prefix(goals)
    for name, s, r in zip(task_names, result.success, result.returns, strict=True):
        writer.add_scalar(f"{prefix}success/{name}", float(s), step)
        writer.add_scalar(f"{prefix}eval/return/{name}", float(r), step)
    writer.add_scalar(f"{prefix}success/mean", float(result.success.mean()), step)
    writer.add_scalar(f"{prefix}eval/return/mean", float(result.returns.mean()), step)
