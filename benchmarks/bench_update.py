"""One full SAC update (critic + actor + α + target) per combination method, as a ratio to mean.

All methods are timed side by side in one run on the MT10 shapes (K=10, obs 49,
act 4, 3×400 MLPs, 128 transitions per task), interleaved round by round so
machine noise hits them alike.

    python benchmarks/bench_update.py [--device cpu|cuda] [--rounds 5] [--repeats 10]

A method may carry options as ``NAME:key=value,key=value`` (e.g. ``famo:loss_after=next_batch``);
``NAME+compile`` runs that method's networks through torch.compile (``--compile``).

Each method's matrix products are also recorded once (``benchmarks/matmul_limit.py``):
its FLOPs per update, the rate it achieves, and the same products replayed alone at
their shapes in the same rounds (the matmul limit): ``of limit`` is that replay's time
over the update's, the fraction of the update spent at BLAS speed; ``ops`` counts every
op the update dispatches (kernels, views, tiny ops), what per-op overhead scales with.
The study's shapes:

    python benchmarks/bench_update.py --tasks 2 --hidden 256 256
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from matmul_limit import flops, record, time_matmuls

from agents.replay import Batch
from agents.sac import MultiTaskSAC, SACHyper
from mtrl import combine

DEFAULT_METHODS = [*combine.METHODS, "famo:loss_after=next_batch"]


def parse_spec(spec: str) -> tuple[str, dict[str, object]]:
    """``NAME`` or ``NAME:key=value,…`` → (name, options); values parsed as YAML scalars."""
    import yaml

    spec = spec.removesuffix("+compile")
    name, _, rest = spec.partition(":")
    options = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        options[key] = yaml.safe_load(value)
    return name, options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--hidden", type=int, nargs="+", default=[400, 400, 400])
    parser.add_argument("--batch-per-task", type=int, default=128)
    parser.add_argument("--methods", nargs="+", default=[m for m in DEFAULT_METHODS if m != "stl"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    a = parser.parse_args()
    dev = torch.device(a.device)
    k, b, obs_dim, act_dim = a.tasks, a.batch_per_task, 39 + a.tasks, 4
    g = torch.Generator(device=dev).manual_seed(0)
    batch = Batch(
        torch.randn(k, b, obs_dim, device=dev, generator=g),
        torch.rand(k, b, act_dim, device=dev, generator=g) * 2 - 1,
        torch.randn(k, b, device=dev, generator=g),
        torch.randn(k, b, obs_dim, device=dev, generator=g),
        torch.zeros(k, b, device=dev),
    )
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    agents = {}
    for m in a.methods:
        name, options = parse_spec(m)
        torch.manual_seed(0)
        agents[m] = MultiTaskSAC(
            obs_dim,
            act_dim,
            k,
            SACHyper(hidden=tuple(a.hidden)),
            combine.make(name, k, **options),
            combine.make(name, k, **options),
            dev,
            compile=m.endswith("+compile"),
        )
        for _ in range(2):
            agents[m].update(batch)  # warm-up
    recorded = {m: record(lambda agent=agent: agent.update(batch)) for m, agent in agents.items()}
    products = {m: r[0] for m, r in recorded.items()}
    times: dict[str, list[float]] = {m: [] for m in a.methods}
    limit: dict[str, list[float]] = {m: [] for m in a.methods}
    for _ in range(a.rounds):
        for m, agent in agents.items():
            sync()
            t0 = time.perf_counter()
            for _ in range(a.repeats):
                agent.update(batch)
            sync()
            times[m].append((time.perf_counter() - t0) / a.repeats * 1000)
            limit[m].append(time_matmuls(products[m], dev, a.repeats) * 1000)
    base = statistics.median(times["mean"]) if "mean" in times else None
    print(f"K={k} batch/task={b} hidden={a.hidden} device={dev} threads={torch.get_num_threads()}")
    print(
        f"{'method':28} {'update ms':>10} {'× mean':>7} {'GFLOP':>7} {'GFLOP/s':>8} "
        f"{'matmuls alone ms':>17} {'their GFLOP/s':>14} {'of limit':>9} {'matmuls':>8} {'ops':>5}"
    )
    for m, ts in times.items():
        med, alone = statistics.median(ts), statistics.median(limit[m])
        ratio = f"{med / base:6.2f}x" if base else "   n/a"
        gflop = flops(products[m]) / 1e9
        print(
            f"{m:28} {med:10.1f} {ratio} {gflop:7.2f} {gflop / med * 1e3:8.1f} "
            f"{alone:17.1f} {gflop / alone * 1e3:14.1f} {alone / med:9.2f} {len(products[m]):8d}"
            f" {recorded[m][1]:5d}"
        )


if __name__ == "__main__":
    main()
