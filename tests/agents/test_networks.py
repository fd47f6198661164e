import pytest
import torch

from agents.networks import linear


@pytest.mark.parametrize("x_needs_grad", [False, True])
def test_expanded_copies_give_the_same_values_and_gradients_as_separate_copies(x_needs_grad):
    """The shared-matmul path (stride-0 copies) against the per-task baddbmm path."""
    g = torch.Generator().manual_seed(0)
    k, b, n_in, n_out = 4, 6, 5, 3
    w, bias = torch.randn(n_out, n_in, generator=g), torch.randn(n_out, generator=g)
    x = torch.randn(k, b, n_in, generator=g)
    upstream = torch.randn(k, b, n_out, generator=g)

    def run(expanded: bool):
        xs = x.clone().requires_grad_(x_needs_grad)
        if expanded:
            ws = w.expand(k, n_out, n_in).requires_grad_()
            bs = bias.expand(k, n_out).requires_grad_()
        else:
            ws = w.repeat(k, 1, 1).requires_grad_()
            bs = bias.repeat(k, 1).requires_grad_()
        y = linear(xs, ws, bs)
        inputs = [ws, bs, xs] if x_needs_grad else [ws, bs]
        return y, torch.autograd.grad((y * upstream).sum(), inputs)

    y_shared, grads_shared = run(expanded=True)
    y_sep, grads_sep = run(expanded=False)
    torch.testing.assert_close(y_shared, y_sep)
    for a, c in zip(grads_shared, grads_sep, strict=True):
        assert a.shape == c.shape
        torch.testing.assert_close(a, c)
    # task 2's weight gradient comes from task 2's rows only
    torch.testing.assert_close(grads_shared[0][2], upstream[2].T @ x[2])


@pytest.mark.parametrize("deterministic", [False, True])
def test_actor_action_is_forwards_action_for_the_same_draw(deterministic):
    from agents.networks import TanhGaussianActor

    torch.manual_seed(0)
    actor = TanhGaussianActor(7, 3, (16, 16))
    obs = torch.randn(4, 7)
    a, _ = actor(obs, deterministic=deterministic, generator=torch.Generator().manual_seed(1))
    b = actor.action(obs, deterministic, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    assert (b.abs() <= 1).all()
