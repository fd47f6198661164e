"""Kill a small training run with SIGKILL at random moments, resume it each time, and check it.

The run (two tasks, tiny networks, a checkpoint every 30 steps) is started with
``mtrl train``, killed with SIGKILL after a random delay, checked (every checkpoint
file on disk must read back with a valid checksum), and continued with
``mtrl train --resume``; this repeats until ``--kills`` kills have landed, then the
last resume runs to the end. The finished run is compared with the same run done in
one go: final parameters and every logged curve (``perf/`` tags aside) must be equal.

    python experiments/crash_soak.py --kills 25 --out /tmp/crash_soak

Prints a report and exits 1 if any resume failed, any checkpoint was unreadable, or
the killed-and-resumed run differs from the uninterrupted one.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from mtrl.checkpoint import list_checkpoints, read_checkpoint
from mtrl.events import read_scalars

RUN = [
    "--tasks",
    "reach-v3,drawer-close-v3",
    "--method",
    "famo",
    "--warmup-steps",
    "30",
    "--batch-per-task",
    "8",
    "--hidden",
    "16",
    "16",
    "--eval-interval",
    "60",
    "--eval-episodes",
    "1",
    "--max-episode-steps",
    "15",
    "--log-interval",
    "15",
    "--checkpoint-interval",
    "30",
    "--vector",
    "sync",
    "--device",
    "cpu",
    "--no-progress",
]
"""The small run: checkpoints fall on episode boundaries, so every resume is exact."""


@dataclass
class SoakReport:
    """What happened over the soak."""

    kills: int = 0
    kills_mid_write: int = 0
    resumes: int = 0
    failed_resumes: list[str] = field(default_factory=list)
    checkpoints_checked: int = 0
    unreadable: list[str] = field(default_factory=list)
    steps_at_kill: list[int] = field(default_factory=list)
    params_equal: bool = False
    curves_equal: bool = False

    @property
    def ok(self) -> bool:
        """Every resume worked, every checkpoint read back, and the run matches the reference."""
        return (
            not self.failed_resumes
            and not self.unreadable
            and self.params_equal
            and self.curves_equal
        )

    def text(self) -> str:
        """A human-readable summary."""
        return "\n".join(
            [
                f"kills: {self.kills} ({self.kills_mid_write} during a checkpoint write)",
                f"newest checkpoint step at each kill: {self.steps_at_kill}",
                f"resumes: {self.resumes}, failed: {len(self.failed_resumes)}",
                f"checkpoint files checked: {self.checkpoints_checked}, "
                f"unreadable: {len(self.unreadable)}",
                f"final parameters equal to the uninterrupted run: {self.params_equal}",
                f"logged curves equal to the uninterrupted run: {self.curves_equal}",
                "OK" if self.ok else "FAILED",
            ]
        )


def _train(args: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "mtrl.cli", "train", *args]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _only_run(logdir: Path) -> Path | None:
    runs = [p for p in logdir.iterdir() if (p / "config.yaml").is_file()] if logdir.is_dir() else []
    return runs[0] if runs else None


def _curves(run: Path) -> dict:
    return {t: v for t, v in read_scalars(run).items() if not t.startswith("perf/")}


def _params(run: Path) -> dict:
    model = torch.load(run / "model.pt", map_location="cpu", weights_only=False)
    return {f"{part}.{k}": v for part in ("actor", "critic") for k, v in model[part].items()}


def _timed_reference(out: Path, steps: int) -> tuple[float, float]:
    """Run the uninterrupted reference; return (seconds to its first checkpoint, to its end)."""
    begin = time.perf_counter()
    whole = _train([*RUN, "--total-steps", str(steps), "--logdir", str(out / "whole")])
    first = None
    while whole.poll() is None:
        if first is None and list((out / "whole").glob("*/checkpoints/step_*")):
            first = time.perf_counter() - begin
        time.sleep(0.02)
    if whole.returncode != 0:
        raise RuntimeError(f"the uninterrupted run failed: {whole.stderr.read()}")
    end = time.perf_counter() - begin
    return (first or end), end


def _killed_run(
    logdir: Path,
    steps: int,
    kills: int,
    delays: tuple[float, float],
    rng: random.Random,
    report: SoakReport,
) -> Path | None:
    """Start a run, SIGKILL and resume it until ``report.kills`` reaches ``kills`` or it ends."""
    proc = _train([*RUN, "--total-steps", str(steps), "--logdir", str(logdir)])
    while _only_run(logdir) is None and proc.poll() is None:
        time.sleep(0.05)  # before its config is written, a run has nothing to resume
    run = _only_run(logdir)
    if run is None:
        raise RuntimeError(f"the run did not start: {proc.stderr.read()}")
    while True:
        if report.kills < kills:
            deadline = time.time() + rng.uniform(*delays)
            while time.time() < deadline and proc.poll() is None:
                time.sleep(0.01)
        if proc.poll() is None and report.kills < kills:
            proc.kill()
            proc.wait()
            report.kills += 1
            _check_checkpoints(run / "checkpoints", report)
        else:
            code = proc.wait()
            if code != 0:
                report.failed_resumes.append(f"exit {code}: {proc.stderr.read().strip()}")
                return run
            if (run / "model.pt").exists():
                return run
        report.resumes += 1
        proc = _train(["--resume", str(run), "--no-progress"])


def _check_checkpoints(ckpt_dir: Path, report: SoakReport) -> None:
    """Read back every checkpoint on disk after a kill; record unreadable ones."""
    report.kills_mid_write += any(ckpt_dir.glob(".*.tmp"))
    files = list_checkpoints(ckpt_dir)
    report.steps_at_kill.append(int(files[-1].name[5:17]) if files else 0)
    for path in files:
        report.checkpoints_checked += 1
        try:
            read_checkpoint(path)
        except (ValueError, OSError, RuntimeError, EOFError) as err:
            report.unreadable.append(f"{path.name}: {err}")


def soak(kills: int, out: Path, steps: int = 600, seed: int = 0) -> SoakReport:
    """Run the soak in ``out`` (emptied first); return a ``SoakReport``.

    Kill delays are drawn uniformly from half the reference run's start-up time to its
    start-up plus twice a ``1/kills`` share of its training, so kills land in start-up, in
    resume, in updates, in evaluations and in checkpoint writes, and the run is still
    usually unfinished after ``kills`` kills (after them, the last life runs to the end);
    a run that finishes first is compared too, and a fresh one takes the remaining kills.
    """
    shutil.rmtree(out, ignore_errors=True)
    rng = random.Random(seed)
    report = SoakReport()
    first, end = _timed_reference(out, steps)
    low, high = 0.5 * first, first + 2.0 * (end - first) / max(kills, 1)
    reference = _only_run(out / "whole")
    assert reference is not None
    report.params_equal = report.curves_equal = True
    cycle = 0
    while report.kills < kills or cycle == 0:  # a run that ends early: kill a fresh one
        cycle += 1
        if cycle > kills + 5:
            raise RuntimeError(f"only {report.kills} kills landed in {cycle - 1} runs")
        run = _killed_run(out / f"killed{cycle}", steps, kills, (low, high), rng, report)
        if run is None or not (run / "model.pt").exists():
            report.params_equal = report.curves_equal = False
            break
        a, b = _params(reference), _params(run)
        report.params_equal &= a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        report.curves_equal &= _curves(reference) == _curves(run)
    return report


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: run the soak, print the report, exit 0 if it held."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=25)
    parser.add_argument("--steps", type=int, default=600, help="length of the run")
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill times")
    parser.add_argument("--out", type=Path, default=Path("runs/crash_soak"))
    a = parser.parse_args(argv)
    begin = time.perf_counter()
    report = soak(a.kills, a.out, a.steps, a.seed)
    print(report.text())
    print(f"in {time.perf_counter() - begin:.0f} s")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
