"""Global on/off switch for shapesafe checks.

The environment variable ``SHAPESAFE_DISABLE`` is read **once, at import**. When it is set
to anything but ``""``/``"0"``/``"false"``, :func:`shapesafe.check` returns the decorated
function itself (zero cost) for the rest of the process.

At run time, :func:`disable`, :func:`enable` and the :func:`enabled` context manager flip
a process-wide flag that each checked call reads first; a disabled call costs one
attribute read. The flag is process-wide (all threads), by design: it is a "trust this
code now" switch, not a per-thread setting.
"""

from __future__ import annotations

import os
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


def enable() -> None:
    """Turn shapesafe checks on (process-wide).

    Has no effect on functions decorated while ``SHAPESAFE_DISABLE`` was set at import:
    those were returned undecorated.
    """
    STATE.enabled = True


def disable() -> None:
    """Turn shapesafe checks off (process-wide); checked calls then cost ~one flag read."""
    STATE.enabled = False


def is_enabled() -> bool:
    """Whether checks currently run."""
    return STATE.enabled


@contextmanager
def enabled(flag: bool = True) -> Iterator[None]:
    """Context manager that sets checks on (``True``) or off (``False``) and restores the
    previous setting on exit, also when the block raises.

    >>> import shapesafe
    >>> with shapesafe.enabled(False):
    ...     shapesafe.is_enabled()
    False
    """
    previous = STATE.enabled
    STATE.enabled = bool(flag)
    try:
        yield
    finally:
        STATE.enabled = previous
