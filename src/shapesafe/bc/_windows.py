"""Episode-aware windows over demonstrations: the past ``history`` observations of each
step, and the next ``chunk`` actions.

Policies that act on history (a frame stack, a GRU) or predict several actions at once
(action chunking) train on windows that flat ``(N, …)`` rows do not hold. Both kinds are
built here, once, before training, from the rows and their ``episode_ids``:

* a *past* window of row ``t`` holds rows ``t - L + 1 … t`` of the same episode. Steps
  before the episode's first are padded by repeating its first row -- exactly what a
  policy sees at execution, where the history is filled with the first observation after
  ``reset()`` -- and marked ``False`` in the mask;
* a *future* window of row ``t`` holds rows ``t … t + L - 1``; steps past the episode's
  last row repeat the last row and are marked ``False`` (a loss masks them out).

A window never holds rows of two episodes. The order of time within an episode is the
order of its rows in the data; the rows of one episode need not be contiguous (rows of
interleaved episodes, as a vectorised collector writes them, are fine), every row with
the same id is the same episode.

Everything is index arithmetic on whole tensors (one stable sort, a cumulative max and a
gather), so windowing a million rows costs a few tensor ops, not a Python loop.
"""

from __future__ import annotations

import torch
from jaxtyping import Bool, Int
from torch import Tensor

from shapesafe import check
from shapesafe._format import add_context, error
from shapesafe.bc._data import Demonstrations
from shapesafe.bc._validate import whole_number
from shapesafe.errors import DataError

__all__ = [
    "action_chunks",
    "future_windows",
    "history_windows",
    "past_windows",
    "window_index",
    "with_extras",
]

_HINT = (
    "build the demonstrations with episode_ids= (or episode_starts=), one id per row, "
    "rows of each episode in time order"
)


def _episode_ids(demos: Demonstrations) -> Tensor:
    if demos.episode_ids is None:
        raise error(
            DataError,
            "windows over time need to know where episodes start, but the demonstrations "
            "have no episode ids",
            argument="demos",
            expected="Demonstrations with episode_ids",
            got="episode_ids=None",
            hint=_HINT,
        )
    return demos.episode_ids


@check
def window_index(
    episode_ids: Int[Tensor, " N"], length: int, *, future: bool
) -> tuple[Int[Tensor, "N window"], Bool[Tensor, "N window"]]:
    """Row indices ``(N, length)`` of each row's window and its validity mask.

    ``future=False``: the past window ``t - length + 1 … t`` (oldest first), padded at
    the episode start with the episode's first row. ``future=True``: ``t … t + length -
    1``, padded at the episode end with its last row. ``mask`` is ``False`` on padding.

    Examples:
        >>> import torch
        >>> idx, mask = window_index(torch.tensor([0, 0, 0, 1, 1]), 3, future=False)
        >>> idx.tolist()
        [[0, 0, 0], [0, 0, 1], [0, 1, 2], [3, 3, 3], [3, 3, 4]]
        >>> mask.tolist()[1]
        [False, True, True]
    """
    length = whole_number(length, "length", "window_index")
    n = int(episode_ids.shape[0])
    device = episode_ids.device
    # Sort rows by episode, keeping time order within one: in sorted position p, an
    # episode occupies the contiguous range [first[p], last[p]].
    order = torch.argsort(episode_ids, stable=True)
    sorted_ids = episode_ids[order]
    pos = torch.arange(n, device=device)
    new = torch.ones(n, dtype=torch.bool, device=device)
    new[1:] = sorted_ids[1:] != sorted_ids[:-1]
    first = torch.cummax(torch.where(new, pos, 0), 0).values
    end = torch.ones(n, dtype=torch.bool, device=device)
    end[:-1] = new[1:]
    # the last row of each episode: a cumulative min from the right, done as a cummax
    # over the reversed, negated positions
    last = -torch.cummax(torch.where(end, -pos, -n).flip(0), 0).values.flip(0)
    steps = torch.arange(length, device=device)
    offsets = steps if future else steps - (length - 1)
    want = pos[:, None] + offsets[None, :]
    lo, hi = first[:, None], last[:, None]
    mask = (want >= lo) & (want <= hi)
    sorted_idx = torch.minimum(torch.maximum(want, lo), hi)
    # back from sorted positions to rows: row order[p] owns window p
    idx = torch.empty_like(sorted_idx)
    idx[order] = order[sorted_idx]
    out_mask = torch.empty_like(mask)
    out_mask[order] = mask
    return idx, out_mask


def history_windows(demos: Demonstrations, history: int) -> tuple[Tensor, Tensor]:
    """The past ``history`` observations of every row: ``(N, history, *obs)`` (oldest
    first, the row's own observation last) and a ``(N, history)`` mask that is ``False``
    where a step lies before the episode start (padded with the episode's first
    observation).

    Raises:
        DataError: the demonstrations have no episode ids.

    Examples:
        >>> import torch
        >>> from shapesafe.bc import Demonstrations, history_windows
        >>> demos = Demonstrations(torch.arange(4.0)[:, None], torch.zeros(4, 1),
        ...                        episode_ids=[0, 0, 1, 1])
        >>> obs, mask = history_windows(demos, 3)
        >>> obs[..., 0].tolist()
        [[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [2.0, 2.0, 2.0], [2.0, 2.0, 3.0]]
    """
    with add_context("history_windows"):
        return past_windows(demos, whole_number(history, "history"))


def action_chunks(demos: Demonstrations, chunk: int) -> tuple[Tensor, Tensor]:
    """The next ``chunk`` actions of every row: ``(N, chunk, *act)`` (the row's own
    action first) and a ``(N, chunk)`` mask that is ``False`` past the episode end
    (padded with the episode's last action).

    Raises:
        DataError: the demonstrations have no episode ids.

    Examples:
        >>> import torch
        >>> from shapesafe.bc import Demonstrations, action_chunks
        >>> demos = Demonstrations(torch.zeros(3, 1), torch.arange(3.0)[:, None],
        ...                        episode_ids=[0, 0, 0])
        >>> act, mask = action_chunks(demos, 2)
        >>> act[..., 0].tolist(), mask.tolist()
        ([[0.0, 1.0], [1.0, 2.0], [2.0, 2.0]], [[True, True], [True, True], [True, False]])
    """
    with add_context("action_chunks"):
        return future_windows(demos, whole_number(chunk, "chunk"), demos.actions)


def past_windows(
    demos: Demonstrations, length: int, values: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """:func:`history_windows` of ``values`` (default: the observations), raising
    without naming a function (the caller's :func:`add_context` names it)."""
    idx, mask = window_index(_episode_ids(demos), length, future=False)
    return (demos.observations if values is None else values)[idx], mask


def future_windows(
    demos: Demonstrations, length: int, values: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """:func:`action_chunks` of ``values`` (default: the actions), raising without
    naming a function."""
    idx, mask = window_index(_episode_ids(demos), length, future=True)
    return (demos.actions if values is None else values)[idx], mask


def with_extras(demos: Demonstrations, **fields: Tensor) -> Demonstrations:
    """``demos`` with ``fields`` added to its extras (no copy of the other fields); a
    :class:`DataError` when the data already has an extra of that name."""
    clash = sorted(set(fields) & set(demos.extras))
    if clash:
        raise error(
            DataError,
            f"the demonstrations already hold an extra field {clash[0]!r}, which this "
            "policy adds for its windows",
            argument="demos",
            hint=f"rename the extra field {clash[0]!r}",
        )
    return Demonstrations._from_validated(
        demos.observations,
        demos.actions,
        demos.episode_ids,
        demos.goals,
        {**demos.extras, **fields},
    )
