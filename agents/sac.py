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

from agents.networks import TanhGaussianActor, TwinQ, compile_networks
from agents.optim import GuardedAdam, all_finite
from agents.replay import Batch
from mtrl.combine import Combiner
from mtrl.grads import GradBuffer, combined_backward
from mtrl.profile import section


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
        compile: bool = False,
    ):
        super().__init__()
        self.num_tasks, self.act_dim, self.hyper = num_tasks, act_dim, hyper
        hidden: Sequence[int] = hyper.hidden
        self.actor = TanhGaussianActor(obs_dim, act_dim, hidden)
        self.critic = TwinQ(obs_dim, act_dim, hidden)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        if compile:  # the networks' matmuls through torch.compile; losses and combiners stay eager
            compile_networks(self)
        init = torch.full((num_tasks,), float(hyper.init_temperature)).log()
        self.log_alpha = nn.Parameter(init)
        self.target_entropy = -float(act_dim)
        self.to(device)
        self.actor_opt = GuardedAdam(self.actor.parameters(), lr=hyper.actor_lr)
        self.critic_opt = GuardedAdam(self.critic.parameters(), lr=hyper.critic_lr)
        self.alpha_opt = GuardedAdam([self.log_alpha], lr=hyper.alpha_lr)
        self.critic_combiner, self.actor_combiner = critic_combiner, actor_combiner
        self.critic_params = dict(self.critic.named_parameters())
        self.critic_grads, self.actor_grads = GradBuffer(), GradBuffer()  # G, reused
        self.actor_params = dict(self.actor.named_parameters())
        # updates dropped for a non-finite loss or gradient, counted on the device (no sync):
        # in all, in the current streak, and the longest streak since ``take_worst_streak``
        dev = self.log_alpha.device
        self.skipped_updates = torch.zeros((), dtype=torch.long, device=dev)
        self.consecutive_skips = torch.zeros((), dtype=torch.long, device=dev)
        self.worst_streak = torch.zeros((), dtype=torch.long, device=dev)

    def training_state(self) -> dict[str, Any]:
        """Networks, temperatures, optimizers and both combiners' state, for a checkpoint."""
        return {
            "module": self.state_dict(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "alpha_opt": self.alpha_opt.state_dict(),
            "critic_combiner": self.critic_combiner.state_dict(),
            "actor_combiner": self.actor_combiner.state_dict(),
            "skipped_updates": self.skipped_updates.clone(),
        }

    def load_training_state(self, state: dict[str, Any]) -> None:
        """Restore what ``training_state`` returned."""
        self.load_state_dict(state["module"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.alpha_opt.load_state_dict(state["alpha_opt"])
        self.critic_combiner.load_state_dict(state["critic_combiner"])
        self.actor_combiner.load_state_dict(state["actor_combiner"])
        self.skipped_updates.copy_(torch.as_tensor(state["skipped_updates"]))

    @torch.inference_mode()
    def act(
        self, obs: Tensor, deterministic: bool = False, generator: torch.Generator | None = None
    ) -> Tensor:
        """Actions ``[K, A]`` for one observation per task ``[K, D]``: one batched forward."""
        return self.actor.action(obs, deterministic, generator)

    def critic_losses(
        self, batch: Batch, params: Mapping[str, Tensor] | None = None, target: Tensor | None = None
    ) -> Tensor:
        """Per-task twin-critic TD losses ``[K]`` (``params``: per-task copies, see mtrl.grads)."""
        if target is None:
            target = self.td_target(batch)
        q1, q2 = self.critic(batch.obs, batch.act, params)
        return ((q1 - target) ** 2).mean(1) + ((q2 - target) ** 2).mean(1)

    def critic_losses_with_representation(
        self, batch: Batch, target: Tensor
    ) -> tuple[Tensor, list[Tensor]]:
        """``critic_losses`` (shared weights) and the twin critics' last hidden activations."""
        q1, q2, (z1, z2) = self.critic.forward_with_hidden(batch.obs, batch.act)
        return ((q1 - target) ** 2).mean(1) + ((q2 - target) ** 2).mean(1), [z1, z2]

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

    def actor_losses_with_representation(
        self, batch: Batch, noise: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``actor_losses`` (shared weights), log-probabilities, and the actor's last hidden
        activation Z."""
        act, logp, z = self.actor.forward_with_hidden(batch.obs, noise)
        q1, q2 = self.critic(batch.obs, act)
        alpha = self.log_alpha.detach().exp().unsqueeze(1)
        return (alpha * logp - torch.minimum(q1, q2)).mean(1), logp, z

    def update(self, batch: Batch) -> dict[str, Tensor]:
        """One SAC update (critic, actor, temperatures, target); returns tensors for the logs.

        Nothing here waits for the device. A non-finite loss or gradient drops its
        step on the device: the critic's drops the whole update, the actor's drops
        the actor, temperature and target steps (after a critic step that stands).
        ``stats["ok"]`` says whether the update stood, ``skipped_updates`` and
        ``consecutive_skips`` count the dropped ones.
        """
        with section("losses"):
            target = self.td_target(batch)

        def critic_loss_fn(p: Mapping[str, Tensor] | None) -> Tensor:
            return self.critic_losses(batch, p, target)

        def critic_rep_fn() -> tuple[Tensor, list[Tensor]]:
            return self.critic_losses_with_representation(batch, target)

        critic_losses, critic_out = combined_backward(
            self.critic_combiner,
            critic_loss_fn,
            self.critic_params,
            self.critic_grads,
            representation_loss_fn=critic_rep_fn,
        )
        with section("optimizer"):
            ok = all_finite(critic_losses, (p.grad for p in self.critic_params.values()))
            self.critic_opt.step(ok)
        if self.critic_combiner.learns_after_step:  # FAMO: the same batch, after the step
            with section("combine"), torch.no_grad():
                self.critic_combiner.after_step(critic_loss_fn(None))

        # one noise draw for the actor's loss, so a recomputation sees the same actions
        noise = torch.randn(batch.act.shape, device=batch.act.device, dtype=batch.act.dtype)
        logp_box: list[Tensor] = []

        def actor_loss_fn(p: Mapping[str, Tensor] | None) -> Tensor:
            losses, logp = self.actor_losses(batch, p, noise)
            logp_box.append(logp.detach())
            return losses

        def actor_rep_fn() -> tuple[Tensor, list[Tensor]]:
            losses, logp, z = self.actor_losses_with_representation(batch, noise)
            logp_box.append(logp.detach())
            return losses, [z]

        actor_losses, actor_out = combined_backward(
            self.actor_combiner,
            actor_loss_fn,
            self.actor_params,
            self.actor_grads,
            representation_loss_fn=actor_rep_fn,
        )
        with section("optimizer"):
            ok = ok & all_finite(actor_losses, (p.grad for p in self.actor_params.values()))
            self.actor_opt.step(ok)
        if self.actor_combiner.learns_after_step:
            with section("combine"), torch.no_grad():
                self.actor_combiner.after_step(self.actor_losses(batch, None, noise)[0])

        with section("optimizer"):
            # Temperatures: Σᵢ mean_b[−log αᵢ (log π + H̄)], each αᵢ sees only its task's term.
            alpha_loss = (
                -(self.log_alpha.unsqueeze(1) * (logp_box[0] + self.target_entropy)).mean(1).sum()
            )
            self.alpha_opt.zero_grad(set_to_none=True)
            alpha_loss.backward()
            ok = ok & all_finite(alpha_loss, [self.log_alpha.grad])
            self.alpha_opt.step(ok)
            with torch.no_grad():  # Polyak: target ← lerp(target, online, τ·ok), one pass
                dst = list(self.critic_target.parameters())
                weight = self.hyper.tau * ok.float()
                torch._foreach_lerp_(dst, list(self.critic.parameters()), [weight] * len(dst))
            dropped = (~ok).long()
            self.skipped_updates += dropped
            self.consecutive_skips.add_(1).mul_(dropped)
            torch.maximum(self.worst_streak, self.consecutive_skips, out=self.worst_streak)

        stats = {
            "ok": ok,
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

    def take_worst_streak(self) -> int:
        """The longest run of dropped updates since the last call (one host sync), then reset."""
        worst = int(self.worst_streak)
        self.worst_streak.copy_(self.consecutive_skips)
        return worst
