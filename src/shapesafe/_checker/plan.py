"""Annotations become a small tree of nodes, once, at decoration time.

One frozen dataclass per node kind (the type says what is checked, no ``kind`` string):
an array annotation, a plain class, a beartype-checked hint, ``None``, a union of arrays
and classes, a fixed-length tuple, a NamedTuple or dataclass of annotated fields, a loop
over the items of a ``tuple[X, ...]``, ``list[X]``, ``*args`` or ``**kwargs``, and the
shape attributes of a distribution spec. :func:`flatten` lists them in the order the
checks run; an error names a node by its index in that list.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, Union

import numpy as np
import torch
from jaxtyping import AbstractArray

from shapesafe._checker.dims import Dim, parse_dim_string
from shapesafe._checker.structs import struct_node, typed_dict_node
from shapesafe.errors import AnnotationError

_UNION_TYPES: tuple[Any, ...] = (Union, types.UnionType)

# --------------------------------------------------------------------------------------
# dtypes: jaxtyping names dtypes by string ("float32"); resolve them once, here

_TORCH_DTYPES: dict[str, torch.dtype] = {}
for _v in vars(torch).values():
    if isinstance(_v, torch.dtype):
        _TORCH_DTYPES.setdefault(repr(_v).rsplit(".", 1)[-1], _v)

_NUMPY_TYPES: dict[str, type] = {}
for _t in set(np.sctypeDict.values()):
    try:
        _dt = np.dtype(_t)
    except TypeError:  # pragma: no cover - exotic numpy scalar types
        continue
    _NUMPY_TYPES.setdefault(_dt.type.__name__, _dt.type)


@functools.lru_cache(maxsize=256)
def _dtype_sets(
    patterns: tuple[Any, ...],
) -> tuple[frozenset[torch.dtype], frozenset[type]]:
    """The torch dtypes and numpy scalar types a jaxtyping dtype tuple names. Memoized:
    matching every pattern against every dtype name cost ~0.5 ms per annotation, and a
    codebase repeats the same few dtype families (``Float``, ``Int``) thousands of times."""
    tnames = _match_dtype_names(patterns, list(_TORCH_DTYPES))
    nnames = _match_dtype_names(patterns, list(_NUMPY_TYPES))
    return (
        frozenset(_TORCH_DTYPES[n] for n in tnames),
        frozenset(_NUMPY_TYPES[n] for n in nnames),
    )


def _match_dtype_names(patterns: Sequence[Any], names: Sequence[str]) -> list[str]:
    out = []
    for name in names:
        for pat in patterns:
            if (type(pat) is str and pat == name) or (
                isinstance(pat, re.Pattern) and pat.match(name)
            ):
                out.append(name)
                break
    return out


@dataclasses.dataclass(frozen=True)
class ArraySpec:
    """A parsed array annotation (or a shape attribute of a distribution).

    ``numpy_types`` holds numpy *scalar types* (``np.float32``), not dtypes: a
    big-endian ``>f4`` array has a dtype unequal to ``float32`` but the same scalar
    type, and jaxtyping accepts it.
    """

    text: str
    types: tuple[type, ...]  # () means: any object with the shape attribute
    torch_dtypes: frozenset[torch.dtype] | None  # None: any dtype
    numpy_types: frozenset[type] | None
    dtype_name: str
    dims: tuple[Dim, ...]
    var_index: int | None
    shape_attr: str = "shape"

    @property
    def rank(self) -> int:
        return len(self.dims) - (self.var_index is not None)


def _array_text(hint: Any) -> str:
    dtype_name = getattr(getattr(hint, "dtype", None), "__name__", "Shaped")
    at = getattr(hint, "array_type", None)
    at_name = getattr(at, "__name__", None) or str(at)
    return f'{dtype_name}[{at_name}, "{hint.dim_str}"]'


def is_jaxtyping_array(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, AbstractArray) and hint is not AbstractArray


def parse_array(hint: Any) -> ArraySpec:
    """Parse one jaxtyping array annotation class (memoized per class: the spec depends
    only on the annotation, and jaxtyping hands out one class per subscription)."""
    try:
        return _parse_array_cached(hint)
    except TypeError:  # an unhashable hint (a jaxtyping subclass with odd metadata)
        return _parse_array(hint)


@functools.lru_cache(maxsize=2048)
def _parse_array_cached(hint: Any) -> ArraySpec:
    return _parse_array(hint)


def _parse_array(hint: Any) -> ArraySpec:
    array_type = hint.array_type
    if array_type is torch.Tensor or (
        isinstance(array_type, type) and issubclass(array_type, torch.Tensor)
    ):
        types_: tuple[type, ...] = (torch.Tensor,)
    elif array_type is np.ndarray:
        types_ = (np.ndarray,)
    elif array_type is Any or array_type is object:
        types_ = (torch.Tensor, np.ndarray)
    else:
        raise AnnotationError(
            f"{_array_text(hint)}: shapesafe checks torch.Tensor and numpy.ndarray "
            f"annotations, not {array_type!r}"
        )
    dtypes = hint.dtypes
    torch_dtypes: frozenset[torch.dtype] | None
    numpy_types: frozenset[type] | None
    if isinstance(dtypes, (list, tuple)):
        torch_dtypes, numpy_types = _dtype_sets(tuple(dtypes))
    else:  # jaxtyping's "any dtype" sentinel (Shaped)
        torch_dtypes = numpy_types = None
    dims, var_index = parse_dim_string(hint.dim_str)
    return ArraySpec(
        text=_array_text(hint),
        types=types_,
        torch_dtypes=torch_dtypes,
        numpy_types=numpy_types,
        dtype_name=getattr(hint.dtype, "__name__", "Shaped"),
        dims=dims,
        var_index=var_index,
    )


def shape_spec(dim_str: str, attr: str, text: str) -> ArraySpec:
    """A spec that checks only ``getattr(value, attr)`` (a shape) against ``dim_str``."""
    dims, var_index = parse_dim_string(dim_str)
    return ArraySpec(text, (), None, None, "", dims, var_index, shape_attr=attr)


def loose_spec(dim_str: str) -> ArraySpec:
    """A spec for a plain dim string: any tensor or ndarray, any dtype."""
    dims, var_index = parse_dim_string(dim_str)
    return ArraySpec(repr(dim_str), (torch.Tensor, np.ndarray), None, None, "", dims, var_index)


# --------------------------------------------------------------------------------------
# nodes: one class per kind of check. `where` is "argument `x`", "argument `x`[0]",
# "argument `x`.field" or "return value"; `text` is the annotation as written.


@dataclasses.dataclass(frozen=True)
class ArrayNode:
    where: str
    text: str
    spec: ArraySpec
    optional: bool = False


@dataclasses.dataclass(frozen=True)
class ClassNode:
    """``isinstance(value, classes)`` (``float`` accepts ``int``: PEP 484's tower)."""

    where: str
    text: str
    classes: tuple[type, ...]
    optional: bool = False


@dataclasses.dataclass(frozen=True)
class BearNode:
    """Any other hint (``list[int]``, ``Literal``, ``Callable``): beartype decides."""

    where: str
    text: str
    bear: Callable[[Any], bool]


@dataclasses.dataclass(frozen=True)
class NoneNode:
    where: str
    text: str = "None"


@dataclasses.dataclass(frozen=True)
class SkipNode:
    """A tuple element annotated ``Any``: keeps the element indices aligned."""

    where: str
    text: str = "Any"


@dataclasses.dataclass(frozen=True)
class UnionNode:
    """A union of array specs, class tuples and ``None`` (the first member that fits
    wins, and only its bindings are kept)."""

    where: str
    text: str
    members: tuple[ArraySpec | tuple[type, ...] | None, ...]


@dataclasses.dataclass(frozen=True)
class TupleNode:
    where: str
    text: str
    children: tuple[Node, ...]


@dataclasses.dataclass(frozen=True)
class StructNode:
    """A NamedTuple or dataclass: its class, then each annotated field. A TypedDict
    (``keyed``): a dict holding the ``required`` keys, then each annotated key (a
    ``NotRequired`` key is checked when present; absent reads as None)."""

    where: str
    text: str
    cls: type
    fields: tuple[str, ...]
    children: tuple[Node, ...]
    keyed: bool = False
    required: frozenset[str] = frozenset()


@dataclasses.dataclass(frozen=True)
class LoopNode:
    """Every item of a homogeneous container (``tuple[X, ...]``, ``list[X]``,
    ``*args``) or every value of ``**kwargs``; dims bind across all items."""

    where: str
    text: str
    classes: tuple[type, ...]  # () for *args / **kwargs (always a tuple / dict)
    child: ArrayNode | ClassNode | BearNode
    over_values: bool = False


@dataclasses.dataclass(frozen=True)
class AttrsNode:
    """An object with shape attributes (a distribution: ``batch_shape``, ...)."""

    where: str
    text: str
    classes: tuple[type, ...]
    attrs: tuple[ArraySpec, ...]


Node = (
    ArrayNode
    | ClassNode
    | BearNode
    | NoneNode
    | SkipNode
    | UnionNode
    | TupleNode
    | StructNode
    | LoopNode
    | AttrsNode
)


def hint_text(hint: Any) -> str:
    if is_jaxtyping_array(hint):
        return _array_text(hint)
    if hint is None or hint is type(None):
        return "None"
    if typing.get_origin(hint) in _UNION_TYPES:
        return " | ".join(hint_text(a) for a in typing.get_args(hint))
    if isinstance(hint, type):
        return hint.__qualname__
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if isinstance(origin, type) and args and typing.get_origin(hint) is not typing.Annotated:
        parts = ["..." if a is Ellipsis else hint_text(a) for a in args]
        return f"{origin.__qualname__}[{', '.join(parts)}]"
    return repr(hint).replace("typing.", "")


def _unwrap_annotated(hint: Any) -> Any:
    if typing.get_origin(hint) is typing.Annotated:
        base, *meta = typing.get_args(hint)
        for m in meta:
            if callable(getattr(m, "__shapesafe_spec__", None)):
                return m
        return _unwrap_annotated(base)
    return hint


def _bear(hint: Any, where: str) -> BearNode:
    from beartype import BeartypeConf
    from beartype.door import TypeHint

    try:
        th = TypeHint(hint)
    except Exception as exc:
        raise AnnotationError(f"{where}: cannot check the annotation {hint!r}: {exc}") from None
    # beartype's default: containers are spot-checked (one random item per call)
    conf = BeartypeConf(is_pep484_tower=True)

    def bearable(value: Any) -> bool:
        return bool(th.is_bearable(value, conf=conf))

    return BearNode(where, hint_text(hint), bearable)


# PEP 484's numeric tower (``float`` accepts ``int``), extended to numpy scalars: values
# read out of arrays (``rewards[t]``, ``np.float32(0.99)``, ``arr.shape`` products) are
# numpy scalars, and refusing them would be a false alarm. A 0-d *tensor* is refused:
# it carries a device and maybe a gradient, which a ``float`` annotation says the
# function does not expect; the error's hint says so and names both fixes (.item(), or
# a ``Float[Tensor, ""]`` annotation).
_PLAIN_INT = (int, np.integer)
_PLAIN_FLOAT = (int, float, np.integer, np.floating)
_PLAIN_COMPLEX = (int, float, complex, np.integer, np.floating, np.complexfloating)


def _plain_classes(hint: Any) -> tuple[type, ...] | None:
    """Classes to isinstance-check for a plain class hint (the numeric tower above)."""
    if hint is int:
        return _PLAIN_INT
    if hint is float:
        return _PLAIN_FLOAT
    if hint is complex:
        return _PLAIN_COMPLEX
    if isinstance(hint, type) and typing.get_origin(hint) is None and not is_jaxtyping_array(hint):
        if getattr(hint, "__parameters__", ()):
            return None
        return (hint,)
    return None


def build_node(hint: Any, where: str) -> Node | None:
    """Compile one annotation into a check-tree node (``None``: nothing to check)."""
    hint = _unwrap_annotated(hint)
    if hint is Any or hint is inspect.Parameter.empty or hint is object:
        return None
    if hint is None or hint is type(None):
        return NoneNode(where)
    text = hint_text(hint)
    spec_fn = getattr(hint, "__shapesafe_spec__", None)
    if callable(spec_fn):
        cls, shape_items = spec_fn()
        attrs = tuple(shape_spec(dim_str, attr, text) for attr, dim_str in shape_items)
        return AttrsNode(where, text, (cls,), attrs)
    if is_jaxtyping_array(hint):
        return ArrayNode(where, text, parse_array(hint))
    origin = typing.get_origin(hint)
    if origin in _UNION_TYPES:
        return _union(hint, where, text)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return _loop(hint, args[0], (tuple,), where, text)
        if args == ((),):
            args = ()
        kids = [build_node(a, f"{where}[{i}]") for i, a in enumerate(args)]
        return TupleNode(
            where,
            text,
            tuple(k if k is not None else SkipNode(f"{where}[{i}]") for i, k in enumerate(kids)),
        )
    if origin is list and len(typing.get_args(hint)) == 1:
        # checked item by item (not beartype's one random item), so that dims inside a
        # list bind with the other arguments, as jaxtyping does
        return _loop(hint, typing.get_args(hint)[0], (list,), where, text)
    if origin is not None:
        # dict[...], Literal[...], Callable[...], ...: beartype decides
        return _bear(hint, where)
    if isinstance(hint, type) and typing.is_typeddict(hint):
        return typed_dict_node(hint, where, text, build_node)
    if isinstance(hint, type):
        if issubclass(hint, tuple) and hasattr(hint, "_fields"):
            return struct_node(hint, where, text, list(hint._fields), build_node)
        if dataclasses.is_dataclass(hint):
            return struct_node(
                hint, where, text, [f.name for f in dataclasses.fields(hint)], build_node
            )
        classes = _plain_classes(hint)
        if classes is not None:
            return ClassNode(where, text, classes)
    if isinstance(hint, typing.TypeVar):
        return None
    return _bear(hint, where)


def _loop(hint: Any, item: Any, classes: tuple[type, ...], where: str, text: str) -> Node:
    elem = build_node(item, where + "[i]")
    if elem is None:
        return ClassNode(where, text, classes)
    if not isinstance(elem, (ArrayNode, ClassNode)):
        return _bear(hint, where)
    return LoopNode(where, text, classes, elem)


def _union(hint: Any, where: str, text: str) -> Node | None:
    args = typing.get_args(hint)
    non_none = [a for a in args if a is not type(None)]
    optional = len(non_none) < len(args)
    if len(non_none) == 1:
        inner = build_node(non_none[0], where)
        if inner is None:
            return None
        if isinstance(inner, (ArrayNode, ClassNode)):
            return dataclasses.replace(inner, optional=optional, text=text)
    merged = _merge_array_union(non_none)
    if merged is not None:
        return ArrayNode(where, text, merged, optional)
    members: list[ArraySpec | tuple[type, ...] | None] = []
    for a in args:
        a = _unwrap_annotated(a)
        classes = _plain_classes(a)
        if a is type(None):
            members.append(None)
        elif is_jaxtyping_array(a):
            members.append(parse_array(a))
        elif classes is not None:
            members.append(classes)
        else:
            return _bear(hint, where)
    return UnionNode(where, text, tuple(members))


def _merge_array_union(hints: list[Any]) -> ArraySpec | None:
    """``Float[Tensor | np.ndarray, "n"]`` (a union of one annotation over several array
    types, as jaxtyping expands it) becomes one spec accepting either type."""
    if len(hints) < 2 or not all(is_jaxtyping_array(h) for h in hints):
        return None
    if len({(h.dim_str, repr(h.dtypes)) for h in hints}) != 1:
        return None
    specs = [parse_array(h) for h in hints]
    types_: tuple[type, ...] = tuple(dict.fromkeys(t for sp in specs for t in sp.types))
    torch_dtypes = next((sp.torch_dtypes for sp in specs if torch.Tensor in sp.types), None)
    numpy_types = next((sp.numpy_types for sp in specs if np.ndarray in sp.types), None)
    names = " | ".join(t.__name__ for t in types_)
    first = specs[0]
    text = f'{first.dtype_name}[{names}, "{hints[0].dim_str}"]'
    return dataclasses.replace(
        first, text=text, types=types_, torch_dtypes=torch_dtypes, numpy_types=numpy_types
    )


def flatten(node: Node, out: list[Node]) -> None:
    """Pre-order: the order in which checks run (and node indices for errors)."""
    out.append(node)
    if isinstance(node, (TupleNode, StructNode)):
        for kid in node.children:
            flatten(kid, out)
