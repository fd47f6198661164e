import time
from functools import partial

import gymnasium as gym
import numpy as np
import pytest

import envs
from envs import metaworld_envs
from mtrl.evaluate import evaluate


def test_benchmarks_and_task_lists():
    assert len(envs.resolve_tasks("mt10")) == 10
    assert len(envs.resolve_tasks("MT50")) == 50
    assert envs.resolve_tasks("mt10")[3] == "door-open-v3"
    assert envs.resolve_tasks("mt10", "drawer-close-v3, reach-v3") == [
        "drawer-close-v3",
        "reach-v3",
    ]
    assert envs.resolve_tasks("mt10", ["reach-v3"]) == ["reach-v3"]


@pytest.mark.parametrize(
    ("benchmark", "tasks", "message"),
    [
        ("mt11", None, "unknown benchmark 'mt11'; valid: mt10, mt50"),
        ("mt10", "reach-v3,nope-v3", "unknown Meta-World task 'nope-v3'"),
        ("mt10", "reach-v3,reach-v3", "listed twice"),
        ("mt10", " , ", "empty"),
    ],
)
def test_bad_task_lists(benchmark, tasks, message):
    with pytest.raises(ValueError, match=message):
        envs.resolve_tasks(benchmark, tasks)


def test_one_hot_task_id_and_seeded_construction():
    names = ["reach-v3", "push-v3", "drawer-close-v3"]

    def rollout(seed):
        env = envs.make_vector_env(names, seed=seed, max_episode_steps=20, vector="sync")
        obs, _ = env.reset()
        assert obs.shape == (3, 39 + 3)
        np.testing.assert_array_equal(obs[:, -3:], np.eye(3))
        env.action_space.seed(0)
        seq = [obs]
        for _ in range(5):
            obs, *_ = env.step(env.action_space.sample())
            seq.append(obs)
        env.close()
        return np.stack(seq)

    a, b, c = rollout(1), rollout(1), rollout(2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_async_matches_sync():
    names = ["reach-v3", "drawer-close-v3"]
    out = []
    for vector in ("sync", "async"):
        env = envs.make_vector_env(names, seed=5, max_episode_steps=20, vector=vector)
        obs, _ = env.reset()
        env.action_space.seed(1)
        obs, r, *_ = env.step(env.action_space.sample())
        out.append((obs, r))
        env.close()
    np.testing.assert_allclose(out[0][0], out[1][0])
    np.testing.assert_allclose(out[0][1], out[1][1])


class _Toy(gym.Env):
    """A stand-in task env whose step sleeps ``delay`` seconds."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)

    def __init__(self, delay: float):
        self.delay = delay

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        time.sleep(self.delay)
        return np.zeros(1, np.float32), 0.0, False, False, {}


@pytest.mark.parametrize("slow", ["sync", "async"])
def test_vector_auto_keeps_the_kind_that_measured_faster(monkeypatch, slow):
    """Whichever kind is made slow (20 ms per sub-env step) loses, and its rate shows it."""
    delay = 0.02

    def fake_make_vector_env(task_names, seed, max_episode_steps, vector):
        env_delay = delay if vector == slow else 0.0
        return gym.vector.SyncVectorEnv([partial(_Toy, env_delay) for _ in task_names])

    monkeypatch.setattr(metaworld_envs, "make_vector_env", fake_make_vector_env)
    names = ["reach-v3", "drawer-close-v3"]
    choice, rates = envs.choose_vector_strategy(names, seed=0, max_episode_steps=20, steps=5)
    fast = "async" if slow == "sync" else "sync"
    assert choice == fast
    assert set(rates) == {"sync", "async"}
    assert 0 < rates[slow] <= 1 / delay  # env steps per second, each sub-env step sleeping
    assert rates[fast] > 10 * rates[slow]


NAMES = ["reach-v3", "drawer-close-v3"]
SEED = 3
STEPS = 3  # a short episode: the goal is set at reset, the steps do not matter


class _GoalRecorder:
    """A policy (zero actions) that records, at each episode's first step, every task's goal.

    The goal is read from the sub-envs themselves (Meta-World's frozen ``rand_vec``)
    and, for reach-v3 (task 0), also from the observation the policy gets.
    """

    def __init__(self, env: gym.vector.SyncVectorEnv, steps_per_episode: int):
        self.env, self.steps = env, steps_per_episode
        self.calls = 0
        self.goals: list[list[np.ndarray]] = []
        self.observed_reach_goal: list[np.ndarray] = []

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if self.calls % self.steps == 0:
            self.goals.append([e.unwrapped._last_rand_vec.copy() for e in self.env.envs])
            self.observed_reach_goal.append(obs[0, 36:39].copy())
        self.calls += 1
        return np.zeros((self.env.num_envs, envs.ACTION_DIM))

    def visited(self, task: int) -> np.ndarray:
        return np.stack([g[task] for g in self.goals])


@pytest.fixture(scope="module")
def training_goals() -> list[np.ndarray]:
    """Each task's 50 goals in the training env of seed ``SEED``; training resets draw them."""
    env = envs.make_vector_env(NAMES, SEED, STEPS, vector="sync")
    goals = [envs.task_goals(e) for e in env.envs]
    for _ in range(5):
        env.reset()
        for e, g in zip(env.envs, goals, strict=True):
            assert (g == e.unwrapped._last_rand_vec).all(axis=1).any()
    env.close()
    return goals


def test_default_evaluation_visits_exactly_the_training_goals_in_order(training_goals):
    env = envs.make_eval_env(NAMES, SEED, "train", STEPS, vector="sync")
    policy = _GoalRecorder(env, STEPS)
    evaluate(policy, env, 50)
    env.close()
    for task, goals in enumerate(training_goals):
        assert goals.shape[0] == 50
        np.testing.assert_array_equal(policy.visited(task), goals)  # goal e in episode e
    # the policy sees the same goal: reach-v3's target is the last 3 entries of its rand_vec
    np.testing.assert_allclose(np.stack(policy.observed_reach_goal), training_goals[0][:, 3:])


def test_heldout_evaluation_visits_50_goals_none_of_them_a_training_goal(training_goals):
    env = envs.make_eval_env(NAMES, SEED, "heldout", STEPS, vector="sync")
    policy = _GoalRecorder(env, STEPS)
    evaluate(policy, env, 50)
    env.close()
    for task, goals in enumerate(training_goals):
        visited = policy.visited(task)
        assert len(np.unique(visited, axis=0)) == 50
        shared = (visited[:, None, :] == goals[None, :, :]).all(axis=2)
        assert not shared.any()


def test_fewer_episodes_visit_goals_0_to_e_at_every_evaluation_and_more_wrap(training_goals):
    env = envs.make_eval_env(NAMES, SEED, "train", STEPS, vector="sync")
    for episodes, expected in ((7, range(7)), (7, range(7)), (52, [*range(50), 0, 1])):
        policy = _GoalRecorder(env, STEPS)
        evaluate(policy, env, episodes)
        for task, goals in enumerate(training_goals):
            np.testing.assert_array_equal(policy.visited(task), goals[list(expected)])
    env.close()


def test_tasks_ending_apart_still_start_each_episode_on_its_goal(training_goals):
    """Task 0 ends after 3 steps, task 1 after 5: task 0 runs on alone, then both reset."""
    fns = [
        partial(envs.make_task_env, NAMES[0], 0, 2, SEED, 3, True),
        partial(envs.make_task_env, NAMES[1], 1, 2, SEED, 5, True),
    ]
    env = gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    policy = _GoalRecorder(env, 5)  # every episode takes the longer task's 5 steps
    result = evaluate(policy, env, 4)
    env.close()
    for task, goals in enumerate(training_goals):
        np.testing.assert_array_equal(policy.visited(task), goals[:4])
    assert result.success.shape == (2,)


def test_eval_goals_are_checked():
    with pytest.raises(ValueError, match="unknown eval goals 'test'; valid: train, heldout"):
        envs.make_eval_env(NAMES, SEED, "test", STEPS, vector="sync")
