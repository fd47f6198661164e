"""``mtrl report DIR``: every run under DIR, grouped by method × transform, as tables and figures.

Statistics per group, over its seeds:

- final success: ``success/mean`` at the last evaluation, mean ± SEM;
- best success: the best ``success/mean`` over all evaluations of a run, mean ± SEM (the
  statistic the published MT10 tables report; it is optimistic, so it is labelled);
- IQM: the interquartile mean of the final per-task successes of all seeds × tasks, with a
  95 % stratified-bootstrap interval (seeds resampled within each task, as rliable does);
- drop: the method's own untransformed final success minus its final success under the
  transform (the study's headline: how much a reward map hurts a method).

Curves come from ``mtrl.events.read_scalars``: one value per step, so a run trained twice
into its folder (as sweeps once did to ``stl`` runs) counts each evaluation once, with the
later write.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from scipy.stats import trim_mean

from mtrl.config import ConfigError
from mtrl.events import read_scalars
from reward_transforms import label

BOOTSTRAP_SAMPLES = 2000


@dataclass
class RunCurves:
    """One run's evaluation curves: per-task success ``[evals, K]`` at ``steps``."""

    path: Path
    method: str
    transform: str
    seed: int
    tasks: list[str]
    steps: np.ndarray
    success: np.ndarray

    @property
    def mean_success(self) -> np.ndarray:
        """``success/mean`` at every evaluation."""
        return self.success.mean(axis=1)


@dataclass
class GroupStats:
    """The statistics of one method × transform group."""

    method: str
    transform: str
    seeds: list[int]
    tasks: list[str]
    final_mean: float
    final_sem: float
    best_mean: float
    best_sem: float
    iqm: float
    iqm_low: float
    iqm_high: float
    per_task: list[float]
    drop: float | None = None
    curve_steps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    curve_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    curve_sem: np.ndarray = field(default_factory=lambda: np.zeros(0))
    task_curves: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))


def load_runs(root: str | Path) -> tuple[list[RunCurves], list[str]]:
    """Every run folder under ``root`` with evaluations; and notes on the ones left out."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"mtrl report: {root} is not a folder")
    runs, notes = [], []
    for config_path in sorted(root.rglob("config.yaml")):
        run = config_path.parent
        cfg = yaml.safe_load(config_path.read_text()) or {}
        tasks = str(cfg.get("tasks", "")).split(",")
        scalars = read_scalars(run)
        if any(f"success/{t}" not in scalars for t in tasks):
            notes.append(f"{run.name}: no evaluation yet, left out")
            continue
        steps = np.array([s for s, _ in scalars[f"success/{tasks[0]}"]])
        success = np.array([[v for _, v in scalars[f"success/{t}"]] for t in tasks]).T
        transform = label(cfg.get("transform") or [])
        method = cfg.get("label") or cfg["method"]  # a variant keeps its own name
        runs.append(RunCurves(run, method, transform, int(cfg["seed"]), tasks, steps, success))
    if not runs:
        raise ConfigError(f"mtrl report: no run with evaluations under {root}")
    return runs, notes


def sem(values: Sequence[float]) -> float:
    """Standard error of the mean (0 for a single value)."""
    v = np.asarray(values, dtype=float)
    return float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean of all entries (the mean of the middle 50 %)."""
    return float(trim_mean(np.asarray(scores, dtype=float).ravel(), 0.25))


def stratified_bootstrap_ci(
    scores: np.ndarray, samples: int = BOOTSTRAP_SAMPLES, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of the IQM of ``scores[runs, tasks]``, runs resampled per task."""
    rng = np.random.default_rng(seed)
    n, k = scores.shape
    idx = rng.integers(0, n, size=(samples, n, k))
    resampled = np.take_along_axis(scores[None].repeat(samples, 0), idx, axis=1)
    stats = np.array([iqm(r) for r in resampled])
    alpha = (1.0 - level) / 2
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))


def group_stats(runs: list[RunCurves]) -> list[GroupStats]:
    """Statistics per method × transform, in first-seen order; drops filled in."""
    groups: dict[tuple[str, str], list[RunCurves]] = {}
    for run in runs:
        groups.setdefault((run.method, run.transform), []).append(run)
    out = []
    for (method, transform), members in groups.items():
        members.sort(key=lambda r: r.seed)
        steps = members[0].steps
        for r in members[1:]:
            steps = np.intersect1d(steps, r.steps)
        curves = np.stack([r.success[np.searchsorted(r.steps, steps)] for r in members])
        final = np.stack([r.success[-1] for r in members])  # [seeds, K]
        finals = final.mean(axis=1)
        bests = [r.mean_success.max() for r in members]
        low, high = stratified_bootstrap_ci(final)
        out.append(
            GroupStats(
                method=method,
                transform=transform,
                seeds=[r.seed for r in members],
                tasks=members[0].tasks,
                final_mean=float(finals.mean()),
                final_sem=sem(finals),
                best_mean=float(np.mean(bests)),
                best_sem=sem(bests),
                iqm=iqm(final),
                iqm_low=low,
                iqm_high=high,
                per_task=final.mean(axis=0).tolist(),
                curve_steps=steps,
                curve_mean=curves.mean(axis=2).mean(axis=0),
                curve_sem=np.array([sem(c) for c in curves.mean(axis=2).T]),
                task_curves=curves.mean(axis=0),
            )
        )
    plain = {g.method: g.final_mean for g in out if g.transform == "none"}
    for g in out:
        if g.transform != "none" and g.method in plain:
            g.drop = plain[g.method] - g.final_mean
    return out


def _pm(mean: float, err: float) -> str:
    return f"{mean:.3f} ± {err:.3f}"


def table_rows(stats: list[GroupStats]) -> tuple[list[str], list[list[str]]]:
    """The main table: header and one row per group."""
    head = [
        "method",
        "transform",
        "seeds",
        "final success (mean ± SEM)",
        "best-eval success (mean ± SEM)",
        "IQM [95% CI]",
        "drop vs none",
    ]
    rows = [
        [
            g.method,
            g.transform,
            str(len(g.seeds)),
            _pm(g.final_mean, g.final_sem),
            _pm(g.best_mean, g.best_sem),
            f"{g.iqm:.3f} [{g.iqm_low:.3f}, {g.iqm_high:.3f}]",
            "–" if g.drop is None else f"{g.drop:+.3f}",
        ]
        for g in stats
    ]
    return head, rows


def markdown(head: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def plain_table(head: list[str], rows: list[list[str]]) -> str:
    """A fixed-width table for a terminal."""
    widths = [max(len(c) for c in col) for col in zip(head, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head), fmt.format(*["-" * w for w in widths])]
    return "\n".join(line.rstrip() for line in lines + [fmt.format(*r) for r in rows])


def per_task_rows(stats: list[GroupStats]) -> tuple[list[str], list[list[str]]]:
    """Final success per task (mean over seeds), one row per group."""
    tasks = stats[0].tasks
    head = ["method", "transform", *tasks]
    return head, [[g.method, g.transform, *(f"{v:.2f}" for v in g.per_task)] for g in stats]


def write_csv(stats: list[GroupStats], path: Path) -> None:
    """``results.csv``: one row per group, every statistic and the per-task finals."""
    tasks = stats[0].tasks
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "method",
                "transform",
                "seeds",
                "final_mean",
                "final_sem",
                "best_mean",
                "best_sem",
                "iqm",
                "iqm_ci_low",
                "iqm_ci_high",
                "drop_vs_none",
                *(f"final_success/{t}" for t in tasks),
            ]
        )
        for g in stats:
            w.writerow(
                [
                    g.method,
                    g.transform,
                    len(g.seeds),
                    g.final_mean,
                    g.final_sem,
                    g.best_mean,
                    g.best_sem,
                    g.iqm,
                    g.iqm_low,
                    g.iqm_high,
                    "" if g.drop is None else g.drop,
                    *g.per_task,
                ]
            )


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
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_per_task(stats: list[GroupStats], transform: str, path: Path) -> None:
    """Small multiples: one panel per task, one line per method, for one transform."""
    plt = _pyplot()
    chosen = [g for g in stats if g.transform == transform]
    tasks = chosen[0].tasks
    cols = min(5, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3 * cols, 2.4 * rows), squeeze=False, sharex=True, sharey=True
    )
    colors = _method_colors(stats)
    for i, ax in enumerate(axes.flat):
        if i >= len(tasks):
            ax.set_visible(False)
            continue
        for g in chosen:
            ax.plot(g.curve_steps, g.task_curves[:, i], color=colors[g.method], label=g.method)
        ax.set_title(tasks[i], fontsize=9)
        ax.set_ylim(-0.02, 1.02)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"per-task success (mean over seeds), transform: {transform}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


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
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _method_colors(stats: list[GroupStats]) -> dict[str, str]:
    methods = list(dict.fromkeys(g.method for g in stats))
    return {m: f"C{i % 10}" for i, m in enumerate(methods)}


def write_report(root: str | Path, out: str | Path | None = None) -> tuple[list[GroupStats], str]:
    """Write ``results.md``, ``results.csv`` and the figures to ``out``; return stats and notes."""
    runs, notes = load_runs(root)
    stats = group_stats(runs)
    out = Path(out) if out is not None else Path(root) / "report"
    out.mkdir(parents=True, exist_ok=True)
    head, rows = table_rows(stats)
    thead, trows = per_task_rows(stats)
    figures = ["curves.png", "robustness.png"]
    for transform in dict.fromkeys(g.transform for g in stats):
        name = f"per_task_{transform}.png"
        plot_per_task(stats, transform, out / name)
        figures.append(name)
    plot_curves(stats, out / "curves.png")
    plot_robustness(stats, out / "robustness.png")
    write_csv(stats, out / "results.csv")
    text = "\n\n".join(
        [
            f"# Report: {Path(root).name}",
            "Final success: `success/mean` at the last evaluation. Best-eval success: the best "
            "evaluation over training (the statistic of the published MT10 tables; optimistic). "
            "IQM: interquartile mean of final per-task successes over seeds × tasks, 95% "
            f"stratified-bootstrap CI ({BOOTSTRAP_SAMPLES} samples). Drop: the method's final "
            "success without transform minus with it.",
            markdown(head, rows),
            "## Final success per task",
            markdown(thead, trows),
            "## Figures",
            "\n".join(f"![{f}]({f})" for f in figures),
            *(["## Left out", "\n".join(f"- {n}" for n in notes)] if notes else []),
        ]
    )
    (out / "results.md").write_text(text + "\n")
    return stats, "\n".join(notes)
