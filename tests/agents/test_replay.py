import numpy as np
import pytest
import torch

from agents.replay import MultiTaskReplay


def fill(buf, n, k=3, obs_dim=4):
    for t in range(n):
        # every field encodes (task, time) so sampled rows can be traced back
        obs = np.array([[i * 1000 + t] * obs_dim for i in range(k)], dtype=np.float32)
        buf.add(obs, obs[:, :2], obs[:, 0], obs + 0.5, np.zeros(k))


def test_shapes_and_stratified_sampling():
    buf = MultiTaskReplay(3, 50, obs_dim=4, act_dim=2, device="cpu")
    fill(buf, 20)
    batch = buf.sample(8, torch.Generator().manual_seed(0))
    assert batch.obs.shape == (3, 8, 4) and batch.act.shape == (3, 8, 2)
    assert batch.rew.shape == batch.done.shape == (3, 8)
    task_of_row = torch.div(batch.obs[..., 0], 1000, rounding_mode="floor")
    assert (task_of_row == torch.arange(3).unsqueeze(1)).all()  # task i's rows come from buffer i
    torch.testing.assert_close(batch.next_obs, batch.obs + 0.5)  # fields stay aligned
    assert (batch.obs[..., 0] % 1000 < 20).all()


def test_ring_overwrites_the_oldest():
    buf = MultiTaskReplay(2, 5, obs_dim=1, act_dim=1, device="cpu")
    fill(buf, 12, k=2, obs_dim=1)
    assert buf.size == 5
    times = set((buf.obs[0, :, 0] % 1000).tolist())
    assert times == {7.0, 8.0, 9.0, 10.0, 11.0}


def test_empty_and_bad_capacity():
    with pytest.raises(ValueError, match="capacity"):
        MultiTaskReplay(2, 0, 1, 1, "cpu")
    with pytest.raises(RuntimeError, match="empty"):
        MultiTaskReplay(2, 3, 1, 1, "cpu").sample(4)


def test_state_dict_round_trip_keeps_the_transitions_oldest_first():
    a = MultiTaskReplay(2, 10, obs_dim=3, act_dim=2, device="cpu")
    fill(a, 13, k=2, obs_dim=3)
    b = MultiTaskReplay(2, 10, obs_dim=3, act_dim=2, device="cpu")
    b.load_state_dict(a.state_dict())
    assert b.size == a.size
    # same transitions, re-laid oldest first: times 3..12
    assert sorted((b.obs[0, :, 0] % 1000).tolist()) == sorted((a.obs[0, :, 0] % 1000).tolist())
    assert (b.obs[0, :, 0] % 1000).tolist() == [float(t) for t in range(3, 13)]


def test_state_loads_into_a_larger_buffer_without_overwriting():
    """A resumed run may have a larger capacity: new transitions go after the old ones."""
    a = MultiTaskReplay(2, 6, obs_dim=1, act_dim=1, device="cpu")
    fill(a, 6, k=2, obs_dim=1)  # full, pos wrapped to 0
    b = MultiTaskReplay(2, 10, obs_dim=1, act_dim=1, device="cpu")
    b.load_state_dict(a.state_dict())
    assert (b.size, b.pos) == (6, 6)
    c = MultiTaskReplay(2, 4, obs_dim=1, act_dim=1, device="cpu")
    c.load_state_dict(a.state_dict())  # smaller: the newest four
    assert (c.obs[0, :, 0] % 1000).tolist() == [2.0, 3.0, 4.0, 5.0] and c.pos == 0
