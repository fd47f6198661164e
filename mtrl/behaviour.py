"""What a run computes, checked by running it: a digest of a tiny real run per method.

``mtrl.provenance`` tells that a run's code changed; this module tells whether its
*numbers* did. ``behaviour_digest`` trains one tiny real run (two Meta-World tasks,
one reward through ``exp``, episodes that end and restart, an evaluation) on one
thread and hashes every logged scalar but the timings, and the final networks. Two
code versions with the same digest for a method compute the same run, bit for bit,
on this machine.

A ledger (``behaviour.json`` in a sweep folder) keeps, per code version, its compute
path's fingerprint and each method's digest. ``mtrl report`` counts a run whose code
changed as current when the ledger shows the run's code and today's code give its
method the same digest; behaviour-preserving work (refactors, faster logging) can then
land beside a study without making its cells stale.

    python -m mtrl.behaviour experiments/results/cpu_study/behaviour.json   # today's code

The command adds today's code to the ledger (an entry per fingerprint): run it on a
study's code before a behaviour-preserving change lands, and again after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from mtrl.config import TrainConfig
from mtrl.events import read_scalars
from mtrl.provenance import LEDGER, code_fingerprint, method_key, read_ledger
from mtrl.trainer import train

TINY_RUN: dict[str, Any] = {
    "tasks": "reach-v3,drawer-close-v3",
    "transform": ["drawer-close-v3:exp"],
    "total_steps": 600,
    "warmup_steps": 200,
    "batch_per_task": 16,
    "hidden": [32, 32],
    "log_interval": 100,
    "eval_interval": 600,
    "eval_episodes": 1,
    "checkpoint_interval": 600,
    "max_episode_steps": 250,
    "vector": "sync",
    "device": "cpu",
    "seed": 3,
    "progress": False,
}
"""The run behind a digest: 400 updates, episodes of 250 steps (two end), one evaluation."""

METHODS: list[dict[str, Any]] = [
    {"method": m}
    for m in (
        "mean",
        "dibs",
        "dibs-tstep",
        "nashmtl",
        "famo",
        "pcgrad",
        "cagrad",
        "mgda",
        "mgda-ub",
        "ldc",
        "stl",
    )
] + [{"method": "nashmtl", "method_options": {"solver": "ccp"}}]
"""The method settings a ledger entry covers (the CPU study's, nashmtl-ccp included)."""

UNTIMED = ("perf/",)
"""Scalar tags that measure time, not what a run computes."""


def behaviour_digest(method: str, options: dict[str, Any] | None = None) -> str:
    """The sha256 of a tiny real run of ``method``: its untimed scalars and final files."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = TrainConfig(
                **TINY_RUN, method=method, method_options=dict(options or {}), logdir=tmp
            )
            run_dir = Path(train(cfg).run_dir)
            digest = hashlib.sha256()
            scalars = read_scalars(run_dir)
            for tag in sorted(scalars):
                if not tag.startswith(UNTIMED):
                    digest.update(tag.encode())
                    digest.update(repr([(int(s), float(v)) for s, v in scalars[tag]]).encode())
            for path in sorted(run_dir.glob("*")):  # model.pt, or stl's stl_<task>.zip
                if path.suffix in (".pt", ".zip"):
                    digest.update(_model_bytes(path))
            return digest.hexdigest()[:16]
    finally:
        torch.set_num_threads(threads)


def _model_bytes(path: Path) -> bytes:
    """The numbers of a saved model, not its container (zip times, pickle ids)."""
    if path.suffix == ".pt":
        state = torch.load(path, map_location="cpu", weights_only=False)
        tensors = [
            (f"{part}.{name}", t)
            for part in ("actor", "critic", "critic_target")
            for name, t in state[part].items()
        ] + [("log_alpha", state["log_alpha"])]
    else:
        with zipfile.ZipFile(path) as z, z.open("policy.pth") as f:
            params = torch.load(f, map_location="cpu", weights_only=True)
        tensors = sorted(params.items())
    return b"".join(n.encode() + t.detach().contiguous().numpy().tobytes() for n, t in tensors)


def record(path: str | Path, settings: list[dict[str, Any]] = METHODS) -> dict[str, Any]:
    """Digest every setting with today's code and write its entry into the ledger at ``path``."""
    entry = {"code": code_fingerprint(), "digests": {}}
    for s in settings:
        key = method_key(s["method"], s.get("method_options"))
        entry["digests"][key] = behaviour_digest(s["method"], s.get("method_options"))
        print(f"{key}: {entry['digests'][key]}", flush=True)
    ledger = [e for e in read_ledger(path) if e["code"] != entry["code"]] + [entry]
    Path(path).write_text(json.dumps(ledger, indent=1, sort_keys=True) + "\n")
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("ledger", help=f"the ledger to add today's code to, e.g. …/{LEDGER}")
    parser.add_argument("--methods", nargs="+", help="only these method keys")
    args = parser.parse_args(argv)
    settings = METHODS
    if args.methods:
        settings = [
            s for s in METHODS if method_key(s["method"], s.get("method_options")) in args.methods
        ]
    record(args.ledger, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
