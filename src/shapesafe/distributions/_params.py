"""The declarative parameter table and the one loop that checks it.

Each distribution lists its constructor parameters as :class:`Param` rows (the idea of
torch.distributions' ``arg_constraints``, extended with shapes): which trailing axes a
parameter has beyond the batch axes (``dims``, named so that two parameters can share
one: the ``K`` of a mixture's ``logits`` and ``locs``), whether a Python number may stand
for it, which parameters are alternatives (``probs`` / ``logits``), and the constraint on
its values. :func:`check_params` then does, for every class alike:

1. exactly one of each group of alternatives;
2. dtypes: floating-point tensors (or Python numbers where allowed);
3. ranks: enough axes for the named trailing dims;
4. named dims: every parameter that has a ``K`` has the same ``K`` (sizes 1 broadcast
   only with ``broadcast=True``);
5. batch shapes: equal (scalars excepted), or broadcastable with ``broadcast=True``;
6. for tables without named dims (``Normal``, ``DiagNormal``), the joint shape has at
   least the class's event rank.

It only reads shapes and dtypes, so it also runs on meta tensors at trace time under
torch.compile (see ``_base``), and, traced, its size comparisons become the guards that
send a later call with different shapes back through the check. Value constraints
(:func:`check_values`) need data and run only in eager mode.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from shapesafe._format import error, fmt_dtype, fmt_shape, fmt_value
from shapesafe.distributions._constraints import Constraint
from shapesafe.distributions._shapes import broadcast_shapes, ends_with, ints
from shapesafe.errors import DtypeError, ShapeError, UsageError


@dataclass(frozen=True)
class Param:
    """One constructor parameter of a distribution.

    Attributes:
        name: the keyword argument.
        dims: names of its trailing axes after the batch axes: ``()`` for an elementwise
            parameter (``loc``), ``("K",)`` for a categorical's ``logits``, ``("D", "D")``
            for a covariance matrix. Parameters that name the same dim must agree on it.
        constraint: what its values must satisfy (checked when ``validate_args``).
        scalar_ok: a Python number (or a 0-d tensor) may stand for it; it broadcasts.
        one_of: parameters with the same tag are alternatives: exactly one is given.
        rank_hint: the hint when it has too few axes.
        linalg: it goes through a matrix factorization, which needs float32 or float64.
        boolean: a boolean tensor (an action mask) instead of a floating-point one.
        optional: it may be left out (``None``) on its own, outside any ``one_of`` group.
    """

    name: str
    dims: tuple[str, ...] = ()
    constraint: Constraint | None = None
    scalar_ok: bool = False
    one_of: str = ""
    rank_hint: str | None = None
    linalg: bool = False
    boolean: bool = False
    optional: bool = False

    def layout(self) -> str:
        return "(" + ", ".join(["*batch", *self.dims]) + ")"


Table = tuple[Param, ...]


def _one_of(fn: str, table: Table, values: dict[str, Any]) -> None:
    groups: dict[str, list[str]] = {}
    for p in table:
        if p.one_of:
            groups.setdefault(p.one_of, []).append(p.name)
    for names in groups.values():
        given = [n for n in names if values[n] is not None]
        if len(given) != 1:
            options = (
                " or ".join(f"{n}=" for n in names)
                if len(names) == 2
                else ", ".join(f"{n}=" for n in names)
            )
            got = "neither" if not given else ("both" if len(names) == 2 else ", ".join(given))
            hint = (
                f"a network's raw output is logits: {fn}(logits=net(obs))"
                if "logits" in names
                else None
            )
            raise error(
                UsageError,
                f"pass exactly one of {options} (got {got})",
                function=fn,
                argument=names[0] if not given else given[-1],
                expected=f"exactly one of {options}",
                got=got,
                hint=hint,
            )


def _as_tensor(fn: str, p: Param, x: Any) -> Tensor | None:
    """``x`` as a tensor to shape-check, or ``None`` for a scalar that broadcasts."""
    if isinstance(x, Tensor):
        need: tuple[str, str, str] | None = None  # (what is needed, why, how to fix)
        if p.boolean:
            if x.dtype != torch.bool:
                need = ("a bool tensor (True = allowed)", "", f"{p.name}.bool() (or {p.name} != 0)")
        elif not x.is_floating_point():
            need = ("a floating-point tensor", "", f"convert it with {p.name}.float()")
        elif p.linalg and x.dtype not in (torch.float32, torch.float64):
            need = (
                "float32 or float64",
                " (torch's Cholesky factorization needs it)",
                f"{p.name}.float() (and .to(dtype) of the result, if needed)",
            )
        if need is not None:
            raise error(
                DtypeError,
                f"has dtype {fmt_dtype(x.dtype)}; expected {need[0]}{need[1]}",
                function=fn,
                argument=p.name,
                expected=need[0],
                got=fmt_dtype(x.dtype),
                hint=need[2],
            )
        return None if (p.scalar_ok and x.dim() == 0) else x
    if p.scalar_ok and isinstance(x, (int, float)) and not isinstance(x, bool):
        return None
    what = "a torch.Tensor or a Python number" if p.scalar_ok else "a torch.Tensor"
    raise error(
        DtypeError,
        f"must be {what}, got {fmt_value(x)}",
        function=fn,
        argument=p.name,
        expected=what,
        got=type(x).__name__,
        hint=f"torch.as_tensor({p.name}, dtype=torch.{'bool' if p.boolean else 'float32'})",
    )


def check_params(
    fn: str, table: Table, event_rank: int, values: dict[str, Any], broadcast: bool
) -> None:
    """Steps 1-6 of the module docstring; raises the first problem found."""
    _one_of(fn, table, values)
    bound: dict[str, tuple[Any, Param, int, tuple[Any, ...]]] = {}
    batches: list[tuple[Param, tuple[Any, ...], tuple[Any, ...]]] = []
    for p in table:
        raw = values[p.name]
        if raw is None and (p.one_of or p.optional):
            continue
        x = _as_tensor(fn, p, raw)
        if x is None:
            continue
        shape = tuple(x.shape)
        n = len(p.dims)
        if len(shape) < n:
            raise error(
                ShapeError,
                f"has shape {fmt_shape(ints(shape))}; expected {p.layout()}",
                function=fn,
                argument=p.name,
                expected=p.layout(),
                got=fmt_shape(ints(shape)),
                hint=p.rank_hint,
            )
        cut = len(shape) - n
        for i, dim in enumerate(p.dims):
            size = shape[cut + i]
            prev = bound.get(dim)
            if prev is None:
                bound[dim] = (size, p, cut + i, shape)
            elif size != prev[0] and not (broadcast and (size == 1 or prev[0] == 1)):
                raise _dim_error(fn, dim, p, cut + i, shape, prev)
        batches.append((p, shape[:cut], shape[cut:]))
    joint = _agree(fn, batches, broadcast)
    if event_rank and all(not p.dims for p in table) and len(joint) < event_rank:
        names = [p.name for p in table]
        raise error(
            ShapeError,
            f"{' and '.join(f'`{n}`' for n in names)} have shape {fmt_shape(ints(joint))}, but "
            f"a {fn} needs at least {event_rank} ax{'i' if event_rank == 1 else 'e'}s: the "
            f"event axis, last",
            function=fn,
            argument=names[0],
            expected="(*batch, dim)",
            got=fmt_shape(ints(joint)),
            hint="for a distribution over single numbers use shapesafe.distributions.Normal; "
            "for vectors pass loc of shape (*batch, dim)"
            if names[0] == "loc"
            else f"pass {names[0]} of shape (*batch, dim): one entry per action dimension",
        )


def check_values(fn: str, table: Table, values: dict[str, Any]) -> None:
    """The value constraints of the table (eager mode, ``validate_args`` on)."""
    for p in table:
        x = values[p.name]
        if p.constraint is None or x is None:
            continue
        if not isinstance(x, Tensor):
            x = torch.tensor(float(x))
        p.constraint.check(fn, p.name, x)


def _dim_error(
    fn: str,
    dim: str,
    p: Param,
    axis: int,
    shape: tuple[Any, ...],
    prev: tuple[Any, Param, int, tuple[Any, ...]],
) -> ShapeError:
    size, q, q_axis, q_shape = prev
    same = q.name == p.name
    source = (
        f"axis {q_axis}" if same else f"`{q.name}` axis {q_axis}, shape {fmt_shape(ints(q_shape))}"
    )
    if same:
        hint = f"`{p.name}` is {p.layout()}: square {dim} x {dim} matrices in the last two axes"
    else:
        hint = f"`{q.name}` is {q.layout()} and `{p.name}` is {p.layout()}"
        if len(p.dims) > 1 and sorted(ints(shape[-len(p.dims) :])) != list(
            ints(shape[-len(p.dims) :])
        ):
            hint += "; a transposed head?"
    return error(
        ShapeError,
        f"expected {dim}={int(size)} (from {source}), got {int(shape[axis])} in shape "
        f"{fmt_shape(ints(shape))}",
        function=fn,
        argument=p.name,
        axis=axis,
        axis_name=dim,
        expected=f"{dim}={int(size)}",
        got=f"{dim}={int(shape[axis])}",
        hint=hint,
    )


def _agree(
    fn: str, batches: list[tuple[Param, tuple[Any, ...], tuple[Any, ...]]], broadcast: bool
) -> tuple[Any, ...]:
    if not batches:
        return ()
    if broadcast:
        try:
            return broadcast_shapes(*(b for _, b, _ in batches))
        except RuntimeError:
            listing = ", ".join(f"`{p.name}` {fmt_shape(ints(b))}" for p, b, _ in batches)
            raise error(
                ShapeError,
                f"cannot broadcast {listing} together (broadcast=True was given)",
                function=fn,
                argument=batches[-1][0].name,
                expected="shapes that broadcast",
                got=listing,
                hint="sizes must be equal or 1 in each axis, aligned from the right",
            ) from None
    ref, ref_batch, ref_tail = batches[0]
    for p, batch, tail in batches[1:]:
        if batch != ref_batch:
            raise _mismatch(fn, ref, ints(ref_batch), ints(ref_tail), p, ints(batch), ints(tail))
    return ref_batch


def _mismatch(
    fn: str,
    ref: Param,
    ref_shape: tuple[int, ...],
    ref_tail: tuple[int, ...],
    p: Param,
    got: tuple[int, ...],
    tail: tuple[int, ...],
) -> ShapeError:
    """Two parameters whose (batch) shapes differ while ``broadcast=False``: say what
    torch would have done with them, and how to ask for it."""
    what = "batch shape" if (p.dims or ref.dims) else "shape"
    try:
        joint: tuple[int, ...] | None = ints(broadcast_shapes(ref_shape, got))
    except RuntimeError:
        joint = None

    def expand(name: str, to: tuple[int, ...], suffix: tuple[int, ...]) -> str:
        return f"{name}.expand({', '.join(map(str, to + suffix))})"

    if joint is None:
        hint = (
            f"these shapes cannot be broadcast together either; check which tensor "
            f"`{p.name}` was computed from"
        )
    elif joint == ref_shape and ends_with(ref_shape, got) and len(got) < len(ref_shape):
        hint = (
            f"one `{p.name}` shared across the leading axes? pass broadcast=True "
            f"(or {expand(p.name, ref_shape, tail)} yourself)"
        )
    elif joint == ref_shape:
        hint = (
            f"`{p.name}` would be broadcast to {fmt_shape(ref_shape)}; if that is intended "
            f"pass broadcast=True (or {expand(p.name, ref_shape, tail)})"
        )
    elif joint == got:
        hint = (
            f"`{ref.name}` would be broadcast to {fmt_shape(got)}; if that is intended pass "
            f"broadcast=True (or {expand(ref.name, got, ref_tail)})"
        )
    else:
        hint = (
            f"together they would broadcast to {fmt_shape(joint)}, larger than either, which "
            f"is almost never intended: look for a stray axis of size 1 (e.g. .squeeze(-1))"
        )
    return error(
        ShapeError,
        f"has {what} {fmt_shape(got)} but `{ref.name}` has {what} {fmt_shape(ref_shape)}; "
        f"they must be equal (shapesafe does not broadcast parameters unless asked)",
        function=fn,
        argument=p.name,
        expected=fmt_shape(ref_shape),
        got=fmt_shape(got),
        hint=hint,
    )


def names(table: Table) -> tuple[str, ...]:
    return tuple(p.name for p in table)


Shapes = typing.Sequence[int]
