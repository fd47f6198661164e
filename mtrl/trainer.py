"""The training entry for every method, and the multi-task loop.

``train`` opens the run (``mtrl.run_contract``: folder, ``config.yaml``) and hands it to
its trainer: ``stl`` to ``mtrl.stl_trainer``, every other method to ``train_multitask``,
which reads as build the run → resume or start → a loop of act / update / collect /
on_interval. ``LoopState`` is what the loop carries from step to step; its checkpoint
form and its restore sit side by side.

One "step" is one vector step: every task's env advances once, so ``step``
is also the number of env steps each task has taken (the x-axis of every curve).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

import envs
from agents.replay import MultiTaskReplay
from agents.sac import MultiTaskSAC, SACHyper
from mtrl import combine
from mtrl.checkpoint import (
    atomic_torch_save,
    resume_checkpoint,
    save_checkpoint,
)
from mtrl.config import Resolved, TrainConfig, to_dict
from mtrl.evaluate import evaluate, log_eval
from mtrl.profile import section
from mtrl.run_contract import (
    ALREADY_FINISHED,
    RunResult,
    StopFlag,
    TrainingStopped,
    finish_run,
    open_run,
    stop_on_nonfinite_reward,
)
from mtrl.stl_trainer import train_stl
from reward_transforms import TaskRewardTransform


def train(cfg: TrainConfig, resume_dir: Path | None = None) -> RunResult:
    """Run one training job of any method (or continue the one in ``resume_dir``)."""
    resolved, run_dir = open_run(cfg, resume_dir)
    seed_everything(cfg.seed)
    trainer = train_stl if cfg.method == "stl" else train_multitask
    stop = StopFlag()  # before the envs start: a signal while they do must not kill the run
    try:
        return trainer(cfg, resolved, run_dir, sac_hyper(cfg), resume_dir is not None, stop)
    finally:
        stop.restore()


def train_multitask(
    cfg: TrainConfig,
    resolved: Resolved,
    run_dir: Path,
    hyper: SACHyper,
    resuming: bool,
    stop: StopFlag,
) -> RunResult:
    """Build the run → resume or start → loop: act / update / collect / on_interval."""
    notes: list[str] = []
    run = build_run(cfg, resolved, run_dir, hyper, notes)
    state = resume_or_start(run, resuming, notes)
    if state.step >= cfg.total_steps:  # a resume of a run that had reached the end
        run.close()
        if not (run_dir / "model.pt").exists():  # a signal landed on the last step
            save_model(run.agent, run.names, cfg, run_dir)
        return finish_run(run_dir, state.step, [*notes, ALREADY_FINISHED])

    loop = MultiTaskLoop(run, state, resuming, stop)
    try:
        with stop_on_nonfinite_reward("the last good checkpoint is kept"):
            obs, _ = run.env.reset()
            for step in range(state.step + 1, cfg.total_steps + 1):
                action = loop.act(step, obs)  # the envs start this step in their workers …
                loop.update(step)  # … while the update runs here
                obs = loop.collect(step, obs, action)  # store the step, close episodes
                if loop.on_interval(step):  # log, evaluate, checkpoint; True on a signal
                    return RunResult(run_dir, step, loop.stop.signum, notes)
    finally:
        loop.close()
    save_model(run.agent, run.names, cfg, run_dir)
    return finish_run(run_dir, cfg.total_steps, notes, loop.final_success)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (the envs are seeded at construction)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def sac_hyper(cfg: TrainConfig) -> SACHyper:
    """The SAC hyperparameters ``cfg`` sets (both trainers read them)."""
    return SACHyper(
        hidden=tuple(cfg.hidden),
        actor_lr=cfg.actor_lr,
        critic_lr=cfg.critic_lr,
        alpha_lr=cfg.alpha_lr,
        gamma=cfg.gamma,
        tau=cfg.tau,
        init_temperature=cfg.init_temperature,
    )


@dataclass
class MultiTaskRun:
    """What a multi-task run is built from: its envs, agent and replay."""

    cfg: TrainConfig
    names: list[str]
    run_dir: Path
    device: str
    env: TaskRewardTransform
    eval_env: gym.vector.VectorEnv
    agent: MultiTaskSAC
    replay: MultiTaskReplay

    @property
    def ckpt_dir(self) -> Path:
        """Where the run's checkpoints live."""
        return self.run_dir / "checkpoints"

    def close(self) -> None:
        """Close the envs (and their worker processes)."""
        self.env.close()
        self.eval_env.close()


def build_run(
    cfg: TrainConfig, resolved: Resolved, run_dir: Path, hyper: SACHyper, notes: list[str]
) -> MultiTaskRun:
    """The envs (``--vector auto`` measures, and says what it chose), agent and replay.

    Built in this order after ``seed_everything``: the order fixes their random draws.
    """
    names, k = resolved.task_names, len(resolved.task_names)
    vector = cfg.vector
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
    device = resolved.device
    agent = MultiTaskSAC(
        obs_dim, act_dim, k, hyper, critic_combiner, actor_combiner, device, cfg.compile
    )
    replay = MultiTaskReplay(k, min(cfg.buffer_size, cfg.total_steps), obs_dim, act_dim, device)
    return MultiTaskRun(cfg, names, run_dir, device, env, eval_env, agent, replay)


@dataclass
class LoopState:
    """What the loop carries from step to step besides the agent and the replay.

    ``to_checkpoint`` writes it (with the agent, the replay, the action-space and global
    RNGs: everything an exact resume needs) and ``from_checkpoint`` reads it back.
    """

    step: int
    ep_raw: np.ndarray  # [K] raw return of each task's running episode
    ep_transformed: np.ndarray  # [K] its transformed return
    last_success: float  # success/mean of the latest evaluation (the progress bar's)
    env_rng: Any  # the envs' RNG states, taken before every episode boundary
    eval_rng: Any  # the eval envs' RNG states, taken after every evaluation

    @classmethod
    def start(cls, run: MultiTaskRun) -> LoopState:
        """Step 0: no returns yet, the envs' RNGs as built."""
        k = len(run.names)
        env_rng, eval_rng = run.env.call("get_checkpoint"), run.eval_env.call("get_checkpoint")
        return cls(0, np.zeros(k), np.zeros(k), float("nan"), env_rng, eval_rng)

    def to_checkpoint(self, run: MultiTaskRun) -> dict[str, Any]:
        """The checkpoint of this step: the loop's state, the agent, the replay and the RNGs."""
        cfg = run.cfg
        return {
            "step": self.step,
            "agent": run.agent.training_state(),
            "replay": run.replay.state_dict() if cfg.checkpoint_replay else None,
            "env_rng": self.env_rng,
            "eval_rng": self.eval_rng,
            "at_boundary": self.step % cfg.max_episode_steps == 0,
            "ep_raw": self.ep_raw.copy(),
            "ep_transformed": self.ep_transformed.copy(),
            "action_space_rng": run.env.action_space.np_random.bit_generator.state,
            "rng": _rng_state(),
            "last_success": self.last_success,
            "config": to_dict(cfg),
        }

    @classmethod
    def from_checkpoint(
        cls, saved: dict[str, Any], run: MultiTaskRun, notes: list[str]
    ) -> LoopState:
        """Load ``to_checkpoint``'s dict into ``run`` (agent, replay, env and global RNGs) and
        return the loop's state; a mid-episode step restarts the envs' episodes."""
        run.agent.load_training_state(saved["agent"])
        if saved["replay"] is not None:
            run.replay.load_state_dict(saved["replay"])
        else:
            notes.append("checkpoint holds no replay buffers: the buffers restart empty")
        run.env.call("load_checkpoint", list(saved["env_rng"]))
        run.eval_env.call("load_checkpoint", list(saved["eval_rng"]))
        run.env.action_space.np_random.bit_generator.state = saved["action_space_rng"]
        _set_rng_state(saved["rng"])
        k = len(run.names)
        ep_raw, ep_transformed = np.zeros(k), np.zeros(k)
        if saved["at_boundary"]:
            ep_raw, ep_transformed = saved["ep_raw"], saved["ep_transformed"]
        else:
            notes.append(f"step {saved['step']} was mid-episode: the envs restart that episode")
        return cls(
            saved["step"],
            ep_raw,
            ep_transformed,
            saved["last_success"],
            saved["env_rng"],
            saved["eval_rng"],
        )


def resume_or_start(run: MultiTaskRun, resuming: bool, notes: list[str]) -> LoopState:
    """The latest readable checkpoint's state when ``resuming``, otherwise step 0."""
    state = LoopState.start(run)
    if not resuming:
        return state
    loaded = resume_checkpoint(run.ckpt_dir, notes)
    if loaded is None:
        return state
    saved, path = loaded
    state = LoopState.from_checkpoint(saved, run, notes)
    notes.insert(0, f"resumed from {path.name} (step {state.step})")
    return state


class MultiTaskLoop:
    """The work of one step (act, update, collect) and of the intervals (log, evaluate,
    checkpoint, progress, signals), with the logger, the progress bar and the stop flag."""

    def __init__(self, run: MultiTaskRun, state: LoopState, resuming: bool, stop: StopFlag):
        self.run, self.state, self.cfg = run, state, run.cfg
        # a resumed run rewrites the curves from the checkpoint's step on
        purge = state.step + 1 if resuming else None
        self.writer = SummaryWriter(str(run.run_dir), purge_step=purge)
        self.stats = ScalarLog(self.writer, run.names)
        self.stop = stop
        self.final_success: dict[str, float] = {}  # each task's, at the last evaluation
        self.update_time, self.interval_start, self.interval_steps = 0.0, time.perf_counter(), 0
        self.bar = tqdm(
            total=self.cfg.total_steps,
            initial=state.step,
            unit="step",
            disable=not self.cfg.progress,
            dynamic_ncols=True,
        )

    def act(self, step: int, obs: np.ndarray) -> np.ndarray:
        """Choose the actions (uniform during warm-up, then one batched forward for all tasks)
        and start the envs' step; ``collect`` waits for it."""
        env = self.run.env
        with section("act"):
            if step <= self.cfg.warmup_steps:
                action = env.action_space.sample()
            else:
                action = self.run.agent.act(self._tensor(obs)).cpu().numpy()
        if step % self.cfg.max_episode_steps == 0:  # this step ends the episodes: keep env RNG
            self.state.env_rng = env.call("get_checkpoint")
        with section("env"):
            env.step_async(action)
        return action

    def update(self, step: int) -> None:
        """Sample [K, b, …] → per-task losses → combine → optimizer steps, ``updates_per_step``
        times. It sees the transitions up to the previous step; nothing in it waits for the
        device."""
        if step <= self.cfg.warmup_steps or self.run.replay.size == 0:
            return
        t0 = time.perf_counter()
        for _ in range(self.cfg.updates_per_step):
            with section("replay_sample"):
                batch = self.run.replay.sample(self.cfg.batch_per_task)
            stats = self.run.agent.update(batch)
            with section("logging"):
                self.stats.add(stats)
        self.update_time += time.perf_counter() - t0

    def collect(self, step: int, obs: np.ndarray, action: np.ndarray) -> np.ndarray:
        """Wait for the envs' step, store it, log the returns of the episodes it ended;
        return the next observations."""
        with section("env"):
            next_obs, reward, terminated, truncated, info = self.run.env.step_wait()
        done = np.asarray(terminated) | np.asarray(truncated)
        with section("replay_add"):
            store(self.run.replay, obs, action, reward, next_obs, terminated, done, info)
        s, names = self.state, self.run.names
        s.ep_raw += info["raw_reward"]
        s.ep_transformed += reward
        for i in np.flatnonzero(done):
            self.writer.add_scalar(f"return/raw/{names[i]}", s.ep_raw[i], step)
            self.writer.add_scalar(f"return/transformed/{names[i]}", s.ep_transformed[i], step)
            s.ep_raw[i] = s.ep_transformed[i] = 0.0
        s.step = step
        self.interval_steps += 1
        return next_obs

    def on_interval(self, step: int) -> bool:
        """Log, evaluate, checkpoint and show progress at their intervals and at the last step;
        True when a signal asked the run to stop (this step is checkpointed first)."""
        cfg, last = self.cfg, step == self.cfg.total_steps
        if step % cfg.log_interval == 0 or last:
            self.log(step)
        if step % cfg.eval_interval == 0 or last:
            self.evaluate(step)
        if step % cfg.checkpoint_interval == 0 or last:
            with section("checkpoint"):
                self.checkpoint()
        if step % 50 == 0 or last:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix(success=f"{self.state.last_success:.2f}", refresh=False)
        if self.stop.signum is not None and not last:
            self.checkpoint()
            return True
        return False

    def log(self, step: int) -> None:
        """The interval's means and rates (its host syncs, none between); stop the run after
        ``max_nonfinite_updates`` skipped updates in a row."""
        writer, agent = self.writer, self.run.agent
        with section("logging"):
            if self.stats.count:
                ms = 1000 * self.update_time / self.stats.count
                writer.add_scalar("perf/update_ms", ms, step)
                self.stats.flush(step)
            writer.add_scalar("guard/skipped_updates", int(agent.skipped_updates), step)
            elapsed = time.perf_counter() - self.interval_start
            rate = len(self.run.names) * self.interval_steps / elapsed
            writer.add_scalar("perf/env_steps_per_s", rate, step)
            self.update_time, self.interval_start, self.interval_steps = 0.0, time.perf_counter(), 0
            if (worst := agent.take_worst_streak()) >= self.cfg.max_nonfinite_updates:
                raise TrainingStopped(
                    f"{worst} updates in a row had non-finite losses or gradients "
                    f"(before step {step}); the last good checkpoint is kept"
                )

    def evaluate(self, step: int) -> None:
        """Evaluate the deterministic policy and log it (its time is left out of perf)."""
        t_eval = time.perf_counter()
        with section("eval"):
            result = evaluate(self._policy, self.run.eval_env, self.cfg.eval_episodes)
            self.state.eval_rng = self.run.eval_env.call("get_checkpoint")
            log_eval(self.writer, self.run.names, result, step, self.cfg.eval_goals)
        self.interval_start += time.perf_counter() - t_eval  # perf counts training only
        self.state.last_success = float(result.success.mean())
        self.final_success = dict(zip(self.run.names, result.success.tolist(), strict=True))

    def checkpoint(self) -> None:
        """Save this step's checkpoint (after flushing the curves it covers)."""
        self.writer.flush()
        state = self.state.to_checkpoint(self.run)
        save_checkpoint(self.run.ckpt_dir, self.state.step, state, self.cfg.keep_checkpoints)

    def close(self) -> None:
        """Close the bar, the logger and the envs."""
        self.bar.close()
        self.writer.close()
        self.run.close()

    def _policy(self, obs: np.ndarray) -> np.ndarray:
        return self.run.agent.act(self._tensor(obs), deterministic=True).cpu().numpy()

    def _tensor(self, obs: np.ndarray) -> Tensor:
        return torch.as_tensor(obs, device=self.run.device)


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
