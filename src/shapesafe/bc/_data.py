"""Demonstration data: validated once, then sampled by index on whole tensors."""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from jaxtyping import Shaped
from torch import Tensor

from shapesafe.errors import DtypeError, ShapeError

__all__ = ["Batch", "Demonstrations"]

# Names accepted for the two required columns of a ``.npz`` file, first one preferred.
_OBS_KEYS = ("observations", "obs", "states")
_ACT_KEYS = ("actions", "acts")
_RESERVED = frozenset(
    (*_OBS_KEYS, *_ACT_KEYS, "episode_ids", "episode_starts", "goals", "infos", "rews")
)


class Batch(NamedTuple):
    """A minibatch: ``observations`` (batch, obs…) and ``actions`` (batch, act…).

    A plain named tuple, so ``obs, act = batch`` works.
    """

    observations: Shaped[Tensor, "batch *obs"]
    actions: Shaped[Tensor, "batch *act"]


def _as_tensor(value: Any, name: str, *, dtype: torch.dtype | None) -> Tensor:
    """Convert ``value`` (tensor, numpy array, or nested list) to a tensor; floats go to
    ``dtype``, integers and bools keep an integer dtype."""
    if isinstance(value, Tensor):
        t = value.detach()
    else:
        try:
            arr = np.asarray(value)
        except Exception:  # ragged lists and the like
            raise DtypeError(
                f"Demonstrations(): `{name}` cannot be read as an array "
                f"(got {type(value).__name__})",
                function="Demonstrations",
                argument=name,
            ) from None
        if arr.dtype.kind not in "biuf":
            raise DtypeError(
                f"Demonstrations(): `{name}` must hold numbers, got numpy dtype {arr.dtype}",
                function="Demonstrations",
                argument=name,
                expected="a numeric array",
                got=str(arr.dtype),
            )
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.is_complex():
        raise DtypeError(
            f"Demonstrations(): `{name}` must be real, got {t.dtype}",
            function="Demonstrations",
            argument=name,
            expected="a real dtype",
            got=str(t.dtype),
        )
    if t.is_floating_point():
        return t.to(dtype) if dtype is not None else t
    if t.dtype == torch.bool:
        return t.to(torch.int64)
    return t.to(torch.int64)


def _check_finite(t: Tensor, name: str) -> None:
    if not t.is_floating_point():
        return
    finite = torch.isfinite(t)
    if bool(finite.all()):
        return
    bad = (~finite).reshape(len(t), -1).any(dim=1).nonzero().flatten()
    row = int(bad[0])
    value = t[row].flatten()[~finite[row].flatten()][0].item()
    raise ValueError(
        f"Demonstrations(): `{name}` has {len(bad)} row(s) with non-finite values "
        f"(first: row {row} holds {value})\n"
        f"  hint: drop or repair those rows before building the demonstrations, "
        f"e.g. keep = torch.isfinite({name}).flatten(1).all(1)"
    )


def _check_batch_size(batch_size: Any, method: str) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise ValueError(
            f"Demonstrations.{method}(): `batch_size` must be a positive integer, got "
            f"{batch_size!r}"
        )
    if batch_size < 1:
        raise ValueError(
            f"Demonstrations.{method}(): `batch_size` must be a positive integer, got {batch_size}"
        )


class Demonstrations:
    """Expert demonstrations: observations (N, obs…) and actions (N, act…), plus optional
    episode ids, goals and extra per-step fields.

    Everything is validated once, here: all fields have the same length N along axis 0
    and hold numbers, and the observations, actions and goals are finite (extra fields
    may hold NaN, e.g. padding in an ``infos`` column). Floating fields are stored as
    ``dtype`` (float32 by default); integer fields (e.g. discrete actions) as int64.

    Args:
        observations: (N, obs…) tensor or array.
        actions: (N, act…) tensor or array.
        episode_starts: optional (N,) booleans, True on the first step of each episode
            (row 0 must start one). Converted to ``episode_ids``.
        episode_ids: optional (N,) integers naming each row's episode (alternative to
            ``episode_starts``).
        goals: optional (N, goal…) goals for goal-conditioned data (stored, split and
            saved; the policies of this release do not read them yet).
        extras: optional mapping of further (N, …) fields (rewards, infos, …).
        dtype: floating dtype to store floating fields in.

    Examples:
        >>> import torch
        >>> from shapesafe.bc import Demonstrations
        >>> demos = Demonstrations(torch.zeros(100, 3), torch.zeros(100, 2))
        >>> len(demos), demos.obs_shape, demos.act_shape
        (100, (3,), (2,))
    """

    observations: Tensor
    actions: Tensor
    episode_ids: Tensor | None
    goals: Tensor | None
    extras: dict[str, Tensor]

    def __init__(
        self,
        observations: Any,
        actions: Any,
        *,
        episode_starts: Any = None,
        episode_ids: Any = None,
        goals: Any = None,
        extras: Mapping[str, Any] | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if not dtype.is_floating_point:
            raise DtypeError(
                f"Demonstrations(): `dtype` must be a floating dtype, got {dtype}",
                function="Demonstrations",
                argument="dtype",
            )
        obs = _as_tensor(observations, "observations", dtype=dtype)
        act = _as_tensor(actions, "actions", dtype=dtype)
        if obs.ndim == 0:
            raise ShapeError(
                "Demonstrations(): `observations` must have a leading axis N (one row per "
                "step), got a scalar",
                function="Demonstrations",
                argument="observations",
                axis=0,
                expected="(N, obs...)",
                got="()",
            )
        n = obs.shape[0]
        if n == 0:
            raise ShapeError(
                "Demonstrations(): `observations` is empty (N=0); demonstrations need at "
                "least one step",
                function="Demonstrations",
                argument="observations",
                axis=0,
            )
        if act.ndim == 1 and act.is_floating_point():
            # A 1-D float action column is one continuous action per step; keep it (N, 1)
            # so every policy sees (batch, act).
            act = act.unsqueeze(1)
        self._check_rows(act, "actions", n)
        self.observations = obs
        self.actions = act

        if episode_starts is not None and episode_ids is not None:
            raise ValueError("Demonstrations(): pass `episode_starts` or `episode_ids`, not both")
        ids: Tensor | None = None
        if episode_starts is not None:
            starts = _as_tensor(episode_starts, "episode_starts", dtype=None)
            self._check_rows(starts, "episode_starts", n, exact_ndim=1)
            if starts.is_floating_point() or not bool(((starts == 0) | (starts == 1)).all()):
                raise DtypeError(
                    "Demonstrations(): `episode_starts` must hold booleans (True on the "
                    "first step of each episode)",
                    function="Demonstrations",
                    argument="episode_starts",
                )
            if not bool(starts[0]):
                raise ValueError(
                    "Demonstrations(): `episode_starts[0]` is False, but row 0 must start "
                    "an episode\n  hint: set episode_starts[0] = True"
                )
            ids = torch.cumsum(starts.to(torch.int64), 0) - 1
        elif episode_ids is not None:
            ids = _as_tensor(episode_ids, "episode_ids", dtype=None)
            self._check_rows(ids, "episode_ids", n, exact_ndim=1)
            if ids.is_floating_point():
                if not bool((ids == ids.round()).all()):
                    raise DtypeError(
                        "Demonstrations(): `episode_ids` must be integers, got "
                        f"{ids.dtype} values with fractions",
                        function="Demonstrations",
                        argument="episode_ids",
                    )
                ids = ids.to(torch.int64)
        self.episode_ids = ids

        self.goals = None
        if goals is not None:
            g = _as_tensor(goals, "goals", dtype=dtype)
            self._check_rows(g, "goals", n)
            self.goals = g

        self.extras = {}
        for key, value in (extras or {}).items():
            if not isinstance(key, str) or not key.isidentifier():
                raise ValueError(
                    f"Demonstrations(): extra field names must be identifiers, got {key!r}"
                )
            if key in _RESERVED:
                raise ValueError(
                    f"Demonstrations(): extra field {key!r} clashes with a built-in column; "
                    "pass it through its own argument"
                )
            t = _as_tensor(value, key, dtype=dtype)
            self._check_rows(t, key, n)
            self.extras[key] = t

        _check_finite(self.observations, "observations")
        _check_finite(self.actions, "actions")
        if self.goals is not None:
            _check_finite(self.goals, "goals")

    @staticmethod
    def _check_rows(t: Tensor, name: str, n: int, exact_ndim: int | None = None) -> None:
        if t.ndim == 0 or t.shape[0] != n:
            got = tuple(t.shape)
            raise ShapeError(
                f"Demonstrations(): `{name}` axis 0 (N): expected {n} rows to match "
                f"`observations` ({n},...), got shape {got}\n"
                f"  hint: every field needs one row per step; check that `{name}` and "
                "`observations` come from the same rollouts",
                function="Demonstrations",
                argument=name,
                axis=0,
                expected=f"N={n}",
                got=str(got),
                bindings={"N": n},
            )
        if exact_ndim is not None and t.ndim != exact_ndim:
            raise ShapeError(
                f"Demonstrations(): `{name}`: expected shape ({n},), got {tuple(t.shape)}",
                function="Demonstrations",
                argument=name,
                expected=f"({n},)",
                got=str(tuple(t.shape)),
            )

    # ---------------------------------------------------------------- construction

    @classmethod
    def _from_validated(
        cls,
        observations: Tensor,
        actions: Tensor,
        episode_ids: Tensor | None,
        goals: Tensor | None,
        extras: dict[str, Tensor],
    ) -> Demonstrations:
        self = cls.__new__(cls)
        self.observations = observations
        self.actions = actions
        self.episode_ids = episode_ids
        self.goals = goals
        self.extras = extras
        return self

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, dtype: torch.dtype = torch.float32
    ) -> Demonstrations:
        """Read demonstrations from a ``.npz`` file.

        The file needs an ``observations`` (or ``obs``/``states``) array and an ``actions``
        (or ``acts``) array; ``episode_ids`` or ``episode_starts`` and ``goals`` are read
        when present, and every other array becomes an extra field.

        Raises:
            FileNotFoundError: no such file.
            ValueError: not a readable ``.npz`` file, or a required array is missing.
            ShapeError: the arrays disagree on N.
        """
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"Demonstrations.load(): no such file: {str(p)!r}")
        if p.is_dir():
            raise ValueError(f"Demonstrations.load(): {str(p)!r} is a directory, not a .npz file")
        try:
            # Open the file here so it is closed even when numpy fails half-way (a
            # truncated archive would otherwise leak the handle numpy opened).
            with open(p, "rb") as f:
                loaded = np.load(f, allow_pickle=False)
                if not isinstance(loaded, np.lib.npyio.NpzFile):
                    raise ValueError("it holds a single array, not named arrays")
                with loaded as npz:
                    arrays = {k: npz[k] for k in npz.files}
        except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
            raise ValueError(
                f"Demonstrations.load(): {str(p)!r} is not a readable .npz file ({exc})\n"
                "  hint: write one with Demonstrations.save() or "
                "numpy.savez(path, observations=..., actions=...)"
            ) from None

        names = sorted(arrays)

        def pick(keys: tuple[str, ...], what: str) -> np.ndarray[Any, Any]:
            for k in keys:
                if k in arrays:
                    found_array: np.ndarray[Any, Any] = arrays.pop(k)
                    return found_array
            found = ", ".join(names) or "no arrays"
            raise ValueError(
                f"Demonstrations.load(): {str(p)!r} has no {what} array "
                f"(looked for {' / '.join(repr(k) for k in keys)}; found: {found})"
            )

        obs = pick(_OBS_KEYS, "observations")
        act = pick(_ACT_KEYS, "actions")
        for k in _OBS_KEYS + _ACT_KEYS:
            arrays.pop(k, None)
        starts = arrays.pop("episode_starts", None)
        ids = arrays.pop("episode_ids", None)
        goals = arrays.pop("goals", None)
        return cls(
            obs,
            act,
            episode_starts=starts,
            episode_ids=ids,
            goals=goals,
            extras=arrays,
            dtype=dtype,
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the demonstrations to a ``.npz`` file (``numpy.savez_compressed``) that
        :meth:`load` reads back; returns the path written (``.npz`` is appended by numpy
        when missing)."""
        p = Path(path)
        if p.suffix != ".npz":
            p = p.with_name(p.name + ".npz")
        arrays: dict[str, np.ndarray[Any, Any]] = {
            "observations": self.observations.cpu().numpy(),
            "actions": self.actions.cpu().numpy(),
        }
        if self.episode_ids is not None:
            arrays["episode_ids"] = self.episode_ids.cpu().numpy()
        if self.goals is not None:
            arrays["goals"] = self.goals.cpu().numpy()
        for k, v in self.extras.items():
            arrays[k] = v.cpu().numpy()
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, p)
        return p

    # ---------------------------------------------------------------- properties

    def __len__(self) -> int:
        return int(self.observations.shape[0])

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """Shape of one observation (without the leading N)."""
        return tuple(self.observations.shape[1:])

    @property
    def act_shape(self) -> tuple[int, ...]:
        """Shape of one action (without the leading N)."""
        return tuple(self.actions.shape[1:])

    @property
    def n_episodes(self) -> int | None:
        """Number of distinct episodes, or ``None`` when the data has no episode ids."""
        if self.episode_ids is None:
            return None
        return int(torch.unique(self.episode_ids).numel())

    def __repr__(self) -> str:
        parts = [
            f"N={len(self)}",
            f"obs={self.obs_shape}",
            f"act={self.act_shape}",
            f"dtype={self.observations.dtype}",
        ]
        if self.episode_ids is not None:
            parts.append(f"episodes={self.n_episodes}")
        if self.goals is not None:
            parts.append(f"goals={tuple(self.goals.shape[1:])}")
        if self.extras:
            parts.append(f"extras={sorted(self.extras)}")
        return f"Demonstrations({', '.join(parts)})"

    # ---------------------------------------------------------------- selection

    def __getitem__(self, index: Tensor | slice) -> Demonstrations:
        """Rows selected by a slice, an index tensor or a boolean mask (no copy for
        slices)."""
        ndim = getattr(index, "ndim", None)
        if isinstance(index, (int, np.integer, tuple)) or ndim not in (None, 1):
            got = f"a {ndim}-d {type(index).__name__}" if ndim is not None else repr(index)
            hint = (
                f"demos[{index}:{int(index) + 1}] keeps the row axis"
                if isinstance(index, (int, np.integer))
                else "pass a slice, a 1-d index tensor or a 1-d boolean mask"
            )
            raise ShapeError(
                f"Demonstrations[]: rows are selected by a slice, a 1-d index tensor or a "
                f"1-d boolean mask, got {got} (every field must keep its N axis)\n"
                f"  hint: {hint}",
                function="Demonstrations.__getitem__",
                argument="index",
                expected="slice or 1-d tensor",
                got=got,
            )
        ids = self.episode_ids[index] if self.episode_ids is not None else None
        goals = self.goals[index] if self.goals is not None else None
        extras = {k: v[index] for k, v in self.extras.items()}
        return Demonstrations._from_validated(
            self.observations[index], self.actions[index], ids, goals, extras
        )

    def split(self, val_fraction: float, *, seed: int = 0) -> tuple[Demonstrations, Demonstrations]:
        """Split into (train, validation), reproducibly for a given ``seed``.

        When the data has episode ids, whole episodes go to one side (so the validation
        loss measures generalisation to unseen episodes); otherwise rows are split at
        random. Each side gets at least one episode (or row).

        Examples:
            >>> import torch
            >>> from shapesafe.bc import Demonstrations
            >>> demos = Demonstrations(torch.zeros(100, 3), torch.zeros(100, 2))
            >>> train, val = demos.split(0.2, seed=0)
            >>> len(train), len(val)
            (80, 20)
        """
        if not isinstance(val_fraction, (int, float)) or not 0.0 < val_fraction < 1.0:
            raise ValueError(
                f"Demonstrations.split(): `val_fraction` must be between 0 and 1 "
                f"(exclusive), got {val_fraction!r}"
            )
        g = torch.Generator().manual_seed(int(seed))
        if self.episode_ids is not None:
            episodes = torch.unique(self.episode_ids)
            n_eps = int(episodes.numel())
            if n_eps < 2:
                raise ValueError(
                    "Demonstrations.split(): cannot split by episode: the data holds a "
                    "single episode\n  hint: split by rows with "
                    "demos.without_episodes().split(...)"
                )
            n_val = min(max(1, round(val_fraction * n_eps)), n_eps - 1)
            chosen = episodes[torch.randperm(n_eps, generator=g)[:n_val]]
            val_mask = torch.isin(self.episode_ids, chosen)
            return self[~val_mask], self[val_mask]
        n = len(self)
        if n < 2:
            raise ValueError("Demonstrations.split(): need at least 2 rows to split")
        n_val = min(max(1, round(val_fraction * n)), n - 1)
        perm = torch.randperm(n, generator=g)
        return self[perm[n_val:].sort().values], self[perm[:n_val].sort().values]

    def without_episodes(self) -> Demonstrations:
        """The same rows with the episode ids dropped (so :meth:`split` splits rows)."""
        return Demonstrations._from_validated(
            self.observations, self.actions, None, self.goals, dict(self.extras)
        )

    def to(self, device: torch.device | str) -> Demonstrations:
        """A copy of the data on ``device``."""
        return Demonstrations._from_validated(
            self.observations.to(device),
            self.actions.to(device),
            self.episode_ids.to(device) if self.episode_ids is not None else None,
            self.goals.to(device) if self.goals is not None else None,
            {k: v.to(device) for k, v in self.extras.items()},
        )

    # ---------------------------------------------------------------- batches

    def sample(self, batch_size: int, *, generator: torch.Generator | None = None) -> Batch:
        """One minibatch drawn uniformly with replacement (index sampling, no Python loop
        over rows)."""
        _check_batch_size(batch_size, "sample")
        idx = torch.randint(
            len(self), (batch_size,), generator=generator, device=self.observations.device
        )
        return Batch(self.observations[idx], self.actions[idx])

    def batches(
        self, batch_size: int, *, generator: torch.Generator | None = None, shuffle: bool = True
    ) -> Iterator[Batch]:
        """One epoch of minibatches: a random permutation (``shuffle=True``) cut into
        chunks of ``batch_size``; the last batch may be smaller.

        Examples:
            >>> import torch
            >>> from shapesafe.bc import Demonstrations
            >>> demos = Demonstrations(torch.zeros(10, 3), torch.zeros(10, 2))
            >>> [len(b.observations) for b in demos.batches(4)]
            [4, 4, 2]
        """
        _check_batch_size(batch_size, "batches")
        n = len(self)
        if shuffle:
            order = torch.randperm(n, generator=generator, device=self.observations.device)
        else:
            order = torch.arange(n, device=self.observations.device)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            yield Batch(self.observations[idx], self.actions[idx])

    def steps_per_epoch(self, batch_size: int) -> int:
        """Number of minibatches :meth:`batches` yields for ``batch_size``."""
        _check_batch_size(batch_size, "steps_per_epoch")
        return math.ceil(len(self) / batch_size)
