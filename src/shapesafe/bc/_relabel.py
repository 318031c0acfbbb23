"""Hindsight relabelling: a goal the episode did reach replaces the goal it was given.

A demonstration that set out for goal ``g`` and passed through state ``s'`` on the way
is also a demonstration of reaching ``s'``: the steps before ``s'`` are exactly what an
expert sent to ``s'`` could have done. Relabelling each step with a goal achieved later
in its own episode (Andrychowicz et al. 2017, "Hindsight Experience Replay"; for
imitation, Ding et al. 2019 and Ghosh et al. 2021) turns a data set whose commanded
goals cover a small region into one whose goals cover every state the demonstrations
visit. The new goal always comes from the *same* episode, at the *same or a later*
step: a state of another episode says nothing about where these actions lead, and an
earlier state says where they came from, not where they go.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from jaxtyping import Int
from torch import Tensor

from shapesafe import check
from shapesafe._format import add_context, error, fmt_shape, fmt_value
from shapesafe.bc._data import Demonstrations
from shapesafe.bc._validate import whole_number
from shapesafe.errors import DataError, NonFiniteError, ShapeError, UsageError

__all__ = ["STRATEGIES", "relabel_goals"]

#: How a new goal is drawn for the step at row ``t`` of an episode ending at row ``T``:
#: ``"future"``: the achieved goal of a row drawn uniformly from ``t..T``;
#: ``"final"``: the achieved goal of row ``T`` (where the episode ended up);
#: ``"episode"``: of a row drawn uniformly from the whole episode (HER's "episode"
#: strategy; it may look backwards, so its labels are noisier).
STRATEGIES = ("future", "final", "episode")


@check
def _episode_bounds(
    ids: Int[Tensor, " n"],
) -> tuple[Int[Tensor, " n"], Int[Tensor, " n"], Int[Tensor, " n"]]:
    """For rows grouped by episode (a stable sort of ``ids``): the order that groups
    them, and each grouped position's first and last grouped position in its episode.
    The sort is stable, so within an episode the rows keep their order: the time order."""
    order = torch.sort(ids, stable=True).indices
    grouped = ids[order]
    n = grouped.shape[0]
    pos = torch.arange(n, device=ids.device)
    new = torch.ones(n, dtype=torch.bool, device=ids.device)
    new[1:] = grouped[1:] != grouped[:-1]
    # start of each position's episode: the last "new" position at or before it
    start = torch.cummax(torch.where(new, pos, 0), 0).values
    last = torch.ones(n, dtype=torch.bool, device=ids.device)
    last[:-1] = new[1:]
    # end of each position's episode: the first "last" position at or after it
    end = torch.flip(torch.cummin(torch.flip(torch.where(last, pos, n), [0]), 0).values, [0])
    return order, start, end


@check
def _draw(
    start: Int[Tensor, " n"],
    end: Int[Tensor, " n"],
    strategy: str,
    copies: int,
    generator: torch.Generator,
) -> Int[Tensor, "copies n"]:
    """Grouped positions of the new goals: ``copies`` independent draws per row."""
    n = start.shape[0]
    pos = torch.arange(n, device=start.device)
    if strategy == "final":
        return end.expand(copies, n).clone()
    low = pos if strategy == "future" else start
    width = (end - low + 1).to(torch.float64)
    u = torch.rand(copies, n, generator=generator, dtype=torch.float64).to(start.device)
    # floor(u * width) lies in 0..width-1 (u < 1); the min guards float rounding
    offset = torch.minimum((u * width).floor().to(torch.int64), (end - low).expand(copies, n))
    return low + offset


def _achieved(demos: Demonstrations, achieved: Any) -> Tensor:
    """The achieved goal of every row, (N, goal…), from an extras key, a callable on
    the observations, or an array."""
    n = len(demos)
    if isinstance(achieved, str):
        if achieved not in demos.extras:
            found = ", ".join(sorted(demos.extras)) or "none"
            raise error(
                DataError,
                f"the demonstrations have no extra field {achieved!r} (extras: {found})",
                argument="achieved",
                expected=f"extras[{achieved!r}]: the goal achieved at each row",
                got=f"extras: {found}",
                hint="collect the data with goal_rollout(), or pass achieved=a callable "
                "observations -> achieved goals, e.g. lambda obs: obs[:, :2]",
            )
        values = demos.extras[achieved]
    elif callable(achieved):
        values = achieved(demos.observations)
    else:
        values = achieved
    if not isinstance(values, Tensor):
        try:
            values = torch.as_tensor(values)
        except (TypeError, ValueError, RuntimeError):
            raise error(
                UsageError,
                "must be an extras field name, a callable observations -> achieved goals, "
                f"or an (N, goal...) array; got {fmt_value(achieved)}",
                argument="achieved",
            ) from None
    if values.ndim == 0 or values.shape[0] != n or not values.is_floating_point():
        raise error(
            ShapeError,
            f"the achieved goals must be a float array with one row per step, (N={n}, "
            f"goal...), got {fmt_shape(values.shape)} {values.dtype}",
            argument="achieved",
            axis=0,
            expected=f"({n}, goal...) floats",
            got=f"{fmt_shape(values.shape)} {values.dtype}",
        )
    finite = torch.isfinite(values).reshape(n, -1).all(dim=1)
    if not bool(finite.all()):
        # they become goals without passing through Demonstrations' own checks
        row = int((~finite).nonzero()[0])
        raise error(
            NonFiniteError,
            f"the achieved goals hold non-finite values in {int((~finite).sum())} row(s) "
            f"(first: row {row})",
            argument="achieved",
            expected="finite achieved goals",
            got=f"non-finite values in row {row}",
        )
    return values.to(device=demos.observations.device, dtype=demos.observations.dtype)


def relabel_goals(
    demos: Demonstrations,
    *,
    strategy: str = "future",
    k: int = 1,
    keep_original: bool = True,
    achieved: str | Callable[[Tensor], Any] | Any = "achieved_goals",
    seed: int = 0,
) -> Demonstrations:
    """Hindsight relabelling: copies of the demonstrations whose goals are states the
    same episode reached at the same step or later.

    For every row ``t`` of episode ``e``, ``k`` new rows are made with the same
    observation, action, episode id and extras, and the goal ``achieved[t']`` for a
    row ``t'`` of episode ``e`` drawn by ``strategy`` (see :data:`STRATEGIES`): with
    ``"future"`` (the default) uniformly from ``t`` to the episode's last row. Rows of
    an episode are in time order as they appear in ``demos`` (its rows need not be
    contiguous); no goal ever comes from another episode.

    Args:
        demos: demonstrations with ``episode_ids``.
        strategy: ``"future"``, ``"final"`` or ``"episode"``.
        k: relabelled copies of every row.
        keep_original: keep the rows with their original goals too (first, in their
            order); they need ``demos.goals``.
        achieved: where the achieved goals are: the name of an extras field (default
            ``"achieved_goals"``, which :func:`~shapesafe.bc.goal_rollout` records: the
            goal achieved *after* each step), a callable ``observations -> (N, goal…)``
            (e.g. ``lambda obs: obs[:, :2]`` for a position inside the observation), or
            an ``(N, goal…)`` array.
        seed: seeds the draws (the same seed gives the same goals).

    Returns:
        :class:`Demonstrations` of ``(k + keep_original) * len(demos)`` rows: the
        originals (when kept), then copy 1 of every row, copy 2, ... Relabelled rows
        keep their episode's id, so ``split`` keeps them with their episode. Extras are
        copied as they are; a reward column no longer matches a new goal.

    Raises:
        DataError: ``demos`` has no episode ids, or no ``achieved`` field, or no goals to
            keep.
        ShapeError: the achieved goals are not one float row per step, or (when the
            originals are kept) do not have the shape of ``demos.goals``.
        NonFiniteError: an achieved goal holds NaN or infinity.
        UsageError: an unknown strategy, or ``k`` not a positive integer.

    Examples:
        >>> from shapesafe.bc import relabel_goals
        >>> from shapesafe.bc.tasks import goal_reach_demonstrations
        >>> demos = goal_reach_demonstrations(20, seed=0)
        >>> relabelled = relabel_goals(demos, k=2, seed=0)
        >>> len(relabelled) == 3 * len(demos)
        True
    """
    with add_context("relabel_goals"):
        return _relabel(demos, strategy, k, keep_original, achieved, seed)


def _relabel(
    demos: Demonstrations, strategy: str, k: int, keep_original: bool, achieved: Any, seed: int
) -> Demonstrations:
    if not isinstance(demos, Demonstrations):
        raise error(
            UsageError,
            f"`demos` must be Demonstrations, got {fmt_value(demos)}",
            argument="demos",
        )
    if strategy not in STRATEGIES:
        raise error(
            UsageError,
            f"unknown strategy {strategy!r}; choose one of {', '.join(map(repr, STRATEGIES))}",
            argument="strategy",
            expected=", ".join(STRATEGIES),
            got=fmt_value(strategy),
        )
    copies = whole_number(k, "k", low=1)
    whole_number(seed, "seed", low=0, high=2**63 - 1)
    if demos.episode_ids is None:
        raise error(
            DataError,
            "relabelling draws goals from the same episode, but the demonstrations have no "
            "episode ids",
            argument="demos",
            expected="Demonstrations with episode_ids",
            got="episode_ids=None",
            hint="Demonstrations(..., episode_ids=...) or episode_starts=...",
        )
    if keep_original and demos.goals is None:
        raise error(
            DataError,
            "keep_original=True keeps the original goals, but the demonstrations have none",
            argument="keep_original",
            expected="demos.goals",
            got="goals=None",
            hint="pass keep_original=False to keep only relabelled rows",
        )
    values = _achieved(demos, achieved)
    # the kept goals and the new ones share one column: they must agree (without the
    # originals, the new goals replace the old ones, whatever their shape)
    if keep_original and demos.goals is not None and values.shape[1:] != demos.goals.shape[1:]:
        raise error(
            ShapeError,
            f"achieved goals {fmt_shape(values.shape[1:])} do not have the shape of the "
            f"demonstrations' goals {fmt_shape(demos.goals.shape[1:])}",
            argument="achieved",
            expected=fmt_shape(("N", *demos.goals.shape[1:])),
            got=fmt_shape(values.shape),
        )
    order, start, end = _episode_bounds(demos.episode_ids)
    g = torch.Generator().manual_seed(int(seed))
    picked = _draw(start, end, strategy, copies, g)  # (copies, n), grouped positions
    # grouped position p is row order[p], so row i sits at position inverse[i]: copy c
    # of row i takes its goal from row order[picked[c, inverse[i]]]
    inverse = torch.argsort(order)
    goal_rows = order[picked[:, inverse]].reshape(-1)
    rows = torch.arange(len(demos), device=order.device).repeat(copies)
    new = demos[rows]
    goals = values[goal_rows]
    if not keep_original:
        return Demonstrations._from_validated(
            new.observations, new.actions, new.episode_ids, goals, new.extras
        )
    assert demos.goals is not None
    return Demonstrations._from_validated(
        torch.cat([demos.observations, new.observations]),
        torch.cat([demos.actions, new.actions]),
        torch.cat([demos.episode_ids, new.episode_ids]) if new.episode_ids is not None else None,
        torch.cat([demos.goals, goals]),
        {k: torch.cat([v, new.extras[k]]) for k, v in demos.extras.items()},
    )
