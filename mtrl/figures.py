"""The report's figures, as PNG files (matplotlib, Agg): success curves, per-task small
multiples, robustness bars, the headline's intervals, performance profiles, and the
mechanism (each task's critic loss, critic weight share and temperature over training)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mtrl import stats as rl_stats
from mtrl.results import STATISTICS, GroupStats, HeadlineRow, RunCurves, per_task

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Figure, path: Path) -> None:
    """Lay the figure out (unless it has a layout engine), write it as PNG (100 dpi), free it."""
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)


Colors = dict[str, tuple[float, float, float, float]]


def method_colors(methods: Iterable[str]) -> Colors:
    """One colour per method, the same in every figure that gets the same ``methods``: the
    names sorted, on tab20's dark shades and then its light ones (20 before one repeats;
    matplotlib's default cycle repeats after 10, and a report can hold 12 methods)."""
    import matplotlib

    palette = matplotlib.colormaps["tab20"]
    order = [*range(0, 20, 2), *range(1, 20, 2)]
    return {m: palette(order[i % 20]) for i, m in enumerate(sorted(set(methods)))}


def _legend_outside(fig: Figure, axes) -> None:
    """The figure's one legend (every label of ``axes`` once, sorted), to the right of its
    panels, where it hides no curve."""
    by_label = {}
    for ax in axes:
        for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
            by_label.setdefault(text, handle)
    if by_label:
        labels = sorted(by_label)
        fig.legend([by_label[t] for t in labels], labels, loc="outside right upper", fontsize=7)


def plot_headline(rows: list[HeadlineRow], path: Path) -> None:
    """The headline as a figure: per method, the unmapped tasks' IQM with its 95 % interval
    without the map and with it, and the mapped task's IQM under the map; one panel per
    statistic (rows) and map (columns)."""
    plt = _pyplot()
    statistics = [s for s in STATISTICS if any(r.statistic == s for r in rows)]
    maps = list(dict.fromkeys(r.transform for r in rows))
    methods = list(dict.fromkeys(r.method for r in rows))
    fig, axes = plt.subplots(
        len(statistics),
        len(maps),
        figsize=(max(6.0, 0.9 * len(methods) + 1.5) * len(maps), 3.4 * len(statistics)),
        squeeze=False,
        sharey=True,
    )
    marks = (
        ("others_none", -0.2, "o", "none", "other tasks, no map"),
        ("others_mapped", 0.0, "o", "C3", "other tasks, map"),
        ("mapped_task", 0.2, "^", "C0", "mapped task, map"),
    )
    for i, statistic in enumerate(statistics):
        for j, transform in enumerate(maps):
            ax = axes[i][j]
            chosen = {
                r.method: r for r in rows if (r.statistic, r.transform) == (statistic, transform)
            }
            for attr, shift, marker, face, name in marks:
                xs = [k + shift for k, m in enumerate(methods) if m in chosen]
                est = [getattr(chosen[m], attr) for m in methods if m in chosen]
                ys = np.array([e.value for e in est])
                err = np.array([[e.value - e.low for e in est], [e.high - e.value for e in est]])
                edge = "C3" if face == "none" else face
                ax.errorbar(
                    xs,
                    ys,
                    yerr=err,
                    fmt=marker,
                    mfc=face,
                    mec=edge,
                    ecolor=edge,
                    capsize=3,
                    label=name,
                )
            ax.set_xticks(range(len(methods)), methods, fontsize=8, rotation=30)
            ax.set_ylim(-0.05, 1.05)
            ax.set_title(f"map {transform}: {statistic} success", fontsize=9)
            ax.grid(axis="y", alpha=0.3)
        axes[i][0].set_ylabel("IQM success [95% CI]")
    axes[0][0].legend(fontsize=7)
    _save(fig, path)


def plot_curves(stats: list[GroupStats], path: Path, colors: Colors | None = None) -> None:
    """Mean success vs env steps per method, ± SEM bands, one panel per transform."""
    plt = _pyplot()
    transforms = list(dict.fromkeys(g.transform for g in stats))
    colors = colors or method_colors(g.method for g in stats)
    fig, axes = plt.subplots(
        1,
        len(transforms),
        figsize=(4.5 * len(transforms) + 1.8, 3.8),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    for ax, transform in zip(axes[0], transforms, strict=True):
        for g in sorted((g for g in stats if g.transform == transform), key=lambda g: g.method):
            c = colors[g.method]
            ax.plot(g.curve_steps, g.curve_mean, color=c, label=g.method)
            ax.fill_between(
                g.curve_steps,
                g.curve_mean - g.curve_sem,
                g.curve_mean + g.curve_sem,
                color=c,
                alpha=0.2,
            )
        ax.set_title(f"transform: {transform}", fontsize=10)
        ax.set_xlabel("env steps per task")
        ax.set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel("mean success over tasks (± SEM over seeds)")
    _legend_outside(fig, axes.flat)
    _save(fig, path)


def plot_per_task(
    stats: list[GroupStats], transform: str, path: Path, colors: Colors | None = None
) -> None:
    """Small multiples: one panel per task, one line per method (mean over seeds, ± SEM
    band), for one transform."""
    plt = _pyplot()
    chosen = sorted((g for g in stats if g.transform == transform), key=lambda g: g.method)
    colors = colors or method_colors(g.method for g in stats)
    tasks = chosen[0].tasks
    cols = min(5, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(3.2 * cols + 1.8, 2.8 * rows + 0.4),
        squeeze=False,
        sharex=True,
        sharey=True,
        layout="constrained",
    )
    for i, ax in enumerate(axes.flat):
        if i >= len(tasks):
            ax.set_visible(False)
            continue
        for g in chosen:
            c, mean, err = colors[g.method], g.task_curves[:, i], g.task_curves_sem[:, i]
            ax.plot(g.curve_steps, mean, color=c, label=f"{g.method} (n={len(g.seeds)})")
            ax.fill_between(g.curve_steps, mean - err, mean + err, color=c, alpha=0.15)
        ax.set_title(tasks[i], fontsize=9)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("env steps per task", fontsize=8)
    _legend_outside(fig, axes.flat)
    fig.suptitle(f"per-task success (mean ± SEM over seeds), transform: {transform}", fontsize=10)
    _save(fig, path)


def plot_robustness(rows: list[HeadlineRow], path: Path) -> bool:
    """What each map costs the tasks it does not touch: per method, a bar per map of the
    unmapped tasks' final-success IQM without the map minus with it (``HeadlineRow.drop``),
    with its 95 % stratified-bootstrap interval; 0 is a method the map leaves alone. False
    (nothing written) when no row is on final success."""
    rows = [r for r in rows if r.statistic == "final"]
    if not rows:
        return False
    plt = _pyplot()
    methods = sorted(dict.fromkeys(r.method for r in rows))
    maps = list(dict.fromkeys(r.transform for r in rows))
    by_key = {(r.method, r.transform): r for r in rows}
    width = 0.8 / len(maps)
    fig, ax = plt.subplots(
        figsize=(max(7.0, 0.35 * len(methods) * len(maps) + 3.0), 3.8), layout="constrained"
    )
    for j, transform in enumerate(maps):
        shift = (j - (len(maps) - 1) / 2) * width
        present = [
            (i, by_key[m, transform]) for i, m in enumerate(methods) if (m, transform) in by_key
        ]
        drops = [r.drop for _, r in present]
        ax.bar(
            [i + shift for i, _ in present],
            [d.value for d in drops],
            width,
            yerr=[[d.value - d.low for d in drops], [d.high - d.value for d in drops]],
            capsize=3,
            color=f"C{j}",
            label=f"map {transform}",
        )
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(methods)), methods, fontsize=8, rotation=30)
    ax.set_ylim(min(-0.1, ax.get_ylim()[0]), max(1.0, ax.get_ylim()[1]))
    ax.set_ylabel("drop of the other tasks'\nfinal success (IQM, 95% CI)")
    fig.suptitle(  # the figure's, not the axes': the legend beside them narrows the axes
        "robustness: what each map costs the tasks whose reward it leaves alone (0: nothing)",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(fig, path)
    return True


def plot_profiles(
    runs: list[RunCurves], transform: str, path: Path, colors: Colors | None = None
) -> None:
    """Performance profiles of final per-task success under one map: the fraction of
    runs × tasks above τ, with 95 % bands, one line per method."""
    plt = _pyplot()
    groups: dict[str, list[RunCurves]] = {}
    for run in sorted(runs, key=lambda r: r.method):
        if run.transform == transform:
            groups.setdefault(run.method, []).append(run)
    colors = colors or method_colors(groups)
    scores = {m: np.stack([r.scores("final") for r in g]) for m, g in groups.items()}
    taus = np.linspace(0.0, 1.0, 21)
    profiles, bands = rl_stats.performance_profile(scores, taus)
    fig, ax = plt.subplots(figsize=(7.5, 4), layout="constrained")
    for method in scores:
        c = colors[method]
        ax.plot(taus, profiles[method], color=c, label=method)
        ax.fill_between(taus, bands[method][0], bands[method][1], color=c, alpha=0.15)
    ax.set_xlabel("final success τ")
    ax.set_ylabel("fraction of runs × tasks with success > τ")
    ax.set_title(f"performance profiles, map: {transform}", fontsize=10)
    _legend_outside(fig, [ax])
    _save(fig, path)


MECHANISM_METHODS = ("mean", "dibs", "nashmtl", "famo")
"""The methods whose combiner diagnostics the mechanism figure shows."""


def plot_mechanism(runs: list[RunCurves], transform: str, path: Path) -> bool:
    """Why a method fails under a map: per method (columns), each task's critic loss
    (log scale), the critic combiner's weights normalised to sum to one, the task's value
    estimate ``−L_π = E[min Q(s, a) − α log π(a|s)]``, a ~ π (the negated actor loss,
    symmetric log scale) and its SAC temperature α (log scale), over training (means over
    seeds). The map's scale can reach the other task through the shared critic whatever
    the weights: its critic loss, value estimate and temperature show it. False when no
    run of those methods has the map."""
    chosen = [
        m
        for m in MECHANISM_METHODS
        if any(r.method == m and r.transform == transform for r in runs)
    ]
    if not chosen:
        return False
    plt = _pyplot()
    rows = (("loss/critic", "critic loss"), ("combine/critic/weight", "critic weight share"))
    rows += (("loss/actor", "value estimate (−actor loss)"), ("alpha", "temperature α"))
    fig, axes = plt.subplots(
        len(rows), len(chosen), figsize=(3.6 * len(chosen), 2.6 * len(rows)), squeeze=False
    )
    for col, method in enumerate(chosen):
        members = [r for r in runs if r.method == method and r.transform == transform]
        tasks = members[0].tasks
        # a run that stopped itself would cut every curve short at its stop
        logs = [r.scalars for r in members if r.stopped is None] or [r.scalars for r in members]
        for row, (prefix, title) in enumerate(rows):
            normalise = prefix == "combine/critic/weight"
            ax = axes[row][col]
            curves = _mean_curves(logs, prefix, tasks)
            if curves is None:
                ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
            else:
                steps, values = curves
                if normalise:
                    values = values / np.clip(values.sum(axis=1, keepdims=True), 1e-30, None)
                if prefix == "loss/actor":
                    values = -values
                for i, task in enumerate(tasks):
                    mapped = i in members[0].mapped
                    # the unmapped tasks' dashes on top: equal shares (mean) show both lines
                    ax.plot(
                        steps,
                        values[:, i],
                        "-" if mapped else "--",
                        color=f"C{i}",
                        label=task,
                        zorder=2 if mapped else 3,
                    )
                if normalise:
                    ax.set_ylim(-0.02, 1.02)  # shares: comparable across methods
                elif prefix == "loss/actor":
                    ax.set_yscale("symlog", linthresh=1.0)  # it can dip below zero early
                else:
                    ax.set_yscale("log")
            ax.set_title(f"{method}: {title}", fontsize=9)
            ax.set_xlabel("env steps per task", fontsize=8)
        if axes[0][col].get_legend_handles_labels()[0]:
            axes[0][col].legend(fontsize=6)
    fig.suptitle(f"mechanism under {transform} (solid: the mapped task)", fontsize=10)
    _save(fig, path)
    return True


def _mean_curves(
    logs: list[dict[str, list[tuple[int, float]]]], prefix: str, tasks: list[str]
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(steps, values[steps, K])`` of ``<prefix>/<task>``, averaged over the runs' scalar
    logs (``RunCurves.scalars``) that hold it."""
    per_run = []
    for scalars in logs:
        if any(f"{prefix}/{t}" not in scalars for t in tasks):
            continue
        steps, values = per_task(scalars, prefix, tasks)
        if len(steps):
            per_run.append((steps, values))
    if not per_run:
        return None
    n = min(len(s) for s, _ in per_run)
    return per_run[0][0][:n], np.mean([v[:n] for _, v in per_run], axis=0)
