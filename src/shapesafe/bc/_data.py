"""Demonstration data: validated once, then sampled by index on whole tensors.

Validation happens here, once, so that the training loop can index the tensors without
looking at them again: same N everywhere, numbers only, finite floats (observations,
actions, goals and float extras alike). Minibatches are :class:`Batch` objects that carry
the goals and extras through to the policy's loss.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from shapesafe._format import add_context, error
from shapesafe.bc._batch import ACT_KEYS, OBS_KEYS, Batch
from shapesafe.bc._npz import read_npz, write_npz
from shapesafe.bc._validate import as_tensor, check_batch_size, check_finite, check_rows
from shapesafe.errors import DataError, DtypeError, ShapeError, UsageError

__all__ = ["Batch", "Demonstrations"]

_RESERVED = frozenset(
    (*OBS_KEYS, *ACT_KEYS, "episode_ids", "episode_starts", "goals", "infos", "rews")
)


class Demonstrations:
    """Expert demonstrations: observations (N, obs…) and actions (N, act…), plus optional
    episode ids, goals and extra per-step fields.

    Everything is validated once, here: all fields have the same length N along axis 0
    and hold numbers, and every floating field (observations, actions, goals and extras)
    is finite -- a NaN in a reward column poisons a loss just as surely. Floating fields
    are stored as ``dtype`` (float32 by default); integer fields (e.g. discrete actions) as int64.

    Args:
        observations: (N, obs…) tensor or array.
        actions: (N, act…) tensor or array.
        episode_starts: optional (N,) booleans, True on the first step of each episode
            (row 0 must start one). Converted to ``episode_ids``.
        episode_ids: optional (N,) integers naming each row's episode (alternative to
            ``episode_starts``).
        goals: optional (N, goal…) goals for goal-conditioned data; they reach the
            policy as ``batch.goals``.
        extras: optional mapping of further (N, …) fields (rewards, infos, …); they
            reach the policy as ``batch.extras``.
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
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise UsageError(
                f"Demonstrations(): `dtype` must be a floating dtype, got {dtype}",
                function="Demonstrations",
                argument="dtype",
                expected="a floating torch.dtype",
                got=str(dtype),
            )
        obs = as_tensor(observations, "observations", dtype=dtype)
        act = as_tensor(actions, "actions", dtype=dtype)
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
        check_rows(act, "actions", n)
        self.observations = obs
        self.actions = act

        if episode_starts is not None and episode_ids is not None:
            raise UsageError(
                "Demonstrations(): pass `episode_starts` or `episode_ids`, not both",
                function="Demonstrations",
                argument="episode_ids",
            )
        ids: Tensor | None = None
        if episode_starts is not None:
            starts = as_tensor(episode_starts, "episode_starts", dtype=None)
            check_rows(starts, "episode_starts", n, exact_ndim=1)
            if starts.is_floating_point() or not bool(((starts == 0) | (starts == 1)).all()):
                raise DtypeError(
                    "Demonstrations(): `episode_starts` must hold booleans (True on the "
                    "first step of each episode)",
                    function="Demonstrations",
                    argument="episode_starts",
                )
            if not bool(starts[0]):
                raise DataError(
                    "Demonstrations(): `episode_starts[0]` is False, but row 0 must start "
                    "an episode\n  hint: set episode_starts[0] = True",
                    function="Demonstrations",
                    argument="episode_starts",
                    axis=0,
                    hint="set episode_starts[0] = True",
                )
            ids = torch.cumsum(starts.to(torch.int64), 0) - 1
        elif episode_ids is not None:
            ids = as_tensor(episode_ids, "episode_ids", dtype=None)
            check_rows(ids, "episode_ids", n, exact_ndim=1)
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
            g = as_tensor(goals, "goals", dtype=dtype)
            check_rows(g, "goals", n)
            self.goals = g

        self.extras = {}
        if extras is not None and not isinstance(extras, Mapping):
            raise UsageError(
                f"Demonstrations(): `extras` must be a mapping of name -> (N, ...) array, "
                f"got {type(extras).__name__}",
                function="Demonstrations",
                argument="extras",
            )
        for key, value in (extras or {}).items():
            if not isinstance(key, str) or not key.isidentifier():
                raise UsageError(
                    f"Demonstrations(): extra field names must be identifiers, got {key!r}",
                    function="Demonstrations",
                    argument="extras",
                    got=repr(key),
                )
            if key in _RESERVED:
                raise UsageError(
                    f"Demonstrations(): extra field {key!r} clashes with a built-in column; "
                    "pass it through its own argument",
                    function="Demonstrations",
                    argument="extras",
                    got=repr(key),
                )
            t = as_tensor(value, key, dtype=dtype)
            check_rows(t, key, n)
            self.extras[key] = t

        check_finite(self.observations, "observations")
        check_finite(self.actions, "actions")
        if self.goals is not None:
            check_finite(self.goals, "goals")
        for key, value in self.extras.items():
            check_finite(value, key)

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

        Every array's header is checked before its data is read, so a crafted file
        cannot make numpy allocate what the archive does not hold.

        Raises:
            DataError: no such file, not a readable ``.npz`` file, or a required array
                is missing.
            ShapeError: the arrays disagree on N.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise UsageError(
                f"Demonstrations.load(): `path` must be a file path, got {type(path).__name__}",
                function="Demonstrations.load",
                argument="path",
            )
        p = Path(path)
        with add_context("Demonstrations.load", "path"):
            return cls._from_arrays(p, read_npz(p), dtype)

    @classmethod
    def _from_arrays(
        cls, p: Path, arrays: dict[str, np.ndarray[Any, Any]], dtype: torch.dtype
    ) -> Demonstrations:
        names = sorted(arrays)

        def pick(keys: tuple[str, ...], what: str) -> np.ndarray[Any, Any]:
            for k in keys:
                if k in arrays:
                    found_array: np.ndarray[Any, Any] = arrays.pop(k)
                    return found_array
            found = ", ".join(names) or "no arrays"
            raise error(
                DataError,
                f"{str(p)!r} has no {what} array "
                f"(looked for {' / '.join(repr(k) for k in keys)}; found: {found})",
                argument="path",
                expected=" / ".join(repr(k) for k in keys),
                got=found,
            )

        obs = pick(OBS_KEYS, "observations")
        act = pick(ACT_KEYS, "actions")
        for k in OBS_KEYS + ACT_KEYS:
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
        arrays = {"observations": self.observations, "actions": self.actions}
        if self.episode_ids is not None:
            arrays["episode_ids"] = self.episode_ids
        if self.goals is not None:
            arrays["goals"] = self.goals
        return write_npz(path, {**arrays, **self.extras})

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
        fn = "Demonstrations.split"
        if (
            isinstance(val_fraction, bool)
            or not isinstance(val_fraction, (int, float))
            or not 0.0 < val_fraction < 1.0
        ):
            raise UsageError(
                f"{fn}(): `val_fraction` must be between 0 and 1 (exclusive), got {val_fraction!r}",
                function=fn,
                argument="val_fraction",
                expected="0 < val_fraction < 1",
                got=repr(val_fraction),
            )
        g = torch.Generator().manual_seed(int(seed))
        if self.episode_ids is not None:
            episodes = torch.unique(self.episode_ids)
            n_eps = int(episodes.numel())
            if n_eps < 2:
                raise DataError(
                    f"{fn}(): cannot split by episode: the data holds a single episode\n"
                    "  hint: split by rows with demos.without_episodes().split(...)",
                    function=fn,
                    hint="split by rows with demos.without_episodes().split(...)",
                )
            n_val = min(max(1, round(val_fraction * n_eps)), n_eps - 1)
            chosen = episodes[torch.randperm(n_eps, generator=g)[:n_val]]
            val_mask = torch.isin(self.episode_ids, chosen)
            return self[~val_mask], self[val_mask]
        n = len(self)
        if n < 2:
            raise DataError(f"{fn}(): need at least 2 rows to split", function=fn)
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
        check_batch_size(batch_size, "sample")
        idx = torch.randint(
            len(self), (batch_size,), generator=generator, device=self.observations.device
        )
        return self.batch_at(idx)

    def batch_at(self, idx: Tensor) -> Batch:
        """The :class:`Batch` of rows ``idx`` (a 1-d index tensor), goals and extras
        included."""
        return Batch(
            self.observations[idx],
            self.actions[idx],
            None if self.goals is None else self.goals[idx],
            None,
            {k: v[idx] for k, v in self.extras.items()},
        )

    def fingerprint(self) -> str:
        """A cheap content hash: shapes and dtypes of every field plus the bytes of up to
        64 rows spread evenly over the data. Two data sets of the same size with
        different contents almost surely differ in it; it costs the same for 1000 rows
        and for 10 million (it is what ``fit`` checks before resuming)."""
        h = hashlib.sha256()
        n = len(self)
        rows = torch.tensor(sorted({round(i * (n - 1) / 63) for i in range(64)}))
        fields = [("observations", self.observations), ("actions", self.actions)]
        if self.goals is not None:
            fields.append(("goals", self.goals))
        fields.extend(sorted(self.extras.items()))
        for name, t in fields:
            h.update(f"{name}{tuple(t.shape)}{t.dtype};".encode())
            sample = t[rows.to(t.device)].detach().cpu().contiguous()
            h.update(sample.view(torch.uint8).numpy().tobytes() if sample.numel() else b"")
        return h.hexdigest()[:16]

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
        check_batch_size(batch_size, "batches")
        n = len(self)
        if shuffle:
            order = torch.randperm(n, generator=generator, device=self.observations.device)
        else:
            order = torch.arange(n, device=self.observations.device)
        for start in range(0, n, batch_size):
            yield self.batch_at(order[start : start + batch_size])

    def steps_per_epoch(self, batch_size: int) -> int:
        """Number of minibatches :meth:`batches` yields for ``batch_size``."""
        check_batch_size(batch_size, "steps_per_epoch")
        return math.ceil(len(self) / batch_size)
