"""The SAC update's guard: a non-finite update is skipped, counted, and leaves no trace."""

import copy

import torch

from agents.replay import Batch


def test_non_finite_update_is_skipped_and_counted(small_sac, same_state):
    torch.manual_seed(0)
    k, b, d = 2, 4, 3
    agent = small_sac("dibs", k, obs_dim=d, act_dim=1)
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
        assert same_state(after[key], before[key]), key
    assert agent.update(good)["ok"]
    assert agent.consecutive_skips == 0 and agent.skipped_updates == 3
    assert agent.take_worst_streak() == 3 and agent.take_worst_streak() == 0
    assert not same_state(agent.training_state()["module"], before["module"])
