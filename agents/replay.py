"""One replay buffer per task, as preallocated tensors, with stratified sampling."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor


class Batch(NamedTuple):
    """Transitions shaped ``[K, b, …]``: b from each of the K tasks."""

    obs: Tensor
    act: Tensor
    rew: Tensor
    next_obs: Tensor
    done: Tensor  # 1.0 where the episode terminated (no bootstrap); truncation is not done


_FIELDS = ("obs", "act", "rew", "next_obs", "done")


def replay_bytes(num_tasks: int, capacity: int, obs_dim: int, act_dim: int) -> int:
    """Bytes of a full ``MultiTaskReplay`` (float32), in memory or in a checkpoint."""
    return 4 * num_tasks * capacity * (2 * obs_dim + act_dim + 2)


class MultiTaskReplay:
    """Ring buffers ``[K, capacity, …]``; each vector step adds one transition per task."""

    def __init__(
        self, num_tasks: int, capacity: int, obs_dim: int, act_dim: int, device: torch.device | str
    ):
        if capacity < 1:
            raise ValueError(f"replay capacity must be >= 1, got {capacity}")
        self.num_tasks, self.capacity, self.device = num_tasks, capacity, torch.device(device)
        k, c = num_tasks, capacity
        self.obs = torch.zeros(k, c, obs_dim, device=self.device)
        self.next_obs = torch.zeros(k, c, obs_dim, device=self.device)
        self.act = torch.zeros(k, c, act_dim, device=self.device)
        self.rew = torch.zeros(k, c, device=self.device)
        self.done = torch.zeros(k, c, device=self.device)
        self.pos = 0
        self.size = 0
        self._rows = torch.arange(k, device=self.device).unsqueeze(1)

    def add(
        self,
        obs: np.ndarray,
        act: np.ndarray,
        rew: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
    ) -> None:
        """Store one transition for every task (arrays with leading axis K)."""
        i = self.pos
        for buf, value in (
            (self.obs, obs),
            (self.act, act),
            (self.rew, rew),
            (self.next_obs, next_obs),
            (self.done, terminated),
        ):
            buf[:, i] = torch.as_tensor(np.asarray(value, dtype=np.float32), device=self.device)
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def state_dict(self) -> dict[str, Tensor | int]:
        """The stored transitions, oldest first, for a checkpoint."""
        n = self.size
        order = torch.arange(self.pos - n, self.pos, device=self.device) % self.capacity
        return {"size": n, **{name: getattr(self, name)[:, order].cpu() for name in _FIELDS}}

    def load_state_dict(self, state: dict[str, Tensor | int]) -> None:
        """Restore what ``state_dict`` returned; a smaller buffer keeps the newest transitions."""
        n = min(int(state["size"]), self.capacity)
        for name in _FIELDS:
            saved = state[name]
            getattr(self, name)[:, :n] = saved[:, saved.shape[1] - n :].to(self.device)
        self.size, self.pos = n, n % self.capacity

    def sample(self, batch_per_task: int, generator: torch.Generator | None = None) -> Batch:
        """``batch_per_task`` transitions from each task, uniformly with replacement."""
        if self.size == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        idx = torch.randint(
            0, self.size, (self.num_tasks, batch_per_task), device=self.device, generator=generator
        )
        r = self._rows
        return Batch(
            self.obs[r, idx],
            self.act[r, idx],
            self.rew[r, idx],
            self.next_obs[r, idx],
            self.done[r, idx],
        )
