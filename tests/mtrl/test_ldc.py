"""LDC-MTL: hand-computed weights, the fixed-loss toy, non-finite losses, the router's lr."""

import math

import pytest
import torch

from mtrl.combine import make, make_pair
from mtrl.combine.ldc import LDC
from mtrl.combine.mean import Mean

K = 10


def test_ldc_initial_normalisation_and_router_step():
    lamb, lr = 0.05, 3e-4
    ldc = make("ldc", 3, lamb=lamb, lr=lr)
    out = ldc(torch.tensor([1.0, 2.0, 4.0]))
    # ratios (1, 2, 4): L̃ = (1, 1, 1), σ equal, no discrepancy → ∂f/∂Lᵢ = (σᵢ/Σσ) / rᵢ
    torch.testing.assert_close(out.weights, torch.tensor([1 / 3, 1 / 6, 1 / 12]))
    # ∂f/∂wᵢ = σ'(wᵢ) L̃ᵢ / Σσ > 0 for every task: Adam's first step is −lr on each logit
    torch.testing.assert_close(ldc.logits, torch.full((3,), 1.0 - lr))
    out = ldc(torch.tensor([1.0, 4.0, 4.0]))  # L̃ = (1, 2, 1): task 1 stands above both neighbours
    s = 1 / (1 + math.exp(-(1.0 - lr)))  # σ, still equal for the three tasks
    d_scaled = torch.tensor([1 / 3 - lamb * s, 1 / 3 + 2 * lamb * s, 1 / 3 - lamb * s])
    torch.testing.assert_close(out.weights, d_scaled / torch.tensor([1.0, 2.0, 4.0]))
    torch.testing.assert_close(out.info["penalty"], torch.tensor(2 * s))


def test_ldc_fixed_loss_toy_no_task_takes_over_and_the_penalty_falls():
    ldc = make("ldc", K)  # the defaults: λ = 0.05, the router at the SAC learning rate
    ldc(torch.ones(K))  # equal first losses: the normalisation ratios are all 1
    fixed = torch.linspace(1.0, 3.0, K)
    outs = [ldc(fixed) for _ in range(2000)]
    assert max(o.weights.max().item() for o in outs) <= 2 / K
    assert max(o.info["router_weight"].max().item() for o in outs) <= 2 / K
    first, last = outs[0].info["penalty"].item(), outs[-1].info["penalty"].item()
    assert last < 0.85 * first, (first, last)  # Σ|σᵢL̃ᵢ − σᵢ₊₁L̃ᵢ₊₁| falls by more than 15 %
    assert torch.isfinite(ldc.logits).all()


def test_ldc_a_non_finite_loss_teaches_the_router_nothing_and_it_keeps_learning():
    ldc = make("ldc", 4)
    losses = torch.tensor([1.0, 2.0, 3.0, 4.0])
    for _ in range(5):
        ldc(losses)
    before = ldc.state_dict()
    out = ldc(torch.tensor([1.0, float("nan"), 3.0, float("inf")]))
    assert torch.isfinite(out.weights).all()
    for key in ("logits", "exp_avg", "exp_avg_sq", "steps"):
        torch.testing.assert_close(ldc.state_dict()[key], before[key])
    ldc(losses)
    assert torch.isfinite(ldc.logits).all()
    assert not torch.equal(ldc.logits, before["logits"])  # still learning
    assert ldc.steps.item() == 6


def test_ldc_router_learns_at_the_model_learning_rate_and_the_actor_gets_the_mean():
    critic, actor = make_pair("ldc", 3, critic_lr=1e-3, actor_lr=5e-4)
    assert isinstance(critic, LDC) and critic.lr == 1e-3
    assert isinstance(actor, Mean)
    critic, actor = make_pair("ldc", 3, critic_lr=1e-3, actor_lr=5e-4, actor="ldc")
    assert isinstance(actor, LDC) and actor.lr == 5e-4 and actor is not critic
    critic, _ = make_pair("ldc", 3, critic_lr=1e-3, lr=0.01)  # an explicit lr wins
    assert critic.lr == 0.01


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lamb": -1.0}, "method ldc: option lamb must be a number >= 0, got -1.0"),
        ({"lr": 0.0}, "method ldc: option lr must be a number > 0, got 0.0"),
        ({"actor": "famo"}, "method ldc: option actor must be one of ldc, mean, got .famo."),
    ],
)
def test_ldc_rejects_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        make_pair("ldc", 3, **options)


def test_ldc_router_weights_keep_the_qm9_floor():
    ldc = make("ldc", 3, lr=0.1)  # a fast router: the weighted-sum term drives every logit down
    losses = torch.tensor([1.0, 2.0, 3.0])
    for _ in range(300):
        ldc(losses)
    before = ldc.logits.clone()
    for _ in range(100):
        ldc(losses)
    assert (ldc.sigma() >= 0.5).all()  # sigmoid(relu(w)): σᵢ ∈ [½, 1)
    # below 0 a logit gets no gradient: only Adam's decaying momentum still moves it
    assert (ldc.logits - before).abs().max() < 1e-3
