"""Removing and inserting size-1 axes: ``squeeze`` (named axes only, size 1 only),
``unsqueeze`` (``np.expand_dims``) and ``newaxis`` (``x[:, None]``, rank-checked)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, cast

import numpy as np
import torch

from shapesafe._compile import is_compiling, trace_time_check
from shapesafe._config import STATE
from shapesafe._format import error, fmt_shape, plural
from shapesafe.errors import ShapeError, UsageError
from shapesafe.ops._common import A, array_kind, norm_axis


def _axes_tuple(dims: object) -> tuple[object, ...]:
    return tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)


def _axes_text(axes: tuple[object, ...]) -> str:
    return "(" + ", ".join(repr(a) for a in axes) + ")"


def squeeze(x: A, dim: int | Sequence[int]) -> A:
    """Remove the size-1 axes ``dim`` (an int or a tuple of ints) -- and only those.

    Unlike ``x.squeeze()`` the axes must be named, and unlike ``x.squeeze(dim)`` in
    torch, an axis whose size is not 1 raises instead of being silently kept.

    Examples:
        >>> import numpy as np
        >>> squeeze(np.zeros((10, 1, 4, 1, 1, 6, 2)), (1, 3)).shape
        (10, 4, 1, 6, 2)
    """
    if not STATE.enabled:
        axes = tuple(int(cast(int, a)) % max(x.ndim, 1) for a in _axes_tuple(dim))
        return _squeeze_impl(x, axes)
    if is_compiling():
        trace_time_check(_check_squeeze, 2, False, x, dim)
    return _squeeze_impl(x, _check_squeeze(x, dim))


def _check_squeeze(x: Any, dim: object) -> tuple[int, ...]:
    fn = "squeeze"
    array_kind(fn, "x", x)
    axes = _axes_tuple(dim)
    shape = tuple(x.shape)
    if not axes:
        raise error(
            UsageError,
            "is empty; name the axes to remove",
            function=fn,
            argument="dim",
            expected="an int or a non-empty tuple of ints",
            got="()",
        )
    norm = tuple(norm_axis(fn, "dim", a, len(shape), "`x`", shape) for a in axes)
    if len(set(norm)) != len(norm):
        raise error(
            UsageError,
            f"names the same axis twice for `x` of shape {fmt_shape(shape)}",
            function=fn,
            argument="dim",
            expected="distinct axes",
            got=_axes_text(axes),
        )
    for a, n in zip(axes, norm):
        if shape[n] != 1:  # under compile: sizes 0 and 1 are never symbolic
            ones = [i for i, s in enumerate(shape) if s == 1]
            hint = f"the size-1 axes of `x` are {tuple(ones)}" if ones else "`x` has no size-1 axes"
            raise error(
                ShapeError,
                f"has size {shape[n]}, not 1 (`x` has shape {fmt_shape(shape)})",
                function=fn,
                argument="x",
                axis=n,
                expected="size 1",
                got=f"size {shape[n]}",
                hint=hint + f"; torch's x.squeeze({a}) would silently return `x` unchanged",
            )
    return norm


def _squeeze_impl(x: A, axes: tuple[int, ...]) -> A:
    if isinstance(x, torch.Tensor):
        return x.squeeze(axes)
    return cast(A, np.squeeze(x, axis=axes))


def unsqueeze(x: A, *dims: int | Sequence[int]) -> A:
    """Insert size-1 axes at positions ``dims`` **of the result**, like ``np.expand_dims``.

    ``unsqueeze(x, 1, 3)`` on ``x`` of shape ``(10, 4, 2)`` gives ``(10, 1, 4, 1, 2)``;
    negative positions count from the end of the result. A single tuple works too:
    ``unsqueeze(x, (1, 3))``.

    Examples:
        >>> import torch
        >>> unsqueeze(torch.zeros(10, 4, 2), 1, -1).shape
        torch.Size([10, 1, 4, 2, 1])
    """
    if not STATE.enabled:
        flat = tuple(a for d in dims for a in _axes_tuple(d))
        out_nd = x.ndim + len(flat)
        norm = sorted(int(cast(int, a)) % out_nd for a in flat)
    else:
        if is_compiling():
            trace_time_check(_check_unsqueeze, 2, False, x, dims)
        norm = _check_unsqueeze(x, dims)
    if isinstance(x, torch.Tensor):
        out = x
        for a in norm:
            out = out.unsqueeze(a)
        return out
    return cast(A, np.expand_dims(x, axis=tuple(norm)))


def _check_unsqueeze(x: Any, dims: tuple[object, ...]) -> list[int]:
    fn = "unsqueeze"
    array_kind(fn, "x", x)
    flat = tuple(a for d in dims for a in _axes_tuple(d))
    if not flat:
        raise error(
            UsageError,
            "no axes given; name where to insert them",
            function=fn,
            argument="dims",
            expected="at least one int",
            got="()",
        )
    out_nd = x.ndim + len(flat)
    what = f"the result ({x.ndim} + {len(flat)} axes)"  # ranks are static: no SymInt here
    norm = sorted(norm_axis(fn, "dims", a, out_nd, what) for a in flat)
    if len(set(norm)) != len(norm):
        raise error(
            UsageError,
            f"name the same result axis twice (the result has {plural(out_nd, 'axis')})",
            function=fn,
            argument="dims",
            expected="distinct axes",
            got=_axes_text(flat),
        )
    return norm


def _key_text(key: tuple[object, ...]) -> str:
    parts = []
    for k in key:
        if k is None:
            parts.append("None")
        elif k is Ellipsis:
            parts.append("...")
        elif isinstance(k, slice) and k == slice(None):
            parts.append(":")
        else:
            parts.append(repr(k))
    return "[" + ", ".join(parts) + "]"


class _NewAxis(Generic[A]):
    __slots__ = ("_x",)
    _x: A

    def __init__(self, x: A) -> None:
        self._x = x

    def __getitem__(self, key: Any) -> A:
        x: Any = self._x
        if STATE.enabled:
            if is_compiling():
                trace_time_check(_check_newaxis, 2, False, x, key)
            _check_newaxis(x, key)
        return cast(A, x[key])


def _check_newaxis(x: Any, key: object) -> None:
    fn = "newaxis"
    array_kind(fn, "x", x)
    k = key if isinstance(key, tuple) else (key,)
    for i, item in enumerate(k):
        if item is None or item is Ellipsis or (isinstance(item, slice) and item == slice(None)):
            continue
        raise error(
            UsageError,
            f"index {_key_text(k)}: entry {i} is {item!r}; only `:` (keep an axis), "
            "`None`/np.newaxis (insert one) and `...` (keep the rest) are allowed",
            function=fn,
            argument="key",
            expected="`:`, `None` or `...`",
            got=repr(item),
            hint="select or slice with ordinary indexing first, then insert axes",
        )
    n_ellipsis = sum(1 for item in k if item is Ellipsis)
    n_keep = sum(1 for item in k if isinstance(item, slice))
    nd = x.ndim
    if n_ellipsis > 1:
        raise error(
            UsageError,
            f"index {_key_text(k)} has more than one `...`",
            function=fn,
            argument="key",
            expected="at most one `...`",
            got=f"{n_ellipsis}",
        )
    if (n_ellipsis == 0 and n_keep != nd) or n_keep > nd:
        raise error(
            ShapeError,
            f"index {_key_text(k)} keeps {plural(n_keep, 'axis')} with `:` but `x` has "
            f"shape {fmt_shape(x.shape)}",
            function=fn,
            argument="x",
            expected=f"{plural(n_keep, 'axis')}" + (" or more" if n_ellipsis else ""),
            got=plural(nd, "axis"),
            hint='write one `:` per axis of `x`, or `...` for "the rest"; numpy would '
            "silently keep the missing trailing axes"
            if n_ellipsis == 0
            else None,
        )


def newaxis(x: A) -> _NewAxis[A]:
    """Insert axes with numpy's indexing syntax, checked: ``newaxis(x)[:, None, ..., None]``.

    Gives exactly ``x[:, np.newaxis, ..., np.newaxis]`` (numpy arrays and torch tensors
    alike), but the index may contain only ``:``, ``None`` and one ``...``, and without
    ``...`` it must write one ``:`` per axis of ``x`` -- so a rank mistake raises
    instead of quietly giving another shape.

    Note that ``shapesafe.ops.newaxis`` is a function, not an alias of ``None``: write
    ``None`` (or ``np.newaxis``) inside the brackets.

    Examples:
        >>> import numpy as np
        >>> b = np.zeros((10, 4, 2, 7, 8, 9))
        >>> newaxis(b)[:, None, :, None, ...].shape
        (10, 1, 4, 1, 2, 7, 8, 9)
    """
    return _NewAxis(x)
