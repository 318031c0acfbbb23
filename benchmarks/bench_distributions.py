"""What does a checked distribution cost? Ratios to plain torch.distributions, one run.

Targets (issue 11): checked ``DiagNormal.log_prob`` of a (64, 6) batch of actions vs
``Independent(Normal(...), 1).log_prob``, 1 thread, both with their defaults (parameter
and support validation on): checked/torch <= 1.2; and the same pair with validation off
on both sides (``validate_args=False``): <= 1.2. Also printed, for information: checks
disabled at run time, and construction + log_prob (a policy builds its distribution
every step).

Run: python benchmarks/bench_distributions.py
"""

from __future__ import annotations

import os
import sys

import torch
from torch.distributions import Distribution, Independent, Normal

sys.path.insert(0, os.path.dirname(__file__))
from _timing import compare, report

import shapesafe
from shapesafe.distributions import DiagNormal

torch.set_num_threads(1)
torch.manual_seed(0)
Distribution.set_default_validate_args(True)  # torch's default

B, A = 64, 6
loc, scale, actions = torch.randn(B, A), torch.rand(B, A) + 0.1, torch.randn(B, A)

torch_default = Independent(Normal(loc, scale), 1)
checked_default = DiagNormal(loc, scale)
torch_off = Independent(Normal(loc, scale, validate_args=False), 1, validate_args=False)
checked_off = DiagNormal(loc, scale, validate_args=False)
with shapesafe.enabled(False):
    unchecked = DiagNormal(loc, scale)

assert torch.equal(torch_default.log_prob(actions), checked_default.log_prob(actions))
assert torch.equal(torch_off.log_prob(actions), checked_off.log_prob(actions))


def build_torch() -> object:
    return Independent(Normal(loc, scale), 1).log_prob(actions)


def build_checked() -> object:
    return DiagNormal(loc, scale).log_prob(actions)


def main() -> int:
    on = compare(
        {
            "torch log_prob (validating)": lambda: torch_default.log_prob(actions),
            "DiagNormal log_prob (validating)": lambda: checked_default.log_prob(actions),
        },
        number=2000,
        rounds=25,
    )
    ok = report(
        f"log_prob of ({B}, {A}) actions, defaults (validation on), 1 thread",
        on,
        "torch log_prob (validating)",
        {"DiagNormal log_prob (validating)": 1.2},
    )
    off = compare(
        {
            "torch log_prob (no validation)": lambda: torch_off.log_prob(actions),
            "DiagNormal log_prob (no validation)": lambda: checked_off.log_prob(actions),
        },
        number=2000,
        rounds=25,
    )
    ok &= report(
        "validate_args=False on both sides",
        off,
        "torch log_prob (no validation)",
        {"DiagNormal log_prob (no validation)": 1.2},
    )
    with shapesafe.enabled(False):
        disabled = compare(
            {
                "torch log_prob (validating)": lambda: torch_default.log_prob(actions),
                "DiagNormal log_prob (checks off)": lambda: unchecked.log_prob(actions),
            },
            number=2000,
            rounds=15,
        )
    report(
        "checks disabled at run time (for information)",
        disabled,
        "torch log_prob (validating)",
        {},
    )
    both = compare(
        {"build + log_prob, torch": build_torch, "build + log_prob, DiagNormal": build_checked},
        number=1000,
        rounds=15,
    )
    report(
        "construction + log_prob, defaults (for information)", both, "build + log_prob, torch", {}
    )
    print("\ntargets met" if ok else "\ntarget MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
