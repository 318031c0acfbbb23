"""Strict broadcasting: whose code called the op, and where.

An op called from torch itself (optimizers, autograd, ``nn`` layers) or from shapesafe
may broadcast as it pleases; only the user's own lines are checked. Eagerly the caller
is found by walking the interpreter's frames past the files that merely forward a call
(``torch/_tensor.py``, ``nn/functional.py``, the fast mechanism's wrappers, ...); under
``torch.compile`` by walking dynamo's chain of inlining tracers. Split out of
:mod:`shapesafe.strict` (the mode); the messages are in :mod:`shapesafe._strict_errors`.
"""

from __future__ import annotations

import linecache
import os
from collections.abc import Callable
from types import FrameType
from typing import Any

import torch

from shapesafe import _strict_fast
from shapesafe._compile import trace_time_check

__all__ = ["locate", "trace_where", "user_frame", "where"]

_Where = Callable[[], "FrameType | None"]

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
_STRICT_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "strict.py")
# the message builders (shapesafe._strict_errors) call _locate
_ERRORS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_strict_errors.py")
# the wrappers of the fast mechanism forward the user's call, like _FORWARDERS; and
# this module's own _locate is the first frame seen
_FAST_FILE = os.path.abspath(_strict_fast.FAST_FILE)
_WHERE_FILE = os.path.abspath(__file__)
# the frames between an op and the user's code under torch.compile: this module and
# the trace-time bridge (shapesafe._compile.trace_time_check)
_TRACE_BRIDGE = frozenset(
    {
        _STRICT_FILE,
        _ERRORS_FILE,
        _WHERE_FILE,
        os.path.abspath(trace_time_check.__code__.co_filename),
    }
)


# torch.distributions methods whose own arithmetic is checked when the user calls them:
# there the value the user passed meets the parameters, and a (B, 1) value against a
# (B,) batch broadcasts to a (B, B) log-prob without a word (torch's sample validation
# lets size-1 axes through). Helpers they call (_batch_mahalanobis...) are not checked.
_DIST_DIR = os.path.join(os.path.dirname(torch.__file__), "distributions") + os.sep
_DIST_METHODS = frozenset({"log_prob", "cdf", "icdf"})
_FX_GRAPH = "<eval_with_key>"


def user_frame(start: FrameType | None) -> tuple[FrameType | None, str | None]:
    """The frame of the code that called the op, or ``None`` if that code is library
    internals (torch itself or shapesafe), which may broadcast as it pleases; and the
    ``torch.distributions`` method the op ran in, if it ran directly in one."""
    f = start
    via: str | None = None
    while f is not None:
        code = f.f_code
        filename = code.co_filename
        if filename in _FORWARDERS or filename in (
            _STRICT_FILE,
            _ERRORS_FILE,
            _FAST_FILE,
            _WHERE_FILE,
        ):
            f = f.f_back
            continue
        if filename.startswith(_DIST_DIR) and code.co_name in _DIST_METHODS:
            via = via or getattr(code, "co_qualname", code.co_name)
            f = f.f_back
            continue
        if (
            filename.startswith(_TORCH_DIR)
            or filename.startswith(_SHAPESAFE_DIR)
            # a graph torch.compile produced, run op by op (the "eager" backend): its
            # ops were checked at trace time, against the user's lines
            or filename.startswith(_FX_GRAPH)
        ):
            return None, None
        return f, via
    return None, None


def where(filename: str, lineno: int) -> str:
    text = f"at {filename}:{lineno}"
    line = linecache.getline(filename, lineno).strip()
    if line:
        text += f"\n    {line}"
    return text


def locate(frame_of: _Where | str) -> tuple[str, str | None] | None:
    """``at file:line`` of the user's code and the ``torch.distributions`` method the op
    ran in (if any); ``None`` for library internals."""
    if isinstance(frame_of, str):
        return frame_of, None
    frame, via = user_frame(frame_of())
    return None if frame is None else (where(frame.f_code.co_filename, frame.f_lineno), via)


def trace_where(ctx: Any) -> str | None:
    """Like ``user_frame`` + ``where``, over dynamo's chain of inlining tracers."""
    tx = getattr(ctx, "_ComptimeContext__tx", None)
    if tx is None:  # pragma: no cover - a torch without this private attribute
        return "(source line unknown under torch.compile)"
    while tx is not None:
        code = getattr(tx, "f_code", None)
        if code is None:  # pragma: no cover
            break
        filename = code.co_filename
        if (
            filename in _FORWARDERS
            or filename in _TRACE_BRIDGE
            or (filename.startswith(_DIST_DIR) and code.co_name in _DIST_METHODS)
        ):
            tx = getattr(tx, "parent", None)
            continue
        if filename.startswith(_TORCH_DIR) or filename.startswith(_SHAPESAFE_DIR):
            return None
        lineno = getattr(tx, "lineno", None)
        if lineno is None:  # pragma: no cover
            return f"at {filename} (under torch.compile)"
        return where(filename, int(lineno))
    return "(source line unknown under torch.compile)"
