"""Are two modules (or state dicts) the same? Every difference listed, NaN included.

The usual check after a save/load round trip is a loop of ``torch.equal`` over
``zip(a.state_dict().values(), b.state_dict().values())``: it stops silently at the
shorter dict, pairs keys by position, and calls two identical states different as soon
as a weight holds NaN (``NaN != NaN``). :func:`assert_same_state` compares by key, treats
NaN at the same position as equal (a round trip must preserve NaN, not be defeated by
it), and reports every key that differs with how.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from shapesafe._format import error, fmt_dtype, fmt_shape, fmt_value, plural
from shapesafe.errors import CheckpointError, UsageError
from shapesafe.torch_safety._arguments import require_number

__all__ = ["assert_same_state"]


def _as_state(x: Any, name: str) -> Mapping[str, Any]:
    if isinstance(x, nn.Module):
        return x.state_dict()
    if isinstance(x, Mapping) and all(isinstance(k, str) for k in x):
        return x
    raise error(
        UsageError,
        f"must be a torch.nn.Module or a state dict, got {fmt_value(x)}",
        argument=name,
        expected="an nn.Module or a dict of str -> tensor",
        got=fmt_value(x),
        function="assert_same_state",
    )


def _same_values(x: torch.Tensor, y: torch.Tensor, atol: float, rtol: float) -> torch.Tensor:
    """Elementwise "the same": equal, within tolerance, or NaN on both sides."""
    if not (x.is_floating_point() or x.is_complex()):
        return x == y
    if atol == 0.0 and rtol == 0.0:
        close = x == y
    else:
        close = torch.isclose(x, y, atol=atol, rtol=rtol, equal_nan=False)
    return close | (torch.isnan(x) & torch.isnan(y))


def _differences(k: str, x: Any, y: Any, atol: float, rtol: float) -> str | None:
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
        try:
            plain_same = bool(x == y)
        except Exception:  # e.g. arrays in extra state: == is elementwise
            plain_same = x is y
        return None if plain_same else f"{k}: {x!r} != {y!r}"
    if x.shape != y.shape:
        return f"{k}: shape {fmt_shape(x.shape)} vs {fmt_shape(y.shape)}"
    if x.dtype != y.dtype:
        return f"{k}: dtype {fmt_dtype(x.dtype)} vs {fmt_dtype(y.dtype)}"
    xd, yd = x.detach().cpu(), y.detach().cpu()
    same = _same_values(xd, yd, atol, rtol)
    if bool(same.all()):
        return None
    n = int((~same).sum())
    if xd.is_floating_point() or xd.is_complex():
        diff = (xd.to(torch.complex128 if xd.is_complex() else torch.float64) - yd).abs()
        worst = float(diff[~same].nan_to_num(math.inf).max())
        return f"{k}: {n} of {xd.numel()} values differ (max |diff| {worst:.3g})"
    return f"{k}: {n} of {xd.numel()} values differ"


def assert_same_state(
    a: nn.Module | Mapping[str, Any],
    b: nn.Module | Mapping[str, Any],
    *,
    atol: float = 0.0,
    rtol: float = 0.0,
) -> None:
    """Raise :class:`~shapesafe.CheckpointError` listing every key where two modules (or
    state dicts) differ: missing on either side, shape, dtype, or values (with the
    largest difference).

    With the default ``atol=rtol=0`` values must be exactly equal; NaN equals NaN at the
    same position. Unlike a ``zip`` over two ``state_dict()``\\ s it cannot silently stop
    early or pair the wrong keys.

    Examples:
        >>> import torch
        >>> from shapesafe import assert_same_state
        >>> a = torch.nn.Linear(2, 1); b = torch.nn.Linear(2, 1)
        >>> b.load_state_dict(a.state_dict())
        <All keys matched successfully>
        >>> assert_same_state(a, b)
    """
    fn = "assert_same_state"
    sa, sb = _as_state(a, "a"), _as_state(b, "b")
    atol = require_number(atol, fn, "atol")
    rtol = require_number(rtol, fn, "rtol")
    problems = [f"{k}: only in the first" for k in sa if k not in sb]
    problems += [f"{k}: only in the second" for k in sb if k not in sa]
    for k in sa:
        if k in sb:
            found = _differences(k, sa[k], sb[k], atol, rtol)
            if found is not None:
                problems.append(found)
    if problems:
        raise error(
            CheckpointError,
            f"the two states differ at {plural(len(problems), 'key')}:",
            function=fn,
            hint="a round trip should be exact; check that the same architecture and dtype "
            "were used on both sides",
            extra=problems,
        )
