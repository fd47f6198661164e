"""The vector env's worker processes: Ctrl-C reaches the trainer, not them."""

import os
import signal
import time

import pytest


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
