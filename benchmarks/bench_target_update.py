"""The SAC target update on the MT10 twin critic: one foreach lerp against sub, mul, add.

Both move the target τ·ok of the way to the online critic with ``ok`` a device flag
(no host sync); rounds alternate, medians reported.

    python benchmarks/bench_target_update.py [--rounds 5] [--repeats 100]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from agents.networks import TwinQ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    src = list(TwinQ(49, 4, (400, 400, 400)).parameters())
    dst = list(TwinQ(49, 4, (400, 400, 400)).parameters())
    ok, tau = torch.tensor(True), 0.005

    def three_passes() -> None:
        moved = torch._foreach_sub(src, dst)
        torch._foreach_mul_(moved, tau * ok.float())
        torch._foreach_add_(dst, moved)

    def one_lerp() -> None:
        torch._foreach_lerp_(dst, src, [tau * ok.float()] * len(dst))

    times: dict[str, list[float]] = {"sub, mul, add": [], "lerp": []}
    for _ in range(args.rounds):
        for name, fn in (("sub, mul, add", three_passes), ("lerp", one_lerp)):
            for _ in range(5):
                fn()
            t0 = time.perf_counter()
            for _ in range(args.repeats):
                fn()
            times[name].append((time.perf_counter() - t0) / args.repeats * 1000)
    for name, ts in times.items():
        print(f"{name:14} {statistics.median(ts):7.3f} ms")


if __name__ == "__main__":
    main()
