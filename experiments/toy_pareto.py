"""Which gradient-combination methods end at the same point when one task's loss is remapped?

The problem is the two-objective toy of CAGrad (Liu et al. 2021, arXiv 2110.14048, its
``toy.py``), also used by Nash-MTL and FAMO. With ``x = (x1, x2)``, ``t = tanh``,
``LOWER = 5e-6``::

    h1 = log max(|0.5(-x1 - 7) - t(-x2)|, LOWER) + 6
    h2 = log max(|0.5(-x1 + 3) + t(-x2) + 2|, LOWER) + 6
    q1 = ((x1 - 7)² + 0.1 (x2 + 8)²) / 10 - 20
    q2 = ((x1 + 7)² + 0.1 (x2 + 8)²) / 10 - 20
    c1 = max(t(x2 / 2), 0)          c2 = max(t(-x2 / 2), 0)
    f1 = c1 h1 + c2 q1              f2 = c1 h2 + c2 q2

These are the formulas written from memory of that script, not copied from it. The study
optimises ``Li = fi + SHIFT`` with ``SHIFT = 21``: ``fi ≥ -20`` everywhere, so ``Li ≥ 1`` and
the maps below (and FAMO's log) see positive losses. A constant shift changes no gradient, so
only the loss-valued methods (famo, ldc) could notice it. Every loss reported is this ``Li``.

Pareto set: the upper half-plane (``x2 > 0``, the log valleys) only holds Pareto-*stationary*
traps with both losses ≥ SHIFT - 6.2; the Pareto-optimal points lie in ``x2 < 0``, where
``Li = c2 qi``. Stationarity of ``w L1 + (1 - w) L2`` gives ``x1 = 7 (2w - 1)`` and one
equation in ``x2`` (slightly below -8 because of the ``c2`` factor), solved by bisection:
a curve from about (-7, -8.5) to (7, -8.5).

Each method of ``mtrl.combine.METHODS`` runs from several start points with Adam (cosine-decayed
learning rate, so the end points settle), per-task gradients computed analytically, once on
the plain losses and once with ``L2`` replaced by ``L2**4`` (``pow4``) or ``exp(L2)``
(``exp``). A monotonic map only rescales task 2's gradient by a positive factor at every point,
so a method that declares ``scale_invariant`` (``mtrl.combine.property_table()``: dibs,
dibs-tstep, nashmtl) follows the same trajectory; methods that weigh gradient magnitudes or
loss values end elsewhere on (or off) the front.

    python experiments/toy_pareto.py [--steps N] [--starts M] [--transform pow4|exp|both]
                                     [--out DIR] [--fast]

Writes ``trajectories.png``, ``results.md`` and ``results.csv`` to ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from mtrl.combine import METHODS, REGISTRY, make

LOWER = 5e-6
"""Floor of the absolute value inside the toy's logs."""
SHIFT = 21.0
"""Added to both toy losses so that they are ≥ 1 everywhere."""
STARTS: tuple[tuple[float, float], ...] = (
    (-8.5, 7.5),
    (-7.5, -5.0),
    (9.0, 9.0),
    (0.0, 0.0),
    (9.0, -1.0),
)
"""The five start points of the CAGrad / Nash-MTL toy figures (extra ones are drawn at random)."""
TRANSFORMS = ("pow4", "exp")
LR = 0.05
"""Adam's initial learning rate; it decays to 0 along a cosine."""
SCALE = 10.0
"""Half-width of the region of interest, [-10, 10]²: the problem's length scale."""
MOVE_TOL = 1e-2 * SCALE
"""An end point is unmoved if it moved less than 1 % of the problem's scale."""
INVARIANT = tuple(name for name in METHODS if REGISTRY[name].scale_invariant)
"""Methods expected not to move under a monotonic map of one loss: those that declare
``scale_invariant`` (``mtrl.combine``)."""
FAST = dict(steps=400, starts=2)


def toy(x1: np.ndarray | float, x2: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """The shifted losses ``(L1, L2)`` and their gradients ``[2 tasks, 2 coords, ...]``.

    Works on scalars and on grids. At kinks the derivative follows torch's ``clamp``
    convention (the boundary value passes the gradient).
    """
    x1, x2 = np.asarray(x1, dtype=np.float64), np.asarray(x2, dtype=np.float64)
    t = np.tanh(x2)
    dt = 1.0 - t * t
    a1 = -0.5 * x1 - 3.5 + t  # 0.5(-x1 - 7) - tanh(-x2)
    a2 = -0.5 * x1 + 3.5 - t  # 0.5(-x1 + 3) + tanh(-x2) + 2
    h1 = np.log(np.maximum(np.abs(a1), LOWER)) + 6.0
    h2 = np.log(np.maximum(np.abs(a2), LOWER)) + 6.0
    inv1 = _safe_inverse(a1)
    inv2 = _safe_inverse(a2)
    q1 = ((x1 - 7.0) ** 2 + 0.1 * (x2 + 8.0) ** 2) / 10.0 - 20.0
    q2 = ((x1 + 7.0) ** 2 + 0.1 * (x2 + 8.0) ** 2) / 10.0 - 20.0
    s = np.tanh(0.5 * x2)
    ds = 0.5 * (1.0 - s * s)
    c1, c2 = np.maximum(s, 0.0), np.maximum(-s, 0.0)
    dc1, dc2 = np.where(s >= 0, ds, 0.0), np.where(s <= 0, -ds, 0.0)
    dq2 = 0.02 * (x2 + 8.0)
    losses = np.stack([c1 * h1 + c2 * q1, c2 * q2 + c1 * h2]) + SHIFT
    grads = np.stack(
        [
            np.stack(
                [
                    -0.5 * c1 * inv1 + c2 * (x1 - 7.0) / 5.0,
                    dc1 * h1 + c1 * dt * inv1 + dc2 * q1 + c2 * dq2,
                ]
            ),
            np.stack(
                [
                    -0.5 * c1 * inv2 + c2 * (x1 + 7.0) / 5.0,
                    dc1 * h2 - c1 * dt * inv2 + dc2 * q2 + c2 * dq2,
                ]
            ),
        ]
    )
    return losses, grads


def _safe_inverse(a: np.ndarray) -> np.ndarray:
    """``d/da log max(|a|, LOWER)``: ``1/a``, or 0 where the floor is active."""
    active = np.abs(a) >= LOWER
    return np.where(active, 1.0 / np.where(active, a, 1.0), 0.0)


def transform_task2(name: str, losses: np.ndarray, grads: np.ndarray) -> tuple:
    """Apply the monotonic map ``name`` (``none``, ``pow4``, ``exp``) to task 2's loss.

    ``losses`` ``[2, ...]`` and ``grads`` ``[2, 2, ...]`` as ``toy`` returns them.
    """
    if name == "none":
        return losses, grads
    l2 = losses[1]
    if name == "pow4":
        mapped, factor = l2**4, 4.0 * l2**3
    elif name == "exp":
        mapped = factor = np.exp(l2)
    else:
        raise ValueError(f"unknown transform {name!r}; use one of: none, {', '.join(TRANSFORMS)}")
    return np.stack([losses[0], mapped]), np.stack([grads[0], factor * grads[1]])


def pareto_residual(grads: np.ndarray) -> float:
    """``min_{w ∈ simplex} ‖w g1 + (1 - w) g2‖``, exact for two tasks."""
    g1, g2 = grads[0], grads[1]
    diff = g1 - g2
    denom = float(diff @ diff)
    w = 0.0 if denom == 0.0 else min(max(float(-(g2 @ diff)) / denom, 0.0), 1.0)
    return float(np.linalg.norm(w * g1 + (1.0 - w) * g2))


def pareto_set(n: int = 101) -> np.ndarray:
    """Points ``[n, 2]`` of the Pareto set (the minimisers of ``w L1 + (1-w) L2``)."""
    points = []
    for w in np.linspace(0.0, 1.0, n):
        x1 = 7.0 * (2.0 * w - 1.0)
        quad = (w * (x1 - 7.0) ** 2 + (1 - w) * (x1 + 7.0) ** 2) / 10.0 - 20.0

        def station(x2: float, x1: float = x1, quad: float = quad) -> float:
            s = math.tanh(0.5 * x2)  # c2 = -s, dc2/dx2 = -(1 - s²)/2
            q = quad + 0.01 * (x2 + 8.0) ** 2
            return -0.5 * (1.0 - s * s) * q - s * 0.02 * (x2 + 8.0)

        lo, hi = -12.0, -8.0  # station(lo) < 0 < station(hi)
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if station(mid) < 0 else (lo, mid)
        points.append((x1, 0.5 * (lo + hi)))
    return np.asarray(points)


def start_points(count: int) -> list[tuple[float, float]]:
    """The paper's start points first, then seeded uniform points in [-9, 9]²."""
    extra = np.random.default_rng(0).uniform(-9.0, 9.0, size=(max(count - len(STARTS), 0), 2))
    return [*STARTS, *map(tuple, extra.tolist())][:count]


def run_method(
    method: str,
    starts: Sequence[Sequence[float]],
    transform: str,
    steps: int,
    lr: float = LR,
) -> np.ndarray:
    """Optimise from every start at once; returns the trajectories ``[steps + 1, M, 2]``.

    Each start has its own combiner; one Adam drives all ``M`` points (Adam acts per
    coordinate, so this equals ``M`` separate optimisers).
    """
    combiners = [make(method, num_tasks=2) for _ in starts]
    x = torch.tensor(starts, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([x], lr=lr)
    paths = np.empty((steps + 1, len(starts), 2))
    paths[0] = starts
    losses, grads = transform_task2(transform, *toy(*paths[0].T))
    for step in range(steps):
        opt.param_groups[0]["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * step / steps))
        direction = torch.empty_like(x)
        for i, combiner in enumerate(combiners):
            task_losses = torch.from_numpy(losses[:, i].copy())
            task_grads = torch.from_numpy(grads[:, :, i].copy())
            out = combiner(task_losses, task_grads if combiner.needs_grads else None)
            direction[i] = out.direction if out.direction is not None else out.weights @ task_grads
        x.grad = direction
        opt.step()
        paths[step + 1] = x.detach().numpy()
        losses, grads = transform_task2(transform, *toy(*paths[step + 1].T))
        for i, combiner in enumerate(combiners):
            if combiner.learns_after_step:
                combiner.after_step(torch.from_numpy(losses[:, i].copy()))
    return paths


def run_study(
    steps: int,
    starts: int,
    transforms: list[str],
    out: Path,
    methods: Sequence[str] = METHODS,
    lr: float = LR,
) -> list[dict]:
    """Run every method × start × (plain + transforms); write the figure and tables to ``out``.

    Returns one row per run: method, start, transform, end point, raw losses and Pareto
    residual there, and (for transformed runs) how far the end point moved from the plain one.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    points = start_points(starts)
    rows: list[dict] = []
    paths: dict[tuple[str, int, str], np.ndarray] = {}
    for method in methods:
        runs = {t: run_method(method, points, t, steps, lr) for t in ["none", *transforms]}
        for index, start in enumerate(points):
            for transform, run in runs.items():
                paths[method, index, transform] = run[:, index]
                end = run[-1, index]
                losses, grads = toy(*end)
                moved = None
                if transform != "none":
                    moved = float(np.linalg.norm(end - runs["none"][-1, index]))
                rows.append(
                    dict(
                        method=method,
                        start=index,
                        x1_start=float(start[0]),
                        x2_start=float(start[1]),
                        transform=transform,
                        x1_end=float(end[0]),
                        x2_end=float(end[1]),
                        L1=float(losses[0]),
                        L2=float(losses[1]),
                        residual=pareto_residual(grads),
                        moved=moved,
                    )
                )
    write_tables(rows, out)
    plot(paths, methods, points, transforms, out / "trajectories.png")
    return rows


COLUMNS = (
    "method",
    "start",
    "x1_start",
    "x2_start",
    "transform",
    "x1_end",
    "x2_end",
    "L1",
    "L2",
    "residual",
    "moved",
)


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-3 and value != 0 else f"{value:.4f}"
    return str(value)


def markdown_table(rows: list[dict]) -> str:
    """All rows as a Markdown table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_fmt(row[c]) for c in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def summary(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per method: max moved distance per transform, max Pareto residual (plain, transformed)."""
    result: dict[str, dict[str, float]] = {}
    for row in rows:
        entry = result.setdefault(row["method"], {})
        if row["transform"] == "none":
            key = "residual_plain"
        else:
            key = "residual_mapped"
            moved = f"moved_{row['transform']}"
            entry[moved] = max(entry.get(moved, 0.0), row["moved"])
        entry[key] = max(entry.get(key, 0.0), row["residual"])
    return result


def summary_table(rows: list[dict]) -> str:
    """The per-method summary as a Markdown table: measured invariance beside the declared one."""
    stats = summary(rows)
    keys = sorted({k for entry in stats.values() for k in entry if k.startswith("moved_")})
    head = ["method", *[f"max {k}" for k in keys], "max residual plain", "max residual mapped"]
    lines = ["| " + " | ".join(head) + " | invariant? | declared |", "|" + "---|" * (len(head) + 2)]
    for method, entry in stats.items():
        moved = [entry[k] for k in keys]
        verdict = "yes" if moved and max(moved) < MOVE_TOL else "no"
        cells = [method, *map(_fmt, moved)]
        cells += [_fmt(entry.get("residual_plain")), _fmt(entry.get("residual_mapped"))]
        declared = "yes" if method in INVARIANT else "no"
        lines.append("| " + " | ".join(cells) + f" | {verdict} | {declared} |")
    return "\n".join(lines)


def write_tables(rows: list[dict], out: Path) -> None:
    """``results.csv`` (every row) and ``results.md`` (summary, then every row)."""
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    text = (
        "# Toy Pareto study\n\n"
        f"Losses are the CAGrad toy + {SHIFT:g}; `moved` = ‖end(transformed) − end(plain)‖, "
        f"unmoved below {MOVE_TOL:g}; `residual` = min over the simplex of ‖w1 g1 + w2 g2‖ "
        "(raw-loss gradients) at the end point.\n\n"
        f"## Summary\n\n{summary_table(rows)}\n\n## All runs\n\n{markdown_table(rows)}\n"
    )
    (out / "results.md").write_text(text)


STYLES = {"none": ("tab:blue", "-"), "pow4": ("tab:red", "--"), "exp": ("tab:green", ":")}


def plot(
    paths: dict[tuple[str, int, str], np.ndarray],
    methods: Sequence[str],
    points: Sequence[Sequence[float]],
    transforms: Sequence[str],
    path: Path,
) -> None:
    """One panel per method: trajectories over the contours of L1 + L2, with the Pareto set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    grid = np.linspace(-SCALE, SCALE, 300)
    gx, gy = np.meshgrid(grid, grid)
    total = toy(gx, gy)[0].sum(axis=0)
    front = pareto_set()
    cols = min(3, len(methods))
    nrows = math.ceil(len(methods) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 4.0 * nrows), squeeze=False)
    for ax in axes.flat[len(methods) :]:
        ax.set_visible(False)
    for ax, method in zip(axes.flat, methods, strict=False):
        ax.contourf(gx, gy, total, levels=30, cmap="Greys", alpha=0.5)
        ax.contour(gx, gy, total, levels=30, colors="grey", linewidths=0.3)
        ax.plot(front[:, 0], front[:, 1], color="gold", lw=4, solid_capstyle="round", zorder=2)
        for index, start in enumerate(points):
            ax.plot(*start, "ko", ms=4, zorder=4)
            for transform in ["none", *transforms]:
                traj = paths[method, index, transform]
                color, style = STYLES.get(transform, ("tab:purple", "-."))
                ax.plot(traj[:, 0], traj[:, 1], color=color, ls=style, lw=1.3, zorder=3)
                ax.plot(*traj[-1], marker="x" if transform == "none" else "+", color=color, ms=8)
        ax.set_title(method)
        ax.set_xlim(-SCALE, SCALE)
        ax.set_ylim(-SCALE, SCALE)
        ax.set_aspect("equal")
    handles = [Line2D([], [], color="gold", lw=4, label="Pareto set")]
    for transform in ["none", *transforms]:
        color, style = STYLES.get(transform, ("tab:purple", "-."))
        label = "plain" if transform == "none" else f"L2 → {transform}(L2)"
        handles.append(Line2D([], [], color=color, ls=style, label=label))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    fig.suptitle("Toy problem (CAGrad): trajectories over contours of L1 + L2")
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Command-line entry point; prints the table and the per-method summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="Adam steps per run")
    parser.add_argument("--starts", type=int, default=len(STARTS), help="start points")
    parser.add_argument("--transform", choices=[*TRANSFORMS, "both"], default="both")
    parser.add_argument("--out", type=Path, default=Path("runs/toy_pareto"))
    parser.add_argument("--lr", type=float, default=LR, help="Adam's initial learning rate")
    parser.add_argument("--fast", action="store_true", help=f"quick check: {FAST}")
    args = parser.parse_args(argv)
    steps, starts = (FAST["steps"], FAST["starts"]) if args.fast else (args.steps, args.starts)
    transforms = list(TRANSFORMS) if args.transform == "both" else [args.transform]
    begin = time.perf_counter()
    rows = run_study(steps, starts, transforms, args.out, lr=args.lr)
    print(markdown_table(rows))
    print(f"\nPer method (max over {starts} starts, {steps} steps; unmoved < {MOVE_TOL:g}):\n")
    print(summary_table(rows))
    print(f"\nwrote {args.out}/{{trajectories.png,results.md,results.csv}} ")
    print(f"in {time.perf_counter() - begin:.1f} s")
    return rows


if __name__ == "__main__":
    main()
