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


def min_norm_point(gram: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """Simplex weights w minimising ``wᵀ M w`` for a Gram matrix ``M``, by Wolfe's method.

    Wolfe (1976), "Finding the nearest point in a polytope": keep a corral S of vertices
    whose affine hull's min-norm point lies inside their hull; add the vertex most
    opposed to the current point x (``argminⱼ x·pⱼ = (Mw)ⱼ``), and when the affine
    min-norm point of S leaves the hull, step to the hull's boundary and drop the
    vertices that reach weight 0. It is finite and exact up to the linear solves, which
    run on the cosine-scaled system (``Cᵢⱼ = Mᵢⱼ/√(MᵢᵢMⱼⱼ)``), so gradient norms spread
    over many orders of magnitude do not hurt it. (SLSQP on M stops early there:
    weight errors of 0.7 at norms 10⁻³…10³; the authors' Frank–Wolfe and projected
    gradient, min_norm_solvers.py:92–181, converge sublinearly.) Stops when no vertex has
    ``x·pⱼ < (1 − tol)‖x‖²`` (the KKT conditions ``pⱼ·x ≥ ‖x‖²``, relative to ‖x‖²), or
    after 50K + 50 major cycles (a guard against round-off cycling).
    """
    m = np.asarray(gram, dtype=np.float64)
    k = m.shape[0]
    diag = np.clip(np.diag(m), 0.0, None)
    w = np.zeros(k)
    start = int(np.argmin(diag))
    w[start] = 1.0
    if k == 1 or diag[start] == 0.0:
        return w
    scale = 1.0 / np.sqrt(diag.clip(min=1e-300))
    corral = [start]
    for _ in range(50 * k + 50):
        mw = m @ w
        xx = float(w @ mw)
        j = int(np.argmin(mw))
        if j in corral or xx - mw[j] <= tol * xx:
            break
        corral.append(j)
        while True:  # minor cycle: the affine min-norm point of the corral, kept in the hull
            v = _affine_min_norm(m, scale, corral)
            if (v > 0).all():
                w[:] = 0.0
                w[corral] = v
                break
            cur = w[corral]
            shrink = v < cur
            theta = min(1.0, float(np.min(cur[shrink] / (cur[shrink] - v[shrink]))))
            cur = cur + theta * (v - cur)
            keep = cur > 1e-15
            corral = [i for i, c in zip(corral, keep, strict=True) if c]
            w[:] = 0.0
            w[corral] = cur[keep] / cur[keep].sum()
    return w / w.sum()


def _affine_min_norm(m: np.ndarray, scale: np.ndarray, corral: list[int]) -> np.ndarray:
    """Affine weights (summing to 1) of the min-norm point of the corral's affine hull.

    KKT of ``min vᵀ M_S v`` s.t. ``Σ v = 1``, in the variables ``u = v / s`` with
    ``s = 1/√diag``: ``C u = μ s``, ``sᵀ u = 1`` (C the cosine matrix; lstsq for the
    degenerate cases).
    """
    s = scale[corral]
    c = m[np.ix_(corral, corral)] * np.outer(s, s)
    n = len(corral)
    a = np.zeros((n + 1, n + 1))
    a[:n, :n] = c
    a[:n, n] = -s
    a[n, :n] = s
    b = np.zeros(n + 1)
    b[n] = 1.0
    u = np.linalg.lstsq(a, b, rcond=None)[0][:n]
    v = u * s
    return v / v.sum()
