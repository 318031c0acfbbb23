"""``fit(compile=True)``: the training step compiled with ``torch.compile``.

Two pieces are compiled, the two where eager PyTorch spends its time on small policies:

* the policy's ``compute_loss`` -- forward *and* backward, since AOTAutograd compiles
  the backward graph with the forward one. shapesafe's checks inside it (annotations,
  checked ops and distributions) run at trace time, so a wrong-shape batch still raises
  the library's error at the first step, and cost nothing per step after that;
* the optimizer's ``step`` (the pattern of torch's "compiling the optimizer" recipe): the
  per-parameter update loop becomes a few fused kernels.

``zero_grad``, the loss checks of ``train_step``, clipping, logging and checkpoints stay
eager and unchanged. Graphs are compiled for a fixed batch size (``dynamic=False``): the
ragged last batch of an epoch costs one more compilation, once, and nothing after.
The first step of a run therefore takes seconds (inductor generates and compiles C++ on
CPU); the speed-up pays it back over a few hundred steps.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from shapesafe._format import error, fmt_value
from shapesafe.bc._batch import Batch
from shapesafe.bc.policies.base import LossOutput, Policy
from shapesafe.errors import UsageError

__all__ = ["compile_backend", "compiled_loss", "compiled_optimizer"]


def compile_backend(value: Any, function: str = "fit", argument: str = "compile") -> str | None:
    """``compile=`` of ``fit`` (and ``Policy.compile_act``): ``False`` (eager), ``True``
    (inductor) or a backend name (e.g. ``"aot_eager"``, which compiles fast and is handy
    in tests)."""
    if value is False or value is None:
        return None
    if value is True:
        return "inductor"
    if isinstance(value, str) and value in torch._dynamo.list_backends(exclude_tags=()):
        return value
    raise error(
        UsageError,
        f"must be True, False or a torch.compile backend name, got {fmt_value(value)}",
        function=function,
        argument=argument,
        expected="True, False or one of " + ", ".join(torch._dynamo.list_backends()),
        got=fmt_value(value),
    )


def compiled_loss(policy: Policy, backend: str) -> Callable[[Batch], LossOutput]:
    """``policy.compute_loss``, compiled for fixed batch sizes."""
    compiled = torch.compile(policy.compute_loss, backend=backend, dynamic=False)

    def loss(batch: Batch) -> LossOutput:
        with warnings.catch_warnings():
            # dynamo reads .grad of every tensor it wraps; for a non-leaf one (a
            # recurrent state) torch warns about that read, which is dynamo's, not yours
            warnings.filterwarnings("ignore", message=".*not a leaf Tensor is being accessed")
            return compiled(batch)  # type: ignore[no-any-return]

    return loss


@contextmanager
def compiled_optimizer(optimizer: torch.optim.Optimizer, backend: str) -> Iterator[None]:
    """``optimizer.step`` compiled while the block runs (an instance attribute that
    shadows the method; removed afterwards, so the optimizer is unchanged for the
    caller)."""
    original = optimizer.step

    def step() -> None:
        original()

    optimizer.step = torch.compile(step, backend=backend)  # type: ignore[method-assign,arg-type,assignment]
    try:
        yield
    finally:
        del optimizer.step
