"""FAMO (arXiv 2306.03792): fast adaptive multitask optimisation, one backward per step.

Task logits ξ give ``z = softmax(ξ)``; the update is the gradient of
``Σᵢ zᵢ log Lᵢ`` rescaled by ``c = (Σᵢ zᵢ/Lᵢ)⁻¹``, i.e. task weights
``wᵢ = c · zᵢ / Lᵢ`` (the paper's Algorithm 1 and the authors' famo.py:30-33 divide
by ``Σ zᵢ/Lᵢ``; their MT10 agent mtrl_files/famo.py:373-375 multiplies by it, which
this module does not follow). After the optimizer step the losses are recomputed on
the same batch and the logits move against ``J_zᵀ δ`` with
``δᵢ = log Lᵢ(before) − log Lᵢ(after)``, by Adam with weight decay γ on ξ
(famo.py:36-45; mtrl_files/famo.py:409-430 does the same on the critic's batch).

Defaults are the MT10 run's: ``gamma = 0.01``, ``lr = 0.025`` (mtrl_files/run.sh:5-6,
passed as ``agent.builder.gamma`` and ``w_lr`` on line 8; the yaml's 1e-3 and 0.01,
famo_state_sac.yaml:25-26, are overridden there).

In SAC the MT10 script puts only the **critic** loss through FAMO and takes the plain
mean of the actor loss (mtrl_files/famo.py:461-463), so the ``famo`` method's actor
combiner is ``mean`` (``actor_default``); ``actor=famo`` asks for FAMO on the actor too
(see ``mtrl.combine.make_pair``).

``loss_after="same_batch"`` (the default) is the paper's algorithm: the trainer
recomputes the losses after the step, one extra forward per update.
``loss_after="next_batch"`` takes the "after" losses from the next update's
fresh batch instead (no extra forward; δ then also carries the difference
between two batches), a cheaper approximation offered for comparison.

FAMO needs positive losses ``Lᵢ − mᵢ``; ``m`` is ``min_loss`` (0 by default, right for
the critic's squared TD error; the paper's ``ℓᵢ*``, famo.py:25). Only with
``actor=famo`` can a loss go below it (the SAC actor loss is negative and unbounded):
this project then moves that task's bound to ``Lᵢ − 1``, which is recorded in the
state. That bound is not in the paper or the authors' code, and under it each task's
actor weight follows the noise of its loss (issue 12: with noisy negative losses the
top weight exceeded 0.5 on 7 % of steps); ``actor=famo`` is for comparison only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from mtrl.combine.base import CombineOutput, Combiner
from mtrl.combine.options import choice, declare, number


class FAMO(Combiner):
    """Loss weights from learned logits; the logits learn from each step's log-loss drop."""

    name = "famo"
    LOSS_AFTER = ("same_batch", "next_batch")
    options = declare(
        lr=number(gt=0),
        gamma=number(ge=0),
        min_loss=number(),
        eps=number(gt=0),
        loss_after=choice(*LOSS_AFTER),
    )
    needs_grads = False
    uses_loss_values = True
    scale_invariant = False
    loss_scale_invariant = True  # only log Lᵢ enters (with min_loss = 0)
    descends_every_task = False
    permutation_invariant = True
    actor_default: ClassVar[str] = "mean"
    lr: float
    gamma: float
    min_loss: float
    eps: float
    loss_after: str

    def __init__(
        self,
        num_tasks: int,
        lr: float = 0.025,
        gamma: float = 0.01,
        min_loss: float = 0.0,
        eps: float = 1e-8,
        loss_after: str = "same_batch",
    ):
        super().__init__(
            num_tasks, lr=lr, gamma=gamma, min_loss=min_loss, eps=eps, loss_after=loss_after
        )
        self.learns_after_step = self.loss_after == "same_batch"
        self.reset()

    def reset(self) -> None:
        self.logits = torch.zeros(self.num_tasks, requires_grad=True)
        self.opt = torch.optim.Adam([self.logits], lr=self.lr, weight_decay=self.gamma)
        self.bound = torch.full((self.num_tasks,), float(self.min_loss))
        self.prev: Tensor | None = None

    def _shifted(self, losses: Tensor) -> Tensor:
        bound = self.bound.to(losses.device, losses.dtype)
        return (losses - bound).clamp_min(self.eps)

    def combine(self, losses: Tensor, grads: Tensor | None) -> CombineOutput:
        if self.logits.device != losses.device:
            self._move(losses.device)
        if not self.learns_after_step and self.prev is not None:
            self._learn(self._shifted(losses))  # next_batch: these are the "after" losses
        low = losses <= self.bound
        self.bound = torch.where(low, losses - 1.0, self.bound)
        shifted = self._shifted(losses)
        z = torch.softmax(self.logits.detach(), dim=0)
        c = 1.0 / (z / shifted).sum()
        self.prev = shifted
        return CombineOutput(direction=None, weights=c * z / shifted, info={"logit_weight": z})

    def after_step(self, new_losses: Tensor) -> None:
        """Move the logits by the log-loss drop measured on the same batch."""
        if self.prev is None or not self.learns_after_step:
            return
        self._learn(self._shifted(new_losses.detach()))

    def _learn(self, after: Tensor) -> None:
        assert self.prev is not None
        # a non-finite loss (an update the trainer drops) teaches the logits nothing
        delta = torch.nan_to_num(self.prev.log() - after.log(), nan=0.0, posinf=0.0, neginf=0.0)
        with torch.enable_grad():
            z = torch.softmax(self.logits, dim=0)
            (grad,) = torch.autograd.grad(z, self.logits, grad_outputs=delta)
        self.opt.zero_grad(set_to_none=True)
        self.logits.grad = grad
        self.opt.step()
        self.prev = None

    def _move(self, device: torch.device) -> None:
        state = self.state_dict()
        self.logits = self.logits.detach().to(device).requires_grad_()
        self.opt = torch.optim.Adam([self.logits], lr=self.lr, weight_decay=self.gamma)
        self.opt.load_state_dict(state["opt"])
        self.bound = self.bound.to(device)

    def state_dict(self) -> dict[str, Any]:
        return {
            "logits": self.logits.detach().clone(),
            "opt": self.opt.state_dict(),
            "bound": self.bound.clone(),
            "prev": None if self.prev is None else self.prev.clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            self.logits.copy_(state["logits"])
        self.opt.load_state_dict(state["opt"])
        self.bound = state["bound"].clone()
        self.prev = None if state.get("prev") is None else state["prev"].clone()
