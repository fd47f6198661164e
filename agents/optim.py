"""Adam whose step can be called off on the device: a guarded update with no host sync.

The trainer drops an update whose loss or gradient is not finite. Deciding that on
the host (``if not torch.isfinite(...)``) stalls the GPU pipeline once per update;
here the decision stays a device tensor ``ok`` and every change the step makes —
moments, step count, parameters — is multiplied by it, so a refused step leaves
the optimizer exactly as it was. With ``ok`` true the step is Adam's (the same
arithmetic as ``torch.optim.Adam`` without weight decay or AMSGrad).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


class GuardedAdam(torch.optim.Optimizer):
    """Adam with ``step(ok)``: ``ok`` a 0-d bool tensor; False leaves everything untouched."""

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, ok: Tensor | None = None) -> None:  # type: ignore[override]
        """One Adam step of the parameters that have a ``.grad``, taken only where ``ok``."""
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), device=p.device)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
            device = params[0].device
            go = torch.ones((), device=device) if ok is None else ok.to(device, torch.float32)
            grads = [p.grad for p in params]
            if ok is not None:  # a refused step must not carry NaN through 0 · NaN
                grads = [torch.where(ok, g, 0.0) for g in grads]
            m = [self.state[p]["exp_avg"] for p in params]
            v = [self.state[p]["exp_avg_sq"] for p in params]
            steps = [self.state[p]["step"] for p in params]
            beta1, beta2 = group["betas"]
            torch._foreach_add_(steps, go)
            # m ← m + (1 − β₁)·go·(g − m);  v ← v + (1 − β₂)·go·(g² − v)
            dm = torch._foreach_sub(grads, m)
            torch._foreach_mul_(dm, (1 - beta1) * go)
            torch._foreach_add_(m, dm)
            dv = torch._foreach_mul(grads, grads)
            torch._foreach_sub_(dv, v)
            torch._foreach_mul_(dv, (1 - beta2) * go)
            torch._foreach_add_(v, dv)
            # p ← p − go·lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
            t = steps[0].clamp_min(1.0)
            bias1 = 1 - beta1**t
            bias2_sqrt = (1 - beta2**t).sqrt()
            denom = torch._foreach_sqrt(v)
            torch._foreach_div_(denom, bias2_sqrt)
            torch._foreach_add_(denom, group["eps"])
            delta = torch._foreach_div(m, denom)
            torch._foreach_mul_(delta, -group["lr"] * go / bias1)
            torch._foreach_add_(params, delta)


def all_finite(losses: Tensor, grads: Iterable[Tensor | None]) -> Tensor:
    """A 0-d bool tensor: the losses and every gradient are finite (no host sync)."""
    present = [g for g in grads if g is not None]
    norms = torch._foreach_norm(present) if present else []
    return torch.isfinite(torch.stack([losses.sum(), *norms])).all()
