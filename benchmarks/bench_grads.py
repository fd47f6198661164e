"""Cost of per-task gradients G[K, P] as a multiple of one ordinary backward of the mean loss.

Measured side by side in one run on the MT10 critic and actor (K=10, obs 49, act 4,
3×400 MLPs, 128 transitions per task by default). Each timing is forward + backward.

    python benchmarks/bench_grads.py [--hidden 400 400 400] [--batch-per-task 128] [--repeats 20]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from agents.replay import Batch
from agents.sac import MultiTaskSAC, SACHyper
from mtrl import combine
from mtrl.grads import per_task_grads, per_task_grads_loop


def timeit(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn`` in milliseconds, after two warm-up calls."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return 1000 * times[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--hidden", type=int, nargs="+", default=[400, 400, 400])
    parser.add_argument("--batch-per-task", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    k, b, obs_dim, act_dim = args.tasks, args.batch_per_task, 39 + args.tasks, 4
    dev = torch.device(args.device)
    agent = MultiTaskSAC(
        obs_dim,
        act_dim,
        k,
        SACHyper(hidden=tuple(args.hidden)),
        combine.make("mean", k),
        combine.make("mean", k),
        dev,
    )
    batch = Batch(
        torch.randn(k, b, obs_dim, device=dev),
        torch.rand(k, b, act_dim, device=dev) * 2 - 1,
        torch.randn(k, b, device=dev),
        torch.randn(k, b, device=dev).new_zeros(k, b),
        torch.zeros(k, b, device=dev),
    )
    batch = batch._replace(next_obs=torch.randn(k, b, obs_dim, device=dev))
    target = agent.td_target(batch)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def critic_fn(p):
        return agent.critic_losses(batch, p, target)

    def actor_fn(p):
        return agent.actor_losses(batch, p)[0]

    print(
        f"K={k} batch/task={b} hidden={args.hidden} device={dev} threads={torch.get_num_threads()}"
    )
    head = ("network", "mean backward", "batched G", "loop G", "batched/mean", "loop/mean")
    print("{:8} {:>14} {:>10} {:>8} {:>13} {:>10}".format(*head))
    for name, fn, params in (
        ("critic", critic_fn, agent.critic_params),
        ("actor", actor_fn, agent.actor_params),
    ):
        plist = list(params.values())

        def mean_backward(fn=fn, plist=plist):
            torch.autograd.grad(fn(None).mean(), plist)
            sync()

        def batched(fn=fn, params=params):
            per_task_grads(fn, params, k)
            sync()

        def loop(fn=fn, params=params):
            per_task_grads_loop(fn, params)
            sync()

        t_mean, t_batched, t_loop = (
            timeit(f, args.repeats) for f in (mean_backward, batched, loop)
        )
        print(
            f"{name:8} {t_mean:11.2f} ms {t_batched:7.2f} ms {t_loop:5.1f} ms"
            f" {t_batched / t_mean:12.2f}x {t_loop / t_mean:9.2f}x"
        )


if __name__ == "__main__":
    main()
