"""Crash-safe files: atomic writes, checksummed checkpoints, keep-last-K, damage detection.

A checkpoint file is ``MAGIC``, the SHA-256 of the payload, a newline, then the
``torch.save`` payload. A file whose magic or digest does not match (a torn
write, a full disk, bit rot) is skipped in favour of the previous one.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

MAGIC = b"MTRLCKPT1\n"
SUFFIX = ".ckpt"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the new one, never a part."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through ``atomic_write_bytes``."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def checkpoint_path(folder: Path, step: int) -> Path:
    """The file name of the checkpoint at ``step`` (sorts by step)."""
    return folder / f"step_{step:012d}{SUFFIX}"


def save_checkpoint(folder: str | Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write ``state`` as the checkpoint of ``step`` and delete all but the newest ``keep``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    path = checkpoint_path(folder, step)
    atomic_write_bytes(path, MAGIC + digest + b"\n" + payload)
    for old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def remove_partial_writes(folder: str | Path) -> list[Path]:
    """Delete the temporary files of writes a kill interrupted; return what was removed."""
    folder = Path(folder)
    stale = sorted(folder.glob(".*.tmp")) if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def list_checkpoints(folder: str | Path) -> list[Path]:
    """Checkpoint files in ``folder``, oldest first."""
    folder = Path(folder)
    return sorted(folder.glob(f"step_*{SUFFIX}")) if folder.is_dir() else []


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load one checkpoint; ValueError if it is damaged."""
    data = Path(path).read_bytes()
    if not data.startswith(MAGIC):
        raise ValueError("not an mtrl checkpoint (bad header)")
    head = len(MAGIC)
    digest, payload = data[head : head + 64], data[head + 65 :]
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        raise ValueError("checksum mismatch (truncated or corrupted)")
    # our own file, verified by its digest: it holds RNG states, hence weights_only=False
    return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)


def load_latest_checkpoint(folder: str | Path) -> tuple[dict[str, Any], Path] | None:
    """The newest readable checkpoint in ``folder``, skipping damaged ones (each reported)."""
    for path in reversed(list_checkpoints(folder)):
        try:
            return read_checkpoint(path), path
        except (ValueError, OSError, RuntimeError, EOFError) as err:
            print(f"mtrl: skipping damaged checkpoint {path.name}: {err}", file=sys.stderr)
    return None


def resume_checkpoint(folder: str | Path, notes: list[str]) -> tuple[dict[str, Any], Path] | None:
    """What a resume starts from: partial writes left by a kill removed, then the newest
    readable checkpoint; ``notes`` says what happened (the caller adds "resumed from …")."""
    if stale := remove_partial_writes(folder):
        notes.append(f"removed {len(stale)} partial checkpoint write(s) left by a kill")
    loaded = load_latest_checkpoint(folder)
    if loaded is None:
        notes.append("no usable checkpoint: the run restarts from step 0")
    return loaded
