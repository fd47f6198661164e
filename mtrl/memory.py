"""The memory check of a run: what its large tensors take, against the memory available.

Counted (float32, ``obs = STATE_DIM + K`` with the one-hot task id): the replay buffers
when full, one sampled batch with the activations its update keeps for the backward, and
the networks' working set: parameters, the target critic, gradients, Adam's two moments,
and the per-task gradient matrix ``G [K, P]`` (with one working copy) of each network
whose combiner ``needs_grads``. Not counted: the process itself (Python, torch, the envs),
so the check refuses a run that cannot fit, not one that barely fits. ``available_bytes``
is what the device can still give: a GPU's free memory, or the host's ``MemAvailable``
(capped by a container's cgroup limit).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

import envs
from agents.replay import replay_bytes

FLOAT = 4
"""Bytes of one float32."""
LIVE_FORWARDS = 5
"""MLP forwards' worth of activations one update holds at once, at most: the actor's loss
keeps the actor's and both critics' graphs (3), beside the TD target's actor and target
critic, and the backward's temporaries. Measured (peak RSS growth of one update, hidden 16
to 1024 wide, K 1 to 10, 10k to 100k rows, mean, dibs, nashmtl, mgda-ub, famo, ldc,
pcgrad, cagrad): from 0.37 to 0.91 of this count."""
GiB = 2**30


def mlp_params(in_dim: int, out_dim: int, hidden: Sequence[int]) -> int:
    """Weights and biases of an MLP ``in → hidden… → out``."""
    dims = [in_dim, *hidden, out_dim]
    return sum((a + 1) * b for a, b in itertools.pairwise(dims))


def mlp_activations(rows: int, in_dim: int, out_dim: int, hidden: Sequence[int]) -> int:
    """Floats one forward of ``rows`` inputs keeps for its backward: each layer's input,
    each hidden layer's pre- and post-ReLU output, and the output."""
    return rows * (in_dim + 2 * sum(hidden) + out_dim)


@dataclass(frozen=True)
class MemoryNeed:
    """Bytes a run's large tensors take, by the option that sizes them."""

    replay: int
    """The full replay buffers: ``--buffer-size`` (capped at ``--total-steps``)."""
    batch: int
    """One sampled batch and its update's activations: ``--batch-per-task``."""
    networks: int
    """Parameters, target, gradients, Adam state, ``G``: ``--hidden``."""

    @property
    def total(self) -> int:
        """All of it."""
        return self.replay + self.batch + self.networks

    def option_to_lower(self) -> str:
        """The flag whose part is the largest."""
        parts = {
            "--buffer-size": self.replay,
            "--batch-per-task": self.batch,
            "--hidden": self.networks,
        }
        return max(parts, key=lambda k: parts[k])

    def describe(self) -> str:
        """``replay buffers 1.2 GiB, one batch and its update 0.1 GiB, networks 0.0 GiB``."""
        return (
            f"replay buffers {self.replay / GiB:.1f} GiB, one batch and its update "
            f"{self.batch / GiB:.1f} GiB, networks {self.networks / GiB:.1f} GiB"
        )


def multitask_need(
    num_tasks: int,
    capacity: int,
    batch_per_task: int,
    hidden: Sequence[int],
    critic_grads: bool,
    actor_grads: bool,
) -> MemoryNeed:
    """The multi-task SAC's need (``agents.sac``); ``*_grads``: that combiner needs ``G``."""
    k, obs, act = num_tasks, envs.STATE_DIM + num_tasks, envs.ACTION_DIM
    actor = mlp_params(obs, 2 * act, hidden)
    critic = 2 * mlp_params(obs + act, 1, hidden)  # twin Q
    # actor, critic, target critic; gradients of both; Adam's two moments of both
    networks = FLOAT * (actor + 2 * critic + 3 * (actor + critic))
    g = (critic if critic_grads else 0) + (actor if actor_grads else 0)
    networks += FLOAT * 2 * k * g  # G and one working copy
    rows = k * batch_per_task
    activations = FLOAT * LIVE_FORWARDS * mlp_activations(rows, obs + act, 2 * act, hidden)
    return MemoryNeed(
        replay=replay_bytes(k, capacity, obs, act),
        batch=replay_bytes(k, batch_per_task, obs, act) + activations,
        networks=networks,
    )


def stl_need(num_tasks: int, capacity: int, batch_size: int, hidden: Sequence[int]) -> MemoryNeed:
    """``stl``'s need: K stable-baselines3 SACs, each with its own buffer, trained in turns."""
    k, obs, act = num_tasks, envs.STATE_DIM + num_tasks, envs.ACTION_DIM
    # obs, next obs, action, reward, done, timeout: float32 (the env's observation space's)
    per_transition = FLOAT * (2 * obs + act + 3)
    actor = mlp_params(obs, 2 * act, hidden)
    critic = 2 * mlp_params(obs + act, 1, hidden)
    per_model = FLOAT * (actor + 2 * critic + 3 * (actor + critic))
    activations = FLOAT * LIVE_FORWARDS * mlp_activations(batch_size, obs + act, 2 * act, hidden)
    return MemoryNeed(
        replay=k * capacity * per_transition,
        batch=batch_size * per_transition + activations,
        networks=k * per_model,
    )


def _cgroup_free() -> int | None:
    """What a container's cgroup memory limit still allows (v2, then v1), if there is one."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:  # "max" or a huge v1 number: no limit
            return max(0, int(limit) - usage)
    return None


def host_available_bytes() -> int | None:
    """The host memory a new allocation can still get; None where it cannot be told."""
    free = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        free = None
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            free = None
    cgroup = _cgroup_free()
    if cgroup is not None:
        free = cgroup if free is None else min(free, cgroup)
    return free


def available_bytes(device: torch.device) -> int | None:
    """Free memory of ``device``: a CUDA GPU's, or the host's; None where it cannot be told."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    return host_available_bytes()
