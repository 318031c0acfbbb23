"""The ``shapesafe`` command: ``demo``, ``train`` and ``evaluate`` for behaviour cloning.

Run ``shapesafe --help`` (or ``shapesafe <command> --help``). Each command is one module
that adds its parser and runs; this one dispatches and turns failures into one line on
stderr (exit code 2 for bad input, 1 for a diverged run), never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from shapesafe.bc import NonFiniteLossError
from shapesafe.cli import collect, compare, dagger, dataset, demo, evaluate, run, train
from shapesafe.cli._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    PROG,
    Failure,
    one_line,
)

__all__ = ["main"]

_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": demo.run,
    "train": train.run,
    "evaluate": evaluate.run,
    "compare": compare.run,
    "dagger": dagger.run,
    "collect": collect.run,
    "dataset": dataset.run,
    "run": run.run,
}


def _parser() -> argparse.ArgumentParser:
    from shapesafe import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Shape-safe behaviour cloning with PyTorch.\n\n"
            "  shapesafe demo                         a toy expert cloned end to end\n"
            "  shapesafe train --data demos.npz       clone your own demonstrations\n"
            "  shapesafe evaluate --checkpoint P --data demos.npz\n"
            "                                         score a trained policy on held-out data\n"
            "  shapesafe evaluate --checkpoint P --env Pendulum-v1 --save eval.json\n"
            "                                         ... or in an env, with CI and provenance\n"
            "  shapesafe dagger --env Pendulum-v1 --demos 1\n"
            "                                         DAgger with the env's scripted expert\n"
            "  shapesafe compare --task obstacle      every policy family on a built-in task\n"
            "  shapesafe collect --env CartPole-v1 --out demos.npz\n"
            "                                         demonstrations from a scripted expert\n"
            "  shapesafe dataset export --env CartPole-v1 --id cartpole/expert-v0\n"
            "                                         ... as a Minari dataset (import, list)\n"
            "  shapesafe run --strict warn train.py   your script, strict broadcasting throughout"
        ),
        epilog="Run 'shapesafe <command> --help' for the options of a command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for module in (demo, train, evaluate, compare, collect, dataset, dagger, run):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``shapesafe`` console script; returns the exit code.

    Examples:
        >>> from shapesafe.cli import main
        >>> main(["evaluate", "--checkpoint", "missing.pt", "--data", "d.npz"])
        2
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    prefix = f"{PROG} {args.command}: error:"
    try:
        return _COMMANDS[args.command](args)
    except Failure as exc:
        print(f"{prefix} {one_line(exc, args.command)}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        hint = " (continue with --resume)" if args.command in ("train", "dagger") else ""
        print(f"\n{PROG} {args.command}: interrupted{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except NonFiniteLossError as exc:  # training diverged
        print(f"{prefix} {one_line(exc, args.command)}", file=sys.stderr)
        return EXIT_FAILED
    except (ImportError, ValueError, OSError) as exc:  # ShapesafeError, bad files, ...
        print(f"{prefix} {one_line(exc, args.command)}", file=sys.stderr)
        return EXIT_USAGE
