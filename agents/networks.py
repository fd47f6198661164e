"""MLPs whose layers also run with per-task weight copies, as batched matmuls.

``forward(x)`` with ``x`` shaped ``[K, b, in]`` uses the shared weights;
``forward(x, params)`` with ``params[name]`` shaped ``[K, ...]`` gives task k
its own copy (``mtrl.grads.per_task_linear``), which is how per-task gradients are
taken in one backward (see ``mtrl.grads``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtrl.grads import per_task_linear


def linear(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``x @ weightᵀ + bias``; with a leading task axis on ``weight``, one matmul per task.

    Per-task weights go through ``mtrl.grads.per_task_linear``: the copies ``mtrl.grads``
    makes take the shared matmul forward and keep only the weight gradient per task.
    """
    if weight.dim() == 2:
        return F.linear(x, weight, bias)
    return per_task_linear(x, weight, bias)


def mlp_forward(x: Tensor, weights: Sequence[Tensor], biases: Sequence[Tensor]) -> Tensor:
    """Linear layers with ReLU between them (the part ``--compile`` hands to torch.compile)."""
    last = len(weights) - 1
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        x = linear(x, w, b)
        if i < last:
            x = F.relu(x)
    return x


def mlp_forward_with_hidden(
    x: Tensor, weights: Sequence[Tensor], biases: Sequence[Tensor]
) -> tuple[Tensor, Tensor]:
    """``mlp_forward``'s output and the last hidden activation Z (after its ReLU) under it."""
    hidden = x
    for w, b in zip(weights[:-1], biases[:-1], strict=True):
        hidden = F.relu(linear(hidden, w, b))
    return linear(hidden, weights[-1], biases[-1]), hidden


_compiled_mlp_forward: Callable[..., Tensor] | None = None


def compiled_mlp_forward() -> Callable[..., Tensor]:
    """``mlp_forward`` through ``torch.compile``: one compiled function shared by every MLP,
    so its graphs are keyed by input shapes, not by which network calls it."""
    global _compiled_mlp_forward
    if _compiled_mlp_forward is None:
        _compiled_mlp_forward = torch.compile(mlp_forward, dynamic=False)
    return _compiled_mlp_forward


class MLP(nn.Module):
    """``in → hidden… → out`` with ReLU between layers."""

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int]):
        super().__init__()
        dims = [in_dim, *hidden, out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
        self.run: Callable[..., Tensor] = mlp_forward

    def forward(
        self, x: Tensor, params: Mapping[str, Tensor] | None = None, prefix: str = ""
    ) -> Tensor:
        """Apply the MLP; ``params`` (names as in ``named_parameters`` plus ``prefix``) override."""
        if params is None:
            weights = [layer.weight for layer in self.layers]
            biases = [layer.bias for layer in self.layers]
        else:
            n = len(self.layers)
            weights = [params[f"{prefix}layers.{i}.weight"] for i in range(n)]
            biases = [params[f"{prefix}layers.{i}.bias"] for i in range(n)]
        return self.run(x, weights, biases)

    def forward_with_hidden(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The output (shared weights, eager) and the last hidden activation Z: MGDA-UB's
        shared representation, whose gradient ``mtrl.grads`` takes explicitly."""
        return mlp_forward_with_hidden(
            x, [layer.weight for layer in self.layers], [layer.bias for layer in self.layers]
        )


def compile_networks(module: nn.Module) -> None:
    """Run every MLP inside ``module`` through the shared compiled forward."""
    for m in module.modules():
        if isinstance(m, MLP):
            m.run = compiled_mlp_forward()


class TwinQ(nn.Module):
    """Two independent Q-networks ``Q(s, a)``, as SAC uses against overestimation."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int]):
        super().__init__()
        self.q1 = MLP(obs_dim + act_dim, 1, hidden)
        self.q2 = MLP(obs_dim + act_dim, 1, hidden)

    def forward(
        self, obs: Tensor, act: Tensor, params: Mapping[str, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """``(Q1, Q2)``, each shaped like ``obs`` without its last axis."""
        x = torch.cat([obs, act], dim=-1)
        return (
            self.q1(x, params, "q1.").squeeze(-1),
            self.q2(x, params, "q2.").squeeze(-1),
        )

    def forward_with_hidden(
        self, obs: Tensor, act: Tensor
    ) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor]]:
        """``(Q1, Q2)`` with the shared weights, and both networks' last hidden activations."""
        x = torch.cat([obs, act], dim=-1)
        q1, z1 = self.q1.forward_with_hidden(x)
        q2, z2 = self.q2.forward_with_hidden(x)
        return q1.squeeze(-1), q2.squeeze(-1), (z1, z2)


LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
_LOG_2 = math.log(2.0)


class TanhGaussianActor(nn.Module):
    """A Gaussian policy squashed by tanh into the [-1, 1] action box."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int]):
        super().__init__()
        self.net = MLP(obs_dim, 2 * act_dim, hidden)

    def forward(
        self,
        obs: Tensor,
        params: Mapping[str, Tensor] | None = None,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """A sampled (or the mean) action and its log-probability, summed over action dims.

        ``noise`` (standard normal, shaped like the action) fixes the sample.
        """
        out = self.net(obs, params, "net.")
        return self._squash(*self._pre_tanh(out, deterministic, generator, noise))

    def forward_with_hidden(
        self, obs: Tensor, noise: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``forward``'s sampled action and log-probability (shared weights), and the MLP's
        last hidden activation Z (MGDA-UB's shared representation)."""
        out, hidden = self.net.forward_with_hidden(obs)
        action, log_prob = self._squash(*self._pre_tanh(out, False, None, noise))
        return action, log_prob, hidden

    @staticmethod
    def _squash(mean: Tensor, log_std: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        """``tanh(u)`` and its log-probability under the Gaussian, summed over action dims."""
        # log N(u; mean, std) minus the tanh change of volume, log(1 - tanh(u)²), written stably.
        z = (u - mean) / log_std.exp()
        log_prob = (-0.5 * z.pow(2) - log_std - _HALF_LOG_2PI).sum(-1)
        log_prob = log_prob - (2 * (_LOG_2 - u - F.softplus(-2 * u))).sum(-1)
        return torch.tanh(u), log_prob

    def action(
        self, obs: Tensor, deterministic: bool = False, generator: torch.Generator | None = None
    ) -> Tensor:
        """The action alone (what acting needs): ``forward``'s without its log-probability."""
        out = self.net(obs, None, "net.")
        return torch.tanh(self._pre_tanh(out, deterministic, generator, None)[2])

    @staticmethod
    def _pre_tanh(
        out: Tensor,
        deterministic: bool,
        generator: torch.Generator | None,
        noise: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(mean, log_std, u)`` from the MLP's output: the Gaussian and its sample (or mean)
        before the tanh."""
        mean, log_std = out.chunk(2, dim=-1)
        log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        if deterministic:
            return mean, log_std, mean
        if noise is None:
            noise = torch.randn(
                mean.shape, device=mean.device, dtype=mean.dtype, generator=generator
            )
        return mean, log_std, mean + log_std.exp() * noise
