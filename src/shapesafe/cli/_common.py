"""What the commands share: argument types, the help formatter, output folders, and the
translation of library errors into one line of command-line advice.

Library messages give Python advice ("pass checkpoint_dir=", "build the policy with
obs_dim=3"); at the command line that advice is wrong, so :func:`one_line` replaces the
hint of an error it recognises with the flag to use, and drops Python-only hints it does
not recognise. Internal text from torch (``[enforce fail at ...]``) never reaches the
user.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import math
import re
import sys
from pathlib import Path
from typing import Any

from shapesafe.errors import CheckpointError, NonFiniteError, ShapesafeError, UsageError

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROG",
    "Failure",
    "Formatter",
    "add_import_option",
    "add_policy_options",
    "describe",
    "fraction",
    "hidden_sizes",
    "import_module_or_file",
    "import_modules",
    "one_line",
    "parse_policy_options",
    "positive_float",
    "positive_int",
    "writable_dir",
]

PROG = "shapesafe"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class Failure(Exception):
    """A failure to report as one line (with an exit code)."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


# ------------------------------------------------------------------ argument types


def hidden_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(t) for t in text.replace(" ", "").split(",") if t)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer sizes like 64,64, got {text!r}"
        ) from None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive integers, got {text!r}")
    return sizes


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the descriptions' line breaks; appends "(default: X)" where X says something."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        quiet = action.default is None or action.default is False or action.default == []
        if not quiet and action.default != argparse.SUPPRESS and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    """``--option KEY=VALUE`` (repeatable): constructor options of the policy."""
    parser.add_argument(
        "--option",
        dest="options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other constructor option of the policy (VALUE as a Python literal)",
    )


def add_import_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import a module or .py file first, so the policy classes it defines "
        "(class MyPolicy(Policy, kind='my-policy')) can be used; repeatable",
    )


def import_module_or_file(name: str, flag: str) -> Any:
    """Import a module by name, or a ``.py`` file by path (registered in ``sys.modules``
    under its stem); failures become one line naming ``flag`` (e.g. ``--import 'x'``)."""
    path = Path(name)
    try:
        if path.suffix == ".py":
            if not path.is_file():
                raise Failure(f"{flag}: no such file {name!r}")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module
            spec.loader.exec_module(module)
            return module
        return importlib.import_module(name)
    except ImportError as exc:
        raise Failure(f"{flag}: {exc}") from None


def import_modules(names: list[str]) -> None:
    """Import each module name or ``.py`` file (policy classes register themselves)."""
    for name in names:
        import_module_or_file(name, f"--import {name!r}")


def parse_policy_options(items: list[str], options: dict[str, Any]) -> dict[str, Any]:
    """``--option KEY=VALUE`` items into ``options`` (VALUE a Python literal, else the
    text itself); a malformed item is one line of advice."""
    import ast

    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.isidentifier():
            raise Failure(f"--option expects KEY=VALUE, got {item!r}")
        try:
            options[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            options[key] = text
    return options


# ------------------------------------------------------------------ output


def writable_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise Failure(f"--out {str(out)!r} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Failure(f"cannot create the output folder {str(out)!r}: {exc.strerror}") from None


def describe(policy: Any) -> str:
    cfg = policy.config
    if {"obs_dim", "act_dim", "hidden"} <= set(cfg):
        sizes = " -> ".join(str(s) for s in [cfg["obs_dim"], *cfg["hidden"], cfg["act_dim"]])
        return f"{type(policy).__name__}({sizes})"
    return f"{type(policy).__name__}(kind={policy.kind!r})"


# ------------------------------------------------------------------ errors


def _cli_hint(err: ShapesafeError, command: str) -> str | None:
    """The command-line version of ``err``'s advice, or ``None`` to drop it."""
    if isinstance(err, NonFiniteError):
        return "lower --lr, set --max-grad-norm, or look for extreme values in the data"
    if isinstance(err, CheckpointError) and err.argument == "resume":
        if "data differs" in err.message:
            return "resume with the same --data, or start fresh with --overwrite"
        return (
            "resume with the same --policy, --hidden, --batch-size, --seed and "
            "--val-fraction, or start fresh with --overwrite"
        )
    if isinstance(err, UsageError) and err.function == "fit" and err.argument == "steps":
        return "pass a larger --epochs or --steps to train longer"
    if err.function == "load_policy":
        return f"use a checkpoint written by '{PROG} train' or '{PROG} demo'"
    if command == "evaluate" and err.function == "evaluate":
        return "evaluate the checkpoint on data shaped like the data it was trained on"
    if command == "evaluate" and err.function == "build_policy":
        return (
            f"pass --import with the module that defines the policy class ({PROG} evaluate --help)"
        )
    hint = err.hint
    if hint is None or re.search(r"\w=|\w\(", hint):
        return None  # Python advice: wrong at the command line
    return hint


_TORCH_INTERNALS = re.compile(r"\w*Error: \[enforce fail at [^\]]*\][^\n]*")


def one_line(exc: BaseException, command: str) -> str:
    """``exc`` as one line of text for stderr, with command-line advice."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.strerror}: {str(exc.filename)!r}"
    text = _TORCH_INTERNALS.sub("not a checkpoint archive", text)
    hint = None
    if isinstance(exc, ShapesafeError):
        hint = _cli_hint(exc, command)
        # the summary line says it; the structured lines would repeat it on one line
        drop = ("hint:", "expected:", "got:", "bindings:")
        text = "\n".join(ln for ln in text.splitlines() if not ln.strip().startswith(drop))
        text = text.replace(" (pass checkpoint_dir= to keep one)", "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if hint:
        lines.append(f"hint: {hint}")
    return "; ".join(lines) if lines else "unknown error"
