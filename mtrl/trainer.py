"""The training loop: env → act → store → sample → losses → combine → step, with logs.

One "step" is one vector step: every task's env advances once, so ``step``
is also the number of env steps each task has taken (the x-axis of every curve).
"""

from __future__ import annotations

import random
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import Tensor
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

import envs
from agents.replay import MultiTaskReplay
from agents.sac import MultiTaskSAC, SACHyper
from mtrl import combine
from mtrl.checkpoint import atomic_torch_save, atomic_write_bytes
from mtrl.config import ConfigError, Resolved, TrainConfig, to_dict, validate
from mtrl.evaluate import EvalResult, evaluate
from reward_transforms import TaskRewardTransform, describe


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (the envs are seeded at construction)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run_folder_name(cfg: TrainConfig, resolved: Resolved) -> str:
    """A readable name: tasks, method, transforms, seed, start time."""
    what = (
        cfg.benchmark
        if not cfg.tasks
        else (
            resolved.task_names[0]
            if len(resolved.task_names) == 1
            else f"{len(resolved.task_names)}tasks"
        )
    )
    tr = (
        "+".join(
            s.replace(":", "-").replace(",", "_").replace("(", "").replace(")", "")
            for s in describe(resolved.transforms)
        )
        or "none"
    )
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{what}__{cfg.method}__{tr}__s{cfg.seed}__{stamp}"


def make_run_dir(cfg: TrainConfig, resolved: Resolved) -> Path:
    """Create the run's own folder under ``logdir`` (a new one, never reusing a folder)."""
    base = Path(cfg.logdir) / (cfg.run_name or run_folder_name(cfg, resolved))
    path, n = base, 1
    try:
        Path(cfg.logdir).mkdir(parents=True, exist_ok=True)
        while True:
            try:
                path.mkdir()
                return path
            except FileExistsError:
                n += 1
                path = base.with_name(f"{base.name}-{n}")
    except OSError as err:
        raise ConfigError(
            f"cannot create run folder under {cfg.logdir!r}: {err.strerror}"
        ) from None


def save_config(cfg: TrainConfig, resolved: Resolved, run_dir: Path) -> None:
    """Write every field (with the task list filled in) as ``config.yaml``."""
    data = to_dict(cfg)
    data["tasks"] = ",".join(resolved.task_names)
    data["transform"] = describe(resolved.transforms)
    data["run_name"] = run_dir.name
    data["logdir"] = str(run_dir.parent)
    atomic_write_bytes(run_dir / "config.yaml", yaml.safe_dump(data, sort_keys=False).encode())


class ScalarLog:
    """Running sums of per-update stats on the device, written to TensorBoard at intervals."""

    def __init__(self, writer: SummaryWriter, task_names: list[str]):
        self.writer, self.task_names = writer, task_names
        self.sums: dict[str, Tensor] = {}
        self.count = 0

    def add(self, stats: dict[str, Tensor]) -> None:
        """Accumulate one update's stats (no host sync)."""
        for key, value in stats.items():
            v = value.detach().float()
            self.sums[key] = v.clone() if key not in self.sums else self.sums[key] + v
        self.count += 1

    def flush(self, step: int) -> None:
        """Write the means since the last flush: per-task tags for ``[K]`` stats."""
        for key, total in self.sums.items():
            mean = (total / self.count).cpu().numpy()
            if mean.ndim == 0:
                self.writer.add_scalar(key, float(mean), step)
            else:
                for name, v in zip(self.task_names, mean, strict=True):
                    self.writer.add_scalar(f"{key}/{name}", float(v), step)
        self.sums.clear()
        self.count = 0


def log_eval(writer: SummaryWriter, task_names: list[str], result: EvalResult, step: int) -> None:
    """``success/<task>``, ``success/mean``, ``eval/return/<task>``, ``eval/return/mean``."""
    for name, s, r in zip(task_names, result.success, result.returns, strict=True):
        writer.add_scalar(f"success/{name}", float(s), step)
        writer.add_scalar(f"eval/return/{name}", float(r), step)
    writer.add_scalar("success/mean", float(result.success.mean()), step)
    writer.add_scalar("eval/return/mean", float(result.returns.mean()), step)


def train(cfg: TrainConfig) -> Path:
    """Run one training job as configured; return its run folder."""
    resolved = validate(cfg)
    names, device, k = resolved.task_names, resolved.device, len(resolved.task_names)
    run_dir = make_run_dir(cfg, resolved)
    save_config(cfg, resolved, run_dir)
    seed_everything(cfg.seed)

    hyper = SACHyper(
        hidden=tuple(cfg.hidden),
        actor_lr=cfg.actor_lr,
        critic_lr=cfg.critic_lr,
        alpha_lr=cfg.alpha_lr,
        gamma=cfg.gamma,
        tau=cfg.tau,
        init_temperature=cfg.init_temperature,
    )
    if cfg.method == "stl":
        from mtrl.stl_trainer import train_stl

        return train_stl(cfg, resolved, run_dir, hyper)

    env = TaskRewardTransform(
        envs.make_vector_env(names, cfg.seed, cfg.max_episode_steps, cfg.vector),
        resolved.transforms,
    )
    eval_env = envs.make_vector_env(names, cfg.seed + 10_000, cfg.max_episode_steps, cfg.vector)
    env.action_space.seed(cfg.seed)
    obs_dim = env.single_observation_space.shape[0]
    act_dim = env.single_action_space.shape[0]
    try:
        critic_combiner = combine.make(cfg.method, k, **cfg.method_options)
        actor_combiner = combine.make(cfg.method, k, **cfg.method_options)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    agent = MultiTaskSAC(obs_dim, act_dim, k, hyper, critic_combiner, actor_combiner, device)
    replay = MultiTaskReplay(k, min(cfg.buffer_size, cfg.total_steps), obs_dim, act_dim, device)
    writer = SummaryWriter(str(run_dir))
    stats_log = ScalarLog(writer, names)

    def policy(o: np.ndarray) -> np.ndarray:
        return agent.act(torch.as_tensor(o, device=device), deterministic=True).cpu().numpy()

    ep_raw, ep_transformed = np.zeros(k), np.zeros(k)
    last_success = float("nan")
    update_time, interval_start, interval_steps = 0.0, time.perf_counter(), 0
    bar = tqdm(total=cfg.total_steps, unit="step", disable=not cfg.progress, dynamic_ncols=True)
    obs, _ = env.reset()
    try:
        for step in range(1, cfg.total_steps + 1):
            # act: uniform random during warm-up, then one batched forward for all tasks
            if step <= cfg.warmup_steps:
                action = env.action_space.sample()
            else:
                action = agent.act(torch.as_tensor(obs, device=device)).cpu().numpy()
            next_obs, reward, terminated, truncated, info = env.step(action)
            done = np.asarray(terminated) | np.asarray(truncated)

            # store: the bootstrap observation of an ended episode is in info["final_obs"]
            real_next = next_obs
            if done.any():
                real_next = next_obs.copy()
                for i in np.flatnonzero(done):
                    real_next[i] = info["final_obs"][i]
            replay.add(obs, action, reward, real_next, terminated)
            ep_raw += info["raw_reward"]
            ep_transformed += reward
            for i in np.flatnonzero(done):
                writer.add_scalar(f"return/raw/{names[i]}", ep_raw[i], step)
                writer.add_scalar(f"return/transformed/{names[i]}", ep_transformed[i], step)
                ep_raw[i] = ep_transformed[i] = 0.0
            obs = next_obs

            # update: sample [K, b, …] → per-task losses → combine → optimizer steps
            if step > cfg.warmup_steps:
                t0 = time.perf_counter()
                for _ in range(cfg.updates_per_step):
                    stats_log.add(agent.update(replay.sample(cfg.batch_per_task)))
                update_time += time.perf_counter() - t0
            interval_steps += 1

            if step % cfg.log_interval == 0 or step == cfg.total_steps:
                if stats_log.count:
                    writer.add_scalar("perf/update_ms", 1000 * update_time / stats_log.count, step)
                    stats_log.flush(step)
                elapsed = time.perf_counter() - interval_start
                writer.add_scalar("perf/env_steps_per_s", k * interval_steps / elapsed, step)
                update_time, interval_start, interval_steps = 0.0, time.perf_counter(), 0
            if step % cfg.eval_interval == 0 or step == cfg.total_steps:
                t_eval = time.perf_counter()
                result = evaluate(policy, eval_env, cfg.eval_episodes)
                log_eval(writer, names, result, step)
                interval_start += time.perf_counter() - t_eval  # perf counts training only
                last_success = float(result.success.mean())
                writer.flush()
            if step % 50 == 0 or step == cfg.total_steps:
                bar.update(step - bar.n)
                bar.set_postfix(success=f"{last_success:.2f}", refresh=False)
    finally:
        bar.close()
        writer.close()
        env.close()
        eval_env.close()

    atomic_torch_save(
        {
            "actor": agent.actor.state_dict(),
            "critic": agent.critic.state_dict(),
            "critic_target": agent.critic_target.state_dict(),
            "log_alpha": agent.log_alpha.detach().cpu(),
            "task_names": names,
            "config": to_dict(cfg),
        },
        run_dir / "model.pt",
    )
    return run_dir
