"""Probe problems for the SAC core whose right answers are known (each runs in seconds)."""

import numpy as np
import pytest
import torch

from agents.replay import MultiTaskReplay

pytestmark = pytest.mark.slow  # real SAC training, thousands of updates


@pytest.fixture
def make_agent(small_sac):
    """``make_agent(k, obs_dim, method="mean", **hyper)``: 2×32 networks, every rate 1e-3."""
    rates = dict(actor_lr=1e-3, critic_lr=1e-3, alpha_lr=1e-3)
    return lambda k, obs_dim, method="mean", **hyper: small_sac(
        method, k, obs_dim=obs_dim, act_dim=1, hidden=(32, 32), **rates, **hyper
    )


def run_probe(agent, obs, reward_fn, done, steps, batch=64):
    """Act in every task at ``obs``, store (obs, a, r, obs, done), update once per step."""
    k = obs.shape[0]
    buf = MultiTaskReplay(k, steps, obs.shape[1], 1, "cpu")
    rng = np.random.default_rng(0)
    for t in range(steps):
        if t < 100:
            act = rng.uniform(-1, 1, (k, 1)).astype(np.float32)
        else:
            act = agent.act(torch.as_tensor(obs)).numpy()
        buf.add(obs, act, reward_fn(act), obs, np.full(k, float(done)))
        if t >= 100:
            agent.update(buf.sample(batch))


def test_bandit_learns_the_best_action(make_agent):
    obs = np.ones((1, 1), dtype=np.float32)
    agent = make_agent(1, 1)
    run_probe(agent, obs, lambda a: -((a[:, 0] - 0.5) ** 2) * 10, done=True, steps=1500)
    best = agent.act(torch.as_tensor(obs), deterministic=True).item()
    assert best == pytest.approx(0.5, abs=0.1)


def test_constant_reward_value_approaches_r_over_one_minus_gamma(make_agent):
    obs = np.ones((1, 1), dtype=np.float32)
    # a negligible, slow temperature so the soft value equals the plain one
    agent = make_agent(1, 1, gamma=0.8, tau=0.05, init_temperature=1e-6)
    run_probe(agent, obs, lambda a: np.ones(1), done=False, steps=2000)
    o = torch.as_tensor(obs)
    q1, q2 = agent.critic(o, agent.act(o, deterministic=True))
    assert q1.item() == pytest.approx(5.0, abs=0.25)
    assert q2.item() == pytest.approx(5.0, abs=0.25)


@pytest.mark.parametrize("method", ["mean", "dibs"])
def test_two_tasks_need_the_task_id(method, make_agent):
    obs = np.eye(2, dtype=np.float32)  # the observation is only the one-hot task id
    targets = np.array([0.6, -0.6])
    agent = make_agent(2, 2, method=method)
    run_probe(agent, obs, lambda a: -((a[:, 0] - targets) ** 2) * 10, done=True, steps=1500)
    acts = agent.act(torch.as_tensor(obs), deterministic=True)[:, 0].numpy()
    np.testing.assert_allclose(acts, targets, atol=0.12)
