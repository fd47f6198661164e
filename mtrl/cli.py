"""The ``mtrl`` command: ``train``, ``sweep``, ``report``, ``tasks``.

Bad input is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import signal
import sys
import typing
from collections.abc import Sequence
from typing import Any, NoReturn

import yaml

from mtrl.config import (
    FIELDS,
    RESUME_OVERRIDES,
    TYPES,
    ConfigError,
    TrainConfig,
    build_config,
    check_device_name,
    check_path,
    load_yaml,
)

MAX_PARALLEL = 1024
"""The most local runs ``mtrl sweep --max-parallel`` starts at once."""

_LINE_BREAKS = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with every character that would break the line written as an escape."""
    return _LINE_BREAKS.sub(lambda m: repr(m.group())[1:-1], text)


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as a single line (no usage dump) with exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"mtrl: error: {one_line(message)}\n")


def _typed(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}") from None

    parse.__name__ = kind.__name__
    return parse


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field, help from the field's doc; unset flags stay absent."""
    defaults = TrainConfig()
    for name, f in FIELDS.items():
        if name == "method_options":
            continue
        kind = TYPES[name]
        flag = "--" + name.replace("_", "-")
        help_text = f"{f.metadata['help']} (default: {getattr(defaults, name)})"
        kw: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": help_text}
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif typing.get_origin(kind) is list:
            (item,) = typing.get_args(kind)
            if f.metadata.get("repeat"):
                parser.add_argument(flag, action="append", type=_typed(item), metavar="SPEC", **kw)
            else:
                parser.add_argument(flag, nargs="+", type=_typed(item), **kw)
        elif kind in (int, float):
            parser.add_argument(flag, type=_typed(kind), **kw)
        else:
            parser.add_argument(flag, type=str, **kw)


def build_parser() -> argparse.ArgumentParser:
    """The ``mtrl`` argument parser with its subcommands."""
    parser = _Parser(
        prog="mtrl", description="Multi-task SAC on Meta-World with gradient combination."
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    train = sub.add_parser(
        "train",
        help="train one multi-task SAC agent",
        description="Train one multi-task SAC agent; flags override --config.",
    )
    train.add_argument("--config", default=None, help="YAML file of options (flags override it)")
    train.add_argument(
        "--resume",
        default=None,
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its newest good checkpoint (its config.yaml); "
        f"only {', '.join('--' + f.replace('_', '-') for f in RESUME_OVERRIDES)} may change",
    )
    train.add_argument(
        "--method-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the combination method, repeatable (e.g. c=0.4 for cagrad, "
        "update_weights_every=5 for nashmtl); merged over the file's method_options",
    )
    _add_config_flags(train)
    sweep = sub.add_parser(
        "sweep",
        help="run an experiment file's grid (methods × transforms × seeds), resumable",
        description="Run every run of an experiment file; finished runs are skipped, "
        "interrupted ones resume. Exit 1 if any run failed.",
    )
    sweep.add_argument("file", help="experiment YAML, e.g. experiments/mt10_smoke.yaml")
    sweep.add_argument("--backend", choices=("local", "ray"), default="local")
    sweep.add_argument(
        "--max-parallel",
        type=_typed(int),
        default=None,
        help="local: runs at once (default: one per core, one thread each)",
    )
    sweep.add_argument(
        "--address", default=None, help="ray: cluster address, e.g. auto or HOST:6379"
    )
    sweep.add_argument(
        "--cpus-per-run", type=_typed(float), default=1.0, help="ray: CPUs a run holds"
    )
    sweep.add_argument(
        "--gpus-per-run",
        type=_typed(float),
        default=0.0,
        help="ray: GPUs a run holds (0.25 shares one)",
    )
    sweep.add_argument(
        "--storage", default="runs", help="parent of the sweep folder (shared by all Ray nodes)"
    )
    sweep.add_argument("--device", default=None, help="override the file's device for every run")
    report = sub.add_parser(
        "report",
        help="tables and figures over every run under a folder (a sweep's)",
        description="Group the finished runs under DIR by method × transform; write "
        "results.md, results.csv and PNG figures, and print the table.",
    )
    report.add_argument("dir", help="a sweep folder, e.g. runs/mt10_smoke")
    report.add_argument("--out", default=None, help="where to write (default: DIR/report)")
    report.add_argument("--format", choices=("table", "md"), default="table", help="what to print")
    report.add_argument(
        "--partial",
        action="store_true",
        help="count unfinished runs too, each at its last evaluation (default: left out)",
    )
    tasks = sub.add_parser(
        "tasks", help="print the task index → name table that transform specs use"
    )
    tasks.add_argument("--benchmark", default="mt10", help="mt10 or mt50 (default: mt10)")
    tasks.add_argument("--tasks", default=None, help="comma-separated task names instead")
    return parser


def parse_method_options(items: Sequence[str]) -> dict[str, Any]:
    """``["c=0.4", "solver=ccp"]`` → ``{"c": 0.4, "solver": "ccp"}`` (values read as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--method-option {item!r} is not KEY=VALUE")
        try:
            out[key.strip()] = yaml.safe_load(text)
        except (yaml.YAMLError, ValueError, RecursionError):
            raise ConfigError(f"--method-option {item!r}: cannot read the value") from None
    return out


def _cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mtrl.run_contract import TrainingStopped, load_run_config
    from mtrl.trainer import train  # heavy imports

    flags = {k: v for k, v in vars(args).items() if k in FIELDS}
    resume_dir = None
    if args.resume:
        check_path("--resume", args.resume)
        resume_dir = Path(args.resume)
        fixed = sorted(set(flags) - set(RESUME_OVERRIDES))
        if args.config or args.method_option or fixed:
            what = "--config/--method-option" if not fixed else "--" + fixed[0].replace("_", "-")
            raise ConfigError(
                f"--resume continues a run as it was configured; {what} cannot change"
            )
        cfg = dataclasses.replace(load_run_config(resume_dir), **flags)
        return _run_training(train, cfg, resume_dir, TrainingStopped)
    file_values = load_yaml(args.config) if args.config else {}
    if args.method_option:
        options = dict(file_values.get("method_options") or {})
        options.update(parse_method_options(args.method_option))
        flags["method_options"] = options
    cfg = build_config(file_values, flags)
    return _run_training(train, cfg, None, TrainingStopped)


def _run_training(train: Any, cfg: Any, resume_dir: Any, stopped: type[Exception]) -> int:
    """Run ``train`` and tell the user how it ended (exit 0, 1 when it stopped itself, 130)."""
    try:
        result = train(cfg, resume_dir)
    except stopped as err:
        print(f"mtrl: stopped: {err}", file=sys.stderr)
        return 1
    for note in result.notes:
        print(f"mtrl: {note}", file=sys.stderr)
    if result.signal is not None:
        name = signal.Signals(result.signal).name
        print(
            f"mtrl: {name} at step {result.step}: checkpoint saved; continue with "
            f"`mtrl train --resume {result.run_dir}`",
            file=sys.stderr,
        )
        return 130 if result.signal == signal.SIGINT else 0
    if result.final_success:
        each = " · ".join(f"{name} {s:.2f}" for name, s in result.final_success.items())
        print(f"final success (evaluation at step {result.step}): {each}")
    print(f"run finished: {result.run_dir}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mtrl import sweep
    from mtrl.experiment import load_experiment

    experiment = load_experiment(args.file, args.storage)
    if args.max_parallel is not None and not 1 <= args.max_parallel <= MAX_PARALLEL:
        raise ConfigError(f"--max-parallel must be in [1, {MAX_PARALLEL}], got {args.max_parallel}")
    if not (0 < args.cpus_per_run < math.inf and 0 <= args.gpus_per_run < math.inf):
        raise ConfigError("--cpus-per-run must be > 0 and --gpus-per-run >= 0, both finite")
    if args.backend == "local" and args.address:
        raise ConfigError("--address is for --backend ray")
    if args.device is not None:
        check_device_name(args.device, here=args.backend == "local")

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.backend == "local":
        parallel = args.max_parallel or sweep.default_parallel()
        threads = sweep.threads_per_run(parallel)
    else:
        parallel, threads = 0, max(1, int(args.cpus_per_run))
    vectors = sorted({sweep.worker_vector(r.config.vector, threads) for r in experiment.runs})
    at_once = f"{parallel} at once" if parallel else "as many at once as the cluster holds"
    say(
        f"sweep {experiment.name}: {len(experiment.runs)} runs "
        f"under {Path(args.storage) / experiment.name}; {at_once}, {threads} thread(s) each, "
        f"vector env {'/'.join(vectors)}"
    )
    if args.backend == "local":
        outcomes = sweep.run_local(experiment, parallel, args.device, say)
    else:
        outcomes = sweep.run_ray(
            experiment, args.address, args.cpus_per_run, args.gpus_per_run, args.device, say
        )
    sweep.report_failures(outcomes, say)
    return sweep.exit_code(outcomes)


def _cmd_report(args: argparse.Namespace) -> int:
    from mtrl import report

    stats, notes = report.write_report(args.dir, args.out or None, args.partial)
    head, rows = report.table_rows(stats)
    print(report.markdown(head, rows) if args.format == "md" else report.plain_table(head, rows))
    if notes:
        print(notes, file=sys.stderr)
    out = args.out or f"{args.dir.rstrip('/')}/report"
    print(f"wrote {out}/results.md, results.csv and figures", file=sys.stderr)
    return 0


def _cmd_tasks(args: argparse.Namespace) -> int:
    import envs

    try:
        names = envs.resolve_tasks(args.benchmark, args.tasks)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    width = len(f"task{len(names) - 1}")
    for i, name in enumerate(names):
        print(f"{f'task{i}':<{width}}  {name}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mtrl`` console script."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2, already printed)
        return int(exit_.code or 0)
    try:
        if args.command == "train":
            return _cmd_train(args)
        if args.command == "sweep":
            return _cmd_sweep(args)
        if args.command == "report":
            return _cmd_report(args)
        return _cmd_tasks(args)
    except ConfigError as err:
        print(f"mtrl: error: {one_line(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mtrl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
