"""Cost of shapesafe in the single-file RL examples: checked / unchecked and strict /
plain wall time of the same short seeded run, all variants interleaved in one process.

Each variant runs the example's ``train()`` with the same arguments; "unchecked" runs
inside ``shapesafe.enabled(False)`` (every checked boundary costs one flag read), "strict"
adds ``--strict`` (strict broadcasting around the whole loop, ``fast=True``). The median of
``--repeats`` runs per variant is reported, with the targets of the RL issue:
checked / unchecked <= 1.05, strict / checked <= 1.3.

Run: ``python benchmarks/bench_examples.py [--repeats N] [--only dqn_cartpole ...]``
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType

import torch

import shapesafe

EXAMPLES = Path(__file__).parent.parent / "examples"
RUNS = {
    "dqn_cartpole": ["--total-steps", "3000", "--learning-starts", "500"],
    "sac_pendulum": ["--total-steps", "1200", "--learning-starts", "600"],
    "ppo_pendulum": ["--total-steps", "16384", "--num-steps", "512", "--epochs", "4"],
}
TARGETS = {"checked / unchecked": 1.05, "strict / checked": 1.3}


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _time(module: ModuleType, argv: list[str], checks: bool) -> float:
    args = module.parse_args([*argv, "--quiet"])
    start = time.perf_counter()
    with shapesafe.enabled(checks):
        module.train(args)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", choices=sorted(RUNS), default=sorted(RUNS))
    opts = parser.parse_args()
    torch.set_num_threads(1)
    ok = True
    print(
        f"{'example':<14} {'unchecked s':>11} {'checked s':>10} {'strict s':>9} "
        f"{'checked/unchecked':>18} {'strict/checked':>15}"
    )
    for name in opts.only:
        module = _load(name)
        times: dict[str, list[float]] = {"unchecked": [], "checked": [], "strict": []}
        for _ in range(opts.repeats):  # interleaved, so machine noise hits all alike
            times["unchecked"].append(_time(module, RUNS[name], False))
            times["checked"].append(_time(module, RUNS[name], True))
            times["strict"].append(_time(module, [*RUNS[name], "--strict"], True))
        med = {k: statistics.median(v) for k, v in times.items()}
        r1, r2 = med["checked"] / med["unchecked"], med["strict"] / med["checked"]
        ok &= r1 <= TARGETS["checked / unchecked"] and r2 <= TARGETS["strict / checked"]
        print(
            f"{name:<14} {med['unchecked']:11.2f} {med['checked']:10.2f} "
            f"{med['strict']:9.2f} {r1:17.3f}x {r2:14.3f}x"
        )
    print(
        f"targets: checked/unchecked <= {TARGETS['checked / unchecked']}, "
        f"strict/checked <= {TARGETS['strict / checked']}: {'met' if ok else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
