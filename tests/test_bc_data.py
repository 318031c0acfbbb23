from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from shapesafe.bc import Batch, Demonstrations, cubic_demonstrations
from shapesafe.errors import DataError, DtypeError, NonFiniteError, ShapeError, UsageError

# ---------------------------------------------------------------- construction


@pytest.mark.values
def test_built_from_numpy_float64_stored_as_float32() -> None:
    obs = np.random.default_rng(0).normal(size=(10, 3))
    act = np.random.default_rng(1).normal(size=(10, 2))
    demos = Demonstrations(obs, act)
    assert demos.observations.dtype == torch.float32
    assert len(demos) == 10 and demos.obs_shape == (3,) and demos.act_shape == (2,)
    np.testing.assert_allclose(demos.observations.numpy(), obs.astype(np.float32))
    assert demos.episode_ids is None and demos.n_episodes is None


@pytest.mark.values
def test_built_from_lists_and_tensors_alike() -> None:
    a = Demonstrations([[0.0, 1.0], [2.0, 3.0]], [[1.0], [2.0]])
    b = Demonstrations(torch.tensor([[0.0, 1.0], [2.0, 3.0]]), torch.tensor([[1.0], [2.0]]))
    assert torch.equal(a.observations, b.observations) and torch.equal(a.actions, b.actions)


@pytest.mark.values
def test_one_dimensional_float_actions_become_a_column() -> None:
    demos = Demonstrations(torch.zeros(5, 3), torch.arange(5.0))
    assert demos.act_shape == (1,)
    assert torch.equal(demos.actions[:, 0], torch.arange(5.0))


@pytest.mark.values
def test_integer_actions_are_kept_as_int64() -> None:
    demos = Demonstrations(torch.zeros(4, 3), np.array([0, 1, 2, 1], dtype=np.int32))
    assert demos.actions.dtype == torch.int64 and demos.act_shape == ()


@pytest.mark.values
def test_float64_storage_on_request() -> None:
    demos = Demonstrations(torch.zeros(4, 3), torch.zeros(4, 2), dtype=torch.float64)
    assert demos.observations.dtype == demos.actions.dtype == torch.float64


def test_unequal_lengths_name_the_field_and_both_sizes() -> None:
    with pytest.raises(ShapeError, match=r"`actions` axis 0 \(N\): expected 100 rows") as info:
        Demonstrations(torch.zeros(100, 3), torch.zeros(99, 2))
    assert info.value.argument == "actions" and info.value.axis == 0
    assert "(99, 2)" in str(info.value) and "hint:" in str(info.value)


def test_unequal_lengths_of_goals_and_extras() -> None:
    with pytest.raises(ShapeError, match=r"`goals` axis 0 \(N\): expected 10 rows"):
        Demonstrations(torch.zeros(10, 3), torch.zeros(10, 2), goals=torch.zeros(9, 2))
    with pytest.raises(ShapeError, match=r"`rewards` axis 0 \(N\): expected 10 rows"):
        Demonstrations(torch.zeros(10, 3), torch.zeros(10, 2), extras={"rewards": torch.zeros(3)})


def test_scalar_and_empty_observations() -> None:
    with pytest.raises(ShapeError, match=r"`observations` must have a leading axis N"):
        Demonstrations(torch.tensor(1.0), torch.zeros(1, 2))
    with pytest.raises(ShapeError, match=r"`observations` is empty \(N=0\)"):
        Demonstrations(torch.zeros(0, 3), torch.zeros(0, 2))


def test_non_finite_values_name_the_row() -> None:
    obs = torch.zeros(10, 3)
    obs[7, 1] = float("nan")
    with pytest.raises(
        NonFiniteError,
        match=r"`observations` has 1 row\(s\) with non-finite values "
        r"\(first: row 7 holds nan\)",
    ):
        Demonstrations(obs, torch.zeros(10, 2))
    act = torch.zeros(10, 2)
    act[3, 0] = float("inf")
    act[5, 1] = float("-inf")
    with pytest.raises(NonFiniteError, match=r"`actions` has 2 row\(s\).*first: row 3 holds inf"):
        Demonstrations(torch.zeros(10, 3), act)


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        (np.array([["a", "b"]] * 3), r"`observations` must hold numbers, got numpy dtype <U1"),
        (
            np.zeros((3, 2), dtype=object),
            r"`observations` must hold numbers, got numpy dtype object",
        ),
        (
            torch.zeros(3, 2, dtype=torch.complex64),
            r"`observations` must be real, got torch.complex64",
        ),
    ],
)
def test_non_numeric_observations_are_dtype_errors(value: object, pattern: str) -> None:
    with pytest.raises(DtypeError, match=pattern):
        Demonstrations(value, torch.zeros(3, 2))


def test_ragged_lists_are_dtype_errors() -> None:
    with pytest.raises(DtypeError, match=r"`actions` cannot be read as an array"):
        Demonstrations(torch.zeros(2, 3), [[1.0, 2.0], [1.0]])


def test_extras_names_are_checked() -> None:
    with pytest.raises(UsageError, match=r"extra field 'actions' clashes with a built-in column"):
        Demonstrations(torch.zeros(2, 3), torch.zeros(2, 2), extras={"actions": torch.zeros(2)})
    with pytest.raises(UsageError, match=r"extra field names must be identifiers, got 'a b'"):
        Demonstrations(torch.zeros(2, 3), torch.zeros(2, 2), extras={"a b": torch.zeros(2)})


# ---------------------------------------------------------------- episodes


@pytest.mark.values
def test_episode_starts_become_ids() -> None:
    starts = [True, False, False, True, False, True]
    demos = Demonstrations(torch.zeros(6, 1), torch.zeros(6, 1), episode_starts=starts)
    assert demos.episode_ids is not None
    assert demos.episode_ids.tolist() == [0, 0, 0, 1, 1, 2]
    assert demos.n_episodes == 3


def test_episode_starts_must_start_at_row_zero() -> None:
    with pytest.raises(DataError, match=r"(?s)`episode_starts\[0\]` is False.*hint: set"):
        Demonstrations(torch.zeros(3, 1), torch.zeros(3, 1), episode_starts=[False, True, False])


def test_episode_starts_must_be_booleans_and_one_dimensional() -> None:
    with pytest.raises(DtypeError, match=r"`episode_starts` must hold booleans"):
        Demonstrations(torch.zeros(3, 1), torch.zeros(3, 1), episode_starts=[1, 2, 0])
    with pytest.raises(ShapeError, match=r"`episode_starts`: expected shape \(3,\), got \(3, 1\)"):
        Demonstrations(torch.zeros(3, 1), torch.zeros(3, 1), episode_starts=np.ones((3, 1), bool))


def test_episode_ids_and_starts_are_exclusive_and_ids_are_integers() -> None:
    with pytest.raises(UsageError, match=r"pass `episode_starts` or `episode_ids`, not both"):
        Demonstrations(
            torch.zeros(2, 1), torch.zeros(2, 1), episode_starts=[1, 0], episode_ids=[0, 0]
        )
    with pytest.raises(DtypeError, match=r"`episode_ids` must be integers"):
        Demonstrations(torch.zeros(2, 1), torch.zeros(2, 1), episode_ids=[0.5, 1.0])


episode_lengths = st.lists(st.integers(1, 6), min_size=2, max_size=12)


@given(lengths=episode_lengths, frac=st.floats(0.05, 0.95), seed=st.integers(0, 2**16))
def test_split_by_episode_keeps_episodes_whole(lengths: list[int], frac: float, seed: int) -> None:
    ids = np.repeat(np.arange(len(lengths)), lengths)
    n = len(ids)
    demos = Demonstrations(
        np.arange(n, dtype=np.float32)[:, None], np.zeros((n, 1)), episode_ids=ids
    )
    train, val = demos.split(frac, seed=seed)
    assert train.episode_ids is not None and val.episode_ids is not None
    train_eps, val_eps = set(train.episode_ids.tolist()), set(val.episode_ids.tolist())
    assert not train_eps & val_eps
    assert train_eps | val_eps == set(range(len(lengths)))
    expected_val = min(max(1, round(frac * len(lengths))), len(lengths) - 1)
    assert len(val_eps) == expected_val
    rows = sorted(train.observations[:, 0].tolist() + val.observations[:, 0].tolist())
    assert rows == list(map(float, range(n)))
    again = demos.split(frac, seed=seed)[1]
    assert torch.equal(again.observations, val.observations)


@given(n=st.integers(2, 200), frac=st.floats(0.01, 0.99), seed=st.integers(0, 2**16))
def test_split_by_rows_without_episodes(n: int, frac: float, seed: int) -> None:
    demos = Demonstrations(torch.arange(float(n))[:, None], torch.zeros(n, 1))
    train, val = demos.split(frac, seed=seed)
    assert len(val) == min(max(1, round(frac * n)), n - 1) and len(train) + len(val) == n
    both = torch.cat([train.observations, val.observations])[:, 0].sort().values
    assert torch.equal(both, torch.arange(float(n)))


def test_split_errors() -> None:
    demos = Demonstrations(torch.zeros(10, 1), torch.zeros(10, 1))
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(UsageError, match=r"`val_fraction` must be between 0 and 1"):
            demos.split(bad)
    one = Demonstrations(torch.zeros(10, 1), torch.zeros(10, 1), episode_ids=[0] * 10)
    with pytest.raises(DataError, match=r"(?s)a single episode.*without_episodes"):
        one.split(0.2)
    assert len(one.without_episodes().split(0.2)[1]) == 2
    with pytest.raises(ValueError, match=r"need at least 2 rows"):
        Demonstrations(torch.zeros(1, 1), torch.zeros(1, 1)).split(0.5)


# ---------------------------------------------------------------- batches


@given(n=st.integers(1, 300), batch=st.integers(1, 70), seed=st.integers(0, 1000))
def test_an_epoch_of_batches_visits_every_row_once(n: int, batch: int, seed: int) -> None:
    demos = Demonstrations(torch.arange(float(n))[:, None], torch.arange(float(n))[:, None] * 2)
    g = torch.Generator().manual_seed(seed)
    batches = list(demos.batches(batch, generator=g))
    assert len(batches) == demos.steps_per_epoch(batch) == -(-n // batch)
    assert all(isinstance(b, Batch) for b in batches)
    seen = torch.cat([b.observations for b in batches])[:, 0]
    assert torch.equal(seen.sort().values, torch.arange(float(n)))
    for b in batches:  # rows stay paired
        assert torch.equal(b.actions, b.observations * 2)


@pytest.mark.values
def test_sampling_is_reproducible_for_a_seed() -> None:
    demos = cubic_demonstrations(100, seed=0)
    a = demos.sample(16, generator=torch.Generator().manual_seed(3))
    b = demos.sample(16, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.observations, b.observations) and torch.equal(a.actions, b.actions)
    obs, act = a  # a named tuple
    assert obs.shape == (16, 2) and act.shape == (16, 2)


# ---------------------------------------------------------------- files


finite = st.floats(-1e6, 1e6, allow_nan=False, width=32)


@given(
    n=st.integers(1, 20),
    obs_dim=st.integers(1, 4),
    with_episodes=st.booleans(),
    with_goals=st.booleans(),
    data=st.data(),
)
def test_save_load_round_trip(
    n: int, obs_dim: int, with_episodes: bool, with_goals: bool, data: st.DataObject
) -> None:
    obs = np.array(data.draw(st.lists(finite, min_size=n * obs_dim, max_size=n * obs_dim)))
    obs = obs.reshape(n, obs_dim).astype(np.float32)
    act = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    ids = np.sort(np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))))
    demos = Demonstrations(
        obs,
        act,
        episode_ids=ids if with_episodes else None,
        goals=obs[:, :1] if with_goals else None,
        extras={"rewards": np.ones(n)},
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = demos.save(Path(tmp) / "d")
        assert path.name == "d.npz"
        back = Demonstrations.load(path)
    assert torch.equal(back.observations, demos.observations)
    assert torch.equal(back.actions, demos.actions)
    assert (back.episode_ids is None) == (not with_episodes)
    if with_episodes:
        assert back.episode_ids is not None and demos.episode_ids is not None
        assert torch.equal(back.episode_ids, demos.episode_ids)
    assert (back.goals is None) == (not with_goals)
    assert sorted(back.extras) == ["rewards"]
    assert torch.equal(back.extras["rewards"], demos.extras["rewards"])


@pytest.mark.values
def test_load_accepts_common_column_names(tmp_path: Path) -> None:
    path = tmp_path / "short.npz"
    np.savez(path, obs=np.zeros((4, 3)), acts=np.ones((4, 2)), episode_starts=[1, 0, 1, 0])
    demos = Demonstrations.load(path)
    assert demos.obs_shape == (3,) and demos.n_episodes == 2 and not demos.extras


def test_load_reports_a_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "noact.npz"
    np.savez(path, observations=np.zeros((4, 3)), rewards=np.zeros(4))
    with pytest.raises(DataError, match=r"has no actions array") as info:
        Demonstrations.load(path)
    assert info.value.function == "Demonstrations.load" and info.value.argument == "path"
    assert info.value.got == "observations, rewards"


def test_load_reports_bad_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no such file: '.*missing.npz'"):
        Demonstrations.load(tmp_path / "missing.npz")
    text = tmp_path / "notes.npz"
    text.write_text("not an archive")
    with pytest.raises(DataError, match=r"(?s)is not a readable .npz file.*hint: write one with"):
        Demonstrations.load(text)
    single = tmp_path / "one.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(DataError, match=r"is not a readable .npz file \(a single .npy array\)"):
        Demonstrations.load(single)
    with pytest.raises(DataError, match=r"is a directory, not a .npz file"):
        Demonstrations.load(tmp_path)
    truncated = tmp_path / "truncated.npz"
    np.savez(truncated, observations=np.zeros((50, 3)), actions=np.zeros((50, 2)))
    truncated.write_bytes(truncated.read_bytes()[:200])  # warnings as errors: no leaked handle
    with pytest.raises(DataError, match=r"is not a readable .npz file"):
        Demonstrations.load(truncated)


def test_load_reports_wrong_shapes(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, observations=np.zeros((4, 3)), actions=np.zeros((5, 2)))
    with pytest.raises(ShapeError, match=r"`actions` axis 0 \(N\): expected 4 rows"):
        Demonstrations.load(path)


@pytest.mark.values
def test_selection_and_repr() -> None:
    demos = Demonstrations(
        torch.arange(6.0)[:, None], torch.zeros(6, 1), episode_starts=[1, 0, 1, 0, 1, 0]
    )
    head = demos[:4]
    assert len(head) == 4 and head.n_episodes == 2
    assert repr(demos) == "Demonstrations(N=6, obs=(1,), act=(1,), dtype=torch.float32, episodes=3)"


def test_integer_and_tuple_indices_are_refused() -> None:
    demos = Demonstrations(torch.arange(6.0)[:, None], torch.zeros(6, 1))
    with pytest.raises(
        ShapeError,
        match=r"Demonstrations\[\]: rows are selected by a slice, .*got 3 \(every field must "
        r"keep its N axis\)\n  hint: demos\[3:4\] keeps the row axis",
    ):
        demos[3]  # type: ignore[index]
    with pytest.raises(ShapeError, match=r"got \(slice\(None, None, None\), 0\)"):
        demos[:, 0]  # type: ignore[index]
    with pytest.raises(ShapeError, match=r"got a 0-d Tensor"):
        demos[torch.tensor(2)]
    # 1-d index arrays of any kind keep working, as on tensors
    assert demos[np.array([1, 2])].observations.flatten().tolist() == [1.0, 2.0]  # type: ignore[index]
    assert len(demos[torch.tensor([True, False] * 3)]) == 3


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_batch_sizes_must_be_positive_integers(bad: object) -> None:
    demos = Demonstrations(torch.zeros(6, 2), torch.zeros(6, 1))
    with pytest.raises(UsageError, match=r"Demonstrations.sample\(\): `batch_size` must be a "):
        demos.sample(bad)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"Demonstrations.batches\(\): `batch_size` must be a "):
        list(demos.batches(bad))  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"steps_per_epoch\(\): `batch_size` must be a "):
        demos.steps_per_epoch(bad)  # type: ignore[arg-type]


def test_non_finite_extras_are_refused_like_observations() -> None:
    """Issue 11: a NaN in a float extra (rewards) used to be accepted."""
    rewards = np.array([1.0, np.nan, 3.0])
    with pytest.raises(NonFiniteError, match=r"`rewards` has 1 row\(s\)") as info:
        Demonstrations(torch.zeros(3, 2), torch.zeros(3, 1), extras={"rewards": rewards})
    assert info.value.function == "Demonstrations" and info.value.argument == "rewards"
    assert info.value.got == "nan in row 1"
    # integer extras cannot hold NaN and stay accepted
    ids = Demonstrations(torch.zeros(3, 2), torch.zeros(3, 1), extras={"flags": [0, 1, 2]})
    assert ids.extras["flags"].dtype == torch.int64
    with pytest.raises(NonFiniteError, match=r"`goals` has 1 row\(s\) with non-finite values"):
        Demonstrations(torch.zeros(3, 2), torch.zeros(3, 1), goals=[[0.0], [np.inf], [0.0]])
