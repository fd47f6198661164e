"""The toy Pareto study: its analytic gradients, its Pareto set, and the invariance it shows."""

import re

import numpy as np
import pytest

from mtrl.combine import METHODS, REGISTRY


@pytest.fixture
def toy(load_script):
    return load_script("toy_pareto")


def test_analytic_gradients_match_finite_differences(toy):
    rng = np.random.default_rng(0)
    points = rng.uniform(-9, 9, size=(50, 2))
    eps = 1e-6
    for x in points:
        _, grads = toy.toy(*x)
        for c in range(2):
            dx = np.zeros(2)
            dx[c] = eps
            numeric = (toy.toy(*(x + dx))[0] - toy.toy(*(x - dx))[0]) / (2 * eps)
            np.testing.assert_allclose(grads[:, c], numeric, rtol=1e-4, atol=1e-5)


def test_pareto_set_is_stationary_and_spans_the_front(toy):
    front = toy.pareto_set(21)
    residuals = [toy.pareto_residual(toy.toy(*p)[1]) for p in front]
    assert max(residuals) < 1e-6
    assert front[0, 0] == pytest.approx(-7) and front[-1, 0] == pytest.approx(7)
    assert np.all((front[:, 1] < -8) & (front[:, 1] > -9))
    # an off-front point is not stationary
    assert toy.pareto_residual(toy.toy(0.0, -5.0)[1]) > 0.1


@pytest.mark.parametrize("transform", ["pow4", "exp"])
def test_direction_based_methods_follow_the_same_path_under_a_monotonic_map(toy, transform):
    starts = toy.start_points(2)
    for method in toy.INVARIANT:
        plain = toy.run_method(method, starts, "none", steps=150)
        mapped = toy.run_method(method, starts, transform, steps=150)
        np.testing.assert_allclose(mapped, plain, atol=1e-9, err_msg=method)
    plain = toy.run_method("mean", starts, "none", steps=150)
    mapped = toy.run_method("mean", starts, transform, steps=150)
    assert np.linalg.norm(mapped[-1] - plain[-1], axis=1).max() > toy.MOVE_TOL


@pytest.mark.parametrize("method", [m for m in METHODS if not REGISTRY[m].scale_invariant])
def test_every_method_not_declared_invariant_moves_under_a_map(toy, method):
    """The negation of the declaration: the study's own verdict, on a short run."""
    starts = toy.start_points(2)
    plain = toy.run_method(method, starts, "none", steps=150)
    moved = [
        np.linalg.norm(toy.run_method(method, starts, t, steps=150)[-1] - plain[-1], axis=1).max()
        for t in toy.TRANSFORMS
    ]
    assert max(moved) > toy.MOVE_TOL


def test_dibs_reaches_the_pareto_set_from_below(toy):
    (path,) = toy.run_method("dibs", [(-7.5, -5.0)], "none", steps=1500).transpose(1, 0, 2)
    start, end = path[0], path[-1]
    assert toy.pareto_residual(toy.toy(*end)[1]) < 0.1 < toy.pareto_residual(toy.toy(*start)[1])
    assert np.min(np.linalg.norm(toy.pareto_set(401) - end, axis=1)) < 0.1


def test_study_writes_figure_and_tables(toy, tmp_path):
    rows = toy.run_study(40, 1, ["pow4"], tmp_path, methods=["mean", "dibs"])
    assert {(r["method"], r["transform"]) for r in rows} == {
        ("mean", "none"),
        ("mean", "pow4"),
        ("dibs", "none"),
        ("dibs", "pow4"),
    }
    text = (tmp_path / "results.md").read_text()
    assert re.search(r"^\| dibs \|.* \| yes \|$", text, re.M)  # declared scale-invariant
    assert re.search(r"^\| mean \|.* \| no \|$", text, re.M)
    assert (tmp_path / "results.csv").read_text().startswith("method,start,")
    assert (tmp_path / "trajectories.png").stat().st_size > 10_000
