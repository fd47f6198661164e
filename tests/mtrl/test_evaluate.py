"""``evaluate`` steps a SyncVectorEnv through its sub-envs; the result must be the vector's."""

from functools import partial

import gymnasium as gym
import numpy as np
import pytest

import envs
from mtrl.evaluate import evaluate

NAMES = ["reach-v3", "drawer-close-v3"]
SEED = 3


def _policy(obs: np.ndarray) -> np.ndarray:
    """Move the hand to the goal (so reach-v3 succeeds), plus a fixed map of the whole
    observation in float64, so a changed dtype or row changes the actions."""
    w = np.random.default_rng(0).standard_normal((obs.shape[1], envs.ACTION_DIM))
    action = 0.1 * np.tanh(obs.astype(np.float64) @ w)
    action[:, :3] += 10 * (obs[:, 36:39] - obs[:, :3])
    return np.clip(action, -1, 1).astype(np.float32)


def _state(env: gym.vector.VectorEnv) -> list:
    """Each sub-env's hand position and goal after the evaluation (where the last reset left
    it) and its RNG checkpoint."""
    hand = env.call("tcp_center")
    return [np.asarray(h).tolist() for h in hand], env.call("get_checkpoint")


def _vector_env(kind: str, lengths: tuple[int, int]) -> gym.vector.VectorEnv:
    """The two tasks as eval envs (cycling goals) of episode lengths ``lengths``."""
    fns = [
        partial(envs.make_task_env, name, i, 2, SEED, steps, True)
        for i, (name, steps) in enumerate(zip(NAMES, lengths, strict=True))
    ]
    cls = gym.vector.SyncVectorEnv if kind == "sync" else gym.vector.AsyncVectorEnv
    return cls(fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


@pytest.mark.slow
@pytest.mark.parametrize("lengths", [(40, 40), (25, 40)], ids=["together", "apart"])
def test_sub_env_stepping_gives_the_vector_envs_result_and_end_state(lengths):
    results, states = {}, {}
    for kind in ("sync", "async"):  # async can only go through the vector env's step
        env = _vector_env(kind, lengths)
        try:
            first = evaluate(_policy, env, 3)
            second = evaluate(_policy, env, 2)  # starts again from goal 0
            results[kind] = (first, second)
            states[kind] = _state(env)
        finally:
            env.close()
    for a, b in zip(results["sync"], results["async"], strict=True):
        np.testing.assert_array_equal(a.success, b.success)
        np.testing.assert_array_equal(a.returns, b.returns)
    assert states["sync"] == states["async"]
    assert results["sync"][0].returns.min() > 0  # the episodes ran
    assert results["sync"][0].success[0] > 0  # and reach-v3 succeeded
