"""Minimising a smooth function of K task weights over the probability simplex."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize

Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]
"""w → (value, gradient)."""


def minimize_on_simplex(objective: Objective, k: int, ftol: float = 1e-15) -> np.ndarray:
    """argmin over ``{w ≥ 0, Σ w = 1}`` by SLSQP from the uniform point (K is small: host)."""
    result = minimize(
        objective,
        np.full(k, 1.0 / k),
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * k,
        constraints=({"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(k)},),
        options={"ftol": ftol, "maxiter": 1000},
    )
    w = np.clip(result.x, 0.0, None)
    return w / w.sum()


def unit_scaled(gram: np.ndarray) -> np.ndarray:
    """``gram`` divided by its largest diagonal entry (the minimisers here do not change)."""
    return gram / max(float(np.diag(gram).max()), 1e-300)
