import pytest
import torch

from agents.optim import GuardedAdam, all_finite


def _params(seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(5, 3, generator=g, requires_grad=True),
        torch.randn(3, generator=g, requires_grad=True),
    ]


def test_guarded_adam_takes_torch_adams_steps():
    ours, ref = _params(0), _params(0)
    opt, ref_opt = GuardedAdam(ours, lr=1e-2), torch.optim.Adam(ref, lr=1e-2)
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        grads = [torch.randn(p.shape, generator=g) for p in ours]
        for p, q, gr in zip(ours, ref, grads, strict=True):
            p.grad, q.grad = gr.clone(), gr.clone()
        opt.step(torch.tensor(True))
        ref_opt.step()
    for p, q, start in zip(ours, ref, _params(0), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
        assert not torch.allclose(p, start, atol=1e-2)  # and they did move


def test_a_refused_step_changes_nothing_even_with_nan_gradients():
    params = _params(0)
    opt = GuardedAdam(params, lr=1e-2)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    saved = [p.detach().clone() for p in params]
    state = {k: v.clone() for k, v in opt.state[params[0]].items()}
    params[0].grad = torch.full_like(params[0], float("nan"))
    opt.step(all_finite(torch.zeros(2), [p.grad for p in params]))
    for p, s in zip(params, saved, strict=True):
        assert torch.equal(p.detach(), s)
    for key, value in opt.state[params[0]].items():
        assert torch.equal(value, state[key]), key


@pytest.mark.parametrize(
    ("loss", "grad", "expected"),
    [(1.0, 1.0, True), (float("nan"), 1.0, False), (1.0, float("inf"), False)],
)
def test_all_finite(loss, grad, expected):
    assert bool(all_finite(torch.tensor([loss, 0.0]), [torch.tensor([grad]), None])) is expected
