import copy

import torch

from agents.replay import Batch


def test_target_moves_tau_of_the_way_to_the_updated_critic(small_sac):
    k, tau = 2, 0.3
    agent = small_sac("mean", k, tau=tau)
    with torch.no_grad():  # make target and online differ before the update
        for p in agent.critic_target.parameters():
            p.add_(1.0)
    before = copy.deepcopy(agent.critic_target.state_dict())
    g = torch.Generator().manual_seed(1)
    batch = Batch(
        torch.randn(k, 4, 5, generator=g),
        torch.rand(k, 4, 2, generator=g) * 2 - 1,
        torch.randn(k, 4, generator=g),
        torch.randn(k, 4, 5, generator=g),
        torch.zeros(k, 4),
    )
    assert bool(agent.update(batch)["ok"])
    online = agent.critic.state_dict()
    for name, new in agent.critic_target.state_dict().items():
        expected = before[name] + tau * (online[name] - before[name])
        torch.testing.assert_close(new, expected)
