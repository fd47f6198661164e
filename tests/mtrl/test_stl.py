"""`--method stl` (one SB3 SAC per task): its learning rates, reward check and finished marker."""

import json

import gymnasium as gym
import pytest

from agents.sac import SACHyper
from agents.stl import SeparateRateSAC, make_single_task_sac
from mtrl.cli import main


@pytest.fixture
def stl_run(tiny_flags) -> list[str]:
    """The tiny run through ``--method stl`` for 30 steps (add ``--tasks`` and ``--logdir``)."""
    return tiny_flags(
        method="stl",
        tasks=None,
        log_interval=None,
        total_steps=30,
        warmup_steps=10,
        batch_per_task=8,
        eval_interval=15,
        max_episode_steps=15,
    )


def _rates(model: SeparateRateSAC) -> tuple[float, float, float]:
    optimizers = (model.actor.optimizer, model.critic.optimizer, model.ent_coef_optimizer)
    return tuple(o.param_groups[0]["lr"] for o in optimizers)


def test_each_optimizer_keeps_its_own_rate_through_training():
    hyper = SACHyper(hidden=(32, 32), actor_lr=1e-3, critic_lr=2e-3, alpha_lr=5e-4)
    model = make_single_task_sac(gym.make("Pendulum-v1"), hyper, 8, 100, 10, 1, 0, "cpu")
    model.learn(20)  # SB3's train() resets every optimizer to the one schedule first
    assert model._n_updates > 0
    assert _rates(model) == (1e-3, 2e-3, 5e-4)


@pytest.mark.slow
def test_stl_run_honours_critic_and_alpha_rates_and_writes_the_marker(tmp_path, capsys, stl_run):
    logdir = tmp_path / "runs"
    args = ["train", *stl_run, "--tasks", "reach-v3,drawer-close-v3", "--logdir", str(logdir)]
    rates = ["--actor-lr", "1e-3", "--critic-lr", "2e-3", "--alpha-lr", "5e-4"]
    assert main([*args, *rates]) == 0
    (run,) = logdir.iterdir()
    assert json.loads((run / "finished.json").read_text())["step"] == 30
    final = capsys.readouterr().out.splitlines()[-2]
    assert final.startswith("final success (evaluation at step 30): reach-v3 0.")
    assert " · drawer-close-v3 " in final
    for task in ("reach-v3", "drawer-close-v3"):
        model = SeparateRateSAC.load(run / f"stl_{task}.zip", device="cpu")
        assert _rates(model) == (1e-3, 2e-3, 5e-4)


@pytest.mark.slow
def test_overflowing_transform_stops_an_stl_run_naming_task_and_map(tmp_path, capsys, stl_run):
    # reach-v3's first rewards are > 1, so affine(1e308,1e308) overflows on task1's first step
    logdir = tmp_path / "runs"
    code = main(
        [
            "train",
            *stl_run,
            "--tasks",
            "drawer-close-v3,reach-v3",
            "--transform",
            "task1:affine(1e308,1e308)",
            "--logdir",
            str(logdir),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "reward map affine(1e+308,1e+308) overflowed for task1 (reach-v3)" in err
    assert len(err.strip().splitlines()) == 1
    (run,) = logdir.iterdir()
    assert not (run / "finished.json").exists()
    assert not list(run.glob("stl_*.zip"))


@pytest.mark.parametrize("files", [["finished.json"], ["model.pt"], ["stl_a.zip", "stl_b.zip"]])
def test_finished_marker_and_the_older_runs_it_recognises(tmp_path, files):
    from mtrl.sweep import run_state

    run = tmp_path / "run"
    assert run_state(run) == "new"
    run.mkdir()
    (run / "config.yaml").write_text("method: stl\ntasks: a,b\n")
    (run / "stl_a.zip").write_bytes(b"")  # one task of two: not finished
    assert run_state(run) == "partial"
    for name in files:
        (run / name).write_bytes(b"")
    assert run_state(run) == "done"


@pytest.mark.slow
def test_sigterm_keeps_the_last_checkpoint_and_a_resume_continues_from_it(tmp_path, stl_run):
    # without the stop flag the process died on the signal; without checkpoints the resume
    # started from step 0; without the purge a step's curve was written twice
    import signal
    import subprocess
    import sys
    import time

    from mtrl.checkpoint import list_checkpoints
    from mtrl.events import read_scalars

    logdir = tmp_path / "runs"
    cadence = ["--eval-interval", "20", "--checkpoint-interval", "40", "--total-steps", "100000"]
    cmd = [sys.executable, "-m", "mtrl.cli", "train", *stl_run, *cadence]
    tasks = ["--tasks", "reach-v3,drawer-close-v3", "--max-episode-steps", "20"]
    proc = subprocess.Popen([*cmd, *tasks, "--logdir", str(logdir)], stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not list(logdir.glob("*/checkpoints/step_*.ckpt")):
        time.sleep(0.2)
    time.sleep(1)  # mid-chunk, most likely
    t0 = time.time()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    err = err.decode()
    assert proc.returncode == 0 and time.time() - t0 < 20, err
    assert "Traceback" not in err and "--resume" in err, err
    (run,) = logdir.iterdir()
    step = int(list_checkpoints(run / "checkpoints")[-1].name[5:17])
    assert f"resumes from step {step};" in err and f"SIGTERM at step {step}:" in err, err
    assert step % 40 == 0 and not (run / "finished.json").exists()

    end = step + 40
    assert main(["train", "--resume", str(run), "--total-steps", str(end), "--no-progress"]) == 0
    assert json.loads((run / "finished.json").read_text())["step"] == end
    assert [s for s, _ in read_scalars(run)["success/mean"]] == list(range(20, end + 1, 20))
    for task in ("reach-v3", "drawer-close-v3"):
        model = SeparateRateSAC.load(run / f"stl_{task}.zip", device="cpu")
        assert model.num_timesteps == end and model._n_updates == end - 10  # 10: warm-up
