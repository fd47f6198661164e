"""LDC-MTL / BiLB4MTL (arXiv 2502.08585): scalable loss balancing, no per-task gradients.

Three parts: (i) initial loss normalisation — each loss is divided by
``rᵢ = |Lᵢ(0)| / minⱼ |Lⱼ(0)|`` from the first call; (ii) the bilevel
loss-balancing objective on router weights ``σ = softmax(W)``,
``f = Σᵢ σᵢ L̃ᵢ + λ Σᵢ |σᵢ L̃ᵢ − σᵢ₊₁ L̃ᵢ₊₁|``, whose discrepancy term keeps the
weighted normalised losses level; (iii) the first-order penalised update
that moves the model and the router together down ``f`` — one backward,
O(1) in the number of tasks. Here the router is a vector of task logits (the
tasks are known by id, no input-dependent router is needed).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mtrl.combine.base import CombineOutput, Combiner


class LDC(Combiner):
    """Loss weights ``∂f/∂Lᵢ``; the router logits take one Adam step on ``f`` per call."""

    name = "ldc"
    needs_grads = False

    def __init__(self, num_tasks: int, lamb: float = 0.1, lr: float = 0.025, eps: float = 1e-8):
        super().__init__(num_tasks)
        if lamb < 0:
            raise ValueError(f"ldc needs lamb >= 0, got {lamb}")
        self.lamb, self.lr, self.eps = lamb, lr, eps
        self.reset()

    def reset(self) -> None:
        self.logits = torch.zeros(self.num_tasks, requires_grad=True)
        self.opt = torch.optim.Adam([self.logits], lr=self.lr)
        self.ratios: Tensor | None = None

    def combine(self, losses: Tensor, grads: Tensor | None) -> CombineOutput:
        if self.logits.device != losses.device:
            self._move(losses.device)
        if self.ratios is None:
            first = losses.abs().clamp_min(self.eps)
            self.ratios = first / first.min()
        with torch.enable_grad():
            leaf = losses.detach().clone().requires_grad_()
            sigma = torch.softmax(self.logits, dim=0)
            weighted = sigma * leaf / self.ratios
            f = weighted.sum() + self.lamb * (weighted[:-1] - weighted[1:]).abs().sum()
            d_logits, d_losses = torch.autograd.grad(f, [self.logits, leaf])
        self.opt.zero_grad(set_to_none=True)
        self.logits.grad = d_logits
        self.opt.step()
        return CombineOutput(
            direction=None, weights=d_losses, info={"router_weight": sigma.detach()}
        )

    def _move(self, device: torch.device) -> None:
        state = self.state_dict()
        self.logits = self.logits.detach().to(device).requires_grad_()
        self.opt = torch.optim.Adam([self.logits], lr=self.lr)
        self.opt.load_state_dict(state["opt"])
        if self.ratios is not None:
            self.ratios = self.ratios.to(device)

    def state_dict(self) -> dict[str, Any]:
        return {
            "logits": self.logits.detach().clone(),
            "opt": self.opt.state_dict(),
            "ratios": self.ratios,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            self.logits.copy_(state["logits"])
        self.opt.load_state_dict(state["opt"])
        self.ratios = state["ratios"]
