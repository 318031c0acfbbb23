"""Argument checks shared by the RL helpers: discount factors, coefficients, flags.

Hyperparameters arrive from configs as Python floats, numpy scalars or (SAC's learned
temperature) 0-d tensors; all three are accepted where a number is meant. A value outside
its range -- ``gamma=1.5``, ``tau=0``, a negative clip -- is a bug that would train
quietly and badly, so it is refused before anything is computed.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch
from torch import Tensor

from shapesafe._compile import is_compiling
from shapesafe._format import error, fmt_value
from shapesafe.errors import DtypeError, ShapeError, UsageError
from shapesafe.torch_safety._arguments import require_number

__all__ = ["coefficient", "episode_flags", "in_unit_interval", "nonnegative"]


def _as_float(value: Any) -> float:
    if isinstance(value, (bool, np.bool_)):
        return math.nan
    if isinstance(value, numbers.Real):
        try:
            return float(value)
        except OverflowError:
            return math.nan
    return math.nan


def in_unit_interval(value: Any, function: str, argument: str, *, open_low: bool = False) -> float:
    """``value`` as a float in ``[0, 1]`` (``(0, 1]`` with ``open_low``): a discount
    factor, a GAE lambda, a Polyak rate."""
    x = _as_float(value)
    ok = (0.0 < x <= 1.0) if open_low else (0.0 <= x <= 1.0)
    if ok:
        return x
    want = "a number in (0, 1]" if open_low else "a number in [0, 1]"
    raise error(
        UsageError,
        f"must be {want}, got {fmt_value(value)}",
        function=function,
        argument=argument,
        expected=want,
        got=fmt_value(value),
    )


def coefficient(value: Any, function: str, argument: str) -> float | Tensor:
    """A finite non-negative coefficient: a number, or a 0-d float tensor (kept as a
    tensor so that a learned temperature stays on its device without a sync). Not
    checked under torch.compile, like :func:`in_unit_interval`."""
    if is_compiling():
        return value  # type: ignore[no-any-return]
    if isinstance(value, Tensor):
        if value.ndim == 0 and value.is_floating_point():
            return value
        raise error(
            ShapeError,
            f"must be a number or a 0-d float tensor, got a tensor of shape "
            f"{tuple(value.shape)} and dtype {value.dtype}",
            function=function,
            argument=argument,
            expected="a number or a 0-d float tensor",
            got=f"shape {tuple(value.shape)}, {value.dtype}",
            hint=f"{argument}.squeeze() if it holds one value" if value.numel() == 1 else None,
        )
    x = _as_float(value)
    if math.isfinite(x) and x >= 0:
        return x
    raise error(
        UsageError,
        f"must be a finite number >= 0, got {fmt_value(value)}",
        function=function,
        argument=argument,
        expected="a finite number >= 0",
        got=fmt_value(value),
    )


def episode_flags(value: Tensor, function: str, argument: str) -> Tensor:
    """A termination/truncation flag tensor as booleans.

    Bool tensors pass as they are. Replay buffers often store flags as floats or ints of
    0 and 1; those are accepted and compared with 0 -- but any other value (a 0.5, a -1)
    means the column is not a flag at all (a reward column passed by mistake), which is
    refused. Reading the values costs one device sync, only for non-bool flags."""
    if value.dtype == torch.bool:
        return value
    if is_compiling():  # reading the values would need data: compare, unchecked
        return value != 0
    if value.is_complex():
        raise error(
            DtypeError,
            f"must hold flags (bool, or 0/1 numbers), got dtype {value.dtype}",
            function=function,
            argument=argument,
            expected="bool (or 0/1)",
            got=str(value.dtype),
        )
    flags = value != 0
    if value.numel() and not bool(((value == 0) | (value == 1)).all()):
        bad = value[(value != 0) & (value != 1)].flatten()[0].item()
        raise error(
            DtypeError,
            f"must hold flags (bool, or 0/1 numbers), found the value {bad}",
            function=function,
            argument=argument,
            expected="bool (or 0/1)",
            got=f"{value.dtype} holding {bad}",
            hint="is this the right column? flags mark where an episode ended",
        )
    return flags


def nonnegative(value: Any, function: str, argument: str) -> float:
    """A finite number >= 0 (a clip range); unchecked under torch.compile."""
    if is_compiling():
        return value  # type: ignore[no-any-return]
    return require_number(value, function, argument)
