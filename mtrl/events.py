"""Read scalars back from a run's TensorBoard event files."""

from __future__ import annotations

import re
from pathlib import Path

from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader
from tensorboard.compat.proto.event_pb2 import SessionLog

_NAME = re.compile(r"events\.out\.tfevents\.(\d+)\.(.*)\.(\d+)\.(\d+)")


def _write_order(path: Path) -> tuple[int, int, int, str]:
    """Event files in the order they were created: by the time, then the writer's number in its
    process (``…tfevents.<time>.<host>.<pid>.<n>``; compared as numbers, so writer 10 follows 9)."""
    m = _NAME.match(path.name)
    if m is None:
        return (0, 0, 0, path.name)
    return (int(m.group(1)), int(m.group(3)), int(m.group(4)), path.name)


def read_scalars(run_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag in ``run_dir`` → its (step, value) pairs in step order, one per step
    (``read_run``'s first half)."""
    return read_run(run_dir)[0]


def wall_seconds(run_dir: str | Path) -> float:
    """Seconds the run's processes spent writing events (``read_run``'s second half)."""
    return read_run(run_dir)[1]


def read_run(run_dir: str | Path) -> tuple[dict[str, list[tuple[int, float]]], float]:
    """A run's scalars and its wall time, from one pass over its event files.

    Scalars: every tag → its (step, value) pairs in step order, one per step. Event files
    are read in the order they were written, each in write order. A resumed run's writer
    starts with a ``purge_step`` (a session-start event at that step): every value read so
    far at or past it is dropped, as TensorBoard shows the run. A step written more than
    once otherwise (a run trained twice into its folder with no purge, as ``stl`` runs were
    by sweeps before the finished marker) keeps its later write.

    Wall time: per event file (one per attempt), its last wall time minus its first, summed;
    the time between attempts does not count.
    """
    values: dict[str, dict[int, float]] = {}
    seconds = 0.0
    for path in sorted(Path(run_dir).glob("events.out.tfevents.*"), key=_write_order):
        first = last = None
        for event in LegacyEventFileLoader(str(path)).Load():
            first = event.wall_time if first is None else min(first, event.wall_time)
            last = event.wall_time if last is None else max(last, event.wall_time)
            if event.HasField("session_log") and event.session_log.status == SessionLog.START:
                for by_step in values.values():
                    for step in [s for s in by_step if s >= event.step]:
                        del by_step[step]
                continue
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    values.setdefault(value.tag, {})[event.step] = value.simple_value
        if first is not None and last is not None:
            seconds += last - first
    scalars = {tag: sorted(by_step.items()) for tag, by_step in values.items() if by_step}
    return scalars, seconds
