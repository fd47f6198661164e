"""The report's figures, as PNG files (matplotlib, Agg): success curves, per-task small
multiples, robustness bars, the headline's intervals, performance profiles, and the
mechanism (each task's critic loss, critic weight share and temperature over training)."""

from __future__ import annotations

import math
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
    """Lay the figure out, write it as PNG (100 dpi) and free it."""
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)


def _method_colors(stats: list[GroupStats]) -> dict[str, str]:
    methods = list(dict.fromkeys(g.method for g in stats))
    return {m: f"C{i % 10}" for i, m in enumerate(methods)}


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


def plot_curves(stats: list[GroupStats], path: Path) -> None:
    """Mean success vs env steps per method, ± SEM bands, one panel per transform."""
    plt = _pyplot()
    transforms = list(dict.fromkeys(g.transform for g in stats))
    fig, axes = plt.subplots(
        1, len(transforms), figsize=(5 * len(transforms), 3.8), squeeze=False, sharey=True
    )
    colors = _method_colors(stats)
    for ax, transform in zip(axes[0], transforms, strict=True):
        for g in (g for g in stats if g.transform == transform):
            c = colors[g.method]
            ax.plot(g.curve_steps, g.curve_mean, color=c, label=f"{g.method} (n={len(g.seeds)})")
            ax.fill_between(
                g.curve_steps,
                g.curve_mean - g.curve_sem,
                g.curve_mean + g.curve_sem,
                color=c,
                alpha=0.2,
            )
        ax.set_title(f"transform: {transform}")
        ax.set_xlabel("env steps per task")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("mean success rate (± SEM over seeds)")
    _save(fig, path)


def plot_per_task(stats: list[GroupStats], transform: str, path: Path) -> None:
    """Small multiples: one panel per task, one line per method (mean over seeds, ± SEM
    band), for one transform."""
    plt = _pyplot()
    chosen = [g for g in stats if g.transform == transform]
    tasks = chosen[0].tasks
    cols = min(5, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(max(7.0, 3 * cols), 2.6 * rows),
        squeeze=False,
        sharex=True,
        sharey=True,
    )
    colors = _method_colors(stats)
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
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"per-task success (mean ± SEM over seeds), transform: {transform}", fontsize=10)
    _save(fig, path)


def plot_robustness(stats: list[GroupStats], path: Path) -> None:
    """Final mean success per method, a bar per transform (none first), ± SEM."""
    plt = _pyplot()
    methods = list(dict.fromkeys(g.method for g in stats))
    transforms = list(dict.fromkeys(g.transform for g in stats))
    transforms.sort(key=lambda t: t != "none")
    by_key = {(g.method, g.transform): g for g in stats}
    width = 0.8 / len(transforms)
    fig, ax = plt.subplots(figsize=(max(7, 0.6 * len(methods) * len(transforms)), 3.8))
    for j, transform in enumerate(transforms):
        xs, ys, es = [], [], []
        for i, method in enumerate(methods):
            if (method, transform) in by_key:
                g = by_key[method, transform]
                xs.append(i + (j - (len(transforms) - 1) / 2) * width)
                ys.append(g.final_mean)
                es.append(g.final_sem)
        ax.bar(xs, ys, width, yerr=es, capsize=3, label=transform)
    ax.set_xticks(range(len(methods)), methods)
    ax.set_ylabel("final mean success (± SEM)")
    ax.set_ylim(0, 1.05)
    ax.set_title("robustness: success with and without each reward transform", fontsize=10)
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_profiles(runs: list[RunCurves], transform: str, path: Path) -> None:
    """Performance profiles of final per-task success under one map: the fraction of
    runs × tasks above τ, with 95 % bands, one line per method."""
    plt = _pyplot()
    groups: dict[str, list[RunCurves]] = {}
    for run in runs:
        if run.transform == transform:
            groups.setdefault(run.method, []).append(run)
    scores = {m: np.stack([r.scores("final") for r in g]) for m, g in groups.items()}
    taus = np.linspace(0.0, 1.0, 21)
    profiles, bands = rl_stats.performance_profile(scores, taus)
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, method in enumerate(scores):
        ax.plot(taus, profiles[method], color=f"C{i % 10}", label=method)
        ax.fill_between(taus, bands[method][0], bands[method][1], color=f"C{i % 10}", alpha=0.15)
    ax.set_xlabel("final success τ")
    ax.set_ylabel("fraction of runs × tasks with success > τ")
    ax.set_title(f"performance profiles, map: {transform}", fontsize=10)
    ax.legend(fontsize=7)
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
