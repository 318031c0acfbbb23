"""The shapesafe exception family.

Every error shapesafe raises on bad input derives from :class:`ShapeError`, which is a
:class:`ValueError` and deliberately **not** a :class:`TypeError`: torch turns a
``TypeError`` raised inside a tensor operator (``a - b``) into ``NotImplemented``, which
would hide our message behind "unsupported operand type(s)".
"""

from __future__ import annotations

from typing import Any

__all__ = ["AnnotationError", "BroadcastError", "DtypeError", "ShapeError"]


class ShapeError(ValueError):
    """A value's shape (or dtype, or type) does not match what the code declared.

    Attributes (``None`` where they do not apply):
        function: qualified name of the checked function.
        argument: the argument's name, or ``"return value"``.
        axis: the index of the offending axis in the value's shape.
        expected: what was expected, as text.
        got: what was found, as text.
        bindings: the named dims bound so far in this call.
    """

    function: str | None
    argument: str | None
    axis: int | None
    expected: str | None
    got: str | None
    bindings: dict[str, Any]

    def __init__(
        self,
        message: str,
        *,
        function: str | None = None,
        argument: str | None = None,
        axis: int | None = None,
        expected: str | None = None,
        got: str | None = None,
        bindings: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.function = function
        self.argument = argument
        self.axis = axis
        self.expected = expected
        self.got = got
        self.bindings = dict(bindings or {})


class DtypeError(ShapeError):
    """A value has the wrong dtype family or is not an array/tensor at all."""


class BroadcastError(ShapeError):
    """An operation would broadcast implicitly where shapesafe was told to refuse it."""


class AnnotationError(ShapeError):
    """An annotation cannot be understood (raised when decorating, not when calling)."""


for _cls in (ShapeError, DtypeError, BroadcastError, AnnotationError):
    _cls.__module__ = "shapesafe"
