"""``DiagNormal["batch", "act"]`` and ``Dist[DiagNormal, "batch", "act"]``: annotations
that :func:`shapesafe.check` reads through ``DistSpec.__shapesafe_spec__``."""

from __future__ import annotations

import functools
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

__all__ = ["Dist", "DistSpec", "annotation"]

from torch.distributions import Distribution

from shapesafe.errors import AnnotationError


@dataclass(frozen=True)
class DistSpec:
    """What ``DiagNormal["batch", "act"]`` carries: the class and the dims of its batch
    and event shapes, read by :func:`shapesafe.check` through ``__shapesafe_spec__``.

    >>> from shapesafe.distributions import DiagNormal, DistSpec
    >>> DistSpec(DiagNormal, "batch", "act").__shapesafe_spec__()[1]
    (('batch_shape', 'batch'), ('event_shape', 'act'))
    """

    cls: type
    batch: str
    event: str

    def __shapesafe_spec__(self) -> tuple[type, tuple[tuple[str, str], ...]]:
        return (self.cls, (("batch_shape", self.batch), ("event_shape", self.event)))

    def __repr__(self) -> str:
        return f"{self.cls.__name__}[{self.batch!r}, {self.event!r}]"


def _error(summary: str, *, function: str, expected: str, got: str) -> AnnotationError:
    # the head is the annotation as written (``DiagNormal['b']``), not a call
    return AnnotationError(f"{function}: {summary}", function=function, expected=expected, got=got)


def _count_dims(dim_str: str) -> int | None:
    tokens = dim_str.split()
    if any(t.startswith(("*", "...", "#")) or t == "..." for t in tokens):
        return None
    return len(tokens)


def annotation(cls: Any, items: tuple[Any, ...]) -> Any:
    """The ``Annotated[cls, DistSpec(...)]`` for ``cls[items]``, after checking them."""
    if not (isinstance(cls, type) and issubclass(cls, Distribution)):
        raise _error(
            f"the first item must be a torch.distributions.Distribution subclass, got {cls!r}",
            function="Dist[...]",
            expected="a torch.distributions.Distribution subclass",
            got=repr(cls),
        )
    name = cls.__name__
    if not all(isinstance(s, str) for s in items) or not 1 <= len(items) <= 2:
        raise _error(
            f"takes one or two dim strings: {name}[batch_dims, event_dims], e.g. "
            f"{name}['batch', 'act']; got {items!r}",
            function=f"{name}[...]",
            expected="one or two dim strings",
            got=repr(items),
        )
    rank = getattr(cls, "_event_rank", None)
    if len(items) == 1:
        if rank != 0:
            raise _error(
                f"give the event dims too, e.g. {name}[{items[0]!r}, 'act'] (only "
                f"scalar-event distributions such as Normal, Categorical and Bernoulli may "
                f"leave them out)",
                function=f"{name}[{items[0]!r}]",
                expected="batch and event dims",
                got=repr(items),
            )
        items = (items[0], "")
    count = _count_dims(items[1])
    if rank is not None and count is not None and count != rank:
        raise _error(
            f"a {name} has {rank} event dim(s), but {items[1]!r} names {count}",
            function=f"{name}[{items[0]!r}, {items[1]!r}]",
            expected=f"{rank} event dim(s)",
            got=str(count),
        )
    key: Any = cls
    return _cached_annotation(key, items[0], items[1])


@functools.cache
def _cached_annotation(cls: type, batch: str, event: str) -> Any:
    return typing.Annotated[cls, DistSpec(cls, batch, event)]


if TYPE_CHECKING:
    from typing import Annotated as Dist
else:

    class Dist:
        """``Dist[DiagNormal, "batch", "act"]``: the mypy-friendly spelling of
        ``DiagNormal["batch", "act"]``.

        Type checkers read it as ``Annotated[DiagNormal, "batch", "act"]``, i.e. plain
        ``DiagNormal``; at run time it is ``Annotated[DiagNormal, DistSpec(...)]``, which
        :func:`shapesafe.check` reads. Works for any ``torch.distributions`` class:
        ``Dist[torch.distributions.Normal, "batch", ""]``.
        """

        __slots__ = ()

        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            raise TypeError("Dist is used in annotations only: Dist[DiagNormal, 'batch', 'act']")

        def __class_getitem__(cls, item: Any) -> Any:
            if not isinstance(item, tuple) or len(item) < 2:
                raise _error(
                    "takes a distribution class and dim strings, e.g. "
                    f"Dist[DiagNormal, 'batch', 'act']; got Dist[{item!r}]",
                    function="Dist[...]",
                    expected="Dist[cls, batch_dims, event_dims]",
                    got=f"Dist[{item!r}]",
                )
            return annotation(item[0], tuple(item[1:]))
