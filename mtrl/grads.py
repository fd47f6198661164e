"""Per-task gradients of shared parameters, and writing a combined update to ``.grad``.

The networks take per-task parameter copies ``[K, ...]``; task i's rows only touch
copy i, so one backward of ``Σᵢ Lᵢ`` yields every task's gradient: no loop of K
backward passes. The copies are stride-0 ``expand`` views of the shared parameters,
so building them is free and each layer still runs its forward and input gradient
as one shared matmul; only the weight gradients are per task, written by the layers
straight into ``G``, one contiguous ``[K, P]`` buffer reused across updates.

Both halves of that protocol live here: ``per_task_grads`` makes the copies and points
each one's ``GRAD_DESTINATION`` into ``G``; ``per_task_linear`` (which the layers of
``agents.networks`` call) recognises the copies and writes their gradients there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mtrl.combine import CombineOutput, Combiner
from mtrl.profile import section

LossFn = Callable[[Mapping[str, Tensor] | None], Tensor]
"""Per-task parameter copies (or None for the shared ones) → per-task losses ``[K]``."""

RepresentationLossFn = Callable[[], tuple[Tensor, Sequence[Tensor]]]
"""→ per-task losses ``[K]`` (shared parameters) and the shared representation tensors Z
(each ``[K, b, …]``, task i's loss reading only rows i) they were computed from."""


GRAD_DESTINATION = "grad_destination"
"""Attribute ``per_task_grads`` sets on each per-task weight (or bias) copy: a view of
``G`` shaped like the copy, into which ``SharedCopiesLinear`` writes its gradient."""


class SharedCopiesLinear(torch.autograd.Function):
    """``linear`` for per-task copies that are one tensor expanded (stride 0 on the task axis).

    All copies are the same memory, so the forward and the input gradient are single
    large matmuls, exactly as for shared weights; only the weight gradient is kept per
    task (``bmm`` of task k's rows), the same FLOPs as the shared weight gradient. It is
    written straight into the copy's ``grad_destination`` when one is set (first use only).
    """

    @staticmethod
    def forward(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        return F.linear(x, weight[0], bias[0])

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        x, weight, bias = inputs
        ctx.save_for_backward(x, weight)
        ctx.dest_w = ctx.dest_b = None
        if not torch.compiler.is_compiling():
            ctx.dest_w = weight.__dict__.pop(GRAD_DESTINATION, None)
            ctx.dest_b = bias.__dict__.pop(GRAD_DESTINATION, None)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        grad_x = grad_out @ weight[0] if need_x else None
        grad_w = torch.bmm(grad_out.transpose(1, 2), x, out=ctx.dest_w) if need_w else None
        grad_b = torch.sum(grad_out, 1, out=ctx.dest_b) if need_b else None
        return grad_x, grad_w, grad_b


def per_task_linear(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``x @ weight[k]ᵀ + bias[k]`` for task k's rows ``x[k]``: the layers' half of the protocol.

    Copies that are one tensor expanded (``per_task_grads``'s) take ``SharedCopiesLinear``:
    the shared matmul forward, the weight gradient per task written into ``G``; other
    per-task weights one ``baddbmm``.
    """
    if weight.stride(0) == 0 and bias.stride(0) == 0 and x.dim() == 3:
        return SharedCopiesLinear.apply(x, weight, bias)
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


class GradBuffer:
    """One ``[K, P]`` tensor kept between updates, so ``G`` is not reallocated each step."""

    def __init__(self) -> None:
        self.tensor: Tensor | None = None

    def get(self, num_tasks: int, size: int, like: Tensor) -> Tensor:
        """The buffer, (re)allocated only when its shape, dtype or device changes."""
        t = self.tensor
        if (
            t is None
            or t.shape != (num_tasks, size)
            or t.dtype != like.dtype
            or t.device != like.device
        ):
            t = self.tensor = torch.empty(num_tasks, size, dtype=like.dtype, device=like.device)
        return t


def per_task_grads(
    loss_fn: LossFn,
    params: Mapping[str, Tensor],
    num_tasks: int,
    buffer: GradBuffer | None = None,
) -> tuple[Tensor, Tensor]:
    """Losses ``[K]`` and the gradient matrix ``G[K, P]`` (row i = ∇ Lᵢ), in one backward.

    With ``buffer``, ``G`` is written into its reused tensor (valid until the next call).
    """
    first = next(iter(params.values()))
    size = sum(p.numel() for p in params.values())
    if buffer is not None:
        flat = buffer.get(num_tasks, size, first)
    else:
        flat = torch.empty(num_tasks, size, dtype=first.dtype, device=first.device)
    copies, destinations, offset = {}, [], 0
    for name, p in params.items():
        copy = p.detach().unsqueeze(0).expand(num_tasks, *p.shape).requires_grad_()
        dest = flat[:, offset : offset + p.numel()].view(num_tasks, *p.shape)
        setattr(copy, GRAD_DESTINATION, dest)  # the batched layers write G here directly
        copies[name] = copy
        destinations.append(dest)
        offset += p.numel()
    with section("losses"):
        losses = loss_fn(copies)
    with section("backward"):
        grads = torch.autograd.grad(losses.sum(), list(copies.values()))
        for g, dest in zip(grads, destinations, strict=True):
            if g.data_ptr() != dest.data_ptr() or g.stride() != dest.stride():
                dest.copy_(g)  # a layer that did not write in place (compiled, or reused)
    return losses.detach(), flat


def per_task_grads_loop(loss_fn: LossFn, params: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
    """Reference: the same ``(losses, G)`` from K separate backward passes (for the tests and
    ``benchmarks/bench_grads.py``, never in training)."""
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
    """Point the ``.grad`` of ``params`` (in order) at slices of ``direction`` ``[P]`` (no copy)."""
    offset = 0
    for p in params.values():
        n = p.numel()
        p.grad = direction[offset : offset + n].view_as(p)
        offset += n
    if offset != direction.numel():
        raise ValueError(f"direction has {direction.numel()} entries, parameters {offset}")


def representation_sq_norms(losses: Tensor, reps: Sequence[Tensor]) -> Tensor:
    """``‖∇_Z Lᵢ‖²`` ``[K]`` from one ``autograd.grad`` of ``Σᵢ Lᵢ`` w.r.t. the tensors Z.

    Task i's loss reads only rows ``Z[i]``, so row i of ``∇_Z Σⱼ Lⱼ`` is ``∇_Z Lᵢ`` and the
    other tasks' gradients vanish there (the graph is kept for the weighted backward).
    """
    grads = torch.autograd.grad(losses.sum(), list(reps), retain_graph=True)
    return torch.stack([g.pow(2).reshape(g.shape[0], -1).sum(1) for g in grads]).sum(0)


def combined_backward(
    combiner: Combiner,
    loss_fn: LossFn,
    params: Mapping[str, Tensor],
    buffer: GradBuffer | None = None,
    representation_loss_fn: RepresentationLossFn | None = None,
) -> tuple[Tensor, CombineOutput]:
    """Fill ``.grad`` of ``params`` with the combiner's update; return (losses ``[K]``, output).

    Methods that need per-task gradients get ``G`` from one batched backward
    (into ``buffer`` if given); the others get a single backward of ``Σ wᵢ Lᵢ``.
    Methods that need representation gradients (``needs_representation_grads``: MGDA-UB)
    get ``‖∇_Z Lᵢ‖²`` from ``representation_loss_fn``'s forward, then the same backward.
    """
    if getattr(combiner, "needs_representation_grads", False):
        if representation_loss_fn is None:
            raise ValueError(f"{combiner.name} needs a representation_loss_fn")
        with section("losses"):
            losses, reps = representation_loss_fn()
        with section("backward"):
            sq_norms = representation_sq_norms(losses, reps)
        with section("combine"):
            out = combiner(losses.detach(), sq_norms)
        return losses.detach(), _weighted_backward(combiner, out, losses, params)
    if combiner.needs_grads:
        losses, grads = per_task_grads(loss_fn, params, combiner.num_tasks, buffer)
        with section("combine"):
            out = combiner(losses, grads)
            if out.direction is None:
                raise RuntimeError(f"{combiner.name} needs gradients but returned no direction")
            write_grad(params, out.direction)
        return losses, out
    with section("losses"):
        losses = loss_fn(None)
    with section("combine"):
        out = combiner(losses.detach())
    return losses.detach(), _weighted_backward(combiner, out, losses, params)


def _weighted_backward(
    combiner: Combiner, out: CombineOutput, losses: Tensor, params: Mapping[str, Tensor]
) -> CombineOutput:
    """One backward of ``Σ wᵢ Lᵢ`` into ``.grad`` of ``params`` (w = ``out.weights``)."""
    if out.weights is None:
        raise RuntimeError(f"{combiner.name} returned neither a direction nor weights")
    with section("backward"):
        for p in params.values():
            p.grad = None
        (out.weights * losses).sum().backward(inputs=list(params.values()))
    return out
