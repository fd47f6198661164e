"""The single-task baseline: one stable-baselines3 SAC per task, nothing shared."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from stable_baselines3 import SAC

from agents.sac import SACHyper


def make_single_task_sac(
    env: gym.Env,
    hyper: SACHyper,
    batch_size: int,
    buffer_size: int,
    warmup_steps: int,
    updates_per_step: int,
    seed: int,
    device: torch.device | str,
) -> SAC:
    """An SB3 SAC with mtrl's hyperparameters (one learning rate: SB3 has no per-network ones)."""
    kwargs: dict[str, Any] = dict(
        learning_rate=hyper.actor_lr,
        buffer_size=buffer_size,
        learning_starts=warmup_steps,
        batch_size=batch_size,
        tau=hyper.tau,
        gamma=hyper.gamma,
        train_freq=1,
        gradient_steps=updates_per_step,
        ent_coef=f"auto_{hyper.init_temperature}",
        policy_kwargs=dict(net_arch=list(hyper.hidden)),
        seed=seed,
        device=device,
        verbose=0,
    )
    return SAC("MlpPolicy", env, **kwargs)
