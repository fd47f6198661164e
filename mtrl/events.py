"""Read scalars back from a run's TensorBoard event files."""

from __future__ import annotations

import logging
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def read_scalars(run_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag in ``run_dir`` → its (step, value) pairs in step order, one per step.

    A resumed run's events past its checkpoint are dropped (``purge_step``), as
    TensorBoard itself shows them; its "TensorFlow restart" warning about that is muted.
    A step written more than once (a run trained twice into its folder with no purge,
    as ``stl`` runs were by sweeps before the finished marker) keeps its later write:
    event files are read oldest first, each in write order, so the last value read wins.
    """
    tb_logger = logging.getLogger("tensorboard")
    level = tb_logger.level
    tb_logger.setLevel(logging.ERROR)
    try:
        acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
        acc.Reload()
    finally:
        tb_logger.setLevel(level)
    out = {}
    for tag in acc.Tags()["scalars"]:
        by_step = {e.step: e.value for e in acc.Scalars(tag)}  # a later write replaces
        out[tag] = sorted(by_step.items())
    return out
