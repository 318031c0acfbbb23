"""A failed call becomes an error: which argument, which axis, expected vs got, the
bindings so far and, where one is likely, the fix.

The generated wrapper only knows *that* check ``k`` failed. :func:`explain` re-runs the
reference matcher over the values of checks ``0..k`` to rebuild the bindings exactly as
they were, finds the failing rule, and phrases it. This costs nothing on the happy path
and keeps every word of the messages in one place.

Hints are found by trying candidate fixes (squeeze, unsqueeze, sum, transpose) on the
value's shape against the annotation *with the bindings of the call*: a hint is given
only when the fixed shape would have matched. Order matters where several fit; the
order below puts the likelier mistake first (a missing batch axis before a missing
trailing 1, for instance).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from shapesafe._checker.dims import FixedDim, NamedDim, RunDim
from shapesafe._checker.match import (
    Bindings,
    Failure,
    describe,
    match_node,
    match_shape,
    run_deferred,
    shape_of,
    source_of,
)
from shapesafe._checker.plan import (
    ArrayNode,
    ArraySpec,
    AttrsNode,
    BearNode,
    LoopNode,
    Node,
    UnionNode,
)
from shapesafe._compile import comptime_value_deep
from shapesafe._format import fmt_shape, plural
from shapesafe.errors import DtypeError, ShapeError

Shape = tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a generated wrapper checks: the flat nodes (arguments, then the return
    value) and the index of the last argument node (-1: none)."""

    fn_name: str
    nodes: tuple[Node, ...]
    arg_end: int


def explain(plan: Plan, k: int, values: tuple[Any, ...]) -> ShapeError:
    """The error for a call whose check ``k`` failed (``values``: of checks ``0..k``)."""
    b = Bindings()
    deferred: list[Any] = []
    for i in range(k + 1):
        node = plan.nodes[i]
        failure = match_node(node, values[i], b, deferred)
        if failure is None and i == k and isinstance(node, BearNode):
            # beartype spot-checks containers at random: trust the call that failed
            failure = Failure("type", node.text, type(values[i]).__qualname__, exc=DtypeError)
        if failure is not None:
            return make_error(plan.fn_name, node, values[i], failure, b)
        if i == plan.arg_end or i == len(plan.nodes) - 1:
            found = run_deferred(deferred, b)
            if found is not None:
                failure, dnode, dvalue = found
                return make_error(plan.fn_name, dnode, dvalue, failure, b)
            deferred.clear()
    return ShapeError(  # pragma: no cover - the fast path and the matcher disagree
        f"{plan.fn_name}(): a shape check failed but shapesafe could not explain it; "
        "please report this with the annotation and the shapes",
        function=plan.fn_name,
    )


def explain_compiling(plan: Plan, k: int, values: tuple[Any, ...]) -> None:
    """Run at compile time (dynamo ``comptime``): raise the same error as eager mode.
    ``values`` are dynamo variable trackers, read back as example values."""
    raise explain(plan, k, tuple(comptime_value_deep(v) for v in values))


def _spec_of(node: Node) -> ArraySpec | None:
    if isinstance(node, ArrayNode):
        return node.spec
    if isinstance(node, LoopNode) and isinstance(node.child, ArrayNode):
        return node.child.spec
    return None


def _type_hint(node: Node, spec: ArraySpec | None, value: Any, name: str) -> str | None:
    if spec is None:
        return None
    if value is None and isinstance(node, ArrayNode):
        return f"if `{name}` may be None, annotate it as {node.text} | None"
    if isinstance(value, np.ndarray) and torch.Tensor in spec.types:
        return (
            f"`{name}` is a numpy array; convert it with torch.as_tensor({name}) "
            "(or shapesafe.from_numpy)"
        )
    if isinstance(value, torch.Tensor) and np.ndarray in spec.types:
        return f"`{name}` is a tensor; convert it with {name}.detach().cpu().numpy()"
    if isinstance(value, (list, tuple, int, float)):
        if torch.Tensor not in spec.types:
            return f"wrap it as an array first: np.asarray({name})"
        return f"wrap it as a tensor first: torch.as_tensor({name})"
    return None


def _dtype_hint(spec: ArraySpec, value: Any, name: str) -> str | None:
    want = spec.dtype_name
    is_float = isinstance(value, torch.Tensor) and value.is_floating_point()
    if want in ("Float", "Inexact", "Float32") and not is_float:
        return f"convert with {name}.float()"
    if want in ("Int", "Integer", "Int64") and is_float:
        return f"indices must be integers; convert with {name}.long()"
    if want == "Bool":
        return f"convert with {name}.bool() (or compare, e.g. {name} > 0)"
    return None


def _leading_size(spec: ArraySpec, b: Bindings) -> int:
    first = spec.dims[0]
    if isinstance(first, FixedDim):
        return first.size
    if isinstance(first, NamedDim) and first.name in b.values:
        return int(b.values[first.name])
    return 1


def _shape_hint(spec: ArraySpec, shape: tuple[int, ...], b: Bindings, name: str) -> str | None:
    def fits(cand: tuple[int, ...]) -> bool:
        return match_shape(spec, cand, b.copy(), "hint", None) is None

    rank, exact = spec.rank, spec.var_index is None
    if exact and rank == 0 and shape:
        if int(np.prod(shape)) == 1:
            return f"`{name}` has one element but shape {fmt_shape(shape)}; use {name}.squeeze()"
        return (
            f"`{name}` is not a scalar (shape {fmt_shape(shape)}); "
            f"reduce it, e.g. {name}.mean() or {name}.sum()"
        )
    if shape == () and rank >= 1:
        return (
            f"`{name}` is a scalar: it looks reduced over the batch; did you sum/mean too "
            "early? keep one value per sample"
        )
    if shape and shape[-1] == 1 and fits(shape[:-1]):
        return f"`{name}` has a trailing axis of size 1; did you mean {name}.squeeze(-1)?"
    if shape and shape[0] == 1 and fits(shape[1:]):
        return f"`{name}` has a leading axis of size 1; did you mean {name}.squeeze(0)?"
    # the value matches the annotation's trailing axes: the leading one is missing
    leading_missing = (
        spec.dims
        and not isinstance(spec.dims[0], RunDim)
        and spec.var_index != 0
        and len(shape) == rank - 1
        and fits((_leading_size(spec, b), *shape))
    )
    if leading_missing:
        return (
            f"`{name}` is missing its leading ({spec.dims[0].label}) axis; for a single "
            f"sample, add it with {name}.unsqueeze(0)"
        )
    if fits((*shape, 1)):
        return f"`{name}` lacks a trailing axis of size 1; did you mean {name}.unsqueeze(-1)?"
    if shape and shape[-1] != 1 and fits(shape[:-1]):
        return (
            f"`{name}` has an extra trailing axis of size {shape[-1]}; if it holds "
            f"per-coordinate terms (e.g. a log-prob per action dimension), sum them with "
            f"{name}.sum(-1)"
        )
    return _transpose_hint(spec, shape, b, name, fits)


def _transpose_hint(
    spec: ArraySpec, shape: tuple[int, ...], b: Bindings, name: str, fits: Callable[[Shape], bool]
) -> str | None:
    n = len(shape)
    if n < 2 or n > 5 or spec.var_index is not None:
        return None
    found: tuple[tuple[int, ...], str] | None = None
    first_two = (1, 0, *range(2, n))
    last_two = (*range(n - 2), n - 1, n - 2)
    for perm, fix in (
        (first_two, f"{name}.transpose(0, 1)"),
        (last_two, f"{name}.transpose(-2, -1)"),
    ):
        if (n > 2 or fix.endswith("(-2, -1)")) and fits(tuple(shape[p] for p in perm)):
            found = (perm, fix)
            break
    if found is None:
        for perm in itertools.permutations(range(n)):
            if perm != tuple(range(n)) and fits(tuple(shape[p] for p in perm)):
                found = (perm, f"{name}.permute{perm}")
                break
    if found is None:
        return None
    perm, fix = found
    # when every axis that moved is a named dim bound by another argument, that other
    # argument is as likely to be the transposed one (time-major vs batch-major): say so
    # instead of blaming the later argument alone
    moved = [spec.dims[i] for i in range(n) if perm[i] != i]
    sources = {b.sources.get(d.name) if isinstance(d, NamedDim) else None for d in moved}
    if None in sources or f"`{name}`" in sources:
        return f"`{name}` looks transposed; did you mean {fix}?"
    by = " and ".join(sorted(s for s in sources if s is not None))
    return (
        f"`{name}` and {by} disagree on the order of the axes (time-major vs "
        f"batch-major?): one of them is transposed; if it is `{name}`, use {fix}, "
        f"otherwise transpose {by}"
    )


def _hint(node: Node, failure: Failure, value: Any, b: Bindings, name: str) -> str | None:
    spec = _spec_of(node)
    if failure.kind == "type":
        return _type_hint(node, spec, value, name)
    if failure.kind == "dtype" and spec is not None:
        return _dtype_hint(spec, value, name)
    if (
        failure.kind in ("rank", "size")
        and spec is not None
        and isinstance(value, (torch.Tensor, np.ndarray))
    ):
        return _shape_hint(spec, shape_of(value), b, name)
    return None


def make_error(fn_name: str, node: Node, value: Any, failure: Failure, b: Bindings) -> ShapeError:
    where = failure.where or node.where
    if "`" in where:
        _, base, rest = where.split("`", 2)
        name = base + rest
    else:
        name = "result" + where.removeprefix("return value")
    head = f"{fn_name}(): {where}"
    if failure.axis is not None:
        label = f" ({failure.axis_label!r})" if failure.axis_label else ""
        head += f" axis {failure.axis}{label}"
    got = failure.got
    expected = failure.expected
    if failure.kind == "size" and isinstance(value, (torch.Tensor, np.ndarray)):
        got = f"{failure.got} in shape {fmt_shape(value.shape)}"
    elif failure.kind == "rank" and failure.got_rank is not None:
        got = f"{failure.got} [{plural(failure.got_rank, 'axis')}]"
        if not isinstance(node, AttrsNode):
            got = f"shape {got}"
            expected = f"shape {expected}"
    lines = [f"{head}: expected {expected}, got {got}"]
    if isinstance(node, (ArrayNode, UnionNode, LoopNode)) and failure.kind != "type":
        lines.append(f"  annotation: {node.text}")
    lines.append(f"  bindings: {describe_bindings(b)}")
    hint = _hint(node, failure, value, b, name)
    if hint:
        lines.append(f"  hint: {hint}")
    return failure.exc(
        "\n".join(lines),
        function=fn_name,
        argument=source_of(where).replace("`", ""),
        axis=failure.axis,
        expected=expected,
        got=failure.got,
        bindings=b.public(),
        hint=hint,
    )


def describe_bindings(b: Bindings) -> str:
    """``batch=64 (from `obs`), *rest=(2, 3) (from `x`)``; ``(none yet)`` when empty."""
    if not b.values:
        return "(none yet)"
    return ", ".join(
        f"{k}={fmt_shape(v) if isinstance(v, tuple) else v} (from {b.sources[k]})"
        for k, v in b.values.items()
    )


__all__ = ["Plan", "describe", "describe_bindings", "explain", "explain_compiling", "make_error"]
