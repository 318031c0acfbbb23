"""The ``shapesafe`` command: ``demo``, ``train`` and ``evaluate`` for behaviour cloning.

Run ``shapesafe --help`` (or ``shapesafe <command> --help``). Bad input (a missing or
unreadable file, arrays of the wrong shape, a missing column) is reported as one line on
stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shapesafe.bc._policies import ACTIVATIONS

__all__ = ["main"]

PROG = "shapesafe"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Failure(Exception):
    """A failure to report as one line (with an exit code)."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def _one_line(message: str) -> str:
    lines = [ln.strip() for ln in str(message).splitlines() if ln.strip()]
    return "; ".join(lines) if lines else "unknown error"


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(t) for t in text.replace(" ", "").split(",") if t)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer sizes like 64,64, got {text!r}"
        ) from None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive integers, got {text!r}")
    return sizes


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the descriptions' line breaks; appends "(default: X)" where X says something."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        quiet = action.default is None or action.default is False
        if not quiet and action.default != argparse.SUPPRESS and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Shape-safe behaviour cloning with PyTorch.\n\n"
            "  shapesafe demo                         the CS 285 lecture-3 experiment, end to end\n"
            "  shapesafe train --data demos.npz       clone your own demonstrations\n"
            "  shapesafe evaluate --checkpoint P --data demos.npz\n"
            "                                         score a trained policy on held-out data"
        ),
        epilog="Run 'shapesafe <command> --help' for the options of a command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from shapesafe import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")

    demo = sub.add_parser(
        "demo",
        help="train a Gaussian policy on the lecture's toy expert and plot the result",
        description=(
            "The CS 285 lecture-3 experiment: states = rand(N, 2) - 0.5, expert actions\n"
            "~ N(s**3 + 4.5 s, diag(0.1, 0.05)); a GaussianPolicy (MLP 32-32 mean, learned\n"
            "log-std) is fit with Adam (lr 0.01, batch 64). Prints the learned std against\n"
            "the true std and held-out metrics; writes loss.png, actions.png, the policy\n"
            "checkpoint and the data (demos.npz) into --out."
        ),
        formatter_class=_Formatter,
    )
    demo.add_argument(
        "--out", type=Path, default="shapesafe-demo", metavar="DIR", help="output folder"
    )
    demo.add_argument(
        "--epochs", type=_positive_int, default=200, metavar="N", help="training epochs"
    )
    demo.add_argument(
        "--samples", type=_positive_int, default=1000, metavar="N", help="demonstrations"
    )
    demo.add_argument(
        "--seed", type=int, default=0, metavar="S", help="seed for data, weights and batches"
    )
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    train = sub.add_parser(
        "train",
        help="fit a policy to demonstrations in a .npz file",
        description=(
            "Fit a policy to demonstrations stored in a .npz file with an 'observations'\n"
            "(N, obs) and an 'actions' (N, act) array (optionally 'episode_ids' or\n"
            "'episode_starts'). Writes the checkpoint (last.pt) and loss curve (losses.png)\n"
            "into --out.\n\n"
            "example:\n"
            "  shapesafe train --data demos.npz --policy gaussian --epochs 100 --lr 1e-3"
        ),
        formatter_class=_Formatter,
    )
    train.add_argument(
        "--data", type=Path, required=True, metavar="FILE", help="demonstrations (.npz)"
    )
    train.add_argument(
        "--policy", choices=("gaussian", "deterministic"), default="gaussian", help="policy kind"
    )
    train.add_argument(
        "--hidden", type=_hidden, default="64,64", metavar="SIZES", help="hidden layer sizes"
    )
    train.add_argument(
        "--activation",
        choices=sorted(ACTIVATIONS),
        default="relu",
        help="activation between layers",
    )
    train.add_argument(
        "--state-dependent-std",
        action="store_true",
        help="gaussian only: predict the std from the observation",
    )
    length = train.add_mutually_exclusive_group()
    length.add_argument(
        "--epochs", type=_positive_int, metavar="N", help="passes over the data (default: 100)"
    )
    length.add_argument(
        "--steps", type=_positive_int, metavar="N", help="optimizer steps, instead of epochs"
    )
    train.add_argument(
        "--batch-size", type=_positive_int, default=64, metavar="N", help="minibatch size"
    )
    train.add_argument(
        "--optimizer", choices=("adam", "adamw", "sgd", "rmsprop"), default="adam", help="optimizer"
    )
    train.add_argument(
        "--lr", type=_positive_float, default=1e-3, metavar="LR", help="learning rate"
    )
    train.add_argument(
        "--val-fraction",
        type=_fraction,
        default=0.1,
        metavar="F",
        help="fraction held out for validation (whole episodes when the file has them)",
    )
    train.add_argument(
        "--seed", type=int, default=0, metavar="S", help="seed for weights, split and batches"
    )
    train.add_argument(
        "--out", type=Path, default="shapesafe-train", metavar="DIR", help="output folder"
    )
    train.add_argument(
        "--checkpoint-every",
        type=_positive_int,
        default=1000,
        metavar="N",
        help="steps between checkpoints",
    )
    train.add_argument(
        "--resume", action="store_true", help="continue from --out/last.pt if it exists"
    )
    train.add_argument(
        "--no-checks", action="store_true", help="turn shape checks off in the loop (faster)"
    )
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    ev = sub.add_parser(
        "evaluate",
        help="score a trained policy on demonstrations",
        description=(
            "Load a checkpoint written by 'shapesafe train' or 'shapesafe demo' and report\n"
            "the policy's loss (NLL or MSE) and mean action error on a .npz file.\n\n"
            "example:\n"
            "  shapesafe evaluate --checkpoint shapesafe-train/last.pt --data test.npz"
        ),
        formatter_class=_Formatter,
    )
    ev.add_argument(
        "--checkpoint", type=Path, required=True, metavar="FILE", help="checkpoint file (.pt)"
    )
    ev.add_argument(
        "--data", type=Path, required=True, metavar="FILE", help="demonstrations (.npz)"
    )
    return parser


# ----------------------------------------------------------------------------- helpers


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for j, r in enumerate([header, *rows]):
        cells = [
            str(c).ljust(widths[0]) if i == 0 else str(c).rjust(widths[i]) for i, c in enumerate(r)
        ]
        lines.append("  " + "  ".join(cells).rstrip())
        if j == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _load_demos(path: Path) -> Any:
    from shapesafe.bc import Demonstrations

    return Demonstrations.load(path)


def _describe(policy: Any) -> str:
    cfg = policy.config
    sizes = " -> ".join(str(s) for s in [cfg["obs_dim"], *cfg["hidden"], cfg["act_dim"]])
    return f"{type(policy).__name__}({sizes})"


# ----------------------------------------------------------------------------- commands


def _cmd_demo(args: argparse.Namespace) -> int:
    import torch

    from shapesafe.bc import (
        CUBIC_EXPERT_STD,
        GaussianPolicy,
        cubic_demonstrations,
        cubic_expert_mean,
        fit,
        plot_losses,
    )
    from shapesafe.bc._fit import CHECKPOINT_NAME, _require
    from shapesafe.distributions import DiagNormal

    _require("matplotlib", "shapesafe demo's plots")  # before a minute of training

    out: Path = args.out
    _writable_dir(out)
    torch.set_num_threads(1)  # a tiny MLP: one thread is fastest and shares the machine
    demos = cubic_demonstrations(args.samples, seed=args.seed)
    held_out = cubic_demonstrations(1000, seed=args.seed + 1_000_003)
    torch.manual_seed(args.seed)
    policy = GaussianPolicy(2, 2, hidden=(32, 32))
    print(
        f"{PROG} demo: {_describe(policy)} on {len(demos)} demonstrations, "
        f"{args.epochs} epochs of batch 64, Adam lr 0.01",
        flush=True,
    )
    result = fit(
        policy,
        demos,
        epochs=args.epochs,
        batch_size=64,
        lr=0.01,
        seed=args.seed,
        progress=not args.no_progress,
        checkpoint_dir=out,
        checkpoint_every=10**9,  # once, at the end
    )
    with torch.no_grad():
        learned = policy.std().tolist()
        obs, act = held_out.observations, held_out.actions
        dist = policy(obs)
        nll = float(-dist.log_prob(act).mean())
        true_std = torch.tensor(CUBIC_EXPERT_STD)
        true_mean = cubic_expert_mean(obs)
        expert = DiagNormal(true_mean, true_std.expand_as(true_mean))
        expert_nll = float(-expert.log_prob(act).mean())
        pred = policy.predict(obs)
        mean_err = float(((pred - true_mean) ** 2).mean().sqrt())
        samples = dist.sample()

    rel = [abs(a - b) / b for a, b in zip(learned, CUBIC_EXPERT_STD)]
    print(f"\ntrained {result.total_steps} steps in {result.seconds:.1f} s\n")
    print(
        _table(
            ["std of the action", "action 0", "action 1"],
            [
                ["true (expert)", *(f"{s:.3f}" for s in CUBIC_EXPERT_STD)],
                ["learned (policy)", *(f"{s:.3f}" for s in learned)],
                ["relative error", *(f"{r:.1%}" for r in rel)],
            ],
        )
    )
    print()
    print(
        _table(
            [f"held out ({len(held_out)} new states)", "policy", "expert"],
            [
                ["NLL per step", f"{nll:.3f}", f"{expert_nll:.3f}"],
                ["mean error (RMS vs expert mean)", f"{mean_err:.3f}", "0"],
            ],
        )
    )
    loss_png = plot_losses(result, out / "loss.png", title="shapesafe demo: training NLL")
    actions_png = _plot_actions(obs, act, samples, out / "actions.png")
    data_path = demos.save(out / "demos.npz")
    print(f"\nwrote {loss_png}, {actions_png}, {out / CHECKPOINT_NAME}, {data_path}")
    print(f"next: {PROG} train --data {data_path} --policy gaussian --hidden 32,32 --lr 0.01")
    return EXIT_OK


def _plot_actions(states: Any, expert: Any, policy: Any, path: Path) -> Path:
    """Per action dimension i: action i against state i (the expert's mean depends on
    state i only), expert actions and policy samples on the same held-out states."""
    import torch

    from shapesafe.bc._fit import _require

    _require("matplotlib", "shapesafe demo's plots")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from shapesafe.bc import cubic_expert_mean

    fig = Figure(figsize=(10, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    grid = torch.linspace(-0.5, 0.5, 101)
    curve = cubic_expert_mean(torch.stack([grid, grid], 1))
    for i, ax in enumerate(axes):
        s = states[:, i].numpy()
        ax.scatter(s, expert[:, i].numpy(), s=7, alpha=0.5, color="tab:blue", label="expert")
        ax.scatter(s, policy[:, i].numpy(), s=7, alpha=0.5, color="tab:orange", label="policy")
        ax.plot(grid.numpy(), curve[:, i].numpy(), color="black", lw=1.5, label="true mean")
        ax.set_xlabel(f"state {i}")
        ax.set_ylabel(f"action {i}")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper left")
    fig.suptitle("held-out states: expert actions vs samples from the learned policy")
    fig.tight_layout()
    fig.savefig(path)
    return path


def _writable_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise _Failure(f"--out {str(out)!r} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _Failure(f"cannot create the output folder {str(out)!r}: {exc.strerror}") from None


def _cmd_train(args: argparse.Namespace) -> int:
    import torch

    from shapesafe.bc import DeterministicPolicy, GaussianPolicy, fit, plot_losses
    from shapesafe.bc._fit import _rows

    demos = _load_demos(args.data)
    if len(demos.obs_shape) != 1:
        raise _Failure(
            f"{args.data}: observations have shape {_rows(demos.obs_shape)}; "
            "this command trains MLP policies on flat observations (N, obs)"
        )
    if not demos.actions.is_floating_point() or len(demos.act_shape) != 1:
        raise _Failure(
            f"{args.data}: actions have shape {_rows(demos.act_shape)} "
            f"and dtype {str(demos.actions.dtype).removeprefix('torch.')}; this command trains on "
            "continuous float actions (N, act)"
        )
    if args.state_dependent_std and args.policy != "gaussian":
        raise _Failure("--state-dependent-std applies to --policy gaussian only")
    out: Path = args.out
    _writable_dir(out)
    torch.manual_seed(args.seed)
    obs_dim, act_dim = demos.obs_shape[0], demos.act_shape[0]
    policy: Any
    if args.policy == "gaussian":
        policy = GaussianPolicy(
            obs_dim,
            act_dim,
            hidden=args.hidden,
            activation=args.activation,
            state_dependent_std=args.state_dependent_std,
        )
    else:
        policy = DeterministicPolicy(
            obs_dim, act_dim, hidden=args.hidden, activation=args.activation
        )
    epochs = args.epochs if args.epochs is not None or args.steps is not None else 100
    print(f"{PROG} train: {_describe(policy)} on {args.data} ({len(demos)} steps)", flush=True)
    result = fit(
        policy,
        demos,
        epochs=epochs,
        steps=args.steps,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        val_fraction=args.val_fraction,
        seed=args.seed,
        progress=not args.no_progress,
        checkpoint_dir=out,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        checks=False if args.no_checks else None,
    )
    rows = [["train loss", f"{result.final_train_loss:.4f}"]]
    if result.final_val_loss is not None:
        rows.append(["validation loss", f"{result.final_val_loss:.4f}"])
    std_fn = getattr(policy, "std", None)
    if callable(std_fn) and not getattr(policy, "state_dependent_std", True):
        with torch.no_grad():
            rows.append(["learned std", ", ".join(f"{s:.3f}" for s in std_fn().tolist())])
    resumed = f", resumed from step {result.resumed_from}" if result.resumed_from else ""
    print(f"\ntrained {result.total_steps} steps in {result.seconds:.1f} s{resumed}\n")
    print(_table(["", "final"], rows))
    png = plot_losses(result, out / "losses.png")
    print(f"\nwrote {result.checkpoint}, {png}")
    print(f"next: {PROG} evaluate --checkpoint {result.checkpoint} --data {args.data}")
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from shapesafe._checkpoint import inspect_checkpoint, load_checkpoint
    from shapesafe.bc import build_policy, evaluate

    path: Path = args.checkpoint
    if not path.exists():
        raise _Failure(f"no such checkpoint: {str(path)!r}")
    if path.is_dir():
        raise _Failure(f"--checkpoint {str(path)!r} is a folder; pass the .pt file in it")
    info = inspect_checkpoint(path)
    config = info.metadata.get("policy_config")
    if not isinstance(config, dict):
        raise _Failure(
            f"{str(path)!r} holds no policy description; use a checkpoint written by "
            f"'{PROG} train' or '{PROG} demo'"
        )
    policy = build_policy(config)
    load_checkpoint(path, policy)
    demos = _load_demos(args.data)
    metrics = evaluate(policy, demos)
    print(f"{PROG} evaluate: {_describe(policy)} from {path} on {args.data} ({len(demos)} steps)\n")
    loss_name = "NLL per step" if policy.kind == "gaussian" else "MSE"
    rows = [
        [f"loss ({loss_name})", f"{metrics['loss']:.4f}"],
        ["mean error (RMS)", f"{metrics['mean_error']:.4f}"],
    ]
    stds = [v for k, v in metrics.items() if k.startswith("std_")]
    if stds:
        rows.append(["learned std", ", ".join(f"{s:.3f}" for s in stds)])
    print(_table(["metric", "value"], rows))
    return EXIT_OK


_COMMANDS = {"demo": _cmd_demo, "train": _cmd_train, "evaluate": _cmd_evaluate}


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
    except _Failure as exc:
        print(f"{prefix} {_one_line(str(exc))}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        hint = " (continue with --resume)" if args.command == "train" else ""
        print(f"\n{PROG} {args.command}: interrupted{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except FloatingPointError as exc:  # NonFiniteLossError: training diverged
        print(f"{prefix} {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except ImportError as exc:  # an optional dependency of the bc extra is missing
        print(f"{prefix} {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, OSError) as exc:  # ShapeError, CheckpointError, bad files, ...
        text = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
            text = f"{exc.strerror}: {str(exc.filename)!r}"
        print(f"{prefix} {_one_line(text)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
