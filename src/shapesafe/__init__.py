"""shapesafe: shape-safe PyTorch for reinforcement and imitation learning."""

from shapesafe._check import check as check
from shapesafe._check import check_shape as check_shape
from shapesafe._config import disable as disable
from shapesafe._config import enable as enable
from shapesafe._config import enabled as enabled
from shapesafe._config import is_enabled as is_enabled
from shapesafe._errors import AnnotationError as AnnotationError
from shapesafe._errors import BroadcastError as BroadcastError
from shapesafe._errors import DtypeError as DtypeError
from shapesafe._errors import ShapeError as ShapeError

__version__ = "0.1.0"

__all__ = [
    "AnnotationError",
    "BroadcastError",
    "DtypeError",
    "ShapeError",
    "__version__",
    "check",
    "check_shape",
    "disable",
    "enable",
    "enabled",
    "is_enabled",
]
