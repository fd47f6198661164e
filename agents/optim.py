"""Adam whose step can be called off on the device: a guarded update with no host sync.

The trainer drops an update whose loss or gradient is not finite. Deciding that on
the host (``if not torch.isfinite(...)``) stalls the GPU pipeline once per update;
here the decision stays a device tensor ``ok`` and every change the step makes —
moments, step count, parameters — is called off by it inside torch's fused Adam
kernel, so a refused step leaves the optimizer exactly as it was. With ``ok``
true the step is ``torch.optim.Adam``'s.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


class GuardedAdam(torch.optim.Adam):
    """Fused Adam with ``step(ok)``: ``ok`` a 0-d bool tensor; False leaves everything untouched.

    The fused kernels (CPU and CUDA) take a ``found_inf`` flag, the mechanism
    ``torch.amp.GradScaler`` uses to drop steps: where it is set they return before
    touching parameters or moments, and the step count is put back, all on the device.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        super().__init__(params, lr=lr, betas=betas, eps=eps, fused=True)

    def step(self, ok: Tensor | None = None) -> None:  # type: ignore[override]
        """One Adam step of the parameters that have a ``.grad``, taken only where ``ok``."""
        if ok is not None:
            self.found_inf = (~ok).to(torch.float32)
        try:
            super().step()
        finally:
            self.found_inf = None


def all_finite(losses: Tensor, grads: Iterable[Tensor | None]) -> Tensor:
    """A 0-d bool tensor: the losses and every gradient are finite (no host sync)."""
    present = [g for g in grads if g is not None]
    norms = torch._foreach_norm(present) if present else []
    return torch.isfinite(torch.stack([losses.sum(), *norms])).all()
