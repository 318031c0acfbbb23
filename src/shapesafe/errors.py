"""The shapesafe exception family: one base, one subclass per kind of problem.

Every error shapesafe raises on bad input is a :class:`ShapesafeError`, so one
``except shapesafe.ShapesafeError:`` catches all of them; the subclasses say what went
wrong. The base is a :class:`ValueError` and deliberately **not** a :class:`TypeError`:
torch turns a ``TypeError`` raised inside a tensor operator (``a - b``) into
``NotImplemented``, which would hide our message behind "unsupported operand type(s)".

The tree::

    ShapesafeError (ValueError)
    ├── ShapeError           a value's shape does not match what the code declared
    │   ├── DtypeError       wrong dtype family, or not an array/tensor at all
    │   └── BroadcastError   an implicit broadcast that strict mode refuses
    ├── AnnotationError      an annotation or op pattern that cannot be understood
    ├── NonFiniteError       NaN or infinity where finite values are required
    ├── CheckpointError      a checkpoint that cannot be written, read or trusted
    ├── AuditError           a module audit that found problems (``audit(strict=True)``)
    ├── AutogradError        an autograd problem explained (also a RuntimeError)
    ├── DataError            demonstrations or a data file that cannot be used
    └── UsageError           an argument value the function cannot accept

``DtypeError`` stays under ``ShapeError`` on purpose: both mean "this value does not
match its annotation", and code written as ``except ShapeError`` around a checked call
must keep catching a wrong dtype.

Every instance carries structured fields (``None`` where they do not apply), so tests and
tools can read *what* went wrong without parsing the message.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AnnotationError",
    "AuditError",
    "AutogradError",
    "BroadcastError",
    "CheckpointError",
    "DataError",
    "DtypeError",
    "NonFiniteError",
    "ShapeError",
    "ShapesafeError",
    "UsageError",
]


class ShapesafeError(ValueError):
    """Base of every error shapesafe raises on bad input.

    Attributes (``None`` where they do not apply):
        function: qualified name of the function the user called.
        argument: the argument's name, or ``"return value"``.
        axis: the index of the offending axis in the value's shape.
        expected: what was expected, as text.
        got: what was found, as text.
        bindings: the named dims bound so far in this call.
        hint: the likely fix, as text.
    """

    function: str | None
    argument: str | None
    axis: int | None
    expected: str | None
    got: str | None
    bindings: dict[str, Any]
    hint: str | None

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
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.function = function
        self.argument = argument
        self.axis = axis
        self.expected = expected
        self.got = got
        self.bindings = dict(bindings or {})
        self.hint = hint

    @property
    def message(self) -> str:
        """The message text (``str(err)``)."""
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only fields survive pickling (multiprocessing, DDP workers, xdist).
        return (_rebuild, (type(self), self.message, self._fields()))

    def _fields(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "argument": self.argument,
            "axis": self.axis,
            "expected": self.expected,
            "got": self.got,
            "bindings": self.bindings,
            "hint": self.hint,
        }


def _rebuild(cls: type[ShapesafeError], message: str, fields: dict[str, Any]) -> ShapesafeError:
    err = cls.__new__(cls)
    ShapesafeError.__init__(err, message, **fields)
    return err


class ShapeError(ShapesafeError):
    """A value's shape does not match what the code declared."""


class DtypeError(ShapeError):
    """A value has the wrong dtype family or is not an array/tensor at all."""


class BroadcastError(ShapeError):
    """An operation would broadcast implicitly where shapesafe was told to refuse it."""


class AnnotationError(ShapesafeError):
    """An annotation or op pattern cannot be understood (usually at decoration time)."""


class NonFiniteError(ShapesafeError):
    """NaN or infinity where finite values are required."""


class CheckpointError(ShapesafeError):
    """A checkpoint cannot be written, read, or does not match what it is loaded into."""


class AuditError(ShapesafeError):
    """A module audit found problems (raised by ``audit(..., strict=True)``)."""


class AutogradError(ShapesafeError, RuntimeError):
    """An autograd problem explained: a loss that cannot reach the parameters, parameters
    that got no gradient, or one of torch's autograd ``RuntimeError``\\ s with its fix.

    It is also a :class:`RuntimeError` (what torch raises for these), so existing
    ``except RuntimeError`` code keeps working.
    """


class DataError(ShapesafeError):
    """Demonstrations, a batch or a data file that cannot be used as given."""


class UsageError(ShapesafeError):
    """An argument value the function cannot accept (a negative size, an unknown name)."""


for _cls in (
    ShapesafeError,
    ShapeError,
    DtypeError,
    BroadcastError,
    AnnotationError,
    NonFiniteError,
    CheckpointError,
    AuditError,
    AutogradError,
    DataError,
    UsageError,
):
    _cls.__module__ = "shapesafe"
del _cls
