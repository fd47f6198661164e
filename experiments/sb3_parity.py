"""mtrl's SAC (method ``mean``, one task) beside stable-baselines3's SAC, same settings.

Both train on the same Meta-World task built the same way (``envs.make_task_env``),
with the same networks, batch, learning rates, warm-up, budget and temperature
init, and are evaluated by the same function (``mtrl.evaluate``) on the same
evaluation envs. Writes ``curves.csv``, ``parity.png`` and ``summary.md`` to --out.

    python experiments/sb3_parity.py --task drawer-close-v3 --steps 50000 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
from pathlib import Path

import numpy as np

COMMON = dict(hidden=[256, 256], lr=3e-4, batch=256, gamma=0.99, tau=0.005)


def run_mtrl(
    task: str, seed: int, steps: int, warmup: int, eval_every: int, episodes: int, out: Path
):
    """One mtrl run; its eval curve read back from the event files."""
    import torch

    from mtrl.config import TrainConfig
    from mtrl.events import read_scalars
    from mtrl.trainer import train

    torch.set_num_threads(1)
    cfg = TrainConfig(
        tasks=task,
        method="mean",
        seed=seed,
        total_steps=steps,
        warmup_steps=warmup,
        batch_per_task=COMMON["batch"],
        hidden=COMMON["hidden"],
        actor_lr=COMMON["lr"],
        critic_lr=COMMON["lr"],
        alpha_lr=COMMON["lr"],
        gamma=COMMON["gamma"],
        tau=COMMON["tau"],
        eval_interval=eval_every,
        eval_episodes=episodes,
        vector="sync",
        device="cpu",
        logdir=str(out / "mtrl_runs"),
        progress=False,
    )
    s = read_scalars(train(cfg).run_dir)
    ret, suc = s[f"eval/return/{task}"], s[f"success/{task}"]
    return [("mtrl", seed, st, r, x) for (st, r), (_, x) in zip(ret, suc, strict=True)]


def run_sb3(
    task: str, seed: int, steps: int, warmup: int, eval_every: int, episodes: int, out: Path
):
    """One stable-baselines3 SAC run, evaluated every ``eval_every`` steps."""
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    import envs
    from mtrl.evaluate import evaluate

    torch.set_num_threads(1)
    env = envs.make_task_env(task, 0, 1, seed, envs.DEFAULT_MAX_EPISODE_STEPS)
    eval_env = envs.make_vector_env([task], seed + 10_000, vector="sync")
    rows = []

    class Eval(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every == 0:
                res = evaluate(
                    lambda o: self.model.predict(o, deterministic=True)[0], eval_env, episodes
                )
                rows.append(
                    ("sb3", seed, self.num_timesteps, float(res.returns[0]), float(res.success[0]))
                )
            return True

    model = SAC(
        "MlpPolicy",
        env,
        learning_rate=COMMON["lr"],
        buffer_size=steps,
        learning_starts=warmup,
        batch_size=COMMON["batch"],
        tau=COMMON["tau"],
        gamma=COMMON["gamma"],
        train_freq=1,
        gradient_steps=1,
        ent_coef="auto_1.0",
        policy_kwargs=dict(net_arch=COMMON["hidden"]),
        seed=seed,
        device="cpu",
    )
    model.learn(total_timesteps=steps, callback=Eval())
    return rows


def _job(args):
    kind, *rest = args
    return (run_mtrl if kind == "mtrl" else run_sb3)(*rest)


def main(argv: list[str] | None = None) -> None:
    """Run the study; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="drawer-close-v3")
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--warmup", type=int, default=5_000)
    parser.add_argument("--eval-every", type=int, default=5_000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("runs/sb3_parity"))
    a = parser.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    jobs = [
        (kind, a.task, s, a.steps, a.warmup, a.eval_every, a.eval_episodes, a.out)
        for s in a.seeds
        for kind in ("mtrl", "sb3")
    ]
    if a.parallel > 1:
        with mp.get_context("spawn").Pool(a.parallel) as pool:
            results = pool.map(_job, jobs, chunksize=1)
    else:
        results = [_job(job) for job in jobs]
    rows = [r for result in results for r in result]
    with open(a.out / "curves.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["framework", "seed", "step", "eval_return", "success"])
        w.writerows(rows)
    summary = summarise(rows, a)
    (a.out / "summary.md").write_text(summary)
    print(summary)
    plot(rows, a.out / "parity.png", a.task)


def summarise(rows, a) -> str:
    lines = [
        f"# mtrl vs stable-baselines3 SAC on {a.task}: {a.steps} steps, seeds {a.seeds}",
        "",
        "| framework | final eval return per seed | mean | final success per seed |",
        "|---|---|---|---|",
    ]
    for fw in ("mtrl", "sb3"):
        last = {}
        for f, seed, step, ret, suc in rows:
            if f == fw and step >= last.get(seed, (-1,))[0]:
                last[seed] = (step, ret, suc)
        rets = [last[s][1] for s in sorted(last)]
        sucs = [last[s][2] for s in sorted(last)]
        lines.append(
            f"| {fw} | {', '.join(f'{r:.0f}' for r in rets)} | {np.mean(rets):.0f} "
            f"| {', '.join(f'{x:.1f}' for x in sucs)} |"
        )
    return "\n".join(lines) + "\n"


def plot(rows, path: Path, task: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for fw, color in (("mtrl", "tab:blue"), ("sb3", "tab:orange")):
        seeds = sorted({r[1] for r in rows if r[0] == fw})
        for i, seed in enumerate(seeds):
            pts = sorted((r[2], r[3], r[4]) for r in rows if r[0] == fw and r[1] == seed)
            steps = [p[0] for p in pts]
            label = fw if i == 0 else None
            axes[0].plot(steps, [p[1] for p in pts], color=color, alpha=0.8, label=label)
            axes[1].plot(steps, [p[2] for p in pts], color=color, alpha=0.8, label=label)
    axes[0].set_title(f"{task}: evaluation return")
    axes[1].set_title(f"{task}: success rate")
    for ax in axes:
        ax.set_xlabel("env steps")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
