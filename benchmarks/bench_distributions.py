"""What does a checked distribution cost? Ratios to plain torch.distributions, one run.

Target (issue 5): checked ``DiagNormal.log_prob`` of a (64, 6) batch of actions vs
``Independent(Normal(...), 1).log_prob`` with ``validate_args=False``, 1 thread:
checked/plain <= 1.2. Also printed: the same with checks disabled at run time, and
construction + log_prob (a policy builds its distribution every step), for information.

Run: python benchmarks/bench_distributions.py
"""

from __future__ import annotations

import os
import sys

import torch
from torch.distributions import Independent, Normal

sys.path.insert(0, os.path.dirname(__file__))
from _timing import compare, report

import shapesafe
from shapesafe.distributions import DiagNormal

torch.set_num_threads(1)
torch.manual_seed(0)

B, A = 64, 6
loc, scale, actions = torch.randn(B, A), torch.rand(B, A) + 0.1, torch.randn(B, A)

plain = Independent(Normal(loc, scale, validate_args=False), 1, validate_args=False)
checked = DiagNormal(loc, scale, validate_args=False)
with shapesafe.enabled(False):
    unchecked = DiagNormal(loc, scale, validate_args=False)

assert torch.equal(plain.log_prob(actions), checked.log_prob(actions))


def build_plain() -> object:
    d = Independent(Normal(loc, scale, validate_args=False), 1, validate_args=False)
    return d.log_prob(actions)


def build_checked() -> object:
    return DiagNormal(loc, scale, validate_args=False).log_prob(actions)


def main() -> int:
    times = compare(
        {
            "Independent(Normal).log_prob": lambda: plain.log_prob(actions),
            "DiagNormal.log_prob (checked)": lambda: checked.log_prob(actions),
        },
        number=2000,
        rounds=25,
    )
    ok = report(
        f"log_prob of ({B}, {A}) actions, validate_args=False, 1 thread",
        times,
        "Independent(Normal).log_prob",
        {"DiagNormal.log_prob (checked)": 1.2},
    )
    with shapesafe.enabled(False):
        off = compare(
            {
                "Independent(Normal).log_prob": lambda: plain.log_prob(actions),
                "DiagNormal.log_prob (checks off)": lambda: unchecked.log_prob(actions),
            },
            number=2000,
            rounds=15,
        )
    report("checks disabled at run time (for information)", off, "Independent(Normal).log_prob", {})
    both = compare(
        {"build + log_prob, torch": build_plain, "build + log_prob, DiagNormal": build_checked},
        number=1000,
        rounds=15,
    )
    report("construction + log_prob (for information)", both, "build + log_prob, torch", {})
    print("\ntarget met" if ok else "\ntarget MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
