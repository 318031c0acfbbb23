"""The torch.compile bridge shared by the checker, the checked ops and strict mode.

API (for every module that checks shapes; nothing here is public)::

    is_compiling() -> bool
        True while dynamo traces (``torch.compiler.is_compiling``).
    trace_time_check(check, n, pass_ctx, v0, ..., v5)
        Call only while compiling: runs ``check(*stand_ins)`` ONCE, at trace time,
        and lets a ShapesafeError it raises reach the caller of the compiled function
        as itself (catchable with ``except shapesafe.ShapeError``).
    passthrough()                  (context manager)
        Wrap any code that runs inside a dynamo ``comptime`` callback and may raise a
        ShapesafeError (the checker's own comptime hook uses it): the error is re-raised
        through :func:`compiled_error`.
    compiled_error(err) -> ShapesafeError
        ``err`` as an instance of a subclass of its own class that dynamo lets through.
    comptime_value(var), comptime_value_deep(var)
        Stand-ins of a dynamo variable: a meta tensor of its traced sizes, a constant,
        or an ``Opaque`` marker (``shapesafe._checker.match``); ``_deep`` rebuilds
        tuples, lists and dicts.

Why checks run at trace time: a shape check written in plain Python
(``if x.shape[0] != n: raise``) does trace under dynamo, but formatting the message
(``str`` of a tuple of SymInts) and constructing our exception inside the traced region
both break the graph or crash (dynamo cannot trace ``super().__init__`` of an exception
with fields, and under ``fullgraph=True`` any exception that leaves the frame becomes
``Unsupported: Observed exception``). So checks that need more than integer comparisons
run **once, at trace time**, through dynamo's ``comptime`` hook: :func:`trace_time_check`
hands the check stand-ins of the traced values -- tensors become ``meta`` tensors of their
(hinted) sizes, constants stay constants, anything else becomes an ``Opaque``
marker -- and a wrong shape stops compilation with shapesafe's own message. Nothing of
this runs per call. The code after the trace-time check may still compare sizes (plain
``==`` on SymInts, or ``torch._check``): under dynamic shapes those comparisons become
*guards*, so a later call whose shapes break them recompiles -- and the recompilation
runs the trace-time check again, on the new sizes, which raises. That is how a wrong
batch after a good one is still caught without any per-call cost.

Why errors are re-classed (``compiled_error``): dynamo wraps every exception raised
while it traces into ``InternalTorchDynamoError`` (message intact, the original only in
``__context__``), so ``except shapesafe.ShapeError`` around a compiled call caught
nothing. ``torch._dynamo.convert_frame`` re-raises a short list of types unwrapped --
its own ``Unsupported``/``UserError`` and the builtins ``AssertionError`` and
``IndexError``. ``UserError`` and ``Unsupported`` are treated as graph breaks inside the
tracer (dynamo would then fall back and the error could be swallowed or retried), so
the error is re-raised as an instance of ``<its class> + AssertionError``: same name,
same module, same fields, an ``isinstance`` of every shapesafe class the original was,
and unwrapped by dynamo on every backend, with and without ``fullgraph``. Dynamo appends
the user's source line (``from user code: ...``) to the message, which we keep (it is
where the check failed), minus its "please report to PyTorch" paragraph. Pickling gives
back the original class. The cost is zero on the success path: this runs only when a
check has already failed.

The stand-in builders read dynamo's VariableTrackers, which are internal API; every access
is guarded and falls back to a plainer stand-in, so a torch upgrade degrades the message,
never the check.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch

from shapesafe.errors import ShapesafeError

__all__ = [
    "compiled_error",
    "comptime_value",
    "comptime_value_deep",
    "is_compiling",
    "passthrough",
    "trace_time_check",
]


def is_compiling() -> bool:
    return bool(torch.compiler.is_compiling())


# --------------------------------------------------------------------------------------
# errors that survive torch.compile

_VERBOSE_NOTE = "\nSet TORCHDYNAMO_VERBOSE=1"
_USER_CODE = "\nfrom user code:\n"
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_COMPILED_CLASSES: dict[type[ShapesafeError], type[ShapesafeError]] = {}
_COMPILED_LOCK = threading.Lock()


class _PassesDynamo(AssertionError):
    """Mixin for the re-classed errors (see the module docstring for why AssertionError)."""

    _shapesafe_base: type[ShapesafeError]

    def __str__(self) -> str:
        return _user_text(str(self.args[0]) if self.args else "")


def _user_text(text: str) -> str:
    """Dynamo's additions to a message, trimmed to what helps the user: the "from user
    code" frames outside shapesafe, without the "report this to PyTorch" paragraph."""
    cut = text.find(_VERBOSE_NOTE)
    if cut >= 0:
        text = text[:cut]
    head, sep, frames = text.partition(_USER_CODE)
    if not sep:
        return text.rstrip("\n")
    kept = [
        frame
        for frame in re.split(r"(?m)^(?=\s*File \")", frames)
        if frame.strip() and _PACKAGE_DIR not in frame.split("\n", 1)[0]
    ]
    if not kept:
        return head.rstrip("\n")
    return (head + sep + "".join(kept)).rstrip("\n")


def _reduce_compiled(err: Any) -> tuple[Any, ...]:
    # unpickle as the plain class: the re-classed subclass is made at run time
    from shapesafe.errors import _rebuild

    return (_rebuild, (err._shapesafe_base, err.message, err._fields()))


def _compiled_class(cls: type[ShapesafeError]) -> type[ShapesafeError]:
    with _COMPILED_LOCK:
        sub = _COMPILED_CLASSES.get(cls)
        if sub is None:
            sub = type(
                cls.__name__,
                (cls, _PassesDynamo),
                {
                    "__module__": cls.__module__,
                    "__qualname__": cls.__qualname__,
                    "__doc__": cls.__doc__,
                    "_shapesafe_base": cls,
                    # the class's own dict: these must win over ShapesafeError's in the MRO
                    "__reduce__": _reduce_compiled,
                    "message": property(_PassesDynamo.__str__),
                },
            )
            _COMPILED_CLASSES[cls] = sub
        return sub


def compiled_error(err: ShapesafeError) -> ShapesafeError:
    """``err`` re-classed so that torch.compile re-raises it unwrapped (same fields)."""
    if isinstance(err, _PassesDynamo):
        return err
    new = _compiled_class(type(err))(err.message, **err._fields())
    new.__traceback__ = err.__traceback__
    return new


@contextlib.contextmanager
def passthrough() -> Iterator[None]:
    """Inside a dynamo ``comptime`` callback: let a ShapesafeError reach the user as is."""
    try:
        yield
    except ShapesafeError as err:
        raise compiled_error(err) from None


# --------------------------------------------------------------------------------------
# stand-ins of traced values


def _concrete_meta(fake: torch.Tensor) -> torch.Tensor:
    sizes = []
    for s in fake.shape:
        if isinstance(s, torch.SymInt):
            hint = getattr(s.node, "hint", None)
            sizes.append(int(hint) if hint is not None else 0)
        else:
            sizes.append(int(s))
    return torch.empty(sizes, dtype=fake.dtype, device="meta")


def comptime_value(var: Any) -> Any:
    from shapesafe._checker.match import Opaque  # lazy: the checker imports this module

    try:
        fake = var.as_fake()
    except Exception:
        fake = None
    if isinstance(fake, torch.Tensor):
        return _concrete_meta(fake)
    try:
        return var.as_python_constant()
    except Exception:
        return Opaque(var.python_type())


def _vt_value(vt: Any) -> Any:
    """A stand-in of one dynamo variable for explaining a failure: tensors become meta
    tensors, symbolic scalars their traced value, tuples/lists/dicts are rebuilt item by
    item (so ``tuple[Float[...], ...]`` and ``*args`` can be explained), constants stay."""
    from torch._dynamo.variables.dicts import ConstDictVariable
    from torch._dynamo.variables.lists import BaseListVariable

    from shapesafe._checker.match import Opaque  # lazy: the checker imports this module

    try:
        python_type = vt.python_type()
    except Exception:
        python_type = object
    try:
        if vt.is_python_constant():
            return vt.as_python_constant()
    except Exception:
        pass
    if isinstance(vt, BaseListVariable) and python_type in (tuple, list):
        return python_type(_vt_value(item) for item in vt.items)
    if isinstance(vt, ConstDictVariable) and python_type is dict:
        out = {}
        for key, item in vt.items.items():
            try:
                k = key.vt.as_python_constant()
            except Exception:
                return Opaque(python_type)
            out[k] = _vt_value(item)
        return out
    try:
        fake = vt.as_proxy().node.meta["example_value"]
    except Exception:
        return Opaque(python_type)
    if isinstance(fake, torch.Tensor):
        if isinstance(python_type, type) and issubclass(python_type, torch.Tensor):
            return _concrete_meta(fake)
        return Opaque(python_type)  # an unspecialized Python scalar, traced as a tensor
    if isinstance(fake, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        hint = getattr(fake.node, "hint", None)
        return Opaque(python_type) if hint is None else hint
    return Opaque(python_type)


def comptime_value_deep(var: Any) -> Any:
    try:
        return _vt_value(var._i_will_not_complain_if_bc_breaks_VariableTracker())
    except Exception:  # pragma: no cover - dynamo internals changed: the plain stand-in
        return comptime_value(var)


def trace_time_check(
    check: Callable[..., object],
    n: int,
    pass_ctx: bool,
    v0: Any = None,
    v1: Any = None,
    v2: Any = None,
    v3: Any = None,
    v4: Any = None,
    v5: Any = None,
) -> None:
    """Call only while compiling: run ``check(*values)`` once, at trace time (dynamo
    ``comptime``), on stand-ins of the first ``n`` values -- tensors become meta tensors
    of their traced sizes, constants stay as they are -- so that a wrong shape stops
    compilation with shapesafe's own message (and costs nothing per call). The error
    reaches the caller of the compiled function as itself (:func:`compiled_error`). With
    ``pass_ctx``, ``check`` gets dynamo's comptime context first."""
    from torch._dynamo.comptime import comptime

    comptime(_run_trace_time_check)


def _run_trace_time_check(ctx: Any) -> None:
    check = ctx.get_local("check").as_python_constant()
    n = int(ctx.get_local("n").as_python_constant())
    values = [comptime_value(ctx.get_local(f"v{i}")) for i in range(n)]
    with passthrough():
        if ctx.get_local("pass_ctx").as_python_constant():
            check(ctx, *values)
        else:
            check(*values)
