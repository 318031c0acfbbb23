"""The argument checks every torch-safety function shares.

Each public function checks its arguments before it touches anything (a refused call
changes no module, optimizer or file), and a wrong type gets the same sentence
everywhere. The error class is the caller's choice: the checkpoint functions raise
:class:`~shapesafe.CheckpointError` for everything, so ``except CheckpointError`` around a
load catches a wrong argument too; the others raise :class:`~shapesafe.UsageError`.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch
from torch import nn

from shapesafe._format import error, fmt_value
from shapesafe.errors import DtypeError, ShapesafeError, UsageError


def require_module(
    value: Any,
    function: str,
    *,
    argument: str = "module",
    hint: str | None = None,
    cls: type[ShapesafeError] = UsageError,
) -> None:
    if not isinstance(value, nn.Module):
        raise error(
            cls,
            f"must be a torch.nn.Module, got {fmt_value(value)}",
            function=function,
            argument=argument,
            expected="a torch.nn.Module",
            got=fmt_value(value),
            hint=hint,
        )


def require_optimizer(
    value: Any,
    function: str,
    *,
    optional: bool,
    hint: str | None = None,
    cls: type[ShapesafeError] = UsageError,
) -> None:
    if (optional and value is None) or isinstance(value, torch.optim.Optimizer):
        return
    want = "a torch.optim.Optimizer" + (" or None" if optional else "")
    raise error(
        cls,
        f"must be {want}, got {fmt_value(value)}",
        function=function,
        argument="optimizer",
        expected=want,
        got=fmt_value(value),
        hint=hint,
    )


def require_flags(function: str, cls: type[ShapesafeError] = UsageError, **flags: Any) -> None:
    """``True``/``False`` only: a string such as ``"no"`` is truthy and would silently
    mean the opposite."""
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise error(
                cls,
                f"must be True or False, got {fmt_value(value)}",
                function=function,
                argument=name,
                expected="True or False",
                got=fmt_value(value),
            )


def require_dims(value: Any, function: str) -> None:
    if value is not None and not isinstance(value, dict):
        raise error(
            UsageError,
            f"must be a dict of dim sizes (it is updated in place), got {fmt_value(value)}",
            function=function,
            argument="dims",
            expected="a dict or None",
            got=fmt_value(value),
            hint=f"dims = {{}}; {function}(x, 'batch obs', dims=dims)",
        )


def require_tensor(value: Any, function: str, argument: str, *, hint: str | None = None) -> None:
    """A :class:`~shapesafe.DtypeError` (the class for "not a tensor at all")."""
    if not isinstance(value, torch.Tensor):
        raise error(
            DtypeError,
            f"must be a torch.Tensor, got {fmt_value(value)}",
            function=function,
            argument=argument,
            expected="a torch.Tensor",
            got=fmt_value(value),
            hint=hint,
        )


def require_number(value: Any, function: str, argument: str, *, positive: bool = False) -> float:
    """``value`` as a float if it is a real, finite number ``>= 0`` (``> 0`` with
    ``positive``).

    numpy scalars from a config count as numbers; ``bool`` does not (``True`` as a
    learning rate is a bug, not 1.0); an int too large for a float is refused rather
    than left to overflow inside torch.
    """
    number = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    try:
        as_float = float(value) if number else math.nan
    except OverflowError:
        as_float = math.nan
    if math.isfinite(as_float) and (as_float > 0 if positive else as_float >= 0):
        return as_float
    want = "a finite number > 0" if positive else "a finite number >= 0"
    raise error(
        UsageError,
        f"must be {want}, got {fmt_value(value)}",
        function=function,
        argument=argument,
        expected=want,
        got=fmt_value(value),
    )
