"""``shapesafe evaluate``: score a trained policy on demonstrations."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from shapesafe._format import table
from shapesafe.cli._common import (
    EXIT_OK,
    PROG,
    Failure,
    Formatter,
    add_import_option,
    describe,
    import_modules,
)

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    ev = sub.add_parser(
        "evaluate",
        help="score a trained policy on demonstrations",
        description=(
            "Load a checkpoint written by 'shapesafe train' or 'shapesafe demo' and report\n"
            "the policy's loss, its metrics and the action error on a .npz file.\n\n"
            "example:\n"
            "  shapesafe evaluate --checkpoint shapesafe-train/last.pt --data test.npz"
        ),
        formatter_class=Formatter,
    )
    ev.add_argument(
        "--checkpoint", type=Path, required=True, metavar="FILE", help="checkpoint file (.pt)"
    )
    ev.add_argument(
        "--data", type=Path, required=True, metavar="FILE", help="demonstrations (.npz)"
    )
    add_import_option(ev)


def run(args: argparse.Namespace) -> int:
    from shapesafe.bc import Demonstrations, evaluate, load_policy

    import_modules(args.imports)
    path: Path = args.checkpoint
    if not path.exists():
        raise Failure(f"no such checkpoint: {str(path)!r}")
    if path.is_dir():
        raise Failure(f"--checkpoint {str(path)!r} is a folder; pass the .pt file in it")
    policy = load_policy(path)
    demos = Demonstrations.load(args.data)
    metrics = evaluate(policy, demos)
    print(f"{PROG} evaluate: {describe(policy)} from {path} on {args.data} ({len(demos)} steps)\n")
    rows = [[f"loss ({policy.loss_name})", f"{metrics.pop('loss'):.4f}"]]
    if "mean_error" in metrics:
        rows.append(["mean error (RMS)", f"{metrics.pop('mean_error'):.4f}"])
    stds = [metrics.pop(k) for k in sorted(metrics) if k.startswith("std_")]
    rows.extend([name, f"{value:.4f}"] for name, value in metrics.items())
    if stds:
        rows.append(["learned std", ", ".join(f"{s:.3f}" for s in stds)])
    print(table(["metric", "value"], rows))
    return EXIT_OK
