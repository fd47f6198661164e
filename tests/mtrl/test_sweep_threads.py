"""How a sweep shares the cores: one single-threaded run per core, env workers counted."""

import os
import subprocess
import sys

import pytest
import yaml

from mtrl import sweep
from mtrl.cli import main


def test_default_is_one_run_per_core_with_one_thread(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert sweep.default_parallel() == 2
    assert sweep.threads_per_run(sweep.default_parallel()) == 1
    assert sweep.threads_per_run(1) == 2  # a lone run keeps every core


@pytest.mark.parametrize(
    ("vector", "threads", "chosen"),
    [("auto", 1, "sync"), ("auto", 2, "auto"), ("async", 1, "async"), ("sync", 4, "sync")],
)
def test_auto_vector_env_is_sync_when_a_run_has_one_core(vector, threads, chosen):
    assert sweep.worker_vector(vector, threads) == chosen


def test_spawned_workers_inherit_the_thread_count_and_the_parent_is_restored(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    probe = "import torch; print(torch.get_num_threads())"
    with sweep.blas_threads(1):
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.stdout.strip() == "1"
    assert os.environ["OMP_NUM_THREADS"] == "7"
    assert "MKL_NUM_THREADS" not in os.environ


@pytest.mark.slow
def test_the_first_line_says_runs_at_once_threads_and_vector_env(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    path = tmp_path / "e.yaml"
    path.write_text(
        yaml.safe_dump(
            dict(
                name="lines",
                methods=["mean"],
                seeds=[0],
                tasks="reach-v3",
                total_steps=10,
                warmup_steps=5,
                batch_per_task=4,
                hidden=[8],
                eval_interval=10,
                eval_episodes=1,
                max_episode_steps=10,
                vector="auto",
                device="cpu",
            )
        )
    )
    assert main(["sweep", str(path), "--storage", str(tmp_path / "runs")]) == 0
    first = capsys.readouterr().err.splitlines()[0]
    assert first.endswith("2 at once, 1 thread(s) each, vector env sync")
