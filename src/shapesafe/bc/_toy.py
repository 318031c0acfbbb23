"""A toy expert for trying behaviour cloning: cubic mean actions, diagonal Gaussian
noise. Small enough to train in seconds, with a known answer: a Gaussian policy should
learn the expert's standard deviations (:func:`cubic_expert_std`)."""

from __future__ import annotations

import math

import torch
from jaxtyping import Float
from torch import Tensor

from shapesafe import check
from shapesafe.bc._data import Demonstrations
from shapesafe.bc._validate import whole_number

__all__ = ["cubic_demonstrations", "cubic_expert_mean", "cubic_expert_std"]

#: The expert's true action standard deviation, sqrt of diag(0.1, 0.05).
CUBIC_EXPERT_STD: tuple[float, float] = (math.sqrt(0.1), math.sqrt(0.05))


def cubic_expert_std() -> tuple[float, float]:
    """The expert's true action standard deviations, ``(sqrt(0.1), sqrt(0.05))``.

    Examples:
        >>> from shapesafe.bc import cubic_expert_std
        >>> [round(s, 3) for s in cubic_expert_std()]
        [0.316, 0.224]
    """
    return CUBIC_EXPERT_STD


@check
def cubic_expert_mean(states: Float[Tensor, "batch 2"]) -> Float[Tensor, "batch 2"]:
    """The expert's mean action ``s**3 + 4.5 * s`` (elementwise)."""
    return states**3 + 4.5 * states


def cubic_demonstrations(n: int = 1000, *, seed: int = 0) -> Demonstrations:
    """The toy data set: ``states = rand(n, 2) - 0.5`` and expert actions drawn from
    ``N(states**3 + 4.5 * states, diag(0.1, 0.05))``, reproducibly for ``seed``.

    Examples:
        >>> from shapesafe.bc import cubic_demonstrations
        >>> cubic_demonstrations(1000, seed=0)
        Demonstrations(N=1000, obs=(2,), act=(2,), dtype=torch.float32)
    """
    whole_number(n, "n", "cubic_demonstrations")
    whole_number(seed, "seed", "cubic_demonstrations", low=0, high=2**63 - 1)
    g = torch.Generator().manual_seed(int(seed))
    states = torch.rand(n, 2, generator=g) - 0.5
    noise = torch.randn(n, 2, generator=g) * torch.tensor(CUBIC_EXPERT_STD)
    return Demonstrations(states, cubic_expert_mean(states) + noise)
