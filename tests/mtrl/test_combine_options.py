"""Every method's option declarations: what they accept, and what they refuse in one line
before any update runs."""

import inspect
import math

import pytest

from mtrl.combine import METHODS, REGISTRY, make, make_pair
from mtrl.combine.options import Option, short

DECLARED = [(name, key) for name in METHODS for key in REGISTRY[name].options]


def bad_values(opt: Option) -> list:
    """Values of the wrong type, non-finite, or just outside the declared range."""
    values = [True, False, None, [1], {"a": 1}, "abc", ""]
    if opt.kind is str:
        return [*values, 1, 1.5, opt.choices[0].upper() + "x"]
    values += [math.nan, math.inf, -math.inf, "nan", "inf", "1e400"]
    values += [1.5, 2.0, "3"] if opt.kind is int else [10**400]  # 10**400: past the float range
    if opt.low is not None:
        values.append(opt.low if opt.low_open else opt.low - 1)
    if opt.high is not None:
        values.append(opt.high + 1 if opt.kind is int else opt.high * 2)
    return values


def good_values(opt: Option) -> list[tuple]:
    """(given, as stored) pairs the declaration accepts."""
    if opt.kind is str:
        return [(c, c) for c in opt.choices]
    low = 0 if opt.low is None else opt.low
    if opt.kind is int:
        return [(low, low), (low + 1, low + 1)]
    return [(low + 2, float(low + 2)), (low + 0.5, low + 0.5), (f"{low + 0.25:e}", low + 0.25)]


@pytest.mark.parametrize(("name", "key"), DECLARED)
def test_every_bad_value_is_one_line_naming_method_option_and_value(name, key):
    opt = REGISTRY[name].options[key]
    for value in bad_values(opt):
        with pytest.raises(ValueError) as err:
            make(name, 2, **{key: value})
        want = f"method {name}: option {key} must be {opt.describe()}, got {short(value)}"
        assert str(err.value) == want and "\n" not in want, value


@pytest.mark.parametrize(("name", "key"), DECLARED)
def test_values_in_range_build_and_are_stored(name, key):
    for given, stored in good_values(REGISTRY[name].options[key]):
        combiner = make(name, 2, **{key: given})
        value = getattr(combiner, key)
        assert value == stored and type(value) is type(stored), (given, value)


def test_the_issue_s_case_is_refused_at_construction():
    with pytest.raises(ValueError) as err:
        make("dibs", 2, eps="abc")
    assert str(err.value) == "method dibs: option eps must be a number > 0, got 'abc'"
    assert make("dibs", 2, eps="1e-8").eps == 1e-8  # PyYAML reads 1e-8 (no dot) as a string
    with pytest.raises(ValueError, match="option cosine_every must be an integer >= 1, got True"):
        make("dibs", 2, cosine_every=True)


@pytest.mark.parametrize("name", METHODS)
def test_declarations_are_the_constructor_s_keywords_and_defaults_pass_them(name):
    cls = REGISTRY[name]
    params = list(inspect.signature(cls.__init__).parameters.values())[2:]  # self, num_tasks
    params = [p for p in params if p.kind is not p.VAR_KEYWORD]  # Combiner.__init__'s own
    assert [p.name for p in params] == list(cls.options)
    combiner = make(name, 3)
    for p in params:
        assert cls.options[p.name].check(p.default) == p.default
        assert getattr(combiner, p.name) == p.default
    shown = ", ".join(["num_tasks=3", *(f"{p.name}={p.default!r}" for p in params)])
    assert repr(combiner) == f"{cls.__name__}({shown})"


@pytest.mark.parametrize("name", METHODS)
def test_an_unknown_option_lists_the_method_s_options(name):
    valid = ", ".join(REGISTRY[name].options) or "none"
    with pytest.raises(ValueError) as err:
        make(name, 2, nope=1)
    want = f"bad options for method '{name}': unknown option 'nope'; its options: {valid}"
    assert str(err.value) == want


def test_direct_construction_checks_too():
    with pytest.raises(ValueError, match="method nashmtl: option solver must be one of newton, "):
        REGISTRY["nashmtl"](2, solver="exact")


@pytest.mark.parametrize("actor", ["famo", 1, None, ["mean"]])
def test_the_actor_option_is_checked_like_the_others(actor):
    with pytest.raises(ValueError) as err:
        make_pair("dibs", 2, actor=actor)
    assert str(err.value) == f"method dibs: option actor must be one of dibs, mean, got {actor!r}"
