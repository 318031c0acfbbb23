"""``shapesafe demo``: the toy cubic-expert experiment, end to end (``bc._demo`` runs it)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from shapesafe.cli._common import EXIT_OK, PROG, Formatter, positive_int, writable_dir

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    demo = sub.add_parser(
        "demo",
        help="train a Gaussian policy on a toy expert and plot the result",
        description=(
            "A toy expert: states = rand(N, 2) - 0.5, expert actions\n"
            "~ N(s**3 + 4.5 s, diag(0.1, 0.05)); a GaussianPolicy (MLP 32-32 mean, learned\n"
            "log-std) is fit with Adam (lr 0.01, batch 64). Prints the learned std against\n"
            "the true std and held-out metrics; writes loss.png, actions.png, the policy\n"
            "checkpoint and the data (demos.npz) into --out."
        ),
        formatter_class=Formatter,
    )
    demo.add_argument(
        "--out", type=Path, default="shapesafe-demo", metavar="DIR", help="output folder"
    )
    demo.add_argument(
        "--epochs", type=positive_int, default=200, metavar="N", help="training epochs"
    )
    demo.add_argument(
        "--samples", type=positive_int, default=1000, metavar="N", help="demonstrations"
    )
    demo.add_argument(
        "--seed", type=int, default=0, metavar="S", help="seed for data, weights and batches"
    )
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    from shapesafe.bc._demo import run_demo

    out: Path = args.out
    writable_dir(out)
    report = run_demo(
        out,
        epochs=args.epochs,
        samples=args.samples,
        seed=args.seed,
        progress=not args.no_progress,
        echo=lambda line: print(line, flush=True),
    )
    print(f"next: {PROG} train --data {report['data']} --policy gaussian --hidden 32,32 --lr 0.01")
    return EXIT_OK
