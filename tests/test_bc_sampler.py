from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from shapesafe.bc import EpochSampler


@given(
    n=st.integers(1, 50),
    batch=st.integers(1, 20),
    seed=st.integers(0, 2**32),
    stop=st.integers(0, 30),
)
def test_a_restored_sampler_continues_exactly(n: int, batch: int, seed: int, stop: int) -> None:
    """Saving after any number of batches and restoring into a fresh sampler gives the
    same next batches as never stopping (the resume guarantee of fit)."""
    straight = EpochSampler(n, batch, seed=seed)
    expected = [straight.next_indices() for _ in range(stop + 10)]
    first = EpochSampler(n, batch, seed=seed)
    for _ in range(stop):
        first.next_indices()
    state = first.state_dict()
    again = EpochSampler(n, batch, seed=seed + 1)  # the state, not the seed, decides
    again.load_state_dict(state)
    assert (again.epoch, again.position) == (first.epoch, first.position)
    for want in expected[stop:]:
        assert torch.equal(again.next_indices(), want)


@given(n=st.integers(1, 50), batch=st.integers(1, 20), seed=st.integers(0, 1000))
def test_each_epoch_is_a_permutation_cut_into_batches(n: int, batch: int, seed: int) -> None:
    sampler = EpochSampler(n, batch, seed=seed)
    for epoch in range(2):
        parts = [sampler.next_indices() for _ in range(sampler.steps_per_epoch)]
        assert [len(p) for p in parts[:-1]] == [batch] * (len(parts) - 1)
        assert sorted(torch.cat(parts).tolist()) == list(range(n))
        assert sampler.epoch == epoch + 1 and sampler.position == 0


def test_a_smaller_data_set_starts_a_new_epoch_on_restore() -> None:
    big = EpochSampler(100, 10, seed=0)
    for _ in range(7):
        big.next_indices()
    small = EpochSampler(50, 10, seed=0)
    small.load_state_dict(big.state_dict())
    assert (small.epoch, small.position) == (1, 0)
    assert sorted(torch.cat([small.next_indices() for _ in range(5)]).tolist()) == list(range(50))
