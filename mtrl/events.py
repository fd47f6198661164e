"""Read scalars back from a run's TensorBoard event files."""

from __future__ import annotations

import logging
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def read_scalars(run_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag in ``run_dir`` → its (step, value) pairs in step order.

    A resumed run's events past its checkpoint are dropped (``purge_step``), as
    TensorBoard itself shows them; its "TensorFlow restart" warning about that is muted.
    """
    tb_logger = logging.getLogger("tensorboard")
    level = tb_logger.level
    tb_logger.setLevel(logging.ERROR)
    try:
        acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
        acc.Reload()
    finally:
        tb_logger.setLevel(level)
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
