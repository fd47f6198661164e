"""Evaluation's cost: its two stepping paths side by side, and its share of a study run.

``--part step`` times ``evaluate`` on the CPU study's evaluation env (reach-v3 +
drawer-close-v3, sync, one thread, a study-shaped actor) through the vector env's
``step`` (``vector_step``, what evaluation did before) and through the sub-envs
(``sub_env_step``, today's default), interleaved round by round; both give the same
result (``tests/mtrl/test_evaluate.py``).

``--part share`` runs `mtrl sweep` of two study-shaped runs at once (the sweep's
default on 2 cores) at the study's schedule scaled to ``--steps`` (warm-up 1/16 of
the run, 25 evaluation episodes per task per 10k steps, all of them at the end, as
``bench_runs_per_hour.experiment`` builds it) and reads each run's evaluation time
from its event file: the wall time between the last training log and the
evaluation's scalars at the final step, over the run's wall time (its event file's
creation to ``finished.json``). ``--code DIR`` (repeatable, alternated) runs the sweep
with ``PYTHONPATH=DIR``, to compare versions of the code.

    python benchmarks/bench_eval.py --part step --episodes 4 --rounds 5
    python benchmarks/bench_eval.py --part share --steps 16000 --method mean --code . --code ../old
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml
from bench_runs_per_hour import MTRL, experiment

STUDY_TASKS = ["reach-v3", "drawer-close-v3"]


def time_stepping(episodes: int, rounds: int) -> None:
    """Median seconds of ``evaluate`` per path, and their ratio."""
    import torch

    from agents.sac import MultiTaskSAC, SACHyper
    from envs import make_eval_env
    from mtrl import combine
    from mtrl.evaluate import evaluate, sub_env_step, vector_step

    torch.set_num_threads(1)
    env = make_eval_env(STUDY_TASKS, 0, "train", 500, "sync")
    k, obs_dim = env.num_envs, env.single_observation_space.shape[0]
    torch.manual_seed(0)
    agent = MultiTaskSAC(
        obs_dim, 4, k, SACHyper(hidden=(256, 256)), combine.make("mean", k), combine.make("mean", k)
    )

    def policy(obs):
        return agent.act(torch.as_tensor(obs), deterministic=True).numpy()

    paths = {"vector_step": vector_step(env), "sub_env_step": sub_env_step(env)}
    times: dict[str, list[float]] = {name: [] for name in paths}
    results = {}
    evaluate(policy, env, 1)  # warm-up
    for r in range(rounds):
        for name in paths if r % 2 == 0 else list(paths)[::-1]:
            t0 = time.perf_counter()
            results[name] = evaluate(policy, env, episodes, paths[name])
            times[name].append(time.perf_counter() - t0)
    env.close()
    same = all((results["vector_step"].returns == r.returns).all() for r in results.values())
    steps = episodes * 500
    print(f"{episodes} episodes × 500 steps × {k} tasks, {rounds} rounds; same results: {same}")
    for name, ts in times.items():
        med = statistics.median(ts)
        each = ", ".join(f"{t:.2f}" for t in ts)
        print(
            f"  {name:13} median {med:.2f} s ({1000 * med / steps:.3f} ms per vector step): {each}"
        )
    ratio = statistics.median(times["sub_env_step"]) / statistics.median(times["vector_step"])
    print(f"  sub_env_step / vector_step = {ratio:.3f}")


def run_shares(folder: Path) -> list[tuple[str, float, float]]:
    """(run, evaluation seconds, run wall seconds) of each finished run under ``folder``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = []
    for run in sorted(p for p in folder.iterdir() if (p / "finished.json").exists()):
        (events,) = run.glob("events.out.tfevents.*")
        created = int(events.name.split(".")[3])
        finished = json.loads((run / "finished.json").read_text())["finished_at"]
        end = datetime.fromisoformat(finished).timestamp()
        acc = EventAccumulator(str(run), size_guidance={"scalars": 0})
        acc.Reload()
        logged = {e.step: e.wall_time for e in acc.Scalars("perf/env_steps_per_s")}
        evals = sum(
            e.wall_time - logged[e.step] for e in acc.Scalars("success/mean") if e.step in logged
        )
        out.append((run.name, evals, end - created))
    return out


def time_shares(steps: int, method: str, codes: list[str], rounds: int) -> None:
    """Each code's runs: evaluation seconds, wall seconds and share, alternated by round."""
    spec = experiment(2, steps, "sync")
    spec["methods"] = [method]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for code in codes if r % 2 == 0 else codes[::-1]:
                folder = Path(tempfile.mkdtemp(dir=tmp))
                path = folder / "experiment.yaml"
                path.write_text(yaml.safe_dump(spec))
                env = {**os.environ, "PYTHONPATH": str(Path(code).resolve())}
                cmd = [*MTRL, "sweep", str(path), "--storage", str(folder)]
                done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=code)
                if done.returncode != 0:
                    raise SystemExit(f"{code}: sweep failed\n{done.stderr[-2000:]}")
                for name, evals, wall in run_shares(folder / spec["name"]):
                    rows.append((r + 1, code, name, evals, wall))
                    print(
                        f"  round {r + 1} {code} {name}: {evals:.1f} s of {wall:.1f} s", flush=True
                    )
    print("\n| round | code | run | evaluation s | run s | share |")
    print("|---|---|---|---|---|---|")
    for r, code, name, evals, wall in rows:
        print(f"| {r} | {code} | {name} | {evals:.1f} | {wall:.1f} | {100 * evals / wall:.1f} % |")
    for code in codes:
        shares = [e / w for _, c, _, e, w in rows if c == code]
        print(f"{code}: median share {100 * statistics.median(shares):.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["step", "share"], required=True)
    parser.add_argument("--episodes", type=int, default=4, help="--part step: per evaluation")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=16000, help="--part share: per run")
    parser.add_argument("--method", default="mean", help="--part share")
    parser.add_argument("--code", action="append", help="--part share: a source tree")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, python {sys.version.split()[0]}")
    if args.part == "step":
        time_stepping(args.episodes, args.rounds)
    else:
        time_shares(args.steps, args.method, args.code or ["."], args.rounds)


if __name__ == "__main__":
    main()
