"""``take_along`` (the ``q[b, a[b]]`` pattern) and ``gather`` (torch's, minus its silent
case). Index *values* are checked in eager mode only: under torch.compile they are data,
unknown at trace time, and torch.gather's own bounds check remains."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch

from shapesafe._compile import is_compiling, trace_time_check
from shapesafe._config import STATE
from shapesafe._format import error, fmt_shape, plural
from shapesafe.errors import ShapeError
from shapesafe.ops._common import A, as_long, check_integer, check_range, norm_axis, same_kind

# torch.gather has no kernel for these value dtypes; a gather only moves bits, so it runs
# on the signed view of the same width and views the result back
_SIGNED_VIEW = {torch.uint16: torch.int16, torch.uint32: torch.int32, torch.uint64: torch.int64}


def _torch_gather(values: torch.Tensor, d: int, index: torch.Tensor) -> torch.Tensor:
    signed = _SIGNED_VIEW.get(values.dtype)
    if signed is None:
        return torch.gather(values, d, as_long(index))
    return torch.gather(values.view(signed), d, as_long(index)).view(values.dtype)


def _take_along_impl(values: A, index: A, d: int) -> A:
    if isinstance(values, torch.Tensor):
        assert isinstance(index, torch.Tensor)
        return _torch_gather(values, d, index.unsqueeze(d)).squeeze(d)
    out = np.take_along_axis(values, np.expand_dims(index, d), axis=d)
    return cast(A, np.squeeze(out, axis=d))


def take_along(values: A, index: A, dim: int = -1) -> A:
    """Pick one entry of ``values`` along ``dim`` per position of ``index``.

    The checked form of ``q[b, a[b]]`` (the Q-value of the action taken in each row):
    ``values`` has shape ``(*lead, A, *trail)`` with ``A`` at ``dim``; ``index`` holds
    integers in ``[0, A)`` with shape ``(*lead, *trail)``, exactly (no broadcasting); the
    result has ``index``'s shape.

    Raises :class:`~shapesafe.ShapeError` when ``index`` has a trailing size-1 axis
    (the ``actions`` of shape ``(B, 1)`` bug), when its other dims differ from
    ``values``' (even if broadcastable), or when an entry is out of range; and
    :class:`~shapesafe.DtypeError` when ``index`` is not an integer array.

    Examples:
        >>> import torch
        >>> q = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])  # (batch, actions)
        >>> take_along(q, torch.tensor([2, 0]))
        tensor([3., 4.])
    """
    if not STATE.enabled:
        return _take_along_impl(values, index, dim % values.ndim if values.ndim else dim)
    if is_compiling():
        trace_time_check(_check_take_along, 3, False, values, index, dim)
    d = _check_take_along(values, index, dim)
    return _take_along_impl(values, index, d)


def _check_take_along(values: Any, index: Any, dim: object) -> int:
    fn = "take_along"
    same_kind(fn, ("values", "index"), values, index)
    if values.ndim == 0:
        raise error(
            ShapeError,
            "is 0-d; it needs the axis to take along",
            function=fn,
            argument="values",
            expected="at least 1 axis",
            got="()",
        )
    d = norm_axis(fn, "dim", dim, values.ndim, "`values`", values.shape)
    check_integer(fn, "index", index)
    vshape = tuple(values.shape)
    expected = vshape[:d] + vshape[d + 1 :]
    got = tuple(index.shape)
    if got != expected:  # under compile: a guard on the (symbolic) sizes
        _take_along_shape_error(vshape, d, expected, got)
    check_range(fn, "index", index, vshape[d], f"axis {d} of `values`")
    return d


def _take_along_shape_error(
    vshape: tuple[int, ...], d: int, expected: tuple[int, ...], got: tuple[int, ...]
) -> None:
    fn = "take_along"
    summary = (
        "must have the shape of `values` without its last axis"
        if d == len(vshape) - 1
        else f"must have the shape of `values` {fmt_shape(vshape)} without axis {d}"
    )
    fields: dict[str, Any] = {
        "function": fn,
        "argument": "index",
        "expected": fmt_shape(expected),
        "got": fmt_shape(got),
    }
    # One size-1 axis too many: the (B, 1) actions bug.
    if len(got) == len(expected) + 1:
        for p in range(len(got) - 1, -1, -1):
            if got[p] == 1 and got[:p] + got[p + 1 :] == expected:
                where = "a trailing axis" if p == len(got) - 1 else f"an extra axis {p}"
                raise error(
                    ShapeError,
                    summary,
                    axis=p,
                    hint=f"`index` has {where} of size 1; did you mean "
                    f"index.squeeze({-1 if p == len(got) - 1 else p})?",
                    **fields,
                )
    if len(got) != len(expected):
        hint = (
            f"`index` needs one entry per position of `values` except along axis {d}: "
            f"{plural(len(expected), 'axis')}, not {len(got)}"
        )
        if got == vshape:
            hint = (
                "`index` has the shape of `values`; for torch.gather semantics (one "
                "index per output element) use shapesafe.ops.gather"
            )
        raise error(ShapeError, summary, hint=hint, **fields)
    axis = next(i for i, (e, g) in enumerate(zip(expected, got)) if e != g)
    hint = f"axis {axis} of `index` has size {got[axis]} but `values` has {expected[axis]} there"
    if got[axis] == 1 or expected[axis] == 1:
        hint += "; take_along does not broadcast -- expand explicitly if that is what you mean"
    raise error(ShapeError, summary, axis=axis, hint=hint, **fields)


def _gather_impl(input: A, d: int, index: A) -> A:
    if isinstance(input, torch.Tensor):
        assert isinstance(index, torch.Tensor)
        return _torch_gather(input, d, index)
    return cast(A, np.take_along_axis(input, index, axis=d))


def gather(input: A, dim: int, index: A) -> A:
    """``torch.gather`` with its exact semantics, minus the silent cases.

    For a 3-d input, ``out[i][j][k] = input[index[i][j][k]][j][k]`` when ``dim == 0``
    (and likewise for the other axes). ``index`` must have ``input``'s number of axes
    and **the same size on every axis except** ``dim`` -- torch silently accepts a smaller
    index and reads only the leading part of ``input`` there. Entries must lie in
    ``[0, input.shape[dim])``. Works on numpy arrays too (``np.take_along_axis``).

    Examples:
        >>> import torch
        >>> x = torch.arange(6).reshape(2, 3)
        >>> gather(x, 0, torch.tensor([[0, 1, 0]]))
        tensor([[0, 4, 2]])
    """
    if not STATE.enabled:
        return _gather_impl(input, dim % max(input.ndim, 1), index)
    if is_compiling():
        trace_time_check(_check_gather, 3, False, input, dim, index)
    d = _check_gather(input, dim, index)
    return _gather_impl(input, d, index)


def _check_gather(input: Any, dim: object, index: Any) -> int:
    fn = "gather"
    same_kind(fn, ("input", "index"), input, index)
    ishape = tuple(input.shape)
    xshape = tuple(index.shape)
    nd = len(ishape)
    if nd == 0:
        raise error(
            ShapeError,
            "is 0-d",
            function=fn,
            argument="input",
            expected="at least 1 axis",
            got="()",
        )
    d = norm_axis(fn, "dim", dim, nd, "`input`", ishape)
    check_integer(fn, "index", index)
    if len(xshape) != nd:
        raise error(
            ShapeError,
            f"must have as many axes as `input` {fmt_shape(ishape)}",
            function=fn,
            argument="index",
            expected=plural(nd, "axis"),
            got=fmt_shape(xshape),
            hint=(
                "for one index per row (the q[b, a[b]] pattern) use "
                "shapesafe.ops.take_along(input, index, dim)"
            )
            if len(xshape) == nd - 1
            else None,
        )
    for k in range(nd):
        if k == d or xshape[k] == ishape[k]:  # under compile: a guard
            continue
        m = xshape[k]
        if m < ishape[k]:
            sl = ", ".join([":"] * k + [f":{m}"])
            hint = (
                f"torch.gather would silently read only the first {m} of the "
                f"{ishape[k]} entries of `input` along axis {k}; if that is what you "
                f"want, slice `input` explicitly: gather(input[{sl}], {dim}, index)"
            )
        else:
            hint = f"`index` is larger than `input` along axis {k}, which only axis {d} may be"
        raise error(
            ShapeError,
            f"must match `input` {fmt_shape(ishape)} on every axis but {d}",
            function=fn,
            argument="index",
            axis=k,
            expected=f"size {ishape[k]}",
            got=f"size {m} (shape {fmt_shape(xshape)})",
            hint=hint,
        )
    check_range(fn, "index", index, ishape[d], f"axis {d} of `input`")
    return d
