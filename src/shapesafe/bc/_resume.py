"""Checkpoints of a ``fit`` run: what is saved, and the checks before resuming.

A resume is validated completely *before* anything is loaded: the checkpoint's metadata
is read with ``inspect_checkpoint`` (which touches no module), its training state must
be complete, the run's settings must be the same, and the data must be the same data --
compared by a content fingerprint (``Demonstrations.fingerprint``: shapes, dtypes and a
strided sample of rows), not by its size, so that different data of the same size is
caught and a grown data set can be accepted on request. Only then are the weights and
the optimizer state loaded, so a refused resume leaves the policy as it was.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from shapesafe._format import error
from shapesafe.errors import CheckpointError

__all__ = ["CHECKPOINT_NAME", "FitState", "read_fit_state", "save_fit_state"]

CHECKPOINT_NAME = "last.pt"
_KEYS = ("signature", "data", "step", "sampler", "rng", "pending", "history")


@dataclass
class FitState:
    """Everything a ``fit`` run carries from step to step (and across a resume)."""

    step: int = 0
    pending: list[float] = field(default_factory=list)  # losses since the last log point
    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    metric_sums: dict[str, Tensor] = field(default_factory=dict)  # since the last log point
    checkpoint: Path | None = None
    checkpoint_step: int | None = None
    resumed_from: int | None = None


def save_fit_state(
    path: Path,
    policy: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: FitState,
    *,
    signature: dict[str, Any],
    data: str,
    sampler: dict[str, Any],
) -> None:
    from shapesafe import capture_rng_state, save_checkpoint

    stacked = torch.tensor(state.pending, dtype=torch.float64)
    save_checkpoint(
        path,
        policy,
        optimizer,
        policy_config=getattr(policy, "config", None),
        fit={
            "signature": signature,
            "data": data,
            "step": state.step,
            "sampler": sampler,
            "rng": capture_rng_state(),
            "pending": stacked,
            "metric_sums": {k: v.detach().cpu() for k, v in state.metric_sums.items()},
            "history": {
                "steps": list(state.steps),
                "train_loss": list(state.train_loss),
                "val_loss": list(state.val_loss),
                "metrics": {k: list(v) for k, v in state.metrics.items()},
            },
        },
    )
    state.checkpoint, state.checkpoint_step = path, state.step


def read_fit_state(
    path: str | os.PathLike[str],
    *,
    signature: dict[str, Any],
    data: str,
    new_data_ok: bool,
) -> dict[str, Any]:
    """The training state stored in the checkpoint at ``path``, checked against this
    run's ``signature`` and data fingerprint. Loads nothing into any module."""
    from shapesafe import inspect_checkpoint

    where = str(path)
    meta = inspect_checkpoint(path).metadata
    saved = meta.get("fit")
    if not isinstance(saved, dict):
        raise error(
            CheckpointError,
            f"{where!r} is not a fit() checkpoint (no training state)",
            argument="resume",
            hint="resume from a checkpoint that fit(checkpoint_dir=...) wrote",
        )
    missing = [k for k in _KEYS if k not in saved]
    if missing:
        raise error(
            CheckpointError,
            f"{where!r} has incomplete training state (missing: {', '.join(missing)})",
            argument="resume",
            expected=", ".join(_KEYS),
            got=", ".join(sorted(map(str, saved))),
            hint="it was written by another version or edited; start fresh with resume=False",
        )
    old = saved["signature"]
    if old != signature:
        diff = [
            f"{k}: checkpoint {old.get(k)!r}, now {v!r}"
            for k, v in signature.items()
            if not isinstance(old, dict) or old.get(k) != v
        ]
        raise error(
            CheckpointError,
            f"cannot resume from {where!r}: the run differs ({'; '.join(diff)})",
            argument="resume",
            hint="resume with the same policy, batch_size, seed and val_fraction, or start "
            "fresh with resume=False",
        )
    if saved["data"] != data and not new_data_ok:
        raise error(
            CheckpointError,
            f"cannot resume from {where!r}: the training data differs from the data it "
            "was trained on (content fingerprint "
            f"{saved['data']} in the checkpoint, {data} now)",
            argument="resume",
            expected=str(saved["data"]),
            got=data,
            hint="resume with the same data; if the data grew on purpose (e.g. DAgger), "
            "pass resume_on_new_data=True",
        )
    return saved
