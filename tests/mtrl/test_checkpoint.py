"""Checkpoint files: the newest k are kept, and a damaged one is detected and passed over."""

import torch

from mtrl.checkpoint import list_checkpoints, load_latest_checkpoint, save_checkpoint


def test_checkpoints_keep_the_newest_k_and_detect_damage(tmp_path):
    for step in range(1, 6):
        save_checkpoint(tmp_path, step, {"step": step, "x": torch.arange(step)}, keep=3)
    assert [p.name[-9:] for p in list_checkpoints(tmp_path)] == [
        "0003.ckpt",
        "0004.ckpt",
        "0005.ckpt",
    ]
    state, path = load_latest_checkpoint(tmp_path)
    assert state["step"] == 5
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # one flipped bit in the payload
    path.write_bytes(bytes(data))
    state, path = load_latest_checkpoint(tmp_path)
    assert state["step"] == 4
