"""Torch traps, made loud: the utilities around a model rather than inside it.

A private package; users import every name from ``shapesafe``. One module per concern:

- :mod:`.numpy_boundary`: ``from_numpy`` / ``to_numpy``, copies with a dtype policy.
- :mod:`.autograd_graph`: ``autograd_graph``, the backward graph named and printed.
- :mod:`.grads`: ``params_without_grad``, ``check_grads``, ``explain_autograd_errors``,
  ``detached_copy``.
- :mod:`.audit`: ``audit``, module and optimizer bugs that raise nothing.
- :mod:`.training`: ``train_step``, ``sgd_step``, ``evaluating``.
- :mod:`.checkpoint`: atomic, verified checkpoints, state comparison, RNG state.
- :mod:`._arguments`: the argument checks they share (module, optimizer, number, ...).

Every error on bad input is a :class:`~shapesafe.ShapesafeError`: NaN or infinity is
always :class:`~shapesafe.NonFiniteError`, a checkpoint problem
:class:`~shapesafe.CheckpointError`, an unusable argument :class:`~shapesafe.UsageError`.
Each error names the public function and argument where it is raised (every helper
serves one public function, or takes its name), so messages share the library's one
layout: ``fn(): argument `x`: what went wrong``.
"""

from shapesafe.torch_safety.audit import AuditReport, Finding, audit
from shapesafe.torch_safety.autograd_graph import AutogradGraph, GraphNode, autograd_graph
from shapesafe.torch_safety.checkpoint import (
    CheckpointInfo,
    assert_same_state,
    capture_rng_state,
    inspect_checkpoint,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from shapesafe.torch_safety.grads import (
    check_grads,
    detached_copy,
    explain_autograd_error,
    explain_autograd_errors,
    params_without_grad,
)
from shapesafe.torch_safety.numpy_boundary import from_numpy, to_numpy
from shapesafe.torch_safety.training import StepStats, evaluating, sgd_step, train_step

__all__ = [
    "AuditReport",
    "AutogradGraph",
    "CheckpointInfo",
    "Finding",
    "GraphNode",
    "StepStats",
    "assert_same_state",
    "audit",
    "autograd_graph",
    "capture_rng_state",
    "check_grads",
    "detached_copy",
    "evaluating",
    "explain_autograd_error",
    "explain_autograd_errors",
    "from_numpy",
    "inspect_checkpoint",
    "load_checkpoint",
    "params_without_grad",
    "restore_rng_state",
    "save_checkpoint",
    "sgd_step",
    "to_numpy",
    "train_step",
]
