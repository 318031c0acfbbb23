"""The wrapper function around the generated body (:mod:`.codegen`): the checked
function's own signature, the failure path, and generator / coroutine flavours.

When a check fails the body calls ``_ss_fail(k, <values of checks 0..k>)``. Eagerly
that raises :func:`.explain.explain`'s error. While compiling, raising from traced code
would become a dynamo error, so ``_ss_fail`` instead calls dynamo's ``comptime`` hook
with a callback that reads ``_ss_fail``'s own locals (the check index ``_ss_k`` and the
values ``_ss_v0..``) as dynamo variables -- ``comptime`` can only see the frame that
called it, which is why the values travel as named parameters -- and raises the same
error at compile time, through :func:`shapesafe._compile.passthrough`.

Why the parameters are forwarded one by one instead of ``*args, **kwargs``: the wrapper
has the checked function's exact signature (defaults included), so every argument is a
plain local the checks can read without any binding step, and a wrong call fails with
Python's own ``TypeError``, as the unwrapped function would.
"""

from __future__ import annotations

import ast
import dis
import enum
import functools
import hashlib
import inspect
import linecache
import types
from collections.abc import Callable
from typing import Any

from shapesafe import _config
from shapesafe._checker.codegen import Generator
from shapesafe._checker.explain import Plan, explain, explain_compiling
from shapesafe._checker.plan import Node
from shapesafe._compile import comptime_value_deep, is_compiling, passthrough
from shapesafe.errors import AnnotationError

_P = inspect.Parameter


def signature_parts(sig: inspect.Signature, ns: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The wrapper's parameter list (defaults become namespace constants) and the call
    that forwards every parameter to the checked function exactly as received."""
    header: list[str] = []
    call: list[str] = []
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
    return header, call


def _explain_at_compile_time(plan: Plan, ctx: Any) -> None:
    # `ctx` sees the locals of `_ss_fail`, the frame that called comptime: the index of
    # the failed check and the value of each check up to it (see the module docstring)
    # (stacklevel=1: comptime is called from `_comptime` below, one frame under `_ss_fail`)
    k = int(ctx.get_local("_ss_k", stacklevel=1).as_python_constant())
    values = tuple(ctx.get_local(f"_ss_v{i}", stacklevel=1) for i in range(k + 1))
    args = comptime_value_deep(ctx.get_local("_ss_a", stacklevel=1))
    with passthrough():
        explain_compiling(plan, k, values, tuple(args) if isinstance(args, tuple) else ())


def missing_attribute(plan: Plan, i: int, obj: Any) -> AnnotationError:
    """A ``{self.obs_dim}`` axis whose attribute the object does not have."""
    path = plan.arg_paths[i]
    root, *attrs = path.split(".")
    owner = type(obj).__qualname__
    return AnnotationError(
        f"{plan.fn_name}(): an annotation reads the size {path}, but `{root}` "
        f"({owner}) has no attribute {'.'.join(attrs)!r}; set it in __init__ (before the "
        "first call) or fix the name in the annotation",
        function=plan.fn_name,
        argument=root,
        expected=path,
        got=owner,
    )


def _return_line(fn: Callable[..., Any]) -> tuple[types.CodeType, int] | None:
    """The code object of ``fn`` and the line its wrong value was returned from: the one
    ``return`` line when the function has a single one, else the first line of its
    definition, decorators included (which of several returns ran is not known after
    the fact). ``None`` for functions without a source file (lambdas typed in a REPL,
    generated code)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    code = getattr(inspect.unwrap(fn), "__code__", None)
    if not isinstance(code, types.CodeType) or code.co_filename.startswith("<"):
        return None
    lines: set[int] = set()
    for ins in dis.get_instructions(code):
        if ins.opname in ("RETURN_VALUE", "RETURN_CONST"):
            positions = getattr(ins, "positions", None)  # Python 3.11+
            if positions is not None and positions.lineno is not None:
                lines.add(positions.lineno)
    return code, (lines.pop() if len(lines) == 1 else code.co_firstlineno)


def raise_at_return(fn: Callable[..., Any], error: BaseException) -> None:
    """Raise ``error`` from a frame that shows ``fn``'s ``return`` line, so the traceback
    of a wrong return value ends in the function that returned it, not in its caller.

    The function's own frame is gone by the time its value is checked; a one-line code
    object compiled under its file name and line number (and renamed after it) stands in
    for it, and the traceback printer reads the real source line from the file. Returns
    without raising when the function has no source file; the caller then raises."""
    found = _return_line(fn)
    if found is None:
        return
    code, lineno = found
    stmt = ast.Raise(exc=ast.Name("_ss_error", ast.Load()), cause=ast.Constant(None))
    module = ast.Module(body=[stmt], type_ignores=[])
    for node in ast.walk(module):
        if isinstance(node, (ast.stmt, ast.expr)):
            node.lineno = node.end_lineno = lineno
            node.col_offset = node.end_col_offset = 0
    stand_in = compile(module, code.co_filename, "exec").replace(co_name=code.co_name)
    exec(stand_in, {"_ss_error": error})


def _register_source(source: str) -> str:
    """A linecache entry so tracebacks and dynamo show the generated lines. Named by a
    hash of the source: functions with the same generated body (and the same function
    decorated again, in a loop or per instance) share one entry."""
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    filename = f"<shapesafe check {digest}>"
    if filename not in linecache.cache:
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return filename


def _safe_name(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "__name__", "checked")
    return name if name.isidentifier() and not name.startswith("_ss_") else "checked"


class Flavor(enum.Enum):
    """What kind of function the wrapper must be (``inspect`` tells them apart)."""

    PLAIN = "def"
    GENERATOR = "generator"
    COROUTINE = "coroutine"
    ASYNC_GENERATOR = "async generator"


def flavor_of(fn: Callable[..., Any]) -> Flavor:
    if inspect.isasyncgenfunction(fn):
        return Flavor.ASYNC_GENERATOR
    if inspect.iscoroutinefunction(fn):
        return Flavor.COROUTINE
    if inspect.isgeneratorfunction(fn):
        return Flavor.GENERATOR
    return Flavor.PLAIN


def generate(
    fn: Callable[..., Any],
    sig: inspect.Signature,
    plan: Plan,
    arg_nodes: list[tuple[str, Node]],
    ret_node: Node | None,
    flavor: Flavor,
) -> Callable[..., Any]:
    """Build, compile and return the wrapper's function object."""
    gen = Generator(plan)
    header, call = signature_parts(sig, gen.ns)
    call_str = ", ".join(call)
    k = 0
    for name, node in arg_nodes:
        gen.node_vars.append(name)
        k = gen.node(k, node, name, 1)
    if gen.deferred:
        gen.flush_deferred(plan.arg_end, 1)
    # generators and coroutines stay what they are, so `inspect` and asyncio still see a
    # generator / coroutine function; their arguments are then checked when the body
    # starts (first next() / await), as the function's own first lines would run
    if flavor is Flavor.GENERATOR:
        gen.emit(1, f"return (yield from _ss_fn({call_str}))")
    elif flavor is Flavor.COROUTINE:
        gen.emit(1, f"return await _ss_fn({call_str})")
    elif flavor is Flavor.ASYNC_GENERATOR:
        gen.emit(1, f"async for _ss_item in _ss_fn({call_str}):")
        gen.emit(2, "yield _ss_item")
    elif ret_node is not None:
        gen.node_vars.append("_ss_r")
        gen.emit(1, f"_ss_r = _ss_fn({call_str})")
        gen.node(k, ret_node, "_ss_r", 1)
        if gen.deferred:
            gen.flush_deferred(len(plan.nodes) - 1, 1)
        gen.emit(1, "return _ss_r")
    else:
        gen.emit(1, f"return _ss_fn({call_str})")

    n = len(plan.nodes)
    all_values = ", ".join(f"_ss_v{i}" for i in range(n))
    fail_params = ", ".join(f"_ss_v{i}=None" for i in range(n)) + ", _ss_a=()"
    keyword = "async def" if flavor in (Flavor.COROUTINE, Flavor.ASYNC_GENERATOR) else "def"
    if flavor is Flavor.ASYNC_GENERATOR:
        disabled = (
            f"        async for _ss_item in _ss_fn({call_str}):\n"
            "            yield _ss_item\n"
            "        return"
        )
    elif flavor is Flavor.GENERATOR:
        disabled = f"        return (yield from _ss_fn({call_str}))"
    elif flavor is Flavor.COROUTINE:
        disabled = f"        return await _ss_fn({call_str})"
    else:
        disabled = f"        return _ss_fn({call_str})"
    src = [
        "def _ss_ct(ctx):\n    _ss_explain_compiling(_ss_plan, ctx)\n",
        "def _ss_noattr(_ss_i, _ss_obj):",
        "    raise _ss_missing(_ss_plan, _ss_i, _ss_obj) from None",
        "",
        f"def _ss_fail(_ss_k, {fail_params}):",
        "    if _ss_compiling():",
        "        _ss_comptime(_ss_ct)",
        f"    _ss_e = _ss_explain(_ss_plan, _ss_k, ({all_values},), _ss_a)",
        f"    if _ss_k > {plan.arg_end}:",
        "        _ss_raise_at_return(_ss_fn, _ss_e)",
        "    raise _ss_e from None",
        "",
        f"{keyword} {_GENERIC}({', '.join(header)}):",
        "    if not _ss_cfg.enabled:",
        disabled,
    ]
    # `{self.obs_dim}` axes: read fresh at every call into locals (never stored between
    # calls, so two modules of different widths called alternately, or from two
    # threads, each see their own; jaxtyping#264)
    for i, (path, var) in enumerate(gen.arg_vars.items()):
        src += ["    try:", f"        {var} = {path}", "    except AttributeError:"]
        src.append(f"        _ss_noattr({i}, {path.split('.')[0]})")
    src += [f"    {var} = None" for var in sorted(gen.maybe)]
    src += [f"    {var} = []" for var in sorted(gen.lists)]
    src += gen.lines
    source = "\n".join(src) + "\n"
    ns = gen.ns
    ns.update(
        _ss_fn=fn,
        _ss_cfg=_config.STATE,
        _ss_plan=plan,
        _ss_compiling=is_compiling,
        _ss_comptime=_comptime,
        _ss_explain=explain,
        _ss_explain_compiling=_explain_at_compile_time,
        _ss_raise_at_return=raise_at_return,
        _ss_missing=missing_attribute,
    )
    name = _safe_name(fn)
    wrapper: Callable[..., Any] = _instantiate(source, name, ns)
    wrapper.__shapesafe_source__ = source.replace(_GENERIC, name, 1)  # type: ignore[attr-defined]
    return wrapper


# The wrapper is generated under one placeholder name and renamed after ``exec``, so
# that functions with the same parameters and annotations (every ``forward(self, x:
# Float[Tensor, "batch obs"])`` of a codebase) share one compiled code object: compiling
# the source was the largest part of decoration time (~1.3 ms). The code depends only
# on the source text; the values it reads (the function, its constants) live in ``ns``.
_GENERIC = "_ss_checked"
_code_cache: dict[str, types.CodeType] = {}
_CODE_CACHE_MAX = 4096


def _instantiate(source: str, name: str, ns: dict[str, Any]) -> Callable[..., Any]:
    code = _code_cache.get(source)
    if code is None:
        code = compile(source, _register_source(source), "exec")
        if len(_code_cache) >= _CODE_CACHE_MAX:
            _code_cache.clear()
        _code_cache[source] = code
    exec(code, ns)
    wrapper = ns[_GENERIC]
    if name != _GENERIC:
        wrapper.__code__ = wrapper.__code__.replace(co_name=name, co_qualname=name)
    return wrapper  # type: ignore[no-any-return]


def _comptime(callback: Callable[[Any], None]) -> None:
    # imported on first use: only a failing check *while compiling* reaches here, and
    # importing torch._dynamo up front cost seconds at the first decoration of a process
    from torch._dynamo.comptime import comptime

    comptime(callback)
