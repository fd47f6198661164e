"""Runs that survive: checkpoints, exact resume, damaged files, signals, non-finite guards."""

import copy
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from agents.replay import Batch
from agents.sac import MultiTaskSAC, SACHyper
from mtrl import combine
from mtrl.checkpoint import list_checkpoints, load_latest_checkpoint, save_checkpoint
from mtrl.cli import main
from mtrl.events import read_scalars

BASE = [
    "--tasks",
    "reach-v3,drawer-close-v3",
    "--warmup-steps",
    "20",
    "--batch-per-task",
    "8",
    "--hidden",
    "16",
    "16",
    "--eval-interval",
    "30",
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
    "--method",
    "famo",
]


def run_dir(logdir):
    (run,) = list(logdir.iterdir())
    return run


def test_same_seed_runs_give_identical_event_values(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", *BASE, "--total-steps", "60", "--logdir", str(a)]) == 0
    assert main(["train", *BASE, "--total-steps", "60", "--logdir", str(b)]) == 0
    sa, sb = read_scalars(run_dir(a)), read_scalars(run_dir(b))
    sa = {t: v for t, v in sa.items() if not t.startswith("perf/")}
    sb = {t: v for t, v in sb.items() if not t.startswith("perf/")}
    assert sa == sb and "loss/critic/reach-v3" in sa


def test_vector_auto_says_what_it_chose_and_learns_exactly_as_sync(tmp_path, capsys):
    a, b = tmp_path / "sync", tmp_path / "auto"
    auto = [x if x != "sync" else "auto" for x in BASE]
    assert main(["train", *BASE, "--total-steps", "30", "--logdir", str(a)]) == 0
    capsys.readouterr()
    assert main(["train", *auto, "--total-steps", "30", "--logdir", str(b)]) == 0
    assert "--vector auto chose " in capsys.readouterr().err
    sa, sb = read_scalars(run_dir(a)), read_scalars(run_dir(b))
    sa = {t: v for t, v in sa.items() if not t.startswith("perf/")}
    sb = {t: v for t, v in sb.items() if not t.startswith("perf/")}
    assert sa == sb


def test_resume_continues_exactly_with_no_duplicated_or_missing_steps(tmp_path, capsys):
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert main(["train", *BASE, "--total-steps", "90", "--logdir", str(whole)]) == 0
    assert main(["train", *BASE, "--total-steps", "60", "--logdir", str(split)]) == 0
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


def test_resume_skips_a_damaged_checkpoint(tmp_path, capsys):
    logdir = tmp_path / "runs"
    assert main(["train", *BASE, "--total-steps", "60", "--logdir", str(logdir)]) == 0
    run = run_dir(logdir)
    newest = list_checkpoints(run / "checkpoints")[-1]
    newest.write_bytes(newest.read_bytes()[:1000])  # a torn write
    assert main(["train", "--resume", str(run), "--total-steps", "60", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "skipping damaged checkpoint step_000000000060.ckpt" in err
    assert "resumed from step_000000000030.ckpt (step 30)" in err


def test_finished_run_resume_is_a_no_op(tmp_path, capsys):
    logdir = tmp_path / "runs"
    assert main(["train", *BASE, "--total-steps", "30", "--logdir", str(logdir)]) == 0
    assert main(["train", "--resume", str(run_dir(logdir)), "--no-progress"]) == 0
    assert "already finished" in capsys.readouterr().err


def test_resume_refuses_to_change_the_run(tmp_path, capsys):
    logdir = tmp_path / "runs"
    assert main(["train", *BASE, "--total-steps", "30", "--logdir", str(logdir)]) == 0
    assert main(["train", "--resume", str(run_dir(logdir)), "--seed", "3"]) == 2
    assert "--seed cannot change" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "no config.yaml" in capsys.readouterr().err


def test_checkpoints_keep_the_newest_k_and_detect_damage(tmp_path):
    for step in range(1, 6):
        save_checkpoint(tmp_path, step, {"step": step, "x": torch.arange(step)}, keep=3)
    assert [p.name[-9:] for p in list_checkpoints(tmp_path)] == [
        "0003.ckpt",
        "0004.ckpt",
        "0005.ckpt",
    ]
    state, path = load_latest_checkpoint(tmp_path)
    assert state["step"] == 5
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # one flipped bit in the payload
    path.write_bytes(bytes(data))
    state, path = load_latest_checkpoint(tmp_path)
    assert state["step"] == 4


def test_sigterm_checkpoints_and_exits_0_then_resumes(tmp_path):
    logdir = tmp_path / "runs"
    args = [
        sys.executable,
        "-m",
        "mtrl.cli",
        "train",
        *BASE,
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


def test_overflowing_transform_stops_the_run_naming_task_and_map(tmp_path, capsys):
    code = main(
        [
            "train",
            *BASE,
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


def test_non_finite_env_reward_is_reported_by_task():
    import gymnasium as gym

    import envs
    from reward_transforms import NonFiniteReward, TaskRewardTransform

    class PoisonTask0(gym.vector.VectorWrapper):
        def step(self, actions):
            obs, r, te, tr, info = self.env.step(actions)
            r = np.array(r, dtype=np.float64)
            r[0] = np.nan
            return obs, r, te, tr, info

    base = envs.make_vector_env(["reach-v3", "push-v3"], seed=0, max_episode_steps=5, vector="sync")
    env = TaskRewardTransform(PoisonTask0(base), {}, task_names=["reach-v3", "push-v3"])
    env.reset()
    with pytest.raises(NonFiniteReward, match=r"non-finite reward nan for task0 \(reach-v3\)"):
        env.step(env.action_space.sample())
    env.close()


def test_non_finite_update_is_skipped_and_counted():
    torch.manual_seed(0)
    k, b, d = 2, 4, 3
    agent = MultiTaskSAC(
        d, 1, k, SACHyper(hidden=(8,)), combine.make("dibs", k), combine.make("dibs", k)
    )
    good = Batch(
        torch.randn(k, b, d),
        torch.zeros(k, b, 1),
        torch.zeros(k, b),
        torch.randn(k, b, d),
        torch.zeros(k, b),
    )
    assert agent.update(good)["ok"]  # so Adam's moments and step counts are not zero
    before = copy.deepcopy(agent.training_state())
    rew = torch.zeros(k, b)
    rew[1, 0] = float("nan")
    for _ in range(3):
        assert not agent.update(good._replace(rew=rew))["ok"]
    assert agent.skipped_updates == 3 and agent.consecutive_skips == 3
    after = agent.training_state()
    # networks, target, temperatures, every optimizer's moments and step: all untouched
    for key in ("module", "critic_opt", "actor_opt", "alpha_opt"):
        assert _same(after[key], before[key]), key
    assert agent.update(good)["ok"]
    assert agent.consecutive_skips == 0 and agent.skipped_updates == 3
    assert agent.take_worst_streak() == 3 and agent.take_worst_streak() == 0
    assert not _same(agent.training_state()["module"], before["module"])


def _same(a: object, b: object) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[x], b[x]) for x in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_worker_processes_ignore_ctrl_c():
    import envs

    env = envs.make_vector_env(["reach-v3"], seed=0, max_episode_steps=5, vector="async")
    env.reset()
    for p in env.processes:
        os.kill(p.pid, signal.SIGINT)
    time.sleep(0.5)
    env.step(env.action_space.sample())  # the worker is still alive
    env.close()
