"""Cost of the opt-in memory guards on a small training loop and on a rollout-buffer
write loop, as ratios to the same loop unguarded. Every aten operator goes through
Python under a ``TorchDispatchMode``, so the ratio is largest where operators are
smallest: the guards are debugging switches, not for production runs.

Run: ``python benchmarks/bench_guards.py``
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from _timing import compare
from torch.utils._python_dispatch import TorchDispatchMode

import shapesafe

torch.set_num_threads(1)


def train_step_loop() -> Callable[[], None]:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 64), nn.Tanh(), nn.Linear(64, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = torch.randn(64, 8), torch.randn(64, 2)

    def step() -> None:
        loss = (net(x) - y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def buffer_loop() -> Callable[[], None]:
    buf = torch.zeros(128, 4, 8)
    hist = torch.zeros(4, 8, 3)
    obs = torch.randn(4, 8)

    def step() -> None:
        for t in range(16):
            hist[..., 1:] = hist[..., :-1].clone()  # shift the history (a copy: safe)
            hist[..., 0] = obs
            buf[t] = obs

    return step


class EmptyMode(TorchDispatchMode):
    """The floor: a dispatch mode that only forwards each operator."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        return func(*args, **(kwargs or {}))


def guarded(fn: Callable[[], None], *guards: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        if len(guards) == 2:
            with guards[0](), guards[1]():  # type: ignore[attr-defined]
                fn()
        else:
            with guards[0]():  # type: ignore[attr-defined]
                fn()

    return run


def main() -> None:
    for title, make in (
        ("training step (MLP 8-64-2, Adam, batch 64)", train_step_loop),
        ("rollout-buffer writes (16 steps)", buffer_loop),
    ):
        fn = make()
        times = compare(
            {
                "unguarded": fn,
                "empty dispatch mode": guarded(fn, EmptyMode),
                "no_overlap": guarded(fn, shapesafe.no_overlap),
                "no_downcast": guarded(fn, shapesafe.no_downcast),
                "both": guarded(fn, shapesafe.no_overlap, shapesafe.no_downcast),
            },
            number=50,
            rounds=9,
            warmup=10,
        )
        base = times["unguarded"]
        print(title)
        for name, t in times.items():
            print(f"  {name:<20} {t * 1e6:9.1f} us {t / base:6.2f}x")


if __name__ == "__main__":
    main()
