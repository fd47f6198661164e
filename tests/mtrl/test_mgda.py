"""MGDA (gradient normalisations, the min-norm solver) and MGDA-UB (closed form, plumbing)."""

import itertools

import numpy as np
import pytest
import torch

from agents.replay import Batch
from agents.sac import MultiTaskSAC
from mtrl import combine
from mtrl.combine.simplex import min_norm_point
from mtrl.grads import combined_backward, per_task_grads_loop

F64 = torch.float64


def mgda(g, losses, normalization):
    return combine.make("mgda", g.shape[0], normalization=normalization)(losses, g)


# ---------------------------------------------------------------- mgda: normalisations
ORTHO = torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=F64)  # ‖g‖ = (3, 1), orthogonal


@pytest.mark.parametrize(
    ("normalization", "weights"),
    [
        # orthogonal gᵢ/nᵢ: α ∝ nᵢ² / ‖gᵢ‖², then Σ αᵢ gᵢ on the RAW gradients
        ("none", [0.1, 0.9]),  # ∝ (1/9, 1)
        ("l2", [0.5, 0.5]),  # unit vectors
        ("loss", [1 / 37, 36 / 37]),  # L = (2, −4): ∝ (4/9, 16)
        ("loss+", [0.2, 0.8]),  # ∝ L² = (4, 16)
    ],
)
def test_mgda_each_normalisation_hand_computed(normalization, weights):
    out = mgda(ORTHO, torch.tensor([2.0, -4.0], dtype=F64), normalization)
    w = torch.tensor(weights, dtype=F64)
    torch.testing.assert_close(out.weights, w)
    torch.testing.assert_close(out.direction, w @ ORTHO)  # raw gradients, not gᵢ/nᵢ


def test_mgda_loss_normalisation_divides_by_the_absolute_loss():
    # g1 = (1, 0), g2 = (−2, 4), L = (1, −2): u2 = g2/|L2| = (−1, 2), u1·u2 = −1, ‖u2‖² = 5:
    # t = (5 + 1)/(1 + 5 + 2) = 3/4 on u1. Dividing by L2 itself flips u2 to (1, −2) and gives
    # α = (1, 0); a normaliser floored at 0 instead of |L| gives α ≈ (1, 0) too.
    g = torch.tensor([[1.0, 0.0], [-2.0, 4.0]], dtype=F64)
    out = mgda(g, torch.tensor([1.0, -2.0], dtype=F64), "loss")
    torch.testing.assert_close(out.weights, torch.tensor([0.75, 0.25], dtype=F64))
    torch.testing.assert_close(out.direction, torch.tensor([0.25, 1.0], dtype=F64))
    for normalization in ("loss", "loss+"):
        neg = mgda(g, torch.tensor([1.0, -2.0], dtype=F64), normalization)
        pos = mgda(g, torch.tensor([1.0, 2.0], dtype=F64), normalization)
        torch.testing.assert_close(neg.weights, pos.weights)


def test_mgda_none_hand_computed_and_default_is_loss_plus():
    g2 = torch.tensor([[1.0, 0.0], [-1.0, 1.0]], dtype=F64)  # conflicting
    # min over t of ‖t g1 + (1−t) g2‖² at t = 0.6 → (0.2, 0.4)
    torch.testing.assert_close(
        mgda(g2, torch.ones(2, dtype=F64), "none").direction, torch.tensor([0.2, 0.4], dtype=F64)
    )
    assert combine.make("mgda", 2).normalization == "loss+"
    assert combine.make("mgda-ub", 2).normalization == "loss+"


@pytest.mark.parametrize("name", ["mgda", "mgda-ub"])
def test_an_unknown_normalisation_is_a_value_error(name):
    with pytest.raises(ValueError, match="normalization must be one of loss\\+, l2, loss, none"):
        combine.make(name, 2, normalization="L2")


@pytest.mark.parametrize("normalization", ["none", "l2", "loss", "loss+"])
@pytest.mark.parametrize(("k", "seed"), list(itertools.product([3, 5, 10], range(3))))
def test_mgda_normalised_direction_descends_every_normalised_task(normalization, k, seed):
    """KKT of the solved problem: uⱼ·d ≥ ‖d‖² for uᵢ = gᵢ/nᵢ, d = Σ αᵢ uᵢ."""
    gen = torch.Generator().manual_seed(seed)
    scales = torch.logspace(-2, 2, k, dtype=F64)[:, None]
    g = torch.randn(k, 3 * k, dtype=F64, generator=gen) * scales
    losses = torch.rand(k, dtype=F64, generator=gen) * 4 - 2
    out = mgda(g, losses, normalization)
    n = {
        "none": torch.ones(k, dtype=F64),
        "l2": g.norm(dim=1),
        "loss": losses.abs(),
        "loss+": losses.abs() * g.norm(dim=1),
    }[normalization]
    u = g / n[:, None]
    d = out.weights @ u
    assert (u @ d >= (d @ d) * (1 - 1e-9)).all()


# ---------------------------------------------------------------- the min-norm solver
def kkt_gap(m: np.ndarray, w: np.ndarray) -> float:
    """Largest relative violation of the optimality conditions of min wᵀMw on the simplex:
    (Mw)ⱼ ≥ wᵀMw for every j, with equality where wⱼ > 0 (sufficient: the problem is convex)."""
    mw = m @ w
    xx = float(w @ mw)
    below = max(0.0, float((xx - mw).max()))
    support = w > 1e-9
    off = float(np.abs(mw[support] - xx).max())
    return max(below, off) / max(xx, 1e-300)


@pytest.mark.parametrize("spread", [0, 1.5, 3])  # gradient norms 10^±spread
@pytest.mark.parametrize(("k", "seed"), list(itertools.product([3, 6, 10], range(4))))
def test_min_norm_solver_meets_the_optimality_conditions_across_scales(spread, k, seed):
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((k, 2 * k)) * np.logspace(-spread, spread, k)[rng.permutation(k), None]
    m = g @ g.T
    w = min_norm_point(m)
    assert w.min() >= 0 and abs(w.sum() - 1) < 1e-12
    assert kkt_gap(m, w) < 1e-7  # measured ≤ 2.2e-8; SLSQP (the old solver): up to 1e4


@pytest.mark.parametrize("seed", range(4))
def test_min_norm_solver_two_tasks_is_the_closed_form(seed):
    rng = np.random.default_rng(seed)
    for scale in (1.0, 1e-4, 1e4):
        g = rng.standard_normal((2, 5)) * np.array([[1.0], [scale]])
        (aa, ab), (_, bb) = g @ g.T
        t = min(max((bb - ab) / (aa - 2 * ab + bb), 0.0), 1.0)  # argmin ‖t g1 + (1−t) g2‖²
        np.testing.assert_allclose(min_norm_point(g @ g.T), [t, 1 - t], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_mgda_min_norm_solver_matches_a_brute_force_grid(seed):
    """Replaces test_mgda_frank_wolfe_matches_a_generic_solver (SLSQP against SLSQP)."""
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((3, 4)) + np.array([1.0, 0, 0, 0])  # some interior, some faces
    m = g @ g.T
    steps = 600
    a, b = np.meshgrid(np.arange(steps + 1) / steps, np.arange(steps + 1) / steps)
    keep = a + b <= 1 + 1e-12
    grid = np.stack([a[keep], b[keep], 1 - a[keep] - b[keep]], axis=1)
    values = np.einsum("ni,ij,nj->n", grid, m, grid)
    best = grid[values.argmin()]
    w = min_norm_point(m)
    assert w @ m @ w <= values.min() + 1e-12
    np.testing.assert_allclose(w, best, atol=2.0 / steps)
    c = combine.make("mgda", 3, normalization="none")
    got = c(torch.ones(3, dtype=F64), torch.as_tensor(g))
    np.testing.assert_allclose(got.weights.numpy(), w, atol=1e-12)


# ---------------------------------------------------------------- mgda-ub
@pytest.mark.parametrize(
    ("normalization", "weights"),
    [
        # L = (1, −2, 4), ‖∇_Z Lᵢ‖² = (1, 1, 4): α ∝ nᵢ²/sᵢ
        ("none", [4 / 9, 4 / 9, 1 / 9]),  # ∝ (1, 1, 1/4)
        ("l2", [1 / 3, 1 / 3, 1 / 3]),
        ("loss", [1 / 9, 4 / 9, 4 / 9]),  # ∝ (1, 4, 4)
        ("loss+", [1 / 21, 4 / 21, 16 / 21]),  # ∝ L²
    ],
)
def test_mgda_ub_closed_form_hand_computed(normalization, weights):
    c = combine.make("mgda-ub", 3, normalization=normalization)
    assert not c.needs_grads and c.needs_representation_grads
    losses = torch.tensor([1.0, -2.0, 4.0], dtype=F64)
    out = c(losses, torch.tensor([1.0, 1.0, 4.0], dtype=F64))
    torch.testing.assert_close(out.weights, torch.tensor(weights, dtype=F64))
    assert out.direction is None
    if normalization in ("l2", "loss+"):  # sᵢ cancels: defined without the gradients
        torch.testing.assert_close(c(losses).weights, out.weights)
    else:
        with pytest.raises(ValueError, match="needs the representation gradients"):
            c(losses)


def test_mgda_ub_a_zero_representation_gradient_takes_the_weight():
    c = combine.make("mgda-ub", 3, normalization="none")
    out = c(torch.ones(3, dtype=F64), torch.tensor([2.0, 0.0, 1.0], dtype=F64))
    torch.testing.assert_close(out.weights, torch.tensor([0.0, 1.0, 0.0], dtype=F64))


@pytest.fixture
def small_agent(small_sac):
    """``small_agent(k)``: MGDA-UB on both losses, 9-d observations, float64."""
    return lambda k: small_sac("mgda-ub", k, obs_dim=9, act_dim=3, hidden=(24, 16)).double()


def real_batch(k: int, b: int = 6) -> Batch:
    g = torch.Generator().manual_seed(1)
    obs = torch.randn(k, b, 9, generator=g, dtype=F64)
    obs[..., -k:] = torch.eye(k, dtype=F64)[:, None, :]  # one-hot task ids, as the envs give
    return Batch(
        obs,
        torch.rand(k, b, 3, generator=g, dtype=F64) * 2 - 1,
        torch.randn(k, b, generator=g, dtype=F64) * torch.arange(1.0, k + 1, dtype=F64)[:, None],
        obs + 0.1 * torch.randn(k, b, 9, generator=g, dtype=F64),
        (torch.rand(k, b, generator=g) < 0.2).to(F64),
    )


def loss_fns(agent: MultiTaskSAC, batch: Batch, which: str):
    """(loss_fn, representation_loss_fn, params) for the critic or the actor."""
    if which == "critic":
        target = agent.td_target(batch)
        return (
            lambda p: agent.critic_losses(batch, p, target),
            lambda: agent.critic_losses_with_representation(batch, target),
            agent.critic_params,
        )
    noise = torch.randn(batch.act.shape, dtype=F64, generator=torch.Generator().manual_seed(2))
    return (
        lambda p: agent.actor_losses(batch, p, noise)[0],
        lambda: (lambda r: (r[0], [r[2]]))(agent.actor_losses_with_representation(batch, noise)),
        agent.actor_params,
    )


def test_representation_is_the_last_hidden_activation(small_agent):
    agent, batch = small_agent(3), real_batch(3)
    noise = torch.randn(batch.act.shape, dtype=F64)
    act, logp, z = agent.actor.forward_with_hidden(batch.obs, noise)
    want_act, want_logp = agent.actor(batch.obs, noise=noise)
    torch.testing.assert_close((act, logp), (want_act, want_logp))
    h = batch.obs
    for layer in agent.actor.net.layers[:-1]:
        h = torch.relu(layer(h))
    torch.testing.assert_close(z, h)
    assert z.shape == (3, 6, 16)
    q1, q2, (z1, z2) = agent.critic.forward_with_hidden(batch.obs, batch.act)
    torch.testing.assert_close((q1, q2), agent.critic(batch.obs, batch.act))
    h = torch.cat([batch.obs, batch.act], -1)
    for layer in agent.critic.q2.layers[:-1]:
        h = torch.relu(layer(h))
    torch.testing.assert_close(z2, h)
    assert z1.shape == z2.shape == (3, 6, 16)


def full_representation_grads(rep_fn, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Losses and each task's whole ∇_Z Lᵢ (all K·b rows, every Z), by K backward passes."""
    losses, reps = rep_fn()
    rows = []
    for i in range(k):
        gs = torch.autograd.grad(losses[i], reps, retain_graph=True)
        rows.append(torch.cat([x.reshape(-1) for x in gs]))
    return losses.detach(), torch.stack(rows)


@pytest.mark.parametrize("normalization", ["none", "l2", "loss", "loss+"])
@pytest.mark.parametrize("which", ["critic", "actor"])
def test_mgda_ub_closed_form_matches_a_general_solver_on_real_sac_losses(
    which, normalization, small_agent
):
    k = 4
    agent, batch = small_agent(k), real_batch(k)
    agent.critic_combiner = agent.actor_combiner = combine.make(
        "mgda-ub", k, normalization=normalization
    )
    loss_fn, rep_fn, params = loss_fns(agent, batch, which)
    losses, zg = full_representation_grads(rep_fn, k)
    gram = (zg @ zg.T).numpy()
    off = gram - np.diag(np.diag(gram))
    assert np.abs(off).max() == 0.0  # disjoint supports: exactly orthogonal
    assert (np.diag(gram) > 0).all()
    n = {
        "none": np.ones(k),
        "l2": np.sqrt(np.diag(gram)),
        "loss": np.abs(losses.numpy()),
        "loss+": np.abs(losses.numpy()) * np.sqrt(np.diag(gram)),
    }[normalization]
    want = min_norm_point(gram / np.outer(n, n))  # the general solver, no closed form
    got_losses, out = combined_backward(
        agent.critic_combiner, loss_fn, params, representation_loss_fn=rep_fn
    )
    torch.testing.assert_close(got_losses, losses)
    np.testing.assert_allclose(out.weights.numpy(), want, rtol=1e-8, atol=1e-12)
    assert np.ptp(want) > 1e-3 or normalization == "l2"  # the weights do differ per task


@pytest.mark.parametrize("which", ["critic", "actor"])
def test_mgda_ub_plumbing_equals_k_backward_passes_weighted(which, small_agent):
    k = 3
    agent, batch = small_agent(k), real_batch(k)
    loss_fn, rep_fn, params = loss_fns(agent, batch, which)
    _, out = combined_backward(
        agent.critic_combiner, loss_fn, params, representation_loss_fn=rep_fn
    )
    got = torch.cat([p.grad.reshape(-1) for p in params.values()])
    _, g = per_task_grads_loop(loss_fn, params)  # K separate backward passes
    torch.testing.assert_close(got, out.weights @ g)
    others = agent.actor_params if which == "critic" else agent.critic_params
    assert all(p.grad is None for p in others.values())


def test_mgda_ub_needs_a_representation_loss_fn(small_agent):
    agent, batch = small_agent(2), real_batch(2)
    loss_fn, _, params = loss_fns(agent, batch, "critic")
    with pytest.raises(ValueError, match="mgda-ub needs a representation_loss_fn"):
        combined_backward(agent.critic_combiner, loss_fn, params)


def test_mgda_ub_sac_update_weights_are_the_squared_losses(small_agent):
    """The default (loss+) in a full SAC update: α ∝ Lᵢ², for critic and actor."""
    k = 3
    agent, batch = small_agent(k), real_batch(k)
    stats = agent.update(batch)
    for key in ("critic", "actor"):
        sq = stats[f"loss/{key}"] ** 2
        torch.testing.assert_close(stats[f"combine/{key}/weight"], sq / sq.sum())
        assert stats[f"combine/{key}/rep_grad_norm"].shape == (k,)
