"""The messages of strict broadcasting: one builder per kind of refusal.

Each builder returns the :class:`~shapesafe.errors.BroadcastError` to raise (or to record,
in an audit block), or None when the operands are fine, the line is inside
``allow_broadcasting()``, or the call did not come from user code. They are shared by the
eager mode (:mod:`shapesafe.strict`) and the trace-time check under ``torch.compile``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from types import FrameType

import torch

from shapesafe._format import fmt_shape
from shapesafe._strict_rule import broadcast as _broadcast
from shapesafe._strict_rule import extra_axis_hint as _extra_axis_hint
from shapesafe._strict_rule import refusal as _refusal
from shapesafe._strict_where import locate as _locate
from shapesafe.errors import BroadcastError

# Per-thread state of strict mode: ``allow`` (depth of allow_broadcasting() blocks) and
# ``report`` (the audit report of a warn/log block, None when refusals raise).
_LOCAL = threading.local()


def _allowed() -> bool:
    return bool(getattr(_LOCAL, "allow", 0))


_ESCAPE = (
    "if the broadcast is intended, make it explicit (.expand_as(), torch.broadcast_to()) "
    "or wrap the line in shapesafe.allow_broadcasting()"
)


# The frame of the user's code: found from the interpreter's frames when eager, from
# dynamo's tracer chain when compiling (shapes are known at trace time, so the check runs
# once, at compile time, through dynamo's ``comptime``).
_Where = Callable[[], "FrameType | None"]


def elementwise_error(
    label: str, shapes: Sequence[torch.Size], allow_size_one: bool, frame_of: _Where | str
) -> BroadcastError | None:
    first = shapes[0]
    if all(s == first for s in shapes[1:]):
        return None
    result = _broadcast(shapes)
    if result is None:  # not broadcastable at all: torch raises its own error
        return None
    kind = _refusal(shapes, allow_size_one)
    if kind is None or _allowed():
        return None
    located = _locate(frame_of)
    if located is None:
        return None
    where, via = located
    listed = " and ".join(fmt_shape(s) for s in shapes)
    hint = _extra_axis_hint(shapes) or "make the shapes equal"
    inside = ""
    if via is not None:
        inside = f" inside {via}()"
        hint = (
            f"{hint}; the value passed to {via.rsplit('.', 1)[-1]}() must have the "
            "distribution's batch_shape + event_shape as its trailing axes (e.g. actions "
            "of shape (B, 1) for a distribution of batch shape (B,): .squeeze(-1) them)"
        )
    hint = f"{hint}; {_ESCAPE}"
    return BroadcastError(
        f"strict_broadcasting: {label}{inside} would broadcast shapes {listed} to "
        f"{fmt_shape(result)} ({kind})\n  {where}\n  hint: {hint}",
        function=label,
        expected=fmt_shape(first),
        got=listed,
        hint=hint,
    )


def loss_error(
    name: str, argnames: Sequence[str], shapes: Sequence[torch.Size], frame_of: _Where | str
) -> BroadcastError | None:
    if all(s == shapes[0] for s in shapes[1:]) or _allowed():
        return None
    located = _locate(frame_of)
    if located is None:
        return None
    where = located[0]
    described = ", ".join(f"{n} {fmt_shape(s)}" for n, s in zip(argnames, shapes))
    result = _broadcast(shapes)
    then = (
        f"torch would broadcast them to {fmt_shape(result)}"
        if result is not None
        else "they are not even broadcastable"
    )
    hint = (
        f"{_extra_axis_hint(shapes) or 'give both the same shape'}; "
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


def total_error(
    label: str, total: torch.Size, n: int, other: torch.Size, frame_of: _Where | str
) -> BroadcastError | None:
    if _allowed():
        return None
    located = _locate(frame_of)
    if located is None:
        return None
    hint = (
        "sum over the axis you meant (.sum(-1) for the action axis of a per-coordinate "
        "log-prob), or reduce the per-sample product instead: "
        "-(log_prob * advantages).mean(); if a total over the batch is intended here, "
        "wrap the line in shapesafe.allow_broadcasting()"
    )
    return BroadcastError(
        f"strict_broadcasting: {label} combines a total over the batch, shape "
        f"{fmt_shape(total)} summed over a batch axis of size {n}, with a per-sample "
        f"tensor of shape {fmt_shape(other)}\n  {located[0]}\n  hint: {hint}",
        function=label,
        expected=f"a per-sample tensor with leading axis {n}",
        got=fmt_shape(total),
        hint=hint,
    )
