"""`--compile`: the networks through torch.compile give the eager path's results."""

import pytest
import torch

from agents.replay import Batch

pytestmark = pytest.mark.slow  # torch.compile


@pytest.fixture
def agent(small_sac):
    """``agent(method, compiled)``: K = 3, 6-d observations, 2×16 networks."""
    return lambda method, compiled: small_sac(
        method, 3, obs_dim=6, act_dim=2, hidden=(16, 16), compile=compiled
    )


@pytest.mark.parametrize("method", ["mean", "dibs"])  # one backward of Σ wᵢLᵢ; per-task G
def test_compiled_updates_equal_eager_updates(method, agent):
    g = torch.Generator().manual_seed(1)
    k, b = 3, 8
    batches = [
        Batch(
            torch.randn(k, b, 6, generator=g),
            torch.rand(k, b, 2, generator=g) * 2 - 1,
            torch.randn(k, b, generator=g),
            torch.randn(k, b, 6, generator=g),
            torch.zeros(k, b),
        )
        for _ in range(3)
    ]
    eager, compiled = agent(method, False), agent(method, True)
    for batch in batches:
        torch.manual_seed(2)  # the same actor noise for both
        s_eager = eager.update(batch)
        torch.manual_seed(2)
        s_comp = compiled.update(batch)
        torch.testing.assert_close(s_comp["loss/critic"], s_eager["loss/critic"])
        torch.testing.assert_close(s_comp["loss/actor"], s_eager["loss/actor"])
    for (name, p), q in zip(
        eager.state_dict().items(), compiled.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-6, msg=name)
    obs = torch.randn(k, 6, generator=g)
    torch.testing.assert_close(
        compiled.act(obs, deterministic=True), eager.act(obs, deterministic=True)
    )
    assert compiled.critic.q1.run is not eager.critic.q1.run  # it did take the compiled path
