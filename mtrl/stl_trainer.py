"""``--method stl``: one stable-baselines3 SAC per task, logged like the multi-task runs.

Each task trains on its own env (the same construction, one-hot id and reward
transform as in the multi-task vector env); the evaluation, the success
definition and the TensorBoard tags are ``mtrl.evaluate``'s, as for the multi-task
runs, so the curves sit beside the others; the run folder, the finished marker and
the non-finite reward guard are ``mtrl.run_contract``'s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from torch.utils.tensorboard import SummaryWriter

import envs
from agents.sac import SACHyper
from agents.stl import make_single_task_sac
from mtrl.checkpoint import atomic_write_bytes
from mtrl.config import Resolved, TrainConfig
from mtrl.evaluate import evaluate, log_eval
from mtrl.finished import is_finished
from mtrl.run_contract import ALREADY_FINISHED, RunResult, finish_run, stop_on_nonfinite_reward
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


def train_stl(
    cfg: TrainConfig, resolved: Resolved, run_dir: Path, hyper: SACHyper, resuming: bool
) -> RunResult:
    """Train K independent SB3 SACs in turns of ``eval_interval`` steps, evaluating after each.

    ``stl`` keeps no checkpoints: a run started again in its folder (a sweep's re-run of an
    interrupted one) starts from step 0 and purges the earlier attempt's curves. A
    non-finite reward stops the run (``TrainingStopped``) naming the task and its map.
    """
    if resuming and is_finished(run_dir):
        return RunResult(run_dir, cfg.total_steps, notes=[ALREADY_FINISHED])
    names, k = resolved.task_names, len(resolved.task_names)
    again = any(run_dir.glob("events.out.tfevents.*"))
    writer = SummaryWriter(str(run_dir), purge_step=0 if again else None)
    vector = "sync" if cfg.vector == "auto" else cfg.vector  # evaluation only: no probe
    eval_env = envs.make_eval_env(names, cfg.seed, cfg.eval_goals, cfg.max_episode_steps, vector)
    models, callbacks = [], []
    for i, name in enumerate(names):
        env = RewardTransform(
            envs.make_task_env(name, i, k, cfg.seed, cfg.max_episode_steps),
            resolved.transforms.get(i),
            task=i,
            name=name,
        )
        models.append(
            make_single_task_sac(
                env,
                hyper,
                cfg.batch_per_task,
                min(cfg.buffer_size, cfg.total_steps),
                cfg.warmup_steps,
                cfg.updates_per_step,
                cfg.seed + i,
                resolved.device,
            )
        )
        callbacks.append(_EpisodeReturns(writer, name))

    def policy(obs: np.ndarray) -> np.ndarray:
        return np.stack(
            [m.predict(o, deterministic=True)[0] for m, o in zip(models, obs, strict=True)]
        )

    done, final = 0, {}
    try:
        with stop_on_nonfinite_reward("stl keeps no checkpoints: a re-run starts over"):
            while done < cfg.total_steps:
                chunk = min(cfg.eval_interval - done % cfg.eval_interval, cfg.total_steps - done)
                for model, callback in zip(models, callbacks, strict=True):
                    model.learn(chunk, callback=callback, reset_num_timesteps=False)
                done += chunk
                result = evaluate(policy, eval_env, cfg.eval_episodes)
                log_eval(writer, names, result, done, cfg.eval_goals)
                final = dict(zip(names, result.success.tolist(), strict=True))
                for name, model in zip(names, models, strict=True):
                    alpha = float(model.log_ent_coef.detach().exp().item())
                    writer.add_scalar(f"alpha/{name}", alpha, done)
                writer.flush()
    finally:
        writer.close()
        eval_env.close()
    for name, model in zip(names, models, strict=True):
        tmp = run_dir / f".stl_{name}.zip.tmp"
        model.save(tmp)
        atomic_write_bytes(run_dir / f"stl_{name}.zip", tmp.read_bytes())
        tmp.unlink()
    return finish_run(run_dir, done, [], final)  # the marker: the last act of a completed run
