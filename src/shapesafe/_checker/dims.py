"""One axis of an annotation, and the parser of jaxtyping dim strings.

``"batch *rest 3 n+1 #chan _ ..."`` parses into one small frozen dataclass per axis. The
kinds mirror jaxtyping's own: a fixed size, a named size (binds on first sight), a
symbolic expression over named sizes, a named variadic run ``*name``, an anonymous axis
``_`` and an anonymous run ``...``. ``#`` marks an axis that may also be 1 (broadcast).

Both the checker and :mod:`shapesafe.testing` use this parser, so the strategies draw
exactly the shapes the checker accepts.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Mapping
from typing import Any

from shapesafe.errors import AnnotationError

__all__ = [
    "AnonDim",
    "AnyRunDim",
    "ArgDim",
    "Dim",
    "FixedDim",
    "NamedDim",
    "RunDim",
    "SymbolicDim",
    "SymbolicError",
    "parse_dim_string",
]


@dataclasses.dataclass(frozen=True)
class FixedDim:
    """``3`` (or ``act=3``: the alias is only a label)."""

    label: str
    size: int
    alias: str | None = None
    broadcastable: bool = False


@dataclasses.dataclass(frozen=True)
class NamedDim:
    """``batch``: binds a size the first time it is seen in a call."""

    label: str
    name: str
    broadcastable: bool = False


@dataclasses.dataclass(frozen=True)
class SymbolicDim:
    """``n+1``, ``2*t``, ``n//m``: an expression over named dims, checked once they are
    bound. ``names`` are the dim names the expression reads."""

    label: str
    expr: str
    names: tuple[str, ...]
    broadcastable: bool = False

    def evaluate(self, values: Mapping[str, Any]) -> int | float | None:
        """The expected size, ``None`` while a name is unbound; a
        :class:`SymbolicError` when the expression has no value (``n//m`` with ``m=0``)."""
        ns: dict[str, Any] = dict(SAFE_BUILTINS)
        for n in self.names:
            if n not in values:
                return None
            ns[n] = values[n]
        try:
            out = eval(self.expr, {"__builtins__": {}}, ns)
        except ZeroDivisionError:
            raise SymbolicError("divides by zero") from None
        except Exception as exc:
            raise SymbolicError(f"cannot be evaluated ({exc})") from None
        if isinstance(out, bool) or not isinstance(out, (int, float)):
            raise SymbolicError(f"is not a number ({out!r})")
        # `n/2` with an odd n is 2.5: no axis has that size, so keep the float (the
        # comparison then fails and the message shows 2.5) rather than truncate it
        return int(out) if float(out).is_integer() else out


@dataclasses.dataclass(frozen=True)
class ArgDim:
    """``{self.obs_dim}`` (or ``obs={self.obs_dim}``): the size is read from a parameter
    of the call, or an attribute of one, each time the function is called.

    jaxtyping's own spelling (its checker evaluates ``{...}`` as an f-string over the
    arguments), so an annotation that ties an axis to a module's width reads the same to
    both checkers. ``path`` is the dotted expression, ``root`` the parameter it starts
    from; ``alias`` only labels the axis in messages, as for a fixed size."""

    label: str
    path: str
    root: str
    alias: str | None = None
    broadcastable: bool = False


@dataclasses.dataclass(frozen=True)
class RunDim:
    """``*batch``: a run of axes of any length, bound as a tuple."""

    label: str
    name: str


@dataclasses.dataclass(frozen=True)
class AnonDim:
    """``_`` (or ``_name``): one axis of any size."""

    label: str


@dataclasses.dataclass(frozen=True)
class AnyRunDim:
    """``...`` (or ``*_``): any number of axes of any size."""

    label: str


Dim = FixedDim | NamedDim | SymbolicDim | ArgDim | RunDim | AnonDim | AnyRunDim

# names usable in a symbolic expression without being dims (jaxtyping allows these too)
SAFE_BUILTINS: dict[str, Any] = {"min": min, "max": max, "abs": abs, "int": int, "len": len}


class SymbolicError(AnnotationError):
    """A symbolic dim has no value for the bound sizes (internal: the matcher turns it
    into a ShapeError naming the argument)."""


def _parse_dim(token: str) -> Dim:
    if token == "...":
        return AnyRunDim(token)
    broadcastable = variadic = anonymous = False
    alias: str | None = None
    elem = token
    # jaxtyping's prefixes, in any order: '#' broadcastable, '*' variadic, '?' (treated
    # as a plain name here), '_' anonymous, and 'alias=' before a fixed size
    while elem:
        c = elem[0]
        if c == "#":
            broadcastable, elem = True, elem[1:]
        elif c == "*":
            variadic, elem = True, elem[1:]
        elif c == "?":
            elem = elem[1:]
        elif c == "_":
            anonymous, elem = True, elem[1:]
        elif elem.count("=") == 1:
            alias, elem = elem.split("=")
        else:
            break
    if elem == "" or anonymous:
        return AnyRunDim(token) if variadic else AnonDim(token)
    # str.isidentifier, not an ASCII regex: 'größe' or 'время' is a name like any other
    if elem.isidentifier():
        if variadic:
            if broadcastable:
                raise AnnotationError(
                    f"broadcastable variadic dims like {token!r} are not supported by "
                    "shapesafe; use '*name' (exact) or '...' (anything)"
                )
            return RunDim(token, elem)
        return NamedDim(token, elem, broadcastable)
    try:
        size = int(elem)
    except ValueError:
        pass
    else:
        return FixedDim(token, size, alias, broadcastable)
    if "{" in elem or "}" in elem:
        return _arg_dim(token, elem, alias, broadcastable or variadic)
    try:
        tree = ast.parse(elem, mode="eval")
    except SyntaxError:
        raise AnnotationError(f"cannot parse the axis {token!r}") from None
    names = sorted(
        {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id not in SAFE_BUILTINS}
    )
    return SymbolicDim(token, elem, tuple(names), broadcastable)


def _arg_dim(token: str, elem: str, alias: str | None, bad: bool) -> ArgDim:
    path = elem[1:-1].strip() if elem.startswith("{") and elem.endswith("}") else ""
    parts = path.split(".")
    if bad and elem.startswith("{") and not token.startswith("#"):
        raise AnnotationError(f"a '{{...}}' axis is one axis, it cannot be variadic: {token!r}")
    if not path or not all(p.isidentifier() for p in parts):
        raise AnnotationError(
            f"cannot parse the axis {token!r}: shapesafe reads '{{name}}' (a parameter) or "
            "'{self.attr}' (an attribute of one) as a whole axis; for an expression such "
            "as '{self.n}+1', give the module a property holding the size"
        )
    return ArgDim(token, path, parts[0], alias, token.startswith("#"))


def parse_dim_string(dim_str: str) -> tuple[tuple[Dim, ...], int | None]:
    """Parse ``"batch *rest 3 act=2"`` into dims and the index of the variadic dim."""
    if "," in dim_str and "(" not in dim_str:
        raise AnnotationError(f"axes are separated by spaces, not commas: {dim_str!r}")
    dims = tuple(_parse_dim(tok) for tok in dim_str.split())
    var_index: int | None = None
    for i, d in enumerate(dims):
        if isinstance(d, (RunDim, AnyRunDim)):
            if var_index is not None:
                raise AnnotationError(
                    f"at most one variadic axis ('*name' or '...') per annotation: {dim_str!r}"
                )
            var_index = i
    seen: dict[str, NamedDim] = {}
    for d in dims:
        if isinstance(d, NamedDim):
            prev = seen.get(d.name)
            if prev is not None and (prev.broadcastable or d.broadcastable):
                raise AnnotationError(
                    f"the axis name {d.name!r} appears twice in {dim_str!r} with a '#' "
                    "(broadcastable) marker; shapesafe does not support that combination"
                )
            seen[d.name] = d
    return dims, var_index
