"""End-to-end env steps per second of `mtrl train`, and where the time of a step goes.

Runs the real trainer on the default MT10 config (10 tasks, 3×400 networks, 128
transitions per task per update, one update per vector step) for ``--steps``
steps with updates from the second step on, once plainly (the rate is what the
run logs as ``perf/env_steps_per_s``, evaluation excluded) and once with the
section profile switched on (``mtrl.profile``: each section waits for the device
at its edges, so the profiled run is a little slower; its shares are what count).
Each vector strategy (async, sync) gets both runs, side by side in one process.

    python benchmarks/bench_train.py [--steps 400] [--method mean] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from mtrl.config import TrainConfig
from mtrl.events import read_scalars
from mtrl.profile import PROFILE, SECTIONS
from mtrl.trainer import train

PER_STEP = [s for s in SECTIONS if s not in ("eval", "checkpoint")]
"""Sections that run every step (evaluation and checkpoints are left out of the table)."""
NUM_TASKS = 10


def run(args: argparse.Namespace, vector: str, logdir: Path, profiled: bool) -> dict[str, float]:
    """One training run; its steady rate (and, if ``profiled``, ms per step by section)."""
    cfg = TrainConfig(
        method=args.method,
        total_steps=args.steps,
        warmup_steps=0,
        eval_interval=10**9,
        eval_episodes=1,
        log_interval=args.log_interval,
        checkpoint_interval=10**9,
        checkpoint_replay=False,
        device=args.device,
        vector=vector,
        seed=0,
        logdir=str(logdir),
        progress=False,
    )
    if profiled:
        PROFILE.enable(args.device)
    result = train(cfg)
    PROFILE.disable()
    rates = [v for s, v in read_scalars(result.run_dir)["perf/env_steps_per_s"]]
    out = {"env_steps_per_s": statistics.median(rates[1:] or rates)}
    if profiled:
        for s in PER_STEP:
            out[s] = 1000 * PROFILE.seconds.get(s, 0.0) / args.steps
        # the loop's own bookkeeping: a step's wall time (from the logged rate) outside sections
        step_ms = 1000 * NUM_TASKS / out["env_steps_per_s"]
        out["other"] = max(step_ms - sum(out[s] for s in PER_STEP), 0.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400, help="vector steps per run")
    parser.add_argument("--log-interval", type=int, default=50)
    parser.add_argument("--method", default="mean")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--vector", nargs="+", default=["async", "sync"])
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for vector in args.vector:
            plain = run(args, vector, Path(tmp) / f"{vector}-plain", profiled=False)
            prof = run(args, vector, Path(tmp) / f"{vector}-profiled", profiled=True)
            results[vector] = {**prof, "env_steps_per_s": plain["env_steps_per_s"]}
    k = NUM_TASKS
    print(
        f"MT10 {args.method} device={args.device} threads={torch.get_num_threads()} "
        f"steps={args.steps} (updates from step 2)"
    )
    header = f"{'':16}" + "".join(f"{v:>18}" for v in results)
    print(header)
    rows = [*PER_STEP, "other"]
    for s in rows:
        cells = []
        for r in results.values():
            total = sum(r[x] for x in rows)
            cells.append(f"{r[s]:9.2f} ms {100 * r[s] / total:4.0f}%")
        print(f"{s:16}" + "".join(f"{c:>18}" for c in cells))
    runs = list(results.values())
    print(f"{'step (profiled)':16}" + "".join(f"{sum(r[x] for x in rows):15.2f} ms" for r in runs))
    print(f"{'env steps/s':16}" + "".join(f"{r['env_steps_per_s']:18.1f}" for r in runs))
    hours = [2e6 * k / r["env_steps_per_s"] / 3600 for r in results.values()]
    print(f"{'2M steps (h)':16}" + "".join(f"{h:18.1f}" for h in hours))


if __name__ == "__main__":
    main()
