"""The shape rule of strict broadcasting (private; the rule in words, with examples, is
:mod:`shapesafe.strict`'s docstring and the docs' strict-mode page): which broadcasts
pass, the fix a refusal's hint names, and the bookkeeping of one-element totals over
the batch (rule 4). Pure functions of shapes, plus that one table; the mode, the
frames and the messages are in :mod:`shapesafe.strict`.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
from torch import Tensor

from shapesafe._compile import is_compiling
from shapesafe._format import fmt_shape

__all__ = [
    "BATCH_SUMS",
    "TOTALS",
    "broadcast",
    "extra_axis_hint",
    "refusal",
    "remember_total",
    "total_of",
]


def broadcast(shapes: Sequence[torch.Size]) -> torch.Size | None:
    try:
        return cast(torch.Size, torch.broadcast_shapes(*shapes))  # type: ignore[no-untyped-call]
    except RuntimeError:
        return None


def extra_axis_hint(shapes: Sequence[torch.Size]) -> str | None:
    """The fix when one shape is another plus one size-1 axis: trailing ((B, 1) vs
    (B,)) or leading ((1, N) vs (N,)); when every size is 1 the two cannot be told apart,
    and the hint says so instead of guessing."""
    for a in shapes:
        for b in shapes:
            if len(a) != len(b) + 1:
                continue
            trailing = a[-1] == 1 and a[:-1] == b
            leading = a[0] == 1 and a[1:] == b
            if trailing and leading:
                return (
                    f"the {fmt_shape(a)} operand has one more axis than the {fmt_shape(b)} one, "
                    "and with every size 1 shapesafe cannot tell which: a leading one "
                    "(a (1, N) row at N=1: .squeeze(0)) or a trailing one (a (batch, 1) "
                    "column at batch=1: .squeeze(-1)); both fix this call, pick the one "
                    "that is right when the sizes grow"
                )
            if trailing:
                return (
                    f"the {fmt_shape(a)} operand has a trailing size-1 axis the {fmt_shape(b)} one "
                    "lacks; squeeze it (.squeeze(-1)) or unsqueeze the other (.unsqueeze(-1))"
                )
            if leading:
                return (
                    f"the {fmt_shape(a)} operand has a leading size-1 axis the {fmt_shape(b)} one "
                    "lacks; squeeze it (.squeeze(0)) or unsqueeze the other (.unsqueeze(0))"
                )
    return None


def refusal(shapes: Sequence[torch.Size], allow_size_one: bool) -> str | None:
    """Why broadcasting these (broadcastable, not all equal) shapes is refused, or
    ``None`` when the rule lets it pass (the rule: see the module docstring)."""
    if allow_size_one:
        # one-element tensors act as scalars (rule 1)
        shapes = [s for s in shapes if math.prod(s) != 1]
        if len(shapes) < 2:
            return None
    top_rank = max(len(s) for s in shapes)
    top = [s for s in shapes if len(s) == top_rank]
    target = broadcast(top)
    if target is None:  # pragma: no cover - the caller checked that all broadcast
        return None
    if not allow_size_one and any(s != target for s in top):
        return "size-1 expansion, refused under allow_size_one=False"
    for s in shapes:
        if len(s) == top_rank:
            continue
        tail = target[top_rank - len(s) :]
        # rule 3: a lower-rank operand may only expand its own size-1 axes (and none at
        # all under allow_size_one=False); growing the higher-rank shape is the trap
        if allow_size_one and broadcast((s, tail)) != tail:
            return (
                f"rank promotion: the {fmt_shape(s)} operand does not fit inside "
                f"{fmt_shape(target)}"
            )
        if not allow_size_one and s != tail:
            return (
                f"rank promotion: the {fmt_shape(s)} operand is not the trailing axes of "
                f"{fmt_shape(target)}, refused under allow_size_one=False"
            )
    return None


# --------------------------------------------------------------------------------------
# rule 4: one-element totals over the batch. A `sum` that turns a gradient-carrying tensor
# with a batch axis of size B > 1 into one element is remembered (by id, with a weak
# reference to tell a reused id apart, dropped when the total is freed); a checked op
# that meets it with a different tensor whose leading axis is B refuses.

BATCH_SUMS = frozenset(
    {
        "TensorBase.sum",
        "_VariableFunctionsClass.sum",
        "TensorBase.nansum",
        "_VariableFunctionsClass.nansum",
    }
)
# id(total) -> (weak ref to the total, batch size, weak ref to the tensor it summed)
TOTALS: dict[int, tuple[weakref.ref[Tensor], int, weakref.ref[Tensor]]] = {}


def _forget(key: int) -> Callable[[object], None]:
    def forget(_ref: object) -> None:
        TOTALS.pop(key, None)

    return forget


def remember_total(args: Sequence[Any], out: Any) -> None:
    source = args[0] if args else None
    if (
        isinstance(out, Tensor)
        and isinstance(source, Tensor)
        and source.ndim
        and source.shape[0] > 1
        and source.requires_grad
        and out.numel() == 1
        and not is_compiling()
    ):
        key = id(out)
        TOTALS[key] = (weakref.ref(out, _forget(key)), int(source.shape[0]), weakref.ref(source))


def total_of(t: Tensor) -> tuple[int, Tensor | None] | None:
    entry = TOTALS.get(id(t))
    if entry is None or entry[0]() is not t:
        return None
    return entry[1], entry[2]()
