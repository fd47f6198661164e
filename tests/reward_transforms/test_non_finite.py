"""A non-finite reward from the env is stopped at the reward wrapper, naming its task."""

import numpy as np
import pytest


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
