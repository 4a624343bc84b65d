import numpy as np
import pytest
import torch

from agents.buffer import Batch, ReplayBuffer


def _fill(buf, n):
    for i in range(n):
        buf.add(np.full(2, i), np.full(1, -i), float(i), np.full(2, i + 1), i % 2 == 0, skill=i % 3)


def test_round_trip():
    buf = ReplayBuffer(10, 2, 1)
    _fill(buf, 4)
    b = buf.gather(torch.tensor([0, 3]))
    assert isinstance(b, Batch)
    torch.testing.assert_close(b.obs, torch.tensor([[0.0, 0.0], [3.0, 3.0]]))
    torch.testing.assert_close(b.action, torch.tensor([[0.0], [-3.0]]))
    torch.testing.assert_close(b.reward, torch.tensor([0.0, 3.0]))
    torch.testing.assert_close(b.next_obs, torch.tensor([[1.0, 1.0], [4.0, 4.0]]))
    torch.testing.assert_close(b.terminated, torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(b.skill, torch.tensor([0, 0]))
    assert b.next_feature is b.next_obs or torch.equal(b.next_feature, b.next_obs)


def test_wrap_around_overwrites_oldest():
    buf = ReplayBuffer(3, 2, 1)
    _fill(buf, 5)  # 0..4; slots hold [3, 4, 2]
    assert len(buf) == 3 and buf.pos == 2
    b = buf.gather(torch.arange(3))
    torch.testing.assert_close(b.reward, torch.tensor([3.0, 4.0, 2.0]))
    sampled = buf.sample(200, torch.Generator().manual_seed(0))
    assert set(sampled.reward.tolist()) == {2.0, 3.0, 4.0}


def test_separate_feature_is_stored():
    buf = ReplayBuffer(4, 3, 1, feature_dim=2)
    buf.add(np.zeros(3), np.zeros(1), 0.0, np.ones(3), False, 1, np.array([5.0, 6.0]))
    torch.testing.assert_close(buf.gather(torch.tensor([0])).next_feature, torch.tensor([[5.0, 6.0]]))


def test_state_dict_round_trip_and_shape_check():
    buf = ReplayBuffer(5, 2, 1)
    _fill(buf, 7)
    other = ReplayBuffer(5, 2, 1)
    other.load_state_dict(buf.state_dict())
    idx = torch.arange(5)
    assert sorted(buf.gather(idx).reward.tolist()) == sorted(other.gather(idx).reward.tolist())
    # oldest first after a load: slots held rewards [5, 6, 2, 3, 4]
    torch.testing.assert_close(other.gather(idx).reward, torch.tensor([2.0, 3.0, 4.0, 5.0, 6.0]))
    bigger = ReplayBuffer(8, 2, 1)
    bigger.load_state_dict(buf.state_dict())
    assert len(bigger) == 5 and bigger.pos == 5
    smaller = ReplayBuffer(3, 2, 1)
    smaller.load_state_dict(buf.state_dict())
    torch.testing.assert_close(smaller.gather(torch.arange(3)).reward, torch.tensor([4.0, 5.0, 6.0]))
    with pytest.raises(ValueError, match="fields"):
        ReplayBuffer(5, 2, 1, feature_dim=2).load_state_dict(buf.state_dict())


def test_empty_buffer_refuses_to_sample():
    with pytest.raises(RuntimeError, match="empty"):
        ReplayBuffer(3, 1, 1).sample(2)
