"""The training loop: env → act → store → sample → losses → combine → step, with logs.

One "step" is one vector step: every task's env advances once, so ``step``
is also the number of env steps each task has taken (the x-axis of every curve).
"""

from __future__ import annotations

import random
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import Tensor
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

import envs
from agents.replay import MultiTaskReplay, replay_bytes
from agents.sac import MultiTaskSAC, SACHyper
from mtrl import combine
from mtrl.checkpoint import (
    atomic_torch_save,
    atomic_write_bytes,
    load_latest_checkpoint,
    remove_partial_writes,
    save_checkpoint,
)
from mtrl.config import ConfigError, Resolved, TrainConfig, to_dict, validate
from mtrl.evaluate import EvalResult, eval_tag_prefix, evaluate
from mtrl.finished import is_finished, mark_finished
from mtrl.profile import section
from reward_transforms import NonFiniteReward, TaskRewardTransform, describe, label


class TrainingStopped(RuntimeError):
    """The run stopped itself (non-finite updates or rewards); its last checkpoint is kept."""


@dataclass
class RunResult:
    """Where a run lives, the step it reached, and the signal that stopped it (if any)."""

    run_dir: Path
    step: int
    signal: int | None = None
    notes: list[str] = field(default_factory=list)


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
    tr = label(describe(resolved.transforms))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{what}__{cfg.method}__{tr}__s{cfg.seed}__{stamp}"


def check_disk(cfg: TrainConfig, num_tasks: int, folder: Path) -> None:
    """ConfigError if ``folder``'s disk cannot hold the checkpoints of a full replay."""
    if cfg.method == "stl" or not cfg.checkpoint_replay:
        return
    capacity = min(cfg.buffer_size, cfg.total_steps)
    obs_dim = envs.STATE_DIM + num_tasks
    each = replay_bytes(num_tasks, capacity, obs_dim, envs.ACTION_DIM)
    need = (cfg.keep_checkpoints + 1) * each  # the kept ones plus the one being written
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if need > free:
        raise ConfigError(
            f"not enough disk under {cfg.logdir!r}: {cfg.keep_checkpoints}+1 checkpoints of the "
            f"replay buffers need {need / 2**30:.1f} GiB, {free / 2**30:.1f} GiB is free; lower "
            "--buffer-size or --keep-checkpoints, or pass --no-checkpoint-replay"
        )


def make_run_dir(cfg: TrainConfig, resolved: Resolved) -> Path:
    """Create the run's own folder under ``logdir``: a new one, never reusing a folder.

    A named run (``--run-name``) that exists already is an error pointing at ``--resume``;
    an unnamed one gets ``-2``, ``-3``, … if two runs start in the same second.
    """
    base = Path(cfg.logdir) / (cfg.run_name or run_folder_name(cfg, resolved))
    if cfg.run_name and base.exists():
        raise ConfigError(
            f"run folder {base} already exists; continue it with `mtrl train --resume {base}` "
            "or choose another --run-name"
        )
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
    """Running sums of per-update stats on the device, written to TensorBoard at intervals.

    Updates whose ``stats["ok"]`` is false (dropped for a non-finite value) are left
    out of the means, still without a host sync.
    """

    def __init__(self, writer: SummaryWriter, task_names: list[str]):
        self.writer, self.task_names = writer, task_names
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, Tensor] = {}
        self.count = 0

    def add(self, stats: dict[str, Tensor]) -> None:
        """Accumulate one update's stats (no host sync); a stat may skip some updates."""
        ok = stats.get("ok")
        # this update's weight in the means
        n = ok.float() if ok is not None else torch.ones(())
        for key, value in stats.items():
            if key == "ok":
                continue
            v = value.detach().float()
            if ok is None:
                n = n.to(v.device)
            else:
                v = torch.where(ok, v, 0.0)
            if key in self.sums:
                self.sums[key] += v
                self.counts[key] += n
            else:
                self.sums[key], self.counts[key] = v.clone(), n.clone()
        self.count += 1

    def flush(self, step: int) -> None:
        """Write the means since the last flush: per-task tags for ``[K]`` stats.

        Every sum and count reaches the host in one transfer (one sync).
        """
        keys = list(self.sums)
        if not keys:
            self.count = 0
            return
        sizes = [self.sums[k].numel() for k in keys]
        flat = torch.cat(
            [*(self.sums[k].reshape(-1) for k in keys), torch.stack([self.counts[k] for k in keys])]
        )
        host = flat.cpu().numpy()
        totals, counts = np.split(host[: sum(sizes)], np.cumsum(sizes)[:-1]), host[sum(sizes) :]
        for key, total, count in zip(keys, totals, counts, strict=True):
            if count == 0:
                continue
            mean = (total / count).reshape(self.sums[key].shape)
            if mean.ndim == 0:
                self.writer.add_scalar(key, float(mean), step)
            else:
                for name, v in zip(self.task_names, mean, strict=True):
                    self.writer.add_scalar(f"{key}/{name}", float(v), step)
        self.sums.clear()
        self.counts.clear()
        self.count = 0


def store(
    replay: MultiTaskReplay,
    obs: np.ndarray,
    action: np.ndarray,
    reward: np.ndarray,
    next_obs: np.ndarray,
    terminated: np.ndarray,
    done: np.ndarray,
    info: dict,
) -> None:
    """Add one vector step to the replay; an ended episode's bootstrap obs is ``final_obs``."""
    real_next = next_obs
    if done.any():
        real_next = next_obs.copy()
        for i in np.flatnonzero(done):
            real_next[i] = info["final_obs"][i]
    replay.add(obs, action, reward, real_next, terminated)


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


def _rng_state() -> dict:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class _StopFlag:
    """SIGTERM / SIGINT set a flag; the loop checkpoints and leaves at the end of the step."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous = {}
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach only the main thread (e.g. a Ray actor's worker thread)
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        self.signum = signum

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def load_run_config(run_dir: Path) -> TrainConfig:
    """The config a run folder was started with (for ``--resume``)."""
    from mtrl.config import build_config, load_yaml

    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"--resume {run_dir}: no config.yaml there (is it a run folder?)")
    return build_config(load_yaml(run_dir / "config.yaml"))


def train(cfg: TrainConfig, resume_dir: Path | None = None) -> RunResult:
    """Run one training job (or continue the one in ``resume_dir``); return where it ended."""
    resolved = validate(cfg)
    names, device, k = resolved.task_names, resolved.device, len(resolved.task_names)
    if resume_dir is None:
        check_disk(cfg, len(resolved.task_names), Path(cfg.logdir))
        run_dir = make_run_dir(cfg, resolved)
        save_config(cfg, resolved, run_dir)
    else:
        run_dir = resume_dir
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

        if resume_dir is not None and is_finished(run_dir):
            return RunResult(run_dir, cfg.total_steps, notes=["the run had already finished"])
        return RunResult(train_stl(cfg, resolved, run_dir, hyper), cfg.total_steps)

    vector, notes = cfg.vector, []
    if vector == "auto":
        vector, rates = envs.choose_vector_strategy(names, cfg.seed, cfg.max_episode_steps)
        measured = ", ".join(f"{v} {r:.0f}" for v, r in rates.items())
        notes.append(f"--vector auto chose {vector} (env steps/s: {measured})")
    env = TaskRewardTransform(
        envs.make_vector_env(names, cfg.seed, cfg.max_episode_steps, vector),
        resolved.transforms,
        task_names=names,
    )
    eval_env = envs.make_eval_env(names, cfg.seed, cfg.eval_goals, cfg.max_episode_steps, vector)
    env.action_space.seed(cfg.seed)
    obs_dim = env.single_observation_space.shape[0]
    act_dim = env.single_action_space.shape[0]
    critic_combiner, actor_combiner = combine.make_pair(
        cfg.method, k, cfg.critic_lr, cfg.actor_lr, **cfg.method_options
    )
    agent = MultiTaskSAC(
        obs_dim, act_dim, k, hyper, critic_combiner, actor_combiner, device, cfg.compile
    )
    replay = MultiTaskReplay(k, min(cfg.buffer_size, cfg.total_steps), obs_dim, act_dim, device)
    ckpt_dir = run_dir / "checkpoints"

    # the state a checkpoint carries beyond the agent and the buffers
    start = 0
    ep_raw, ep_transformed = np.zeros(k), np.zeros(k)
    last_success = float("nan")
    env_rng = env.call("get_checkpoint")  # taken before every episode boundary
    eval_rng = eval_env.call("get_checkpoint")  # taken after every evaluation
    loaded = None
    if resume_dir is not None:
        if stale := remove_partial_writes(ckpt_dir):
            notes.append(f"removed {len(stale)} partial checkpoint write(s) left by a kill")
        loaded = load_latest_checkpoint(ckpt_dir)
    if loaded is not None:
        state, path = loaded
        start = state["step"]
        agent.load_training_state(state["agent"])
        if state["replay"] is not None:
            replay.load_state_dict(state["replay"])
        else:
            notes.append("checkpoint holds no replay buffers: the buffers restart empty")
        env_rng, eval_rng = state["env_rng"], state["eval_rng"]
        env.call("load_checkpoint", list(env_rng))
        eval_env.call("load_checkpoint", list(eval_rng))
        env.action_space.np_random.bit_generator.state = state["action_space_rng"]
        _set_rng_state(state["rng"])
        last_success = state["last_success"]
        if state["at_boundary"]:
            ep_raw, ep_transformed = state["ep_raw"], state["ep_transformed"]
        else:
            notes.append(f"step {start} was mid-episode: the envs restart that episode")
        notes.insert(0, f"resumed from {path.name} (step {start})")
    elif resume_dir is not None:
        notes.append("no usable checkpoint: the run restarts from step 0")
    if start >= cfg.total_steps:
        env.close()
        eval_env.close()
        if not (run_dir / "model.pt").exists():  # a signal landed on the last step
            save_model(agent, names, cfg, run_dir)
        mark_finished(run_dir, start)
        return RunResult(run_dir, start, notes=[*notes, "the run had already finished"])

    # a resumed run rewrites the curves from the checkpoint's step on
    writer = SummaryWriter(str(run_dir), purge_step=start + 1 if resume_dir else None)
    stats_log = ScalarLog(writer, names)

    def policy(o: np.ndarray) -> np.ndarray:
        return agent.act(torch.as_tensor(o, device=device), deterministic=True).cpu().numpy()

    def checkpoint(step: int) -> None:
        writer.flush()
        state = {
            "step": step,
            "agent": agent.training_state(),
            "replay": replay.state_dict() if cfg.checkpoint_replay else None,
            "env_rng": env_rng,
            "eval_rng": eval_rng,
            "at_boundary": step % cfg.max_episode_steps == 0,
            "ep_raw": ep_raw.copy(),
            "ep_transformed": ep_transformed.copy(),
            "action_space_rng": env.action_space.np_random.bit_generator.state,
            "rng": _rng_state(),
            "last_success": last_success,
            "config": to_dict(cfg),
        }
        save_checkpoint(ckpt_dir, step, state, cfg.keep_checkpoints)

    stop = _StopFlag()
    update_time, interval_start, interval_steps = 0.0, time.perf_counter(), 0
    bar = tqdm(
        total=cfg.total_steps,
        initial=start,
        unit="step",
        disable=not cfg.progress,
        dynamic_ncols=True,
    )
    obs, _ = env.reset()
    step = start
    try:
        for step in range(start + 1, cfg.total_steps + 1):
            # act: uniform random during warm-up, then one batched forward for all tasks
            with section("act"):
                if step <= cfg.warmup_steps:
                    action = env.action_space.sample()
                else:
                    action = agent.act(torch.as_tensor(obs, device=device)).cpu().numpy()
            if step % cfg.max_episode_steps == 0:  # this step ends the episodes: keep env RNG
                env_rng = env.call("get_checkpoint")
            # the envs step in their workers while the update runs here (async vector env)
            with section("env"):
                env.step_async(action)

            # update: sample [K, b, …] → per-task losses → combine → optimizer steps. It sees
            # the transitions up to the previous step; nothing in it waits for the device.
            if step > cfg.warmup_steps and replay.size > 0:
                t0 = time.perf_counter()
                for _ in range(cfg.updates_per_step):
                    with section("replay_sample"):
                        batch = replay.sample(cfg.batch_per_task)
                    stats = agent.update(batch)
                    with section("logging"):
                        stats_log.add(stats)
                update_time += time.perf_counter() - t0

            with section("env"):
                next_obs, reward, terminated, truncated, info = env.step_wait()
            done = np.asarray(terminated) | np.asarray(truncated)

            with section("replay_add"):
                store(replay, obs, action, reward, next_obs, terminated, done, info)
            ep_raw += info["raw_reward"]
            ep_transformed += reward
            for i in np.flatnonzero(done):
                writer.add_scalar(f"return/raw/{names[i]}", ep_raw[i], step)
                writer.add_scalar(f"return/transformed/{names[i]}", ep_transformed[i], step)
                ep_raw[i] = ep_transformed[i] = 0.0
            obs = next_obs
            interval_steps += 1

            if step % cfg.log_interval == 0 or step == cfg.total_steps:
                with section("logging"):  # the interval's host syncs (none between)
                    if stats_log.count:
                        ms = 1000 * update_time / stats_log.count
                        writer.add_scalar("perf/update_ms", ms, step)
                        stats_log.flush(step)
                    writer.add_scalar("guard/skipped_updates", int(agent.skipped_updates), step)
                    elapsed = time.perf_counter() - interval_start
                    writer.add_scalar("perf/env_steps_per_s", k * interval_steps / elapsed, step)
                    update_time, interval_start, interval_steps = 0.0, time.perf_counter(), 0
                    if (worst := agent.take_worst_streak()) >= cfg.max_nonfinite_updates:
                        raise TrainingStopped(
                            f"{worst} updates in a row had non-finite losses or gradients "
                            f"(before step {step}); the last good checkpoint is kept"
                        )
            if step % cfg.eval_interval == 0 or step == cfg.total_steps:
                t_eval = time.perf_counter()
                with section("eval"):
                    result = evaluate(policy, eval_env, cfg.eval_episodes)
                    eval_rng = eval_env.call("get_checkpoint")
                    log_eval(writer, names, result, step, cfg.eval_goals)
                interval_start += time.perf_counter() - t_eval  # perf counts training only
                last_success = float(result.success.mean())
            if step % cfg.checkpoint_interval == 0 or step == cfg.total_steps:
                with section("checkpoint"):
                    checkpoint(step)
            if step % 50 == 0 or step == cfg.total_steps:
                bar.update(step - bar.n)
                bar.set_postfix(success=f"{last_success:.2f}", refresh=False)
            if stop.signum is not None and step < cfg.total_steps:
                checkpoint(step)
                break
    except NonFiniteReward as err:
        raise TrainingStopped(f"{err}; the last good checkpoint is kept") from None
    finally:
        stop.restore()
        bar.close()
        writer.close()
        env.close()
        eval_env.close()

    if step < cfg.total_steps:  # stopped by a signal: its checkpoint is the way back
        return RunResult(run_dir, step, stop.signum, notes)
    save_model(agent, names, cfg, run_dir)
    mark_finished(run_dir, step)  # the last act of a completed run
    return RunResult(run_dir, step, None, notes)


def save_model(agent: MultiTaskSAC, names: list[str], cfg: TrainConfig, run_dir: Path) -> None:
    """Write the finished run's ``model.pt`` (networks, temperatures, tasks, config)."""
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
