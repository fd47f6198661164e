"""Milliseconds per call of Nash-MTL's reference solver (``nash_weights_ccp``).

One call is one weight update of ``nashmtl`` with ``solver="ccp"``: up to 20 CCP steps,
each an ECOS solve. Side by side, interleaved, on the same sequence of Gram matrices:
  compiled once — the step's DPP problem kept between calls (what the combiner does);
  per call      — the problem rebuilt and compiled at every call (the cache cleared),
                  the cost cvxpy's compilation adds to each update.
The Gram matrices are those of K random gradients whose norms span ``--spread``
decades (the badly scaled case the reference is kept for), the previous α carried
from call to call as in training. Medians over rounds.

    python benchmarks/bench_nash_ccp.py [--tasks 2 10] [--calls 50] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from mtrl.combine.nashmtl import _ccp_step, nash_weights_ccp


def grams(k: int, calls: int, spread: float, seed: int = 0) -> list[np.ndarray]:
    """``calls`` Gram matrices of K drifting gradients with norms 1 … 10^spread."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((k, 256))
    scale = np.logspace(0, spread, k)[:, None]
    out = []
    for _ in range(calls):
        g = scale * (base + 0.3 * rng.standard_normal((k, 256)))
        out.append(g @ g.T)
    return out


def ms_per_call(seq: list[np.ndarray], before_call: Callable[[], None]) -> float:
    alpha = None
    t0 = time.perf_counter()
    for gram in seq:
        before_call()
        alpha = nash_weights_ccp(gram, alpha)
    return 1e3 * (time.perf_counter() - t0) / len(seq)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, nargs="+", default=[2, 10])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--spread", type=float, default=3.0)
    args = parser.parse_args()
    print("| K | compiled once (ms/call) | per call (ms/call) | ratio |")
    print("|---|---|---|---|")
    for k in args.tasks:
        seq = grams(k, args.calls, args.spread)
        ms_per_call(seq[:3], lambda: None)  # warm-up: imports, the first compilation
        kept, fresh = [], []
        for _ in range(args.rounds):
            kept.append(ms_per_call(seq, lambda: None))
            fresh.append(ms_per_call(seq, _ccp_step.cache_clear))
        a, b = statistics.median(kept), statistics.median(fresh)
        print(f"| {k} | {a:.1f} | {b:.1f} | {b / a:.1f}× |")


if __name__ == "__main__":
    main()
