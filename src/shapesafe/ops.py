"""Checked everyday tensor ops: the places where RL code goes silently wrong, made loud.

Each function here does exactly what its plain torch/numpy counterpart does on valid
input and raises a :class:`~shapesafe.ShapeError` (with a ``hint:`` line) where the
plain op would silently do something else:

* :func:`take_along` -- the ``q[b, a[b]]`` pattern (Q-values of the taken actions);
* :func:`gather` -- ``torch.gather`` that refuses an index smaller than the input;
* :func:`squeeze` -- requires the axis and refuses to "squeeze" an axis that is not 1;
* :func:`unsqueeze` and :func:`newaxis` -- numpy's ``np.expand_dims`` / ``x[:, None]``;
* :func:`reshape` and :func:`flatten` -- reshapes that cannot mix the batch axis into
  the feature axes.

All of them accept numpy arrays as well as torch tensors (never a mix of the two).
When checks are disabled (:func:`shapesafe.disable`), they skip the checks and return the
same result.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from typing import Any, Generic, TypeVar, cast

import numpy as np
import torch

from shapesafe._compile import is_compiling, trace_time_check
from shapesafe._config import STATE
from shapesafe.errors import AnnotationError, DtypeError, ShapeError

__all__ = [
    "flatten",
    "gather",
    "newaxis",
    "reshape",
    "squeeze",
    "take_along",
    "unsqueeze",
]

A = TypeVar("A", torch.Tensor, "np.ndarray[Any, Any]")


# --------------------------------------------------------------------------------------
# small helpers


def _fmt(shape: Sequence[int]) -> str:
    return str(tuple(int(s) for s in shape))


# Under torch.compile, an op's checks run once at trace time on shape-only stand-ins
# (``trace_time_check``): a wrong shape raises this module's message at compile time,
# instead of dynamo's "cannot trace str(tuple)" from inside our message formatting.
# Data-dependent checks (index ranges) are skipped there; torch.gather keeps its own
# bounds check. These adapters replay a call from its recorded arguments.
def _unsqueeze_args(x: Any, dims: Any) -> Any:
    return unsqueeze(x, *dims)


def _newaxis_args(x: Any, key: Any) -> Any:
    return newaxis(x)[key]


def _reshape_args(x: Any, shape: Any, keep: Any, sizes: Any) -> Any:
    return reshape(x, *shape, keep=keep, **sizes)


def _error(
    cls: type[ShapeError],
    function: str,
    message: str,
    hint: str | None = None,
    **fields: Any,
) -> ShapeError:
    text = f"{function}(): {message}"
    if hint:
        text += f"\n  hint: {hint}"
    return cls(text, function=function, **fields)


def _kind(function: str, argument: str, x: object) -> str:
    if isinstance(x, torch.Tensor):
        return "torch"
    if isinstance(x, np.ndarray):
        return "numpy"
    raise _error(
        DtypeError,
        function,
        f"argument `{argument}` must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}",
        hint="convert it first, e.g. torch.as_tensor(x) or np.asarray(x)",
        argument=argument,
        got=type(x).__name__,
    )


def _same_kind(function: str, names: Sequence[str], *xs: object) -> str:
    kinds = [_kind(function, n, x) for n, x in zip(names, xs)]
    if len(set(kinds)) > 1:
        label = {"torch": "a torch.Tensor", "numpy": "a numpy.ndarray"}
        described = ", ".join(f"`{n}` is {label[k]}" for n, k in zip(names, kinds))
        raise _error(
            DtypeError,
            function,
            f"cannot mix torch tensors and numpy arrays: {described}",
            hint="convert one side, e.g. torch.as_tensor(index) or tensor.numpy()",
        )
    return kinds[0]


def _norm_axis(function: str, argument: str, axis: object, ndim: int, what: str) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise _error(
            ShapeError,
            function,
            f"`{argument}` must be an int, got {type(axis).__name__}",
            argument=argument,
        )
    a = int(axis)
    if not -ndim <= a < ndim:
        raise _error(
            ShapeError,
            function,
            f"`{argument}`={a} is out of range for {what} with {ndim} "
            f"ax{'is' if ndim == 1 else 'es'} (valid: {-ndim}..{ndim - 1})",
            argument=argument,
            axis=a,
        )
    return a % ndim


def _is_integer_dtype(x: torch.Tensor | np.ndarray[Any, Any]) -> bool:
    if isinstance(x, torch.Tensor):
        dt = x.dtype
        return not (dt.is_floating_point or dt.is_complex or dt == torch.bool)
    return bool(np.issubdtype(x.dtype, np.integer))


def _check_integer(function: str, argument: str, x: torch.Tensor | np.ndarray[Any, Any]) -> None:
    if _is_integer_dtype(x):
        return
    hint = (
        f"indices must be integers; if `{argument}` holds whole numbers, convert it with "
        f"{argument}.long() (torch) or {argument}.astype(np.int64) (numpy)"
    )
    if str(x.dtype).endswith("bool"):
        hint = (
            f"`{argument}` is a boolean mask; to select with a mask use values[mask], "
            f"or convert it with {argument}.long() if it holds 0/1 indices"
        )
    raise _error(
        DtypeError,
        function,
        f"argument `{argument}` must have an integer dtype, got {x.dtype}",
        hint=hint,
        argument=argument,
        expected="integer dtype",
        got=str(x.dtype),
    )


def _check_range(
    function: str,
    argument: str,
    index: torch.Tensor | np.ndarray[Any, Any],
    size: int,
    target: str,
) -> None:
    """Refuse index entries outside ``[0, size)`` (a CUDA assert or garbage otherwise)."""
    empty = index.size == 0 if isinstance(index, np.ndarray) else index.numel() == 0
    if empty:
        return
    if isinstance(index, torch.Tensor):
        # data-dependent: not while compiling (torch.gather's own bounds check remains),
        # nor on the shape-only meta stand-ins of a trace-time check
        if is_compiling() or index.device.type == "meta":
            return
        lo, hi = (int(v) for v in torch.aminmax(index))
    else:
        lo, hi = int(index.min()), int(index.max())
    if lo >= 0 and hi < size:
        return
    bad_value = lo if lo < 0 else hi
    if isinstance(index, torch.Tensor):
        pos = tuple(int(p) for p in (index == bad_value).nonzero()[0].tolist())
    else:
        pos = tuple(int(p) for p in np.argwhere(index == bad_value)[0])
    hint = (
        "negative indices are not wrapped around here (torch.gather refuses them too); "
        f"use {argument} % {size} if you really mean counting from the end"
        if bad_value < 0
        else "check that the index was built for this tensor (e.g. the action space size)"
    )
    raise _error(
        ShapeError,
        function,
        f"argument `{argument}` has entry {bad_value} at position {pos}, out of range "
        f"for {target} of size {size} (valid: 0..{size - 1})",
        hint=hint,
        argument=argument,
        expected=f"0 <= {argument} < {size}",
        got=str(bad_value),
    )


# --------------------------------------------------------------------------------------
# take_along / gather


def _take_along_impl(values: A, index: A, d: int) -> A:
    if isinstance(values, torch.Tensor):
        idx = index
        if idx.dtype != torch.int64:
            idx = idx.long()
        return values.gather(d, idx.unsqueeze(d)).squeeze(d)
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
        d = dim % values.ndim if values.ndim else dim
        return _take_along_impl(values, index, d)
    if is_compiling():
        trace_time_check(take_along, 3, False, values, index, dim)
    fn = "take_along"
    _same_kind(fn, ("values", "index"), values, index)
    nd = values.ndim
    if nd == 0:
        raise _error(
            ShapeError,
            fn,
            "argument `values` is 0-d; it needs the axis to take along",
            argument="values",
        )
    d = _norm_axis(fn, "dim", dim, nd, f"`values` of shape {_fmt(values.shape)}")
    _check_integer(fn, "index", index)
    vshape = tuple(int(s) for s in values.shape)
    expected = vshape[:d] + vshape[d + 1 :]
    got = tuple(int(s) for s in index.shape)
    if got != expected:
        _take_along_shape_error(vshape, d, expected, got)
    _check_range(fn, "index", index, vshape[d], f"axis {d} of `values`")
    return _take_along_impl(values, index, d)


def _take_along_shape_error(
    vshape: tuple[int, ...], d: int, expected: tuple[int, ...], got: tuple[int, ...]
) -> None:
    fn = "take_along"
    if d == len(vshape) - 1:
        what = f"matching values' leading dims {_fmt(expected)}"
    else:
        what = f"= values' shape {_fmt(vshape)} without axis {d}"
    body = f"expected shape {_fmt(expected)} {what}, got {_fmt(got)}"
    head = "argument `index` axis {}: " + body
    # One size-1 axis too many: the (B, 1) actions bug.
    if len(got) == len(expected) + 1:
        for p in range(len(got) - 1, -1, -1):
            if got[p] == 1 and got[:p] + got[p + 1 :] == expected:
                where = "a trailing axis" if p == len(got) - 1 else f"an extra axis {p}"
                squeeze_arg = -1 if p == len(got) - 1 else p
                raise _error(
                    ShapeError,
                    fn,
                    head.format(p),
                    hint=f"`index` has {where} of size 1; did you mean "
                    f"index.squeeze({squeeze_arg})?",
                    argument="index",
                    axis=p,
                    expected=_fmt(expected),
                    got=_fmt(got),
                )
    if len(got) != len(expected):
        hint = (
            f"`index` needs one entry per position of `values` except along axis {d}: "
            f"{len(expected)} ax{'is' if len(expected) == 1 else 'es'}, not {len(got)}"
        )
        if got == vshape:
            hint = (
                "`index` has the shape of `values`; for torch.gather semantics (one "
                "index per output element) use shapesafe.ops.gather"
            )
        raise _error(
            ShapeError,
            fn,
            "argument `index`: " + body,
            hint=hint,
            argument="index",
            expected=_fmt(expected),
            got=_fmt(got),
        )
    axis = next(i for i, (e, g) in enumerate(zip(expected, got)) if e != g)
    hint = f"axis {axis} of `index` has size {got[axis]} but `values` has {expected[axis]} there"
    if got[axis] == 1 or expected[axis] == 1:
        hint += "; take_along does not broadcast -- expand explicitly if that is what you mean"
    raise _error(
        ShapeError,
        fn,
        head.format(axis),
        hint=hint,
        argument="index",
        axis=axis,
        expected=_fmt(expected),
        got=_fmt(got),
    )


def _gather_impl(input: A, d: int, index: A) -> A:
    if isinstance(input, torch.Tensor):
        idx = index
        if idx.dtype != torch.int64:
            idx = idx.long()
        return torch.gather(input, d, idx)
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
        trace_time_check(gather, 3, False, input, dim, index)
    fn = "gather"
    _same_kind(fn, ("input", "index"), input, index)
    ishape = tuple(int(s) for s in input.shape)
    xshape = tuple(int(s) for s in index.shape)
    nd = len(ishape)
    if nd == 0:
        raise _error(ShapeError, fn, "argument `input` is 0-d", argument="input")
    d = _norm_axis(fn, "dim", dim, nd, f"`input` of shape {_fmt(ishape)}")
    _check_integer(fn, "index", index)
    if len(xshape) != nd:
        hint = None
        if len(xshape) == nd - 1:
            hint = (
                "for one index per row (the q[b, a[b]] pattern) use "
                "shapesafe.ops.take_along(input, index, dim)"
            )
        raise _error(
            ShapeError,
            fn,
            f"argument `index` must have {nd} axes like `input` {_fmt(ishape)}, "
            f"got shape {_fmt(xshape)}",
            hint=hint,
            argument="index",
            expected=f"{nd} axes",
            got=_fmt(xshape),
        )
    for k in range(nd):
        if k == d or xshape[k] == ishape[k]:
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
        raise _error(
            ShapeError,
            fn,
            f"argument `index` axis {k}: expected size {ishape[k]} (as `input` "
            f"{_fmt(ishape)}; only axis {d} may differ), got shape {_fmt(xshape)}",
            hint=hint,
            argument="index",
            axis=k,
            expected=str(ishape[k]),
            got=_fmt(xshape),
        )
    _check_range(fn, "index", index, ishape[d], f"axis {d} of `input`")
    return _gather_impl(input, d, index)


# --------------------------------------------------------------------------------------
# squeeze / unsqueeze / newaxis


def _axes_tuple(function: str, argument: str, dims: object) -> tuple[object, ...]:
    if isinstance(dims, (tuple, list)):
        return tuple(dims)
    return (dims,)


def squeeze(x: A, dim: int | Sequence[int]) -> A:
    """Remove the size-1 axes ``dim`` (an int or a tuple of ints) -- and only those.

    Unlike ``x.squeeze()`` the axes must be named, and unlike ``x.squeeze(dim)`` in
    torch, an axis whose size is not 1 raises instead of being silently kept.

    Examples:
        >>> import numpy as np
        >>> squeeze(np.zeros((10, 1, 4, 1, 1, 6, 2)), (1, 3)).shape
        (10, 4, 1, 6, 2)
    """
    axes = _axes_tuple("squeeze", "dim", dim)
    if not STATE.enabled:
        return _squeeze_impl(x, tuple(int(cast(int, a)) % max(x.ndim, 1) for a in axes))
    if is_compiling():
        trace_time_check(squeeze, 2, False, x, dim)
    fn = "squeeze"
    _kind(fn, "x", x)
    shape = tuple(int(s) for s in x.shape)
    what = f"`x` of shape {_fmt(shape)}"
    if not axes:
        raise _error(ShapeError, fn, "`dim` is empty; name the axes to remove", argument="dim")
    norm = tuple(_norm_axis(fn, "dim", a, len(shape), what) for a in axes)
    if len(set(norm)) != len(norm):
        raise _error(
            ShapeError,
            fn,
            f"`dim`={tuple(int(cast(int, a)) for a in axes)} names the same axis twice for {what}",
            argument="dim",
        )
    for a, n in zip(axes, norm):
        if shape[n] != 1:
            ones = [i for i, s in enumerate(shape) if s == 1]
            if ones:
                hint = f"the size-1 axes of `x` are {tuple(ones)}"
            else:
                hint = "`x` has no size-1 axes"
            hint += f"; torch's x.squeeze({a}) would silently return `x` unchanged"
            raise _error(
                ShapeError,
                fn,
                f"axis {a} of `x` has size {shape[n]}, not 1 ({what})",
                hint=hint,
                argument="x",
                axis=n,
                expected="1",
                got=str(shape[n]),
            )
    return _squeeze_impl(x, norm)


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
    flat: tuple[object, ...] = ()
    for d in dims:
        flat += _axes_tuple("unsqueeze", "dims", d)
    fn = "unsqueeze"
    if STATE.enabled:
        _kind(fn, "x", x)
    out_nd = x.ndim + len(flat)
    if STATE.enabled:
        if is_compiling():
            trace_time_check(_unsqueeze_args, 2, False, x, dims)
        if not flat:
            raise _error(
                ShapeError, fn, "no axes given; name where to insert them", argument="dims"
            )
        what = f"the result ({x.ndim} + {len(flat)} axes)"
        norm = sorted(_norm_axis(fn, "dims", a, out_nd, what) for a in flat)
        if len(set(norm)) != len(norm):
            raise _error(
                ShapeError,
                fn,
                f"dims {tuple(int(cast(int, a)) for a in flat)} name the same result axis "
                f"twice (result has {out_nd} axes)",
                argument="dims",
            )
    else:
        norm = sorted(int(cast(int, a)) % out_nd for a in flat)
    if isinstance(x, torch.Tensor):
        out = x
        for a in norm:
            out = out.unsqueeze(a)
        return out
    return cast(A, np.expand_dims(x, axis=tuple(norm)))


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
        if not STATE.enabled:
            return cast(A, x[key])
        fn = "newaxis"
        _kind(fn, "x", x)
        if is_compiling():
            trace_time_check(_newaxis_args, 2, False, x, key)
        k = key if isinstance(key, tuple) else (key,)
        for i, item in enumerate(k):
            if item is None or item is Ellipsis:
                continue
            if isinstance(item, slice) and item == slice(None):
                continue
            raise _error(
                ShapeError,
                fn,
                f"index {_key_text(k)}: entry {i} is {item!r}; only `:` (keep an axis), "
                "`None`/np.newaxis (insert one) and `...` (keep the rest) are allowed",
                hint="select or slice with ordinary indexing first, then insert axes",
                axis=i,
            )
        n_ellipsis = sum(1 for item in k if item is Ellipsis)
        n_keep = sum(1 for item in k if isinstance(item, slice))
        nd = x.ndim
        shape = _fmt(x.shape)
        if n_ellipsis > 1:
            raise _error(ShapeError, fn, f"index {_key_text(k)} has more than one `...`")
        if n_ellipsis == 0 and n_keep != nd:
            raise _error(
                ShapeError,
                fn,
                f"index {_key_text(k)} keeps {n_keep} ax{'is' if n_keep == 1 else 'es'} "
                f"with `:` but `x` has {nd} (shape {shape})",
                hint='write one `:` per axis of `x`, or `...` for "the rest"; numpy would '
                "silently keep the missing trailing axes",
                expected=f"{nd} axes",
                got=f"{n_keep} axes",
            )
        if n_keep > nd:
            raise _error(
                ShapeError,
                fn,
                f"index {_key_text(k)} keeps {n_keep} axes with `:` but `x` has only {nd} "
                f"(shape {shape})",
                expected=f"at most {nd} axes",
                got=f"{n_keep} axes",
            )
        return cast(A, x[key])


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


# --------------------------------------------------------------------------------------
# reshape / flatten


_TOKEN = re.compile(r"\s*(\.\.\.|\(|\)|[A-Za-z_][A-Za-z0-9_]*|\S+)")
_ELLIPSIS = "..."


def _tokenize_side(pattern: str, side: str) -> tuple[tuple[tuple[str, ...], bool], ...]:
    """Parse one side of a pattern into (names, grouped) pairs."""
    groups: list[tuple[tuple[str, ...], bool]] = []
    current: list[str] | None = None
    pos = 0
    side = side.strip()
    while pos < len(side):
        m = _TOKEN.match(side, pos)
        if m is None:  # pragma: no cover - the regex matches any non-space run
            break
        tok = m.group(1)
        pos = m.end()
        if tok == "(":
            if current is not None:
                raise AnnotationError(f"reshape(): pattern {pattern!r}: nested parentheses")
            current = []
        elif tok == ")":
            if current is None:
                raise AnnotationError(f"reshape(): pattern {pattern!r}: unbalanced `)`")
            groups.append((tuple(current), True))
            current = None
        elif tok == _ELLIPSIS or tok.isidentifier():
            if current is None:
                groups.append(((tok,), False))
            else:
                current.append(tok)
        else:
            raise AnnotationError(
                f"reshape(): pattern {pattern!r}: cannot read {tok!r}; axis names must be "
                "identifiers (sizes go in keyword arguments, e.g. h=4)"
            )
    if current is not None:
        raise AnnotationError(f"reshape(): pattern {pattern!r}: unbalanced `(`")
    return tuple(groups)


@functools.lru_cache(maxsize=256)
def _parse_pattern(
    pattern: str,
) -> tuple[tuple[tuple[tuple[str, ...], bool], ...], tuple[tuple[tuple[str, ...], bool], ...]]:
    if pattern.count("->") != 1:
        raise AnnotationError(
            f"reshape(): pattern {pattern!r} must have the form 'left -> right', "
            "e.g. 'batch h w -> batch (h w)'"
        )
    left_text, right_text = pattern.split("->")
    left = _tokenize_side(pattern, left_text)
    right = _tokenize_side(pattern, right_text)
    for side_name, side in (("left", left), ("right", right)):
        names = [n for g, _ in side for n in g]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise AnnotationError(
                f"reshape(): pattern {pattern!r}: {side_name} side repeats {', '.join(sorted(dup))}"
            )
    for g, grouped in left:
        if grouped and _ELLIPSIS in g:
            raise AnnotationError(
                f"reshape(): pattern {pattern!r}: `...` cannot be split on the left side"
            )
    lnames = [n for g, _ in left for n in g]
    rnames = [n for g, _ in right for n in g]
    if set(lnames) != set(rnames):
        only_l = [n for n in lnames if n not in rnames]
        only_r = [n for n in rnames if n not in lnames]
        parts = []
        if only_l:
            parts.append(f"{', '.join(only_l)} only on the left")
        if only_r:
            parts.append(f"{', '.join(only_r)} only on the right")
        raise AnnotationError(
            f"reshape(): pattern {pattern!r}: both sides must name the same axes "
            f"({'; '.join(parts)})"
        )
    if lnames != rnames:
        raise AnnotationError(
            f"reshape(): pattern {pattern!r} reorders axes ({' '.join(lnames)} -> "
            f"{' '.join(rnames)}); a reshape cannot move axes, it would mix them\n"
            "  hint: permute first (x.permute(...) / np.transpose), or use "
            "einops.rearrange, then reshape"
        )
    return left, right


def _bind_left(
    pattern: str,
    left: tuple[tuple[tuple[str, ...], bool], ...],
    shape: tuple[int, ...],
    sizes: dict[str, int],
) -> tuple[dict[str, int], tuple[int, ...]]:
    fn = "reshape"
    n_fixed = sum(1 for g, _ in left if g != (_ELLIPSIS,))
    has_ellipsis = any(g == (_ELLIPSIS,) for g, _ in left)
    if (has_ellipsis and len(shape) < n_fixed) or (not has_ellipsis and len(shape) != n_fixed):
        want = f"at least {n_fixed}" if has_ellipsis else str(n_fixed)
        raise _error(
            ShapeError,
            fn,
            f"pattern {pattern!r} expects {want} axes, `x` has shape {_fmt(shape)}",
            argument="x",
            expected=f"{want} axes",
            got=_fmt(shape),
        )
    unknown_kw = set(sizes) - {n for g, _ in left for n in g}
    if unknown_kw:
        raise _error(
            ShapeError,
            fn,
            f"size keyword(s) {', '.join(sorted(unknown_kw))} not in pattern {pattern!r}",
        )
    bound: dict[str, int] = {}
    ell: tuple[int, ...] = ()
    axis = 0
    for g, _ in left:
        if g == (_ELLIPSIS,):
            n_ell = len(shape) - n_fixed
            ell = shape[axis : axis + n_ell]
            axis += n_ell
            continue
        size = shape[axis]
        known = [n for n in g if n in sizes]
        missing = [n for n in g if n not in sizes]
        prod = math.prod([sizes[n] for n in known])
        label = " ".join(g)
        if len(missing) > 1:
            raise _error(
                ShapeError,
                fn,
                f"pattern {pattern!r}: cannot infer {' and '.join(missing)} from axis "
                f"{axis} of size {size}",
                hint=f"pass all but one of them, e.g. {missing[0]}=...",
                axis=axis,
            )
        if missing:
            if prod <= 0 or size % prod:
                raise _error(
                    ShapeError,
                    fn,
                    f"pattern {pattern!r}: axis {axis} ({label}) of `x` has size {size}, "
                    f"not divisible by {' * '.join(f'{n}={sizes[n]}' for n in known)}",
                    argument="x",
                    axis=axis,
                    got=_fmt(shape),
                )
            bound[missing[0]] = size // prod
        elif prod != size:
            given = " * ".join(f"{n}={sizes[n]}" for n in known)
            raise _error(
                ShapeError,
                fn,
                f"pattern {pattern!r}: axis {axis} ({label}) of `x` has size {size}, "
                f"expected {given}" + (f" = {prod}" if len(known) > 1 else ""),
                argument="x",
                axis=axis,
                expected=str(prod),
                got=str(size),
            )
        for n in known:
            bound[n] = sizes[n]
        axis += 1
    return bound, ell


def _target_shape(pattern: str, shape: tuple[int, ...], sizes: dict[str, int]) -> tuple[int, ...]:
    # dynamo warns about (and traces through) lru_cache wrappers: call the function itself
    parse = _parse_pattern.__wrapped__ if is_compiling() else _parse_pattern
    left, right = parse(pattern)
    bound, ell = _bind_left(pattern, left, shape, sizes)
    out: list[int] = []
    for g, grouped in right:
        if g == (_ELLIPSIS,) and not grouped:
            out.extend(ell)
            continue
        prod = 1
        for n in g:
            prod *= math.prod(ell) if n == _ELLIPSIS else bound[n]
        out.append(prod)
    return tuple(out)


def _reshape_to(x: A, shape: tuple[int, ...]) -> A:
    if isinstance(x, torch.Tensor):
        return x.reshape(shape)
    return np.reshape(x, shape)


def reshape(x: A, *shape: int | str, keep: int | None = None, **sizes: int) -> A:
    """Reshape without ever mixing the batch axis into the feature axes.

    Two small forms:

    * a pattern in the spirit of einops, naming every axis, where axes may be grouped
      (merged) or split but never reordered::

          reshape(x, "batch h w -> batch (h w)")
          reshape(x, "batch (h w) -> batch h w", h=84)
          reshape(x, "batch ... -> batch (...)")

    * ``reshape(x, *shape, keep=k)``: keep the first ``k`` axes as they are and reshape
      only the rest to ``shape`` (one ``-1`` allowed). ``x.reshape(-1, 84, 84)`` would
      happily split a wrong-sized batch across items; this refuses.

    Examples:
        >>> import torch
        >>> reshape(torch.zeros(32, 84, 84), "batch h w -> batch (h w)").shape
        torch.Size([32, 7056])
        >>> reshape(torch.zeros(32, 7056), 84, 84, keep=1).shape
        torch.Size([32, 84, 84])
    """
    fn = "reshape"
    if STATE.enabled:
        _kind(fn, "x", x)
        if is_compiling():
            trace_time_check(_reshape_args, 4, False, x, shape, keep, sizes)
    xshape: tuple[int, ...] = tuple(int(s) for s in x.shape)
    if len(shape) == 1 and isinstance(shape[0], str):
        if keep is not None:
            raise TypeError("reshape(): `keep` is not used with a pattern")
        return _reshape_to(x, _target_shape(shape[0], xshape, sizes))
    if sizes:
        raise TypeError(
            f"reshape(): size keywords ({', '.join(sizes)}) only go with a pattern string"
        )
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if keep is None:
        raise TypeError(
            "reshape(): pass keep=<number of leading axes to preserve> (usually keep=1 for "
            "the batch axis), or a pattern such as 'batch h w -> batch (h w)'"
        )
    if not STATE.enabled:
        return _reshape_to(x, xshape[:keep] + tuple(int(s) for s in shape))
    if isinstance(keep, bool) or not isinstance(keep, int) or not 0 <= keep <= len(xshape):
        raise _error(
            ShapeError,
            fn,
            f"keep={keep!r} must be an int in 0..{len(xshape)} for `x` of shape {_fmt(xshape)}",
            argument="keep",
        )
    target: list[int] = []
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or int(s) < -1:
            raise _error(ShapeError, fn, f"shape entries must be ints >= -1, got {s!r}")
        target.append(int(s))
    lead, rest = xshape[:keep], xshape[keep:]
    n = math.prod(rest)
    if target.count(-1) > 1:
        raise _error(ShapeError, fn, f"shape {tuple(target)} has more than one -1")
    known = math.prod([t for t in target if t != -1])
    ok = (known > 0 and n % known == 0) if -1 in target else known == n
    if -1 in target and known == 0:
        ok = False
    if not ok:
        hint = f"keep={keep} preserves {_fmt(lead)}; the rest {_fmt(rest)} has {n} elements"
        total = math.prod(xshape)
        if known and total % known == 0 and -1 not in target and keep:
            hint += (
                f"; x.reshape(-1, {', '.join(map(str, target))}) would have silently "
                "mixed items across the kept axes"
            )
        raise _error(
            ShapeError,
            fn,
            f"cannot reshape axes {keep}.. of `x` (shape {_fmt(xshape)}) into "
            f"{tuple(target)}: {n} elements per item, {known} in the target",
            hint=hint,
            argument="x",
            expected=str(tuple(target)),
            got=_fmt(xshape),
        )
    if -1 in target:
        target[target.index(-1)] = n // known
    return _reshape_to(x, lead + tuple(target))


def flatten(x: A, keep: int = 1) -> A:
    """Flatten all axes after the first ``keep`` into one (``nn.Flatten``'s default).

    Raises when ``x`` has no axes left to flatten (e.g. an already flat ``(batch,)``
    vector), instead of inventing a size-1 feature axis.

    Examples:
        >>> import torch
        >>> flatten(torch.zeros(32, 4, 84, 84)).shape
        torch.Size([32, 28224])
    """
    if STATE.enabled:
        _kind("flatten", "x", x)
    xshape: tuple[int, ...] = tuple(int(s) for s in x.shape)
    if STATE.enabled:
        fn = "flatten"
        if is_compiling():
            trace_time_check(flatten, 2, False, x, keep)
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
            raise _error(ShapeError, fn, f"keep={keep!r} must be an int >= 0", argument="keep")
        if len(xshape) <= keep:
            raise _error(
                ShapeError,
                fn,
                f"`x` has shape {_fmt(xshape)}: no axes left to flatten after keeping "
                f"{keep} leading ax{'is' if keep == 1 else 'es'}",
                hint="`x` may already be flat; use unsqueeze(x, -1) if you need a "
                "trailing feature axis of size 1",
                argument="x",
                expected=f"more than {keep} axes",
                got=_fmt(xshape),
            )
    return _reshape_to(x, (*xshape[:keep], math.prod(xshape[keep:])))
