"""What the twin critics as one stacked network would save: the critic's loss, forward and
backward, as two MLPs (``agents.networks.TwinQ`` today: an ``addmm`` per layer per net)
against one stacked MLP (a ``baddbmm`` per layer over both nets), interleaved.

Not used by the trainer: stacking changes the order of floating-point operations, so
every run's numbers, and the CPU study runs on today's layout; this measures the cut
before it is made.

    OMP_NUM_THREADS=1 python benchmarks/bench_stacked_critic.py --tasks 2 --hidden 256 256
    python benchmarks/bench_stacked_critic.py --tasks 10 --hidden 400 400 400
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import torch
import torch.nn.functional as F
from matmul_limit import record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=2)
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    parser.add_argument("--batch-per-task", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=50)
    a = parser.parse_args()
    torch.manual_seed(0)
    k, b, in_dim = a.tasks, a.batch_per_task, 39 + a.tasks + 4
    dims = [in_dim, *a.hidden, 1]
    x, target = torch.randn(k, b, in_dim), torch.randn(k, b)
    # layer l of both nets: weight [2, out, in], bias [2, out]
    stacked = [
        (
            (torch.randn(2, o, i) / i**0.5).requires_grad_(),
            torch.zeros(2, o).requires_grad_(),
        )
        for i, o in itertools.pairwise(dims)
    ]
    twins = [
        [
            (w[n].detach().clone().requires_grad_(), bias[n].detach().clone().requires_grad_())
            for w, bias in stacked
        ]
        for n in range(2)
    ]
    last = len(dims) - 2

    def two_nets() -> None:
        qs = []
        for net in twins:
            z = x
            for layer, (w, bias) in enumerate(net):
                z = F.linear(z, w, bias)
                z = F.relu(z) if layer < last else z
            qs.append(z.squeeze(-1))
        loss = ((qs[0] - target) ** 2).mean(1) + ((qs[1] - target) ** 2).mean(1)
        loss.sum().backward()

    def one_stacked() -> None:
        z = x.reshape(1, k * b, in_dim).expand(2, k * b, in_dim)
        for layer, (w, bias) in enumerate(stacked):
            z = torch.baddbmm(bias.unsqueeze(1), z, w.transpose(1, 2))
            z = F.relu(z) if layer < last else z
        q = z.squeeze(-1).reshape(2, k, b)
        ((q - target) ** 2).mean(2).sum(0).sum().backward()

    variants = {"two nets (today)": two_nets, "one stacked": one_stacked}
    ops = {name: record(fn)[1] for name, fn in variants.items()}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(a.rounds):
        for name in variants if r % 2 == 0 else list(variants)[::-1]:
            fn = variants[name]
            t0 = time.perf_counter()
            for _ in range(a.repeats):
                fn()
            times[name].append((time.perf_counter() - t0) / a.repeats * 1000)
    print(f"K={k} hidden={a.hidden} batch/task={b} threads={torch.get_num_threads()}")
    base = statistics.median(times["two nets (today)"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:18} {med:7.3f} ms  {med / base:5.2f}x  ops {ops[name]}")


if __name__ == "__main__":
    main()
