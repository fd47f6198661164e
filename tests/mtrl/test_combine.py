import pytest
import torch

from mtrl import combine
from mtrl.combine import METHODS, make
from mtrl.combine.base import GRAM_CHUNK, gram_matrix

G = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 1.0, 0.0]])  # conflicting (cosine -0.71)
L = torch.tensor([1.0, 2.0])


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown method 'nope'; valid methods: mean, dibs"):
        make("nope", 2)


def test_bad_options_are_a_value_error():
    with pytest.raises(ValueError, match="bad options for method 'dibs'"):
        make("dibs", 2, nope=1)


def test_mean_gives_equal_weights_and_needs_no_grads():
    c = make("mean", 4)
    assert not c.needs_grads
    out = c(torch.arange(4.0))
    assert out.direction is None
    torch.testing.assert_close(out.weights, torch.full((4,), 0.25))


def test_dibs_hand_computed():
    out = make("dibs", 2)(L, G)
    s = 2**-0.5
    torch.testing.assert_close(out.direction, torch.tensor([1 - s, s, 0.0]), atol=1e-6, rtol=0)
    torch.testing.assert_close(out.info["grad_norm"], torch.tensor([1.0, 2**0.5]))
    torch.testing.assert_close(out.info["cosine_min"], torch.tensor(-s))


def test_dibs_three_aligned_tasks_point_along_the_common_direction():
    g = torch.tensor([[1.0, 1.0, 0.0], [10.0, 10.0, 0.0], [1e-3, 1e-3, 0.0]])
    out = make("dibs", 3)(torch.ones(3), g)
    torch.testing.assert_close(out.direction, torch.tensor([3.0, 3.0, 0.0]) / 2**0.5)


@pytest.mark.parametrize("factor", [1e-6, 0.3, 7.0, 1e6])
def test_dibs_is_invariant_to_rescaling_one_task(factor):
    torch.manual_seed(0)
    g = torch.randn(3, 20, dtype=torch.float64)
    scaled = g.clone()
    scaled[1] *= factor
    a = make("dibs", 3)(torch.ones(3), g).direction
    b = make("dibs", 3)(torch.ones(3), scaled).direction
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)


def test_mean_is_not_invariant_to_rescaling():
    g = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    w = make("mean", 2)(L).weights
    d1 = w @ g
    d2 = w @ torch.tensor([[100.0, 0.0], [0.0, 1.0]])
    cos = torch.nn.functional.cosine_similarity(d1, d2, dim=0)
    assert cos < 0.8


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("scale", [0.0, 1e-12, 1e12])
def test_every_method_is_finite_on_extreme_gradients(name, scale):
    c = make(name, 2)
    g = G * scale
    out = c(L, g if c.needs_grads else None)
    for t in (out.direction, out.weights, *out.info.values()):
        if t is not None:
            assert torch.isfinite(t).all()


def test_grads_are_checked():
    with pytest.raises(ValueError, match=r"needs grads of shape \(2, P\)"):
        make("dibs", 2)(L, None)
    with pytest.raises(ValueError, match=r"losses must have shape \(3,\)"):
        make("mean", 3)(L)


def test_registry_is_the_public_face():
    assert set(combine.REGISTRY) == set(METHODS)
    for name, cls in combine.REGISTRY.items():
        assert cls.name == name


def _tstep_reference(grads, steps, radius):
    """dibs-tstep written directly in parameter space (the paper's form)."""
    unit = grads / grads.norm(dim=1, keepdim=True)
    preferred = -radius * unit
    delta = torch.zeros(grads.shape[1], dtype=grads.dtype)
    for _ in range(steps):
        pull = (delta.unsqueeze(0) - preferred).norm(dim=1)
        delta = delta - (radius / steps) * (pull @ unit)
        delta = delta * (radius / delta.norm().clamp_min(radius))
    return -delta


def _pcgrad_reference(grads, orders):
    """PCGrad written directly in parameter space, with the given partner orders."""
    out = []
    for i in range(grads.shape[0]):
        g = grads[i].clone()
        for j in orders[i].tolist():
            if j != i and g @ grads[j] < 0:
                g = g - (g @ grads[j]) / (grads[j] @ grads[j]) * grads[j]
        out.append(g)
    return torch.stack(out).sum(0)


@pytest.mark.parametrize("k", [2, 3, 10])
def test_gram_space_tstep_and_pcgrad_equal_their_parameter_space_forms(k):
    torch.manual_seed(k)
    grads = (
        torch.randn(k, 50, dtype=torch.float64)
        * torch.logspace(-2, 2, k, dtype=torch.float64)[:, None]
    )
    for steps, radius in [(1, 1.0), (10, 1.0), (25, 0.1)]:
        out = combine.make("dibs-tstep", k, steps=steps, radius=radius)(torch.ones(k), grads)
        torch.testing.assert_close(out.direction, _tstep_reference(grads, steps, radius))
    pcgrad = combine.make("pcgrad", k, seed=3)
    orders = torch.rand(k, k, generator=torch.Generator().manual_seed(3)).argsort(dim=1)
    out = pcgrad(torch.ones(k), grads)
    torch.testing.assert_close(out.direction, _pcgrad_reference(grads, orders))


@pytest.mark.parametrize("p", [1, 7, GRAM_CHUNK, 3 * GRAM_CHUNK + 5])
def test_blocked_gram_matrix_equals_g_gt(p):
    g = torch.randn(4, p, generator=torch.Generator().manual_seed(p), dtype=torch.float64)
    torch.testing.assert_close(gram_matrix(g), g @ g.T)
