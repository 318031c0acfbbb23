"""Validation shared by the checked ops: array kind, axis arguments, index dtype/range.

Every helper takes the public function's name (``function``) from the op that calls it:
the op is the API boundary and names itself once. (A try/except re-raise boundary would
do the same, but under torch.compile it would be traced too; passing a constant is free.)

Written for torch.compile: on the success path these helpers only compare sizes and
never format text or call ``int()`` on a size, so they trace with symbolic (SymInt)
sizes without graph breaks or specialization -- the comparisons become dynamo guards.
Messages are formatted only on the failure path, which under compile runs at trace
time inside :func:`shapesafe._compile.trace_time_check`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import torch

from shapesafe._compile import is_compiling
from shapesafe._format import error, fmt_dtype, fmt_shape, fmt_value, plural
from shapesafe.errors import DtypeError, ShapeError

A = TypeVar("A", torch.Tensor, "np.ndarray[Any, Any]")

_LABEL = {"torch": "a torch.Tensor", "numpy": "a numpy.ndarray"}

# torch has no kernels (min/max, gather) for these: their indices are converted first
_UNSIGNED_WIDE = (torch.uint16, torch.uint32, torch.uint64)


def array_kind(function: str, argument: str, x: object) -> str:
    """``"torch"`` or ``"numpy"``; anything else is a DtypeError naming the argument."""
    if isinstance(x, torch.Tensor):
        return "torch"
    if isinstance(x, np.ndarray):
        return "numpy"
    raise error(
        DtypeError,
        "must be a torch.Tensor or numpy.ndarray",
        function=function,
        argument=argument,
        expected="torch.Tensor or numpy.ndarray",
        got=fmt_value(x),
        hint="convert it first, e.g. torch.as_tensor(x) or np.asarray(x)",
    )


def same_kind(function: str, names: Sequence[str], *xs: object) -> str:
    kinds = [array_kind(function, n, x) for n, x in zip(names, xs)]
    if kinds[0] != kinds[-1]:
        described = ", ".join(f"`{n}` is {_LABEL[k]}" for n, k in zip(names, kinds))
        raise error(
            DtypeError,
            f"cannot mix torch tensors and numpy arrays: {described}",
            function=function,
            argument=names[-1],
            expected=_LABEL[kinds[0]],
            got=_LABEL[kinds[-1]],
            hint="convert one side, e.g. torch.as_tensor(index) or tensor.numpy()",
        )
    return kinds[0]


def is_int(value: object) -> bool:
    """A Python or numpy integer, never a bool (``True`` is not an axis or a size)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def norm_axis(
    function: str, argument: str, axis: object, ndim: int, what: str, shape: Any = None
) -> int:
    """``axis`` in ``[-ndim, ndim)`` as a non-negative index; ``what`` names the array
    (``"`x`"``, ``"the result"``) and ``shape`` is its shape, for the message only
    (formatted on failure: under compile the success path must not format sizes)."""
    if not is_int(axis):
        raise error(
            DtypeError,
            "must be an int",
            function=function,
            argument=argument,
            expected="an int",
            got=fmt_value(axis),
        )
    a = int(axis)  # type: ignore[call-overload]
    if not -ndim <= a < ndim:
        # usually the array has another rank than the code assumes: a shape problem
        raise error(
            ShapeError,
            f"{a} is out of range for {what}"
            + (f" of shape {fmt_shape(shape)}" if shape is not None else "")
            + f" with {plural(ndim, 'axis')}",
            function=function,
            argument=argument,
            expected=f"an int in {-ndim}..{ndim - 1}" if ndim else "no axis (0-d)",
            got=str(a),
        )
    return int(a % ndim)


def check_integer(function: str, argument: str, x: torch.Tensor | np.ndarray[Any, Any]) -> None:
    if isinstance(x, torch.Tensor):
        dt = x.dtype
        if not (dt.is_floating_point or dt.is_complex or dt == torch.bool):
            return
    elif np.issubdtype(x.dtype, np.integer):
        return
    hint = (
        f"indices must be integers; if `{argument}` holds whole numbers, convert it with "
        f"{argument}.long() (torch) or {argument}.astype(np.int64) (numpy)"
    )
    if fmt_dtype(x.dtype) == "bool":
        hint = (
            f"`{argument}` is a boolean mask; to select with a mask use values[mask], "
            f"or convert it with {argument}.long() if it holds 0/1 indices"
        )
    raise error(
        DtypeError,
        "must have an integer dtype",
        function=function,
        argument=argument,
        expected="an integer dtype",
        got=fmt_dtype(x.dtype),
        hint=hint,
    )


def as_long(index: torch.Tensor) -> torch.Tensor:
    return index if index.dtype == torch.int64 else index.long()


def check_range(
    function: str,
    argument: str,
    index: torch.Tensor | np.ndarray[Any, Any],
    size: int,
    target: str,
) -> None:
    """Refuse index entries outside ``[0, size)`` (a CUDA assert or garbage otherwise)."""
    if isinstance(index, torch.Tensor):
        # data-dependent: not while compiling (torch.gather's own bounds check remains),
        # nor on the shape-only meta stand-ins of a trace-time check
        if index.numel() == 0 or is_compiling() or index.device.type == "meta":
            return
        if index.dtype == torch.uint64:
            # no CPU min/max kernel; entries >= 2**63 read as negative int64: refuse them
            # here, reporting their unsigned value, instead of letting them wrap around
            signed = index.view(torch.int64)
            huge = signed < 0
            if bool(huge.any()):
                pos = tuple(int(p) for p in huge.nonzero()[0].tolist())
                _range_error(function, argument, pos, int(signed[huge][0]) + 2**64, size, target)
            index = signed
        elif index.dtype in _UNSIGNED_WIDE:
            index = index.to(torch.int64)
        lo, hi = (int(v) for v in torch.aminmax(index))
        if lo >= 0 and hi < size:
            return
        bad = lo if lo < 0 else hi
        pos = tuple(int(p) for p in (index == bad).nonzero()[0].tolist())
    else:
        if index.size == 0:
            return
        lo, hi = int(index.min()), int(index.max())
        if lo >= 0 and hi < size:
            return
        bad = lo if lo < 0 else hi
        pos = tuple(int(p) for p in np.argwhere(index == bad)[0])
    _range_error(function, argument, pos, bad, size, target)


def _range_error(
    function: str, argument: str, pos: tuple[int, ...], bad: int, size: int, target: str
) -> None:
    hint = (
        "negative indices are not wrapped around here (torch.gather refuses them too); "
        f"use {argument} % {size} if you really mean counting from the end"
        if bad < 0
        else "check that the index was built for this tensor (e.g. the action space size)"
    )
    raise error(
        ShapeError,
        f"entry {bad} at position {pos} is out of range for {target} of size {size}",
        function=function,
        argument=argument,
        expected=f"0 <= {argument} < {size}",
        got=str(bad),
        hint=hint,
    )
