import numpy as np

import envs
from reward_transforms import TaskRewardTransform, make_map


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
