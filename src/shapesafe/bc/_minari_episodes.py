"""The row <-> episode conversion behind :mod:`shapesafe.bc._minari`.

Demonstrations hold one row per step with an episode id; Minari holds one record per
episode with ``T + 1`` observations. :func:`split_episodes` groups rows into episodes
(checking that the data says how each episode ended and what it ended in);
:func:`read_episodes` goes the other way. Neither fills a gap with made-up values: what
Minari needs and the data lacks is a :class:`~shapesafe.DataError` that names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from jaxtyping import Bool, Int
from torch import Tensor

from shapesafe import check
from shapesafe._format import error, fmt_shape, fmt_value, plural
from shapesafe.bc._data import Demonstrations
from shapesafe.errors import DataError, DtypeError, ShapeError, UsageError

__all__ = ["Episodes", "check_space_fits", "read_episodes", "split_episodes"]

#: Extra columns that map onto Minari's own per-step arrays (everything else -> infos).
_FLAGS = ("terminated", "truncated")
_OWN = ("rewards", *_FLAGS, "next_observations")


@dataclass(frozen=True)
class Episodes:
    """Rows grouped by episode (episodes in increasing id order, rows in data order)."""

    observations: Tensor  # (N, obs…)
    actions: Tensor  # (N, act…)
    lengths: np.ndarray[Any, Any]  # (episodes,) int64
    finals: np.ndarray[Any, Any]  # (episodes, obs…) the observation after the last action
    rewards: np.ndarray[Any, Any]  # (N,) float
    terminations: np.ndarray[Any, Any]  # (N,) bool
    truncations: np.ndarray[Any, Any]  # (N,) bool
    infos: dict[str, np.ndarray[Any, Any]]  # name -> (N, …); goals under "goals"


@check
def episode_order(
    episode_ids: Int[Tensor, " N"],
) -> tuple[Int[Tensor, " N"], Int[Tensor, " episodes"], Bool[Tensor, " N"]]:
    """(row order grouping episodes, each episode's length, last-step-of-episode mask in
    that order). A stable sort keeps each episode's rows in their original order, so
    data already laid out episode by episode is left as it is."""
    order = torch.argsort(episode_ids, stable=True)
    _, counts = torch.unique_consecutive(episode_ids[order], return_counts=True)
    last = torch.zeros(len(order), dtype=torch.bool)
    last[torch.cumsum(counts, 0) - 1] = True
    return order, counts, last


def split_episodes(
    demos: Demonstrations, final_observations: Any, episode_ends: str | None, fn: str
) -> Episodes:
    """Group ``demos`` into the episodes Minari stores, or say what is missing."""
    if demos.episode_ids is None:
        raise error(
            DataError,
            "the demonstrations have no episode ids (Minari stores whole episodes)",
            function=fn,
            argument="data",
            hint="build them with Demonstrations(..., episode_ids=...) or "
            "episode_starts=..., or collect them with shapesafe.bc.rollout()",
        )
    order, counts, last = episode_order(demos.episode_ids.cpu())
    n_eps = len(counts)
    extras = {k: v.cpu()[order] for k, v in demos.extras.items()}
    obs = demos.observations.cpu()[order]

    if "rewards" not in extras:
        raise error(
            DataError,
            "the demonstrations have no `rewards` column (Minari stores one per step)",
            function=fn,
            argument="data",
            expected="extras['rewards'] of shape (N,)",
            got=f"extras: {sorted(extras) or 'none'}",
            hint="data without rewards can say so explicitly: "
            "Demonstrations(..., extras={'rewards': np.zeros(N)})",
        )
    rewards = _column(extras["rewards"], "rewards", fn)
    terminations, truncations = _episode_flags(extras, last, episode_ends, fn)
    finals = _finals(obs, extras, last, n_eps, final_observations, demos.obs_shape, fn)

    infos = {k: v.numpy() for k, v in extras.items() if k not in _OWN}
    if demos.goals is not None:
        infos["goals"] = demos.goals.cpu()[order].numpy()
    return Episodes(
        observations=obs,
        actions=demos.actions.cpu()[order],
        lengths=counts.numpy(),
        finals=finals,
        rewards=rewards,
        terminations=terminations,
        truncations=truncations,
        infos=infos,
    )


def _column(t: Tensor, name: str, fn: str) -> np.ndarray[Any, Any]:
    """A per-step scalar column as a (N,) array."""
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 1:
        raise error(
            ShapeError,
            f"the `{name}` column must hold one value per step",
            function=fn,
            argument="data",
            expected=f"extras[{name!r}] of shape (N,)",
            got=f"shape {fmt_shape(t.shape)}",
        )
    return t.numpy()


def _episode_flags(
    extras: dict[str, Tensor], last: Tensor, episode_ends: str | None, fn: str
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(terminations, truncations) as (N,) bools, from the columns or ``episode_ends``."""
    present = [k for k in _FLAGS if k in extras]
    if present and episode_ends is not None:
        raise error(
            UsageError,
            f"the data has its own {' and '.join(repr(k) for k in present)} "
            "column(s); `episode_ends` is for data without them",
            function=fn,
            argument="episode_ends",
            hint="drop episode_ends=...",
        )
    if episode_ends is not None:
        zeros = np.zeros(len(last), dtype=bool)
        flag = last.numpy().copy()
        return (flag, zeros) if episode_ends == "terminated" else (zeros, flag)
    if len(present) < 2:
        missing = [k for k in _FLAGS if k not in extras]
        raise error(
            DataError,
            "Minari records how each episode ended; the demonstrations have no "
            f"{' or '.join(repr(k) for k in missing)} column",
            function=fn,
            argument="data",
            expected="extras 'terminated' and 'truncated' (N,) 0/1 per step",
            got=f"extras: {sorted(extras) or 'none'}",
            hint="pass episode_ends='terminated' (episodes ended in a terminal state) "
            "or 'truncated' (cut off by a time limit)",
        )
    flags = []
    for name in _FLAGS:
        col = _column(extras[name], name, fn)
        if not np.isin(col, (0, 1)).all():
            raise error(
                DtypeError,
                f"the `{name}` column must hold 0/1 (or booleans)",
                function=fn,
                argument="data",
                got=f"values {np.unique(col)[:5].tolist()}",
            )
        flags.append(col.astype(bool))
    ended = flags[0] | flags[1]
    early = np.flatnonzero(ended & ~last.numpy())
    if len(early):
        raise error(
            DataError,
            f"{plural(len(early), 'step')} marked terminated/truncated before the last "
            "step of their episode (an episode ends at its first such step)",
            function=fn,
            argument="data",
            got=f"first at row {int(early[0])} of the data sorted by episode",
            hint="give every episode its own id (episode_starts after each end)",
        )
    return flags[0], flags[1]


def _finals(
    obs: Tensor,
    extras: dict[str, Tensor],
    last: Tensor,
    n_eps: int,
    final_observations: Any,
    obs_shape: tuple[int, ...],
    fn: str,
) -> np.ndarray[Any, Any]:
    """(episodes, obs…) observation after each episode's last action."""
    want = (n_eps, *obs_shape)
    if final_observations is not None:
        if isinstance(final_observations, Tensor):
            final_observations = final_observations.detach().cpu()
        finals = np.asarray(final_observations)
        if finals.shape != want:
            raise error(
                ShapeError,
                "needs one final observation per episode",
                function=fn,
                argument="final_observations",
                expected=f"shape {fmt_shape(want)} (episodes, obs...)",
                got=f"shape {fmt_shape(finals.shape)}",
            )
        if finals.dtype.kind not in "biuf":
            raise error(
                DtypeError,
                "must hold numbers",
                function=fn,
                argument="final_observations",
                got=fmt_value(finals),
            )
        return finals
    nxt = extras.get("next_observations")
    if nxt is None:
        raise error(
            DataError,
            "Minari stores the observation after each episode's last action, and the "
            "demonstrations do not have it",
            function=fn,
            argument="data",
            hint="export the Rollouts that shapesafe.bc.rollout() returns (they keep "
            f"it), pass final_observations=<array {fmt_shape(('episodes', *obs_shape))}>, "
            "or add a next_observations extra column",
        )
    if tuple(nxt.shape) != tuple(obs.shape):
        raise error(
            ShapeError,
            "the `next_observations` column must have the observations' shape",
            function=fn,
            argument="data",
            expected=f"shape {fmt_shape(obs.shape)}",
            got=f"shape {fmt_shape(nxt.shape)}",
        )
    # Minari keeps one observation sequence per episode: row t's next observation must
    # be row t+1's observation, or the export would silently drop one of the two.
    inner = ~last[:-1]
    equal = nxt[:-1].to(obs.dtype) == obs[1:]
    same = equal.flatten(1).all(dim=1) if equal.ndim > 1 else equal
    bad = torch.nonzero(inner & ~same).flatten()
    if len(bad):
        row = int(bad[0])
        raise error(
            DataError,
            "`next_observations` disagrees with the next row's observation inside an "
            f"episode ({plural(len(bad), 'step')}), so one sequence cannot hold both",
            function=fn,
            argument="data",
            got=f"first at row {row} of the data sorted by episode",
            hint="check the episode ids: a new episode must start where the observations jump",
        )
    return nxt[last].numpy()


def check_space_fits(space: Any, values: Tensor, name: str, fn: str) -> None:
    """Refuse a space the data does not fit (or that has no flat tensor form)."""
    import gymnasium as gym

    arg = "observation_space" if name == "observations" else "action_space"
    if isinstance(space, gym.spaces.Discrete):
        if values.is_floating_point() or values.ndim != 1:
            raise error(
                ShapeError,
                f"{space} {name} are one integer per step",
                function=fn,
                argument=arg,
                expected="(N,) integer " + name,
                got=f"{name} {fmt_shape(values.shape)} {str(values.dtype).removeprefix('torch.')}",
            )
        lo, hi = int(space.start), int(space.start) + int(space.n)
        outside = (values < lo) | (values >= hi)
        if bool(outside.any()):
            row = int(torch.nonzero(outside)[0])
            raise error(
                DataError,
                f"{name} outside {space}",
                function=fn,
                argument=arg,
                expected=f"values in [{lo}, {hi})",
                got=f"{int(values[row])} in row {row}",
            )
        return
    if not isinstance(space, gym.spaces.Space) or space.shape is None:
        raise error(
            UsageError,
            "must be a gymnasium space with a fixed shape (Box, Discrete, MultiDiscrete, "
            "MultiBinary)",
            function=fn,
            argument=arg,
            got=fmt_value(space) if not isinstance(space, gym.spaces.Space) else str(space),
        )
    if tuple(space.shape) != tuple(values.shape[1:]):
        raise error(
            ShapeError,
            f"the {name} do not fit the {arg.replace('_', ' ')}",
            function=fn,
            argument=arg,
            expected=f"{name} of shape {fmt_shape(('N', *space.shape))} "
            f"(a {type(space).__name__} of shape {fmt_shape(space.shape)})",
            got=f"{name} of shape {fmt_shape(values.shape)}",
            hint="check that env= (or the space) is the one the data comes from",
        )


# --------------------------------------------------------------------------- import


def _flat_space(space: Any, what: str, fn: str) -> None:
    import gymnasium as gym

    flat = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)
    if not isinstance(space, flat):
        raise error(
            DataError,
            f"the dataset's {what} space {space} has no flat tensor form",
            function=fn,
            argument="dataset",
            expected="Box, Discrete, MultiDiscrete or MultiBinary"
            + (" (or a Dict with an observation entry)" if what == "observation" else ""),
            got=type(space).__name__,
        )


def _dict_keys(
    space: Any, observation_key: str | None, goal_key: str | None, fn: str
) -> tuple[str | None, str | None]:
    """(observation entry, goal entry) of a Dict observation space, or (None, None)."""
    import gymnasium as gym

    if not isinstance(space, gym.spaces.Dict):
        for arg, key in (("observation_key", observation_key), ("goal_key", goal_key)):
            if key is not None:
                raise error(
                    UsageError,
                    f"is for Dict observation spaces; this dataset's is {space}",
                    function=fn,
                    argument=arg,
                    hint=f"drop {arg}=...",
                )
        _flat_space(space, "observation", fn)
        return None, None
    keys = list(space.spaces)
    defaulted = observation_key is None
    if defaulted:
        observation_key = "observation" if "observation" in keys else None
    if goal_key is None and defaulted and "desired_goal" in keys:
        goal_key = "desired_goal"
    for arg, key in (("observation_key", observation_key), ("goal_key", goal_key)):
        if arg == "goal_key" and key is None:
            continue
        if key not in keys:
            raise error(
                DataError,
                "the dataset's observations are a Dict"
                + ("" if key is None else f" without an entry {key!r}"),
                function=fn,
                argument=arg,
                expected=f"one of {keys}",
                got=repr(key),
                hint=f"pass {arg}=<the entry that holds the {arg.removesuffix('_key')}s>",
            )
        assert key is not None
        _flat_space(space.spaces[key], f"{key!r} observation", fn)
    return observation_key, goal_key


def _per_step(values: Any, steps: int, what: str, episode: int, fn: str) -> np.ndarray[Any, Any]:
    """An info field as (steps, …): ``T`` rows as they are, ``T + 1`` rows without the
    reset entry."""
    arr = np.asarray(values)
    if arr.ndim == 0 or arr.dtype.kind not in "biuf" or len(arr) not in (steps, steps + 1):
        raise error(
            DataError,
            f"infos field {what!r} of episode {episode} is not one number (or array) per step",
            function=fn,
            argument="infos",
            expected=f"{steps} or {steps + 1} rows of numbers",
            got=fmt_value(arr),
        )
    return arr[1:] if len(arr) == steps + 1 else arr


def read_episodes(
    ds: Any,
    *,
    observation_key: str | None,
    goal_key: str | None,
    infos: list[str],
    stored_goals: bool,
    next_observations: bool,
    dtype: torch.dtype,
    function: str,
) -> Demonstrations:
    """Every episode of the Minari dataset ``ds`` as rows of one :class:`Demonstrations`."""
    fn = function
    obs_key, goal_key = _dict_keys(ds.observation_space, observation_key, goal_key, fn)
    _flat_space(ds.action_space, "action", fn)
    if "goals" in infos:
        infos = [k for k in infos if k != "goals"]
        stored_goals = True
    columns: dict[str, list[Any]] = {
        k: [] for k in ("obs", "next", "act", "ids", "rewards", "terminated", "truncated", "goals")
    }
    extras: dict[str, list[Any]] = {k: [] for k in infos}
    for ep in ds.iterate_episodes():
        steps = len(ep.rewards)
        raw = ep.observations
        obs = raw[obs_key] if obs_key is not None else raw
        if len(obs) != steps + 1:
            raise error(
                DataError,
                f"episode {ep.id} has {len(obs)} observations for {steps} steps "
                "(Minari stores T + 1)",
                function=fn,
                argument="dataset",
            )
        columns["obs"].append(obs[:-1])
        columns["next"].append(obs[1:])
        columns["act"].append(ep.actions)
        columns["ids"].append(np.full(steps, int(ep.id), dtype=np.int64))
        columns["rewards"].append(ep.rewards)
        columns["terminated"].append(ep.terminations)
        columns["truncated"].append(ep.truncations)
        info = ep.infos or {}
        if goal_key is not None:
            columns["goals"].append(raw[goal_key][:-1])
        elif stored_goals:
            _require_infos(info, ["goals"], int(ep.id), fn)
            columns["goals"].append(_per_step(info["goals"], steps, "goals", ep.id, fn))
        _require_infos(info, infos, int(ep.id), fn)
        for k in infos:
            extras[k].append(_per_step(info[k], steps, k, ep.id, fn))
    if not columns["ids"]:
        raise error(DataError, "the dataset has no episodes", function=fn, argument="dataset")

    actions = np.concatenate(columns["act"])
    if np.issubdtype(actions.dtype, np.integer) or np.issubdtype(actions.dtype, np.bool_):
        actions = actions.astype(np.int64)
    cols: dict[str, Any] = {
        "rewards": np.concatenate(columns["rewards"]).astype(np.float64),
        "terminated": np.concatenate(columns["terminated"]).astype(bool),
        "truncated": np.concatenate(columns["truncated"]).astype(bool),
    }
    if next_observations:
        cols["next_observations"] = np.concatenate(columns["next"])
    for k, parts in extras.items():
        if k in cols:
            raise error(
                UsageError,
                f"infos field {k!r} would replace the {k!r} column",
                function=fn,
                argument="infos",
            )
        cols[k] = np.concatenate(parts)
    return Demonstrations(
        np.concatenate(columns["obs"]),
        actions,
        episode_ids=np.concatenate(columns["ids"]),
        goals=np.concatenate(columns["goals"]) if columns["goals"] else None,
        extras=cols,
        dtype=dtype,
    )


def _require_infos(info: dict[str, Any], names: list[str], episode: int, fn: str) -> None:
    missing = [k for k in names if k not in info]
    if missing:
        raise error(
            DataError,
            f"episode {episode} has no infos field {missing[0]!r}",
            function=fn,
            argument="infos",
            expected=f"fields {names}",
            got=f"fields {sorted(info)}",
        )
