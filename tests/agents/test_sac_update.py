import copy

import torch

from agents.replay import Batch
from agents.sac import MultiTaskSAC, SACHyper
from mtrl import combine


def test_target_moves_tau_of_the_way_to_the_updated_critic():
    k, tau = 2, 0.3
    torch.manual_seed(0)
    agent = MultiTaskSAC(
        5, 2, k, SACHyper(hidden=(8,), tau=tau), combine.make("mean", k), combine.make("mean", k)
    )
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
