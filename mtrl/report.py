"""``mtrl report DIR``: every run under DIR, grouped by method × transform, as tables and figures.

Statistics per group, over its seeds:

- final success: ``success/mean`` at the last evaluation, mean ± SEM;
- best success: the best ``success/mean`` over all evaluations of a run, mean ± SEM (the
  statistic the published MT10 tables report; it is optimistic, so it is labelled);
- IQM: the interquartile mean of the final per-task successes of all seeds × tasks, with a
  95 % stratified-bootstrap interval (``mtrl.stats``, on rliable);
- drop: the method's own untransformed final success minus its final success under the
  transform.

The study's headline (``headline_rows``), per method and reward map, on both statistics
(final success, the honest one; the best evaluation over training, the paper's): the
IQM success of the tasks whose reward is *not* mapped, without and with the map, the
drop with its interval, the mapped task's own success, and P(dibs > method) under the
map. A run whose compute path changed since it finished (``mtrl.provenance``) is
reported as stale.

Curves come from ``mtrl.events.read_scalars``: one value per step, so a run trained twice
into its folder (as sweeps once did to ``stl`` runs) counts each evaluation once, with the
later write.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtrl import stats as rl_stats
from mtrl.config import ConfigError, load_yaml_mapping
from mtrl.events import read_scalars, wall_seconds
from mtrl.finished import FINISHED
from mtrl.provenance import (
    LEDGER,
    behaviour_unchanged,
    method_key,
    read_ledger,
    stale_modules,
)
from reward_transforms import label, parse_transforms

BOOTSTRAP_SAMPLES = rl_stats.BOOTSTRAP_REPS
STATISTICS = ("final", "best")
"""``final``: each task's success at the last evaluation; ``best``: at the evaluation
where the run's mean success was highest (the published tables' statistic, optimistic)."""


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
    mapped: tuple[int, ...] = ()
    """Indices of the tasks whose training reward goes through a map."""
    wall_s: float = 0.0
    """Seconds its processes ran (``mtrl.events.wall_seconds``)."""

    @property
    def mean_success(self) -> np.ndarray:
        """``success/mean`` at every evaluation."""
        return self.success.mean(axis=1)

    def scores(self, statistic: str = "final") -> np.ndarray:
        """Per-task success ``[K]`` under ``statistic`` (see ``STATISTICS``)."""
        if statistic == "final":
            return self.success[-1]
        return self.success[int(np.argmax(self.mean_success))]


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
    task_curves_sem: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))


def load_runs(root: str | Path) -> tuple[list[RunCurves], list[str]]:
    """Every run folder under ``root`` with evaluations; and notes on the ones left out."""
    root = Path(root)
    try:
        is_dir = root.is_dir()
    except OSError:  # e.g. a name too long
        is_dir = False
    if not is_dir:
        raise ConfigError(f"mtrl report: {root} is not a folder")
    runs, notes = [], []
    try:
        ledger = read_ledger(root / LEDGER)
    except (OSError, ValueError) as err:  # not UTF-8, not JSON
        raise ConfigError(f"mtrl report: cannot read {root / LEDGER}: {err}") from None
    if not isinstance(ledger, list) or not all(isinstance(e, dict) for e in ledger):
        raise ConfigError(f"mtrl report: {root / LEDGER} is not a behaviour ledger (a list)")
    for config_path in sorted(root.rglob("config.yaml")):
        run = config_path.parent
        try:
            cfg = _run_config(config_path)
        except ConfigError as err:
            notes.append(f"{run.name}: {err}, left out")
            continue
        tasks = str(cfg.get("tasks", "")).split(",")
        scalars = read_scalars(run)
        if any(f"success/{t}" not in scalars for t in tasks):
            heldout = any(k.startswith("heldout/success/") for k in scalars)
            why = (
                "evaluated on held-out goals only (heldout/ tags)"
                if heldout
                else "no evaluation yet"
            )
            notes.append(f"{run.name}: {why}, left out")
            continue
        steps, success = per_task(scalars, "success", tasks)
        if not len(steps):
            notes.append(f"{run.name}: no evaluation logged for every task, left out")
            continue
        maps = parse_transforms(cfg.get("transform") or [], tasks)
        transform = label([f"{tasks[i]}:{maps[i]}" for i in sorted(maps)])  # by task name
        method = cfg.get("label") or cfg["method"]  # a variant keeps its own name
        mapped = tuple(sorted(maps))
        runs.append(
            RunCurves(
                run,
                method,
                transform,
                int(cfg["seed"]),
                tasks,
                steps,
                success,
                mapped,
                wall_seconds(run),
            )
        )
        notes += _provenance_notes(run, cfg, ledger)
    if not runs:
        raise ConfigError(f"mtrl report: no run with evaluations under {root}")
    return runs, notes


def _run_config(path: Path) -> dict[str, Any]:
    """A run's ``config.yaml``, with the keys the report reads checked (ConfigError if not)."""
    cfg = load_yaml_mapping(path)
    kinds = {"method": str, "seed": int, "tasks": str}
    for key, kind in kinds.items():
        if not isinstance(cfg.get(key), kind) or isinstance(cfg.get(key), bool):
            raise ConfigError(f"{path}: no valid {key!r}")
    for key, kind in (("label", str), ("transform", list), ("method_options", dict)):
        if cfg.get(key) is not None and not isinstance(cfg[key], kind):
            raise ConfigError(f"{path}: {key!r} is not a {kind.__name__}")
    specs = cfg.get("transform") or []
    if not all(isinstance(spec, str) for spec in specs):
        raise ConfigError(f"{path}: 'transform' is not a list of specs")
    try:
        parse_transforms(specs, cfg["tasks"].split(","))
    except ValueError as err:
        raise ConfigError(f"{path}: {err}") from None
    return cfg


def _provenance_notes(run: Path, cfg: dict, ledger: list[dict]) -> list[str]:
    """``unfinished`` for a run without ``finished.json``; ``stale`` when its code changed,
    unless the behaviour ledger shows the change kept the method's numbers bit-identical."""
    marker = run / FINISHED
    if not marker.is_file():
        return [f"{run.name}: unfinished (no {FINISHED}), its last evaluation counts as final"]
    try:
        code = json.loads(marker.read_text()).get("code")
    except (OSError, ValueError, AttributeError):  # not UTF-8, not JSON, not an object
        code = False
    if code is False or (code is not None and not isinstance(code, dict)):
        return [f"{run.name}: its {FINISHED} is unreadable: which code it ran is unknown"]
    method = cfg["method"]
    changed = stale_modules(code, method) if code else []
    if not changed:
        return []
    key = method_key(method, cfg.get("method_options"))
    if behaviour_unchanged(code, method, key, ledger):
        return []
    return [f"{run.name}: stale, code changed since it ran: {', '.join(changed)}"]


def sem(values: Sequence[float]) -> float:
    """Standard error of the mean (0 for a single value)."""
    v = np.asarray(values, dtype=float)
    return float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0


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
        estimate = rl_stats.iqm(final)
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
                iqm=estimate.value,
                iqm_low=estimate.low,
                iqm_high=estimate.high,
                per_task=final.mean(axis=0).tolist(),
                curve_steps=steps,
                curve_mean=curves.mean(axis=2).mean(axis=0),
                curve_sem=np.array([sem(c) for c in curves.mean(axis=2).T]),
                task_curves=curves.mean(axis=0),
                task_curves_sem=np.apply_along_axis(sem, 0, curves),  # [steps, K]
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


def cost_rows(runs: list[RunCurves]) -> tuple[list[str], list[list[str]]]:
    """Per method: runs, median minutes per run and run-hours in all; a last row sums."""
    by_method: dict[str, list[float]] = {}
    for run in runs:
        by_method.setdefault(run.method, []).append(run.wall_s)
    head = ["method", "runs", "median min/run", "run-hours"]
    body = [
        [m, str(len(w)), f"{np.median(w) / 60:.1f}", f"{sum(w) / 3600:.1f}"]
        for m, w in by_method.items()
    ]
    every = [r.wall_s for r in runs]
    body.append(
        ["all", str(len(every)), f"{np.median(every) / 60:.1f}", f"{sum(every) / 3600:.1f}"]
    )
    return head, body


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


@dataclass
class HeadlineRow:
    """One method under one reward map, on one statistic (see ``STATISTICS``)."""

    method: str
    transform: str
    statistic: str
    seeds: int
    others_none: rl_stats.Estimate
    others_mapped: rl_stats.Estimate
    drop: rl_stats.Estimate
    mapped_task: rl_stats.Estimate
    dibs_better: rl_stats.Estimate | None


def _scores(members: list[RunCurves], statistic: str, tasks: list[int]) -> np.ndarray:
    """``[seeds, len(tasks)]`` scores of a group's runs on the chosen tasks."""
    return np.stack([r.scores(statistic)[tasks] for r in members])


def headline_rows(runs: list[RunCurves], statistic: str = "final") -> list[HeadlineRow]:
    """Per method × reward map: the unmapped tasks' IQM without and with the map, the drop,
    the mapped task's IQM, and P(dibs > method) on the unmapped tasks under the map."""
    groups: dict[tuple[str, str], list[RunCurves]] = {}
    for run in runs:
        groups.setdefault((run.method, run.transform), []).append(run)
    rows = []
    for (method, transform), members in groups.items():
        plain = groups.get((method, "none"))
        if transform == "none" or not plain or not members[0].mapped:
            continue
        k = len(members[0].tasks)
        mapped = list(members[0].mapped)
        others = [i for i in range(k) if i not in mapped]
        x_none, x_map = _scores(plain, statistic, others), _scores(members, statistic, others)
        dibs = groups.get(("dibs", transform))
        better = None
        if dibs and method != "dibs":
            better = rl_stats.probability_of_improvement(_scores(dibs, statistic, others), x_map)
        rows.append(
            HeadlineRow(
                method=method,
                transform=transform,
                statistic=statistic,
                seeds=len(members),
                others_none=rl_stats.iqm(x_none),
                others_mapped=rl_stats.iqm(x_map),
                drop=rl_stats.iqm_difference(x_none, x_map),
                mapped_task=rl_stats.iqm(_scores(members, statistic, mapped)),
                dibs_better=better,
            )
        )
    return rows


def headline_table(rows: list[HeadlineRow]) -> tuple[list[str], list[list[str]]]:
    """The headline as a table: IQM [95 % CI] of every cell."""
    head = [
        "method",
        "map",
        "seeds",
        "other tasks, no map",
        "other tasks, map",
        "drop",
        "mapped task, map",
        "P(dibs > method)",
    ]
    body = [
        [
            r.method,
            r.transform,
            str(r.seeds),
            str(r.others_none),
            str(r.others_mapped),
            str(r.drop),
            str(r.mapped_task),
            "–" if r.dibs_better is None else str(r.dibs_better),
        ]
        for r in rows
    ]
    return head, body


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
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


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
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


MECHANISM_METHODS = ("mean", "dibs", "nashmtl", "famo")
"""The methods whose combiner diagnostics the mechanism figure shows."""


def plot_mechanism(runs: list[RunCurves], transform: str, path: Path) -> bool:
    """Why a method fails under a map: per method (columns), each task's critic loss
    (log scale), the critic combiner's weights normalised to sum to one, and the task's
    SAC temperature α (log scale), over training (means over seeds). The map's scale can
    reach the other task through the shared critic whatever the weights: its critic
    loss and temperature show it. False when no run of those methods has the map."""
    chosen = [
        m
        for m in MECHANISM_METHODS
        if any(r.method == m and r.transform == transform for r in runs)
    ]
    if not chosen:
        return False
    plt = _pyplot()
    rows = (("loss/critic", "critic loss"), ("combine/critic/weight", "critic weight share"))
    rows += (("alpha", "temperature α"),)
    fig, axes = plt.subplots(
        len(rows), len(chosen), figsize=(3.6 * len(chosen), 2.6 * len(rows)), squeeze=False
    )
    for col, method in enumerate(chosen):
        members = [r for r in runs if r.method == method and r.transform == transform]
        tasks = members[0].tasks
        for row, (prefix, title) in enumerate(rows):
            normalise = prefix == "combine/critic/weight"
            ax = axes[row][col]
            curves = _mean_curves(members, prefix, tasks)
            if curves is None:
                ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
            else:
                steps, values = curves
                if normalise:
                    values = values / np.clip(values.sum(axis=1, keepdims=True), 1e-30, None)
                for i, task in enumerate(tasks):
                    style = "-" if i in members[0].mapped else "--"
                    ax.plot(steps, values[:, i], style, color=f"C{i}", label=task)
                if normalise:
                    ax.set_ylim(-0.02, 1.02)  # shares: comparable across methods
                else:
                    ax.set_yscale("log")
            ax.set_title(f"{method}: {title}", fontsize=9)
            ax.set_xlabel("env steps per task", fontsize=8)
        if axes[0][col].get_legend_handles_labels()[0]:
            axes[0][col].legend(fontsize=6)
    fig.suptitle(f"mechanism under {transform} (solid: the mapped task)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def per_task(
    scalars: dict[str, list[tuple[int, float]]], prefix: str, tasks: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """The steps at which every task logged ``<prefix>/<task>``, and the values there
    ``[steps, K]``: a step some tasks lack (a run killed while it logged an evaluation)
    is left out."""
    by_task = [dict(scalars[f"{prefix}/{t}"]) for t in tasks]
    steps = sorted(set(by_task[0]).intersection(*by_task[1:]))
    values = np.array([[d[s] for d in by_task] for s in steps], dtype=float)
    return np.array(steps), values.reshape(len(steps), len(tasks))


def _mean_curves(
    members: list[RunCurves], prefix: str, tasks: list[str]
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(steps, values[steps, K])`` of ``<prefix>/<task>``, averaged over the runs that log it."""
    per_run = []
    for run in members:
        scalars = read_scalars(run.path)
        if any(f"{prefix}/{t}" not in scalars for t in tasks):
            continue
        steps, values = per_task(scalars, prefix, tasks)
        if len(steps):
            per_run.append((steps, values))
    if not per_run:
        return None
    n = min(len(s) for s, _ in per_run)
    return per_run[0][0][:n], np.mean([v[:n] for _, v in per_run], axis=0)


def write_report(root: str | Path, out: str | Path | None = None) -> tuple[list[GroupStats], str]:
    """Write ``results.md``, ``results.csv`` and the figures to ``out``; return stats and notes."""
    runs, notes = load_runs(root)
    stats = group_stats(runs)
    out = Path(out) if out is not None else Path(root) / "report"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as err:
        why = err.strerror if isinstance(err, OSError) else str(err)
        raise ConfigError(f"mtrl report: cannot write to {out}: {why}") from None
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
    mapped = [t for t in dict.fromkeys(g.transform for g in stats) if t != "none"]
    for transform in ["none", *mapped]:
        if any(r.transform == transform for r in runs):
            plot_profiles(runs, transform, out / f"profile_{transform}.png")
            figures.append(f"profile_{transform}.png")
    for transform in mapped:
        if plot_mechanism(runs, transform, out / f"mechanism_{transform}.png"):
            figures.append(f"mechanism_{transform}.png")
    headline = []
    every_line: list[HeadlineRow] = []
    for statistic in STATISTICS:
        lines = headline_rows(runs, statistic)
        every_line += lines
        if lines:
            title = {
                "final": "## Headline: final success (the honest statistic)",
                "best": "## Headline: best evaluation over training (the paper's statistic)",
            }[statistic]
            headline += [title, markdown(*headline_table(lines))]
    if every_line:
        plot_headline(every_line, out / "headline.png")
        figures.insert(0, "headline.png")
    text = "\n\n".join(
        [
            f"# Report: {Path(root).name}",
            "Final success: `success/mean` at the last evaluation. Best-eval success: the best "
            "evaluation over training (the statistic of the published MT10 tables; optimistic). "
            "IQM: interquartile mean of final per-task successes over seeds × tasks, 95% "
            f"stratified-bootstrap CI ({BOOTSTRAP_SAMPLES} samples). Drop: the method's final "
            "success without transform minus with it.",
            markdown(head, rows),
            *(
                [
                    "IQM [95% CI] over seeds × tasks (rliable, stratified bootstrap, "
                    f"{BOOTSTRAP_SAMPLES} samples). *Other tasks*: the tasks whose reward is "
                    "not mapped; *drop*: their IQM without the map minus with it; "
                    "P(dibs > method): probability that a dibs run beats a run of the method "
                    "on an unmapped task under the map (ties count a half: two methods both "
                    "at 0.00 give 0.50)."
                ]
                if headline
                else []
            ),
            *headline,
            "## Final success per task",
            markdown(thead, trows),
            "## Runs and their cost",
            "Wall time of each run's processes (its event files' first to last write, summed "
            "over attempts; two runs at once share a 2-core machine, so machine-hours are "
            "about half the run-hours).",
            markdown(*cost_rows(runs)),
            "## Figures",
            "\n".join(f"![{f}]({f})" for f in figures),
            *(["## Left out", "\n".join(f"- {n}" for n in notes)] if notes else []),
        ]
    )
    (out / "results.md").write_text(text + "\n")
    return stats, "\n".join(notes)
