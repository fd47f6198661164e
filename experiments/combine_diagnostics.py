"""The combination-layer diagnostics each run of an experiment logged, as a markdown table.

For every run folder under RUNS_DIR: its last ``success/mean``, how many ``combine/…``
tags it wrote, and the last minimum pairwise cosine of the task gradients for critic
and actor (methods that take per-task gradients log it).

    python experiments/combine_diagnostics.py runs/mt10_methods_3000 > diagnostics.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mtrl.events import read_scalars


def table(runs_dir: Path) -> str:
    """One markdown row per run folder (sorted by name) holding event files."""

    def last(scalars: dict, tag: str) -> str:
        return f"{scalars[tag][-1][1]:.2f}" if tag in scalars else "–"

    rows = [
        "| run | success/mean (last) | `combine/…` tags | critic cosine_min | actor cosine_min |",
        "|---|---|---|---|---|",
    ]
    for run in sorted(p for p in runs_dir.iterdir() if any(p.glob("events.out.tfevents.*"))):
        s = read_scalars(run)
        n = sum(t.startswith("combine/") for t in s)
        rows.append(
            f"| {run.name} | {last(s, 'success/mean')} | {n} "
            f"| {last(s, 'combine/critic/cosine_min')} | {last(s, 'combine/actor/cosine_min')} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_dir", type=Path)
    args = parser.parse_args()
    print(f"# Combination-layer diagnostics: {args.runs_dir.name}\n")
    print(table(args.runs_dir))


if __name__ == "__main__":
    main()
