import numpy as np
import pytest

import envs


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


def test_vector_auto_measures_both_kinds_and_keeps_the_faster():
    names = ["reach-v3", "drawer-close-v3"]
    choice, rates = envs.choose_vector_strategy(names, seed=0, max_episode_steps=20, steps=5)
    assert set(rates) == {"sync", "async"}
    assert all(r > 0 for r in rates.values())
    assert rates[choice] == max(rates.values())
