"""Env steps per second of the training loop's collection phase against raw MT10 stepping.

Side by side in one run, for each vector strategy (sync, async):
  raw      — random actions straight into the vector env (the MuJoCo limit of the machine);
  raw(π)   — the same, with the actions the policy took in the collect run (see below);
  collect  — what the trainer does each step outside the update: the policy's batched
             forward on the observations, the vector step (rewards through the task's
             transform), and the replay insert (bootstrap observation from ``final_obs``).
Rounds alternate raw and collect so machine noise hits both alike; medians are reported.

    python benchmarks/bench_collect.py [--steps 500] [--rounds 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

import envs
from agents.replay import MultiTaskReplay
from agents.sac import MultiTaskSAC, SACHyper
from mtrl import combine
from mtrl.trainer import store
from reward_transforms import TaskRewardTransform, parse_transforms


def raw_rate(env, steps: int, actions: list[np.ndarray] | None = None) -> float:
    """Vector env steps per second (all tasks) with random actions, or the ``actions`` given."""
    env.reset()
    chosen = actions or [env.action_space.sample() for _ in range(steps)]
    t0 = time.perf_counter()
    for action in chosen:
        env.step(action)
    return env.num_envs * len(chosen) / (time.perf_counter() - t0)


def collect_rate(
    env, agent: MultiTaskSAC, replay: MultiTaskReplay, steps: int, taken: list[np.ndarray]
) -> float:
    """Env steps per second of act → step → store, as in ``mtrl.trainer.train``.

    The actions taken are appended to ``taken``: the policy's actions drive the arm
    into other contacts than uniform noise does, which changes MuJoCo's cost per
    step, so the loop's own overhead is judged against raw stepping with them.
    """
    obs, _ = env.reset()
    device = replay.device
    t0 = time.perf_counter()
    for _ in range(steps):
        action = agent.act(torch.as_tensor(obs, device=device)).cpu().numpy()
        taken.append(action)
        env.step_async(action)
        next_obs, reward, terminated, truncated, info = env.step_wait()
        done = np.asarray(terminated) | np.asarray(truncated)
        store(replay, obs, action, reward, next_obs, terminated, done, info)
        obs = next_obs
    return env.num_envs * steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="vector steps per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--vector", nargs="+", default=["sync", "async"])
    args = parser.parse_args()
    names = envs.resolve_tasks("mt10")
    k = len(names)
    torch.manual_seed(0)
    agent = MultiTaskSAC(
        envs.STATE_DIM + k,
        envs.ACTION_DIM,
        k,
        SACHyper(),
        combine.make("mean", k),
        combine.make("mean", k),
        args.device,
    )
    replay = MultiTaskReplay(
        k, args.steps * args.rounds, envs.STATE_DIM + k, envs.ACTION_DIM, args.device
    )
    results: dict[str, dict[str, list[float]]] = {}
    for vector in args.vector:
        env = TaskRewardTransform(
            envs.make_vector_env(names, seed=0, vector=vector),
            parse_transforms(["task3:pow4"], names),
            task_names=names,
        )
        env.action_space.seed(0)
        raw_rate(env, 20)  # warm the workers up
        res = results[vector] = {"raw": [], "raw_policy": [], "collect": []}
        for _ in range(args.rounds):
            taken: list[np.ndarray] = []
            res["raw"].append(raw_rate(env, args.steps))
            res["collect"].append(collect_rate(env, agent, replay, args.steps, taken))
            res["raw_policy"].append(raw_rate(env, args.steps, taken))
            replay.pos = replay.size = 0
        env.close()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"MT10 (10 envs), {args.steps} steps × {args.rounds} rounds, cores={cores}, "
        f"torch threads={torch.get_num_threads()}, device={args.device}"
    )
    print(
        f"{'vector':8} {'raw':>8} {'raw(π)':>8} {'collect':>8} "
        f"{'collect/raw':>12} {'collect/raw(π)':>15}   (env steps/s)"
    )
    for vector, res in results.items():
        raw, rawp, col = (statistics.median(res[x]) for x in ("raw", "raw_policy", "collect"))
        ratios = f"{col / raw:11.2f}x {col / rawp:14.2f}x"
        print(f"{vector:8} {raw:8.0f} {rawp:8.0f} {col:8.0f} {ratios}")
    if len(results) > 1:
        best = max(results, key=lambda v: statistics.median(results[v]["collect"]))
        print(f"faster here: {best}")


if __name__ == "__main__":
    main()
