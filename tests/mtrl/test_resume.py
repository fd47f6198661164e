"""Resuming a run: exactly where it stopped, past a damaged checkpoint, never changing the
run, and after a SIGTERM (real CLI runs: slow)."""

import signal
import subprocess
import sys
import time

import pytest

from mtrl.checkpoint import list_checkpoints
from mtrl.cli import main
from mtrl.events import read_scalars

pytestmark = pytest.mark.slow


def run_dir(logdir):
    (run,) = list(logdir.iterdir())
    return run


def test_resume_continues_exactly_with_no_duplicated_or_missing_steps(tmp_path, capsys, short_run):
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert main(["train", *short_run, "--total-steps", "90", "--logdir", str(whole)]) == 0
    assert main(["train", *short_run, "--total-steps", "60", "--logdir", str(split)]) == 0
    run = run_dir(split)
    assert main(["train", "--resume", str(run), "--total-steps", "90", "--no-progress"]) == 0
    assert "resumed from step_000000000060.ckpt (step 60)" in capsys.readouterr().err
    sw, ss = read_scalars(run_dir(whole)), read_scalars(run)
    for tag, values in sw.items():
        if tag.startswith("perf/"):
            continue
        steps = [s for s, _ in ss[tag]]
        assert steps == sorted(set(steps)), f"{tag} has duplicated steps"
        assert ss[tag] == values, tag
    assert [p.name for p in list_checkpoints(run / "checkpoints")][-1] == "step_000000000090.ckpt"


def test_resume_skips_a_damaged_checkpoint(tmp_path, capsys, short_run):
    logdir = tmp_path / "runs"
    assert main(["train", *short_run, "--total-steps", "60", "--logdir", str(logdir)]) == 0
    run = run_dir(logdir)
    newest = list_checkpoints(run / "checkpoints")[-1]
    newest.write_bytes(newest.read_bytes()[:1000])  # a torn write
    assert main(["train", "--resume", str(run), "--total-steps", "60", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "skipping damaged checkpoint step_000000000060.ckpt" in err
    assert "resumed from step_000000000030.ckpt (step 30)" in err


def test_finished_run_resume_is_a_no_op(tmp_path, capsys, short_run):
    logdir = tmp_path / "runs"
    assert main(["train", *short_run, "--total-steps", "30", "--logdir", str(logdir)]) == 0
    assert main(["train", "--resume", str(run_dir(logdir)), "--no-progress"]) == 0
    assert "already finished" in capsys.readouterr().err


def test_resume_refuses_to_change_the_run(tmp_path, capsys, short_run):
    logdir = tmp_path / "runs"
    assert main(["train", *short_run, "--total-steps", "30", "--logdir", str(logdir)]) == 0
    assert main(["train", "--resume", str(run_dir(logdir)), "--seed", "3"]) == 2
    assert "--seed cannot change" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "no config.yaml" in capsys.readouterr().err


def test_sigterm_checkpoints_and_exits_0_then_resumes(tmp_path, short_run):
    logdir = tmp_path / "runs"
    args = [
        sys.executable,
        "-m",
        "mtrl.cli",
        "train",
        *short_run,
        "--total-steps",
        "100000",
        "--warmup-steps",
        "100000",
        "--eval-interval",
        "100000",
        "--logdir",
        str(logdir),
    ]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(logdir.glob("*/events.out.tfevents.*")):
        time.sleep(0.5)
    time.sleep(3)  # let it take some steps
    t0 = time.time()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert time.time() - t0 < 30
    assert "SIGTERM at step" in err and "--resume" in err and "Traceback" not in err
    run = run_dir(logdir)
    ckpt = list_checkpoints(run / "checkpoints")[-1]  # periodic ones plus the signal's
    assert not (run / "model.pt").exists()
    step = int(ckpt.name[5:17])
    assert step > 0
    assert (
        main(["train", "--resume", str(run), "--total-steps", str(step + 20), "--no-progress"]) == 0
    )
    assert (run / "model.pt").exists()
