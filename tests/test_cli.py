"""The real ``mtrl`` entry point: tiny runs, event files, and bad input → one line, exit 2."""

import os
import stat
import subprocess
import sys

import pytest
import yaml

from mtrl.cli import main
from mtrl.events import read_scalars


@pytest.fixture
def tiny_run(tiny_flags) -> list[str]:
    """The tiny run of tests/conftest.py for 90 steps (add ``--logdir``)."""
    return tiny_flags(total_steps=90, warmup_steps=30, eval_interval=45)


def only_run(logdir):
    (run,) = list(logdir.iterdir())
    return run


@pytest.mark.slow
def test_train_writes_config_events_and_model(tmp_path, capsys, tiny_run):
    logdir = tmp_path / "runs"
    code = main(
        [
            "train",
            *tiny_run,
            "--method",
            "dibs",
            "--transform",
            "task1:pow4",
            "--logdir",
            str(logdir),
        ]
    )
    assert code == 0
    run = only_run(logdir)
    assert run.name.startswith("2tasks__dibs__task1-pow4__s0__")
    assert {"config.yaml", "model.pt"} <= {p.name for p in run.iterdir()}
    scalars = read_scalars(run)
    for task in ("reach-v3", "drawer-close-v3"):
        assert [s for s, _ in scalars[f"success/{task}"]] == [45, 90]
        assert f"loss/critic/{task}" in scalars and f"alpha/{task}" in scalars
        assert f"combine/critic/weight/{task}" in scalars
    assert "success/mean" in scalars and "perf/env_steps_per_s" in scalars
    assert "combine/actor/cosine_min" in scalars
    # the last line before the folder: each task's success at the final evaluation, as logged
    final = capsys.readouterr().out.splitlines()[-2]
    logged = [f"{t} {scalars[f'success/{t}'][-1][1]:.2f}" for t in ("reach-v3", "drawer-close-v3")]
    assert final == f"final success (evaluation at step 90): {' · '.join(logged)}"
    # episodes of 30 steps end at 30, 60, 90; only task 1 is transformed (pow4)
    raw0, tr0 = scalars["return/raw/reach-v3"], scalars["return/transformed/reach-v3"]
    raw1, tr1 = scalars["return/raw/drawer-close-v3"], scalars["return/transformed/drawer-close-v3"]
    assert [s for s, _ in raw0] == [30, 60, 90]
    assert raw0 == tr0
    assert all(abs(t - r) > 1e-3 for (_, r), (_, t) in zip(raw1, tr1, strict=True))

    # the saved config reproduces the run's options
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["method"] == "dibs" and saved["transform"] == ["task1:pow4"]
    assert saved["tasks"] == "reach-v3,drawer-close-v3" and saved["hidden"] == [32, 32]


@pytest.mark.slow
def test_config_file_and_flag_override(tmp_path, tiny_run):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump({"method": "dibs", "seed": 4, "total_steps": 10_000}))
    logdir = tmp_path / "runs"
    assert main(["train", "--config", str(cfg), *tiny_run, "--logdir", str(logdir)]) == 0
    saved = yaml.safe_load((only_run(logdir) / "config.yaml").read_text())
    assert (saved["method"], saved["seed"], saved["total_steps"]) == ("dibs", 4, 90)


def test_tasks_table(capsys):
    assert main(["tasks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[3].split() == ["task3", "door-open-v3"] and len(lines) == 10
    assert main(["tasks", "--benchmark", "mt50"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 50


BAD = [
    (["--transform", "task1:pow5"], "unknown reward map 'pow5'"),
    (["--transform", "task2:pow4"], "task index 2 is out of range"),
    (["--transform", "door-open:exp"], "unknown task 'door-open'"),
    (["--transform", "task0:affine(1)"], "takes 2 arguments"),
    (["--transform", "task0:affine(0,1)"], "a > 0"),
    (["--transform", "task0"], "is not TASK:MAP"),
    (["--transform", "task0:exp", "--transform", "reach-v3:cube"], "already has transform"),
    (["--method", "nope"], "unknown method 'nope'"),
    (["--method", "cagrad", "--method-option", "c=-1"], "cagrad"),
    (["--method", "dibs", "--method-option", "nope=1"], "bad options for method 'dibs'"),
    (["--method-option", "c"], "is not KEY=VALUE"),
    (["--tasks", "reach-v3,open-sesame-v3"], "unknown Meta-World task"),
    (["--benchmark", "mt3", "--tasks", ""], "unknown benchmark"),
    (["--total-steps", "0"], "--total-steps must be a positive integer"),
    (["--total-steps", "-5"], "--total-steps must be a positive integer"),
    (["--total-steps", "1e3x"], "is not a valid int"),
    (["--batch-per-task", "0"], "--batch-per-task"),
    (["--eval-interval", "0"], "--eval-interval"),
    (["--warmup-steps", "-1"], "--warmup-steps"),
    (["--hidden", "0"], "--hidden"),
    (
        ["--device", "cuda"] if not __import__("torch").cuda.is_available() else ["--device", "x"],
        "device",
    ),
    (["--config", "/nonexistent.yaml"], "cannot read config file"),
    (["--no-such-flag"], "unrecognized arguments"),
    (["--gamma", "1.0"], "--gamma must be in [0, 1)"),
    (["--vector", "threads"], "unknown --vector 'threads'"),
    (
        ["--buffer-size", "1000000", "--total-steps", "1000000", "--keep-checkpoints", "100000"],
        "not enough disk under",
    ),
    (  # stl's K stable-baselines3 buffers go into its checkpoints too
        [
            "--method",
            "stl",
            "--buffer-size",
            "1000000",
            "--total-steps",
            "1000000",
            "--keep-checkpoints",
            "100000",
        ],
        "not enough disk under",
    ),
    (["--seed", "4294967296"], "--seed must be in [0, 4294967294]"),
    (["--max-episode-steps", "501"], "--max-episode-steps must be at most 500"),
    (["--actor-lr", "inf"], "--actor-lr must be > 0 and finite"),
    (["--init-temperature", "nan"], "--init-temperature must be > 0 and finite"),
    (["--run-name", "a/b"], "--run-name must be one folder name"),
    (["--method", "stl", "--method-option", "eps=1"], "--method stl takes no method options"),
    (["--method", "dibs", "--method-option", "num_tasks=3"], "'num_tasks' is not one of its"),
    (["--buffer-size", "10000000000", "--total-steps", "10000000000"], "lower --buffer-size"),
    (["--hidden", "100000", "100000"], "lower --hidden"),
    (["--config", "a\nb.yaml"], "cannot read config file a\\nb.yaml"),
    (["--config", "a\u2028b.yaml"], "cannot read config file a\\u2028b.yaml"),
]


@pytest.mark.parametrize(("extra", "message"), BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, extra, message, tiny_run):
    args = ["train", *tiny_run, "--logdir", str(tmp_path / "runs"), *extra]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


ISSUE_16 = [
    (["--seed", "-1"], "mtrl: error: --seed must be in [0, 429496729"),
    (["--seed", str(2**32)], "--seed must be in [0, 429496729"),
    (["--config", "latin1.yaml"], "is not UTF-8 text (byte 0xe9 at offset 14)"),
    (["--method", "dibs", "--method-option", "eps=abc"], "option eps must be a number > 0"),
    (
        ["--batch-per-task", "1000000000", "--tasks", "reach-v3"],
        "not enough memory on this machine",
    ),
]


@pytest.mark.parametrize(("extra", "message"), ISSUE_16, ids=[" ".join(c[0]) for c in ISSUE_16])
def test_issue_16_cases_are_one_line_exit_2_and_write_nothing(
    tmp_path, capsys, extra, message, tiny_run
):
    """The four inputs the issue found (each was a traceback, exit 1 and a run folder)."""
    (tmp_path / "latin1.yaml").write_bytes("seed: 1  # café\n".encode("latin-1"))
    before = sorted(tmp_path.rglob("*"))
    extra = [str(tmp_path / e) if e == "latin1.yaml" else e for e in extra]
    code = main(["train", *tiny_run, "--logdir", str(tmp_path / "runs"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert len(err.splitlines()) == 1 and err.startswith("mtrl: error: "), err
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.slow
def test_issue_16_cases_in_a_real_process(tmp_path):
    """The same through the console entry point: no traceback, exit 2, no run folder."""
    (tmp_path / "latin1.yaml").write_bytes("seed: 1  # café\n".encode("latin-1"))
    for extra, message in ISSUE_16:
        extra = [str(tmp_path / e) if e == "latin1.yaml" else e for e in extra]
        small = ["--total-steps", "20", "--warmup-steps", "1", "--hidden", "8", "--vector", "sync"]
        small += ["--tasks", "reach-v3", "--eval-episodes", "1", "--max-episode-steps", "10"]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "mtrl.cli",
                "train",
                *small,
                *extra,
                "--logdir",
                str(tmp_path / "r"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert len(proc.stderr.splitlines()) == 1, proc.stderr
        assert not (tmp_path / "r").exists()


BAD_SWEEP_FLAGS = [
    (["--max-parallel", str(10**12)], "--max-parallel must be in [1, 1024]"),
    (["--cpus-per-run", "nan"], "--cpus-per-run must be > 0"),
    (["--gpus-per-run", "inf"], "both finite"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--backend", "ray", "--device", "cuda:x"], "unknown device 'cuda:x'"),
]


@pytest.mark.parametrize(
    ("extra", "message"), BAD_SWEEP_FLAGS, ids=[" ".join(c[0]) for c in BAD_SWEEP_FLAGS]
)
def test_bad_sweep_flags_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch, extra, message):
    from mtrl import sweep

    monkeypatch.setattr(sweep, "run_local", lambda *a, **k: pytest.fail("the sweep started"))
    monkeypatch.setattr(sweep, "run_ray", lambda *a, **k: pytest.fail("the sweep started"))
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({"methods": ["mean"], "tasks": "reach-v3"}))
    code = main(["sweep", str(path), "--storage", str(tmp_path / "runs"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def _config_file(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return ["--config", str(path)]


def _existing_run(tmp_path):
    (tmp_path / "runs" / "mine").mkdir(parents=True)
    return ["--run-name", "mine"]


BAD_FILES = [
    ("unknown key", lambda t: _config_file(t, "batch_size: 8\n"), "unknown key 'batch_size'"),
    ("wrong type", lambda t: _config_file(t, "seed: one\n"), "option seed: 'one' is not a valid"),
    ("out of range", lambda t: _config_file(t, "tau: 2.0\n"), "--tau must be in (0, 1]"),
    ("not YAML", lambda t: _config_file(t, "seed: [1\n"), "is not valid YAML"),
    ("not a mapping", lambda t: _config_file(t, "- 1\n"), "must be a mapping"),
    ("bad date", lambda t: _config_file(t, "seed: 2020-13-45\n"), "is not valid YAML"),
    ("huge float", lambda t: _config_file(t, f"actor_lr: {'1' * 400}\n"), "option actor_lr"),
    ("int keys", lambda t: _config_file(t, "1: 2\nseed: 3\n"), "unknown key 1;"),
    ("existing run", _existing_run, "already exists; continue it with `mtrl train --resume"),
    ("resume nothing", lambda t: ["--resume", str(t / "nowhere")], "no config.yaml there"),
]


@pytest.mark.parametrize(
    ("make", "message"), [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES]
)
def test_bad_files_and_folders_are_one_line_and_exit_2(tmp_path, capsys, make, message, tiny_run):
    extra = make(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    args = ["train", *extra] if "--resume" in extra else ["train", *tiny_run, *extra]
    code = main([*args, "--logdir", str(tmp_path / "runs")] if "--resume" not in extra else args)
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_logdir_non_root(tmp_path, capsys, tiny_run):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    assert main(["train", *tiny_run, "--logdir", str(locked / "runs")]) == 2
    assert "cannot create run folder" in capsys.readouterr().err


def test_unwritable_logdir(tmp_path, capsys, tiny_run):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["train", *tiny_run, "--logdir", str(blocker / "runs")]) == 2
    err = capsys.readouterr().err
    assert "cannot create run folder" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_console_script_exit_code_and_no_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "mtrl.cli", "train", "--transform", "task3:nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("mtrl: error: transform 'task3:nope'")


@pytest.mark.slow
def test_mt10_async_with_door_open_transformed(tmp_path):
    """The issue's MT10 check at a tiny budget: ten success curves; only task3's return differs."""
    logdir = tmp_path / "runs"
    code = main(
        [
            "train",
            "--method",
            "dibs",
            "--transform",
            "task3:pow4",
            "--total-steps",
            "40",
            "--warmup-steps",
            "20",
            "--max-episode-steps",
            "20",
            "--eval-interval",
            "40",
            "--eval-episodes",
            "1",
            "--hidden",
            "32",
            "--batch-per-task",
            "8",
            "--log-interval",
            "20",
            "--device",
            "cpu",
            "--no-progress",
            "--logdir",
            str(logdir),
        ]
    )
    assert code == 0
    scalars = read_scalars(only_run(logdir))
    from envs import BENCHMARKS

    for i, task in enumerate(BENCHMARKS["mt10"]):
        assert f"success/{task}" in scalars
        raw, tr = scalars[f"return/raw/{task}"], scalars[f"return/transformed/{task}"]
        assert len(raw) == 2  # episodes of 20 steps end at 20 and 40
        if i == 3:
            assert raw != tr
        else:
            assert raw == tr
    assert "success/mean" in scalars


@pytest.mark.slow
def test_stl_baseline_logs_the_same_tags(tmp_path, tiny_run):
    logdir = tmp_path / "runs"
    assert (
        main(
            [
                "train",
                *tiny_run,
                "--method",
                "stl",
                "--transform",
                "task1:pow4",
                "--logdir",
                str(logdir),
            ]
        )
        == 0
    )
    run = only_run(logdir)
    assert {"stl_reach-v3.zip", "stl_drawer-close-v3.zip"} <= {p.name for p in run.iterdir()}
    scalars = read_scalars(run)
    for task in ("reach-v3", "drawer-close-v3"):
        assert [s for s, _ in scalars[f"success/{task}"]] == [45, 90]
        assert f"alpha/{task}" in scalars
    assert scalars["return/raw/reach-v3"] == scalars["return/transformed/reach-v3"]
    assert scalars["return/raw/drawer-close-v3"] != scalars["return/transformed/drawer-close-v3"]


@pytest.mark.slow
def test_method_options_reach_the_saved_config(tmp_path, tiny_run):
    logdir = tmp_path / "runs"
    assert (
        main(
            [
                "train",
                *tiny_run,
                "--method",
                "cagrad",
                "--method-option",
                "c=0.4",
                "--logdir",
                str(logdir),
            ]
        )
        == 0
    )
    saved = yaml.safe_load((only_run(logdir) / "config.yaml").read_text())
    assert saved["method"] == "cagrad" and saved["method_options"] == {"c": 0.4}
