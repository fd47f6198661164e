import gymnasium as gym
import numpy as np
import pytest

import envs
from reward_transforms import NonFiniteReward, RewardTransform, TaskRewardTransform, make_map
from reward_transforms.wrapper import FLOAT32_MAX, transform_rewards


def test_only_the_chosen_task_is_transformed_and_raw_passes_through():
    names = ["reach-v3", "drawer-close-v3"]
    env = TaskRewardTransform(
        envs.make_vector_env(names, seed=3, max_episode_steps=10, vector="sync"),
        {1: make_map("pow4")},
    )
    plain = envs.make_vector_env(names, seed=3, max_episode_steps=10, vector="sync")
    env.reset()
    plain.reset()
    env.action_space.seed(0)
    for _ in range(12):  # crosses an episode boundary
        a = env.action_space.sample()
        _, r, _, _, info = env.step(a)
        _, r_plain, *_ = plain.step(a)
        np.testing.assert_allclose(info["raw_reward"], r_plain)
        assert r[0] == info["raw_reward"][0]
        np.testing.assert_allclose(r[1], info["raw_reward"][1] ** 4)
        assert "success" in info or "final_info" in info
    env.close()
    plain.close()


class _ConstantReward(gym.Wrapper):
    """The wrapped env's every reward replaced by ``value``."""

    def __init__(self, env, value):
        super().__init__(env)
        self.value = value

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        return obs, self.value, terminated, truncated, info


def _single(value, spec):
    base = envs.make_task_env("drawer-close-v3", 1, 2, seed=0, max_episode_steps=10)
    fn = make_map(spec) if spec else None
    return RewardTransform(_ConstantReward(base, value), fn, task=1, name="drawer-close-v3")


def _single_error(value, spec) -> str:
    """The ``NonFiniteReward`` message of one step of ``_single(value, spec)``."""
    env = _single(value, spec)
    env.reset(seed=0)
    with pytest.raises(NonFiniteReward) as err:
        env.step(env.action_space.sample())
    env.close()
    return str(err.value)


def test_single_env_wrapper_stops_an_exp_overflow_naming_task_and_map():
    # exp(1000) overflows float64
    assert _single_error(1000.0, "exp").startswith("reward map exp overflowed for task1 ")


def test_single_env_wrapper_stops_a_non_finite_env_reward_naming_the_task():
    expected = "the env returned a non-finite reward nan for task1 (drawer-close-v3)"
    assert _single_error(float("nan"), None) == expected


def test_a_reward_finite_in_float64_but_not_in_float32_is_stopped_too():
    # the replay stores float32: exp(100) = 2.7e43 would reach the networks as inf
    assert _single_error(100.0, "exp") == (
        "reward map exp overflowed for task1 (drawer-close-v3): raw reward 100 -> "
        f"{np.exp(100.0)} (beyond float32, the replay's dtype)"
    )
    ids, names = [0, 1], ["reach-v3", "drawer-close-v3"]
    with pytest.raises(NonFiniteReward, match=r"env returned a reward 1e\+39 for task0 "):
        transform_rewards(np.array([1e39, 0.5]), {}, ids, names)
    # the largest float32-finite values pass, unchanged: exp(88) = 1.65e38 < 3.4e38
    out = transform_rewards(np.array([-FLOAT32_MAX, 88.0]), {1: make_map("exp")}, ids, names)
    assert out.tolist() == [-FLOAT32_MAX, np.exp(88.0)]


class _ConstantRewards(gym.vector.VectorWrapper):
    """The wrapped vector env's rewards replaced by ``values``."""

    def __init__(self, env, values):
        super().__init__(env)
        self.values = np.asarray(values, dtype=np.float64)

    def step(self, actions):
        obs, _, terminated, truncated, info = self.env.step(actions)
        return obs, self.values.copy(), terminated, truncated, info


def test_single_and_vector_wrappers_report_the_same_overflow():
    # one check for both paths: the same raw reward of task1 gives the same message
    single = _single_error(800.0, "exp")
    names = ["reach-v3", "drawer-close-v3"]
    base = envs.make_vector_env(names, seed=0, max_episode_steps=10, vector="sync")
    vec = TaskRewardTransform(_ConstantRewards(base, [0.5, 800.0]), {1: make_map("exp")}, names)
    vec.reset(seed=0)
    with pytest.raises(NonFiniteReward) as vector:
        vec.step(vec.action_space.sample())
    vec.close()
    assert single == str(vector.value)
    assert single == (
        "reward map exp overflowed for task1 (drawer-close-v3): raw reward 800 -> inf"
    )
