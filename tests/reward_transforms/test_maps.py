import numpy as np
import pytest

from reward_transforms import MAP_NAMES, make_map

ARGS = {"affine": (3.0, -2.0)}


@pytest.mark.parametrize("name", MAP_NAMES)
def test_every_map_is_strictly_increasing(name):
    fn = make_map(name, ARGS.get(name, ()))
    rng = np.random.default_rng(0)
    # Meta-World v3 rewards lie in [0, 10]; check a wider range with negatives too.
    r = np.sort(np.concatenate([rng.uniform(-10, 10, 2000), [-1e-3, 0.0, 1e-3]]))
    r = np.unique(r)
    y = fn(r)
    assert np.all(np.isfinite(y))
    assert np.all(np.diff(y) > 0), f"{name} is not strictly increasing"


def test_known_values():
    r = np.array([-2.0, 0.0, 0.5, 2.0])
    np.testing.assert_allclose(make_map("pow4")(r), [-16.0, 0.0, 0.0625, 16.0])
    np.testing.assert_allclose(make_map("cube")(r), [-8.0, 0.0, 0.125, 8.0])
    np.testing.assert_allclose(make_map("exp")(r), np.exp(r))
    np.testing.assert_allclose(make_map("log1p")(r), [-np.log(3), 0.0, np.log(1.5), np.log(3)])
    np.testing.assert_allclose(make_map("sqrt")(r), [-np.sqrt(2), 0.0, np.sqrt(0.5), np.sqrt(2)])
    np.testing.assert_allclose(make_map("affine", (1000, 1))(r), [-1999, 1, 501, 2001])


def test_affine_needs_positive_slope():
    with pytest.raises(ValueError, match="a > 0"):
        make_map("affine", (0.0, 1.0))
    with pytest.raises(ValueError, match="a > 0"):
        make_map("affine", (-1.0, 0.0))


def test_unknown_map_and_wrong_arity_name_the_valid_maps():
    with pytest.raises(ValueError, match="valid maps: pow4, cube, exp, log1p, sqrt, affine"):
        make_map("pow5")
    with pytest.raises(ValueError, match="takes 2 arguments, got 1"):
        make_map("affine", (1.0,))
    with pytest.raises(ValueError, match="takes 0 arguments"):
        make_map("exp", (1.0,))


def test_str_is_the_spec_form():
    assert str(make_map("pow4")) == "pow4"
    assert str(make_map("affine", (1000, 0))) == "affine(1000,0)"
