import pytest
import torch
from torch.utils.tensorboard import SummaryWriter

from mtrl.events import read_scalars
from mtrl.trainer import ScalarLog


def test_means_leave_out_dropped_updates_and_sampled_stats_count_their_own_calls(tmp_path):
    writer = SummaryWriter(str(tmp_path))
    log = ScalarLog(writer, ["a", "b"])
    log.add({"ok": torch.tensor(True), "loss": torch.tensor([1.0, 2.0]), "cos": torch.tensor(0.5)})
    log.add({"ok": torch.tensor(False), "loss": torch.tensor([float("nan"), 9.0])})
    log.add({"ok": torch.tensor(True), "loss": torch.tensor([3.0, 4.0])})
    log.add({"ok": torch.tensor(False), "only_dropped": torch.tensor(7.0)})
    log.flush(10)
    writer.close()
    s = read_scalars(tmp_path)
    assert s["loss/a"] == [(10, 2.0)] and s["loss/b"] == [(10, 3.0)]
    assert s["cos"] == [(10, 0.5)]  # logged on one update of three: its own mean
    assert "only_dropped" not in s  # no update that stood: nothing to write
    assert log.count == 0 and not log.sums


def test_stats_without_an_ok_flag_all_count(tmp_path):
    writer = SummaryWriter(str(tmp_path))
    log = ScalarLog(writer, ["a"])
    for x in (1.0, 2.0, 6.0):
        log.add({"alpha": torch.tensor(x)})
    log.flush(3)
    writer.close()
    assert read_scalars(tmp_path)["alpha"] == [(3, pytest.approx(3.0))]
