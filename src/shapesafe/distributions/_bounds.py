"""Action bounds ``low`` / ``high`` of the bounded distributions (:class:`Beta`, a scaled
:class:`TanhNormal`): conversion, shape and value checks.

Bounds usually come from the environment (``env.action_space.low``, a numpy array of
the event shape), sometimes as Python numbers, rarely per batch element. So a bound may
be a number, an array or a tensor of any shape that broadcasts *to* the distribution's
``batch_shape + event_shape`` without changing it: ``()``, ``(act,)`` or the full shape.
A ``(B,)`` bound against ``(B, act)`` parameters is refused rather than broadcast
against the action axis.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.distributions import constraints

from shapesafe._format import error, fmt_index, fmt_shape, fmt_value
from shapesafe.distributions._base import raise_
from shapesafe.distributions._shapes import broadcast_shapes, first_bad, ints
from shapesafe.errors import DtypeError, ShapeError, UsageError

BOUNDS = ("low", "high")


def to_bounds(
    fn: str, low: Any, high: Any, params: tuple[Any, ...]
) -> tuple[Tensor | None, Tensor | None]:
    """``low`` and ``high`` as tensors of the parameters' dtype and device (both or
    neither given)."""
    if (low is None) != (high is None):
        missing = "high" if high is None else "low"
        raise error(
            UsageError,
            f"pass both low= and high= (got only {'low' if high is None else 'high'}=)",
            function=fn,
            argument=missing,
            expected="both bounds, or neither",
            got=f"{missing}=None",
            hint="low=env.action_space.low, high=env.action_space.high",
        )
    if low is None:
        return None, None
    like = next((p for p in params if isinstance(p, Tensor) and p.is_floating_point()), None)
    dtype = like.dtype if like is not None else torch.get_default_dtype()
    device = like.device if like is not None else None
    return _convert(fn, "low", low, dtype, device), _convert(fn, "high", high, dtype, device)


def _convert(fn: str, name: str, x: Any, dtype: torch.dtype, device: Any) -> Tensor:
    if isinstance(x, Tensor):
        return x.to(dtype=dtype, device=device)
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return torch.tensor(float(x), dtype=dtype, device=device)
    if hasattr(x, "__array__") or isinstance(x, (list, tuple)):
        return torch.as_tensor(x, dtype=dtype, device=device)
    raise error(
        DtypeError,
        f"must be a number, an array or a tensor, got {fmt_value(x)}",
        function=fn,
        argument=name,
        expected="a number, an array or a tensor",
        got=type(x).__name__,
        hint=f"{name}=env.action_space.{name}",
    )


def _shape_error(fn: str, name: str, bound: Tensor, carrier: Tensor) -> ShapeError:
    shape, full = ints(bound.shape), ints(carrier.shape)
    event = full[-1:]
    return error(
        ShapeError,
        f"has shape {fmt_shape(shape)}, which does not broadcast to the distribution's "
        f"batch_shape + event_shape {fmt_shape(full)}",
        function=fn,
        argument=name,
        expected=f"(), {fmt_shape(event)} or {fmt_shape(full)}",
        got=fmt_shape(shape),
        hint=f"one bound per action dimension: {name} of shape {fmt_shape(event)} "
        f"(env.action_space.{name})",
    )


def check_bound_shapes(fn: str, values: dict[str, Any], params: tuple[str, ...]) -> None:
    """Each bound broadcasts to the joint parameter shape without changing it. Plain
    size comparisons, so that they trace (as guards) under torch.compile."""
    if values["low"] is None:
        return
    shapes = [values[p].shape for p in params if isinstance(values[p], Tensor)]
    full = broadcast_shapes(*shapes)
    for name in BOUNDS:
        bound: Tensor = values[name]
        try:
            ok = broadcast_shapes(bound.shape, full) == tuple(full)
        except RuntimeError:
            ok = False
        if not ok:
            raise_(_shape_error, fn, name, bound, bound.new_empty(full))


def check_bound_values(fn: str, low: Tensor | None, high: Tensor | None) -> None:
    """Finite bounds with ``low < high`` everywhere (eager, ``validate_args`` on)."""
    if low is None or high is None:
        return
    for name, b in (("low", low), ("high", high)):
        if b.numel() and not bool(torch.isfinite(b).all()):
            idx = first_bad(~torch.isfinite(b))
            raise error(
                UsageError,
                f"must be finite, but {fmt_index(name, idx)} = {float(b[idx])}",
                function=fn,
                argument=name,
                expected="finite bounds",
                got=f"{fmt_index(name, idx)} = {float(b[idx])}",
                hint="an unbounded action space has no squashed or Beta policy: use a "
                "DiagNormal, or give the bounds the environment clips to",
            )
    lo, hi = torch.broadcast_tensors(low, high)  # type: ignore[no-untyped-call]
    bad = ~(lo < hi)
    if bad.numel() and bool(bad.any()):
        idx = first_bad(bad)
        raise error(
            UsageError,
            f"must be above low everywhere, but {fmt_index('high', idx)} = "
            f"{float(hi[idx]):.4g} <= {fmt_index('low', idx)} = {float(lo[idx]):.4g}",
            function=fn,
            argument="high",
            expected="low < high",
            got=f"{fmt_index('high', idx)} = {float(hi[idx]):.4g}",
            hint="low=env.action_space.low, high=env.action_space.high (not swapped)",
        )


class _ActionBounds(constraints._Interval):
    """``[low, high]`` per coordinate, up to rounding: a sample ``c + s * 1.0`` may miss
    ``high`` by an ulp, and must not then fail the support check of its own log_prob.
    Its repr shows the exact bounds."""

    def __init__(self, low: Tensor, high: Tensor) -> None:
        super().__init__(low, high)  # type: ignore[no-untyped-call]
        self._pad = 4 * torch.finfo(low.dtype).eps * (low.abs() + high.abs())

    def check(self, value: Tensor) -> Tensor:
        lower, upper = self.lower_bound - self._pad, self.upper_bound + self._pad
        return (lower <= value) & (value <= upper)  # type: ignore[no-any-return]


def bounded_support(low: Tensor, high: Tensor) -> Any:
    """The support of a bounded vector distribution: ``[low, high]`` per coordinate."""
    return constraints.independent(_ActionBounds(low, high), 1)  # type: ignore[no-untyped-call]
