"""DAgger's checkpoint: one file, ``dagger.pt``, rewritten after every iteration.

It is an ordinary :func:`shapesafe.save_checkpoint` file (atomic, checksummed, read
with ``weights_only``), so :func:`shapesafe.bc.load_policy` rebuilds the learner from
it. Its ``dagger`` metadata holds everything the next iteration depends on: the
aggregated data, the records, the learner's initial weights (retraining from scratch
restarts from them), the global RNG state, and the run's settings -- checked before
anything is loaded, as ``fit``'s resume does, so a refused resume changes nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from shapesafe._format import error
from shapesafe.bc._data import Demonstrations
from shapesafe.errors import CheckpointError

__all__ = ["CHECKPOINT", "DaggerState", "load_state", "save_state", "state_path"]

CHECKPOINT = "dagger.pt"
_KEYS = ("signature", "iteration", "records", "data", "initial", "rng")


@dataclass
class DaggerState:
    """What carries from one DAgger iteration to the next."""

    initial: dict[str, Tensor]
    iteration: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)
    data: Demonstrations | None = None


def state_path(checkpoint_dir: str | os.PathLike[str] | None) -> Path | None:
    if checkpoint_dir is None:
        return None
    folder = Path(checkpoint_dir)
    if folder.exists() and not folder.is_dir():
        raise error(
            CheckpointError,
            f"checkpoint_dir {str(folder)!r} exists and is not a folder",
            function="dagger",
            argument="checkpoint_dir",
        )
    folder.mkdir(parents=True, exist_ok=True)
    return folder / CHECKPOINT


def save_state(
    path: Path, policy: torch.nn.Module, state: DaggerState, signature: dict[str, Any]
) -> None:
    from shapesafe import capture_rng_state, save_checkpoint

    data = state.data
    assert data is not None
    save_checkpoint(
        path,
        policy,
        policy_config=getattr(policy, "config", None),
        dagger={
            "signature": signature,
            "iteration": state.iteration,
            "records": list(state.records),
            "data": {
                "observations": data.observations,
                "actions": data.actions,
                "episode_ids": data.episode_ids,
                "extras": dict(data.extras),
            },
            "initial": state.initial,
            "rng": capture_rng_state(),
        },
    )


def load_state(path: Path, policy: torch.nn.Module, signature: dict[str, Any]) -> DaggerState:
    """The state saved at ``path``, after checking it belongs to this run; loads the
    learner's weights and restores the RNG state."""
    from shapesafe import inspect_checkpoint, load_checkpoint, restore_rng_state

    where = str(path)
    saved = inspect_checkpoint(path).metadata.get("dagger")
    if not isinstance(saved, dict) or any(k not in saved for k in _KEYS):
        raise error(
            CheckpointError,
            f"{where!r} is not a complete dagger() checkpoint",
            function="dagger",
            argument="resume",
            hint="resume from the checkpoint_dir of a dagger() run, or start fresh "
            "with resume=False",
        )
    old = saved["signature"]
    if old != signature:
        diff = [
            f"{k}: checkpoint {old.get(k)!r}, now {v!r}"
            for k, v in signature.items()
            if old.get(k) != v
        ]
        raise error(
            CheckpointError,
            f"cannot resume from {where!r}: the run differs ({'; '.join(diff)})",
            function="dagger",
            argument="resume",
            hint="resume with the same settings (only iterations may grow), or start "
            "fresh in another checkpoint_dir",
        )
    load_checkpoint(path, policy)
    restore_rng_state(saved["rng"])
    d = saved["data"]
    data = Demonstrations._from_validated(
        d["observations"], d["actions"], d["episode_ids"], None, dict(d["extras"])
    )
    return DaggerState(
        initial=dict(saved["initial"]),
        iteration=int(saved["iteration"]),
        records=[dict(r) for r in saved["records"]],
        data=data,
    )
