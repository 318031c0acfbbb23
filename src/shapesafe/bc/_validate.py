"""Validation of one demonstrations field: conversion to a tensor, row count, finiteness.

Kept apart from ``Demonstrations`` so that the class reads as what it stores and offers;
these helpers are what it refuses, and why.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from shapesafe.errors import DtypeError, NonFiniteError, ShapeError, UsageError

__all__ = [
    "as_tensor",
    "check_batch_size",
    "check_finite",
    "check_rows",
    "require_env",
    "whole_number",
]


def as_tensor(value: Any, name: str, *, dtype: torch.dtype | None) -> Tensor:
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


def check_finite(t: Tensor, name: str) -> None:
    if not t.is_floating_point():
        return
    finite = torch.isfinite(t)
    if bool(finite.all()):
        return
    bad = (~finite).reshape(len(t), -1).any(dim=1).nonzero().flatten()
    row = int(bad[0])
    value = t[row].flatten()[~finite[row].flatten()][0].item()
    raise NonFiniteError(
        f"Demonstrations(): `{name}` has {len(bad)} row(s) with non-finite values "
        f"(first: row {row} holds {value})\n"
        f"  hint: drop or repair those rows before building the demonstrations, "
        f"e.g. keep = torch.isfinite({name}).flatten(1).all(1)",
        function="Demonstrations",
        argument=name,
        expected="finite values",
        got=f"{value} in row {row}",
    )


_MAX_INT = 2**31 - 1  # larger sizes, counts or seeds are a mistake, not a request


def whole_number(
    value: Any, name: str, function: str | None = None, *, low: int = 1, high: int = _MAX_INT
) -> int:
    """``value`` as an int in ``[low, high]`` (bools refused), or a :class:`UsageError`
    naming ``function`` and the argument -- the one integer check of ``bc``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not low <= value <= high
    ):
        kind = "a positive integer" if low == 1 else f"an integer >= {low}"
        limit = (
            f" (at most {high})" if isinstance(value, (int, np.integer)) and value > high else ""
        )
        head = f"{function}(): " if function else ""
        raise UsageError(
            f"{head}`{name}` must be {kind}{limit}, got {value!r}",
            function=function,
            argument=name,
            expected=kind,
            got=repr(value),
        )
    return int(value)


def check_batch_size(batch_size: Any, method: str) -> None:
    whole_number(batch_size, "batch_size", f"Demonstrations.{method}")


def check_rows(t: Tensor, name: str, n: int, exact_ndim: int | None = None) -> None:
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


_ENV_API = ("reset", "step", "observation_space", "action_space")


def require_env(env: Any, function: str, argument: str = "env") -> None:
    """A :class:`UsageError` unless ``env`` looks like a gymnasium ``Env`` or
    ``VectorEnv`` (``reset``, ``step`` and both spaces), before anything touches it."""
    missing = [name for name in _ENV_API if not hasattr(env, name)]
    if missing:
        raise UsageError(
            f"{function}(): `{argument}` must be a gymnasium environment, got "
            f"{type(env).__name__} (no {', '.join(missing)})",
            function=function,
            argument=argument,
            expected="a gymnasium Env or VectorEnv (reset, step, observation_space, action_space)",
            got=type(env).__name__,
            hint="gymnasium.make(env_id), or a gymnasium.vector.SyncVectorEnv",
        )
