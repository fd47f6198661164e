"""Whole training runs through the CLI: the same seed gives the same numbers, ``--vector
auto`` learns as ``sync`` does, and an overflowing reward map stops the run (slow)."""

import pytest

from mtrl.cli import main
from mtrl.events import read_scalars

pytestmark = pytest.mark.slow


def run_dir(logdir):
    (run,) = list(logdir.iterdir())
    return run


def test_same_seed_runs_give_identical_event_values(tmp_path, short_run):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", *short_run, "--total-steps", "60", "--logdir", str(a)]) == 0
    assert main(["train", *short_run, "--total-steps", "60", "--logdir", str(b)]) == 0
    sa, sb = read_scalars(run_dir(a)), read_scalars(run_dir(b))
    sa = {t: v for t, v in sa.items() if not t.startswith("perf/")}
    sb = {t: v for t, v in sb.items() if not t.startswith("perf/")}
    assert sa == sb and "loss/critic/reach-v3" in sa


def test_vector_auto_says_what_it_chose_and_learns_exactly_as_sync(tmp_path, capsys, short_run):
    a, b = tmp_path / "sync", tmp_path / "auto"
    auto = [x if x != "sync" else "auto" for x in short_run]
    assert main(["train", *short_run, "--total-steps", "30", "--logdir", str(a)]) == 0
    capsys.readouterr()
    assert main(["train", *auto, "--total-steps", "30", "--logdir", str(b)]) == 0
    assert "--vector auto chose " in capsys.readouterr().err
    sa, sb = read_scalars(run_dir(a)), read_scalars(run_dir(b))
    sa = {t: v for t, v in sa.items() if not t.startswith("perf/")}
    sb = {t: v for t, v in sb.items() if not t.startswith("perf/")}
    assert sa == sb


def test_overflowing_transform_stops_the_run_naming_task_and_map(tmp_path, capsys, short_run):
    code = main(
        [
            "train",
            *short_run,
            "--total-steps",
            "60",
            "--transform",
            "task0:affine(1e308,1e308)",
            "--logdir",
            str(tmp_path / "runs"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "reward map affine(1e+308,1e+308) overflowed for task0 (reach-v3)" in err
    assert len(err.strip().splitlines()) == 1
