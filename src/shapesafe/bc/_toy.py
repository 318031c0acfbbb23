"""The CS 285 lecture-3 toy expert: cubic means, diagonal Gaussian noise."""

from __future__ import annotations

import math

import torch
from jaxtyping import Float
from torch import Tensor

from shapesafe.bc._data import Demonstrations

__all__ = ["CUBIC_EXPERT_STD", "cubic_demonstrations", "cubic_expert_mean"]

#: The expert's true action standard deviation, sqrt of diag(0.1, 0.05).
CUBIC_EXPERT_STD: tuple[float, float] = (math.sqrt(0.1), math.sqrt(0.05))


def cubic_expert_mean(states: Float[Tensor, "batch 2"]) -> Float[Tensor, "batch 2"]:
    """The expert's mean action ``s**3 + 4.5 * s`` (elementwise)."""
    return states**3 + 4.5 * states


def cubic_demonstrations(n: int = 1000, *, seed: int = 0) -> Demonstrations:
    """The lecture's data set: ``states = rand(n, 2) - 0.5`` and expert actions drawn from
    ``N(states**3 + 4.5 * states, diag(0.1, 0.05))``, reproducibly for ``seed``.

    Examples:
        >>> from shapesafe.bc import cubic_demonstrations
        >>> cubic_demonstrations(1000, seed=0)
        Demonstrations(N=1000, obs=(2,), act=(2,), dtype=torch.float32)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"cubic_demonstrations(): `n` must be a positive integer, got {n!r}")
    g = torch.Generator().manual_seed(int(seed))
    states = torch.rand(n, 2, generator=g) - 0.5
    noise = torch.randn(n, 2, generator=g) * torch.tensor(CUBIC_EXPERT_STD)
    return Demonstrations(states, cubic_expert_mean(states) + noise)
