import pytest
import torch

from agents.replay import Batch
from mtrl.grads import combined_backward, per_task_grads, per_task_grads_loop, write_grad


@pytest.fixture
def small_agent(small_sac):
    """``small_agent(k=3, method="mean", obs_dim=7, act_dim=2)``: 2×16 networks."""
    return lambda k=3, method="mean", obs_dim=7, act_dim=2: small_sac(
        method, k, obs_dim=obs_dim, act_dim=act_dim, hidden=(16, 16)
    )


def random_batch(k=3, b=5, obs_dim=7, act_dim=2):
    g = torch.Generator().manual_seed(1)
    return Batch(
        torch.randn(k, b, obs_dim, generator=g),
        torch.rand(k, b, act_dim, generator=g) * 2 - 1,
        torch.randn(k, b, generator=g),
        torch.randn(k, b, obs_dim, generator=g),
        (torch.rand(k, b, generator=g) < 0.2).float(),
    )


def test_batched_critic_grads_equal_the_loop_reference(small_agent):
    agent, batch = small_agent(), random_batch()
    target = agent.td_target(batch)

    def fn(p):
        return agent.critic_losses(batch, p, target)

    losses, g = per_task_grads(fn, agent.critic_params, 3)
    ref_losses, ref = per_task_grads_loop(fn, agent.critic_params)
    assert g.shape == (3, sum(p.numel() for p in agent.critic.parameters()))
    torch.testing.assert_close(losses, ref_losses)
    torch.testing.assert_close(g, ref, rtol=1e-5, atol=1e-6)
    assert (g.norm(dim=1) > 0).all()


def test_batched_actor_grads_equal_the_loop_reference(small_agent):
    agent, batch = small_agent(), random_batch()

    def fn(p):
        torch.manual_seed(5)  # same noise in both computations
        return agent.actor_losses(batch, p)[0]

    losses, g = per_task_grads(fn, agent.actor_params, 3)
    ref_losses, ref = per_task_grads_loop(fn, agent.actor_params)
    torch.testing.assert_close(losses, ref_losses)
    torch.testing.assert_close(g, ref, rtol=1e-5, atol=1e-6)


def test_rows_are_per_task_gradients(small_agent):
    """Row i equals the gradient of task i's loss alone (not of the sum)."""
    agent, batch = small_agent(), random_batch()
    target = agent.td_target(batch)
    _, g = per_task_grads(lambda p: agent.critic_losses(batch, p, target), agent.critic_params, 3)
    loss1 = agent.critic_losses(batch, None, target)[1]
    grads = torch.autograd.grad(loss1, list(agent.critic.parameters()))
    torch.testing.assert_close(
        g[1], torch.cat([x.reshape(-1) for x in grads]), rtol=1e-5, atol=1e-6
    )


def test_mean_path_equals_the_gradient_of_the_mean_loss(small_agent):
    agent, batch = small_agent(method="mean"), random_batch()
    target = agent.td_target(batch)
    combined_backward(
        agent.critic_combiner, lambda p: agent.critic_losses(batch, p, target), agent.critic_params
    )
    got = torch.cat([p.grad.reshape(-1) for p in agent.critic.parameters()])
    loss = agent.critic_losses(batch, None, target).mean()
    want = torch.cat(
        [x.reshape(-1) for x in torch.autograd.grad(loss, list(agent.critic.parameters()))]
    )
    torch.testing.assert_close(got, want)
    assert all(p.grad is None for p in agent.actor.parameters())


def test_dibs_path_writes_the_normalised_sum(small_agent):
    agent, batch = small_agent(method="dibs"), random_batch()
    target = agent.td_target(batch)

    def fn(p):
        return agent.critic_losses(batch, p, target)

    _, g = per_task_grads_loop(fn, agent.critic_params)
    combined_backward(agent.critic_combiner, fn, agent.critic_params)
    got = torch.cat([p.grad.reshape(-1) for p in agent.critic.parameters()])
    want = (g / g.norm(dim=1, keepdim=True)).sum(0)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_write_grad_checks_the_size():
    p = {"a": torch.nn.Parameter(torch.zeros(2, 2)), "b": torch.nn.Parameter(torch.zeros(3))}
    write_grad(p, torch.arange(7.0))
    torch.testing.assert_close(p["a"].grad, torch.tensor([[0.0, 1.0], [2.0, 3.0]]))
    torch.testing.assert_close(p["b"].grad, torch.tensor([4.0, 5.0, 6.0]))
    with pytest.raises(ValueError, match="direction has 8 entries"):
        write_grad(p, torch.arange(8.0))


def test_a_copy_used_twice_still_gets_its_summed_per_task_gradient():
    """Layers write G in place on a copy's first use only; a second use is summed in."""
    from agents.networks import linear

    g = torch.Generator().manual_seed(3)
    w = torch.randn(4, 4, generator=g, requires_grad=True)
    b = torch.randn(4, generator=g, requires_grad=True)
    x = torch.randn(3, 5, 4, generator=g)
    params = {"w": w, "b": b}

    def fn(p):
        ww, bb = (w, b) if p is None else (p["w"], p["b"])
        if p is None:
            ww, bb = ww.expand(3, 4, 4), bb.expand(3, 4)
        y = linear(torch.tanh(linear(x, ww, bb)), ww, bb)
        return y.pow(2).mean(dim=(1, 2))

    losses, grads = per_task_grads(fn, params, 3)
    ref_losses, ref = per_task_grads_loop(fn, params)
    torch.testing.assert_close(losses, ref_losses)
    torch.testing.assert_close(grads, ref)
