"""FAMO: hand-computed weights and logit steps, the MT10 defaults, the actor's mean in SAC."""

import itertools

import pytest
import torch

from agents.replay import Batch
from mtrl.combine import make, make_pair
from mtrl.combine.famo import FAMO
from mtrl.combine.mean import Mean


def test_famo_weights_and_logit_update():
    famo = make("famo", 2)
    out = famo(torch.tensor([1.0, 2.0]))
    # z = (½, ½), c = 1 / (½/1 + ½/2) = 4/3, w = c z / L = (2/3, 1/3)
    torch.testing.assert_close(out.weights, torch.tensor([2 / 3, 1 / 3]))
    famo.after_step(torch.tensor([0.5, 1.9]))  # task 0 improved far more
    # J_zᵀδ = z ⊙ (δ − zᵀδ) has the sign of (δ₀ − δ₁, δ₁ − δ₀): Adam's first step is ∓lr
    torch.testing.assert_close(famo.logits.detach(), torch.tensor([-0.025, 0.025]))


def test_famo_a_loss_below_its_bound_moves_the_bound_and_the_weights_follow_the_shift():
    famo = make("famo", 2)  # the bound matters only for actor=famo (negative actor losses)
    out = famo(torch.tensor([-3.0, 2.0]))
    assert famo.bound.tolist() == [-4.0, 0.0]
    # shifted losses (1, 2): the same hand-computed weights as above
    torch.testing.assert_close(out.weights, torch.tensor([2 / 3, 1 / 3]))
    famo.after_step(torch.tensor([-3.5, 1.9]))  # shifted (0.5, 1.9): task 0 improved more
    torch.testing.assert_close(famo.logits.detach(), torch.tensor([-0.025, 0.025]))


def test_famo_defaults_are_the_mt10_run():
    famo = make("famo", 3)
    group = famo.opt.param_groups[0]
    assert group["lr"] == 0.025 and group["weight_decay"] == 0.01  # run.sh: wlr, gamma


def _update_stats(small_sac, method: str, **options):
    k = 3
    agent = small_sac(method, k, options=options)
    g = torch.Generator().manual_seed(1)
    batch = Batch(
        torch.randn(k, 4, 5, generator=g),
        torch.rand(k, 4, 2, generator=g) * 2 - 1,
        torch.randn(k, 4, generator=g) * torch.tensor([[1.0], [5.0], [20.0]]),
        torch.randn(k, 4, 5, generator=g),
        torch.zeros(k, 4),
    )
    return agent, agent.update(batch)


def test_famo_actor_gets_the_mean_by_default_and_actor_famo_switches_it(small_sac):
    agent, stats = _update_stats(small_sac, "famo")
    assert isinstance(agent.critic_combiner, FAMO) and isinstance(agent.actor_combiner, Mean)
    torch.testing.assert_close(stats["combine/actor/weight"], torch.full((3,), 1 / 3))
    assert not torch.allclose(stats["combine/critic/weight"], torch.full((3,), 1 / 3))
    agent, _ = _update_stats(small_sac, "famo", actor="famo")
    assert isinstance(agent.actor_combiner, FAMO)
    assert agent.actor_combiner is not agent.critic_combiner


def test_famo_rejects_bad_options():
    with pytest.raises(ValueError, match="loss_after must be one of same_batch, next_batch"):
        make("famo", 2, loss_after="later")
    with pytest.raises(ValueError, match="method famo: option actor must be one of famo, mean"):
        make_pair("famo", 2, actor="ldc")
    with pytest.raises(ValueError, match="option gamma must be a number >= 0, got -1"):
        make_pair("famo", 2, gamma=-1.0)


def test_famo_next_batch_learns_from_the_next_call_as_same_batch_does_from_after_step():
    same, nxt = make("famo", 3), make("famo", 3, loss_after="next_batch")
    assert same.learns_after_step and not nxt.learns_after_step
    seq = torch.tensor([[1.0, 2.0, 3.0], [0.5, 1.9, 2.0], [0.4, 1.8, 1.0]])
    for before, after in itertools.pairwise(seq):
        same(before)
        same.after_step(after)
        nxt(before)
        nxt.after_step(after)  # a no-op in next_batch mode: it learns on the next call
    nxt(seq[-1])
    torch.testing.assert_close(nxt.logits.detach(), same.logits.detach())
    assert not torch.equal(nxt.logits.detach(), torch.zeros(3))


def test_famo_non_finite_after_losses_leave_the_logits_direction_alone():
    famo = make("famo", 2)
    famo(torch.tensor([1.0, 2.0]))
    famo.after_step(torch.tensor([float("nan"), 1.0]))
    assert torch.isfinite(famo.logits).all()
