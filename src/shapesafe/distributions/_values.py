"""Messages for values handed to ``log_prob`` / ``cdf`` / ``icdf`` and for results.

A value must have shape exactly ``sample_shape + batch_shape + event_shape``. When it
does not, the message says which axis differs, in which role (sample, batch or event
axis), what plain torch would have done instead of raising, and -- from the shapes
alone -- the likely fix (a trailing ``(B, 1)``, a transposed value, a sample axis in the
wrong place, a smaller last minibatch). These functions take plain shapes, not the
distribution, so that they also run at trace time on stand-ins under torch.compile.
"""

from __future__ import annotations

from typing import Any

from shapesafe._format import error, fmt_dtype, fmt_sample, fmt_shape, fmt_value, plural
from shapesafe.distributions._shapes import broadcast_shapes, ends_with
from shapesafe.errors import DtypeError, ShapeError

Shape = tuple[int, ...]


def value_hint(name: str, shape: Shape, batch: Shape, event: Shape) -> str | None:
    """The likely fix for a ``value`` of the wrong shape, or ``None``."""
    be = batch + event
    n = len(be)
    if shape and shape[-1] == 1 and ends_with(shape[:-1], be):
        if not event:
            return (
                "`value` has a trailing axis of size 1: actions of shape (B, 1) for a "
                "scalar-event distribution? Use value.squeeze(-1)."
            )
        return "`value` has an extra trailing axis of size 1; use value.squeeze(-1)."
    if len(shape) >= n >= 2 and sorted(shape[-n:]) == sorted(be):
        return (
            "the trailing axes of `value` have the right sizes in a different order: "
            "transposed? (value.mT, value.permute(...))"
        )
    if event and batch and ends_with(shape, batch):
        if event == (1,):
            return "`value` lacks the event axis of size 1; use value.unsqueeze(-1)."
        return (
            f"`value` lacks the event axes {fmt_shape(event)}: a {name} scores whole vectors "
            f"of shape {fmt_shape(event)}, one per batch element. For independent "
            f"per-coordinate log-probs use shapesafe.distributions.Normal instead."
        )
    if batch and shape == event:
        return (
            f"`value` has only the event shape {fmt_shape(event)}: to score the same value "
            f"under every distribution in the batch, use value.expand({', '.join(map(str, be))})."
        )
    for i in range(max(0, len(shape) - n), len(shape)):
        rest = shape[:i] + shape[i + 1 :]
        if len(rest) >= n and ends_with(rest, be):
            return (
                f"axis {i} of `value` looks like a sample axis, but sample axes must come "
                f"first: value.movedim({i}, 0)."
            )
    if len(shape) >= n:
        vb = shape[len(shape) - n : len(shape) - len(event)]
        ve = shape[len(shape) - len(event) :]
        if ve == event and vb != batch:
            return (
                f"the batch sizes differ: the distribution has batch_shape {fmt_shape(batch)}, "
                f"`value` has {fmt_shape(vb)} there. Were the parameters and the value taken "
                f"from different minibatches (e.g. a smaller last minibatch)?"
            )
        if vb == batch and ve != event:
            return (
                f"the event sizes differ: one draw of this {name} has shape {fmt_shape(event)}, "
                f"`value` ends in {fmt_shape(ve)}; check the action dimension "
                f"(env.action_space.shape)."
            )
    return None


def value_error(
    name: str, method: str, shape: Shape, batch: Shape, event: Shape, hint: str | None
) -> ShapeError:
    """``value`` of shape ``shape`` is not ``sample_shape + batch + event``."""
    be = batch + event
    n = len(be)
    axis: int | None = None
    if len(shape) < n:
        summary = (
            f"has {plural(len(shape), 'axis')} {fmt_shape(shape)}, but this {name} needs at "
            f"least {n} (batch_shape + event_shape)"
        )
    else:
        i = next(i for i in range(1, n + 1) if shape[-i] != be[-i])
        axis = len(shape) - i
        role = f"event axis {len(event) - i}" if i <= len(event) else f"batch axis {n - i}"
        summary = f"expected size {be[-i]} ({role}), got {shape[-i]}"
    extra = [f"= sample_shape + batch_shape {fmt_shape(batch)} + event_shape {fmt_shape(event)}"]
    try:
        joint: Shape | None = tuple(broadcast_shapes(shape, be))
    except RuntimeError:
        joint = None
    if joint is not None and method == "log_prob":
        extra.append(
            f"(plain torch.distributions would not raise: it would broadcast and return a "
            f"log_prob of shape {fmt_shape(joint[: len(joint) - len(event)])})"
        )
    return error(
        ShapeError,
        summary,
        function=f"{name}.{method}",
        argument="value",
        axis=axis,
        expected=fmt_sample(be),
        got=fmt_shape(shape),
        hint=hint or value_hint(name, shape, batch, event),
        extra=extra,
    )


def not_a_tensor(name: str, method: str, value: Any) -> DtypeError:
    summary = f"must be a torch.Tensor, got {fmt_value(value)}"
    return _dtype(
        name, method, summary, "torch.Tensor", type(value).__name__, "torch.as_tensor(value)"
    )


def dtype_error(name: str, method: str, dtype: Any, expected: str, hint: str) -> DtypeError:
    summary = f"has dtype {fmt_dtype(dtype)}; expected {expected}"
    return _dtype(name, method, summary, expected, fmt_dtype(dtype), hint)


def _dtype(name: str, method: str, summary: str, expected: str, got: str, hint: str) -> DtypeError:
    return error(
        DtypeError,
        summary,
        function=f"{name}.{method}",
        argument="value",
        expected=expected,
        got=got,
        hint=hint,
    )


def result_error(name: str, method: str, got: Any, expected: Any, what: str) -> ShapeError:
    """A torch method returned a shape it should not have (a bug in the class)."""
    return error(
        ShapeError,
        f"has shape {fmt_shape(got)}, expected {fmt_shape(expected)} ({what})",
        function=f"{name}.{method}",
        argument="return value",
        expected=fmt_shape(expected),
        got=fmt_shape(got),
        hint="this is a bug in the distribution class, not in your code; please report it",
    )
