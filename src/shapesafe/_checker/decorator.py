"""``@shapesafe.check`` and ``shapesafe.check_shape``: the public entry points.

At decoration time the annotations are resolved, parsed into a plan (:mod:`.plan`) and
compiled into a wrapper (:mod:`.codegen`); per call, only the generated comparisons
run. Annotations that cannot be resolved yet (forward references to classes defined
later) are compiled on the first call instead.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
import typing
from collections.abc import Callable
from typing import Any, TypeVar, overload

from shapesafe import _config
from shapesafe._checker.codegen import arg_paths
from shapesafe._checker.dims import ArgDim
from shapesafe._checker.explain import Plan, make_error
from shapesafe._checker.match import Bindings, match_array
from shapesafe._checker.plan import (
    ArrayNode,
    ArraySpec,
    BearNode,
    ClassNode,
    LoopNode,
    Node,
    build_node,
    flatten,
    is_jaxtyping_array,
    loose_spec,
    parse_array,
)
from shapesafe._checker.wrapper import Flavor, flavor_of, generate
from shapesafe.errors import AnnotationError, UsageError

__all__ = ["check", "check_shape"]

F = TypeVar("F", bound=Callable[..., Any])

_P = inspect.Parameter
_compile_lock = threading.Lock()


def _qualname(fn: Callable[..., Any]) -> str:
    if isinstance(fn, functools.partial):
        return _qualname(fn.func)
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


def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        module = getattr(fn, "__module__", None)
        name = f"{module}.{fn.__name__}" if module and hasattr(fn, "__name__") else repr(fn)
        raise AnnotationError(
            f"@check cannot read the signature of {name} (a builtin or C "
            "function has no Python signature and no annotations); wrap it in a "
            "function with jaxtyping annotations and check that",
            function="check",
            argument="fn",
        ) from None


def _build_wrapper(fn: Callable[..., Any], hints: dict[str, Any]) -> Callable[..., Any] | None:
    sig = _signature(fn)
    fn_name = _qualname(fn)
    arg_nodes: list[tuple[str, Node]] = []
    for p in sig.parameters.values():
        if p.name not in hints:
            continue
        node = _build_node(fn_name, hints[p.name], f"argument `{p.name}`", p.name)
        if node is None:
            continue
        if p.kind in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD):
            if not isinstance(node, (ArrayNode, ClassNode, BearNode)):
                raise AnnotationError(
                    f"{fn_name}(): the annotation of *{p.name} must be an array or a class",
                    function=fn_name,
                    argument=p.name,
                )
            node = LoopNode(node.where, node.text, (), node, p.kind is _P.VAR_KEYWORD)
        arg_nodes.append((p.name, node))
    flavor = flavor_of(fn)
    # generators and coroutines: the return annotation describes what they yield or
    # produce later, not the call's result; only the arguments are checked
    ret_node = (
        _build_node(fn_name, hints["return"], "return value", "return")
        if "return" in hints and flavor is Flavor.PLAIN
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
    paths = arg_paths(tuple(flat))
    for path in paths:
        root = path.split(".")[0]
        if root not in sig.parameters:
            raise AnnotationError(
                f"{fn_name}(): the axis '{{{path}}}' reads `{root}`, which is not a "
                f"parameter of {fn_name}() (parameters: {', '.join(sig.parameters) or 'none'})",
                function=fn_name,
                argument=root,
            )
    plan = Plan(fn_name, tuple(flat), arg_end, paths)
    wrapper = generate(fn, sig, plan, arg_nodes, ret_node, flavor)
    functools.update_wrapper(wrapper, fn)
    if isinstance(fn, functools.partial):
        wrapper.__name__ = getattr(fn.func, "__name__", "checked")
        wrapper.__qualname__ = getattr(fn.func, "__qualname__", wrapper.__name__)
    wrapper.__shapesafe_plan__ = plan  # type: ignore[attr-defined]
    return wrapper


def _resolve_hints(fn: Callable[..., Any], localns: dict[str, Any] | None = None) -> dict[str, Any]:
    # a partial's annotations are its function's (the bound arguments simply drop out
    # of the signature, so they are not checked)
    target = fn.func if isinstance(fn, functools.partial) else fn
    try:
        return typing.get_type_hints(target, localns=localns, include_extras=True)
    except NameError:
        raise
    except Exception as exc:  # e.g. jaxtyping refusing a malformed dim string
        raise AnnotationError(
            f"{_qualname(fn)}(): invalid annotation: {exc}", function=_qualname(fn)
        ) from None


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
                            f"{_qualname(fn)}(): cannot resolve its annotations: {exc}",
                            function=_qualname(fn),
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
    ``Float[Tensor, ""]``, ``Optional[...]``, unions, tuples, lists, NamedTuples and
    dataclasses of arrays) on the arguments and the return value, and checks each call:
    type, dtype family, rank and sizes, with named dims bound consistently across all
    arguments and the return value. Other annotations (``int``, ``str``, user classes,
    ``dict[str, int]``) are checked too: ``float`` accepts ``int`` (PEP 484) and numpy
    scalars (``np.float32``), ``int`` accepts numpy integers, and a 0-d tensor where
    ``float`` is annotated is refused with a hint (``.item()``, or annotate
    ``float | Float[Tensor, ""]``).

    A mismatch raises :class:`shapesafe.ShapeError` (or its subclass
    :class:`shapesafe.DtypeError`) naming the function, the argument, the axis, what was
    expected and got, the bindings so far and, where likely, the fix.

    Works on functions, methods, ``nn.Module.forward``, a whole class (every annotated
    method defined on it is wrapped: ``forward``, ``get_value``, ``get_action``, static
    and class methods; inherited ones are not), ``functools.partial`` objects (the remaining
    parameters are checked), and under ``torch.compile(fullgraph=True)``. Generator and
    ``async`` functions stay generator / coroutine functions; their arguments are
    checked when the body starts (first ``next()`` / ``await``) and the return
    annotation is not checked. A wrong return value's traceback ends at the
    function's ``return`` line (the first line of its definition when it has several). A
    builtin such as ``torch.add`` has no annotations to read: that raises
    :class:`shapesafe.AnnotationError`. With ``SHAPESAFE_DISABLE=1`` set at import,
    returns ``fn`` itself.

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
        return _check_class(fn)
    if not callable(fn):
        raise AnnotationError(f"@check decorates functions, methods or modules, not {fn!r}")
    _signature(fn)  # a builtin: refuse now, with a clear message
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


def _annotated_function(member: Any) -> Callable[..., Any] | None:
    """The function of a class attribute that ``@check`` on the class wraps: a plain,
    static or class method with at least one annotation (``self`` alone is not one)."""
    func = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
    if not inspect.isfunction(func) or getattr(func, "__shapesafe_plan__", None) is not None:
        return None
    return func if getattr(func, "__annotations__", None) else None


def _check_class(cls: type) -> type:
    """Wrap every annotated method defined on ``cls`` itself (RL agents have
    ``get_value`` / ``get_action_and_value`` and no ``forward``); inherited methods keep
    the checks their own class gave them. Each wrapper is exactly the one ``@check``
    on that method would build, so a call costs the same."""
    wrapped = 0
    for attr, member in list(vars(cls).items()):
        if _annotated_function(member) is None:
            continue
        checked = check(member)
        if checked is not member:
            setattr(cls, attr, checked)
            wrapped += 1
    if not wrapped:
        raise AnnotationError(
            f"@check on a class checks its annotated methods, and {cls.__qualname__} defines "
            "none (annotate the arguments or return value of forward, get_value, ...)",
            function="check",
            argument="fn",
        )
    return cls


# --------------------------------------------------------------------------------------
# one-off checks


@functools.lru_cache(maxsize=512)
def _spec_for(spec: Any) -> ArraySpec:
    if isinstance(spec, str):
        return loose_spec(spec)
    return parse_array(spec)


def _parse_spec(spec: Any) -> ArraySpec:
    if not (isinstance(spec, str) or is_jaxtyping_array(spec)):
        raise AnnotationError(
            "check_shape() takes a jaxtyping array annotation or a dim string like "
            f"'batch obs', not {type(spec).__qualname__} {spec!r}",
            function="check_shape",
            argument="spec",
        )
    parsed = _spec_for(spec)
    if any(isinstance(d, ArgDim) for d in parsed.dims):
        raise AnnotationError(
            f"check_shape(): {parsed.text} reads a size from the call ('{{...}}'), which "
            "only a checked function has; pass the size in `dims=` instead",
            function="check_shape",
            argument="spec",
        )
    return parsed


def _prebind(dims: Any) -> Bindings:
    b = Bindings()
    if dims is None:
        return b
    if not isinstance(dims, dict):
        raise UsageError(
            f"check_shape(): `dims` must be a dict like {{'batch': 64}}, not {dims!r}",
            function="check_shape",
            argument="dims",
        )
    for name, size in dims.items():
        ok_name = isinstance(name, str) and name.isidentifier()
        is_int = isinstance(size, int) and not isinstance(size, bool) and size >= 0
        is_run = isinstance(size, tuple) and all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in size
        )
        if not ok_name or not (is_int or is_run):
            raise UsageError(
                "check_shape(): `dims` maps dim names (str) to sizes (int >= 0, or a tuple "
                f"of them for a '*name' run); got {name!r}: {size!r}",
                function="check_shape",
                argument="dims",
                got=f"{name!r}: {size!r}",
            )
        key = "*" + name if is_run else name
        b.values[key] = size
        b.sources[key] = "dims="
    return b


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
    (``{"batch": 64}``; a variadic ``*rest`` is given as ``{"rest": (2, 3)}``) and, when
    the check passes, receives the new bindings, so several inline checks share dims
    through one dict (as :func:`shapesafe.from_numpy`'s ``dims=`` does). With checks
    disabled nothing is checked and ``dims`` is left as it was.

    >>> import torch, shapesafe
    >>> shapesafe.check_shape(torch.zeros(64, 6), "batch act", dims={"act": 6})
    {'act': 6, 'batch': 64}
    >>> dims = {}
    >>> _ = shapesafe.check_shape(torch.zeros(64, 6), "batch act", dims=dims)
    >>> _ = shapesafe.check_shape(torch.zeros(64), "batch", dims=dims)
    >>> dims
    {'batch': 64, 'act': 6}
    """
    parsed = _parse_spec(spec)
    b = _prebind(dims)
    if not _config.STATE.enabled:
        return b.public()
    node = ArrayNode(f"argument `{argument}`", parsed.text, parsed)
    deferred: list[Any] = []
    failure = match_array(parsed, value, b, f"`{argument}`", deferred)
    if failure is not None:
        raise make_error(function, node, value, failure, b) from None
    bound = b.public()
    if dims is not None:
        dims.update(bound)
    return bound
