"""Multi-task SAC: one shared actor and twin critic, a temperature per task.

Losses are per task (vectors ``L[K]``); the actor's and the critic's go through
their own gradient combiner (``mtrl.combine``), each with its own state. The
temperature loss is separable across tasks and needs no combining.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from agents.networks import TanhGaussianActor, TwinQ
from agents.replay import Batch
from mtrl.combine import Combiner
from mtrl.grads import combined_backward


@dataclass(frozen=True)
class SACHyper:
    """SAC hyperparameters (the defaults are the MT10 paper protocol's)."""

    hidden: tuple[int, ...] = (400, 400, 400)
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    alpha_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005
    init_temperature: float = 1.0


class MultiTaskSAC(nn.Module):
    """Actor, twin critic and its Polyak target, per-task log-temperatures, optimizers."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        num_tasks: int,
        hyper: SACHyper,
        critic_combiner: Combiner,
        actor_combiner: Combiner,
        device: torch.device | str = "cpu",
    ):
        super().__init__()
        self.num_tasks, self.act_dim, self.hyper = num_tasks, act_dim, hyper
        hidden: Sequence[int] = hyper.hidden
        self.actor = TanhGaussianActor(obs_dim, act_dim, hidden)
        self.critic = TwinQ(obs_dim, act_dim, hidden)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        init = torch.full((num_tasks,), float(hyper.init_temperature)).log()
        self.log_alpha = nn.Parameter(init)
        self.target_entropy = -float(act_dim)
        self.to(device)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=hyper.actor_lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=hyper.critic_lr)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=hyper.alpha_lr)
        self.critic_combiner, self.actor_combiner = critic_combiner, actor_combiner
        self.critic_params = dict(self.critic.named_parameters())
        self.actor_params = dict(self.actor.named_parameters())
        self.skipped_updates = 0  # updates dropped for a non-finite loss or gradient
        self.consecutive_skips = 0

    def training_state(self) -> dict[str, Any]:
        """Networks, temperatures, optimizers and both combiners' state, for a checkpoint."""
        return {
            "module": self.state_dict(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "alpha_opt": self.alpha_opt.state_dict(),
            "critic_combiner": self.critic_combiner.state_dict(),
            "actor_combiner": self.actor_combiner.state_dict(),
            "skipped_updates": self.skipped_updates,
        }

    def load_training_state(self, state: dict[str, Any]) -> None:
        """Restore what ``training_state`` returned."""
        self.load_state_dict(state["module"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.alpha_opt.load_state_dict(state["alpha_opt"])
        self.critic_combiner.load_state_dict(state["critic_combiner"])
        self.actor_combiner.load_state_dict(state["actor_combiner"])
        self.skipped_updates = state["skipped_updates"]

    @torch.no_grad()
    def act(
        self, obs: Tensor, deterministic: bool = False, generator: torch.Generator | None = None
    ) -> Tensor:
        """Actions ``[K, A]`` for one observation per task ``[K, D]``: one batched forward."""
        action, _ = self.actor(obs, deterministic=deterministic, generator=generator)
        return action

    def critic_losses(
        self, batch: Batch, params: Mapping[str, Tensor] | None = None, target: Tensor | None = None
    ) -> Tensor:
        """Per-task twin-critic TD losses ``[K]`` (``params``: per-task copies, see mtrl.grads)."""
        if target is None:
            target = self.td_target(batch)
        q1, q2 = self.critic(batch.obs, batch.act, params)
        return ((q1 - target) ** 2).mean(1) + ((q2 - target) ** 2).mean(1)

    @torch.no_grad()
    def td_target(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        """``r + γ (1 − done) (min Q̄(s′, a′) − αᵢ log π(a′|s′))``, shaped ``[K, b]``."""
        next_act, next_logp = self.actor(batch.next_obs, generator=generator)
        q1, q2 = self.critic_target(batch.next_obs, next_act)
        alpha = self.log_alpha.exp().unsqueeze(1)
        soft_q = torch.minimum(q1, q2) - alpha * next_logp
        return batch.rew + self.hyper.gamma * (1.0 - batch.done) * soft_q

    def actor_losses(
        self,
        batch: Batch,
        params: Mapping[str, Tensor] | None = None,
        noise: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Per-task actor losses ``[K]`` and the log-probabilities ``[K, b]`` of the actions."""
        act, logp = self.actor(batch.obs, params, noise=noise)
        q1, q2 = self.critic(batch.obs, act)
        alpha = self.log_alpha.detach().exp().unsqueeze(1)
        return (alpha * logp - torch.minimum(q1, q2)).mean(1), logp

    def update(self, batch: Batch) -> dict[str, Tensor] | None:
        """One SAC update (critic, actor, temperatures, target); returns tensors for the logs.

        A non-finite loss or gradient drops the update (None is returned, and
        ``skipped_updates`` / ``consecutive_skips`` count it); nothing is stepped.
        """
        target = self.td_target(batch)

        def critic_loss_fn(p: Mapping[str, Tensor] | None) -> Tensor:
            return self.critic_losses(batch, p, target)

        critic_losses, critic_out = combined_backward(
            self.critic_combiner, critic_loss_fn, self.critic_params
        )
        if not _all_finite(critic_losses, self.critic_params):
            return self._skip()
        self.critic_opt.step()
        if self.critic_combiner.learns_after_step:  # FAMO: the same batch, after the step
            with torch.no_grad():
                self.critic_combiner.after_step(critic_loss_fn(None))

        # one noise draw for the actor's loss, so a recomputation sees the same actions
        noise = torch.randn(batch.act.shape, device=batch.act.device, dtype=batch.act.dtype)
        logp_box: list[Tensor] = []

        def actor_loss_fn(p: Mapping[str, Tensor] | None) -> Tensor:
            losses, logp = self.actor_losses(batch, p, noise)
            logp_box.append(logp.detach())
            return losses

        actor_losses, actor_out = combined_backward(
            self.actor_combiner, actor_loss_fn, self.actor_params
        )
        if not _all_finite(actor_losses, self.actor_params):
            return self._skip()
        self.actor_opt.step()
        if self.actor_combiner.learns_after_step:
            with torch.no_grad():
                self.actor_combiner.after_step(self.actor_losses(batch, None, noise)[0])

        # Temperatures: Σᵢ mean_b[−log αᵢ (log π + H̄)], each αᵢ sees only its task's term.
        alpha_loss = (
            -(self.log_alpha.unsqueeze(1) * (logp_box[0] + self.target_entropy)).mean(1).sum()
        )
        self.alpha_opt.zero_grad(set_to_none=True)
        alpha_loss.backward()
        self.alpha_opt.step()

        with torch.no_grad():
            src = list(self.critic.parameters())
            dst = list(self.critic_target.parameters())
            torch._foreach_lerp_(dst, src, self.hyper.tau)

        self.consecutive_skips = 0
        stats = {
            "loss/critic": critic_losses,
            "loss/actor": actor_losses,
            "alpha": self.log_alpha.detach().exp(),
        }
        for key, out in (("critic", critic_out), ("actor", actor_out)):
            if out.weights is not None:
                stats[f"combine/{key}/weight"] = out.weights
            for name, value in out.info.items():
                stats[f"combine/{key}/{name}"] = value
        return stats

    def _skip(self) -> None:
        for opt in (self.actor_opt, self.critic_opt, self.alpha_opt):
            opt.zero_grad(set_to_none=True)
        self.skipped_updates += 1
        self.consecutive_skips += 1
        return None


def _all_finite(losses: Tensor, params: Mapping[str, Tensor]) -> bool:
    """Whether the losses and every ``.grad`` of ``params`` are finite (one host sync)."""
    grads = [p.grad for p in params.values() if p.grad is not None]
    norms = torch._foreach_norm(grads) if grads else []
    return bool(torch.isfinite(torch.stack([losses.sum(), *norms])).all())
