"""The generated wrapper: a function with the checked function's own signature whose
body is a straight line of integer comparisons.

Why generate source instead of interpreting the plan per call: the interpreter
(:mod:`.match`) walks nodes, copies bindings and builds failure records; on a
``gather`` of a small batch that cost more than the op. The generated body does only
what the annotation needs -- an ``isinstance``, a dtype membership test, ``len`` of the
shape and one ``==`` per constrained axis -- so a checked call costs about 1.3x the raw
op (``benchmarks/bench_check.py``). Under ``torch.compile`` dynamo traces the same body:
the comparisons run on symbolic sizes at trace time and become guards, so compiled
calls pay nothing.

How bindings work without a dict: every named dim is a local variable of the wrapper
(``_ss_D_batch`` for ``batch``, ``_ss_V_rest`` for a run ``*rest``), so concurrent calls
from several threads never share state. While emitting code, the generator tracks for
each such variable whether it is *surely* bound at this point of the body
(:attr:`Bound.SURE`: compare with ``==``) or only *possibly* bound (:attr:`Bound.MAYBE`:
it was first seen under an ``Optional``, in a union member, inside a loop over
``*args``, or on a broadcastable ``#`` axis that is 1). A MAYBE variable is set to
``None`` at the top of the wrapper and compared as ``var is None or el == var``.

Symbolic dims (``n+1``) whose names are not surely bound yet are deferred: the axis size
is saved in ``_ss_y<j>`` (inside a loop, appended to a list, so *every* item is checked,
not only the last) and compared once the arguments (or the return value) are done.
Expressions that divide are evaluated through a small helper that turns a division by
zero into a failed check, which :mod:`.explain` then phrases.

Every name the body uses is prefixed ``_ss_`` (parameters starting with ``_ss_`` are
refused), including the builtins it calls (``_ss_len``, ``_ss_isinstance``, ...): a
parameter called ``len``, ``isinstance`` or ``tuple`` shadows the builtin inside the
wrapper, since parameters are locals.
The function around this body (signature, the failure path, generators and
coroutines) is assembled in :mod:`.wrapper`.
"""

from __future__ import annotations

import ast
import enum
import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from shapesafe._checker.dims import (
    SAFE_BUILTINS,
    AnonDim,
    AnyRunDim,
    ArgDim,
    FixedDim,
    RunDim,
    SymbolicDim,
)
from shapesafe._checker.explain import Plan
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

# builtins the body calls, under mangled names (see the module docstring)
_BUILTINS = {"_ss_len": len, "_ss_isinstance": isinstance, "_ss_tuple": tuple, "_ss_dict": dict}


class Bound(enum.Enum):
    """Whether a binding variable holds a value at this point of the generated body."""

    SURE = "sure"  # assigned on every path so far: compare with ==
    MAYBE = "maybe"  # assigned on some paths: initialised to None, compared if not None


_COMMON_FIRST = [
    torch.float32, torch.float64, torch.int64, torch.bool, torch.float16, torch.bfloat16,
    torch.int32, torch.uint8,
]  # fmt: skip


@functools.lru_cache(maxsize=256)
def _ordered(dtypes: frozenset[Any]) -> tuple[Any, ...]:
    """A tuple, common dtypes first: `x.dtype in tuple` hits on identity at once, which is
    about twice as fast as hashing into a frozenset."""

    def rank(dt: Any) -> tuple[int, str]:
        for i, common in enumerate(_COMMON_FIRST):
            if dt is common or (isinstance(dt, type) and dt.__name__ == str(common)[6:]):
                return (i, str(dt))
        return (len(_COMMON_FIRST), str(dt))

    return tuple(sorted(dtypes, key=rank))


def _divides(expr: str) -> bool:
    tree = ast.parse(expr, mode="eval")
    return any(isinstance(n, (ast.Div, ast.FloorDiv, ast.Mod)) for n in ast.walk(tree))


def _guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    def evaluate(*args: Any) -> Any:
        try:
            return fn(*args)
        except ArithmeticError:
            return None  # compares unequal to any size: the check fails, explain says why

    return evaluate


class _Deferred:
    """A symbolic axis whose names were not surely bound where it was seen."""

    def __init__(self, var: str, in_loop: bool, dim: SymbolicDim, expr: str) -> None:
        self.var, self.in_loop, self.dim, self.expr = var, in_loop, dim, expr


class Generator:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.lines: list[str] = []
        self.ns: dict[str, Any] = dict(_BUILTINS)
        self.state: dict[str, Bound] = {}
        self.maybe: set[str] = set()  # initialised to None at the top
        self.lists: set[str] = set()  # initialised to [] at the top
        self.node_vars: list[str] = []  # the local holding the value of check k
        self.deferred: list[_Deferred] = []
        self._consts: dict[int, str] = {}
        self._n_symbolic = 0
        # `{self.obs_dim}` axes: each path is read once per call, into `_ss_A<i>`
        self.arg_vars = {path: f"_ss_A{i}" for i, path in enumerate(plan.arg_paths)}

    def const(self, obj: Any) -> str:
        key = id(obj)
        if key not in self._consts:
            name = f"_ss_c{len(self._consts)}"
            self._consts[key] = name
            self.ns[name] = obj
        return self._consts[key]

    def fail(self, k: int) -> str:
        extra = ""
        if self.arg_vars:
            extra = f", _ss_a=({', '.join(self.arg_vars.values())},)"
        return f"_ss_fail({k}, {', '.join(self.node_vars[: k + 1])}{extra})"

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def _maybe(self, var: str) -> None:
        self.state.setdefault(var, Bound.MAYBE)
        self.maybe.add(var)

    def _symbolic(self, d: SymbolicDim) -> str:
        """The expression with dim names (and builtins) renamed to the body's locals."""
        tree = ast.parse(d.expr, mode="eval")
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                if node.id in d.names:
                    node.id = f"_ss_D_{node.id}"
                elif node.id in SAFE_BUILTINS:
                    node.id = self.const(SAFE_BUILTINS[node.id])
        if not _divides(d.expr):
            return ast.unparse(tree)
        args = [f"_ss_D_{nm}" for nm in d.names]
        code = f"lambda {', '.join(args)}: {ast.unparse(tree)}"
        fn = _guarded(eval(code, dict(self.ns)))
        return f"{self.const(fn)}({', '.join(args)})"

    # one array annotation -> (condition, assignments, bindings made)
    def array_pred(
        self, spec: ArraySpec, v: str, in_loop: bool
    ) -> tuple[str, list[str], dict[str, bool]]:
        """``bound`` maps each binding variable assigned to whether the assignment is
        itself conditional (a ``#`` axis binds only when its size is not 1)."""
        conds: list[str] = []
        if spec.types:
            parts = []
            for t in spec.types:
                tname = self.const(t)
                if t is torch.Tensor and spec.torch_dtypes is not None:
                    dt = self.const(_ordered(spec.torch_dtypes))
                    parts.append(f"(_ss_isinstance({v}, {tname}) and {v}.dtype in {dt})")
                elif t is np.ndarray and spec.numpy_types is not None:
                    # scalar types, not dtypes: '>f4' is a float32 too
                    dt = self.const(_ordered(spec.numpy_types))
                    parts.append(f"(_ss_isinstance({v}, {tname}) and {v}.dtype.type in {dt})")
                else:
                    parts.append(f"_ss_isinstance({v}, {tname})")
            conds.append(parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")")
        s = "_ss_s"
        n = len(spec.dims)
        op = "==" if spec.var_index is None else ">="
        conds.append(f"_ss_len({s} := {v}.{spec.shape_attr}) {op} {spec.rank}")
        commits: list[str] = []
        bound: dict[str, bool] = {}
        first: dict[str, str] = {}
        for i, d in enumerate(spec.dims):
            idx = str(i - n) if spec.var_index is not None and i > spec.var_index else str(i)
            el = f"{s}[{idx}]"
            if isinstance(d, (AnonDim, AnyRunDim)):
                continue
            if isinstance(d, ArgDim):
                c = f"{el} == {self.arg_vars[d.path]}"
                conds.append(f"({el} == 1 or {c})" if d.broadcastable else c)
                continue
            if isinstance(d, FixedDim):
                c = f"{el} == {d.size}"
                conds.append(f"({el} == 1 or {c})" if d.broadcastable else c)
                continue
            if isinstance(d, SymbolicDim):
                self._emit_symbolic(d, el, in_loop, conds, commits)
                continue
            if isinstance(d, RunDim):
                assert spec.var_index is not None
                tail = n - 1 - spec.var_index
                el = f"{s}[{i}:]" if tail == 0 else f"{s}[{i}:-{tail}]"
                var = f"_ss_V_{d.name}"
                broadcastable = False
            else:
                var = f"_ss_D_{d.name}"
                broadcastable = d.broadcastable
            if var in first:  # the same name twice in one annotation
                conds.append(f"{el} == {first[var]}")
                continue
            first[var] = el
            st = self.state.get(var)
            if in_loop and st is None:
                st = Bound.MAYBE
            if st is Bound.MAYBE:
                self.maybe.add(var)
            if st is Bound.SURE:
                conds.append(f"({el} == 1 or {el} == {var})" if broadcastable else f"{el} == {var}")
                continue
            unset = f"{var} is None or " if st is Bound.MAYBE else ""
            if broadcastable:
                if st is Bound.MAYBE:
                    conds.append(f"({el} == 1 or {unset}{el} == {var})")
                commits.append(f"if {el} != 1: {var} = {el}")
                self.maybe.add(var)
                bound[var] = True
            else:
                if st is Bound.MAYBE:
                    conds.append(f"({unset}{el} == {var})")
                commits.append(f"{var} = {el}")
                bound[var] = False
        return " and ".join(conds), commits, bound

    def _emit_symbolic(
        self, d: SymbolicDim, el: str, in_loop: bool, conds: list[str], commits: list[str]
    ) -> None:
        expr = self._symbolic(d)
        if all(self.state.get(f"_ss_D_{nm}") is Bound.SURE for nm in d.names):
            c = f"{el} == ({expr})"
            conds.append(f"({el} == 1 or {c})" if d.broadcastable else c)
            return
        y = f"_ss_y{self._n_symbolic}"
        self._n_symbolic += 1
        for nm in d.names:
            self._maybe(f"_ss_D_{nm}")
        if in_loop:
            self.lists.add(y)
            commits.append(f"{y}.append({el})")
        else:
            self.maybe.add(y)
            commits.append(f"{y} = {el}")
        self.deferred.append(_Deferred(y, in_loop, d, expr))

    def apply(self, bound: dict[str, bool], conditional: bool) -> None:
        for var, self_conditional in bound.items():
            if self.state.get(var) is Bound.SURE:
                continue
            if conditional or self_conditional:
                self._maybe(var)
            else:
                self.state[var] = Bound.SURE

    def _array(self, k: int, spec: ArraySpec, v: str, ind: int, optional: bool) -> None:
        fail = self.fail(k)
        cond, commits, bound = self.array_pred(spec, v, False)
        if optional:
            self.emit(ind, f"if {v} is not None:")
            ind += 1
        self.emit(ind, f"if not ({cond}): {fail}")
        for c in commits:
            self.emit(ind, c)
        self.apply(bound, optional)

    def node(self, k: int, node: Node, v: str, ind: int) -> int:
        """Emit the checks of flat node ``k`` (value in local ``v``); return next index."""
        fail = self.fail(k)
        if isinstance(node, SkipNode):
            return k + 1
        if isinstance(node, NoneNode):
            self.emit(ind, f"if {v} is not None: {fail}")
        elif isinstance(node, ArrayNode):
            self._array(k, node.spec, v, ind, node.optional)
        elif isinstance(node, ClassNode):
            pre = f"{v} is not None and " if node.optional else ""
            self.emit(ind, f"if {pre}not _ss_isinstance({v}, {self.const(node.classes)}): {fail}")
        elif isinstance(node, BearNode):
            self.emit(ind, f"if not _ss_compiling() and not {self.const(node.bear)}({v}): {fail}")
        elif isinstance(node, AttrsNode):
            self.emit(ind, f"if not _ss_isinstance({v}, {self.const(node.classes)}): {fail}")
            for spec in node.attrs:
                self._array(k, spec, v, ind, False)
        elif isinstance(node, UnionNode):
            self._union(k, node, v, ind)
        elif isinstance(node, LoopNode):
            self._loop(k, node, v, ind)
        else:
            return self._container(k, node, v, ind)
        return k + 1

    def _union(self, k: int, node: UnionNode, v: str, ind: int) -> None:
        for j, m in enumerate(node.members):
            kw = "if" if j == 0 else "elif"
            if m is None:
                self.emit(ind, f"{kw} {v} is None: pass")
            elif isinstance(m, tuple):
                self.emit(ind, f"{kw} _ss_isinstance({v}, {self.const(m)}): pass")
            else:
                cond, commits, bound = self.array_pred(m, v, False)
                self.emit(ind, f"{kw} {cond}:")
                for c in commits or ["pass"]:
                    self.emit(ind + 1, c)
                self.apply(bound, True)
        self.emit(ind, f"else: {self.fail(k)}")

    def _loop(self, k: int, node: LoopNode, v: str, ind: int) -> None:
        fail = self.fail(k)
        if node.classes:
            self.emit(ind, f"if not _ss_isinstance({v}, {self.const(node.classes)}): {fail}")
        child = node.child
        self.emit(ind, f"for _ss_e in {v}.values():" if node.over_values else f"for _ss_e in {v}:")
        if isinstance(child, ArrayNode):
            cond, commits, bound = self.array_pred(child.spec, "_ss_e", True)
            if child.optional:
                cond = f"_ss_e is None or ({cond})"
            self.emit(ind + 1, f"if not ({cond}): {fail}")
            if commits and child.optional:
                self.emit(ind + 1, "if _ss_e is not None:")
            for c in commits:
                self.emit(ind + 1 + child.optional, c)
            self.apply(bound, True)
        elif isinstance(child, ClassNode):
            pre = "_ss_e is not None and " if child.optional else ""
            cls = self.const(child.classes)
            self.emit(ind + 1, f"if {pre}not _ss_isinstance(_ss_e, {cls}): {fail}")
        else:
            bear = self.const(child.bear)
            self.emit(ind + 1, f"if not _ss_compiling() and not {bear}(_ss_e): {fail}")

    def _container(self, k: int, node: TupleNode | StructNode, v: str, ind: int) -> int:
        fail = self.fail(k)
        if isinstance(node, TupleNode):
            n = len(node.children)
            self.emit(
                ind, f"if not (_ss_isinstance({v}, _ss_tuple) and _ss_len({v}) == {n}): {fail}"
            )
            accessors = [f"{v}[{j}]" for j in range(n)]
        elif node.keyed:  # a TypedDict: a dict with the required keys
            keys = self.const(node.required)
            self.emit(
                ind, f"if not (_ss_isinstance({v}, _ss_dict) and {keys} <= {v}.keys()): {fail}"
            )
            accessors = [
                f"{v}[{f!r}]" if f in node.required else f"{v}.get({f!r})" for f in node.fields
            ]
        else:
            self.emit(ind, f"if not _ss_isinstance({v}, {self.const(node.cls)}): {fail}")
            accessors = [f"{v}.{f}" for f in node.fields]
        nxt = k + 1
        for child, acc in zip(node.children, accessors):
            var = f"_ss_n{nxt}"
            self.node_vars.append(var)
            self.emit(ind, f"{var} = {acc}")
            nxt = self.node(nxt, child, var, ind)
        return nxt

    def flush_deferred(self, k: int, ind: int) -> None:
        """Compare the deferred symbolic axes, now that the names may be bound."""
        fail = self.fail(k)
        for dd in self.deferred:
            names = [f"_ss_D_{nm} is not None" for nm in dd.dim.names]
            if dd.in_loop:
                self.emit(ind, f"for _ss_t in {dd.var}:")
                size, ind2 = "_ss_t", ind + 1
            else:
                names.insert(0, f"{dd.var} is not None")
                size, ind2 = dd.var, ind
            guard = " and ".join(names) or "True"
            if dd.dim.broadcastable:
                guard += f" and {size} != 1"
            self.emit(ind2, f"if {guard} and {size} != ({dd.expr}): {fail}")
        self.deferred.clear()


def arg_paths(nodes: tuple[Node, ...]) -> tuple[str, ...]:
    """The distinct ``{self.obs_dim}`` paths that the annotations of ``nodes`` read."""
    specs: list[ArraySpec] = []
    for node in nodes:
        if isinstance(node, ArrayNode):
            specs.append(node.spec)
        elif isinstance(node, LoopNode) and isinstance(node.child, ArrayNode):
            specs.append(node.child.spec)
        elif isinstance(node, UnionNode):
            specs.extend(m for m in node.members if isinstance(m, ArraySpec))
        elif isinstance(node, AttrsNode):
            specs.extend(node.attrs)
    paths = (d.path for sp in specs for d in sp.dims if isinstance(d, ArgDim))
    return tuple(dict.fromkeys(paths))
