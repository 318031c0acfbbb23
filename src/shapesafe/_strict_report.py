"""Audit mode of strict broadcasting: ``on_violation="warn"`` or ``"log"``.

Turning ``raise`` on across a large codebase stops at the first offending line. The
audit modes let the run continue and record each distinct offending *source line* once
(file:line, the op, the shapes, how many times it ran), so one run of a test suite or a
training loop lists everything to fix (or to wrap in ``allow_broadcasting``) before
``raise`` is switched on. A line is keyed by file, line and op, not by shapes: a loop
that hits the same line with a hundred batch sizes is one entry (its first shapes are
kept, and the count says how often it ran).

At the exit of the block the report is given once: ``warn`` issues one
:class:`BroadcastWarning` per line, attributed to that line (so pytest's warnings
summary and ``-W error`` see the user's file, not shapesafe's); ``log`` writes one
record listing every line to the ``shapesafe.strict`` logger. Each block's report is
the object the ``with`` statement binds; :func:`strict_report` returns everything
recorded in the process so far (every thread, every block).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import warnings
from typing import Literal

from shapesafe.errors import BroadcastError

__all__ = ["BroadcastWarning", "StrictReport", "Violation", "strict_report"]

OnViolation = Literal["raise", "warn", "log"]
MODES: tuple[str, ...] = ("raise", "warn", "log")

logger = logging.getLogger("shapesafe.strict")


class BroadcastWarning(UserWarning):
    """A broadcast :func:`~shapesafe.strict_broadcasting` would refuse, reported by its
    ``on_violation="warn"`` audit mode instead of raised."""


BroadcastWarning.__module__ = "shapesafe"


@dataclasses.dataclass
class Violation:
    """One offending source line: where, which op, the shapes the first time, how many
    times it ran, and the full message ``raise`` mode would have given."""

    filename: str
    lineno: int
    op: str
    shapes: str
    count: int
    message: str

    @property
    def location(self) -> str:
        return f"{self.filename}:{self.lineno}"

    def line(self) -> str:
        times = "" if self.count == 1 else f" ({self.count} times)"
        return f"{self.location}: {self.op} {self.shapes}{times}"


def _location(error: BroadcastError) -> tuple[str, int]:
    """The ``at file:line`` the error names (its second line)."""
    for text in str(error).splitlines()[1:]:
        text = text.strip()
        if text.startswith("at "):
            filename, _, lineno = text[3:].rpartition(":")
            if lineno.isdigit():
                return filename, int(lineno)
    return "<unknown>", 0


class StrictReport:
    """The lines an audit-mode :func:`~shapesafe.strict_broadcasting` block recorded.

    ``violations`` lists one :class:`Violation` per distinct line, in the order they
    were first seen; ``summary()`` is the text the ``log`` mode writes. Thread-safe: ops
    running in several threads record into one report."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[tuple[str, int, str], Violation] = {}

    @property
    def violations(self) -> list[Violation]:
        with self._lock:
            return list(self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)

    def record(self, error: BroadcastError, shapes: str) -> Violation:
        filename, lineno = _location(error)
        op = error.function or "?"
        key = (filename, lineno, op)
        with self._lock:
            seen = self._by_key.get(key)
            if seen is not None:
                seen.count += 1
                return seen
            v = Violation(filename, lineno, op, shapes, 1, str(error))
            self._by_key[key] = v
            return v

    def merge(self, other: StrictReport) -> None:
        for v in other.violations:
            with self._lock:
                seen = self._by_key.get((v.filename, v.lineno, v.op))
                if seen is None:
                    self._by_key[(v.filename, v.lineno, v.op)] = dataclasses.replace(v)
                else:
                    seen.count += v.count

    def clear(self) -> None:
        with self._lock:
            self._by_key.clear()

    def summary(self) -> str:
        """``strict_broadcasting: 2 lines would raise`` and one line per violation."""
        found = self.violations
        if not found:
            return "strict_broadcasting: no line would raise"
        head = f"strict_broadcasting: {len(found)} line{'s' * (len(found) != 1)} would raise"
        return "\n".join([head, *(f"  {v.line()}" for v in found)])

    def __repr__(self) -> str:
        return f"StrictReport({len(self)} violation{'s' * (len(self) != 1)})"


# everything recorded in the process (strict_report()); each block merges into it at exit
_PROCESS = StrictReport()


def strict_report(*, clear: bool = False) -> StrictReport:
    """Everything the audit modes (``on_violation="warn"`` / ``"log"``) recorded in this
    process so far, all blocks and threads together; ``clear=True`` empties it after
    returning a copy (e.g. between the test files of a suite)."""
    out = StrictReport()
    out.merge(_PROCESS)
    if clear:
        _PROCESS.clear()
    return out


def give_report(report: StrictReport, mode: str) -> None:
    """At the exit of an audit block: the report, through the mode's channel."""
    _PROCESS.merge(report)
    found = report.violations
    if not found:
        return
    if mode == "warn":
        for v in found:
            times = "" if v.count == 1 else f" (ran {v.count} times)"
            # (module and registry left out: passing None for them silenced the warning)
            warnings.warn_explicit(
                f"{v.message.splitlines()[0]}{times}", BroadcastWarning, v.filename, v.lineno
            )
    else:
        logger.warning("%s", report.summary())
