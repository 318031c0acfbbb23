"""shapesafe: shape-safe PyTorch for reinforcement and imitation learning.

Submodules: ``shapesafe.ops`` (checked ops), ``shapesafe.distributions``,
``shapesafe.bc`` (behaviour cloning), ``shapesafe.testing`` (hypothesis strategies).
"""

# the checker
from shapesafe._checker.decorator import check as check
from shapesafe._checker.decorator import check_shape as check_shape

# switches
from shapesafe._config import disable as disable
from shapesafe._config import enable as enable
from shapesafe._config import enabled as enabled
from shapesafe._config import is_enabled as is_enabled

# reaching a whole codebase: the import hook (the pytest plugin is shapesafe.pytest_plugin)
from shapesafe._hook import HookStats as HookStats
from shapesafe._hook import ImportHook as ImportHook
from shapesafe._hook import install_import_hook as install_import_hook

# checked structured batches (NamedTuple / dataclass / TypedDict-described dicts)
from shapesafe.batches import check_batch as check_batch
from shapesafe.batches import checked_batch as checked_batch

# errors
from shapesafe.errors import AnnotationError as AnnotationError
from shapesafe.errors import AuditError as AuditError
from shapesafe.errors import AutogradError as AutogradError
from shapesafe.errors import BroadcastError as BroadcastError
from shapesafe.errors import CheckpointError as CheckpointError
from shapesafe.errors import DataError as DataError
from shapesafe.errors import DtypeError as DtypeError
from shapesafe.errors import NonFiniteError as NonFiniteError
from shapesafe.errors import ShapeError as ShapeError
from shapesafe.errors import ShapesafeError as ShapesafeError
from shapesafe.errors import UsageError as UsageError

# opt-in memory guards: aliased in-place writes, silent downcasts
from shapesafe.guards import no_downcast as no_downcast
from shapesafe.guards import no_overlap as no_overlap

# checked ops (more in shapesafe.ops)
from shapesafe.ops import gather as gather
from shapesafe.ops import newaxis as newaxis
from shapesafe.ops import squeeze as squeeze
from shapesafe.ops import take_along as take_along
from shapesafe.ops import unsqueeze as unsqueeze

# strict broadcasting
from shapesafe.strict import BroadcastWarning as BroadcastWarning
from shapesafe.strict import StrictReport as StrictReport
from shapesafe.strict import allow_broadcasting as allow_broadcasting
from shapesafe.strict import strict_broadcasting as strict_broadcasting
from shapesafe.strict import strict_report as strict_report

# torch-safety utilities: numpy boundary, autograd, audit, training step, checkpoints
from shapesafe.torch_safety import AuditReport as AuditReport
from shapesafe.torch_safety import AutogradGraph as AutogradGraph
from shapesafe.torch_safety import CheckpointInfo as CheckpointInfo
from shapesafe.torch_safety import Finding as Finding
from shapesafe.torch_safety import GraphNode as GraphNode
from shapesafe.torch_safety import StepStats as StepStats
from shapesafe.torch_safety import assert_same_state as assert_same_state
from shapesafe.torch_safety import audit as audit
from shapesafe.torch_safety import autograd_graph as autograd_graph
from shapesafe.torch_safety import capture_rng_state as capture_rng_state
from shapesafe.torch_safety import check_grads as check_grads
from shapesafe.torch_safety import detached_copy as detached_copy
from shapesafe.torch_safety import evaluating as evaluating
from shapesafe.torch_safety import explain_autograd_error as explain_autograd_error
from shapesafe.torch_safety import explain_autograd_errors as explain_autograd_errors
from shapesafe.torch_safety import from_numpy as from_numpy
from shapesafe.torch_safety import inspect_checkpoint as inspect_checkpoint
from shapesafe.torch_safety import load_checkpoint as load_checkpoint
from shapesafe.torch_safety import params_without_grad as params_without_grad
from shapesafe.torch_safety import restore_rng_state as restore_rng_state
from shapesafe.torch_safety import save_checkpoint as save_checkpoint
from shapesafe.torch_safety import sgd_step as sgd_step
from shapesafe.torch_safety import to_numpy as to_numpy
from shapesafe.torch_safety import train_step as train_step

__version__ = "0.1.0"

__all__ = [
    "AnnotationError",
    "AuditError",
    "AuditReport",
    "AutogradError",
    "AutogradGraph",
    "BroadcastError",
    "BroadcastWarning",
    "CheckpointError",
    "CheckpointInfo",
    "DataError",
    "DtypeError",
    "Finding",
    "GraphNode",
    "HookStats",
    "ImportHook",
    "NonFiniteError",
    "ShapeError",
    "ShapesafeError",
    "StepStats",
    "StrictReport",
    "UsageError",
    "__version__",
    "allow_broadcasting",
    "assert_same_state",
    "audit",
    "autograd_graph",
    "capture_rng_state",
    "check",
    "check_batch",
    "check_grads",
    "check_shape",
    "checked_batch",
    "detached_copy",
    "disable",
    "enable",
    "enabled",
    "evaluating",
    "explain_autograd_error",
    "explain_autograd_errors",
    "from_numpy",
    "gather",
    "inspect_checkpoint",
    "install_import_hook",
    "is_enabled",
    "load_checkpoint",
    "newaxis",
    "no_downcast",
    "no_overlap",
    "params_without_grad",
    "restore_rng_state",
    "save_checkpoint",
    "sgd_step",
    "squeeze",
    "strict_broadcasting",
    "strict_report",
    "take_along",
    "to_numpy",
    "train_step",
    "unsqueeze",
]
