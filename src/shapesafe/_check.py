"""``@shapesafe.check``: jaxtyping annotations compiled into fast run-time checks.

At decoration time the annotations are parsed (:mod:`shapesafe._spec`) and turned into
the Python source of a wrapper with the function's own signature, in which every check
is an inline comparison of integers and every named dim is a local variable (so
concurrent calls from several threads never share bindings). On a mismatch the wrapper
calls a failure function that re-runs the reference matcher over the values seen so far
to build a precise message.

Under ``torch.compile`` the same wrapper is traced by dynamo: the comparisons run on
(symbolic) sizes while tracing, cost nothing per call, and turn into guards with dynamic
shapes. A mismatch found while tracing is explained at compile time (``comptime``), so
the error torch raises carries shapesafe's message.
"""

from __future__ import annotations

import ast
import functools
import inspect
import itertools
import linecache
import sys
import threading
import typing
from collections.abc import Callable
from typing import Any, TypeVar, overload

import numpy as np
import torch

from shapesafe import _config
from shapesafe._compile import comptime_value_deep, is_compiling
from shapesafe._spec import (
    ArraySpec,
    Bindings,
    Failure,
    Node,
    build_node,
    flatten,
    format_failure,
    is_jaxtyping_array,
    loose_spec,
    match_array,
    match_node,
    parse_array,
    run_deferred,
)
from shapesafe.errors import AnnotationError, DtypeError, ShapeError

__all__ = ["check", "check_shape"]

F = TypeVar("F", bound=Callable[..., Any])

_P = inspect.Parameter
_counter = itertools.count()
_compile_lock = threading.Lock()


# --------------------------------------------------------------------------------------
# explaining a failure


class _Plan:
    __slots__ = ("arg_end", "fn_name", "nodes")

    def __init__(self, fn_name: str, nodes: list[Node], arg_end: int) -> None:
        self.fn_name = fn_name
        self.nodes = nodes
        self.arg_end = arg_end  # index of the last argument node (-1: none)


def _explain(plan: _Plan, k: int, values: tuple[Any, ...]) -> ShapeError:
    b = Bindings()
    deferred: list[Any] = []
    for i in range(k + 1):
        node = plan.nodes[i]
        failure = match_node(node, values[i], b, deferred)
        if failure is None and i == k and node.kind == "bear":
            # beartype spot-checks containers at random: trust the call that failed
            failure = Failure("type", node.text, type(values[i]).__qualname__, exc=DtypeError)
        if failure is not None:
            return _make_error(plan, node, values[i], failure, b)
        if i == plan.arg_end or i == len(plan.nodes) - 1:
            found = run_deferred(deferred, b)
            if found is not None:
                failure, dnode, dvalue = found
                return _make_error(plan, dnode, dvalue, failure, b)
            deferred.clear()
    return ShapeError(  # pragma: no cover - the fast path and the matcher disagree
        f"{plan.fn_name}(): a shape check failed but shapesafe could not explain it; "
        "please report this with the annotation and the shapes",
        function=plan.fn_name,
    )


def _make_error(plan: _Plan, node: Node, value: Any, failure: Failure, b: Bindings) -> ShapeError:
    message, fields = format_failure(plan.fn_name, node, value, failure, b)
    exc_type = failure.exc or ShapeError
    err: ShapeError = exc_type(message, function=plan.fn_name, **fields)
    return err


def _explain_compiling(plan: _Plan, ctx: Any) -> None:
    """Run at compile time (dynamo ``comptime``): raise the same error as eager mode."""
    k = int(ctx.get_local("_ss_k").as_python_constant())
    values = tuple(comptime_value_deep(ctx.get_local(f"_ss_v{i}")) for i in range(k + 1))
    raise _explain(plan, k, values)


# --------------------------------------------------------------------------------------
# code generation


_COMMON_FIRST = [
    torch.float32, torch.float64, torch.int64, torch.bool, torch.float16, torch.bfloat16,
    torch.int32, torch.uint8,
]  # fmt: skip


def _ordered(dtypes: frozenset[Any]) -> tuple[Any, ...]:
    """A tuple, common dtypes first: `x.dtype in tuple` hits on identity at once, which is
    about twice as fast as hashing into a frozenset."""

    def rank(dt: Any) -> tuple[int, str]:
        for i, common in enumerate(_COMMON_FIRST):
            if dt is common or (isinstance(dt, np.dtype) and dt.name == str(common)[6:]):
                return (i, str(dt))
        return (len(_COMMON_FIRST), str(dt))

    return tuple(sorted(dtypes, key=rank))


class _Gen:
    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.lines: list[str] = []
        self.ns: dict[str, Any] = {}
        self.state: dict[str, str] = {}  # var -> "def" | "maybe"
        self.maybe: set[str] = set()
        self.node_vars: list[str] = []
        self.deferred: list[str] = []
        self._consts: dict[int, str] = {}

    def const(self, obj: Any) -> str:
        key = id(obj)
        if key not in self._consts:
            name = f"_ss_c{len(self._consts)}"
            self._consts[key] = name
            self.ns[name] = obj
        return self._consts[key]

    def fail(self, k: int) -> str:
        return f"_ss_fail({k}, {', '.join(self.node_vars[: k + 1])})"

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    # one array annotation -> (condition, commit statements, new binding vars)
    def array_pred(
        self, spec: ArraySpec, v: str, in_loop: bool, k: int
    ) -> tuple[str, list[str], set[str]]:
        conds: list[str] = []
        if spec.types:
            parts = []
            for t in spec.types:
                dts = spec.torch_dtypes if t is torch.Tensor else spec.numpy_dtypes
                tname = self.const(t)
                if dts is None:
                    parts.append(f"isinstance({v}, {tname})")
                else:
                    dt = self.const(_ordered(dts))
                    parts.append(f"(isinstance({v}, {tname}) and {v}.dtype in {dt})")
            conds.append(parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")")
        s = "_ss_s"
        n = len(spec.dims)
        if spec.var_index is None:
            conds.append(f"len({s} := {v}.{spec.shape_attr}) == {n}")
        else:
            conds.append(f"len({s} := {v}.{spec.shape_attr}) >= {n - 1}")
        commits: list[str] = []
        bound: set[str] = set()
        first: dict[str, str] = {}
        for i, d in enumerate(spec.dims):
            if spec.var_index is not None and i > spec.var_index:
                idx = str(i - n)
            else:
                idx = str(i)
            el = f"{s}[{idx}]"
            if d.kind in ("anon", "anyvar"):
                continue
            if d.kind == "fixed":
                c = f"{el} == {d.size}"
                conds.append(f"({el} == 1 or {c})" if d.broadcastable else c)
                continue
            if d.kind in ("named", "var"):
                assert d.name is not None
                if d.kind == "var":
                    assert spec.var_index is not None
                    tail = n - 1 - spec.var_index
                    el = f"{s}[{i}:]" if tail == 0 else f"{s}[{i}:-{tail}]"
                    var = f"_ss_V_{d.name}"
                else:
                    var = f"_ss_D_{d.name}"
                if var in first:
                    conds.append(f"{el} == {first[var]}")
                    continue
                first[var] = el
                st = self.state.get(var)
                if in_loop and st is None:
                    st = "maybe"
                if st == "maybe":
                    self.maybe.add(var)
                if d.broadcastable:
                    if st == "def":
                        conds.append(f"({el} == 1 or {el} == {var})")
                    else:
                        if st == "maybe":
                            conds.append(f"({el} == 1 or {var} is None or {el} == {var})")
                        commits.append(f"if {el} != 1: {var} = {el}")
                        self.maybe.add(var)
                        bound.add(var + "?")
                else:
                    if st == "def":
                        conds.append(f"{el} == {var}")
                    else:
                        if st == "maybe":
                            conds.append(f"({var} is None or {el} == {var})")
                        commits.append(f"{var} = {el}")
                        bound.add(var)
                continue
            # symbolic
            assert d.kind == "symbolic" and d.expr is not None
            expr = self._rename(d.expr, d.names_used)
            if all(self.state.get(f"_ss_D_{nm}") == "def" for nm in d.names_used):
                c = f"{el} == ({expr})"
                conds.append(f"({el} == 1 or {c})" if d.broadcastable else c)
            else:
                y = f"_ss_y{len(self.deferred)}"
                self.maybe.add(y)
                for nm in d.names_used:
                    self.maybe.add(f"_ss_D_{nm}")
                commits.append(f"{y} = {el}")
                guard = " and ".join(
                    [f"{y} is not None"] + [f"_ss_D_{nm} is not None" for nm in d.names_used]
                )
                if d.broadcastable:
                    guard += f" and {y} != 1"
                self.deferred.append(f"if {guard} and {y} != ({expr}): {{fail}}")
        return " and ".join(conds), commits, bound

    @staticmethod
    def _rename(expr: str, names: tuple[str, ...]) -> str:
        tree = ast.parse(expr, mode="eval")
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in names:
                node.id = f"_ss_D_{node.id}"
        return ast.unparse(tree)

    def apply(self, bound: set[str], conditional: bool) -> None:
        for var in bound:
            maybe = var.endswith("?")
            var = var.rstrip("?")
            if self.state.get(var) == "def":
                continue
            if conditional or maybe:
                self.state[var] = "maybe"
                self.maybe.add(var)
            else:
                self.state[var] = "def"

    def node(self, k: int, node: Node, v: str, ind: int) -> int:
        """Emit the checks of flat node ``k`` (value in local ``v``); return next index."""
        kind = node.kind
        fail = self.fail(k)
        if kind == "skip":
            return k + 1
        if kind == "none":
            self.emit(ind, f"if {v} is not None: {fail}")
            return k + 1
        if kind == "array":
            assert node.spec is not None
            cond, commits, bound = self.array_pred(node.spec, v, False, k)
            if node.optional:
                self.emit(ind, f"if {v} is not None:")
                ind += 1
            self.emit(ind, f"if not ({cond}): {fail}")
            for c in commits:
                self.emit(ind, c)
            self.apply(bound, node.optional)
            return k + 1
        if kind == "cls":
            cls = self.const(node.classes)
            pre = f"{v} is not None and " if node.optional else ""
            self.emit(ind, f"if {pre}not isinstance({v}, {cls}): {fail}")
            return k + 1
        if kind == "bear":
            self.emit(ind, f"if not _ss_compiling() and not {self.const(node.bear)}({v}): {fail}")
            return k + 1
        if kind == "attrs":
            self.emit(ind, f"if not isinstance({v}, {self.const(node.classes)}): {fail}")
            for spec in node.attrs:
                cond, commits, bound = self.array_pred(spec, v, False, k)
                self.emit(ind, f"if not ({cond}): {fail}")
                for c in commits:
                    self.emit(ind, c)
                self.apply(bound, False)
            return k + 1
        if kind == "union":
            first = True
            for m in node.members:
                kw = "if" if first else "elif"
                first = False
                if m is None:
                    self.emit(ind, f"{kw} {v} is None: pass")
                elif isinstance(m, tuple):
                    self.emit(ind, f"{kw} isinstance({v}, {self.const(m)}): pass")
                else:
                    cond, commits, bound = self.array_pred(m, v, False, k)
                    self.emit(ind, f"{kw} {cond}:")
                    for c in commits or ["pass"]:
                        self.emit(ind + 1, c)
                    self.apply(bound, True)
            self.emit(ind, f"else: {fail}")
            return k + 1
        if kind == "loop":
            if node.classes:
                self.emit(ind, f"if not isinstance({v}, {self.const(node.classes)}): {fail}")
            child = node.children[0]
            it = f"{v}.values()" if node.loop_over == "values" else v
            self.emit(ind, f"for _ss_e in {it}:")
            if child.kind == "array":
                assert child.spec is not None
                cond, commits, bound = self.array_pred(child.spec, "_ss_e", True, k)
                pre = "_ss_e is not None and " if child.optional else ""
                if child.optional:
                    cond = f"_ss_e is None or ({cond})"
                self.emit(ind + 1, f"if not ({cond}): {fail}")
                if commits:
                    if pre:
                        self.emit(ind + 1, "if _ss_e is not None:")
                    for c in commits:
                        self.emit(ind + 1 + bool(pre), c)
                self.apply(bound, True)
            elif child.kind == "cls":
                pre = "_ss_e is not None and " if child.optional else ""
                self.emit(
                    ind + 1, f"if {pre}not isinstance(_ss_e, {self.const(child.classes)}): {fail}"
                )
            else:
                self.emit(
                    ind + 1,
                    f"if not _ss_compiling() and not {self.const(child.bear)}(_ss_e): {fail}",
                )
            return k + 1
        if kind in ("tuple", "struct"):
            if kind == "tuple":
                self.emit(
                    ind, f"if not (isinstance({v}, tuple) and len({v}) == {node.length}): {fail}"
                )
                accessors = [f"{v}[{j}]" for j in range(len(node.children))]
            else:
                self.emit(ind, f"if not isinstance({v}, {self.const(node.classes)}): {fail}")
                accessors = [f"{v}.{f}" for f in node.fields]
            nxt = k + 1
            for child, acc in zip(node.children, accessors):
                var = f"_ss_n{nxt}"
                self.node_vars.append(var)
                self.emit(ind, f"{var} = {acc}")
                nxt = self.node(nxt, child, var, ind)
            return nxt
        raise AssertionError(kind)  # pragma: no cover

    def flush_deferred(self, k: int, ind: int) -> None:
        for line in self.deferred:
            self.emit(ind, line.replace("{fail}", self.fail(k)))
        self.deferred.clear()


def _signature_parts(
    sig: inspect.Signature, ns: dict[str, Any]
) -> tuple[list[str], list[str], list[str]]:
    header: list[str] = []
    call: list[str] = []
    names: list[str] = []
    saw_star = False
    params = list(sig.parameters.values())
    for i, p in enumerate(params):
        if p.name.startswith("_ss_"):
            raise AnnotationError(f"parameter names starting with '_ss_' are reserved: {p.name}")
        default = ""
        if p.default is not p.empty:
            ns[f"_ss_d{i}"] = p.default
            default = f"=_ss_d{i}"
        if p.kind is _P.POSITIONAL_ONLY:
            header.append(p.name + default)
            call.append(p.name)
            if i + 1 == len(params) or params[i + 1].kind is not _P.POSITIONAL_ONLY:
                header.append("/")
        elif p.kind is _P.POSITIONAL_OR_KEYWORD:
            header.append(p.name + default)
            call.append(p.name)
        elif p.kind is _P.VAR_POSITIONAL:
            header.append("*" + p.name)
            call.append("*" + p.name)
            saw_star = True
        elif p.kind is _P.KEYWORD_ONLY:
            if not saw_star:
                header.append("*")
                saw_star = True
            header.append(p.name + default)
            call.append(f"{p.name}={p.name}")
        else:
            header.append("**" + p.name)
            call.append("**" + p.name)
        names.append(p.name)
    return header, call, names


def _qualname(fn: Callable[..., Any]) -> str:
    name = str(getattr(fn, "__qualname__", getattr(fn, "__name__", repr(fn))))
    return name.rsplit("<locals>.", 1)[-1]


def _build_node(fn_name: str, hint: Any, where: str, argument: str) -> Node | None:
    """``build_node``, with an annotation error that names the function and argument."""
    try:
        return build_node(hint, where)
    except AnnotationError as exc:
        if exc.function is not None:
            raise
        raise AnnotationError(
            f"{fn_name}(): {where}: {exc}", function=fn_name, argument=argument
        ) from None


def _build_wrapper(fn: Callable[..., Any], hints: dict[str, Any]) -> Callable[..., Any] | None:
    sig = inspect.signature(fn)
    fn_name = _qualname(fn)
    arg_nodes: list[tuple[str, Node]] = []
    for p in sig.parameters.values():
        if p.name not in hints:
            continue
        node = _build_node(fn_name, hints[p.name], f"argument `{p.name}`", p.name)
        if node is None:
            continue
        if p.kind in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD):
            if node.kind not in ("array", "cls", "bear"):
                raise AnnotationError(
                    f"{fn_name}(): the annotation of *{p.name} must be an array or a class"
                )
            over = "values" if p.kind is _P.VAR_KEYWORD else "items"
            node = Node("loop", node.where, node.text, children=[node], loop_over=over)
        arg_nodes.append((p.name, node))
    check_return = not (
        inspect.iscoroutinefunction(fn)
        or inspect.isgeneratorfunction(fn)
        or inspect.isasyncgenfunction(fn)
    )
    ret_node = (
        _build_node(fn_name, hints["return"], "return value", "return")
        if ("return" in hints and check_return)
        else None
    )
    if not arg_nodes and ret_node is None:
        return None

    flat: list[Node] = []
    for _, node in arg_nodes:
        flatten(node, flat)
    arg_end = len(flat) - 1
    if ret_node is not None:
        flatten(ret_node, flat)
    plan = _Plan(fn_name, flat, arg_end)

    gen = _Gen(plan)
    header, call, _ = _signature_parts(sig, gen.ns)
    call_str = ", ".join(call)
    body_start = len(gen.lines)
    k = 0
    for name, node in arg_nodes:
        gen.node_vars.append(name)
        k = gen.node(k, node, name, 1)
    if gen.deferred:
        gen.flush_deferred(arg_end, 1)
    if ret_node is not None:
        gen.node_vars.append("_ss_r")
        gen.emit(1, f"_ss_r = _ss_fn({call_str})")
        gen.node(k, ret_node, "_ss_r", 1)
        if gen.deferred:
            gen.flush_deferred(len(flat) - 1, 1)
        gen.emit(1, "return _ss_r")
    else:
        gen.emit(1, f"return _ss_fn({call_str})")
    body = gen.lines[body_start:]

    uid = next(_counter)
    filename = f"<shapesafe check of {fn_name} #{uid}>"
    all_values = ", ".join(f"_ss_v{i}" for i in range(len(flat)))
    fail_params = ", ".join(f"_ss_v{i}=None" for i in range(len(flat)))
    src = [
        "def _ss_ct(ctx):\n    _ss_explain_compiling(_ss_plan, ctx)\n",
        f"def _ss_fail(_ss_k, {fail_params}):",
        "    if _ss_compiling():",
        "        _ss_comptime(_ss_ct)",
        f"    raise _ss_explain(_ss_plan, _ss_k, ({all_values},)) from None",
        "",
        f"def {_safe_name(fn)}({', '.join(header)}):",
        f"    if not _ss_cfg.enabled: return _ss_fn({call_str})",
    ]
    src += [f"    {var} = None" for var in sorted(gen.maybe)]
    src += body
    source = "\n".join(src) + "\n"
    ns = gen.ns
    from torch._dynamo.comptime import comptime

    ns.update(
        _ss_fn=fn,
        _ss_cfg=_config.STATE,
        _ss_plan=plan,
        _ss_compiling=is_compiling,
        _ss_comptime=comptime,
        _ss_explain=_explain,
        _ss_explain_compiling=_explain_compiling,
    )
    code = compile(source, filename, "exec")
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(code, ns)
    wrapper: Callable[..., Any] = ns[_safe_name(fn)]
    functools.update_wrapper(wrapper, fn)
    wrapper.__shapesafe_source__ = source  # type: ignore[attr-defined]
    wrapper.__shapesafe_plan__ = plan  # type: ignore[attr-defined]
    return wrapper


def _safe_name(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "__name__", "checked")
    return name if name.isidentifier() and not name.startswith("_ss_") else "checked"


def _resolve_hints(fn: Callable[..., Any], localns: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, localns=localns, include_extras=True)
    except NameError:
        raise
    except Exception as exc:  # e.g. jaxtyping refusing a malformed dim string
        raise AnnotationError(f"{_qualname(fn)}(): invalid annotation: {exc}") from None


def _lazy(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Annotations that cannot be resolved yet (forward refs): compile on first call."""
    compiled: list[Callable[..., Any]] = []

    @functools.wraps(fn)
    def first_call(*args: Any, **kwargs: Any) -> Any:
        if not compiled:
            with _compile_lock:
                if not compiled:
                    try:
                        hints = _resolve_hints(fn)
                    except NameError as exc:
                        raise AnnotationError(
                            f"{_qualname(fn)}(): cannot resolve its annotations: {exc}"
                        ) from None
                    compiled.append(_build_wrapper(fn, hints) or fn)
        return compiled[0](*args, **kwargs)

    return first_call


@overload
def check(fn: F, /) -> F: ...
@overload
def check(fn: None = None, /) -> Callable[[F], F]: ...


def check(fn: Any = None, /) -> Any:
    """Check a function's jaxtyping annotations at every call.

    Reads plain jaxtyping annotations (``Float[Tensor, "batch act"]``, ``Int[Tensor,
    "batch"]``, ``Float[Tensor, "*batch act"]``, ``Shaped[np.ndarray, "n 3"]``,
    ``Float[Tensor, ""]``, ``Optional[...]``, unions, tuples, NamedTuples and dataclasses
    of arrays) on the arguments and the return value, and checks each call: type, dtype
    family, rank and sizes, with named dims bound consistently across all arguments and
    the return value. Other annotations (``int``, ``str``, user classes, ``list[int]``)
    are checked too (``float`` accepts ``int``, as PEP 484 says).

    A mismatch raises :class:`shapesafe.ShapeError` (or its subclass
    :class:`shapesafe.DtypeError`) naming the function, the argument, the axis, what was
    expected and got, the bindings so far and, where likely, the fix.

    Works on functions, methods, ``nn.Module.forward`` (or a whole ``nn.Module``
    subclass: its ``forward`` is wrapped), and under ``torch.compile(fullgraph=True)``.
    With ``SHAPESAFE_DISABLE=1`` set at import, returns ``fn`` itself.

    >>> import torch, shapesafe
    >>> from jaxtyping import Float, Int
    >>> from torch import Tensor
    >>> @shapesafe.check
    ... def pick(q: Float[Tensor, "batch act"], a: Int[Tensor, "batch"]) -> Float[Tensor, "batch"]:
    ...     return q.gather(1, a[:, None]).squeeze(1)
    >>> pick(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long)).shape
    torch.Size([4])
    """
    if fn is None:
        return check
    if _config.DISABLED_BY_ENV:
        return fn
    if isinstance(fn, (staticmethod, classmethod)):
        return type(fn)(check(fn.__func__))
    if isinstance(fn, type):
        forward = fn.__dict__.get("forward")
        if forward is None:
            raise AnnotationError(
                f"@check on a class needs a `forward` method defined on it: {fn.__qualname__}"
            )
        fn.forward = check(forward)  # type: ignore[attr-defined]
        return fn
    if not callable(fn):
        raise AnnotationError(f"@check decorates functions, methods or modules, not {fn!r}")
    try:
        hints = _resolve_hints(fn)
    except NameError:
        # string annotations naming locals of the enclosing function (closures under
        # `from __future__ import annotations`): resolve them in the caller's frame
        frame = sys._getframe(1)
        while frame.f_code is check.__code__ and frame.f_back is not None:
            frame = frame.f_back
        try:
            hints = _resolve_hints(fn, dict(frame.f_locals))
        except NameError:
            return _lazy(fn)
        finally:
            del frame
    return _build_wrapper(fn, hints) or fn


# --------------------------------------------------------------------------------------
# one-off checks


@functools.lru_cache(maxsize=512)
def _spec_for(spec: Any) -> ArraySpec:
    if isinstance(spec, str):
        return loose_spec(spec)
    if is_jaxtyping_array(spec):
        return parse_array(spec)
    raise AnnotationError(
        f"check_shape() takes a jaxtyping array annotation or a dim string like 'batch obs', "
        f"not {spec!r}"
    )


def check_shape(
    value: Any,
    spec: Any,
    *,
    function: str = "check_shape",
    argument: str = "value",
    dims: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Check one array or tensor against an annotation or dim string; return the bindings.

    ``spec`` is a jaxtyping annotation (``Float[Tensor, "batch obs"]``) or a plain dim
    string (``"batch obs"``: any dtype, tensor or numpy array). ``dims`` pre-binds sizes
    (``{"batch": 64}``; a variadic ``*rest`` is given as ``{"rest": (2, 3)}``).

    >>> import torch, shapesafe
    >>> shapesafe.check_shape(torch.zeros(64, 6), "batch act", dims={"act": 6})
    {'act': 6, 'batch': 64}
    """
    parsed = _spec_for(spec)
    b = Bindings()
    for name, size in (dims or {}).items():
        key = "*" + name if isinstance(size, tuple) else name
        b.values[key] = size
        b.sources[key] = "dims="
    if not _config.STATE.enabled:
        return b.public()
    node = Node("array", f"argument `{argument}`", parsed.text, spec=parsed)
    failure = match_array(parsed, value, b, f"`{argument}`", None)
    if failure is not None:
        message, fields = format_failure(function, node, value, failure, b)
        raise (failure.exc or ShapeError)(message, function=function, **fields) from None
    return b.public()
