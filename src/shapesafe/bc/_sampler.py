"""Which rows each step trains on: shuffled epochs, resumable from a small state.

The sampler is the seam where a distributed sampler goes later (one per rank, each
drawing its share of the permutation): ``fit`` only asks it for the next index tensor
and for its ``state_dict()`` when writing a checkpoint. The state is the epoch, the
position inside it and the generator's state *at the start of the epoch*: on resume the
epoch's permutation is drawn again from that state, so the batches after a resume are
exactly those of an uninterrupted run -- without storing a permutation of N rows.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from shapesafe.bc._validate import whole_number

__all__ = ["EpochSampler"]


class EpochSampler:
    """Index tensors of ``batch_size`` rows: each epoch one random permutation of
    ``range(n)`` cut into batches (the last one may be smaller).

    Examples:
        >>> from shapesafe.bc import EpochSampler
        >>> sampler = EpochSampler(10, 4, seed=0)
        >>> [len(sampler.next_indices()) for _ in range(3)], sampler.epoch
        ([4, 4, 2], 1)
    """

    def __init__(
        self, n: int, batch_size: int, *, seed: int = 0, device: torch.device | str = "cpu"
    ) -> None:
        whole_number(n, "n", "EpochSampler")
        whole_number(batch_size, "batch_size", "EpochSampler")
        whole_number(seed, "seed", "EpochSampler", low=0, high=2**63 - 1)
        self.n = int(n)
        self.batch_size = int(batch_size)
        self.steps_per_epoch = math.ceil(self.n / self.batch_size)
        self.epoch = 0
        self.position = 0  # batches already drawn in the current epoch
        self._device = torch.device(device)
        self._gen = torch.Generator(device=self._device).manual_seed(int(seed))
        self._epoch_start = self._gen.get_state()
        self._perm: Tensor | None = None

    def next_indices(self) -> Tensor:
        """The row indices of the next minibatch."""
        if self._perm is None:
            self._epoch_start = self._gen.get_state()
            self._perm = torch.randperm(self.n, generator=self._gen, device=self._device)
        b = self.position * self.batch_size
        idx = self._perm[b : b + self.batch_size]
        self.position += 1
        if self.position >= self.steps_per_epoch:
            self.epoch, self.position, self._perm = self.epoch + 1, 0, None
        return idx

    def state_dict(self) -> dict[str, Any]:
        """Epoch, position and the generator state that redraws this epoch's order."""
        start = self._epoch_start if self._perm is not None else self._gen.get_state()
        return {"epoch": self.epoch, "position": self.position, "epoch_rng": start.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (from :meth:`state_dict`). When the data size changed
        since (a grown DAgger set), the interrupted epoch is abandoned and a new one
        starts."""
        self._gen.set_state(state["epoch_rng"])
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self._perm = None
        if self.position >= self.steps_per_epoch:
            self.epoch, self.position = self.epoch + 1, 0
