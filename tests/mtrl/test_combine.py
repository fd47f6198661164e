import importlib
import inspect
import pkgutil

import pytest
import torch

from mtrl import combine
from mtrl.combine import METHODS, Combiner, make
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


def _combiner_classes() -> set[type[Combiner]]:
    """Every concrete Combiner class defined in the modules of mtrl.combine."""
    found = set()
    for module in pkgutil.iter_modules(combine.__path__):
        for _, obj in inspect.getmembers(importlib.import_module(f"mtrl.combine.{module.name}")):
            if inspect.isclass(obj) and issubclass(obj, Combiner) and not inspect.isabstract(obj):
                found.add(obj)
    return found


def test_every_combiner_class_is_registered_under_its_name():
    classes = _combiner_classes()
    assert len(classes) >= 9
    for cls in classes:
        assert combine.REGISTRY.get(cls.name) is cls, cls
    assert set(combine.REGISTRY.values()) == classes


@pytest.mark.parametrize("name", METHODS)
def test_every_name_builds_through_make_and_rejects_unknown_options(name):
    c = make(name, 3)
    assert type(c) is combine.REGISTRY[name] and c.name == name and c.num_tasks == 3
    with pytest.raises(ValueError, match=f"bad options for method '{name}'"):
        make(name, 3, not_an_option=1)
    with pytest.raises(ValueError, match="num_tasks must be >= 1"):
        make(name, 0)


def test_an_unknown_name_lists_every_valid_one():
    with pytest.raises(ValueError) as err:
        make("mean ", 2)
    listed = str(err.value).split("valid methods: ")[1].split(", ")
    assert listed == list(METHODS) and len(listed) == len(combine.REGISTRY)


@pytest.mark.parametrize("p", [1, 7, GRAM_CHUNK, 3 * GRAM_CHUNK + 5])
def test_blocked_gram_matrix_equals_g_gt(p):
    g = torch.randn(4, p, generator=torch.Generator().manual_seed(p), dtype=torch.float64)
    torch.testing.assert_close(gram_matrix(g), g @ g.T)
