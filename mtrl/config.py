"""The training config: one dataclass whose field docs are the ``--help`` text.

Values come from, in rising priority: the defaults below (the MT10 paper
protocol), a YAML file (``--config``), then command-line flags. ``validate``
checks everything before a run starts and turns every problem into one
``ConfigError`` line.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

import envs
import reward_transforms
from mtrl import combine, memory
from reward_transforms import RewardMap

METHODS = (*combine.METHODS, "stl")
"""Every ``--method``: the combiners plus ``stl``, one independent SAC per task."""


class ConfigError(ValueError):
    """Bad user input: printed as one line, exit code 2."""


def _f(default: Any, help: str, **kw: Any) -> Any:
    if isinstance(default, list | dict):
        return field(default_factory=lambda: copy_default(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


def copy_default(value: Any) -> Any:
    """A fresh copy of a mutable default."""
    return list(value) if isinstance(value, list) else dict(value)


@dataclass
class TrainConfig:
    """Everything a run needs; saved beside the run so it can be reproduced from its folder."""

    benchmark: str = _f(
        "mt10", "Meta-World benchmark: mt10 or mt50 (ignored when --tasks is given)"
    )
    tasks: str | None = _f(None, "comma-separated Meta-World task names instead of a benchmark")
    method: str = _f("mean", f"gradient-combination method: {', '.join(METHODS)}")
    method_options: dict[str, Any] = _f(
        {}, "options for the combiner (YAML only), e.g. {eps: 1e-8}"
    )
    transform: list[str] = _f(
        [], "TASK:MAP reward transform, repeatable, e.g. task3:pow4", repeat=True
    )
    label: str | None = _f(
        None, "the name reports group this run under (default: the method), e.g. nashmtl-ccp"
    )
    seed: int = _f(0, "random seed (torch, numpy, envs)")
    total_steps: int = _f(2_000_000, "env steps per task (one vector step steps every task once)")
    warmup_steps: int = _f(1500, "steps of uniform random actions before updates start")
    updates_per_step: int = _f(1, "gradient updates per vector step after warm-up")
    batch_per_task: int = _f(128, "transitions sampled from each task's buffer per update")
    buffer_size: int = _f(1_000_000, "replay capacity per task (capped at total-steps)")
    hidden: list[int] = _f([400, 400, 400], "hidden layer sizes of actor and critics")
    actor_lr: float = _f(3e-4, "actor learning rate (Adam)")
    critic_lr: float = _f(3e-4, "critic learning rate (Adam)")
    alpha_lr: float = _f(3e-4, "temperature learning rate (Adam)")
    gamma: float = _f(0.99, "discount factor")
    tau: float = _f(0.005, "Polyak factor of the target critic")
    init_temperature: float = _f(1.0, "initial SAC temperature α of every task")
    eval_interval: int = _f(10_000, "steps between evaluations (one more runs at the end)")
    eval_episodes: int = _f(
        50,
        "deterministic evaluation episodes per task, episode e on goal e mod 50 "
        "(50: every goal once, Meta-World's protocol; fewer: goals 0..E-1 at every evaluation)",
    )
    eval_goals: str = _f(
        "train",
        "evaluation goals: train (each task's 50 training goals, the benchmark's protocol) "
        "or heldout (50 other goals per task, logged under heldout/…)",
    )
    max_episode_steps: int = _f(envs.DEFAULT_MAX_EPISODE_STEPS, "episode length")
    vector: str = _f(
        "auto", "vector env: async (a process per task), sync, or auto (the faster here)"
    )
    compile: bool = _f(
        False, "run the networks through torch.compile (slow first updates while it compiles)"
    )
    log_interval: int = _f(1000, "steps between loss / perf logs")
    checkpoint_interval: int = _f(
        50_000, "steps between checkpoints (a multiple of the episode length resumes exactly)"
    )
    keep_checkpoints: int = _f(3, "how many of the newest checkpoints to keep")
    checkpoint_replay: bool = _f(
        True, "store the replay buffers in checkpoints (without them a resume is approximate)"
    )
    max_nonfinite_updates: int = _f(
        100, "consecutive updates dropped for NaN/inf losses or gradients before the run stops"
    )
    device: str = _f("auto", "auto, cpu or cuda")
    logdir: str = _f("runs", "parent folder of run folders")
    run_name: str | None = _f(None, "run folder name (default: built from the config and time)")
    progress: bool = _f(True, "show a progress bar")


RESUME_OVERRIDES = ("total_steps", "device", "progress", "vector", "compile")
"""Options a resumed run may change (``mtrl train --resume``, a resuming sweep); the others are
the run's own."""

FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(TrainConfig)}
TYPES: dict[str, Any] = typing.get_type_hints(TrainConfig)


@dataclass(frozen=True)
class Resolved:
    """What validation derives from a config: task names, parsed transforms, the device."""

    task_names: list[str]
    transforms: dict[int, RewardMap]
    device: torch.device


def load_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; any problem is one ConfigError line."""
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror}") from None
    except ValueError as err:  # e.g. a NUL byte in the path
        raise ConfigError(f"cannot read config file {path!r}: {err}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {raw[err.start]:#04x} at offset "
            f"{err.start})"
        ) from None
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError) as err:
        # ValueError: PyYAML's own constructors (a date like 2020-13-45, a 5000-digit int)
        first = (str(err).splitlines() or [type(err).__name__])[0]
        raise ConfigError(f"config file {path} is not valid YAML: {first}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping of option: value")
    return data


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a config file; unknown keys are an error naming them."""
    data = load_yaml_mapping(path)
    unknown = sorted((k for k in data if not (isinstance(k, str) and k in FIELDS)), key=str)
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown key {unknown[0]!r}; valid keys: {', '.join(FIELDS)}"
        )
    return data


def _coerce(name: str, value: Any) -> Any:
    """Check a file value against the field's type (YAML already gives ints, lists, …)."""
    kind = TYPES[name]
    origin = typing.get_origin(kind)
    ok: bool
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok:
            try:
                value = float(value)
            except OverflowError:  # an int beyond float range
                ok = False
    elif kind is str:
        ok = isinstance(value, str)
    elif origin is list:
        (item,) = typing.get_args(kind)
        if isinstance(value, str | int) and not isinstance(value, bool):
            value = [value]
        ok = isinstance(value, list) and all(
            isinstance(v, item) and not isinstance(v, bool) for v in value
        )
    elif origin is dict:
        ok = isinstance(value, dict)
    else:  # str | None
        ok = value is None or isinstance(value, str)
    if not ok:
        raise ConfigError(
            f"option {name}: {short_repr(value)} is not a valid {getattr(kind, '__name__', kind)}"
        )
    return value


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for an error line."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # nested too deep; an int past str()'s digit limit
        text = f"<a {type(value).__name__} too large to show>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_config(
    file_values: dict[str, Any] | None = None, flags: dict[str, Any] | None = None
) -> TrainConfig:
    """Defaults, overridden by the file's values, overridden by flags."""
    values: dict[str, Any] = {}
    for name, value in (file_values or {}).items():
        values[name] = _coerce(name, value)
    for name, value in (flags or {}).items():
        if name not in FIELDS:
            raise ConfigError(f"unknown option {name!r}")
        values[name] = value
    return TrainConfig(**values)


def resolve_device(name: str) -> torch.device:
    """``auto`` → cuda when present, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for, but no CUDA GPU is available here")
        try:
            device = torch.device(name)
        except RuntimeError:
            raise ConfigError(f"unknown device {name!r}; valid: auto, cpu, cuda, cuda:N") from None
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s)"
            )
        return device
    raise ConfigError(f"unknown device {name!r}; valid: auto, cpu, cuda")


def check_device_name(name: str, here: bool = True) -> None:
    """ConfigError unless ``name`` is auto, cpu, cuda or cuda:N (``here``: and this machine
    has that device; otherwise it may be another machine's, e.g. a Ray node's)."""
    if here:
        resolve_device(name)
    elif name not in ("auto", "cpu", "cuda") and not re.fullmatch(r"cuda:[0-9]+", name):
        raise ConfigError(f"unknown device {short_repr(name)}; valid: auto, cpu, cuda, cuda:N")


SEED_LIMIT = 2**32 - 1
"""The largest seed NumPy takes (``np.random.seed``; Meta-World seeds its goals with it)."""
NAME_MAX = 255
"""Bytes in one file or folder name on common file systems."""
PATH_MAX = 4096
"""Bytes in a whole path (Linux); a run folder's files must stay under it."""
MAKE_PAIR_ARGS = ("name", "num_tasks", "critic_lr", "actor_lr")
"""``combine.make_pair``'s own parameters: never a method option."""


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_numbers(cfg: TrainConfig) -> None:
    """Counts positive, rates finite and positive, γ and τ in range, episodes Meta-World's."""
    positive = [
        "total_steps",
        "updates_per_step",
        "batch_per_task",
        "buffer_size",
        "eval_interval",
        "eval_episodes",
        "max_episode_steps",
        "log_interval",
        "checkpoint_interval",
        "keep_checkpoints",
        "max_nonfinite_updates",
    ]
    for name in positive:
        value = getattr(cfg, name)
        if value <= 0:
            raise ConfigError(f"{_flag(name)} must be a positive integer, got {value}")
    if cfg.warmup_steps < 0:
        raise ConfigError(f"--warmup-steps must be >= 0, got {cfg.warmup_steps}")
    if cfg.max_episode_steps > envs.DEFAULT_MAX_EPISODE_STEPS:
        raise ConfigError(
            f"--max-episode-steps must be at most {envs.DEFAULT_MAX_EPISODE_STEPS} (Meta-World "
            f"ends its episodes there), got {cfg.max_episode_steps}"
        )
    for name in ("actor_lr", "critic_lr", "alpha_lr", "init_temperature"):
        value = getattr(cfg, name)
        if not (value > 0 and math.isfinite(value)):
            raise ConfigError(f"{_flag(name)} must be > 0 and finite, got {value}")
    if not 0 <= cfg.gamma < 1:
        raise ConfigError(f"--gamma must be in [0, 1), got {cfg.gamma}")
    if not 0 < cfg.tau <= 1:
        raise ConfigError(f"--tau must be in (0, 1], got {cfg.tau}")
    if not cfg.hidden or any(h <= 0 for h in cfg.hidden):
        raise ConfigError(
            f"--hidden must be one or more positive sizes, got {short_repr(cfg.hidden)}"
        )


def _check_seed(cfg: TrainConfig, num_tasks: int) -> None:
    """Task i's envs are seeded ``seed + i`` (held-out goals: ``seed + 10000 + i``), and
    NumPy takes seeds up to 2**32 - 1."""
    offset = envs.HELDOUT_SEED_OFFSET if cfg.eval_goals == "heldout" else 0
    top = SEED_LIMIT - offset - (num_tasks - 1)
    if not 0 <= cfg.seed <= top:
        raise ConfigError(
            f"--seed must be in [0, {top}] (task i's envs are seeded seed + "
            f"{f'{offset} + ' if offset else ''}i, below 2**32), got {cfg.seed}"
        )


def check_path(flag: str, value: str) -> bytes:
    """The path as the OS sees it; ConfigError for what no file system takes."""
    if "\0" in value:
        raise ConfigError(f"{flag} {short_repr(value)}: a path cannot hold a NUL character")
    try:
        raw = os.fsencode(value)
    except UnicodeEncodeError:
        raise ConfigError(f"{flag} {short_repr(value)} cannot be encoded as a path") from None
    if any(len(part) > NAME_MAX for part in raw.split(b"/")):
        raise ConfigError(f"{flag}: a folder name in it is longer than {NAME_MAX} bytes")
    return raw


def _check_paths(cfg: TrainConfig) -> None:
    """``--logdir`` and ``--run-name`` name a folder that can be made (checked without
    writing: the nearest existing folder above must be one we can look into)."""
    raw = check_path("--logdir", cfg.logdir)
    if cfg.run_name:
        name = check_path("--run-name", cfg.run_name)
        if b"/" in name or cfg.run_name in (".", ".."):
            raise ConfigError(
                f"--run-name must be one folder name (no '/', not . or ..), got "
                f"{short_repr(cfg.run_name)}"
            )
    if len(os.fsencode(os.path.abspath(raw))) + NAME_MAX + 64 > PATH_MAX:
        raise ConfigError(
            f"--logdir is too long: its run folders' paths would pass {PATH_MAX} bytes"
        )
    path = Path(cfg.logdir)
    while True:
        try:
            path.stat()
            return
        except (FileNotFoundError, NotADirectoryError):
            if path == path.parent:
                return
            path = path.parent
        except OSError as err:
            raise ConfigError(
                f"--logdir {cfg.logdir}: cannot look into {path}: {err.strerror}"
            ) from None


def _check_choices(cfg: TrainConfig) -> None:
    if cfg.eval_goals not in envs.EVAL_GOALS:
        raise ConfigError(
            f"unknown --eval-goals {cfg.eval_goals!r}; valid: {', '.join(envs.EVAL_GOALS)}"
        )
    if cfg.vector not in ("auto", "async", "sync"):
        raise ConfigError(f"unknown --vector {cfg.vector!r}; valid: auto, async, sync")
    if cfg.method not in METHODS:
        raise ConfigError(f"unknown method {cfg.method!r}; valid methods: {', '.join(METHODS)}")


def _combiners(cfg: TrainConfig, num_tasks: int) -> tuple[combine.Combiner, combine.Combiner]:
    """The critic's and actor's combiners, built as the trainer builds them (checks options)."""
    options = cfg.method_options
    for key in options:
        if not isinstance(key, str) or key in MAKE_PAIR_ARGS:
            raise ConfigError(
                f"bad options for method {cfg.method!r}: {short_repr(key)} is not one of its "
                "options"
            )
    try:
        return combine.make_pair(cfg.method, num_tasks, cfg.critic_lr, cfg.actor_lr, **options)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _check_memory(
    cfg: TrainConfig, num_tasks: int, device: torch.device, critic_grads: bool, actor_grads: bool
) -> None:
    """ConfigError when the run's large tensors cannot fit in the memory ``device`` has free."""
    capacity = min(cfg.buffer_size, cfg.total_steps)
    if cfg.method == "stl":
        need = memory.stl_need(num_tasks, capacity, cfg.batch_per_task, cfg.hidden)
    else:
        need = memory.multitask_need(
            num_tasks, capacity, cfg.batch_per_task, cfg.hidden, critic_grads, actor_grads
        )
    free = memory.available_bytes(device)
    if free is None or need.total <= free:
        return
    where = "the GPU" if device.type == "cuda" else "this machine"
    raise ConfigError(
        f"not enough memory on {where}: the run needs about {need.total / memory.GiB:.1f} GiB "
        f"({need.describe()}), {free / memory.GiB:.1f} GiB is available; "
        f"lower {need.option_to_lower()}"
    )


def validate(cfg: TrainConfig) -> Resolved:
    """Check every field (and that the run fits in memory) before anything is written;
    return the derived task list, transforms and device."""
    _check_numbers(cfg)
    _check_choices(cfg)
    _check_paths(cfg)
    try:
        task_names = envs.resolve_tasks(cfg.benchmark, cfg.tasks)
        transforms = reward_transforms.parse_transforms(cfg.transform, task_names)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    k = len(task_names)
    _check_seed(cfg, k)
    if cfg.method == "stl":
        if cfg.method_options:
            first = short_repr(next(iter(cfg.method_options)))
            raise ConfigError(f"--method stl takes no method options, got {first}")
        grads = (False, False)
    else:
        critic, actor = _combiners(cfg, k)
        grads = (critic.needs_grads, actor.needs_grads)
    device = resolve_device(cfg.device)
    _check_memory(cfg, k, device, *grads)
    return Resolved(task_names, transforms, device)


def to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Every field, as plain YAML-able values."""
    return dataclasses.asdict(cfg)
