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
    ClassNode,
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
    # the `{self.obs_dim}` paths the annotations read, in the order the wrapper reads them
    arg_paths: tuple[str, ...] = ()


def explain(plan: Plan, k: int, values: tuple[Any, ...], args: tuple[Any, ...] = ()) -> ShapeError:
    """The error for a call whose check ``k`` failed (``values``: of checks ``0..k``;
    ``args``: the sizes read for ``plan.arg_paths``)."""
    b = Bindings()
    b.args = dict(zip(plan.arg_paths, args))
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


def explain_compiling(
    plan: Plan, k: int, values: tuple[Any, ...], args: tuple[Any, ...] = ()
) -> None:
    """Run at compile time (dynamo ``comptime``): raise the same error as eager mode.
    ``values`` are dynamo variable trackers, read back as example values; ``args`` are
    already plain sizes."""
    raise explain(
        plan,
        k,
        tuple(comptime_value_deep(v) for v in values),
        args,
    )


def _spec_of(node: Node) -> ArraySpec | None:
    if isinstance(node, ArrayNode):
        return node.spec
    if isinstance(node, LoopNode) and isinstance(node.child, ArrayNode):
        return node.child.spec
    return None


@dataclasses.dataclass(frozen=True)
class _Name:
    """How a hint names the value: ``subject`` in prose (```q_next``` or ``return
    value[1]``, the same words as the message's first line) and, for arguments, the
    expression a fix is written on (``q_next.squeeze(-1)``). A return value has no
    expression at the call site, so its fixes read ``.squeeze(-1) on return value[1]``."""

    subject: str
    expr: str | None

    def call(self, method: str) -> str:
        return f"{self.expr}.{method}" if self.expr else f".{method} on {self.subject}"

    def wrap(self, fn: str) -> str:
        return f"{fn}({self.expr})" if self.expr else f"{fn}(...) around {self.subject}"


def _type_hint(node: Node, spec: ArraySpec | None, value: Any, name: _Name) -> str | None:
    if spec is None:
        return None
    if value is None and isinstance(node, ArrayNode):
        return f"if {name.subject} may be None, annotate it as {node.text} | None"
    if isinstance(value, np.ndarray) and torch.Tensor in spec.types:
        return (
            f"{name.subject} is a numpy array; convert it with {name.wrap('torch.as_tensor')} "
            "(or shapesafe.from_numpy)"
        )
    if isinstance(value, torch.Tensor) and np.ndarray in spec.types:
        return f"{name.subject} is a tensor; convert it with {name.call('detach().cpu().numpy()')}"
    if isinstance(value, (list, tuple, int, float)):
        if torch.Tensor not in spec.types:
            return f"wrap it as an array first: {name.wrap('np.asarray')}"
        return f"wrap it as a tensor first: {name.wrap('torch.as_tensor')}"
    return None


def _class_hint(node: Node, value: Any, name: _Name) -> str | None:
    """``float`` / ``int`` annotations given a tensor: say what it is and the two fixes."""
    if not isinstance(node, ClassNode) or not isinstance(value, torch.Tensor):
        return None
    if not any(c in node.classes for c in (int, float, bool, complex)):
        return None
    if value.ndim == 0:
        return (
            f"{name.subject} is a 0-d tensor, not a Python number; use "
            f"{name.call('item()')}, or annotate it as "
            f'{node.text} | Float[Tensor, ""] if a tensor is meant (one kept on the '
            "device or with a gradient, like SAC's alpha)"
        )
    return f"{name.subject} is a tensor of shape {fmt_shape(value.shape)}, not a single number"


def _dtype_hint(spec: ArraySpec, value: Any, name: _Name) -> str | None:
    want = spec.dtype_name
    is_float = isinstance(value, torch.Tensor) and value.is_floating_point()
    if want in ("Float", "Inexact", "Float32") and not is_float:
        return f"convert with {name.call('float()')}"
    if want in ("Int", "Integer", "Int64") and is_float:
        return f"indices must be integers; convert with {name.call('long()')}"
    if want == "Bool":
        if name.expr is None:
            return f"convert with {name.call('bool()')} (or compare, e.g. > 0)"
        return f"convert with {name.call('bool()')} (or compare, e.g. {name.expr} > 0)"
    return None


def _leading_size(spec: ArraySpec, b: Bindings) -> int:
    first = spec.dims[0]
    if isinstance(first, FixedDim):
        return first.size
    if isinstance(first, NamedDim) and first.name in b.values:
        return int(b.values[first.name])
    return 1


def _ones(spec: ArraySpec, b: Bindings) -> list[str]:
    """The annotation's named dims bound to 1 by this call, as ``batch=1 (by `obs`)``:
    with one of them, a size-1 axis may be that dim or a stray one, and a hint guesses."""
    return [
        f"{d.name}=1 (by {b.sources[d.name]})"
        for d in spec.dims
        if isinstance(d, NamedDim) and b.values.get(d.name) == 1
    ]


def _ambiguity(ones: list[str]) -> str:
    return (
        f"; note: {', '.join(ones)} in this call, so a size-1 axis could be that dim or a "
        "stray one: check the fix against a call with larger sizes"
    )


def _shape_hint(spec: ArraySpec, shape: tuple[int, ...], b: Bindings, name: _Name) -> str | None:
    hint = _shape_fix(spec, shape, b, name)
    ones = _ones(spec, b)
    if hint is not None and ones and (1 in shape or not shape):
        hint += _ambiguity(ones)
    return hint


def _shape_fix(spec: ArraySpec, shape: tuple[int, ...], b: Bindings, name: _Name) -> str | None:
    def fits(cand: tuple[int, ...]) -> bool:
        return match_shape(spec, cand, b.copy(), "hint", None) is None

    subject = name.subject
    rank, exact = spec.rank, spec.var_index is None
    if exact and rank == 0 and shape:
        if int(np.prod(shape)) == 1:
            return (
                f"{subject} has one element but shape {fmt_shape(shape)}; use "
                f"{name.call('squeeze()')}"
            )
        return f"{subject} is not a scalar (shape {fmt_shape(shape)}); reduce it, e.g. " + (
            f"{name.expr}.mean() or {name.expr}.sum()" if name.expr else "with .mean() or .sum()"
        )
    if shape == () and rank >= 1:
        # the usual cause: a reduction that also took the batch axis (.sum(), .sum(0)
        # of a (batch,) log-prob); unsqueezing would hide it, so name the reduction
        return (
            f"{subject} is a scalar: it looks reduced over the batch (a .sum() / .mean() "
            "over every axis, or .sum(0) of a per-sample value); reduce over the axis you "
            "meant instead (e.g. .sum(-1) for the action axis) and keep one value per sample"
        )
    if shape and shape[-1] == 1 and fits(shape[:-1]):
        ones = [d for d in _ones_in_bindings(b) if d not in _spec_names(spec)]
        if ones:
            # a per-coordinate term with one coordinate looks exactly like a (batch, 1)
            # column; .sum(-1) is right for both and for any number of coordinates
            return (
                f"{subject} has a trailing axis of size 1, and {', '.join(ones)} in this "
                "call: if it holds one term per coordinate (e.g. a log-prob per action "
                f"dimension), sum them with {name.call('sum(-1)')}, which stays right for "
                f"any number of coordinates; if it is a (batch, 1) column, use "
                f"{name.call('squeeze(-1)')}"
            )
        return f"{subject} has a trailing axis of size 1; did you mean {name.call('squeeze(-1)')}?"
    if shape and shape[0] == 1 and fits(shape[1:]):
        return f"{subject} has a leading axis of size 1; did you mean {name.call('squeeze(0)')}?"
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
            f"{subject} is missing its leading ({spec.dims[0].label}) axis; for a single "
            f"sample, add it with {name.call('unsqueeze(0)')}"
        )
    if fits((*shape, 1)):
        return (
            f"{subject} lacks a trailing axis of size 1; did you mean {name.call('unsqueeze(-1)')}?"
        )
    if shape and shape[-1] != 1 and fits(shape[:-1]):
        return (
            f"{subject} has an extra trailing axis of size {shape[-1]}; if it holds "
            f"per-coordinate terms (e.g. a log-prob per action dimension), sum them with "
            f"{name.call('sum(-1)')}"
        )
    return _transpose_hint(spec, shape, b, name, fits)


def _ones_in_bindings(b: Bindings) -> list[str]:
    return [f"{k}=1" for k, v in b.values.items() if v == 1 and not k.startswith("*")]


def _spec_names(spec: ArraySpec) -> set[str]:
    return {f"{d.name}=1" for d in spec.dims if isinstance(d, NamedDim)}


def _transpose_hint(
    spec: ArraySpec, shape: tuple[int, ...], b: Bindings, name: _Name, fits: Callable[[Shape], bool]
) -> str | None:
    n = len(shape)
    if n < 2 or n > 5 or spec.var_index is not None:
        return None
    found: tuple[tuple[int, ...], str] | None = None
    first_two = (1, 0, *range(2, n))
    last_two = (*range(n - 2), n - 1, n - 2)
    for perm, fix in (
        (first_two, name.call("transpose(0, 1)")),
        (last_two, name.call("transpose(-2, -1)")),
    ):
        if (n > 2 or "(-2, -1)" in fix) and fits(tuple(shape[p] for p in perm)):
            found = (perm, fix)
            break
    if found is None:
        for perm in itertools.permutations(range(n)):
            if perm != tuple(range(n)) and fits(tuple(shape[p] for p in perm)):
                found = (perm, name.call(f"permute{perm}"))
                break
    if found is None:
        return None
    perm, fix = found
    # when every axis that moved is a named dim bound by another argument, that other
    # argument is as likely to be the transposed one (time-major vs batch-major): say so
    # instead of blaming the later argument alone
    moved = [spec.dims[i] for i in range(n) if perm[i] != i]
    sources = {b.sources.get(d.name) if isinstance(d, NamedDim) else None for d in moved}
    if None in sources or name.subject in sources:
        return f"{name.subject} looks transposed; did you mean {fix}?"
    by = " and ".join(sorted(s for s in sources if s is not None))
    return (
        f"{name.subject} and {by} disagree on the order of the axes (time-major vs "
        f"batch-major?): one of them is transposed; if it is {name.subject}, use {fix}, "
        f"otherwise transpose {by}"
    )


def _hint(node: Node, failure: Failure, value: Any, b: Bindings, name: _Name) -> str | None:
    spec = _spec_of(node)
    if failure.kind == "type":
        return _type_hint(node, spec, value, name) or _class_hint(node, value, name)
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
        name = _Name(f"`{base + rest}`", base + rest)
    else:
        name = _Name(where, None)
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
