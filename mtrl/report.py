"""``mtrl report DIR``: every run under DIR, grouped by method × transform, written as
``results.md``, ``results.csv`` and figures (``mtrl.figures``); the numbers come from
``mtrl.results``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from mtrl import figures
from mtrl.config import ConfigError
from mtrl.results import (
    BOOTSTRAP_SAMPLES,
    LATE_FRACTION,
    STATISTICS,
    GroupStats,
    HeadlineRow,
    RunCurves,
    ScaleRow,
    group_stats,
    headline_rows,
    load_runs,
    scale_rows,
)


def _pm(mean: float, err: float) -> str:
    return f"{mean:.3f} ± {err:.3f}"


def _seeds(count: int, stopped: int) -> str:
    """A cell's run count, with how many of them stopped themselves (scored 0 after)."""
    return f"{count} ({stopped} stopped)" if stopped else str(count)


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)


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
            _seeds(len(g.seeds), g.stopped),
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


def per_run_rows(
    stats: list[GroupStats], runs: list[RunCurves]
) -> tuple[list[str], list[list[str]]]:
    """Each run's final success per task, one row per group (in ``stats``' order): a
    task's cell lists its runs' finals in the order of the seeds column."""
    tasks = stats[0].tasks
    head = ["method", "transform", "seeds", *tasks]
    body = []
    for g in stats:
        group = sorted(
            (r for r in runs if (r.method, r.transform) == (g.method, g.transform)),
            key=lambda r: r.seed,
        )
        finals = [r.scores("final") for r in group]
        body.append(
            [
                g.method,
                g.transform,
                ", ".join(str(r.seed) for r in group),
                *(" ".join(f"{f[k]:.2f}" for f in finals) for k in range(len(tasks))),
            ]
        )
    return head, body


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
                "stopped",
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
                    g.stopped,
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
            _seeds(r.seeds, r.stopped),
            str(r.others_none),
            str(r.others_mapped),
            str(r.drop),
            str(r.mapped_task),
            "–" if r.dibs_better is None else str(r.dibs_better),
        ]
        for r in rows
    ]
    return head, body


def _g(value: float | None) -> str:
    return "–" if value is None else f"{value:.2g}"


def scale_table(rows: list[ScaleRow]) -> tuple[list[str], list[list[str]]]:
    """``scale_rows`` as a table (two significant digits)."""
    head = [
        "method",
        "map",
        "other tasks' value, no map",
        "other tasks' value, map",
        "their critic loss, no map",
        "their critic loss, map",
        "their α, no map",
        "their α, map",
        "mapped tasks' critic weight share",
    ]
    body = [
        [
            r.method,
            r.transform,
            _g(r.value_none),
            _g(r.value_mapped),
            _g(r.critic_loss_none),
            _g(r.critic_loss_mapped),
            _g(r.alpha_none),
            _g(r.alpha_mapped),
            _g(r.mapped_share),
        ]
        for r in rows
    ]
    return head, body


def write_report(
    root: str | Path, out: str | Path | None = None, partial: bool = False
) -> tuple[list[GroupStats], str]:
    """Write ``results.md``, ``results.csv`` and the figures to ``out``; return stats and notes.
    ``partial`` counts unfinished runs too, each at its last evaluation."""
    runs, notes = load_runs(root, partial)
    stats = group_stats(runs)
    out = Path(out) if out is not None else Path(root) / "report"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as err:
        why = err.strerror if isinstance(err, OSError) else str(err)
        raise ConfigError(f"mtrl report: cannot write to {out}: {why}") from None
    head, rows = table_rows(stats)
    thead, trows = per_task_rows(stats)
    colors = figures.method_colors(r.method for r in runs)  # one colour per method throughout
    pictures = ["curves.png"]
    for transform in dict.fromkeys(g.transform for g in stats):
        name = f"per_task_{transform}.png"
        figures.plot_per_task(stats, transform, out / name, colors)
        pictures.append(name)
    figures.plot_curves(stats, out / "curves.png", colors)
    write_csv(stats, out / "results.csv")
    mapped = [t for t in dict.fromkeys(g.transform for g in stats) if t != "none"]
    for transform in ["none", *mapped]:
        if any(r.transform == transform for r in runs):
            figures.plot_profiles(runs, transform, out / f"profile_{transform}.png", colors)
            pictures.append(f"profile_{transform}.png")
    for transform in mapped:
        if figures.plot_mechanism(runs, transform, out / f"mechanism_{transform}.png"):
            pictures.append(f"mechanism_{transform}.png")
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
        figures.plot_headline(every_line, out / "headline.png")
        pictures.insert(0, "headline.png")
    if figures.plot_robustness(every_line, out / "robustness.png"):
        pictures.insert(1, "robustness.png")
    scale = scale_rows(runs)
    if scale:
        headline += [
            "## Mechanism: the other tasks' value scale",
            "Late in training (each run's last "
            f"{LATE_FRACTION:.1%} of logged steps, median; then the median over seeds): "
            "the unmapped tasks' value estimate −L_π (the negated actor loss), critic "
            "loss and SAC temperature α without and with the map, and the mapped tasks' "
            "share of the critic "
            "combiner's weights under it. A map that reaches the other tasks through the "
            "shared critic shows as their values leaving the scale of their own rewards.",
            markdown(*scale_table(scale)),
        ]
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
            "## Final success per run",
            "Each run's success at its last evaluation, per task, seeds in the order listed.",
            markdown(*per_run_rows(stats, runs)),
            "## Runs and their cost",
            "Wall time of each run's processes (its event files' first to last write, summed "
            "over attempts; two runs at once share a 2-core machine, so machine-hours are "
            "about half the run-hours).",
            markdown(*cost_rows(runs)),
            "## Figures",
            "\n".join(f"![{f}]({f})" for f in pictures),
            *(["## Notes (runs left out, stopped, stale)", _bullets(notes)] if notes else []),
        ]
    )
    (out / "results.md").write_text(text + "\n")
    return stats, "\n".join(notes)
