"""Check-tree nodes for annotated structures: NamedTuples, dataclasses and TypedDicts.

Split out of :mod:`.plan`; ``build`` is :func:`.plan.build_node`, passed in so that each
field's annotation compiles with the same rules as a parameter's.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shapesafe.errors import AnnotationError

if TYPE_CHECKING:
    from shapesafe._checker.plan import Node, StructNode

Build = Callable[[Any, str], "Node | None"]


def struct_node(cls: type, where: str, text: str, names: list[str], build: Build) -> StructNode:
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception as exc:
        raise AnnotationError(
            f"{where}: cannot read the field annotations of {text}: {exc}"
        ) from None
    fields: list[str] = []
    kids: list[Node] = []
    for name in names:
        if name not in hints:
            continue
        kid = build(hints[name], f"{where}.{name}")
        if kid is not None:
            fields.append(name)
            kids.append(kid)
    from shapesafe._checker.plan import StructNode

    return StructNode(where, text, cls, tuple(fields), tuple(kids))


# typing.Required / NotRequired wrap a TypedDict key's annotation (Python 3.11+)
_KEY_QUALIFIERS = tuple(
    q for q in (getattr(typing, "Required", None), getattr(typing, "NotRequired", None)) if q
)


def typed_dict_node(cls: type, where: str, text: str, build: Build) -> StructNode:
    """A TypedDict: ``isinstance`` cannot check one (typing refuses), so the node checks
    for a dict holding the required keys, then each key's annotation."""
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception as exc:
        raise AnnotationError(
            f"{where}: cannot read the key annotations of {text}: {exc}"
        ) from None
    # __required_keys__ misses NotRequired written as a string annotation (PEP 563), so
    # the qualifiers seen in the resolved hints have the last word
    required = set(getattr(cls, "__required_keys__", hints))
    fields: list[str] = []
    kids: list[Node] = []
    for name, hint in hints.items():
        while typing.get_origin(hint) in _KEY_QUALIFIERS:
            if typing.get_origin(hint) is getattr(typing, "NotRequired", None):
                required.discard(name)
            else:
                required.add(name)
            hint = typing.get_args(hint)[0]
        if name not in required:
            hint = typing.Optional[hint]  # noqa: UP045 (a runtime-built union)
        kid = build(hint, f"{where}[{name!r}]")
        if kid is not None:
            fields.append(name)
            kids.append(kid)
    from shapesafe._checker.plan import StructNode

    return StructNode(where, text, dict, tuple(fields), tuple(kids), True, frozenset(required))
