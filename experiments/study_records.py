"""Commit each finished study run's record as it lands, so a new machine resumes from git.

A record is what ``mtrl report`` reads: ``config.yaml``, the event files and the end
marker, ``finished.json`` or, for a run that stopped itself, ``stopped.json``
(checkpoints and models stay out, see .gitignore). Runs that have not ended are left
alone; the sweep restarts them on any machine.

    python experiments/study_records.py experiments/results/cpu_study            # once
    python experiments/study_records.py experiments/results/cpu_study --watch 300 # every 5 min

Only the record's own paths are committed (``git commit -- PATHS``), so nothing
else staged in the tree is swept into the commit.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from mtrl.finished import FINISHED, STOPPED


def record_paths(run_dir: Path) -> list[Path]:
    """The files of an ended run that make its record."""
    markers = [run_dir / m for m in (FINISHED, STOPPED) if (run_dir / m).is_file()]
    files = [run_dir / "config.yaml", *markers]
    return files + sorted(run_dir.glob("events.out.tfevents.*"))


def uncommitted_records(root: Path) -> list[Path]:
    """Ended run folders under ``root`` whose end marker git does not track yet."""
    out = []
    markers = sorted([*root.glob(f"*/{FINISHED}"), *root.glob(f"*/{STOPPED}")])
    for marker in markers:
        tracked = subprocess.run(
            ["git", "ls-files", "--error-unmatch", str(marker)], capture_output=True
        )
        if tracked.returncode != 0:
            out.append(marker.parent)
    return out


def commit_records(root: Path) -> list[str]:
    """Add and commit every new finished run's record; return the runs committed."""
    runs = uncommitted_records(root)
    if not runs:
        return []
    paths = [str(p) for run in runs for p in record_paths(run)]
    names = ", ".join(run.name for run in runs)
    for attempt in range(10):  # another git process may hold the index lock for a moment
        # -f: these are the record's own files, added even where a local exclude hides the
        # folder while its run is unfinished (checkpoints and models are never listed)
        add = subprocess.run(["git", "add", "-f", "--", *paths], capture_output=True, text=True)
        commit = add.returncode == 0 and subprocess.run(
            ["git", "commit", "-q", "-m", f"{root.name}: records of {names}", "--", *paths],
            capture_output=True,
            text=True,
        )
        if commit and commit.returncode == 0:
            return [run.name for run in runs]
        time.sleep(2 + attempt)
    err = (commit.stderr if commit else add.stderr).strip().splitlines()
    raise RuntimeError(f"could not commit {names}: {err[-1] if err else 'git failed'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "root", type=Path, help="the sweep folder, e.g. experiments/results/cpu_study"
    )
    parser.add_argument("--watch", type=float, default=0, help="repeat every N seconds")
    a = parser.parse_args()
    while True:
        try:
            done = commit_records(a.root)
        except RuntimeError as err:
            print(f"study_records: {err}", file=sys.stderr, flush=True)
            done = []
        if done:
            print(f"committed {len(done)}: {', '.join(done)}", file=sys.stderr, flush=True)
        if not a.watch:
            return 0
        time.sleep(a.watch)


if __name__ == "__main__":
    sys.exit(main())
