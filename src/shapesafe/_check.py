"""Private re-export: the checker lives in :mod:`shapesafe._checker` (kept for modules
that import ``check_shape`` from here)."""

from shapesafe._checker.decorator import check, check_shape

__all__ = ["check", "check_shape"]
