"""Episode-aware windows (``shapesafe.bc._windows``): compared with a plain-Python
reference over hypothesis-drawn episode layouts (length-1 episodes, interleaved rows,
ids in any order), plus the refusals."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from shapesafe.bc import (
    Demonstrations,
    DeterministicPolicy,
    action_chunks,
    evaluate,
    fit,
    history_windows,
)
from shapesafe.bc._windows import window_index, with_extras
from shapesafe.errors import DataError, UsageError


@st.composite
def layouts(draw: st.DrawFn) -> list[int]:
    """Episode ids per row: 1-5 episodes of 1-6 steps, ids drawn at random (not sorted,
    not contiguous numbers) and, half the time, rows of different episodes interleaved
    (time order kept within each episode)."""
    lengths = draw(st.lists(st.integers(1, 6), min_size=1, max_size=5))
    names = draw(
        st.lists(st.integers(-50, 50), min_size=len(lengths), max_size=len(lengths), unique=True)
    )
    queue = [name for name, n in zip(names, lengths, strict=True) for _ in range(n)]
    if draw(st.booleans()):
        # interleave: permuting the labels keeps each episode's rows in time order
        queue = draw(st.permutations(queue))
    return list(queue)


def reference(
    ids: list[int], length: int, future: bool
) -> tuple[list[list[int]], list[list[bool]]]:
    """Windows the slow, obvious way: collect each episode's rows in order, index them."""
    episodes: dict[int, list[int]] = {}
    for row, e in enumerate(ids):
        episodes.setdefault(e, []).append(row)
    idx: list[list[int]] = [[] for _ in ids]
    mask: list[list[bool]] = [[] for _ in ids]
    for rows in episodes.values():
        for k, row in enumerate(rows):
            steps = range(k, k + length) if future else range(k - length + 1, k + 1)
            for j in steps:
                idx[row].append(rows[min(max(j, 0), len(rows) - 1)])
                mask[row].append(0 <= j < len(rows))
    return idx, mask


@pytest.mark.values
@given(ids=layouts(), length=st.integers(1, 7), future=st.booleans())
def test_window_index_matches_reference(ids: list[int], length: int, future: bool) -> None:
    idx, mask = window_index(torch.tensor(ids), length, future=future)
    want_idx, want_mask = reference(ids, length, future)
    assert idx.tolist() == want_idx
    assert mask.tolist() == want_mask


@pytest.mark.values
@given(ids=layouts(), length=st.integers(1, 7))
def test_windows_never_cross_episodes_and_lose_nothing(ids: list[int], length: int) -> None:
    t = torch.tensor(ids)
    n = len(ids)
    past, past_mask = window_index(t, length, future=False)
    future, future_mask = window_index(t, length, future=True)
    for idx in (past, future):
        assert bool((t[idx] == t[:, None]).all())  # one episode per window
    rows = torch.arange(n)
    assert past[:, -1].tolist() == rows.tolist()  # every row ends its own past window
    assert future[:, 0].tolist() == rows.tolist()  # and starts its future one
    # each row's valid past steps are distinct earlier rows of its episode, as many as
    # there are (up to the window length): nothing lost, nothing duplicated
    for r in range(n):
        valid = past[r][past_mask[r]].tolist()
        earlier = [q for q in range(r + 1) if ids[q] == ids[r]][-length:]
        assert valid == earlier
        ahead = [q for q in range(r, n) if ids[q] == ids[r]][:length]
        assert future[r][future_mask[r]].tolist() == ahead
    # padding sits only before the valid steps (past) or after them (future)
    assert bool((past_mask.int().diff(dim=1) >= 0).all())
    assert bool((future_mask.int().diff(dim=1) <= 0).all())


@pytest.mark.values
@given(ids=layouts(), history=st.integers(1, 5), obs=st.integers(1, 3), act=st.integers(1, 3))
def test_history_windows_and_action_chunks_gather_rows(
    ids: list[int], history: int, obs: int, act: int
) -> None:
    n = len(ids)
    g = torch.Generator().manual_seed(n)
    demos = Demonstrations(
        torch.randn(n, obs, generator=g), torch.randn(n, act, generator=g), episode_ids=ids
    )
    windows, mask = history_windows(demos, history)
    assert windows.shape == (n, history, obs) and mask.shape == (n, history)
    idx, _ = reference(ids, history, future=False)
    torch.testing.assert_close(windows, demos.observations[torch.tensor(idx)])
    # padding repeats the episode's first observation
    first = {e: demos.observations[ids.index(e)] for e in set(ids)}
    for r in range(n):
        for j in range(history):
            if not mask[r, j]:
                torch.testing.assert_close(windows[r, j], first[ids[r]])
    chunks, cmask = action_chunks(demos, history)
    assert chunks.shape == (n, history, act) and cmask.shape == (n, history)
    idx, want_mask = reference(ids, history, future=True)
    torch.testing.assert_close(chunks, demos.actions[torch.tensor(idx)])
    assert cmask.tolist() == want_mask


@pytest.mark.values
def test_image_observations_keep_their_axes() -> None:
    demos = Demonstrations(
        torch.arange(5 * 2 * 3 * 3.0).reshape(5, 2, 3, 3),
        torch.zeros(5, 1),
        episode_starts=[1, 0, 0, 1, 0],
    )
    windows, mask = history_windows(demos, 2)
    assert windows.shape == (5, 2, 2, 3, 3)
    torch.testing.assert_close(windows[1], demos.observations[0:2])
    torch.testing.assert_close(windows[3], demos.observations[[3, 3]])
    assert mask[3].tolist() == [False, True]


def test_windows_need_episode_ids() -> None:
    demos = Demonstrations(torch.zeros(4, 2), torch.zeros(4, 1))
    with pytest.raises(DataError, match="have no episode ids") as info:
        history_windows(demos, 2)
    err = info.value
    assert (err.function, err.argument, err.got) == (
        "history_windows",
        "demos",
        "episode_ids=None",
    )
    assert err.hint is not None and "episode_ids=" in err.hint
    with pytest.raises(DataError) as info:
        action_chunks(demos, 2)
    assert info.value.function == "action_chunks"


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3", None])
def test_window_lengths_must_be_positive_ints(bad: object) -> None:
    demos = Demonstrations(torch.zeros(4, 2), torch.zeros(4, 1), episode_ids=[0, 0, 1, 1])
    with pytest.raises(UsageError, match="must be a positive integer") as info:
        history_windows(demos, bad)  # type: ignore[arg-type]
    assert (info.value.function, info.value.argument) == ("history_windows", "history")
    with pytest.raises(UsageError) as info:
        action_chunks(demos, bad)  # type: ignore[arg-type]
    assert (info.value.function, info.value.argument) == ("action_chunks", "chunk")


def test_with_extras_refuses_a_name_clash() -> None:
    demos = Demonstrations(
        torch.zeros(3, 2),
        torch.zeros(3, 1),
        episode_ids=[0, 0, 0],
        extras={"obs_history": [1, 2, 3]},
    )
    with pytest.raises(DataError, match="already hold an extra field 'obs_history'") as info:
        with_extras(demos, obs_history=torch.zeros(3, 2, 2))
    assert info.value.argument == "demos"


def test_the_prepare_data_seam_is_identity_for_one_step_policies() -> None:
    # fit and evaluate call prepare_data; a one-step policy's data goes through as is
    demos = Demonstrations(torch.randn(20, 3), torch.randn(20, 2))
    policy = DeterministicPolicy(3, 2, hidden=(8,))
    assert policy.prepare_data(demos) is demos
    fit(policy, demos, steps=2, progress=False)
    assert set(evaluate(policy, demos)) == {"loss", "mean_error"}
