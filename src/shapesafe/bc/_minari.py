"""Minari datasets in and out: :func:`to_minari` writes demonstrations as a local Minari
dataset, :func:`from_minari` reads one back as :class:`Demonstrations`.

Minari stores one group per episode: ``T + 1`` observations (the last one is what the
env returned after the final action), ``T`` actions, rewards, terminations and
truncations, and per-episode metadata (the reset seed). shapesafe's demonstrations hold
one row per step, so the two differ in exactly one place -- the final observation of
each episode -- and the export refuses to guess it: it comes from
``Rollouts.final_observations``, an explicit ``final_observations=`` argument, or a
``next_observations`` extra column (D4RL style), never from a copy of the last
observation.

Minari is an optional dependency (the ``minari`` extra) and is imported only when one of
these functions runs, so ``import shapesafe.bc`` works without it. Datasets are written
with minari's own writer (``create_dataset_from_buffers``) in the HDF5 format, without
JPEG encoding (lossless), under ``$MINARI_DATASETS_PATH`` (default ``~/.minari/datasets``).
Nothing is downloaded: reading a dataset id that is not on disk is an error, not a
download.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from shapesafe._format import error, fmt_value
from shapesafe.bc._data import Demonstrations
from shapesafe.bc._minari_episodes import Episodes, check_space_fits, read_episodes, split_episodes
from shapesafe.errors import DataError, UsageError

__all__ = ["from_minari", "to_minari"]

_INSTALL = "pip install 'shapesafe[minari]'"

#: Keys of the dataset metadata where :func:`to_minari` records what it put into the
#: episodes' ``infos`` (so :func:`from_minari` brings those columns back by default).
_META_EXTRAS = "shapesafe_extras"
_META_GOALS = "shapesafe_goals"

# Minari warns about every metadata field left empty and about a missing eval env. The
# fields are optional here (documented in to_minari), and under pytest's
# "warnings are errors" a user's test of an export would fail on advice, so only these
# exact warnings are silenced, and only around the call that emits them.
_MINARI_ADVICE = (
    r"`(code_permalink|author|author_email|algorithm_name|description|eval_env)` is set to None",
    r"env_spec is None, no environment spec is provided",
)


def require_minari(function: str) -> Any:
    """The ``minari`` module, or a :class:`UsageError` naming the extra to install."""
    try:
        import minari  # type: ignore[import-untyped]
    except ImportError:
        raise error(
            UsageError,
            "needs the optional dependency `minari`, which is not installed",
            function=function,
            hint=f"install it with {_INSTALL}",
        ) from None
    return minari


def _check_dataset_id(dataset_id: Any, function: str) -> str:
    """A well-formed Minari id ``(namespace/)name-v<version>``, or a UsageError."""
    from minari.dataset.minari_dataset import parse_dataset_id  # type: ignore[import-untyped]

    if not isinstance(dataset_id, str):
        raise error(
            UsageError,
            "must be a Minari dataset id (a str)",
            function=function,
            argument="dataset_id",
            expected="'(namespace/)name-v<version>'",
            got=fmt_value(dataset_id),
        )
    try:
        _, _, version = parse_dataset_id(dataset_id)
    except (ValueError, TypeError):  # TypeError: minari's int(None) on a missing -v<N>
        version = None
    if version is None:
        stem = dataset_id.rstrip("/") or "name"
        versioned = re.search(r"-v\d+$", dataset_id) is not None
        raise error(
            UsageError,
            f"{dataset_id!r} is not a Minari dataset id",
            function=function,
            argument="dataset_id",
            expected="'(namespace/)name-v<version>' (letters, digits, '-', '_')",
            got=repr(dataset_id),
            hint="use letters, digits, '-' and '_' (a namespace needs 2 or more characters)"
            if versioned
            else f"add a version: {stem + '-v0'!r}",
        )
    return dataset_id


# --------------------------------------------------------------------------- export


def to_minari(
    data: Any,
    dataset_id: str,
    *,
    env: Any = None,
    observation_space: Any = None,
    action_space: Any = None,
    final_observations: Any = None,
    episode_ends: str | None = None,
    overwrite: bool = False,
    algorithm_name: str | None = None,
    author: str | None = None,
    author_email: str | None = None,
    code_permalink: str | None = None,
    description: str | None = None,
) -> Any:
    """Write demonstrations (or :class:`Rollouts`) as a local Minari dataset.

    Each episode (rows sharing an episode id, in the order of the ids) becomes one
    Minari episode: its observations plus the final one, its actions, and the
    ``rewards``, ``terminated`` and ``truncated`` extra columns as Minari's rewards,
    terminations and truncations. ``Rollouts.seeds`` become the episodes' seeds. Goals
    and every other extra column go to the episodes' ``infos`` (one row per step), and
    :func:`from_minari` brings them back.

    Args:
        data: :class:`Demonstrations` with episode ids, or the :class:`Rollouts` that
            :func:`rollout` returns.
        dataset_id: ``"(namespace/)name-v<version>"``, e.g. ``"shapesafe/cartpole/expert-v0"``.
        env: the gymnasium env (an instance, an id or an ``EnvSpec``) the data comes
            from: its spec is stored (``dataset.recover_environment()``) and its spaces
            are checked against the data. Without it, pass the spaces or let them be
            inferred: an unbounded ``Box`` for float observations/actions; discrete
            actions need ``action_space`` (the number of actions cannot be read off data).
        observation_space: overrides the env's (or the inferred) observation space.
        action_space: overrides the env's (or the inferred) action space.
        final_observations: (episodes, obs…) the observation after each episode's last
            action, in episode-id order. Defaults to ``Rollouts.final_observations``,
            then to the last row of a ``next_observations`` extra column.
        episode_ends: ``"terminated"`` or ``"truncated"``: how every episode ended, for
            data without ``terminated``/``truncated`` columns (the last step of each
            episode gets the flag, every other step neither).
        overwrite: replace an existing dataset with the same id (refused otherwise).
        algorithm_name: what produced the actions (Minari metadata, stored when given;
            Minari recommends it and the four below for a dataset others will use).
        author: the dataset's author(s).
        author_email: their contact address(es).
        code_permalink: a link to the versioned code that made the data.
        description: defaults to a line naming the episodes, steps and the shapesafe
            version.

    Returns:
        The ``minari.MinariDataset`` written.

    Raises:
        UsageError: minari is not installed, a malformed ``dataset_id``, or a dataset
            with that id exists and ``overwrite`` is False.
        DataError: no episode ids, no rewards, no final observations or episode ends,
            or ``next_observations`` that disagree with the observations.
        ShapeError: the data does not fit the env's spaces.
    """
    fn = "to_minari"
    minari = require_minari(fn)
    dataset_id = _check_dataset_id(dataset_id, fn)
    demos, seeds, rollout_finals = _unpack(data, fn)
    if final_observations is None:
        final_observations = rollout_finals
    if episode_ends not in (None, "terminated", "truncated"):
        raise error(
            UsageError,
            "must be 'terminated', 'truncated' or None",
            function=fn,
            argument="episode_ends",
            got=fmt_value(episode_ends),
        )
    episodes = split_episodes(demos, final_observations, episode_ends, fn)
    if seeds is not None and len(seeds) != len(episodes.lengths):
        seeds = None  # a Rollouts edited by hand: seeds no longer name its episodes

    source = _resolve_env(env, fn)
    try:
        obs_space = observation_space if observation_space is not None else source.obs_space
        act_space = action_space if action_space is not None else source.act_space
        if obs_space is None:
            obs_space = _inferred_space(demos.observations, "observations", fn)
        if act_space is None:
            act_space = _inferred_space(demos.actions, "actions", fn)
        check_space_fits(obs_space, demos.observations, "observations", fn)
        check_space_fits(act_space, demos.actions, "actions", fn)
        buffers = _buffers(minari, episodes, obs_space, act_space, seeds)
        path = minari.storage.datasets_root_dir.get_dataset_path(dataset_id)
        if path.exists():
            if not overwrite:
                raise error(
                    UsageError,
                    f"a Minari dataset {dataset_id!r} exists already (at {str(path)!r})",
                    function=fn,
                    argument="dataset_id",
                    hint="pass overwrite=True to replace it, or bump the version (name-v1, ...)",
                )
            # everything above is validated, so the old dataset goes only when the new
            # one can be written
            shutil.rmtree(path)
        if description is None:
            from shapesafe import __version__

            description = (
                f"{len(episodes.lengths)} episodes, {len(demos)} steps, "
                f"exported by shapesafe {__version__}"
            )
        try:
            with warnings.catch_warnings():
                for advice in _MINARI_ADVICE:
                    warnings.filterwarnings("ignore", message=advice, category=UserWarning)
                dataset = minari.create_dataset_from_buffers(
                    dataset_id,
                    buffers,
                    env=source.for_minari,
                    observation_space=obs_space,
                    action_space=act_space,
                    algorithm_name=algorithm_name,
                    author=author,
                    author_email=author_email,
                    code_permalink=code_permalink,
                    description=description,
                    data_format="hdf5",
                    jpeg_encoding=False,
                )
            dataset.storage.update_metadata(
                {
                    _META_EXTRAS: sorted(k for k in episodes.infos if k != "goals"),
                    _META_GOALS: "goals" in episodes.infos,
                }
            )
        except BaseException:
            # no half-written dataset left behind under that id
            shutil.rmtree(path, ignore_errors=True)
            raise
    finally:
        source.close()
    return dataset


def _unpack(data: Any, fn: str) -> tuple[Demonstrations, np.ndarray[Any, Any] | None, Any]:
    """(demos, per-episode seeds or None, final observations or None) of the input."""
    if isinstance(data, Demonstrations):
        return data, None, None
    demos = getattr(data, "demos", None)
    if isinstance(demos, Demonstrations):  # Rollouts (duck-typed: no import cycle)
        seeds = getattr(data, "seeds", None)
        return demos, None if seeds is None else np.asarray(seeds), _finals_of(data)
    raise error(
        UsageError,
        "must be Demonstrations or the Rollouts that rollout() returns",
        function=fn,
        argument="data",
        got=fmt_value(data),
    )


def _finals_of(rollouts: Any) -> Any:
    return getattr(rollouts, "final_observations", None)


@dataclass(frozen=True)
class _EnvSource:
    """What ``env=`` tells the export: its spaces, what to hand minari (an env with a
    spec, or the spec of a vector env's sub-envs), and how to close an env made here."""

    obs_space: Any = None
    act_space: Any = None
    for_minari: Any = None
    close: Callable[[], None] = lambda: None


def _resolve_env(env: Any, fn: str) -> _EnvSource:
    if env is None:
        return _EnvSource()
    import gymnasium as gym
    from gymnasium.envs.registration import EnvSpec

    if isinstance(env, gym.Env):
        spec = getattr(env, "spec", None)
        return _EnvSource(env.observation_space, env.action_space, env if spec else None)
    if isinstance(env, gym.vector.VectorEnv):  # what a vectorised rollout ran in
        spec = _sub_env_spec(getattr(env, "spec", None))
        return _EnvSource(env.single_observation_space, env.single_action_space, spec)
    if isinstance(env, (str, EnvSpec)):
        try:
            made = gym.make(env)
        except gym.error.Error as exc:
            raise error(
                UsageError,
                f"cannot make the gymnasium env {env if isinstance(env, str) else env.id!r}",
                function=fn,
                argument="env",
                got=f"{type(exc).__name__}: {exc}",
                hint="import the package that registers it first, or pass the env itself",
            ) from None
        # made here, so closed here; the caller's own env stays open
        return _EnvSource(made.observation_space, made.action_space, made, made.close)
    raise error(
        UsageError,
        "must be a gymnasium env (or vector env), an env id or an EnvSpec",
        function=fn,
        argument="env",
        got=fmt_value(env),
    )


def _sub_env_spec(spec: Any) -> Any:
    """The spec that makes one sub-env of a ``gymnasium.make_vec`` vector env: make_vec
    records its own arguments in the spec's kwargs, which ``gymnasium.make`` would pass
    to the env's constructor. ``None`` when custom wrappers make the sub-env something a
    spec cannot rebuild."""
    if spec is None:
        return None
    kwargs = dict(spec.kwargs)
    for key in ("num_envs", "vectorization_mode", "vector_kwargs"):
        kwargs.pop(key, None)
    if kwargs.pop("wrappers", None):
        return None
    max_steps = kwargs.pop("max_episode_steps", spec.max_episode_steps)
    return dataclasses.replace(spec, kwargs=kwargs, max_episode_steps=max_steps)


def _inferred_space(values: Tensor, name: str, fn: str) -> Any:
    """An unbounded float Box for float data; integer data has no honest default."""
    import gymnasium as gym

    if values.is_floating_point():
        shape = tuple(values.shape[1:])
        return gym.spaces.Box(-np.inf, np.inf, shape, dtype=np.float32)
    arg = "action_space" if name == "actions" else "observation_space"
    raise error(
        UsageError,
        f"cannot infer a space for integer {name} (how many values each can take is "
        "not in the data)",
        function=fn,
        argument=arg,
        hint=f"pass env=... or {arg}=gymnasium.spaces.Discrete(n)",
    )


def _as_space_array(values: Tensor, space: Any) -> np.ndarray[Any, Any]:
    """``values`` as numpy in the space's dtype when the cast loses nothing (float32 ->
    a float64 space, int64 -> a uint8 image space), else as they are: the data is never
    rounded to fit."""
    arr = values.detach().cpu().numpy()
    dtype = getattr(space, "dtype", None)
    if dtype is None or arr.dtype == dtype or np.dtype(dtype).kind not in "biuf":
        return arr
    with np.errstate(all="ignore"):
        cast = arr.astype(dtype)
    return cast if np.array_equal(cast, arr) else arr


def _buffers(
    minari: Any,
    episodes: Episodes,
    obs_space: Any,
    act_space: Any,
    seeds: np.ndarray[Any, Any] | None,
) -> list[Any]:
    """One ``minari.data_collector.EpisodeBuffer`` per episode."""
    buffer_cls = minari.data_collector.EpisodeBuffer
    obs = _as_space_array(episodes.observations, obs_space)
    act = _as_space_array(episodes.actions, act_space)
    if getattr(act_space, "n", None) is not None:  # Discrete: (T,) integers
        act = act.reshape(len(act))
    bounds = np.concatenate([[0], np.cumsum(episodes.lengths)])
    buffers = []
    for i, (start, stop) in enumerate(itertools.pairwise(bounds)):
        # T+1 observations: the episode's own, then the one after its last action
        final = episodes.finals[i : i + 1].astype(obs.dtype, copy=False)
        ep_obs = np.concatenate([obs[start:stop], final])
        buffers.append(
            buffer_cls(
                seed=None if seeds is None else int(seeds[i]),
                observations=ep_obs,
                actions=act[start:stop],
                rewards=episodes.rewards[start:stop],
                terminations=episodes.terminations[start:stop],
                truncations=episodes.truncations[start:stop],
                # always a dict: minari's EpisodeData cannot print an episode without one
                infos={k: v[start:stop] for k, v in episodes.infos.items()},
            )
        )
    return buffers


# --------------------------------------------------------------------------- import


def from_minari(
    dataset: Any,
    *,
    observation_key: str | None = None,
    goal_key: str | None = None,
    infos: Sequence[str] | None = None,
    next_observations: bool = False,
    dtype: torch.dtype = torch.float32,
) -> Demonstrations:
    """Read a Minari dataset as :class:`Demonstrations`.

    Every episode's ``T`` steps become ``T`` rows with its Minari episode id as
    ``episode_ids``; rewards, terminations and truncations become the extra columns
    ``rewards`` (float), ``terminated`` and ``truncated`` (0/1 integers). Integer
    actions and observations (Discrete, MultiDiscrete, uint8 images) come as int64, float
    ones as ``dtype``. The data then goes
    through :class:`Demonstrations`' validation (finite values, one row per step).

    Args:
        dataset: a ``minari.MinariDataset``, the id of a dataset on this machine
            (``minari.load_dataset(id)``; nothing is downloaded), or the path of a
            dataset's directory.
        observation_key: for ``Dict`` observation spaces, the entry that holds the
            observations; defaults to ``"observation"`` when present (gymnasium-robotics
            goal envs). Other ``Dict`` or ``Tuple`` spaces are refused.
        goal_key: for ``Dict`` observation spaces, the entry that holds the goals
            (``demos.goals``); defaults to ``"desired_goal"`` when present.
        infos: names of per-step ``infos`` fields to bring as extra columns (each
            numeric, with ``T`` rows or ``T + 1`` rows as Minari's data collector writes
            them; then entry ``t + 1``, the info returned with step ``t``'s reward, goes
            to row ``t``). Defaults to the columns :func:`to_minari` wrote.
        next_observations: also return each row's next observation as the extra column
            ``next_observations`` (what offline RL needs; :func:`to_minari` reads the
            final observations back from it).
        dtype: floating dtype of the float fields.

    Raises:
        UsageError: minari is not installed.
        DataError: no such dataset on disk, an empty dataset, an observation or action
            space that has no flat tensor form, or a missing ``infos`` field.
    """
    fn = "from_minari"
    minari = require_minari(fn)
    ds = _open_dataset(minari, dataset, fn)
    metadata = ds.storage.metadata
    if infos is None:
        infos = list(metadata.get(_META_EXTRAS, []))
    stored_goals = bool(metadata.get(_META_GOALS, False))
    return read_episodes(
        ds,
        observation_key=observation_key,
        goal_key=goal_key,
        infos=list(infos),
        stored_goals=stored_goals,
        next_observations=next_observations,
        dtype=dtype,
        function=fn,
    )


def _open_dataset(minari: Any, dataset: Any, fn: str) -> Any:
    if isinstance(dataset, minari.MinariDataset):
        return dataset
    from pathlib import Path

    if isinstance(dataset, Path) or (isinstance(dataset, str) and Path(dataset).is_dir()):
        p = Path(dataset)
        data = p / "data" if (p / "data").is_dir() else p
        if not (data / "metadata.json").is_file():
            raise error(
                DataError,
                f"{str(p)!r} is not a Minari dataset directory (no metadata.json)",
                function=fn,
                argument="dataset",
            )
        return minari.MinariDataset(data)
    if not isinstance(dataset, str):
        raise error(
            UsageError,
            "must be a MinariDataset, a dataset id or a dataset directory",
            function=fn,
            argument="dataset",
            got=fmt_value(dataset),
        )
    dataset_id = _check_dataset_id(dataset, fn)
    root = minari.storage.datasets_root_dir.get_dataset_path()
    if not (root / dataset_id / "data").is_dir():
        raise error(
            DataError,
            f"no Minari dataset {dataset_id!r} on this machine (looked in {str(root)!r})",
            function=fn,
            argument="dataset",
            hint="set MINARI_DATASETS_PATH to the directory that holds it, or fetch it "
            f"once with `minari download {dataset_id}`",
        )
    return minari.load_dataset(dataset_id)
