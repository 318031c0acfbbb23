"""The torch.compile bridge shared by the checker, the checked ops and strict mode.

Why this exists: a shape check written in plain Python (``if x.shape[0] != n: raise``)
does trace under dynamo, but formatting the message (``str`` of a tuple of SymInts) and
raising our exception inside the traced region both break the graph or crash. So checks
that need more than integer comparisons run **once, at trace time**, through dynamo's
``comptime`` hook: :func:`trace_time_check` hands the check stand-ins of the traced
values -- tensors become ``meta`` tensors of their (hinted) sizes, constants stay
constants, anything else becomes an :class:`Opaque` marker -- and a wrong shape stops
compilation with shapesafe's own message. Nothing of this runs per call.

The stand-in builders read dynamo's VariableTrackers, which are internal API; every access
is guarded and falls back to a plainer stand-in, so a torch upgrade degrades the message,
never the check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from shapesafe._spec import Opaque

__all__ = ["comptime_value", "comptime_value_deep", "is_compiling", "trace_time_check"]


def is_compiling() -> bool:
    return bool(torch.compiler.is_compiling())


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
    check: Callable[..., None],
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
    compilation with shapesafe's own message (and costs nothing per call). With
    ``pass_ctx``, ``check`` gets dynamo's comptime context first."""
    from torch._dynamo.comptime import comptime

    comptime(_run_trace_time_check)


def _run_trace_time_check(ctx: Any) -> None:
    check = ctx.get_local("check").as_python_constant()
    n = int(ctx.get_local("n").as_python_constant())
    values = [comptime_value(ctx.get_local(f"v{i}")) for i in range(n)]
    if ctx.get_local("pass_ctx").as_python_constant():
        check(ctx, *values)
    else:
        check(*values)
