"""``shapesafe run``: run a script (or ``-m module``) with shapesafe reaching all of it.

``--check PKG`` installs the import hook for ``PKG`` before the script starts (every
jaxtyping-annotated function of the package is checked at every call), and
``--strict MODE`` runs the whole script under :func:`shapesafe.strict_broadcasting`;
in the audit modes (``warn``, ``log``) the script runs to the end and a report of every
line that would raise is printed when it exits -- the process-wide strict mode that a
``with`` block cannot give to a script one did not write.

The script runs as ``__main__`` (``sys.argv`` is the script and its arguments), so
``if __name__ == "__main__":`` blocks run. Its exceptions come out as Python tracebacks
(the user's own lines, not one line of CLI advice), and its exit code is the command's.
"""

from __future__ import annotations

import argparse
import contextlib
import runpy
import sys
import traceback
from pathlib import Path
from typing import Any

from shapesafe.cli._common import EXIT_FAILED, EXIT_OK, PROG, Failure, Formatter

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="run a Python script with checking and strict broadcasting on all of it",
        description=(
            "Run a script (or -m module) with shapesafe reaching all of it: --check PKG\n"
            "checks every annotated function of PKG (the import hook); --strict MODE\n"
            "refuses implicit broadcasting everywhere (raise), or lets the script finish\n"
            "and reports every line that would raise (warn, log).\n\n"
            "examples:\n"
            "  shapesafe run --strict warn train.py --lr 3e-4\n"
            "  shapesafe run --check my_rl --strict raise -m my_rl.train"
        ),
        formatter_class=Formatter,
    )
    p.add_argument(
        "--check",
        action="append",
        default=[],
        metavar="PKG",
        help="check every annotated function of this package (repeatable)",
    )
    p.add_argument(
        "--strict",
        choices=("raise", "warn", "log"),
        default=None,
        help="strict broadcasting for the whole run (default: off)",
    )
    p.add_argument(
        "--strict-fast",
        action="store_true",
        help="the cheaper strict mechanism (checked ops only; see docs/strict.md)",
    )
    p.add_argument(
        "-m",
        dest="module",
        action="store_true",
        help="TARGET is a module name to run, as with python -m",
    )
    p.add_argument("target", metavar="TARGET", help="the script (or, with -m, the module)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the script's own arguments")


def run(args: argparse.Namespace) -> int:
    if args.strict_fast and args.strict is None:
        raise Failure("--strict-fast needs --strict MODE")
    if not args.module and not Path(args.target).is_file():
        raise Failure(f"no script {args.target!r} (to run a module, pass -m {args.target})")
    with contextlib.ExitStack() as stack:
        hook = None
        if args.check:
            from shapesafe import install_import_hook

            hook = stack.enter_context(install_import_hook(args.check))
        report = None
        if args.strict is not None:
            from shapesafe.strict import strict_broadcasting

            report = stack.enter_context(
                strict_broadcasting(on_violation=args.strict, fast=args.strict_fast)
            )
        code = _run_target(args.target, args.args, args.module)
    # after the block: the audit report is complete (warn mode has issued its warnings)
    if hook is not None:
        print(f"{PROG} run: {hook.stats.summary()}", file=sys.stderr)
    if report is not None and args.strict != "raise":
        print(f"{PROG} run: {report.summary()}", file=sys.stderr)
    return code


def _run_target(target: str, argv: list[str], module: bool) -> int:
    saved = sys.argv[:]
    sys.argv = [target, *argv]
    try:
        if module:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(target, run_name="__main__")
    except SystemExit as exc:
        if exc.code is None:
            return EXIT_OK
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, file=sys.stderr)
        return EXIT_FAILED
    except Exception:
        # the script's own failure: its traceback, without the frames of this runner
        kind, value, tb = sys.exc_info()
        while tb is not None and tb.tb_frame.f_code.co_filename in (__file__, runpy.__file__):
            tb = tb.tb_next
        traceback.print_exception(kind, value, tb)
        return EXIT_FAILED
    finally:
        sys.argv = saved
    return EXIT_OK
