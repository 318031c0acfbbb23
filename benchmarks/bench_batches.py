"""Cost of a checked structured batch: building a ``@checked_batch`` NamedTuple /
dataclass of 5 fields, and ``check_batch`` on a replay buffer's dict, each as a ratio to
building the plain (unchecked) NamedTuple from the same tensors. One run, interleaved
rounds (``_timing.compare``); a construction is a few microseconds either way, so the
ratio is what matters next to a training step of milliseconds.

Run: ``python benchmarks/bench_batches.py``
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import NamedTuple, TypedDict

import torch
from jaxtyping import Float, Int
from torch import Tensor

sys.path.insert(0, str(Path(__file__).parent))
from _timing import compare

import shapesafe

torch.set_num_threads(1)


class Plain(NamedTuple):
    obs: Float[Tensor, "batch obs"]
    actions: Int[Tensor, "batch"]
    rewards: Float[Tensor, "batch"]
    next_obs: Float[Tensor, "batch obs"]
    dones: Float[Tensor, "batch"]


@shapesafe.checked_batch
class Checked(NamedTuple):
    obs: Float[Tensor, "batch obs"]
    actions: Int[Tensor, "batch"]
    rewards: Float[Tensor, "batch"]
    next_obs: Float[Tensor, "batch obs"]
    dones: Float[Tensor, "batch"]


@shapesafe.checked_batch
@dataclasses.dataclass
class CheckedData:
    obs: Float[Tensor, "batch obs"]
    actions: Int[Tensor, "batch"]
    rewards: Float[Tensor, "batch"]
    next_obs: Float[Tensor, "batch obs"]
    dones: Float[Tensor, "batch"]


class Sample(TypedDict):
    obs: Float[Tensor, "batch obs"]
    actions: Int[Tensor, "batch"]
    rewards: Float[Tensor, "batch"]
    next_obs: Float[Tensor, "batch obs"]
    dones: Float[Tensor, "batch"]


def main() -> None:
    b, o = 256, 17
    fields = (
        torch.randn(b, o),
        torch.zeros(b, dtype=torch.long),
        torch.randn(b),
        torch.randn(b, o),
        torch.zeros(b),
    )
    d = dict(zip(Plain._fields, fields))

    times = compare(
        {
            "plain NamedTuple": lambda: Plain(*fields),
            "@checked_batch NamedTuple": lambda: Checked(*fields),
            "@checked_batch dataclass": lambda: CheckedData(*fields),
            "check_batch(dict, TypedDict)": lambda: shapesafe.check_batch(d, Sample),
        },
        number=2000,
        rounds=15,
    )
    shapesafe.disable()  # process-wide: what a construction costs with checks off
    off = compare(
        {
            "plain NamedTuple": lambda: Plain(*fields),
            "checks off: @checked_batch NamedTuple": lambda: Checked(*fields),
            "checks off: @checked_batch dataclass": lambda: CheckedData(*fields),
        },
        number=2000,
        rounds=15,
    )
    shapesafe.enable()
    print("construction of a 5-field batch (batch=256), us per construction, ratio to plain")
    for table in (times, off):
        base = table["plain NamedTuple"]
        for name, t in table.items():
            print(f"  {name:<40} {t * 1e6:8.2f} us {t / base:7.1f}x")


if __name__ == "__main__":
    main()
