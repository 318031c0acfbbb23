"""Compiled training: ``fit(compile=True)`` against the hand-written eager loop, one run.

Same setting as ``bench_bc.py``: the seed's toy expert (1000 rows of 2-d states and
actions), a Gaussian policy with a (32, 32) MLP mean, batch 64, Adam, 1 thread, 160
optimizer steps per timed call, variants interleaved.

Targets (the compiled-training issue), per optimizer step, checks on:

* hand-written eager index loop / compiled ``fit``       >= 1.5   (compiled is faster)
* eager ``fit`` / the same hand loop                     <= 1.10

The compiled variant is warmed up first (its compilation, a few seconds of inductor's C++
codegen, is reported separately: it is paid once per process). Each fit variant keeps
one optimizer across calls, as one long training run would.

Run: python benchmarks/bench_compile.py [--rounds N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import torch
from _timing import compare
from torch.distributions import Independent, Normal

from shapesafe.bc import GaussianPolicy, cubic_demonstrations, fit

torch.set_num_threads(1)
STEPS, BATCH, LR = 160, 64, 0.01


def _policy() -> GaussianPolicy:
    torch.manual_seed(0)
    return GaussianPolicy(2, 2, hidden=(32, 32))


def hand_loop(obs: torch.Tensor, act: torch.Tensor) -> Callable[[], None]:
    policy = _policy()
    opt = torch.optim.Adam(policy.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(0)
    n = len(obs)

    def run() -> None:
        done = 0
        while done < STEPS:
            perm = torch.randperm(n, generator=gen)
            for start in range(0, n, BATCH):
                idx = perm[start : start + BATCH]
                normal = Normal(policy.net(obs[idx]), policy.log_std.exp(), validate_args=False)
                loss = -Independent(normal, 1, validate_args=False).log_prob(act[idx]).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                done += 1
                if done == STEPS:
                    return

    return run


def fit_loop(demos: object, compile: bool) -> Callable[[], None]:
    policy = _policy()
    opt = torch.optim.Adam(policy.parameters(), lr=LR)

    def run() -> None:
        fit(policy, demos, steps=STEPS, batch_size=BATCH, optimizer=opt, progress=False,  # type: ignore[arg-type]
            compile=compile)  # fmt: skip

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    opts = parser.parse_args()
    demos = cubic_demonstrations(1000, seed=0)
    compiled = fit_loop(demos, True)
    start = time.perf_counter()
    compiled()
    warm = time.perf_counter() - start
    variants = {
        "hand-written eager loop": hand_loop(demos.observations, demos.actions),
        "fit, eager, checks on": fit_loop(demos, False),
        "fit(compile=True), checks on": compiled,
    }
    times = compare(variants, number=1, rounds=opts.rounds, warmup=1)
    base = times["hand-written eager loop"]
    print(
        f"\none BC step: Gaussian MLP (32, 32), batch {BATCH}, Adam, 1 thread, median of "
        f"{opts.rounds} rounds of {STEPS} steps; first compiled call (compilation): {warm:.1f} s"
    )
    for name, t in times.items():
        print(f"  {name:<32} {t / STEPS * 1e6:8.1f} us/step   speed vs hand loop {base / t:5.2f}x")
    speedup = base / times["fit(compile=True), checks on"]
    eager = times["fit, eager, checks on"] / base
    print(
        f"targets: compiled >= 1.5x faster: {speedup:.2f}x {'ok' if speedup >= 1.5 else 'MISSED'}; "
        f"eager fit <= 1.10x the loop: {eager:.2f}x {'ok' if eager <= 1.10 else 'MISSED'}"
    )
    act_latency()
    return 0


def act_latency() -> None:
    """Time per action of ``act()`` on one observation, eager and compiled (inductor)."""
    import numpy as np

    from shapesafe.bc import DiffusionPolicy

    obs = np.zeros(2, np.float32)
    print("\nact() on one observation, checks on (ms per action):")
    for name, make in (
        ("GaussianPolicy (32, 32)", lambda: _policy()),
        ("DiffusionPolicy, 10 inference steps", lambda: DiffusionPolicy(2, 2, low=-1.0, high=1.0)),
    ):
        eager, compiled = make(), make()
        compiled.load_state_dict(eager.state_dict())
        compiled.compile_act()
        for deterministic in (False, True):
            compiled.act(obs, deterministic=deterministic)  # compile both paths first
        times = compare(
            {"eager": lambda e=eager: e.act(obs), "compiled": lambda c=compiled: c.act(obs)},
            number=20,
            rounds=7,
            warmup=5,
        )
        print(
            f"  {name:<32} eager {times['eager'] * 1e3:6.2f}  compiled "
            f"{times['compiled'] * 1e3:6.2f}  speed-up {times['eager'] / times['compiled']:.2f}x"
        )


if __name__ == "__main__":
    raise SystemExit(main())
