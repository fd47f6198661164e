"""LDC-MTL / BiLB4MTL (arXiv 2502.08585): loss-discrepancy control, no per-task gradients.

The paper's three parts:

(i) initial loss normalisation, ``L̃ᵢ = Lᵢ / rᵢ`` with ``rᵢ = |Lᵢ(0)| / minⱼ |Lⱼ(0)|``
    from the first call (authors' experiments/nyuv2/trainer.py:139-140);
(ii) the bilevel problem: the router ``σ(W)`` minimises the loss discrepancy
    ``Σᵢ |σᵢ L̃ᵢ − σᵢ₊₁ L̃ᵢ₊₁|`` (tasks as neighbours in id order) subject to the model
    minimising the weighted sum ``Σᵢ σᵢ L̃ᵢ``;
(iii) the first-order penalised algorithm: model and router take one step together down
    ``f = Σᵢ σᵢ L̃ᵢ / Σσ + λ Σᵢ |σᵢ L̃ᵢ − σᵢ₊₁ L̃ᵢ₊₁|``, one backward, O(1) in K
    (authors' celeba/trainer.py:114-120: ``total_loss.backward(); optimizer.step()``).

Which of the authors' routers. Their NYUv2/Cityscapes router is an input-dependent
linear layer under a softmax clamped to [0.2, 0.8] (nyuv2/models.py:619-622 and 799-800),
sized for 2–3 tasks: for K = 10 the softmax gives ~1/K < 0.2, every weight sits on
the clamp and the router gets no gradient. Their CelebA (K = 40) and QM9 (K = 11)
routers are a free parameter per task — what K tasks known by id need — under a
sigmoid, with ``Σσ.detach()`` dividing the weighted sum (celeba/models.py:57 and 78,
celeba/trainer.py:114; quantum_chemistry/models.py:92 and 119,
quantum_chemistry/trainer.py:158). This module follows the QM9 router,
``σᵢ = sigmoid(relu(wᵢ))``: the ReLU keeps every ``σᵢ`` in [½, 1), so no task's share
``σᵢ/Σσ`` exceeds ``2/(K+1)`` and a logit that would drift below 0 stops there (under
Adam the weighted-sum term moves every logit down by about ``lr`` per call, for ever
with the CelebA form, until ``sigmoid`` underflows and ``Σσ`` is 0). The logits start
at 1 as CelebA's do (QM9 draws them from U[0.2, 1]), and the losses are normalised by
the ratio (i), not QM9's ``log(L/L(0))``.

λ is 0.05, the authors' setting for QM9 (K = 11, the nearest to MT10) and NYUv2
(quantum_chemistry/trainer.py:245, nyuv2/trainer.py:317). The router learns inside the
model's Adam at the model's learning rate (celeba/trainer.py:84); here it has its own
Adam with the same rule and the model's rate, which the trainer passes as ``lr`` (the
SAC learning rate, 3e-4 by default). The Adam step is written out so that a call with
a non-finite loss leaves the logits and moments exactly as they were without a host
sync; such a call still returns finite weights for the finite tasks.

The SAC actor loss is negative and unbounded: ``|L(0)|`` normalisation and a penalty on
signed ``σᵢL̃ᵢ`` mean nothing there, and the weighted-sum term would push every logit
up. The authors run no RL; as FAMO's MT10 script does for its method, the ``ldc``
actor gets the plain mean by default (``actor = "mean"``, see ``mtrl.combine.make_pair``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from mtrl.combine.base import CombineOutput, Combiner
from mtrl.combine.options import declare, number

BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


class LDC(Combiner):
    """Loss weights ``∂f/∂Lᵢ``; the router logits take one Adam step down ``f`` per call."""

    name = "ldc"
    options = declare(lamb=number(ge=0), lr=number(gt=0), eps=number(gt=0))
    needs_grads = False
    uses_loss_values = True
    scale_invariant = False
    loss_scale_invariant = True  # the losses enter divided by their first-call ratios
    descends_every_task = False
    permutation_invariant = False  # the penalty compares neighbours in task order
    actor_default: ClassVar[str] = "mean"
    lr_from_model: ClassVar[bool] = True
    lamb: float
    lr: float
    eps: float

    def __init__(self, num_tasks: int, lamb: float = 0.05, lr: float = 3e-4, eps: float = 1e-8):
        super().__init__(num_tasks, lamb=lamb, lr=lr, eps=eps)
        self.reset()

    def reset(self) -> None:
        k = self.num_tasks
        self.logits = torch.ones(k)
        self.exp_avg, self.exp_avg_sq = torch.zeros(k), torch.zeros(k)
        self.steps = torch.zeros(())
        self.ratios: Tensor | None = None

    def sigma(self, logits: Tensor | None = None) -> Tensor:
        """Router weights ``sigmoid(relu(w))`` in [½, 1) (authors' QM9 models.py:119)."""
        return torch.sigmoid(torch.relu(self.logits if logits is None else logits))

    def combine(self, losses: Tensor, grads: Tensor | None) -> CombineOutput:
        if self.logits.device != losses.device:
            self._to(losses.device)
        finite = torch.isfinite(losses)
        if self.ratios is None:
            self.ratios = self._ratios(losses, finite)
        scaled = torch.where(finite, losses, 0.0) / self.ratios.to(losses.dtype)
        with torch.enable_grad():
            logits = self.logits.clone().to(losses.dtype).requires_grad_()
            leaf = scaled.clone().requires_grad_()
            sigma = self.sigma(logits)
            weighted = sigma * leaf
            penalty = (weighted[:-1] - weighted[1:]).abs().sum()
            f = weighted.sum() / sigma.detach().sum() + self.lamb * penalty
            d_logits, d_scaled = torch.autograd.grad(f, [logits, leaf])
        self._adam_step(d_logits.to(self.logits.dtype), finite.all())
        return CombineOutput(
            direction=None,
            weights=d_scaled / self.ratios.to(losses.dtype),
            info={
                "router_weight": (sigma / sigma.sum()).detach(),
                "penalty": penalty.detach(),
            },
        )

    def _ratios(self, losses: Tensor, finite: Tensor) -> Tensor:
        """``|Lᵢ(0)| / minⱼ |Lⱼ(0)|``; a non-finite first loss gets ratio 1."""
        first = torch.where(finite, losses.abs().clamp_min(self.eps), torch.inf)
        return torch.where(finite, first / first.min(), 1.0)

    def _adam_step(self, grad: Tensor, ok: Tensor) -> None:
        """``torch.optim.Adam``'s rule on the logits, taken only where ``ok`` (no host sync)."""
        ok = ok & torch.isfinite(grad).all()
        b1, b2 = BETAS
        steps = self.steps + 1
        m = b1 * self.exp_avg + (1 - b1) * grad
        v = b2 * self.exp_avg_sq + (1 - b2) * grad * grad
        m_hat, v_hat = m / (1 - b1**steps), v / (1 - b2**steps)
        logits = self.logits - self.lr * m_hat / (v_hat.sqrt() + ADAM_EPS)
        self.logits = torch.where(ok, logits, self.logits)
        self.exp_avg = torch.where(ok, m, self.exp_avg)
        self.exp_avg_sq = torch.where(ok, v, self.exp_avg_sq)
        self.steps = torch.where(ok, steps, self.steps)

    def _to(self, device: torch.device) -> None:
        for key in ("logits", "exp_avg", "exp_avg_sq", "steps"):
            setattr(self, key, getattr(self, key).to(device))
        if self.ratios is not None:
            self.ratios = self.ratios.to(device)

    def state_dict(self) -> dict[str, Any]:
        return {
            "logits": self.logits.clone(),
            "exp_avg": self.exp_avg.clone(),
            "exp_avg_sq": self.exp_avg_sq.clone(),
            "steps": self.steps.clone(),
            "ratios": None if self.ratios is None else self.ratios.clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.logits.device
        for key in ("logits", "exp_avg", "exp_avg_sq", "steps"):
            setattr(self, key, state[key].clone().to(device))
        self.ratios = None if state["ratios"] is None else state["ratios"].clone().to(device)
