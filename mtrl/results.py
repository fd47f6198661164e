"""A sweep folder's runs as numbers: each run's evaluation curves, and statistics per
method × transform over its seeds.

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
map; and the mechanism behind it as numbers (``scale_rows``): the unmapped tasks'
value estimate, critic loss and SAC temperature late in training, without and with the
map. A run whose compute path changed since it finished (``mtrl.provenance``) is noted
as stale. A run that has not finished (no ``finished.json``) is left out unless
``partial``: its last evaluation is not its final one, and mid-sweep it would pull a
cell's "final" success towards the start of training. A run that stopped itself
(``stopped.json``: non-finite updates or rewards) counts, flagged: it has no agent at
the end of its budget, so every task scores 0 at each evaluation after its stop
(``after_stop``); its best evaluation over training is the best it reached.

Curves come from ``mtrl.events.read_scalars``: one value per step, so a run trained twice
into its folder (as sweeps once did to ``stl`` runs) counts each evaluation once, with the
later write.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtrl import stats as rl_stats
from mtrl.config import ConfigError, load_yaml_mapping
from mtrl.events import read_run
from mtrl.finished import FINISHED, STOPPED, is_finished, stopped_reason
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
    """Seconds its processes ran (``mtrl.events.read_run``)."""
    scalars: dict[str, list[tuple[int, float]]] = field(default_factory=dict, repr=False)
    """Every scalar tag it logged (``mtrl.events.read_run``), for figures beyond success."""
    stopped: str | None = None
    """Why the run stopped itself (``stopped.json``), None for a run that did not."""

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
    stopped: int
    """How many of its runs stopped themselves (``RunCurves.stopped``)."""
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


def load_runs(root: str | Path, partial: bool = False) -> tuple[list[RunCurves], list[str]]:
    """Every finished run folder under ``root`` with evaluations (with ``partial``, the
    unfinished ones too, their last evaluation as final); and notes on the ones left out."""
    root = Path(root)
    try:
        is_dir = root.is_dir()
    except OSError:  # e.g. a name too long
        is_dir = False
    if not is_dir:
        raise ConfigError(f"mtrl report: {root} is not a folder")
    runs, notes = [], []
    unfinished = 0
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
        finished = is_finished(run)
        stopped = None if finished else stopped_reason(run)
        if not (partial or finished or stopped is not None):
            unfinished += 1
            notes.append(f"{run.name}: unfinished (no {FINISHED}), left out")
            continue
        tasks = str(cfg.get("tasks", "")).split(",")
        scalars, seconds = read_run(run)
        logged = all(f"success/{t}" in scalars for t in tasks)
        if not logged and stopped is None:
            heldout = any(k.startswith("heldout/success/") for k in scalars)
            why = (
                "evaluated on held-out goals only (heldout/ tags)"
                if heldout
                else "no evaluation yet"
            )
            notes.append(f"{run.name}: {why}, left out")
            continue
        steps, success = per_task(scalars, "success", tasks) if logged else _no_evaluation(tasks)
        if stopped is not None:
            reached = int(steps[-1]) if len(steps) else 0
            try:
                steps, success = after_stop(steps, success, cfg)
            except ValueError as err:
                notes.append(f"{run.name}: stopped itself, but {err}, left out")
                continue
            after = f"after step {reached}" if reached else "(it stopped before the first)"
            notes.append(
                f"{run.name}: stopped itself ({stopped}); every task scores 0 at its "
                f"evaluations {after}"
            )
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
                seconds,
                scalars,
                stopped,
            )
        )
        notes += _provenance_notes(run, cfg, ledger)
    if not runs:
        more = f" ({unfinished} unfinished: --partial counts them)" if unfinished else ""
        raise ConfigError(f"mtrl report: no finished run with evaluations under {root}{more}")
    return runs, notes


def _no_evaluation(tasks: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """No evaluation: ``(steps[0], success[0, K])``."""
    return np.zeros(0, dtype=int), np.zeros((0, len(tasks)))


def after_stop(
    steps: np.ndarray, success: np.ndarray, cfg: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """A stopped run's curve carried to its budget: success 0 on every task at each
    evaluation it did not reach (every ``eval_interval`` steps and at ``total_steps``).
    ValueError when its config lacks either."""
    interval, total = cfg.get("eval_interval"), cfg.get("total_steps")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (interval, total)):
        raise ValueError("its config has no eval_interval or total_steps")
    last = int(steps[-1]) if len(steps) else 0
    more = list(range(last + interval, total + 1, interval))
    if last < total and (not more or more[-1] != total):
        more.append(total)
    zeros = np.zeros((len(more), success.shape[1]))
    return np.concatenate([steps, np.array(more, dtype=steps.dtype)]), np.vstack([success, zeros])


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
    """``unfinished`` for a run without ``finished.json`` (or ``stopped.json``); ``stale`` when
    its code changed, unless the behaviour ledger shows the change kept the method's numbers
    bit-identical."""
    stopped = not is_finished(run) and (run / STOPPED).is_file()
    marker = run / (STOPPED if stopped else FINISHED)
    if not (is_finished(run) or stopped):
        return [f"{run.name}: unfinished (no {FINISHED}), its last evaluation counts as final"]
    if not marker.is_file():
        return [f"{run.name}: finished before {FINISHED} existed: which code it ran is unknown"]
    try:
        code = json.loads(marker.read_text()).get("code")
    except (OSError, ValueError, AttributeError):  # not UTF-8, not JSON, not an object
        code = False
    if code is False or (code is not None and not isinstance(code, dict)):
        return [f"{run.name}: its {marker.name} is unreadable: which code it ran is unknown"]
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


def _by_cell(runs: list[RunCurves]) -> dict[tuple[str, str], list[RunCurves]]:
    """The runs grouped by (method, transform)."""
    groups: dict[tuple[str, str], list[RunCurves]] = {}
    for run in runs:
        groups.setdefault((run.method, run.transform), []).append(run)
    return groups


def group_stats(runs: list[RunCurves]) -> list[GroupStats]:
    """Statistics per method × transform, in first-seen order; drops filled in."""
    out = []
    for (method, transform), members in _by_cell(runs).items():
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
                stopped=sum(r.stopped is not None for r in members),
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


@dataclass
class HeadlineRow:
    """One method under one reward map, on one statistic (see ``STATISTICS``)."""

    method: str
    transform: str
    statistic: str
    seeds: int
    stopped: int
    """How many of its ``seeds`` runs under the map stopped themselves."""
    others_none: rl_stats.Estimate
    others_mapped: rl_stats.Estimate
    drop: rl_stats.Estimate
    mapped_task: rl_stats.Estimate
    dibs_better: rl_stats.Estimate | None


def _scores(members: list[RunCurves], statistic: str, tasks: list[int]) -> np.ndarray:
    """``[seeds, len(tasks)]`` scores of a group's runs on the chosen tasks."""
    return np.stack([r.scores(statistic)[tasks] for r in members])


Cell = tuple[str, str, list[RunCurves], list[RunCurves], list[int], list[int]]


def _mapped_cells(groups: dict[tuple[str, str], list[RunCurves]]) -> Iterator[Cell]:
    """Every method × map that has the method's unmapped runs beside it: (method, map,
    its runs, the method's runs without a map, mapped task indices, the other indices)."""
    for (method, transform), members in groups.items():
        plain = groups.get((method, "none"))
        if transform == "none" or not plain or not members[0].mapped:
            continue
        mapped = list(members[0].mapped)
        others = [i for i in range(len(members[0].tasks)) if i not in mapped]
        yield method, transform, members, plain, mapped, others


def headline_rows(runs: list[RunCurves], statistic: str = "final") -> list[HeadlineRow]:
    """Per method × reward map: the unmapped tasks' IQM without and with the map, the drop,
    the mapped task's IQM, and P(dibs > method) on the unmapped tasks under the map."""
    groups = _by_cell(runs)
    rows = []
    for method, transform, members, plain, mapped, others in _mapped_cells(groups):
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
                stopped=sum(r.stopped is not None for r in members),
                others_none=rl_stats.iqm(x_none),
                others_mapped=rl_stats.iqm(x_map),
                drop=rl_stats.iqm_difference(x_none, x_map),
                mapped_task=rl_stats.iqm(_scores(members, statistic, mapped)),
                dibs_better=better,
            )
        )
    return rows


LATE_FRACTION = 0.125
"""The part of training ``scale_rows`` reads: the last eighth of a run's logged steps (the
study's last 10k of 80k env steps per task)."""


@dataclass
class ScaleRow:
    """The mechanism as numbers, for one method under one map: the unmapped tasks' value
    estimate ``−L_π``, critic loss and temperature α late in training, without the map and
    with it, and
    the mapped tasks' share of the critic combiner's weights under the map. Each value:
    the median over seeds of a run's median over its last ``LATE_FRACTION`` of logged
    steps (of the mean over the unmapped tasks); ``None`` where no run logged the tag."""

    method: str
    transform: str
    value_none: float | None
    value_mapped: float | None
    critic_loss_none: float | None
    critic_loss_mapped: float | None
    alpha_none: float | None
    alpha_mapped: float | None
    mapped_share: float | None


def _late(run: RunCurves, prefix: str, tasks: list[int]) -> float | None:
    """``run``'s median over its last ``LATE_FRACTION`` of steps of ``<prefix>/<task>``
    averaged over ``tasks`` (indices); the share of ``tasks`` in the sum over every task
    when ``prefix`` is a weight. None when not logged."""
    names = run.tasks
    if any(f"{prefix}/{t}" not in run.scalars for t in names):
        return None
    steps, values = per_task(run.scalars, prefix, names)
    if not len(steps):
        return None
    late = values[steps >= steps[-1] - LATE_FRACTION * steps[-1]]
    if prefix.startswith("combine/"):
        per_step = late[:, tasks].sum(axis=1) / np.clip(late.sum(axis=1), 1e-30, None)
    else:
        per_step = late[:, tasks].mean(axis=1)
    return float(np.median(per_step))


def _median_over(
    members: list[RunCurves], prefix: str, tasks: list[int], sign: float = 1.0
) -> float | None:
    """``sign`` × the median over ``members`` of ``_late``; None when no run logged it."""
    found = [v for v in (_late(r, prefix, tasks) for r in members) if v is not None]
    return sign * float(np.median(found)) if found else None


def scale_rows(runs: list[RunCurves]) -> list[ScaleRow]:
    """Per method × map (the headline's cells): see ``ScaleRow``."""
    rows = []
    for method, transform, members, plain, mapped, others in _mapped_cells(_by_cell(runs)):
        rows.append(
            ScaleRow(
                method=method,
                transform=transform,
                value_none=_median_over(plain, "loss/actor", others, -1.0),
                value_mapped=_median_over(members, "loss/actor", others, -1.0),
                critic_loss_none=_median_over(plain, "loss/critic", others),
                critic_loss_mapped=_median_over(members, "loss/critic", others),
                alpha_none=_median_over(plain, "alpha", others),
                alpha_mapped=_median_over(members, "alpha", others),
                mapped_share=_median_over(members, "combine/critic/weight", mapped),
            )
        )
    return rows
