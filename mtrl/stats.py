"""Aggregate statistics for few-seed RL results, on rliable (Agarwal et al., NeurIPS 2021).

Scores are arrays ``[runs, tasks]`` (one row per seed, one column per task). Every
interval is a percentile stratified bootstrap (runs resampled within each task), as
rliable computes it; a fixed ``seed`` makes a report reproduce its own numbers.

- ``iqm``: the interquartile mean of all runs × tasks, with its 95 % interval;
- ``probability_of_improvement``: P(X > Y), the probability that a run of X scores
  above a run of Y on a task drawn at random (ties count a half; the Mann-Whitney U
  statistic averaged over tasks), with its interval;
- ``performance_profile``: the fraction of runs × tasks scoring above each τ.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_REPS = 2000
"""Bootstrap replications per interval (rliable's examples use 2,000-50,000)."""


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its 95 % stratified-bootstrap interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.2f} [{self.low:.2f}, {self.high:.2f}]"


def _library():  # rliable imports arch and pandas: loaded only when a report needs them
    import warnings

    warnings.filterwarnings("ignore", message="random_state is deprecated", category=FutureWarning)
    from rliable import library, metrics

    return library, metrics


@contextmanager
def _seeded(seed: int) -> Iterator[np.random.RandomState]:
    """A seeded ``RandomState`` for rliable, with NumPy's global generator seeded too (its
    bootstraps draw part of their indices from it) and restored afterwards."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield np.random.RandomState(seed)
    finally:
        np.random.set_state(saved)


def iqm(scores: np.ndarray, reps: int = BOOTSTRAP_REPS, seed: int = 0) -> Estimate:
    """Interquartile mean of ``scores[runs, tasks]`` with its 95 % interval."""
    library, metrics = _library()
    with _seeded(seed) as state:
        point, interval = library.get_interval_estimates(
            {"x": np.asarray(scores, dtype=float)},
            lambda x: np.array([metrics.aggregate_iqm(x)]),
            reps=reps,
            random_state=state,
        )
    return Estimate(float(point["x"][0]), float(interval["x"][0, 0]), float(interval["x"][1, 0]))


def _pair_estimate(x: np.ndarray, y: np.ndarray, func, reps: int, seed: int) -> Estimate:  # type: ignore[no-untyped-def]
    """``func(x, y)`` with each group's runs resampled within its tasks, independently."""
    library, _ = _library()
    pair = (np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    with _seeded(seed) as state:
        point, interval = library.get_interval_estimates(
            {"x,y": pair}, lambda a, b: np.array([func(a, b)]), reps=reps, random_state=state
        )
    return Estimate(
        float(point["x,y"][0]), float(interval["x,y"][0, 0]), float(interval["x,y"][1, 0])
    )


def probability_of_improvement(
    x: np.ndarray, y: np.ndarray, reps: int = BOOTSTRAP_REPS, seed: int = 0
) -> Estimate:
    """P(X > Y) over the tasks both were run on, ``x[runs_x, tasks]``, ``y[runs_y, tasks]``."""
    _, metrics = _library()
    return _pair_estimate(x, y, metrics.probability_of_improvement, reps, seed)


def iqm_difference(
    x: np.ndarray, y: np.ndarray, reps: int = BOOTSTRAP_REPS, seed: int = 0
) -> Estimate:
    """IQM(x) − IQM(y) for independent groups of runs, each resampled within its tasks."""
    _, metrics = _library()
    return _pair_estimate(
        x, y, lambda a, b: metrics.aggregate_iqm(a) - metrics.aggregate_iqm(b), reps, seed
    )


def performance_profile(
    scores: dict[str, np.ndarray], taus: np.ndarray, reps: int = BOOTSTRAP_REPS, seed: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per method, the fraction of runs × tasks above each τ and its ``[2, len(taus)]`` band.
    rliable's ``create_performance_profile`` takes no ``random_state``: its bootstrap draws
    from NumPy's global generator, seeded here."""
    library, _ = _library()
    with _seeded(seed):
        return library.create_performance_profile(
            {k: np.asarray(v, dtype=float) for k, v in scores.items()}, taus, reps=reps
        )
