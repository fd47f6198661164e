"""The single-task baseline: one stable-baselines3 SAC per task, nothing shared."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.utils import update_learning_rate

from agents.sac import SACHyper


class SeparateRateSAC(SAC):
    """SB3's SAC with the critic's and the temperature's own Adam learning rates.

    SB3 builds the actor, critic and ``ent_coef`` optimizers from one schedule
    (``learning_rate``, here the actor's) and resets all three to it at the start of
    every ``train`` call (stable-baselines3 2.9.2: sac/sac.py:193 builds the ``ent_coef``
    optimizer at ``lr_schedule(1)``; sac/sac.py:209-214, ``SAC.train``, passes all three to
    ``_update_learning_rate``, common/base_class.py:287-301, which sets each to the one
    schedule). This class lets that happen, then sets the critic's and the temperature's
    rates, so each optimizer steps at its own constant rate, as mtrl's multi-task SAC does.
    ``None`` keeps SB3's single rate (and lets ``SAC.load`` rebuild the object).
    """

    def __init__(
        self, *args: Any, critic_lr: float | None = None, alpha_lr: float | None = None, **kw: Any
    ):
        self.critic_lr, self.alpha_lr = critic_lr, alpha_lr
        super().__init__(*args, **kw)

    def _setup_model(self) -> None:
        super()._setup_model()
        self._apply_rates()

    def _update_learning_rate(self, optimizers: Any) -> None:
        super()._update_learning_rate(optimizers)
        self._apply_rates()

    def _apply_rates(self) -> None:
        """Set the critic's and the temperature's optimizer to their own rates."""
        if self.critic_lr is not None:
            update_learning_rate(self.critic.optimizer, self.critic_lr)
        if self.alpha_lr is not None and self.ent_coef_optimizer is not None:
            update_learning_rate(self.ent_coef_optimizer, self.alpha_lr)


def make_single_task_sac(
    env: gym.Env,
    hyper: SACHyper,
    batch_size: int,
    buffer_size: int,
    warmup_steps: int,
    updates_per_step: int,
    seed: int,
    device: torch.device | str,
) -> SeparateRateSAC:
    """An SB3 SAC with mtrl's hyperparameters, actor, critic and temperature rates included."""
    kwargs: dict[str, Any] = dict(
        learning_rate=hyper.actor_lr,
        critic_lr=hyper.critic_lr,
        alpha_lr=hyper.alpha_lr,
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
    return SeparateRateSAC("MlpPolicy", env, **kwargs)
