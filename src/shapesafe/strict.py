"""Strict broadcasting: make implicit broadcasting in your own torch code raise.

``rewards + gamma * q_next`` with ``rewards`` of shape ``(B,)`` and ``q_next`` of shape
``(B, 1)`` silently gives a ``(B, B)`` matrix; ``F.mse_loss(pred (B, 1), target (B,))``
only warns. Inside :func:`strict_broadcasting` both raise a
:class:`~shapesafe.BroadcastError` naming the op, the shapes and your source line.

How it works: a :class:`torch.overrides.TorchFunctionMode` sees every torch call made
while it is active. For elementwise ops (``+ - * / ** == < ...``, ``torch.where``,
``lerp``, ``addcmul``, ``masked_fill``, ``clamp`` with tensor bounds, ``isclose`` /
``allclose``, the two-tensor forms of ``torch.max`` / ``torch.min``, their in-place
forms) and elementwise losses it compares the operands' shapes:

* Python scalars and 0-d tensors never raise;
* operands of different rank (``(B,)`` with ``(B, 1)``) always raise ("rank promotion");
* operands of equal rank where a size-1 axis would be expanded (``(B, A)`` with
  ``(B, 1)``, the ``x - x.mean(-1, keepdim=True)`` idiom) are allowed by default and
  refused with ``allow_size_one=False``;
* losses (``mse_loss``, ``l1_loss``, ``binary_cross_entropy``, ...) need exactly equal
  input and target shapes.

Only *your* code is checked: an op called from inside torch itself (``torch.distributions``,
optimizers, autograd, ``nn`` layers) or from shapesafe is let through, so whole training
loops run unchanged when their shapes are right. Explicit broadcasting (``expand``,
``expand_as``, ``broadcast_to``, ``torch.broadcast_tensors``) produces equal shapes and so
passes; :func:`allow_broadcasting` switches the check off for a block or a function.
"""

from __future__ import annotations

import linecache
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from types import FrameType
from typing import Any, TypeVar, cast, overload

import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode

from shapesafe._compile import is_compiling, trace_time_check
from shapesafe._config import STATE
from shapesafe._format import fmt_shape, fmt_value
from shapesafe._strict_ops import LOSS_FNS_BY_NAME as _LOSS_FNS_BY_NAME
from shapesafe._strict_ops import OPS_BY_NAME as _OPS_BY_NAME
from shapesafe.errors import BroadcastError, UsageError

__all__ = ["allow_broadcasting", "strict_broadcasting"]

F = TypeVar("F", bound=Callable[..., Any])

# --------------------------------------------------------------------------------------
# who called: user code, or library internals?

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_SHAPESAFE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# Files that only forward a user's call to the op (skipped when looking for the caller).
_FORWARDERS = frozenset(
    os.path.join(os.path.dirname(torch.__file__), *rel.split("/"))
    for rel in (
        "overrides.py",
        "_tensor.py",
        "functional.py",
        "_jit_internal.py",
        "nn/functional.py",
        "nn/modules/module.py",
        "nn/modules/loss.py",
        "utils/_contextlib.py",
    )
)
_STRICT_FILE = os.path.abspath(__file__)
# the frames between an op and the user's code under torch.compile: this module and
# the trace-time bridge (shapesafe._compile.trace_time_check)
_TRACE_BRIDGE = frozenset({_STRICT_FILE, os.path.abspath(trace_time_check.__code__.co_filename)})


def _user_frame(start: FrameType | None) -> FrameType | None:
    """The frame of the code that called the op, or ``None`` if that code is library
    internals (torch itself or shapesafe), which may broadcast as it pleases."""
    f = start
    while f is not None:
        filename = f.f_code.co_filename
        if filename in _FORWARDERS or filename == _STRICT_FILE:
            f = f.f_back
            continue
        if filename.startswith(_TORCH_DIR) or filename.startswith(_SHAPESAFE_DIR):
            return None
        return f
    return None


def _where(filename: str, lineno: int) -> str:
    text = f"at {filename}:{lineno}"
    line = linecache.getline(filename, lineno).strip()
    if line:
        text += f"\n    {line}"
    return text


# --------------------------------------------------------------------------------------
# the mode

_LOCAL = threading.local()


def _allowed() -> bool:
    return bool(getattr(_LOCAL, "allow", 0))


def _broadcast(shapes: Sequence[torch.Size]) -> torch.Size | None:
    try:
        return cast(torch.Size, torch.broadcast_shapes(*shapes))  # type: ignore[no-untyped-call]
    except RuntimeError:
        return None


def _trailing_one_hint(shapes: Sequence[torch.Size]) -> str | None:
    for a in shapes:
        for b in shapes:
            if len(a) == len(b) + 1 and a[-1] == 1 and a[:-1] == b:
                return (
                    f"the {fmt_shape(a)} operand has a trailing size-1 axis the {fmt_shape(b)} one "
                    "lacks; squeeze it (.squeeze(-1)) or unsqueeze the other (.unsqueeze(-1))"
                )
    return None


_ESCAPE = (
    "if the broadcast is intended, make it explicit (.expand_as(), torch.broadcast_to()) "
    "or wrap the line in shapesafe.allow_broadcasting()"
)


class _StrictBroadcastMode(TorchFunctionMode):
    def __init__(self, allow_size_one: bool) -> None:
        super().__init__()
        self.allow_size_one = allow_size_one

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        if kwargs is None:
            kwargs = {}
        try:
            key = func.__qualname__  # not the function object: see _OPS_BY_NAME
        except AttributeError:
            return func(*args, **kwargs)
        label = _OPS_BY_NAME.get(key)
        if label is not None:
            # Fast path for the common binary call: a scalar operand or equal shapes.
            if len(args) != 2 or kwargs:
                self._check_elementwise(label, args, kwargs)
            else:
                a, b = args
                if (
                    isinstance(a, Tensor)
                    and isinstance(b, Tensor)
                    and a.shape != b.shape
                    and a.ndim
                    and b.ndim
                ):
                    self._check_elementwise(label, args, kwargs)
        elif key in _LOSS_FNS_BY_NAME:
            self._check_loss(key, args, kwargs)
        return func(*args, **kwargs)

    def _check_elementwise(
        self, label: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> None:
        tensors = [a for a in args if isinstance(a, torch.Tensor) and a.ndim]
        for k, v in kwargs.items():
            if k != "out" and isinstance(v, torch.Tensor) and v.ndim:
                tensors.append(v)
        if len(tensors) < 2:
            return
        if is_compiling():
            operands = tensors[:4]  # trace_time_check takes 6 values: label, flag, tensors
            trace_time_check(
                _explain_at_trace_time,
                2 + len(operands),
                True,
                label,
                self.allow_size_one,
                *operands,
            )
            return
        error = _elementwise_error(
            label, [t.shape for t in tensors], self.allow_size_one, sys._getframe
        )
        if error is not None:
            raise error from None

    def _check_loss(self, key: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        name, argnames = _LOSS_FNS_BY_NAME[key]
        values = []
        for i, argname in enumerate(argnames):
            v = args[i] if i < len(args) else kwargs.get(argname)
            if not isinstance(v, torch.Tensor):
                return
            values.append(v)
        if is_compiling():
            trace_time_check(_explain_at_trace_time, 2 + len(values), True, key, None, *values)
            return
        error = _loss_error(name, argnames, [v.shape for v in values], sys._getframe)
        if error is not None:
            raise error from None


# The frame of the user's code: found from the interpreter's frames when eager, from
# dynamo's tracer chain when compiling (shapes are known at trace time, so the check runs
# once, at compile time, through dynamo's ``comptime``).
_Where = Callable[[], "FrameType | None"]


def _elementwise_error(
    label: str, shapes: Sequence[torch.Size], allow_size_one: bool, frame_of: _Where | str
) -> BroadcastError | None:
    first = shapes[0]
    if all(s == first for s in shapes[1:]):
        return None
    rank_promotion = len({len(s) for s in shapes}) > 1
    if not rank_promotion and allow_size_one:
        return None
    result = _broadcast(shapes)
    if result is None:  # not broadcastable at all: torch raises its own error
        return None
    if _allowed():
        return None
    where = _locate(frame_of)
    if where is None:
        return None
    listed = " and ".join(fmt_shape(s) for s in shapes)
    if rank_promotion:
        kind = "rank promotion: operands of different rank"
        hint = _trailing_one_hint(shapes) or "make the shapes equal"
    else:
        kind = "size-1 expansion, refused under allow_size_one=False"
        hint = "make the shapes equal"
    hint = f"{hint}; {_ESCAPE}"
    return BroadcastError(
        f"strict_broadcasting: {label} would broadcast shapes {listed} to "
        f"{fmt_shape(result)} ({kind})\n  {where}\n  hint: {hint}",
        function=label,
        expected=fmt_shape(first),
        got=listed,
        hint=hint,
    )


def _loss_error(
    name: str, argnames: Sequence[str], shapes: Sequence[torch.Size], frame_of: _Where | str
) -> BroadcastError | None:
    if all(s == shapes[0] for s in shapes[1:]) or _allowed():
        return None
    where = _locate(frame_of)
    if where is None:
        return None
    described = ", ".join(f"{n} {fmt_shape(s)}" for n, s in zip(argnames, shapes))
    result = _broadcast(shapes)
    then = (
        f"torch would broadcast them to {fmt_shape(result)}"
        if result is not None
        else "they are not even broadcastable"
    )
    hint = (
        f"{_trailing_one_hint(shapes) or 'give both the same shape'}; "
        "a loss needs input and target of exactly the same shape"
    )
    return BroadcastError(
        f"strict_broadcasting: {name}() got {described}: {then}, averaging over "
        f"pairs that do not belong together\n  {where}\n  hint: {hint}",
        function=name,
        argument=argnames[1],
        hint=hint,
        expected=fmt_shape(shapes[0]),
        got=fmt_shape(shapes[1]),
    )


def _locate(frame_of: _Where | str) -> str | None:
    """``at file:line`` of the user's code; ``None`` for library internals."""
    if isinstance(frame_of, str):
        return frame_of
    frame = _user_frame(frame_of())
    return None if frame is None else _where(frame.f_code.co_filename, frame.f_lineno)


def _trace_where(ctx: Any) -> str | None:
    """Like ``_user_frame`` + ``_where``, over dynamo's chain of inlining tracers."""
    tx = getattr(ctx, "_ComptimeContext__tx", None)
    if tx is None:  # pragma: no cover - a torch without this private attribute
        return "(source line unknown under torch.compile)"
    while tx is not None:
        code = getattr(tx, "f_code", None)
        if code is None:  # pragma: no cover
            break
        filename = code.co_filename
        if filename in _FORWARDERS or filename in _TRACE_BRIDGE:
            tx = getattr(tx, "parent", None)
            continue
        if filename.startswith(_TORCH_DIR) or filename.startswith(_SHAPESAFE_DIR):
            return None
        lineno = getattr(tx, "lineno", None)
        if lineno is None:  # pragma: no cover
            return f"at {filename} (under torch.compile)"
        return _where(filename, int(lineno))
    return "(source line unknown under torch.compile)"


def _explain_at_trace_time(
    ctx: Any, label: str, allow_size_one: bool | None, *operands: Any
) -> None:
    """The eager checks, at trace time (``trace_time_check``); ``label`` is an op label,
    or a loss function's name when ``allow_size_one`` is None."""
    where = _trace_where(ctx)
    if where is None:
        return
    shapes = [t.shape for t in operands]
    if allow_size_one is None:
        name, argnames = _LOSS_FNS_BY_NAME[label]
        error = _loss_error(name, argnames, shapes, where)
    else:
        error = _elementwise_error(label, shapes, allow_size_one, where)
    if error is not None:
        raise error


# --------------------------------------------------------------------------------------
# public API


@contextmanager
def _strict(allow_size_one: bool) -> Iterator[None]:
    if not STATE.enabled:
        yield
        return
    with _StrictBroadcastMode(allow_size_one):
        yield


@overload
def strict_broadcasting(func: F, /) -> F: ...
@overload
def strict_broadcasting(
    func: None = None, /, *, allow_size_one: bool = True
) -> AbstractContextManager[None]: ...
def strict_broadcasting(func: Any = None, /, *, allow_size_one: bool = True) -> Any:
    """Refuse implicit broadcasting in torch ops, as a context manager or decorator.

    Inside the block (or decorated function), an elementwise torch op or loss whose
    tensor operands have different shapes raises :class:`~shapesafe.BroadcastError`
    naming the op, the shapes and your source line, instead of silently broadcasting.
    Scalars and 0-d tensors always pass. Operands of different rank always raise;
    equal-rank expansion of size-1 axes (``(B, A)`` with ``(B, 1)``) raises only with
    ``allow_size_one=False``. Ops inside torch and shapesafe are not checked.

    Does nothing when shapesafe checks are disabled (:func:`shapesafe.disable`) at entry.

    Examples:
        >>> import torch
        >>> rewards, q_next = torch.zeros(4), torch.zeros(4, 1)
        >>> with strict_broadcasting():
        ...     td = rewards + 0.99 * q_next  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        shapesafe.BroadcastError: strict_broadcasting: `+` (add) would broadcast ...
    """
    if func is not None:
        if not callable(func):
            raise UsageError(
                "strict_broadcasting() takes a function or keyword options only, got "
                + fmt_value(func),
                function="strict_broadcasting",
                argument="func",
                expected="a function, or no positional argument",
                got=fmt_value(func),
            )
        return _strict(allow_size_one)(func)
    return _strict(allow_size_one)


@contextmanager
def _allow() -> Iterator[None]:
    _LOCAL.allow = getattr(_LOCAL, "allow", 0) + 1
    try:
        yield
    finally:
        _LOCAL.allow -= 1


@overload
def allow_broadcasting(func: F, /) -> F: ...
@overload
def allow_broadcasting(func: None = None, /) -> AbstractContextManager[None]: ...
def allow_broadcasting(func: Any = None, /) -> Any:
    """Let implicit broadcasting through inside :func:`strict_broadcasting` (this thread).

    Use it as a context manager around a line that broadcasts on purpose, or as a
    decorator on a function that does.

    Examples:
        >>> import torch
        >>> with strict_broadcasting(), allow_broadcasting():
        ...     (torch.zeros(4) + torch.zeros(4, 1)).shape
        torch.Size([4, 4])
    """
    if func is not None:
        return _allow()(func)
    return _allow()
