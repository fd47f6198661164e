"""Nash-MTL: exact solves are scale-invariant; stale weights are not."""

import pytest


def test_stale_weights_drift_and_fresh_ones_do_not(load_script):
    drift = load_script("nash_drift")
    assert min(drift.stale_cosines(3, 1.0, draws=3)) == pytest.approx(1.0)
    assert max(drift.stale_cosines(3, 100.0, draws=3)) < 0.95
    assert min(drift.ccp_cosines(3, 1.0, iters=20, draws=2)) > 0.999
