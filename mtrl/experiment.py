"""Experiment files: a grid of methods × transforms × seeds over shared training options.

An experiment file is YAML::

    name: mt10_smoke                 # the sweep's folder under --storage
    methods: [mean, dibs, stl]
    transforms: [none, window-open-v3:exp, task3:pow4]   # an entry may be a list of specs
    seeds: [0, 1]                    # or a count: seeds: 10 → 0..9
    method_options: {cagrad: {c: 0.4}}   # per method (optional)
    benchmark: mt10                  # every other key is an `mtrl train` option
    total_steps: 3000

A grid that is not one full product is a list of blocks, each with its own
``methods``, ``transforms`` and (optionally) ``seeds``; a method may be a *variant*,
a named method with its own options, which reports keep apart from the plain method::

    variants:
      nashmtl-ccp: {method: nashmtl, method_options: {solver: ccp}}
    grids:
      - {methods: [mean, dibs, nashmtl, nashmtl-ccp], transforms: [none, task0:exp]}
      - {methods: [stl], transforms: [none]}
    seeds: 5                         # the default for blocks that name none

``load_experiment`` checks all of it, and every run's config, before anything starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtrl.config import (
    FIELDS,
    ConfigError,
    TrainConfig,
    build_config,
    load_yaml_mapping,
    short_repr,
    validate,
)
from reward_transforms import label

GRID_KEYS = ("name", "methods", "transforms", "seeds", "method_options", "variants", "grids")
"""Keys of an experiment file that are not ``mtrl train`` options."""
PER_RUN = ("method", "transform", "seed", "run_name", "logdir", "label")
"""Train options the grid sets per run (so a file may not set them globally)."""
MAX_RUNS = 10_000
"""The most runs one experiment file may hold (each is validated before the sweep starts)."""


@dataclass(frozen=True)
class RunSpec:
    """One run of the grid: its folder name and its full config."""

    name: str
    method: str
    transform: tuple[str, ...]
    seed: int
    config: TrainConfig


@dataclass(frozen=True)
class Experiment:
    """A validated experiment file, expanded into its runs."""

    name: str
    runs: list[RunSpec]


def _as_list(value: Any, key: str, path: Path) -> list[Any]:
    if isinstance(value, list) and value:
        return value
    raise ConfigError(f"{path}: {key!r} must be a non-empty list, got {short_repr(value)}")


def _transforms(value: Any, path: Path) -> list[tuple[str, ...]]:
    out = []
    for entry in _as_list(value, "transforms", path):
        if entry in (None, "none", []):
            out.append(())
        elif isinstance(entry, str):
            out.append((entry,))
        elif isinstance(entry, list) and all(isinstance(s, str) for s in entry):
            out.append(tuple(entry))
        else:
            raise ConfigError(
                f"{path}: transform entry {short_repr(entry)} is not 'none', a spec or a list"
            )
    return out


def _seeds(value: Any, path: Path) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        if value > MAX_RUNS:
            raise ConfigError(f"{path}: seeds: {value} is more than {MAX_RUNS} runs")
        return list(range(value))
    seeds = _as_list(value, "seeds", path)
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ConfigError(f"{path}: seeds must be integers, got {short_repr(seeds)}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{path}: seeds repeat: {short_repr(seeds)}")
    return seeds


def _variants(value: Any, path: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    """``variants:`` → {variant name: (method, options)}."""
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: variants must map a name to {{method: M, method_options: …}}")
    out = {}
    for name, spec in value.items():
        if not isinstance(spec, dict) or set(spec) - {"method", "method_options"}:
            raise ConfigError(
                f"{path}: variant {name!r} must be {{method: M, method_options: {{…}}}}"
            )
        opts = spec.get("method_options") or {}
        if not isinstance(spec.get("method"), str) or not isinstance(opts, dict):
            raise ConfigError(f"{path}: variant {name!r} needs a method name and an options map")
        if not isinstance(name, str) or "__" in name or "/" in name:
            raise ConfigError(f"{path}: variant name {name!r} cannot hold '__' or '/'")
        out[name] = (spec["method"], opts)
    return out


def _blocks(
    data: dict[str, Any], path: Path
) -> list[tuple[list[str], list[tuple[str, ...]], list[int]]]:
    """The grid as (methods, transforms, seeds) blocks: the top-level one and ``grids:``."""
    seeds = _seeds(data.get("seeds", [0]), path)
    raw = []
    if "methods" in data or "grids" not in data:
        raw.append({"methods": data.get("methods"), "transforms": data.get("transforms", ["none"])})
    grids = data.get("grids", [])
    if not isinstance(grids, list):
        raise ConfigError(f"{path}: grids must be a list of {{methods, transforms, seeds}} blocks")
    for block in grids:
        if not isinstance(block, dict) or set(block) - {"methods", "transforms", "seeds"}:
            raise ConfigError(
                f"{path}: a grids block must be {{methods: […], transforms: […], seeds: …}}"
            )
        raw.append(block)
    blocks = []
    for block in raw:
        methods = _as_list(block.get("methods"), "methods", path)
        if not all(isinstance(m, str) for m in methods):
            raise ConfigError(f"{path}: methods must be names, got {short_repr(methods)}")
        transforms = _transforms(block.get("transforms", ["none"]), path)
        block_seeds = _seeds(block["seeds"], path) if "seeds" in block else seeds
        blocks.append((methods, transforms, block_seeds))
    count = sum(len(m) * len(t) * len(s) for m, t, s in blocks)
    if count == 0:
        raise ConfigError(f"{path}: the grid holds no run; give methods (or grids)")
    if count > MAX_RUNS:
        raise ConfigError(f"{path}: the grid holds {count} runs, more than {MAX_RUNS}")
    return blocks


def parse_experiment(data: Any, path: Path, storage: str | Path = "runs") -> Experiment:
    """Validate an experiment mapping and expand it into runs under ``storage/name``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: an experiment file must be a mapping of key: value")
    known = (*GRID_KEYS, *FIELDS)
    unknown = sorted((k for k in data if not (isinstance(k, str) and k in known)), key=str)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key {unknown[0]!r}; grid keys: {', '.join(GRID_KEYS)}, "
            "plus any `mtrl train` option"
        )
    per_run = sorted(k for k in data if k in PER_RUN)
    if per_run:
        raise ConfigError(
            f"{path}: {per_run[0]!r} is set per run by the grid; use methods/transforms/seeds"
        )
    name = data.get("name", path.stem)
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\0" in name:
        raise ConfigError(f"{path}: name must be a folder name, got {short_repr(name)}")
    variants = _variants(data.get("variants") or {}, path)
    blocks = _blocks(data, path)
    options = data.get("method_options") or {}
    grid_methods = {m for b in blocks for m in b[0]}
    if (
        not isinstance(options, dict)
        or set(options) - grid_methods
        or not all(isinstance(v, dict) for v in options.values())
    ):
        raise ConfigError(f"{path}: method_options must map methods of the grid to options")
    shared = {k: v for k, v in data.items() if k in FIELDS}
    logdir = str(Path(storage) / name)
    runs: list[tuple[tuple[int, int], RunSpec]] = []
    for block, (methods, transforms, seeds) in enumerate(blocks):
        for entry in methods:
            method, method_options = variants.get(entry, (entry, {}))
            for transform in transforms:
                for seed in seeds:
                    run_name = f"{entry}__{label(transform)}__s{seed}"
                    values = dict(
                        shared,
                        method=method,
                        label=entry if entry in variants else None,
                        transform=list(transform),
                        seed=seed,
                        method_options={**method_options, **options.get(entry, {})},
                        logdir=logdir,
                        run_name=run_name,
                    )
                    try:
                        cfg = build_config(values)
                        validate(dataclasses.replace(cfg, device="cpu"))  # the device: the node's
                    except ConfigError as err:
                        raise ConfigError(f"{path}: run {run_name}: {err}") from None
                    rank = (block, seeds.index(seed))
                    runs.append((rank, RunSpec(run_name, entry, transform, seed, cfg)))
    names = [r.name for _, r in runs]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: the grid names a run twice (repeated method or transform?)")
    # blocks in file order (the first block holds what matters most), each seed-major: every
    # cell's first seed, then every cell's second, …, so that a sweep cut short has covered
    # its first blocks with fewer seeds instead of a few cells with every seed
    runs.sort(key=lambda item: item[0])
    return Experiment(name, [r for _, r in runs])


def load_experiment(path: str | Path, storage: str | Path = "runs") -> Experiment:
    """Read and validate an experiment file (see the module docstring)."""
    path = Path(path)
    return parse_experiment(load_yaml_mapping(path), path, storage)
