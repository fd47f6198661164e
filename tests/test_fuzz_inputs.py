"""Fuzzing every input of ``mtrl train``, ``mtrl sweep`` and ``mtrl report`` (issue 16).

The property, whatever the input: the command goes ahead, or it exits 2 with exactly one
line on stderr (``mtrl: error: …``) and writes nothing. Never a traceback, never exit 1
with a Python error. "Goes ahead" is checked two ways:

* most tests only probe validation: ``stop_after_validation`` stops the command where it
  would build its first env (``train``) or start its runs (``sweep``), so an accepted huge
  value costs nothing; what it wrote by then (the run folder) is allowed;
* ``test_tiny_runs_finish_or_fail_cleanly`` runs the real thing on small configs drawn
  around the valid region (seeds near 2**32, episode lengths past 500, odd temperatures,
  random method options): what validation accepts must run to its end (exit 0 and a
  ``finished.json``), or stop itself cleanly (exit 1, one line ``mtrl: stopped: …``).

``mtrl report`` is run for real on folders of good and broken runs (its figures are
stubbed: they are not input handling, and drawing them would take most of the time).

Profiles: ``HYPOTHESIS_PROFILE=ci`` (the default: fixed examples, sized for CI) and
``HYPOTHESIS_PROFILE=soak`` (random, 20 times the examples).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
import yaml
from hypothesis import HealthCheck, Phase, currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from torch.utils.tensorboard import SummaryWriter

import envs
from mtrl import figures, sweep
from mtrl.cli import main
from mtrl.combine import METHODS as COMBINERS
from mtrl.combine import REGISTRY
from mtrl.config import FIELDS, TYPES, ConfigError
from reward_transforms.maps import MAP_NAMES

settings.register_profile(
    "ci",
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    deadline=None,
    database=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=list(HealthCheck),
)
settings.register_profile("soak", settings.get_profile("ci"), derandomize=False)
PROFILE = "soak" if os.environ.get("HYPOTHESIS_PROFILE") == "soak" else "ci"
SCALE = 20 if PROFILE == "soak" else 1


def fuzz(examples: int) -> settings:
    """The profile's settings with ``examples`` examples (times 20 in the soak)."""
    return settings(settings.get_profile(PROFILE), max_examples=examples * SCALE)


# ---------------------------------------------------------------- running the command


class Built(Exception):
    """Raised where the command would build its first env or start its runs."""


@contextmanager
def stop_after_validation() -> Iterator[None]:
    """Within the block, building an env or starting a sweep's runs raises ``Built``."""

    def built(*args: Any, **kwargs: Any) -> None:
        raise Built

    with ExitStack() as stack:
        for name in ("make_vector_env", "make_eval_env", "make_task_env", "choose_vector_strategy"):
            stack.enter_context(patch.object(envs, name, built))
        stack.enter_context(patch.object(sweep, "run_local", built))
        stack.enter_context(patch.object(sweep, "run_ray", built))
        yield


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for a folder)."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def run_cli(argv: list[str], root: Path, validation_only: bool = True) -> tuple[Any, str, str]:
    """``mtrl argv`` in-process, in ``root``: (exit code or "accepted", stderr, stdout)."""
    err, out = io.StringIO(), io.StringIO()
    here = os.getcwd()
    os.chdir(root)
    try:
        with ExitStack() as stack:
            stack.enter_context(redirect_stderr(err))
            stack.enter_context(redirect_stdout(out))
            if validation_only:
                stack.enter_context(stop_after_validation())
            try:
                code: Any = main(argv)
            except Built:
                code = "accepted"
    finally:
        os.chdir(here)
    return code, err.getvalue(), out.getvalue()


def check(argv: list[str], root: Path, validation_only: bool = True) -> str:
    """Run ``argv`` and assert the property; return how it ended (also a Hypothesis event)."""
    before = snapshot(root)
    code, err, out = run_cli(argv, root, validation_only)
    if code == "accepted":
        outcome = "accepted by validation"
    elif code == 0 and out.startswith("usage:"):
        outcome = "help"
    elif code == 0 and not validation_only:
        outcome = "ran"
    elif code == 1 and not validation_only and err.startswith("mtrl: stopped: "):
        assert len(err.splitlines()) == 1, err
        outcome = "stopped itself"
    else:
        assert code == 2, f"exit {code}, stderr:\n{err}"
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("mtrl: error: "), err
        assert snapshot(root) == before, "a rejected command wrote files"
        outcome = "rejected"
    if currently_in_test_context():
        event(outcome)
    return outcome


# ---------------------------------------------------------------- value strategies

GARBAGE = [
    "",
    " ",
    "-",
    "--",
    "nan",
    "inf",
    "-inf",
    "1e400",
    "-1",
    "0",
    "0x10",
    "1_000",
    "1.5",
    "\x00",
    "a\nb",
    "\u2028",
    "\x1c",
    "ünïcødé",
    "٣",
    "9" * 5000,
    "x" * 300,
    "[1, 2]",
    "{a: 1}",
]
text = st.text(max_size=12) | st.sampled_from(GARBAGE)
ints = (
    st.integers(-3, 3)
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([2**31, 2**32 - 1, 2**32, 2**63, 10**30, 10**9, 1_000_000])
)
floats = st.floats() | st.sampled_from([0.0, -0.0, 5e-324, 1e-320, 1e308, 0.5, 0.99, 1.0])
int_text = ints.map(str) | text
float_text = floats.map(repr) | ints.map(str) | text

TASKS = sorted(envs.ALL_TASKS)
task_list = st.lists(st.sampled_from(TASKS[:6]), min_size=1, max_size=3).map(",".join)
task_token = st.sampled_from(
    ["task0", "task1", "task2", "task9", "task" + "0" * 40 + "1", "task-1", "TASK0", "reach-v3"]
) | st.text(max_size=6)
map_args = st.none() | st.lists(float_text, max_size=3).map(lambda a: "(" + ",".join(a) + ")")
map_token = st.builds(
    lambda name, args: name + (args or ""),
    st.sampled_from([*MAP_NAMES, "pow5", "", "EXP"]) | st.text(max_size=5),
    map_args,
)
spec = st.builds(
    lambda t, sep, m: f"{t}{sep}{m}", task_token, st.sampled_from([":", "", "::", " : "]), map_token
) | st.text(max_size=16)
OPTION_NAMES = [
    "eps",
    "c",
    "cosine_every",
    "steps",
    "radius",
    "lr",
    "gamma",
    "min_loss",
    "loss_after",
    "lamb",
    "normalization",
    "update_weights_every",
    "optim_niter",
    "solver",
    "newton_iters",
    "seed",
    "actor",
    "name",
    "num_tasks",
    "critic_lr",
]
option_value = (
    st.sampled_from(["abc", "-1", "0", "1", "2", ".nan", "nan", ".inf", "1e400", "1.0e400"])
    | st.sampled_from(["true", "null", "", "[1, 2]", "{a: 1}", "mean", "ccp", "l2", "none"])
    | st.sampled_from(["next_batch", "same_batch", "99999999999999999999999", "-0.5", "1e-300"])
    | int_text
    | float_text
)
method_option = (
    st.builds(
        lambda k, v: f"{k}={v}", st.sampled_from(OPTION_NAMES) | st.text(max_size=6), option_value
    )
    | text
)

yaml_scalar = st.none() | st.booleans() | ints | floats | st.text(max_size=12)
yaml_value = st.recursive(
    yaml_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)
RAW_YAML = [
    "seed: 2020-13-45\n",
    "seed: " + "9" * 5000 + "\n",
    "[" * 3000 + "]" * 3000,
    "hidden: &a [*a]\n",
    "method_options: {1: 2}\n",
    "method_options: {eps: abc}\nmethod: dibs\n",
    "actor_lr: " + "1" * 400 + "\n",
    "hidden: [true]\n",
    "seed: -1\n",
    "1: 2\nseed: 3\n",
    "? [1, 2]\n: 3\n",
    "!!python/object/apply:os.system [echo hi]\n",
    "hidden: !!binary AAAA\n",
    "---\nseed: 1\n---\nseed: 2\n",
    "seed: 1\nseed: 2\n",
    "\ufeffseed: 1\n",
]


def value_for(name: str) -> st.SearchStrategy[Any]:
    """YAML values for the config key ``name``: of its declared type, any range, or not."""
    kind = TYPES[name]
    if kind is int:
        typed: st.SearchStrategy[Any] = ints
    elif kind is float:
        typed = floats | ints
    elif kind is bool:
        typed = st.booleans()
    elif name == "hidden":
        typed = st.lists(ints, max_size=4) | ints
    elif name == "transform":
        typed = st.lists(spec, max_size=3) | spec
    elif name == "method_options":
        typed = st.dictionaries(
            st.sampled_from(OPTION_NAMES) | st.text(max_size=5) | ints, yaml_value, max_size=3
        )
    elif name == "method":
        typed = st.sampled_from([*COMBINERS, "stl"])
    elif name == "tasks":
        typed = task_list
    else:
        typed = st.text(max_size=12)
    return typed | yaml_value


def flag_values(name: str, root: Path) -> st.SearchStrategy[list[str]]:
    """argv words setting ``mtrl train``'s flag for the field ``name``."""
    flag = "--" + name.replace("_", "-")
    kind = TYPES[name]
    if kind is bool:
        return st.sampled_from([[flag], ["--no-" + flag[2:]], [flag + "=1"]])
    if kind is int:
        return int_text.map(lambda v: [flag, v])
    if kind is float:
        return float_text.map(lambda v: [flag, v])
    if name == "hidden":
        return st.lists(int_text, max_size=4).map(lambda vs: [flag, *vs])
    if name == "transform":
        return spec.map(lambda v: [flag, v])
    if name == "logdir":  # kept under the example's folder: never ".." out of it
        return text.map(lambda v: [flag, f"{root}/{v.replace('..', '_')}"])
    pools = {
        "method": [*COMBINERS, "stl", "nope", "DIBS"],
        "benchmark": ["mt10", "mt50", "MT10", "mt1"],
        "tasks": [],
        "eval_goals": ["train", "heldout"],
        "vector": ["auto", "sync", "async"],
        "device": ["cpu", "auto", "cuda", "cuda:0", "cuda:x", "cuda:-1", "tpu"],
    }
    values = text | st.sampled_from(pools[name]) if pools.get(name) else text
    if name == "tasks":
        values = task_list | text
    return values.map(lambda v: [flag, v])


TRAIN_FLAGS = [n for n in FIELDS if n != "method_options"]


# ---------------------------------------------------------------- mtrl train


@contextmanager
def example_folder() -> Iterator[Path]:
    """A fresh folder per example (function-scoped fixtures are shared across examples)."""
    with tempfile.TemporaryDirectory(prefix="mtrl-fuzz-") as folder:
        yield Path(folder).resolve()


@fuzz(600)
@given(data=st.data())
def test_train_flags(data):
    with example_folder() as root:
        argv = ["train", "--logdir", f"{root}/runs", "--device", "cpu", "--no-progress"]
        for name in data.draw(st.lists(st.sampled_from(TRAIN_FLAGS), max_size=6), "flags"):
            argv += data.draw(flag_values(name, root), name)
        for _ in range(data.draw(st.integers(0, 2), "method options")):
            argv += ["--method-option", data.draw(method_option, "option")]
        if data.draw(st.booleans(), "stray word"):
            argv.append(data.draw(text, "stray"))
        for flag in data.draw(st.lists(st.sampled_from(["--config", "--resume"]), max_size=1)):
            argv += [flag, f"{root}/{data.draw(text, 'path').replace('..', '_')}"]
        check(argv, root)


def options_of(method: str) -> st.SearchStrategy[str]:
    """``KEY=VALUE`` words for ``method``: its declared options (if it declares them) more
    often than not, with values of any kind."""
    declared = sorted(getattr(REGISTRY[method], "options", {}))
    names = st.sampled_from(declared) if declared else st.sampled_from(OPTION_NAMES)
    own = st.builds(lambda k, v: f"{k}={v}", names, option_value)
    return own | own | method_option


@fuzz(300)
@given(data=st.data())
def test_method_options(data):
    with example_folder() as root:
        method = data.draw(st.sampled_from(COMBINERS), "method")
        argv = ["train", "--method", method, "--tasks", data.draw(task_list, "tasks")]
        argv += ["--logdir", f"{root}/runs", "--device", "cpu", "--no-progress"]
        for _ in range(data.draw(st.integers(0, 3), "count")):
            argv += ["--method-option", data.draw(options_of(method), "option")]
        check(argv, root)


file_bytes = (
    st.binary(max_size=120)
    | st.lists(
        st.sampled_from(sorted(FIELDS)).flatmap(lambda k: st.tuples(st.just(k), value_for(k)))
        | st.tuples(st.text(max_size=8) | ints, yaml_value),
        max_size=6,
    ).map(lambda pairs: yaml.safe_dump(dict(pairs), sort_keys=False).encode())
    | yaml_value.map(lambda v: yaml.safe_dump(v).encode())
    | st.sampled_from(RAW_YAML).map(str.encode)
    | st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass"))
)


@fuzz(400)
@given(content=file_bytes, overrides=st.booleans())
def test_config_files(content, overrides):
    with example_folder() as root:
        path = root / "config.yaml"
        path.write_bytes(content)
        argv = ["train", "--config", str(path), "--logdir", f"{root}/runs", "--no-progress"]
        if overrides:
            argv += ["--device", "cpu", "--tasks", "reach-v3"]
        check(argv, root)


@fuzz(150)
@given(content=file_bytes, changes=st.lists(st.sampled_from(TRAIN_FLAGS), max_size=2))
def test_resume_folders(content, changes):
    with example_folder() as root:
        run = root / "runs" / "a-run"
        run.mkdir(parents=True)
        (run / "config.yaml").write_bytes(content)
        argv = ["train", "--resume", str(run)]
        for name in changes:
            argv += [f"--{name.replace('_', '-')}", "1"] if TYPES[name] is int else []
        check(argv, root)


# ---------------------------------------------------------------- tiny real runs

TINY_METHODS = [*COMBINERS, "stl"]
TINY_TRANSFORMS = [
    "task0:pow4",
    "task0:exp",
    "reach-v3:cube",
    "task0:sqrt",
    "task0:log1p",
    "task0:affine(2,1)",
    "task0:affine(1e300,0)",
    "task0:affine(1e-300,-1e300)",
]
TINY_OPTIONS = [
    "eps=abc",
    "eps=0",
    "eps=-1",
    "eps=.nan",
    "eps=1e30",
    "c=0",
    "c=100",
    "lr=1e30",
    "lr=0",
    "gamma=0",
    "gamma=1e30",
    "steps=1",
    "radius=1e-30",
    "update_weights_every=1000000",
    "optim_niter=1",
    "solver=ccp",
    "normalization=none",
    "normalization=l2",
    "actor=mean",
    "cosine_every=1",
    "lamb=0",
    "seed=-1",
    "seed=99999999999999999999999",
    "loss_after=next_batch",
    "min_loss=1e30",
    "newton_iters=0",
]


@st.composite
def tiny_argv(draw, root: Path) -> list[str]:
    """A small config, mostly valid, near the edges of the valid region."""
    total = draw(st.integers(1, 40))
    episode = draw(st.sampled_from([1, 7, 20, 20, 500, 501]))
    evals = 1 if episode >= 500 else 2  # 500-step evaluations are the slow part
    method = draw(st.sampled_from(TINY_METHODS))
    argv = [
        "train",
        "--tasks",
        draw(st.sampled_from(["reach-v3", "reach-v3,drawer-close-v3"])),
        "--method",
        method,
        "--total-steps",
        str(total),
        "--warmup-steps",
        str(draw(st.integers(0, total))),
        "--batch-per-task",
        str(draw(st.integers(1, 16))),
        "--buffer-size",
        str(draw(st.integers(1, 50))),
        "--hidden",
        *[str(h) for h in draw(st.lists(st.integers(1, 16), min_size=1, max_size=2))],
        "--eval-interval",
        str(draw(st.integers(1, 40))),
        "--eval-episodes",
        str(draw(st.integers(1, evals))),
        "--max-episode-steps",
        str(episode),
        "--log-interval",
        str(draw(st.integers(1, 40))),
        "--checkpoint-interval",
        str(draw(st.integers(1, 40))),
        "--keep-checkpoints",
        str(draw(st.integers(1, 3))),
        "--updates-per-step",
        str(draw(st.integers(1, 2))),
        "--seed",
        str(draw(st.integers(0, 3) | st.integers(0, 3) | st.integers(2**32 - 10_003, 2**32 + 1))),
        "--eval-goals",
        draw(st.sampled_from(["train", "heldout"])),
        "--init-temperature",
        repr(draw(st.sampled_from([1.0, 1e-30, 1e30, 0.1]))),
        "--gamma",
        repr(draw(st.sampled_from([0.0, 0.5, 0.99, 0.999999]))),
        "--tau",
        repr(draw(st.sampled_from([1.0, 0.005, 1e-9]))),
        "--vector",
        "sync",
        "--device",
        "cpu",
        "--no-progress",
        "--logdir",
        f"{root}/runs",
    ]
    if draw(st.booleans()):
        argv.append("--no-checkpoint-replay")
    if draw(st.booleans()):
        argv += ["--transform", draw(st.sampled_from(TINY_TRANSFORMS) | spec)]
    if method != "stl":
        for _ in range(draw(st.integers(0, 2))):
            argv += ["--method-option", draw(st.sampled_from(TINY_OPTIONS) | options_of(method))]
    return argv


@pytest.mark.slow
@fuzz(20)
@given(data=st.data())
def test_tiny_runs_finish_or_fail_cleanly(data):
    with example_folder() as root:
        argv = data.draw(tiny_argv(root), "argv")
        outcome = check(argv, root, validation_only=False)
        if outcome == "ran":
            (run,) = list((root / "runs").iterdir())
            assert (run / "finished.json").is_file()


# ---------------------------------------------------------------- mtrl sweep

variant_name = st.sampled_from(["v1", "a__b", "x/y", ""]) | st.text(max_size=5)
grid_method = st.sampled_from([*COMBINERS, "stl", "nope", "v1"])
transform_entry = st.none() | st.just("none") | spec | st.lists(spec, max_size=2) | yaml_value
experiment = st.fixed_dictionaries(
    {"tasks": st.sampled_from(["reach-v3", "reach-v3,drawer-close-v3"]) | yaml_value},
    optional={
        "name": st.sampled_from(["x", ".", "..", "a/b", "", "a\x00b"]) | yaml_value,
        "methods": st.lists(grid_method, max_size=3) | yaml_value,
        "transforms": st.lists(transform_entry, max_size=3) | yaml_value,
        "seeds": st.integers(-2, 3)
        | st.sampled_from([10**9, 2**32])
        | st.lists(ints, max_size=3)
        | yaml_value,
        "method_options": st.dictionaries(
            grid_method, st.dictionaries(st.sampled_from(OPTION_NAMES), yaml_scalar) | yaml_value
        )
        | yaml_value,
        "variants": st.dictionaries(
            variant_name,
            st.fixed_dictionaries(
                {"method": grid_method | yaml_value},
                optional={"method_options": st.dictionaries(st.text(max_size=4), yaml_scalar)},
            )
            | yaml_value,
            max_size=2,
        )
        | yaml_value,
        "grids": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "methods": st.lists(grid_method, max_size=2) | yaml_value,
                    "transforms": st.lists(transform_entry, max_size=2),
                    "seeds": st.integers(-1, 2) | st.lists(ints, max_size=2),
                    "extra": yaml_value,
                },
            )
            | yaml_value,
            max_size=2,
        )
        | yaml_value,
        "total_steps": ints | yaml_value,
        "hidden": st.lists(ints, max_size=2) | yaml_value,
        "run_name": st.text(max_size=4),
        "batch": yaml_value,
        "device": st.sampled_from(["cpu", "cuda", "x"]) | yaml_value,
    },
)
good_experiment = st.fixed_dictionaries(
    {
        "tasks": st.sampled_from(["reach-v3", "reach-v3,drawer-close-v3"]),
        "methods": st.lists(
            st.sampled_from([*COMBINERS, "stl", "v1"]), min_size=1, max_size=3, unique=True
        ).map(lambda methods: ["dibs", *(m for m in methods if m != "dibs")]),
    },
    optional={
        "transforms": st.lists(
            st.sampled_from(["none", *TINY_TRANSFORMS]), min_size=1, unique=True
        ),
        "seeds": st.integers(1, 3)
        | st.lists(st.integers(0, 3) | st.integers(2**32 - 3, 2**32), min_size=1, max_size=3),
        "total_steps": st.integers(1, 10**7),
        "batch_per_task": st.integers(1, 10**7),
        "eval_goals": st.sampled_from(["train", "heldout"]),
        "method_options": st.fixed_dictionaries(
            {},
            optional={
                "dibs": st.fixed_dictionaries({}, optional={"eps": floats | text}) | yaml_value
            },
        ),
        "variants": st.fixed_dictionaries(
            {},
            optional={
                "v1": st.fixed_dictionaries(
                    {"method": st.sampled_from(["nashmtl", "stl", "nope"])},
                    optional={"method_options": st.just({"solver": "ccp"})},
                )
            },
        ),
    },
)
sweep_flags = st.lists(
    st.sampled_from(["--max-parallel", "--cpus-per-run", "--gpus-per-run"]).flatmap(
        lambda f: float_text.map(lambda v: [f, v])
    )
    | st.sampled_from([["--backend", "ray"], ["--backend", "x"], ["--address", "auto"]])
    | st.sampled_from(["cpu", "cuda", "cuda:0", "cuda:x", "tpu", ""]).map(lambda d: ["--device", d])
    | text.map(lambda v: ["--storage", v.replace("..", "_")]),
    max_size=3,
)


@fuzz(500)
@given(
    content=(good_experiment | good_experiment | experiment).map(
        lambda d: yaml.safe_dump(d, sort_keys=False).encode()
    )
    | file_bytes
    | yaml_value.map(lambda v: yaml.safe_dump(v).encode()),
    flags=sweep_flags,
)
def test_experiment_files(content, flags):
    with example_folder() as root:
        path = root / "grid.yaml"
        path.write_bytes(content)
        argv = ["sweep", str(path), "--storage", f"{root}/runs"]
        for words in flags:  # --storage stays under the example's folder
            argv += [words[0], f"{root}/{words[1]}"] if words[0] == "--storage" else words
        check(argv, root)


# ---------------------------------------------------------------- mtrl report

REPORT_TASKS = ["reach-v3", "drawer-close-v3"]


def _event_bytes() -> bytes:
    """A real event file with two evaluations of both tasks."""
    with tempfile.TemporaryDirectory() as folder:
        writer = SummaryWriter(folder)
        for step, values in ((100, (0.0, 0.5)), (200, (1.0, 0.5))):
            for task, value in zip(REPORT_TASKS, values, strict=True):
                writer.add_scalar(f"success/{task}", value, step)
        writer.close()
        (path,) = Path(folder).glob("events.out.tfevents.*")
        return path.read_bytes()


EVENTS = _event_bytes()
GOOD_CONFIG = dict(method="dibs", transform=[], seed=0, tasks=",".join(REPORT_TASKS))


@st.composite
def run_folder(draw) -> dict[str, bytes]:
    """The files of one run folder: a good one, or one broken in one of many ways."""
    cfg: Any = dict(GOOD_CONFIG, seed=draw(st.integers(0, 3)))
    files = {}
    kind = draw(
        st.sampled_from(
            ["good", "config", "config key", "config key", "events", "finished", "no config"]
        )
    )
    if kind == "config key":
        key = draw(st.sampled_from(["method", "seed", "tasks", "transform", "label"]))
        cfg[key] = draw(yaml_value)
    if kind == "config":
        files["config.yaml"] = draw(file_bytes)
    elif kind != "no config":
        files["config.yaml"] = yaml.safe_dump(cfg, sort_keys=False).encode()
    if kind == "events":
        cut = draw(st.integers(0, len(EVENTS)))
        files["events.out.tfevents.1.host.1.0"] = draw(
            st.sampled_from([EVENTS[:cut], EVENTS[:cut] + b"\xff" * 7]) | st.binary(max_size=64)
        )
    elif kind != "no events":
        files["events.out.tfevents.1.host.1.0"] = EVENTS
    if kind == "finished":
        files["finished.json"] = draw(
            st.binary(max_size=40) | st.sampled_from([b"[]", b"{}", b'{"code": 5}', b"null"])
        )
    elif draw(st.booleans()):  # finished, or unfinished (left out unless --partial)
        files["finished.json"] = b'{"step": 200}'
    return files


PLOTS = (
    "plot_curves",
    "plot_per_task",
    "plot_robustness",
    "plot_profiles",
    "plot_mechanism",
    "plot_headline",
)


@fuzz(150)
@given(
    runs=st.lists(run_folder(), max_size=3),
    ledger=st.none() | st.binary(max_size=30) | st.sampled_from([b"[]", b"{}", b"[1]"]),
    out=st.none() | st.sampled_from(["out", "a-file/out", "out\x00x", ""]) | st.text(max_size=8),
    fmt=st.none() | st.sampled_from(["md", "table", "html"]),
    folder=st.none() | text,
    partial=st.booleans(),
)
def test_report_folders(runs, ledger, out, fmt, folder, partial):
    with example_folder() as root, ExitStack() as stack:
        for name in PLOTS:
            stack.enter_context(patch.object(figures, name, lambda *a, **k: True))
        sweep_dir = root / "sweep"
        sweep_dir.mkdir()
        (root / "a-file").write_text("not a folder")
        for i, files in enumerate(runs):
            run_dir = sweep_dir / f"run{i}"
            run_dir.mkdir()
            for name, content in files.items():
                (run_dir / name).write_bytes(content)
        if ledger is not None:
            (sweep_dir / "behaviour.json").write_bytes(ledger)
        where = sweep_dir if folder is None else f"{root}/{folder.replace('..', '_')}"
        argv = ["report", str(where)]
        if out is not None:
            argv += ["--out", f"{root}/{out.replace('..', '_')}"]
        if fmt is not None:
            argv += ["--format", fmt]
        if partial:
            argv.append("--partial")
        outcome = check(argv, root, validation_only=False)
        assert outcome in ("rejected", "ran")


# ---------------------------------------------------------------- real processes


SMALL = ["--tasks", "reach-v3", "--total-steps", "20", "--warmup-steps", "1", "--hidden", "8"]
SMALL += ["--eval-episodes", "1", "--max-episode-steps", "10", "--vector", "sync"]


def _mtrl(*args: str | bytes, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [
            sys.executable.encode(),
            b"-m",
            b"mtrl.cli",
            *(a.encode() if isinstance(a, str) else a for a in args),
        ],
        capture_output=True,
        cwd=cwd,
        check=False,
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        [b"train", b"--run-name", b"\xff/x"],
        [b"train", b"--transform", b"task0:\xff\xfe"],
        [b"sweep", b"\xff.yaml"],
        [b"report", b"\xff"],
    ],
    ids=["run-name", "transform", "sweep", "report"],
)
def test_real_process_non_utf8_argv(tmp_path, args):
    """Non-UTF-8 bytes reach a real process's argv as surrogates: still one clean line."""
    if args[0] == b"train":  # small, in case one went through
        args = [b"train", *(w.encode() for w in SMALL), *args[1:], b"--logdir", b"runs"]
    proc = _mtrl(*args, cwd=tmp_path)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("mtrl: error: "), err
    assert not any(tmp_path.iterdir())


def test_check_catches_a_traceback_two_lines_and_a_write():
    """``check`` itself fails on what the fuzz tests must catch."""

    def two_lines(args):
        print("mtrl: error: one\nand two", file=sys.stderr)
        return 2

    def write_then_reject(args):
        (Path.cwd() / "left-behind").write_text("x")
        raise ConfigError("bad")

    for fake, error in (
        (lambda args: 1 / 0, ZeroDivisionError),
        (lambda args: 1, AssertionError),
        (two_lines, AssertionError),
        (write_then_reject, AssertionError),
    ):
        with (
            example_folder() as root,
            patch("mtrl.cli._cmd_tasks", fake),
            pytest.raises(error),
        ):
            check(["tasks"], root)
