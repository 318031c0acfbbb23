"""Private re-export: the annotation parser and matcher live in
:mod:`shapesafe._checker` (kept for :mod:`shapesafe._compile`, which imports
``Opaque`` from here)."""

from shapesafe._checker.match import Opaque

__all__ = ["Opaque"]
