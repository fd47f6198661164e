"""Where the time of a training step goes: named sections, timed only when switched on.

The trainer and the agent wrap each phase in ``section("env")``, ``section("losses")``…
Off (the default) a section is a shared no-op context manager, so the hot loop pays
nothing. ``benchmarks/bench_train.py`` switches it on; then each section waits for
the device at its edges (``torch.cuda.synchronize``) so GPU time lands in the
section that launched it, which makes a profiled run slower than a plain one.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterator

import torch

SECTIONS = (
    "env",
    "act",
    "replay_add",
    "replay_sample",
    "losses",
    "backward",
    "combine",
    "optimizer",
    "logging",
    "eval",
    "checkpoint",
)
"""The sections of one training step, in the order they run. ``losses``: forward passes
(TD target included); ``backward``: the per-task gradients ``G`` (or, for loss-weighting
methods, the one backward of ``Σ wᵢ Lᵢ``); ``combine``: the method itself (FAMO's
after-step forward included); ``optimizer``: finite checks, Adam steps, α, the target."""

_NULL = contextlib.nullcontext()


class Profile:
    """Accumulated seconds and call counts per section."""

    def __init__(self) -> None:
        self.enabled = False
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._sync = lambda: None
        self._open: str | None = None

    def enable(self, device: torch.device | str = "cpu") -> None:
        """Start timing (and synchronising ``device`` at section edges if it is CUDA)."""
        self.enabled = True
        self.seconds.clear()
        self.calls.clear()
        self._sync = (
            torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
        )

    def disable(self) -> None:
        """Stop timing; the numbers gathered so far are kept."""
        self.enabled = False

    @contextlib.contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        if self._open is not None:  # a nested section counts toward the outer one only
            yield
            return
        self._sync()
        self._open = name
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.seconds[name] += time.perf_counter() - t0
            self.calls[name] += 1
            self._open = None

    def section(self, name: str) -> contextlib.AbstractContextManager[None]:
        """A context manager timing ``name`` when enabled, a shared no-op otherwise."""
        return self._timed(name) if self.enabled else _NULL


PROFILE = Profile()
"""The process-wide profile the trainer and agent report to."""


def section(name: str) -> contextlib.AbstractContextManager[None]:
    """``with section("env"): …`` times the block when ``PROFILE`` is enabled."""
    return PROFILE.section(name)
