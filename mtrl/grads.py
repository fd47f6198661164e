"""Per-task gradients of shared parameters, and writing a combined update to ``.grad``.

The networks run every layer as a batched matmul over the task axis when
given per-task parameter copies ``[K, ...]``. Task i's rows only touch copy i,
so one backward of ``Σᵢ Lᵢ`` yields every task's gradient at the cost of about
one ordinary backward: no loop of K backward passes. The copies are stride-0
``expand`` views of the shared parameters, so building them is free.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from mtrl.combine import CombineOutput, Combiner

LossFn = Callable[[Mapping[str, Tensor] | None], Tensor]
"""Per-task parameter copies (or None for the shared ones) → per-task losses ``[K]``."""


def per_task_grads(
    loss_fn: LossFn, params: Mapping[str, Tensor], num_tasks: int
) -> tuple[Tensor, Tensor]:
    """Losses ``[K]`` and the gradient matrix ``G[K, P]`` (row i = ∇ Lᵢ), in one backward."""
    copies = {
        name: p.detach().unsqueeze(0).expand(num_tasks, *p.shape).requires_grad_()
        for name, p in params.items()
    }
    losses = loss_fn(copies)
    grads = torch.autograd.grad(losses.sum(), list(copies.values()))
    flat = torch.cat([g.reshape(num_tasks, -1) for g in grads], dim=1)
    return losses.detach(), flat


def per_task_grads_loop(loss_fn: LossFn, params: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
    """Reference: the same ``(losses, G)`` from K separate backward passes (for tests only)."""
    losses = loss_fn(None)
    plist = list(params.values())
    rows = []
    for i in range(losses.shape[0]):
        gs = torch.autograd.grad(losses[i], plist, retain_graph=True, allow_unused=True)
        rows.append(
            torch.cat(
                [
                    (torch.zeros_like(p) if g is None else g).reshape(-1)
                    for p, g in zip(plist, gs, strict=True)
                ]
            )
        )
    return losses.detach(), torch.stack(rows)


def write_grad(params: Mapping[str, Tensor], direction: Tensor) -> None:
    """Write the flat ``direction`` ``[P]`` into the ``.grad`` of ``params`` (in order)."""
    offset = 0
    for p in params.values():
        n = p.numel()
        p.grad = direction[offset : offset + n].view_as(p).clone()
        offset += n
    if offset != direction.numel():
        raise ValueError(f"direction has {direction.numel()} entries, parameters {offset}")


def combined_backward(
    combiner: Combiner, loss_fn: LossFn, params: Mapping[str, Tensor]
) -> tuple[Tensor, CombineOutput]:
    """Fill ``.grad`` of ``params`` with the combiner's update; return (losses ``[K]``, output).

    Methods that need per-task gradients get ``G`` from one batched backward;
    the others get a single backward of ``Σ wᵢ Lᵢ``.
    """
    if combiner.needs_grads:
        losses, grads = per_task_grads(loss_fn, params, combiner.num_tasks)
        out = combiner(losses, grads)
        if out.direction is None:
            raise RuntimeError(f"{combiner.name} needs gradients but returned no direction")
        write_grad(params, out.direction)
        return losses, out
    losses = loss_fn(None)
    out = combiner(losses.detach())
    if out.weights is None:
        raise RuntimeError(f"{combiner.name} returned neither a direction nor weights")
    for p in params.values():
        p.grad = None
    (out.weights * losses).sum().backward(inputs=list(params.values()))
    return losses.detach(), out
