"""Finished runs per hour of `mtrl sweep` on this machine, for several ways to share its cores.

Each *setting* is one `mtrl sweep` of ``--runs`` short study-shaped runs (the CPU
study's tasks, networks, batch and evaluation share, cut to ``--steps`` env steps
per task) with its own ``--max-parallel`` and vector env; the sweep is timed from
start to its last run's end, in a fresh folder each time. Settings alternate
within each round (round 2 runs them in reverse order) so that this VM's drift
hits each alike; the table gives the median wall time and the runs per hour it means.

    python benchmarks/bench_runs_per_hour.py --rounds 2          # 1×2 vs 2×1 threads, sync/async
    python benchmarks/bench_runs_per_hour.py --runs 4 --settings default p1  # default vs 1 at once

Settings: ``pP-VECTOR`` runs P at once (``--max-parallel P``, so each gets
cores // P threads) with the vector env VECTOR; ``default`` is `mtrl sweep` with
no ``--max-parallel`` and the file's vector env ``auto``; ``p1`` is
``--max-parallel 1`` with ``auto``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

STUDY_SHAPE = {
    "tasks": "reach-v3,drawer-close-v3",
    "method": "dibs",
    "batch_per_task": 128,
    "hidden": [256, 256],
    "log_interval": 2000,
    "device": "cpu",
}
"""The CPU study's run shape (experiments/cpu_study.yaml), less its length."""
MTRL = [sys.executable, "-c", "import sys; from mtrl.cli import main; sys.exit(main())"]
"""The `mtrl` command of this interpreter."""


def parse_setting(name: str) -> tuple[int | None, str]:
    """``(max_parallel or None for the default, vector)`` of a setting's name."""
    if name == "default":
        return None, "auto"
    head, _, vector = name.partition("-")
    if not head.startswith("p") or not head[1:].isdigit():
        raise ValueError(f"setting {name!r}: expected default, pN or pN-sync/async/auto")
    return int(head[1:]), vector or "auto"


def experiment(runs: int, steps: int, vector: str) -> dict[str, object]:
    """An experiment file of ``runs`` seeds of the study shape, ``steps`` long.

    Warm-up, evaluation and checkpoints scale with the length as in the study
    (5k warm-up and 25 episodes per 10k steps at 80k steps; one checkpoint at the end).
    """
    return {
        "name": "runs_per_hour",
        "methods": [STUDY_SHAPE["method"]],
        "seeds": runs,
        **{k: v for k, v in STUDY_SHAPE.items() if k != "method"},
        "total_steps": steps,
        "warmup_steps": max(1, steps // 16),
        "eval_interval": steps,
        "eval_episodes": max(1, round(25 * steps / 10_000)),
        "checkpoint_interval": steps,
        "vector": vector,
    }


def time_sweep(setting: str, runs: int, steps: int, workdir: Path) -> float:
    """Wall seconds of one `mtrl sweep` of the setting, in a fresh folder."""
    parallel, vector = parse_setting(setting)
    folder = Path(tempfile.mkdtemp(prefix=f"{setting}-", dir=workdir))
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(experiment(runs, steps, vector)))
    cmd = [*MTRL, "sweep", str(path), "--storage", str(folder)]
    if parallel is not None:
        cmd += ["--max-parallel", str(parallel)]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{setting}: sweep failed\n{done.stderr[-2000:]}")
    first = next((ln for ln in done.stderr.splitlines() if ln.startswith("sweep ")), "")
    print(f"  {setting}: {seconds:.1f} s — {first}", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="runs per sweep")
    parser.add_argument("--steps", type=int, default=6000, help="env steps per task per run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--settings", nargs="+", default=["p1-sync", "p1-async", "p2-sync", "p2-async"]
    )
    args = parser.parse_args()
    for name in args.settings:
        parse_setting(name)
    print(f"{os.cpu_count()} cores; {args.runs} runs of {args.steps} steps per sweep")
    times: dict[str, list[float]] = {s: [] for s in args.settings}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = args.settings if r % 2 == 0 else args.settings[::-1]
            print(f"round {r + 1}: {' '.join(order)}", flush=True)
            for setting in order:
                times[setting].append(time_sweep(setting, args.runs, args.steps, Path(tmp)))
    print("\n| setting | wall s (each round) | median s | runs/hour |")
    print("|---|---|---|---|")
    for setting, ts in times.items():
        med = statistics.median(ts)
        each = ", ".join(f"{t:.0f}" for t in ts)
        print(f"| {setting} | {each} | {med:.0f} | {3600 * args.runs / med:.1f} |")


if __name__ == "__main__":
    main()
