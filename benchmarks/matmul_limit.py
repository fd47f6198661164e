"""The matmul floor of a piece of code: its matmuls recorded once, then timed alone.

``record_matmuls(fn)`` runs ``fn`` once under a dispatch mode that notes every
``mm``/``addmm``/``bmm``/``baddbmm`` with its operand shapes (their ``out=`` forms
too: ``mtrl.grads`` writes per-task weight gradients with ``bmm(..., out=G_view)``) and
counts every op dispatched; ``flops`` counts them
(2·m·n·k per product); ``time_matmuls`` replays exactly those products on fresh
tensors, with nothing else in between, which is what the same work costs at the
BLAS rate these shapes get on this machine. The ratio of that time to the code's
own time is how close the code runs to its matmul limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode

_aten = torch.ops.aten
MATMULS = {
    _aten.mm.default: "mm",
    _aten.addmm.default: "addmm",
    _aten.bmm.default: "bmm",
    _aten.baddbmm.default: "baddbmm",
    _aten.mm.out: "mm",
    _aten.addmm.out: "addmm",
    _aten.bmm.out: "bmm",
    _aten.baddbmm.out: "baddbmm",
}


@dataclass(frozen=True)
class Matmul:
    """One product: ``[batch,] m×k @ k×n`` (batch 1 for mm/addmm)."""

    batch: int
    m: int
    k: int
    n: int

    @property
    def flops(self) -> int:
        return 2 * self.batch * self.m * self.k * self.n


class _Recorder(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.products: list[Matmul] = []
        self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.ops += 1
        kind = MATMULS.get(func)
        if kind is not None:
            a, b = (args[0], args[1]) if kind in ("mm", "bmm") else (args[1], args[2])
            if a.dim() == 2:
                self.products.append(Matmul(1, a.shape[0], a.shape[1], b.shape[1]))
            else:
                self.products.append(Matmul(a.shape[0], a.shape[1], a.shape[2], b.shape[2]))
        return func(*args, **(kwargs or {}))


def record_matmuls(fn: Callable[[], object]) -> list[Matmul]:
    """Every matrix product ``fn()`` runs (forward and backward), in order."""
    return record(fn)[0]


def record(fn: Callable[[], object]) -> tuple[list[Matmul], int]:
    """Every matrix product ``fn()`` runs, in order, and how many ops it dispatched in all
    (each an aten call: a kernel, a view or a tiny op, the per-op overhead's count)."""
    with _Recorder() as rec:
        fn()
    return rec.products, rec.ops


def flops(products: list[Matmul]) -> int:
    """Floating-point operations of the products (multiply and add counted apart)."""
    return sum(p.flops for p in products)


def time_matmuls(products: list[Matmul], device: torch.device, repeats: int = 10) -> float:
    """Seconds one replay of ``products`` takes (median of ``repeats``), operands preallocated."""
    ops = []
    for p in products:
        if p.batch == 1:
            a = torch.randn(p.m, p.k, device=device)
            b = torch.randn(p.k, p.n, device=device)
            ops.append((torch.mm, a, b, torch.empty(p.m, p.n, device=device)))
        else:
            a = torch.randn(p.batch, p.m, p.k, device=device)
            b = torch.randn(p.batch, p.k, p.n, device=device)
            ops.append((torch.bmm, a, b, torch.empty(p.batch, p.m, p.n, device=device)))
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    for _ in range(repeats + 1):
        sync()
        t0 = time.perf_counter()
        for op, a, b, out in ops:
            op(a, b, out=out)
        sync()
        times.append(time.perf_counter() - t0)
    times = sorted(times[1:])
    return times[len(times) // 2] if times else math.nan
