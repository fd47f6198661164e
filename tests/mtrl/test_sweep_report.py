"""`mtrl sweep` (local processes and a local Ray cluster) and `mtrl report`, on tiny real runs."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from torch.utils.tensorboard import SummaryWriter

from mtrl import report, results
from mtrl.cli import main
from mtrl.config import ConfigError
from mtrl.events import read_scalars
from mtrl.experiment import load_experiment
from mtrl.sweep import Outcome, Progress

TINY = dict(
    name="tiny",
    methods=["mean", "dibs"],
    transforms=["none", "task1:pow4"],
    seeds=[0, 1],
    tasks="reach-v3,drawer-close-v3",
    total_steps=30,
    warmup_steps=10,
    batch_per_task=8,
    hidden=[16],
    eval_interval=15,
    eval_episodes=1,
    max_episode_steps=15,
    log_interval=15,
    checkpoint_interval=15,
    vector="sync",
    device="cpu",
)
RUNS = {f"{m}__{t}__s{s}" for m in ("mean", "dibs") for t in ("none", "task1-pow4") for s in (0, 1)}


def experiment_file(tmp_path, **changes):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path


def finished(folder):
    return {p.parent.name for p in folder.glob("*/finished.json")}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(batch=8), "unknown key 'batch'"),
        (dict(methods=["mean", "nope"]), "run nope__none__s0: unknown method 'nope'"),
        (dict(transforms=["none", "task9:pow4"]), "task index 9 is out of range"),
        (dict(transforms=["none", "task1:pow5"]), "unknown reward map 'pow5'"),
        (dict(tasks="reach-v3,nope-v3"), "unknown Meta-World task"),
        (dict(seed=3), "'seed' is set per run by the grid"),
        (dict(seeds=[0, 0]), "seeds repeat"),
        (dict(methods=[]), "'methods' must be a non-empty list"),
        (dict(method_options={"cagrad": {"c": 0.4}}), "method_options must map methods"),
    ],
)
def test_bad_experiment_file_is_one_line_exit_2_and_nothing_runs(
    tmp_path, capsys, changes, message
):
    path = experiment_file(tmp_path, **changes)
    assert main(["sweep", str(path), "--storage", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()


def test_experiment_files_in_the_repo_are_valid():
    for name in ("mt10_paper", "mt10_smoke"):
        experiment = load_experiment(f"experiments/{name}.yaml", "/tmp/unused")
        assert len(experiment.runs) >= 4
    paper = load_experiment("experiments/mt10_paper.yaml", "/tmp/unused")
    from mtrl.combine import METHODS

    assert {r.method for r in paper.runs} == {*METHODS, "nashmtl-ccp", "stl"}  # every method
    assert {r.transform for r in paper.runs} == {(), ("window-open-v3:exp",), ("task3:pow4",)}
    assert {r.seed for r in paper.runs} == set(range(10))
    assert {r.transform for r in paper.runs if r.method == "stl"} == {()}
    cfg = paper.runs[0].config
    assert (cfg.total_steps, cfg.batch_per_task, cfg.eval_interval, cfg.eval_episodes) == (
        2_000_000,
        128,
        10_000,
        50,
    )


@pytest.mark.slow
def test_local_sweep_rerun_skips_and_report_matches_the_event_files(tmp_path, capsys):
    path = experiment_file(tmp_path)
    storage = tmp_path / "runs"
    args = ["sweep", str(path), "--storage", str(storage), "--max-parallel", "2"]
    assert main(args) == 0
    assert finished(storage / "tiny") == RUNS
    models = {p: p.read_bytes() for p in (storage / "tiny").glob("*/model.pt")}
    capsys.readouterr()
    assert main(args) == 0
    assert "[8/8] 0 done · 8 skipped" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in models} == models

    assert main(["report", str(storage / "tiny"), "--format", "md"]) == 0
    out = storage / "tiny" / "report"
    with open(out / "results.csv") as f:
        rows = {(r["method"], r["transform"]): r for r in csv.DictReader(f)}
    # the report names the mapped task; the run folders keep the spec as written (task1)
    folder = {"none": "none", "drawer-close-v3-pow4": "task1-pow4"}
    assert set(rows) == {(m, t) for m in ("mean", "dibs") for t in folder}
    for (method, transform), row in rows.items():
        finals, bests = [], []
        for seed in (0, 1):
            curve = read_scalars(storage / "tiny" / f"{method}__{folder[transform]}__s{seed}")[
                "success/mean"
            ]
            finals.append(curve[-1][1])
            bests.append(max(v for _, v in curve))
        assert float(row["final_mean"]) == pytest.approx(np.mean(finals))
        assert float(row["best_mean"]) == pytest.approx(np.mean(bests))
        assert row["seeds"] == "2"
    assert "| method | transform | seeds |" in (out / "results.md").read_text()
    _assert_png(out / "curves.png")
    _assert_png(out / "robustness.png")
    _assert_png(out / "per_task_drawer-close-v3-pow4.png")


@pytest.mark.slow
def test_stl_sweep_rerun_skips_and_the_report_is_unchanged(tmp_path, capsys):
    path = experiment_file(
        tmp_path, methods=["stl"], transforms=["none"], seeds=[0], hidden=[32, 32]
    )
    storage = tmp_path / "runs"
    sweep = ["sweep", str(path), "--storage", str(storage), "--max-parallel", "1"]
    report_args = ["report", str(storage / "tiny"), "--format", "md"]
    run, csv_path = storage / "tiny" / "stl__none__s0", storage / "tiny" / "report" / "results.csv"
    assert main(sweep) == 0
    assert finished(storage / "tiny") == {"stl__none__s0"}
    files = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert main(report_args) == 0
    first = csv_path.read_text()
    capsys.readouterr()

    assert main(sweep) == 0
    err = capsys.readouterr().err
    assert "[1/1] 0 done · 1 skipped" in err and "stl__none__s0: skipped" in err, err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == files  # none trained
    assert main(report_args) == 0
    assert csv_path.read_text() == first
    assert [s for s, _ in read_scalars(run)["success/mean"]] == [15, 30]

    # an interrupted stl run (no marker, no models) continues from its checkpoint (step 15),
    # or with none starts over in its folder; either purges the earlier attempt's later
    # curves, including steps the new attempt does not reach
    for keep_checkpoints in (True, False):
        (run / "finished.json").unlink()
        for model in run.glob("stl_*.zip"):
            model.unlink()
        if not keep_checkpoints:
            shutil.rmtree(run / "checkpoints")
        stale = SummaryWriter(str(run))
        stale.add_scalar("success/mean", 0.5, 45)
        stale.close()
        assert main(sweep) == 0
        assert "[1/1] 1 done · 0 skipped" in capsys.readouterr().err
        assert [s for s, _ in read_scalars(run)["success/mean"]] == [15, 30]


@pytest.mark.slow
def test_a_run_that_stops_itself_is_an_outcome_never_retried_and_counted(tmp_path, capsys):
    # affine(1e36, 0) is a float32-finite reward whose squared TD error is inf: every update is
    # non-finite, so the guard stops the run (deterministically: a resume would stop again)
    transforms = ["none", "task1:affine(1e36,0)"]
    path = experiment_file(tmp_path, methods=["mean"], transforms=transforms, seeds=[0])
    path.write_text(path.read_text() + "max_nonfinite_updates: 3\n")
    storage = tmp_path / "runs"
    args = ["sweep", str(path), "--storage", str(storage), "--max-parallel", "1"]
    assert main(args) == 0  # an outcome, not a failure
    err = capsys.readouterr().err
    assert "1 done · 0 skipped · 0 running · 0 left · 0 failed · 1 stopped" in err, err
    stopped = storage / "tiny" / "mean__task1-affine1e36_0__s0"
    marker = json.loads((stopped / "stopped.json").read_text())
    assert "updates in a row had non-finite losses or gradients" in marker["reason"]
    assert set(marker["code"]) and "commit" in marker
    assert not (stopped / "finished.json").exists()
    events = {p: p.stat().st_mtime_ns for p in stopped.glob("events.out.tfevents.*")}

    assert main(args) == 0
    err = capsys.readouterr().err
    assert "mean__task1-affine1e36_0__s0: skipped (stopped itself earlier: " in err, err
    assert {p: p.stat().st_mtime_ns for p in stopped.glob("events.out.tfevents.*")} == events

    runs, notes = results.load_runs(storage / "tiny")
    (run,) = [r for r in runs if r.transform != "none"]
    assert run.stopped == marker["reason"]
    assert run.steps.tolist() == [15, 30] and not run.success.any()  # 0 after the stop
    assert notes == [
        f"{stopped.name}: stopped itself ({marker['reason']}); every task scores 0 at its "
        "evaluations (it stopped before the first)"
    ]
    assert main(["report", str(storage / "tiny"), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "results.md").read_text()
    assert "| mean | drawer-close-v3-affine1e+36_0 | 1 (1 stopped) |" in text


@pytest.mark.slow
def test_multi_task_run_writes_the_finished_marker_last(tiny):
    # the stl trainer's marker: tests/mtrl/test_stl.py
    from mtrl.sweep import run_state
    from mtrl.trainer import train

    cfg = tiny(total_steps=30, warmup_steps=10, eval_interval=15, max_episode_steps=15)
    run = train(cfg).run_dir
    assert json.loads((run / "finished.json").read_text())["step"] == 30
    assert (run / "model.pt").is_file() and run_state(run) == "done"
    # killed between model.pt and the marker: a resume finishes the contract
    (run / "finished.json").unlink()
    result = train(cfg, run)
    assert "the run had already finished" in result.notes
    assert json.loads((run / "finished.json").read_text())["step"] == 30


def test_read_scalars_keeps_the_later_write_of_a_repeated_step(tmp_path):
    # two trainings into one folder without a purge (stl runs re-run by old sweeps)
    for values in ([0.0, 0.25, 0.75], [0.5, 1.0]):
        writer = SummaryWriter(str(tmp_path))
        for i, v in enumerate(values):
            writer.add_scalar("success/a", v, (i + 1) * 100)
        writer.close()
    assert read_scalars(tmp_path)["success/a"] == [(100, 0.5), (200, 1.0), (300, 0.75)]


def test_report_reads_a_twice_written_run_once(tmp_path, run_record):
    run_record(tmp_path / "run", "mean", [], 0, ["a", "b"], [[1.0, 1.0], [1.0, 1.0]])
    writer = SummaryWriter(str(tmp_path / "run"))  # the same run trained again: lower values
    for i, row in enumerate([[0.0, 0.5], [0.5, 0.5]]):
        for task, value in zip(["a", "b"], row, strict=True):
            writer.add_scalar(f"success/{task}", value, (i + 1) * 100)
    writer.close()
    (g,) = results.group_stats(results.load_runs(tmp_path)[0])
    np.testing.assert_array_equal(g.curve_steps, [100, 200])
    assert g.final_mean == pytest.approx(0.5) and g.best_mean == pytest.approx(0.5)


@pytest.mark.slow
def test_ray_sweep_on_a_local_cluster_then_rerun_skips(tmp_path):
    pytest.importorskip("ray")
    from mtrl.experiment import load_experiment
    from mtrl.sweep import run_ray

    path = experiment_file(tmp_path, methods=["dibs"])
    experiment = load_experiment(path, tmp_path / "shared")
    lines = []
    outcomes = run_ray(experiment, None, 1, 0, out=lines.append, num_cpus=2)
    assert sorted(o.status for o in outcomes) == ["done"] * 4, lines
    assert finished(tmp_path / "shared" / "tiny") == {r for r in RUNS if r.startswith("dibs")}
    again = run_ray(experiment, None, 1, 0, out=lines.append, num_cpus=2)
    assert [o.status for o in again] == ["skipped"] * 4


@pytest.mark.slow
def test_killed_sweep_rerun_loses_no_finished_run(tmp_path):
    path = experiment_file(tmp_path, total_steps=60, eval_interval=30)
    storage = tmp_path / "runs"
    cmd = [sys.executable, "-m", "mtrl.cli", "sweep", str(path), "--storage", str(storage)]
    proc = subprocess.Popen(
        [*cmd, "--max-parallel", "1"], start_new_session=True, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while time.time() < deadline and len(finished(storage / "tiny")) < 2:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole sweep, workers too (a lost node)
    proc.wait()
    done_before = {p: p.read_bytes() for p in (storage / "tiny").glob("*/model.pt")}
    assert 2 <= len(done_before) < len(RUNS)
    assert subprocess.run([*cmd, "--max-parallel", "2"], check=False).returncode == 0
    assert finished(storage / "tiny") == RUNS
    assert {p: p.read_bytes() for p in done_before} == done_before


def test_statistics_by_hand(tmp_path, run_record):
    tasks = ["a", "b"]
    curves = {
        ("dibs", (), 0): [[0.0, 0.5], [1.0, 0.5]],
        ("dibs", (), 1): [[0.5, 0.5], [0.5, 0.5]],
        ("dibs", ("task1:pow4",), 0): [[0.0, 0.0], [1.0, 0.0]],
        ("dibs", ("task1:pow4",), 1): [[1.0, 0.0], [0.0, 0.0]],
    }
    for (method, transform, seed), success in curves.items():
        name = f"{method}__{len(transform)}__s{seed}"
        run_record(tmp_path / name, method, list(transform), seed, tasks, success)
    stats, _ = report.write_report(tmp_path, tmp_path / "out")
    by = {(g.method, g.transform): g for g in stats}
    plain, mapped = by["dibs", "none"], by["dibs", "b-pow4"]  # named by task
    assert plain.final_mean == pytest.approx(0.625)  # seeds: 0.75, 0.5
    assert plain.final_sem == pytest.approx(0.125)  # std 0.1768 / sqrt 2
    assert plain.best_mean == pytest.approx(0.625)
    assert mapped.final_mean == pytest.approx(0.25)  # 0.5, 0.0
    assert mapped.best_mean == pytest.approx(0.5)  # both seeds' best is 0.5
    assert mapped.drop == pytest.approx(0.375) and plain.drop is None
    assert plain.per_task == pytest.approx([0.75, 0.5])
    # IQM of the finals {1, 0.5, 0.5, 0.5}: the middle two, 0.5
    assert plain.iqm == pytest.approx(0.5)
    assert plain.iqm_low <= plain.iqm <= plain.iqm_high
    np.testing.assert_allclose(plain.curve_mean, [0.375, 0.625])
    _assert_png(tmp_path / "out" / "curves.png")


def test_per_task_bands_are_the_sem_over_seeds(tmp_path, run_record):
    success = np.array(  # [seeds, evals, tasks]
        [[[0.0, 1.0], [0.25, 1.0]], [[0.5, 1.0], [1.0, 0.75]], [[0.25, 1.0], [0.5, 0.5]]]
    )
    for seed, curve in enumerate(success):
        run_record(tmp_path / f"mean__s{seed}", "mean", [], seed, ["a", "b"], curve)
    (g,) = results.group_stats(results.load_runs(tmp_path)[0])
    expected = success.std(axis=0, ddof=1) / np.sqrt(3)  # over seeds, per evaluation and task
    np.testing.assert_allclose(g.task_curves_sem, expected, atol=1e-7)
    np.testing.assert_allclose(g.task_curves, success.mean(axis=0), atol=1e-7)


def test_report_on_a_folder_without_runs_is_exit_2(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no finished run with evaluations" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        results.load_runs(tmp_path / "missing")


def test_an_unfinished_run_is_left_out_unless_partial(tmp_path, run_record, capsys):
    # mid-sweep, a run at its first evaluations would count as "final" and drag its cell
    # towards the start of training
    run_record(tmp_path / "mean__s0", "mean", [], 0, ["a", "b"], [[0.5, 1.0], [1.0, 1.0]])
    run_record(tmp_path / "mean__s1", "mean", [], 1, ["a", "b"], [[0.0, 0.0]], finished=False)
    runs, notes = results.load_runs(tmp_path)
    assert [r.seed for r in runs] == [0]
    assert notes == ["mean__s1: unfinished (no finished.json), left out"]
    runs, notes = results.load_runs(tmp_path, partial=True)
    assert [r.seed for r in runs] == [0, 1]
    assert notes == ["mean__s1: unfinished (no finished.json), its last evaluation counts as final"]
    (g,) = results.group_stats(runs)
    assert g.final_mean == pytest.approx(0.5)  # (1.0 + 0.0) / 2: s1's last evaluation

    # a run from before the marker (its model written at the end) is finished; its code unknown
    (tmp_path / "mean__s1" / "model.pt").write_bytes(b"")
    runs, notes = results.load_runs(tmp_path)
    assert [r.seed for r in runs] == [0, 1]
    assert notes == [
        "mean__s1: finished before finished.json existed: which code it ran is unknown"
    ]

    # a run that stopped itself counts: 0 at each evaluation it did not reach, its best kept
    stopped = tmp_path / "mean__s2"
    config = dict(total_steps=400, eval_interval=100)
    run_record(stopped, "mean", [], 2, ["a", "b"], [[0.5, 1.0]], finished=False, **config)
    (stopped / "stopped.json").write_text(json.dumps({"reason": "3 updates in a row"}))
    runs, notes = results.load_runs(tmp_path)
    assert [r.seed for r in runs] == [0, 1, 2]
    assert runs[2].steps.tolist() == [100, 200, 300, 400]
    assert runs[2].success.tolist() == [[0.5, 1.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    assert runs[2].scores("best").tolist() == [0.5, 1.0] and not runs[2].scores("final").any()
    assert notes[-1] == (
        "mean__s2: stopped itself (3 updates in a row); every task scores 0 at its "
        "evaluations after step 100"
    )
    (g,) = results.group_stats(runs)
    assert g.stopped == 1 and g.seeds == [0, 1, 2]
    shutil.rmtree(stopped)

    # nothing finished: exit 2, and the line says how to see the unfinished runs
    (tmp_path / "mean__s1" / "model.pt").unlink()
    (tmp_path / "mean__s0" / "finished.json").unlink()
    out = tmp_path / "out"
    assert main(["report", str(tmp_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "(2 unfinished: --partial counts them)" in err, err
    assert not out.exists()
    assert main(["report", str(tmp_path), "--out", str(out), "--partial"]) == 0
    assert (out / "results.md").is_file()


def _assert_png(path):
    import matplotlib.image

    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image[..., :3].std() > 0.01  # not a blank canvas


def _sweep_with_a_run_under_way(tmp_path, methods=("mean", "dibs")):
    """A one-at-a-time sweep of the tiny grid, returned once its first run is training:
    (the sweep process, the sweep folder, the pids of its workers)."""
    path = experiment_file(
        tmp_path,
        methods=list(methods),
        total_steps=3000,
        eval_interval=3000,
        checkpoint_interval=3000,
    )
    storage = tmp_path / "runs"
    cmd = [sys.executable, "-m", "mtrl.cli", "sweep", str(path), "--storage", str(storage)]
    proc = subprocess.Popen([*cmd, "--max-parallel", "1"], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((storage / "tiny").glob("*/events.out.*")):
        time.sleep(0.2)
    time.sleep(2)
    workers = subprocess.run(
        ["pgrep", "-P", str(proc.pid), "-f", "spawn_main"], capture_output=True, text=True
    ).stdout.split()
    assert workers
    return proc, storage / "tiny", [int(pid) for pid in workers]


def test_the_progress_line_counts_interrupted_runs_apart_from_failed_ones(tmp_path):
    # a SIGTERM-ed run checkpoints and resumes exactly; the line called it "failed"
    lines: list[str] = []
    progress = Progress(load_experiment(experiment_file(tmp_path)), 2, lines.append)
    progress.add(Outcome("a", "done"))
    progress.add(Outcome("b", "interrupted", "stopped at step 20; re-run the sweep to continue"))
    progress.add(Outcome("c", "interrupted", "not started"))
    progress.add(Outcome("d", "failed", "ValueError: no"))
    head = "[3/8] 1 done · 0 skipped · 2 running · 5 left · 0 failed · 2 interrupted —"
    assert lines[2].startswith(head), lines
    assert " · 1 failed · 2 interrupted — d: failed (ValueError: no)" in lines[3]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "ending"),
    [
        # SIGTERM to the worker only (as a batch system might send it): its run checkpoints
        (signal.SIGTERM, "interrupted (stopped at step"),
        # SIGKILL (or the OOM killer) breaks the process pool: it ended the sweep in a
        # BrokenProcessPool traceback
        (signal.SIGKILL, "failed (its worker process died"),
    ],
)
def test_a_signal_to_the_runs_stops_the_sweep_from_starting_others(tmp_path, signum, ending):
    # the run says how it ended in one line, the sweep starts no further run
    proc, folder, workers = _sweep_with_a_run_under_way(tmp_path)
    for pid in workers:
        os.kill(pid, signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert ending in err and "not started" in err and "Traceback" not in err, err
    assert len(list(folder.iterdir())) == 1  # no second run was started


@pytest.mark.slow
def test_sigterm_to_a_sweep_of_stl_runs_stops_them_cleanly(tmp_path):
    # `pkill -f "mtrl sweep …"` signals the workers too: the stl trainer had no handler, so
    # its worker died and the sweep ended in a BrokenProcessPool traceback
    proc, folder, _ = _sweep_with_a_run_under_way(tmp_path, methods=["stl"])
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "stl__none__s0: interrupted (stopped at step" in err, err
    assert "not started" in err and len(list(folder.iterdir())) == 1, err


def test_event_files_are_read_in_creation_order_with_writer_numbers_compared_as_numbers(tmp_path):
    # one process's 10th writer ("….9") and 11th ("….10") in the same second: a name sort
    # would read the 11th first and let the older values win
    for uid, value in ((9, 0.0), (10, 1.0)):
        folder = tmp_path / f"w{uid}"
        writer = SummaryWriter(str(folder))
        writer.add_scalar("success/a", value, 100)
        writer.close()
        (event,) = folder.glob("events.out.tfevents.*")
        event.rename(tmp_path / f"events.out.tfevents.1700000000.host.42.{uid}")
    assert read_scalars(tmp_path)["success/a"] == [(100, 1.0)]


@pytest.mark.slow
def test_sigterm_to_the_sweep_alone_reaches_its_workers_and_leaves_no_orphan(tmp_path):
    # `kill <sweep pid>`: without forwarding, the spawned workers trained on, orphaned
    proc, _, workers = _sweep_with_a_run_under_way(tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "interrupted (stopped at step" in err and "not started" in err, err
    time.sleep(1)
    for pid in workers:
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().split()[2] == "Z"  # gone (or a zombie)
