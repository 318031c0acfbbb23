"""Shared timing helper for the benchmark scripts: interleaved rounds, median per call."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def compare(
    variants: dict[str, Callable[[], Any]],
    *,
    number: int = 2000,
    rounds: int = 25,
    warmup: int = 200,
) -> dict[str, float]:
    """Time each zero-argument callable; rounds interleave the variants so that machine
    noise hits all of them alike. Returns, for each, the fastest round's seconds per call
    (the least-disturbed measurement, as ``timeit`` recommends on a shared machine)."""
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - t0) / number)
    return {name: min(ts) for name, ts in samples.items()}


def report(title: str, times: dict[str, float], baseline: str, targets: dict[str, float]) -> bool:
    """Print a table of ratios to ``baseline``; return whether every target holds."""
    base = times[baseline]
    print(f"\n{title}")
    print(f"  {'variant':<34} {'us/call':>9} {'ratio':>7}  target")
    ok = True
    for name, t in times.items():
        ratio = t / base
        target = targets.get(name)
        mark = ""
        if target is not None:
            good = ratio <= target
            ok &= good
            mark = f"<= {target:.2f} {'ok' if good else 'MISSED'}"
        print(f"  {name:<34} {t * 1e6:9.2f} {ratio:7.2f}x  {mark}")
    return ok
