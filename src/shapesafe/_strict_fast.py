"""The cheaper mechanism of strict broadcasting, ``strict_broadcasting(fast=True)``.

A :class:`~torch.overrides.TorchFunctionMode` sees *every* torch call: each
``nn.Linear``, each optimizer ``_foreach`` op, each ``.detach()`` goes through a Python
``__torch_function__``. On a small training loop an empty mode alone costs ~1.6x, and
the checks themselves are a small part of strict mode's ~1.75x. Only a hundred-odd
functions are ever checked (the elementwise ops, the losses, the batch sums of rule 4),
so this mechanism wraps exactly those -- ``torch.Tensor.__add__`` and its kin, the
``torch.*`` / ``torch.special.*`` / ``Tensor.*`` elementwise functions, the
``torch.nn.functional`` losses -- while at least one fast block is open anywhere, and
leaves every other call at full speed. A wrapper runs the mode's own check
(``_StrictBroadcastMode.__torch_function__``, so the rule and the messages are the same
code) when *this thread* is inside a fast block, and calls the original otherwise.

What it cannot see, and the mode can: a function bound to a name before the block
(``from torch import where`` at import time; ``torch.where`` looked up at the call is
fine), and torch calls made by C++ code. Under ``torch.compile`` use the default
mechanism (the wrapper is not traced). The wrappers are installed while the first block
opens and removed when the last one closes (a count under a lock, so blocks in several
threads nest in any order).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import torch

from shapesafe._strict_ops import LOSS_FNS_BY_NAME, OPS_BY_NAME
from shapesafe._strict_rule import BATCH_SUMS, TOTALS

__all__ = ["ACTIVE", "FAST_FILE", "install", "uninstall"]

FAST_FILE = __file__
# .mode: the (never entered) _StrictBroadcastMode whose checks this thread runs
ACTIVE = threading.local()

_lock = threading.Lock()
_users = 0
# (owner, attribute, original, whether the owner defined it itself)
_patched: list[tuple[Any, str, Any, bool]] = []


def _wrap(orig: Callable[..., Any]) -> Callable[..., Any]:
    binary_op = getattr(orig, "__qualname__", None) in OPS_BY_NAME
    Tensor = torch.Tensor

    def checked(*args: Any, **kwargs: Any) -> Any:
        mode = getattr(ACTIVE, "mode", None)
        if mode is None:
            return orig(*args, **kwargs)
        if binary_op and not TOTALS:
            # the mode's cheap cases, inlined: when the tensor operands with axes all
            # share one shape (or there is at most one), nothing broadcasts that the
            # rule could refuse -- the common case of `x * 0.99`, `a - b`, and the
            # optimizer's own `mul_` / `addcmul_` / `lerp_` on same-shaped state
            shape = None
            for x in (*args, *kwargs.values()) if kwargs else args:
                if isinstance(x, Tensor) and x.ndim:
                    if shape is None:
                        shape = x.shape
                    elif x.shape != shape:
                        break
            else:
                return orig(*args, **kwargs)
        # the op's own Python body (Tensor.__rsub__, __rdiv__ ...) may call other
        # wrapped ops: as under the mode, only the outermost call is checked
        ACTIVE.mode = None
        try:
            return mode.__torch_function__(orig, (), args, kwargs)
        finally:
            ACTIVE.mode = mode

    checked.__name__ = getattr(orig, "__name__", "checked")
    checked.__qualname__ = getattr(orig, "__qualname__", checked.__name__)
    checked.__doc__ = getattr(orig, "__doc__", None)
    checked.__wrapped__ = orig  # type: ignore[attr-defined]
    return checked


def _targets() -> list[tuple[Any, str, Any, bool]]:
    keys = set(OPS_BY_NAME) | set(LOSS_FNS_BY_NAME) | set(BATCH_SUMS)
    found: list[tuple[Any, str, Any, bool]] = []
    owners: tuple[Any, ...] = (torch.Tensor, torch, torch.special, torch.nn.functional)
    for owner in owners:
        own = vars(owner)
        for name in dir(owner):
            try:
                obj = getattr(owner, name)
            except Exception:  # pragma: no cover - a lazy attribute that fails to load
                continue
            if callable(obj) and getattr(obj, "__qualname__", None) in keys:
                found.append((owner, name, obj, name in own))
    return found


def install() -> None:
    global _users
    with _lock:
        _users += 1
        if _users > 1:
            return
        if not _patched:
            _patched.extend(_targets())
        for owner, name, orig, _ in _patched:
            setattr(owner, name, _wrap(orig))


def uninstall() -> None:
    global _users
    with _lock:
        _users -= 1
        if _users > 0:
            return
        for owner, name, orig, owned in _patched:
            if owned:
                setattr(owner, name, orig)
            else:  # inherited (TensorBase's method): drop the shadowing wrapper
                delattr(owner, name)
