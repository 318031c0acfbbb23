"""Global on/off switch for shapesafe checks.

The environment variable ``SHAPESAFE_DISABLE`` is read **once, at import**. When it is set
to anything but ``""``/``"0"``/``"false"``, :func:`shapesafe.check` returns the decorated
function itself (zero cost) for the rest of the process.

At run time the switch is process-wide (all threads): it is a "trust this code now"
switch, not a per-thread setting, and a checked call reads one attribute
(``STATE.enabled``) to learn it, which is why the disabled path costs nothing.

Semantics, chosen so that threads cannot corrupt it:

- :func:`enable` / :func:`disable` set the process default.
- Each :func:`enabled` block pushes an override while it runs; the most recently
  entered block that is still running wins, and when none runs the default applies.
  A block removes *its own* override on exit, wherever it sits in the stack, so
  blocks that two threads enter and leave in interleaved order (A enters, B enters,
  A leaves, B leaves) leave the switch exactly as it was before either. (Restoring a
  saved "previous" value, as a naive context manager does, would have B restore the
  "off" it saw when it entered, and leave checks off for the whole process.)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["DISABLED_BY_ENV", "disable", "enable", "enabled", "is_enabled"]


def _env_disabled(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "0", "false", "no", "off")


DISABLED_BY_ENV: bool = _env_disabled(os.environ.get("SHAPESAFE_DISABLE"))


class _State:
    __slots__ = ("enabled",)

    def __init__(self) -> None:
        self.enabled = not DISABLED_BY_ENV


STATE = _State()

_lock = threading.Lock()
_default = STATE.enabled
_overrides: list[tuple[object, bool]] = []  # (token of an `enabled` block, its flag)


def _publish() -> None:
    # under _lock: the one place STATE.enabled (read by every checked call) changes
    STATE.enabled = _overrides[-1][1] if _overrides else _default


def enable() -> None:
    """Turn shapesafe checks on (process-wide default; an active ``enabled(...)`` block
    keeps its own setting until it ends).

    Has no effect on functions decorated while ``SHAPESAFE_DISABLE`` was set at import:
    those were returned undecorated.
    """
    global _default
    with _lock:
        _default = True
        _publish()


def disable() -> None:
    """Turn shapesafe checks off (process-wide default); checked calls then cost about
    one flag read."""
    global _default
    with _lock:
        _default = False
        _publish()


def is_enabled() -> bool:
    """Whether checks currently run."""
    return STATE.enabled


@contextmanager
def enabled(flag: bool = True) -> Iterator[None]:
    """Context manager that sets checks on (``True``) or off (``False``) while the block
    runs, also when it raises; see the module notes for blocks in several threads.

    >>> import shapesafe
    >>> with shapesafe.enabled(False):
    ...     shapesafe.is_enabled()
    False
    """
    token = object()
    with _lock:
        _overrides.append((token, bool(flag)))
        _publish()
    try:
        yield
    finally:
        with _lock:
            _overrides[:] = [o for o in _overrides if o[0] is not token]
            _publish()
