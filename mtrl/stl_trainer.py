"""``--method stl``: one stable-baselines3 SAC per task, logged like the multi-task runs.

Each task trains on its own env (the same construction, one-hot id and reward
transform as in the multi-task vector env); the evaluation, the success
definition and the TensorBoard tags are ``mtrl.evaluate``'s, as for the multi-task
runs, so the curves sit beside the others; the run folder, the finished marker, the
non-finite reward guard and the stop flag are ``mtrl.run_contract``'s, the checksummed
keep-last-K checkpoints ``mtrl.checkpoint``'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from torch.utils.tensorboard import SummaryWriter

import envs
from agents.sac import SACHyper
from agents.stl import SeparateRateSAC, make_single_task_sac
from mtrl.checkpoint import (
    atomic_write_bytes,
    resume_checkpoint,
    save_checkpoint,
)
from mtrl.config import Resolved, TrainConfig
from mtrl.evaluate import evaluate, log_eval
from mtrl.finished import is_finished
from mtrl.run_contract import (
    ALREADY_FINISHED,
    RunResult,
    StopFlag,
    finish_run,
    stop_on_nonfinite_reward,
)
from reward_transforms import RewardTransform


class _EpisodeReturns(BaseCallback):
    """Logs raw and transformed training-episode returns of one task."""

    def __init__(self, writer: SummaryWriter, task: str):
        super().__init__()
        self.writer, self.task = writer, task
        self.raw = self.transformed = 0.0

    def _on_step(self) -> bool:
        info = self.locals["infos"][0]
        self.raw += float(info.get("raw_reward", 0.0))
        self.transformed += float(self.locals["rewards"][0])
        if self.locals["dones"][0]:
            step = self.model.num_timesteps
            self.writer.add_scalar(f"return/raw/{self.task}", self.raw, step)
            self.writer.add_scalar(f"return/transformed/{self.task}", self.transformed, step)
            self.raw = self.transformed = 0.0
        return True


class _StopOnSignal(BaseCallback):
    """Ends ``learn`` after the env step during which a SIGTERM / SIGINT arrived."""

    def __init__(self, stop: StopFlag):
        super().__init__()
        self.stop = stop

    def _on_step(self) -> bool:
        return self.stop.signum is None


def _task_state(model: SeparateRateSAC) -> dict[str, Any]:
    """What a resume needs of one task's SAC: networks and optimizers, temperature,
    counters and replay buffer (SB3's own ``save`` leaves the buffer out)."""
    return {
        "params": model.get_parameters(),
        "log_ent_coef": model.log_ent_coef.detach().clone(),
        "num_timesteps": model.num_timesteps,
        "n_updates": model._n_updates,
        "episode_num": model._episode_num,
        "replay": model.replay_buffer,
    }


def _restore_task(model: SeparateRateSAC, saved: dict[str, Any], seed: int) -> None:
    """Put ``_task_state`` back into a freshly built SAC; reseed its random streams."""
    model.set_parameters(saved["params"], exact_match=True, device=model.device)
    with torch.no_grad():
        model.log_ent_coef.copy_(saved["log_ent_coef"])  # the optimizer holds this tensor
    model.num_timesteps, model._n_updates = saved["num_timesteps"], saved["n_updates"]
    model._episode_num, model.replay_buffer = saved["episode_num"], saved["replay"]
    model.set_random_seed(seed)


def resume_seed(seed: int, task: int, step: int) -> int:
    """The seed of task ``task``'s torch, numpy and env streams after a resume at ``step``."""
    return int(np.random.SeedSequence([seed, task, step]).generate_state(1)[0])


def train_stl(
    cfg: TrainConfig,
    resolved: Resolved,
    run_dir: Path,
    hyper: SACHyper,
    resuming: bool,
    stop: StopFlag,
) -> RunResult:
    """Train K independent SB3 SACs in turns of ``eval_interval`` steps, evaluating after each.

    At the first evaluation at or past each multiple of ``checkpoint_interval`` the run saves
    every task's networks, optimizers, temperature and replay buffer (``checkpoint_replay``;
    without it ``stl`` keeps no checkpoints). ``resuming`` continues from the newest readable
    one: the curves from its step on are rewritten, the envs start new episodes and the
    random streams are reseeded from (seed, task, step) (``resume_seed``), so a resumed run
    is reproducible but not bit-identical to an uninterrupted one (the multi-task trainer's
    resume is exact). With no checkpoint a resume starts from step 0. A SIGTERM / SIGINT
    (``stop``) ends the run within one env step, keeping the last checkpoint
    (``RunResult.signal``, its step in ``RunResult.step``). A non-finite reward stops the
    run (``TrainingStopped``) naming the task and its map.
    """
    if resuming and is_finished(run_dir):
        return RunResult(run_dir, cfg.total_steps, notes=[ALREADY_FINISHED])
    names, k = resolved.task_names, len(resolved.task_names)
    models = [
        make_single_task_sac(
            RewardTransform(
                envs.make_task_env(name, i, k, cfg.seed, cfg.max_episode_steps),
                resolved.transforms.get(i),
                task=i,
                name=name,
            ),
            hyper,
            cfg.batch_per_task,
            min(cfg.buffer_size, cfg.total_steps),
            cfg.warmup_steps,
            cfg.updates_per_step,
            cfg.seed + i,
            resolved.device,
        )
        for i, name in enumerate(names)
    ]
    ckpt_dir = run_dir / "checkpoints"
    notes: list[str] = []
    done, final = _resume(models, names, cfg.seed, ckpt_dir, notes) if resuming else (0, {})
    saved = done
    again = any(run_dir.glob("events.out.tfevents.*"))
    purge = done + 1 if done else (0 if again else None)  # rewrite what came after
    writer = SummaryWriter(str(run_dir), purge_step=purge)
    callbacks = [_EpisodeReturns(writer, name) for name in names]
    vector = "sync" if cfg.vector == "auto" else cfg.vector  # evaluation only: no probe
    eval_env = envs.make_eval_env(names, cfg.seed, cfg.eval_goals, cfg.max_episode_steps, vector)

    def policy(obs: np.ndarray) -> np.ndarray:
        return np.stack(
            [m.predict(o, deterministic=True)[0] for m, o in zip(models, obs, strict=True)]
        )

    try:
        with stop_on_nonfinite_reward("the last checkpoint is kept"):
            while done < cfg.total_steps and stop.signum is None:
                chunk = min(cfg.eval_interval - done % cfg.eval_interval, cfg.total_steps - done)
                for model, callback in zip(models, callbacks, strict=True):
                    on_step = [callback, _StopOnSignal(stop)]
                    model.learn(chunk, callback=on_step, reset_num_timesteps=False)
                    if stop.signum is not None:
                        break
                if stop.signum is not None:
                    break
                done += chunk
                result = evaluate(policy, eval_env, cfg.eval_episodes)
                log_eval(writer, names, result, done, cfg.eval_goals)
                final = dict(zip(names, result.success.tolist(), strict=True))
                for name, model in zip(names, models, strict=True):
                    alpha = float(model.log_ent_coef.detach().exp().item())
                    writer.add_scalar(f"alpha/{name}", alpha, done)
                writer.flush()
                due = done // cfg.checkpoint_interval > saved // cfg.checkpoint_interval
                if cfg.checkpoint_replay and done < cfg.total_steps and due:
                    state = {"step": done, "final": final}
                    state["tasks"] = {n: _task_state(m) for n, m in zip(names, models, strict=True)}
                    save_checkpoint(ckpt_dir, done, state, cfg.keep_checkpoints)
                    saved = done
    finally:
        writer.close()
        eval_env.close()
    if stop.signum is not None and done < cfg.total_steps:
        kept = f"resumes from step {saved}" if saved else "has no checkpoint: a resume starts over"
        notes.append(f"this stl run {kept}; the steps after it are trained again")
        return RunResult(run_dir, saved, stop.signum, notes)
    for name, model in zip(names, models, strict=True):
        tmp = run_dir / f".stl_{name}.zip.tmp"
        model.save(tmp)
        atomic_write_bytes(run_dir / f"stl_{name}.zip", tmp.read_bytes())
        tmp.unlink()
    return finish_run(run_dir, done, notes, final)  # the marker: the last act of a completed run


def _resume(
    models: list[SeparateRateSAC], names: list[str], seed: int, ckpt_dir: Path, notes: list[str]
) -> tuple[int, dict[str, float]]:
    """Restore the newest readable checkpoint into ``models``; its step and final success."""
    loaded = resume_checkpoint(ckpt_dir, notes)
    if loaded is None:
        return 0, {}
    saved, path = loaded
    step = int(saved["step"])
    for i, (name, model) in enumerate(zip(names, models, strict=True)):
        _restore_task(model, saved["tasks"][name], resume_seed(seed, i, step))
    notes.insert(0, f"resumed from {path.name} (step {step})")
    return step, dict(saved["final"])
