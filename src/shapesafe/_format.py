"""The only shape, dtype, value and message formatters in shapesafe.

Every error message is built from these, so a shape reads the same everywhere:
``(64, 6)``, ``(5,)``, ``()``; a dtype reads ``float32``; bindings read
``batch=64, obs=3``. The layout of a message is::

    fn(): argument `x` axis 1 ('obs'): <what went wrong>
      expected: ...
      got: ...
      bindings: ...
      hint: ...

:func:`message` builds it; :func:`add_context` adds the function name once, at the API
boundary (einops style), so inner helpers never thread a function name through.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import torch

from shapesafe.errors import ShapesafeError

__all__ = [
    "add_context",
    "fmt_bindings",
    "fmt_dtype",
    "fmt_shape",
    "fmt_value",
    "message",
    "plural",
    "where",
]

E = TypeVar("E", bound=ShapesafeError)


def fmt_shape(shape: Iterable[Any]) -> str:
    """``(64, 6)``, ``(5,)``, ``()``; symbolic entries print as given (``(batch, 6)``)."""
    items = [str(int(s)) if isinstance(s, (int, np.integer)) else str(s) for s in shape]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def fmt_dtype(dtype: Any) -> str:
    """``float32`` for ``torch.float32`` and ``np.float32`` alike."""
    if isinstance(dtype, torch.dtype):
        return str(dtype).removeprefix("torch.")
    if isinstance(dtype, np.dtype) or (isinstance(dtype, type) and issubclass(dtype, np.generic)):
        return str(np.dtype(dtype))
    return str(dtype)


def fmt_value(value: Any) -> str:
    """A short description of any value: ``tensor (64, 6) float32``, ``array (3,) int64``,
    ``a list of 3 items``, ``None``, ``the str 'obs'``."""
    if isinstance(value, torch.Tensor):
        return f"tensor {fmt_shape(value.shape)} {fmt_dtype(value.dtype)}"
    if isinstance(value, np.ndarray):
        return f"array {fmt_shape(value.shape)} {fmt_dtype(value.dtype)}"
    if value is None:
        return "None"
    if isinstance(value, (list, tuple, dict)):
        kind = type(value).__name__
        return f"a {kind} of {plural(len(value), 'item')}"
    if isinstance(value, (str, bytes)):
        text = repr(value)
        return f"the {type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"
    if isinstance(value, (bool, int, float, complex, np.generic)):
        return f"the {type(value).__name__} {value!r}"
    return f"a {type(value).__module__}.{type(value).__qualname__}"


def fmt_bindings(bindings: Mapping[str, Any]) -> str:
    """``batch=64, obs=3`` (``(none)`` when empty)."""
    if not bindings:
        return "(none)"
    return ", ".join(
        f"{k}={fmt_shape(v) if isinstance(v, (tuple, list)) else v}" for k, v in bindings.items()
    )


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 axis``, ``2 axes`` (pass ``words`` for irregular plurals), ``3 items``."""
    if n == 1:
        return f"1 {word}"
    if words is None:
        words = word[:-2] + "es" if word.endswith("is") else word + "s"
    return f"{n} {words}"


def where(
    function: str | None = None,
    argument: str | None = None,
    axis: int | None = None,
    axis_name: str | None = None,
) -> str:
    """The head of a message: ``fn(): argument `x` axis 1 ('obs')``."""
    head = ""
    if function:
        head = function if function.endswith(")") else f"{function}()"
    parts = []
    if argument:
        parts.append(argument if argument == "return value" else f"argument `{argument}`")
    if axis is not None:
        parts.append(f"axis {axis}" + (f" ({axis_name!r})" if axis_name else ""))
    place = " ".join(parts)
    # the function, then where in its input: "fn(): argument `x` axis 1 ('obs')"
    return f"{head}: {place}" if head and place else head or place


def message(
    summary: str,
    *,
    function: str | None = None,
    argument: str | None = None,
    axis: int | None = None,
    axis_name: str | None = None,
    expected: str | None = None,
    got: str | None = None,
    bindings: Mapping[str, Any] | None = None,
    hint: str | None = None,
    extra: Sequence[str] = (),
) -> str:
    """Build a message in the library's one layout (see the module docstring)."""
    head = where(function, argument, axis, axis_name)
    lines = [f"{head}: {summary}" if head else summary]
    if expected is not None:
        lines.append(f"  expected: {expected}")
    if got is not None:
        lines.append(f"  got: {got}")
    lines.extend(f"  {line}" for line in extra)
    if bindings:
        lines.append(f"  bindings: {fmt_bindings(bindings)}")
    if hint:
        lines.append(f"  hint: {hint}")
    return "\n".join(lines)


def error(
    cls: type[E],
    summary: str,
    *,
    function: str | None = None,
    argument: str | None = None,
    axis: int | None = None,
    axis_name: str | None = None,
    expected: str | None = None,
    got: str | None = None,
    bindings: Mapping[str, Any] | None = None,
    hint: str | None = None,
    extra: Sequence[str] = (),
) -> E:
    """Build an error of ``cls`` whose message and structured fields agree."""
    text = message(
        summary,
        function=function,
        argument=argument,
        axis=axis,
        axis_name=axis_name,
        expected=expected,
        got=got,
        bindings=bindings,
        hint=hint,
        extra=extra,
    )
    return cls(
        text,
        function=function,
        argument=argument,
        axis=axis,
        expected=expected,
        got=got,
        bindings=dict(bindings or {}),
        hint=hint,
    )


@contextlib.contextmanager
def add_context(function: str, argument: str | None = None) -> Iterator[None]:
    """Name the public function (and argument) once, at the API boundary.

    A :class:`ShapesafeError` raised inside without a ``function`` field is re-raised as
    the same class with ``function`` set and ``fn(): `` put in front of its message::

        with add_context("Demonstrations.load", "path"):
            ...  # helpers raise DataError("missing column 'obs'") without naming anyone
    """
    try:
        yield
    except ShapesafeError as err:
        if err.function is not None:
            raise
        fields = err._fields()
        fields["function"] = function
        if argument is not None and fields["argument"] is None:
            fields["argument"] = argument
        head = where(function, None if err.argument else argument)
        new = type(err)(f"{head}: {err.message}", **fields)
        raise new.with_traceback(err.__traceback__) from None


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table, first column left-aligned, the others right-aligned, with a
    rule under the header (for command-line reports)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for j, r in enumerate([header, *rows]):
        cells = [
            str(c).ljust(widths[0]) if i == 0 else str(c).rjust(widths[i]) for i, c in enumerate(r)
        ]
        lines.append("  " + "  ".join(cells).rstrip())
        if j == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt_sample(shape: Iterable[Any]) -> str:
    """``(*sample_shape, 64, 6)``: the shape of ``dist.sample(sample_shape)``."""
    return "(" + ", ".join(["*sample_shape", *(str(int(s)) for s in shape)]) + ")"


def fmt_index(name: str, idx: Sequence[int]) -> str:
    """``scale[3, 1]``: one entry of a named tensor (just ``scale`` for a 0-d one)."""
    return f"{name}[{', '.join(str(int(i)) for i in idx)}]" if len(idx) else name
