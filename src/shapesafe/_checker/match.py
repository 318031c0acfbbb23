"""The reference matcher: the one definition of what "a value matches a node" means.

The generated wrapper (:mod:`.codegen`) is a fast, specialised copy of these rules. It
never explains anything: when it sees a mismatch it hands the values to
:mod:`.explain`, which re-runs this matcher to find *which* rule failed and why. So the
two must agree; the hypothesis tests in ``tests/test_check.py`` compare them (and both
against jaxtyping + beartype).

Bindings are recorded with where each came from (``batch`` from `obs`) for messages.
A symbolic dim (``n+1``) whose names are not bound yet is *deferred* until the end of
the arguments (or the return value), as jaxtyping does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from shapesafe._checker.dims import (
    AnonDim,
    AnyRunDim,
    ArgDim,
    FixedDim,
    NamedDim,
    RunDim,
    SymbolicDim,
    SymbolicError,
)
from shapesafe._checker.plan import (
    ArrayNode,
    ArraySpec,
    AttrsNode,
    BearNode,
    ClassNode,
    LoopNode,
    Node,
    NoneNode,
    SkipNode,
    StructNode,
    TupleNode,
    UnionNode,
)
from shapesafe._format import fmt_dtype, fmt_shape, fmt_value, plural
from shapesafe.errors import DtypeError, ShapeError


class Opaque:
    """A value seen only at compile time that could not be inspected."""

    def __init__(self, python_type: type) -> None:
        self.python_type = python_type


class Bindings:
    """Named-dim bindings with where each came from (for messages). A variadic run
    ``*rest`` is stored under the key ``"*rest"`` (a tuple)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.sources: dict[str, str] = {}
        # `{self.obs_dim}` axes: the sizes read from the call (path -> size); not
        # bindings (no name, never shared), so kept apart from `values`
        self.args: dict[str, Any] = {}

    def copy(self) -> Bindings:
        b = Bindings()
        b.values = dict(self.values)
        b.sources = dict(self.sources)
        b.args = self.args
        return b

    def update(self, other: Bindings) -> None:
        self.values = other.values
        self.sources = other.sources

    def public(self) -> dict[str, Any]:
        return {
            k.lstrip("*"): (tuple(v) if isinstance(v, tuple) else v) for k, v in self.values.items()
        }


FailureKind = Literal["type", "dtype", "rank", "size", "length", "opaque"]


@dataclasses.dataclass
class Failure:
    """Why a value did not match."""

    kind: FailureKind
    expected: str
    got: str
    axis: int | None = None
    axis_label: str | None = None  # the dim as written; None for fixed sizes
    got_rank: int | None = None  # rank failures: the value's number of axes
    exc: type[ShapeError] = ShapeError
    where: str | None = None  # overrides the node's (an element of a sequence)


def shape_of(value: Any, attr: str = "shape") -> tuple[int, ...]:
    return tuple(int(s) for s in getattr(value, attr))


def type_ok(spec: ArraySpec, value: Any) -> bool:
    return not spec.types or isinstance(value, spec.types)


def dtype_ok(spec: ArraySpec, value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return spec.torch_dtypes is None or value.dtype in spec.torch_dtypes
    if isinstance(value, np.ndarray):
        return spec.numpy_types is None or value.dtype.type in spec.numpy_types
    return True


def _axes(n: int, open_ended: bool) -> str:
    return f"{n}+ axes" if open_ended else plural(n, "axis")


def expected_shape(spec: ArraySpec, b: Bindings) -> str:
    """``(batch, obs) = (64, 3) [2 axes]``: the annotation, then what it means with the
    bindings so far (symbolic dims evaluated when their names are bound)."""
    known: list[str] = []
    for d in spec.dims:
        if isinstance(d, FixedDim):
            known.append(str(d.size))
        elif isinstance(d, NamedDim) and d.name in b.values:
            known.append(str(b.values[d.name]))
        elif isinstance(d, ArgDim) and d.path in b.args:
            known.append(str(b.args[d.path]))
        elif isinstance(d, RunDim) and "*" + d.name in b.values:
            known.extend(str(x) for x in b.values["*" + d.name])
        elif isinstance(d, SymbolicDim):
            try:
                value = d.evaluate(b.values)
            except SymbolicError:
                value = None
            known.append(d.label if value is None else str(value))
        else:
            known.append(d.label)
    pretty = fmt_shape(d.label for d in spec.dims)
    resolved = fmt_shape(known)
    if resolved != pretty:
        pretty += f" = {resolved}"
    n = spec.rank
    open_ended = spec.var_index is not None
    var = spec.dims[spec.var_index] if spec.var_index is not None else None
    if isinstance(var, RunDim) and "*" + var.name in b.values:
        n += len(b.values["*" + var.name])  # the run is bound: the rank is exact
        open_ended = False
    return f"{pretty} [{_axes(n, open_ended)}]"


Deferred = tuple[SymbolicDim, int, int]  # (dim, axis, size): checked once names are bound


def match_shape(
    spec: ArraySpec,
    shape: Sequence[int],
    b: Bindings,
    source: str,
    deferred: list[Any] | None,
) -> Failure | None:
    """Match a shape against ``spec``'s dims, binding into ``b`` (only on success)."""
    n = len(shape)
    if (spec.var_index is None and n != len(spec.dims)) or n < spec.rank:
        return Failure("rank", expected_shape(spec, b), fmt_shape(shape), got_rank=n)
    trial = b.copy()
    pending: list[Deferred] = []
    for i, d in enumerate(spec.dims):
        pos = n - (len(spec.dims) - i) if spec.var_index is not None and i > spec.var_index else i
        if isinstance(d, (AnonDim, AnyRunDim)):
            continue
        if isinstance(d, RunDim):
            assert spec.var_index is not None
            stop = n - (len(spec.dims) - 1 - spec.var_index)
            got = tuple(shape[i:stop])
            key = "*" + d.name
            if key in trial.values and len(trial.values[key]) != len(got):
                # a run of another length: that is a rank problem, shown as whole shapes
                return Failure("rank", expected_shape(spec, trial), fmt_shape(shape), got_rank=n)
            if key in trial.values and tuple(trial.values[key]) != got:
                return Failure(
                    "size",
                    f"*{d.name}={fmt_shape(trial.values[key])} (bound by {trial.sources[key]})",
                    f"{fmt_shape(got)} at axes {i}..{stop - 1}",
                    axis=i,
                    axis_label=d.label,
                )
            if key not in trial.values:
                trial.values[key] = got
                trial.sources[key] = source
            continue
        size = shape[pos]
        if d.broadcastable and size == 1:
            continue
        if isinstance(d, FixedDim):
            if size != d.size:
                alias = f"{d.alias}=" if d.alias else ""
                # an aliased size (act=2) is labelled; a bare '4' is not a name
                label = d.label if d.alias else None
                return Failure("size", f"{alias}{d.size}", str(size), axis=pos, axis_label=label)
        elif isinstance(d, ArgDim):
            if d.path not in trial.args:
                continue
            want = trial.args[d.path]
            if isinstance(want, bool) or not isinstance(want, (int, np.integer)):
                # `self.obs_dim = None` or a tensor: no size to compare with
                return Failure(
                    "size",
                    f"a size from {d.path}, which is {fmt_value(want)}, not an int",
                    str(size),
                    axis=pos,
                    axis_label=d.label,
                )
            if size != want:
                alias = f"{d.alias}=" if d.alias else ""
                return Failure(
                    "size", f"{alias}{want} ({d.path})", str(size), axis=pos, axis_label=d.label
                )
        elif isinstance(d, NamedDim):
            if d.name in trial.values:
                if trial.values[d.name] != size:
                    return Failure(
                        "size",
                        f"{d.name}={trial.values[d.name]} (bound by {trial.sources[d.name]})",
                        str(size),
                        axis=pos,
                        axis_label=d.label,
                    )
            else:
                trial.values[d.name] = size
                trial.sources[d.name] = source
        else:
            pending.append((d, pos, size))
    for d, pos, size in pending:
        failure = check_symbolic(d, pos, size, trial)
        if failure is not None:
            return failure
        if deferred is not None and any(nm not in trial.values for nm in d.names):
            deferred.append((d, pos, size))
    b.update(trial)
    return None


def check_symbolic(d: SymbolicDim, pos: int, size: int, b: Bindings) -> Failure | None:
    """A symbolic dim against its size; ``None`` when it fits or cannot be evaluated yet."""
    try:
        want = d.evaluate(b.values)
    except SymbolicError as exc:
        bound = ", ".join(f"{nm}={b.values[nm]}" for nm in d.names)
        expected = f"{d.expr} with {bound}, which {exc}"
        return Failure("size", expected, str(size), axis=pos, axis_label=d.label)
    if want is None or want == size:
        return None
    return Failure("size", f"{d.expr}={want}", str(size), axis=pos, axis_label=d.label)


def match_array(
    spec: ArraySpec, value: Any, b: Bindings, source: str, deferred: list[Any] | None
) -> Failure | None:
    if not type_ok(spec, value):
        want = " or ".join(t.__module__.split(".")[0] + "." + t.__name__ for t in spec.types)
        return Failure("type", f"{spec.text} (a {want})", type(value).__qualname__, exc=DtypeError)
    if spec.shape_attr != "shape":
        return match_shape(spec, shape_of(value, spec.shape_attr), b, source, deferred)
    if not dtype_ok(spec, value):
        return Failure(
            "dtype",
            f"dtype {spec.dtype_name} ({spec.text})",
            f"dtype {fmt_dtype(value.dtype)}",
            exc=DtypeError,
        )
    return match_shape(spec, shape_of(value), b, source, deferred)


def source_of(where: str) -> str:
    return where.removeprefix("argument ")


def describe(value: Any) -> str:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        lib = "Tensor" if isinstance(value, torch.Tensor) else "ndarray"
        return f"{lib} of dtype {fmt_dtype(value.dtype)} and shape {fmt_shape(value.shape)}"
    if isinstance(value, Opaque):
        return fmt_value(value)
    return type(value).__qualname__


def _type_failure(expected: str, value: Any) -> Failure:
    return Failure("type", expected, describe(value), exc=DtypeError)


def match_node(node: Node, value: Any, b: Bindings, deferred: list[Any]) -> Failure | None:
    """The reference semantics of one node's check (containers check only themselves;
    their children are separate nodes, see :func:`~.plan.flatten`). Symbolic axes that
    cannot be evaluated yet go to ``deferred`` as ``(dim, axis, size, node, value)``."""
    if isinstance(node, SkipNode):
        return None
    if isinstance(value, Opaque):
        if isinstance(node, (TupleNode, StructNode, BearNode)):
            return None
        if isinstance(node, ClassNode) and issubclass(value.python_type, node.classes):
            return None
        return Failure(
            "opaque",
            node.text,
            f"a {value.python_type.__qualname__} (not inspectable while compiling)",
        )
    if isinstance(node, NoneNode):
        return None if value is None else _type_failure("None", value)
    if value is None and isinstance(node, (ArrayNode, ClassNode)) and node.optional:
        return None
    if isinstance(node, ArrayNode):
        start = len(deferred)
        failure = match_array(node.spec, value, b, source_of(node.where), deferred)
        for j in range(start, len(deferred)):
            deferred[j] = (*deferred[j], node, value)
        return failure
    if isinstance(node, ClassNode):
        return None if isinstance(value, node.classes) else _type_failure(node.text, value)
    if isinstance(node, StructNode):
        if not isinstance(value, node.cls):
            return _type_failure(f"a dict: {node.text}" if node.keyed else node.text, value)
        missing = sorted(node.required - value.keys()) if isinstance(value, dict) else []
        if missing:
            keys = ", ".join(map(repr, sorted(node.required)))
            return Failure(
                "type",
                f"a dict with the keys of {node.text}: {keys}",
                f"a dict without {', '.join(map(repr, missing))}",
                exc=DtypeError,
            )
        return None
    if isinstance(node, BearNode):
        return None if node.bear(value) else _type_failure(node.text, value)
    if isinstance(node, TupleNode):
        length = len(node.children)
        if not isinstance(value, tuple):
            return _type_failure(f"a tuple of {length}: {node.text}", value)
        if len(value) != length:
            return Failure(
                "length", f"a tuple of length {length}: {node.text}", f"length {len(value)}"
            )
        return None
    if isinstance(node, AttrsNode):
        if not isinstance(value, node.classes):
            return _type_failure(node.text, value)
        for spec in node.attrs:
            source = source_of(node.where) + "." + spec.shape_attr
            failure = match_array(spec, value, b, source, None)
            if failure is not None:
                failure.expected = f"{spec.shape_attr} {failure.expected}"
                failure.got = f"{spec.shape_attr} {failure.got}"
                return failure
        return None
    if isinstance(node, LoopNode):
        if node.classes and not isinstance(value, node.classes):
            return _type_failure(node.text, value)
        items = list(value.items()) if node.over_values else list(enumerate(value))
        for key, elem in items:
            sub = dataclasses.replace(node.child, where=f"{node.where}[{key!r}]")
            failure = match_node(sub, elem, b, deferred)
            if failure is not None:
                failure.where = sub.where
                return failure
        return None
    return _match_union(node, value, b)


def _match_union(node: UnionNode, value: Any, b: Bindings) -> Failure | None:
    for m in node.members:
        if m is None:
            if value is None:
                return None
        elif isinstance(m, tuple):
            if isinstance(value, m):
                return None
        else:
            trial = b.copy()
            if match_array(m, value, trial, source_of(node.where), None) is None:
                b.update(trial)
                return None
    close = [
        m
        for m in node.members
        if isinstance(m, ArraySpec) and type_ok(m, value) and dtype_ok(m, value)
    ]
    if len(close) == 1:  # one member fits the type and dtype: report its shape problem
        failure = match_array(close[0], value, b.copy(), source_of(node.where), None)
        if failure is not None:
            failure.expected += f" (the {close[0].text} member of the union)"
            return failure
    reasons = []
    for m in node.members:
        if isinstance(m, ArraySpec):
            f = match_array(m, value, b.copy(), source_of(node.where), None)
            if f is not None and f.kind != "type":  # "got str" is said once, below
                reasons.append(f"{m.text}: expected {f.expected}, got {f.got}")
    extra = ("; " + "; ".join(reasons)) if reasons else ""
    return _type_failure(f"one of {node.text}{extra}", value)


def run_deferred(deferred: list[Any], b: Bindings) -> tuple[Failure, Node, Any] | None:
    """Check the symbolic dims deferred so far, now that more names are bound."""
    for d, pos, size, node, value in deferred:
        failure = check_symbolic(d, pos, size, b)
        if failure is not None:
            return failure, node, value
    return None
