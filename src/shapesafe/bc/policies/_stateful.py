"""What the policies on windows (frame stack, action chunks, GRU) share: the check of
the window fields in a batch, and the state ``act`` keeps between calls -- one row per
environment of a vectorised environment, rows forgotten by ``reset(which)`` at episode
starts.

The state is plain tensors on the policy object, not buffers: it describes the episodes
running now, so it is neither saved in checkpoints nor moved by ``policy.to()`` (it is
re-created on the observations' device at the next episode start).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from shapesafe._format import error, fmt_value
from shapesafe.bc._batch import Batch
from shapesafe.errors import DataError, ShapeError, UsageError

__all__ = ["check_envs", "need_extra", "which_rows"]


def which_rows(which: Any, n_envs: int, owner: str) -> Tensor:
    """``which`` (a boolean array, list or tensor with one entry per environment) as a
    boolean tensor of shape ``(n_envs,)``; a clear error for anything else."""
    fn = f"{owner}.reset"
    if isinstance(which, Tensor):
        mask = which.detach().cpu()
    else:
        arr = np.asarray(which)
        if arr.dtype != np.bool_:
            raise error(
                UsageError,
                f"`which` must be None or a boolean array with one entry per environment, "
                f"got {fmt_value(which)}",
                function=fn,
                argument="which",
                expected=f"None or bool ({n_envs},)",
                got=str(arr.dtype),
                hint="pass e.g. terminated | truncated, the done flags of a vectorised env",
            )
        mask = torch.from_numpy(arr.copy())
    if mask.dtype != torch.bool:
        raise error(
            UsageError,
            f"`which` must hold booleans, got a tensor of {mask.dtype}",
            function=fn,
            argument="which",
            expected=f"None or bool ({n_envs},)",
            got=str(mask.dtype),
        )
    if tuple(mask.shape) != (n_envs,):
        raise error(
            ShapeError,
            f"`which` must have one entry per environment: expected shape ({n_envs},), "
            f"got {tuple(mask.shape)}",
            function=fn,
            argument="which",
            expected=f"({n_envs},)",
            got=str(tuple(mask.shape)),
        )
    return mask


def check_envs(held: int, got: int, owner: str) -> None:
    """Refuse a batch of observations whose size differs from the number of
    environments whose state the policy holds (a reset was forgotten)."""
    if held == got:
        return
    raise error(
        UsageError,
        f"got {got} observation(s), but the policy holds the state of {held} "
        "running environment(s)",
        function=f"{owner}.act",
        argument="obs",
        expected=f"{held} observation(s)",
        got=str(got),
        hint="call policy.reset() at the start of every episode (and whenever the number "
        "of environments changes)",
    )


def need_extra(batch: Batch, key: str, shape: tuple[int, ...], function: str) -> None:
    """Refuse a batch without the window field ``extras[key]`` of ``shape`` (what
    ``prepare_data`` adds), naming ``function``."""
    value = batch.extras.get(key)
    if value is None:
        raise error(
            DataError,
            f"the batch has no {key!r} extra; this policy trains on windows over time",
            function=function,
            argument="batch",
            expected=f"extras[{key!r}] of shape {shape}",
            got="missing",
            hint="fit() and evaluate() add the windows themselves; for a batch of your "
            "own, draw it from policy.prepare_data(demos)",
        )
    if tuple(value.shape) != shape:
        raise error(
            ShapeError,
            f"extras[{key!r}] has shape {tuple(value.shape)}, expected {shape}",
            function=function,
            argument="batch",
            expected=str(shape),
            got=str(tuple(value.shape)),
        )
