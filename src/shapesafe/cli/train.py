"""``shapesafe train``: fit a policy (built-in or registered by ``--import``) to a
``.npz`` file of demonstrations."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import torch

from shapesafe._format import table
from shapesafe.cli._common import (
    EXIT_OK,
    PROG,
    Failure,
    Formatter,
    add_import_option,
    add_policy_options,
    describe,
    fraction,
    hidden_sizes,
    import_modules,
    parse_policy_options,
    positive_float,
    positive_int,
    writable_dir,
)
from shapesafe.errors import UsageError

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    train = sub.add_parser(
        "train",
        help="fit a policy to demonstrations in a .npz file",
        description=(
            "Fit a policy to demonstrations stored in a .npz file with an 'observations'\n"
            "(N, obs...) and an 'actions' (N, act...) array (optionally 'episode_ids' or\n"
            "'episode_starts', 'goals'). Writes the checkpoint (last.pt) and the loss curve\n"
            "(losses.png) into --out.\n\n"
            "example:\n"
            "  shapesafe train --data demos.npz --policy gaussian --epochs 100 --lr 1e-3\n"
            "  shapesafe train --data demos.npz --import my_policies.py --policy my-policy"
        ),
        formatter_class=Formatter,
    )
    train.add_argument(
        "--data", type=Path, required=True, metavar="FILE", help="demonstrations (.npz)"
    )
    train.add_argument(
        "--policy",
        default="gaussian",
        metavar="KIND",
        help="policy kind: gaussian, deterministic, or one registered by --import",
    )
    add_import_option(train)
    train.add_argument(
        "--hidden",
        type=hidden_sizes,
        metavar="SIZES",
        help="hidden layer sizes of the built-in policies, e.g. 64,64 (their default)",
    )
    train.add_argument(
        "--activation", metavar="NAME", help="activation between layers (built-ins: relu)"
    )
    train.add_argument(
        "--state-dependent-std",
        action="store_true",
        help="gaussian only: predict the std from the observation",
    )
    add_policy_options(train)
    length = train.add_mutually_exclusive_group()
    length.add_argument(
        "--epochs", type=positive_int, metavar="N", help="passes over the data (default: 100)"
    )
    length.add_argument(
        "--steps", type=positive_int, metavar="N", help="optimizer steps, instead of epochs"
    )
    train.add_argument(
        "--batch-size", type=positive_int, default=64, metavar="N", help="minibatch size"
    )
    train.add_argument(
        "--optimizer", choices=("adam", "adamw", "sgd", "rmsprop"), default="adam", help="optimizer"
    )
    train.add_argument(
        "--lr", type=positive_float, default=1e-3, metavar="LR", help="learning rate"
    )
    train.add_argument(
        "--max-grad-norm", type=positive_float, metavar="X", help="clip the gradient norm to X"
    )
    train.add_argument(
        "--val-fraction",
        type=fraction,
        default=0.1,
        metavar="F",
        help="fraction held out for validation (whole episodes when the file has them)",
    )
    train.add_argument(
        "--seed", type=int, default=0, metavar="S", help="seed for weights, split and batches"
    )
    train.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="torch CPU threads (default: 1 for policies under a million parameters, "
        "unless OMP_NUM_THREADS is set)",
    )
    train.add_argument(
        "--out", type=Path, default="shapesafe-train", metavar="DIR", help="output folder"
    )
    train.add_argument(
        "--checkpoint-every",
        type=positive_int,
        default=1000,
        metavar="N",
        help="steps between checkpoints",
    )
    again = train.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue from --out/last.pt")
    again.add_argument(
        "--overwrite", action="store_true", help="start over, replacing --out/last.pt"
    )
    train.add_argument(
        "--no-checks", action="store_true", help="turn shape checks off in the loop (faster)"
    )
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    train.add_argument(
        "--compile",
        action="store_true",
        help="compile the training step with torch.compile (inductor): faster after a "
        "one-off compilation of a few seconds; shape checks stay live",
    )
    train.add_argument(
        "--device", metavar="DEVICE", help="train on this torch device, e.g. cuda (default: cpu)"
    )
    train.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel training, one process per rank: launch with torchrun, e.g. "
        "torchrun --nproc-per-node 2 -m shapesafe train --distributed ...",
    )


_FLAGS = {"hidden": "--hidden", "activation": "--activation"}
_FLAGS["state_dependent_std"] = "--state-dependent-std"


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """Constructor options: the convenience flags that were given, then ``--option``."""
    options: dict[str, Any] = {}
    if args.hidden is not None:
        options["hidden"] = args.hidden
    if args.activation is not None:
        options["activation"] = args.activation
    if args.state_dependent_std:
        options["state_dependent_std"] = True
    return parse_policy_options(args.options, options)


def _build(args: argparse.Namespace, demos: Any) -> Any:
    from shapesafe.bc import ActSpec, ObsSpec, policy_kinds
    from shapesafe.bc.policies.registry import _REGISTRY

    cls = _REGISTRY.get(args.policy)
    if cls is None:
        raise Failure(
            f"unknown --policy {args.policy!r}; known: {', '.join(policy_kinds())} "
            "(pass --import MODULE to use a policy class of your own)"
        )
    act = demos.actions
    discrete = None if act.is_floating_point() else int(act.max()) + 1
    obs_spec = ObsSpec(demos.obs_shape, demos.observations.dtype)
    act_spec = ActSpec(demos.act_shape, act.dtype, discrete=discrete)
    options = _options(args)
    try:
        return cls.from_specs(obs_spec, act_spec, **options)
    except UsageError as err:
        for key in options:
            if repr(key) in err.message:
                flag = _FLAGS.get(key, f"--option {key}=...")
                raise Failure(f"{flag} does not apply to --policy {args.policy}") from None
        raise


def run(args: argparse.Namespace) -> int:
    from shapesafe.bc import Demonstrations, fit

    import_modules(args.imports)
    demos = Demonstrations.load(args.data)
    out: Path = args.out
    last = out / "last.pt"
    if last.exists() and not (args.resume or args.overwrite):
        raise Failure(
            f"--out {str(out)!r} already holds a run ({last.name}); pass --resume to "
            "continue it or --overwrite to start over"
        )
    writable_dir(out)
    if args.overwrite and last.exists():
        last.unlink()
    torch.manual_seed(args.seed)
    policy = _build(args, demos)
    epochs = args.epochs if args.epochs is not None or args.steps is not None else 100
    main_rank = not args.distributed or os.environ.get("RANK", "0") == "0"
    if main_rank:
        print(f"{PROG} train: {describe(policy)} on {args.data} ({len(demos)} steps)", flush=True)
    try:
        result = fit(
            policy,
            demos,
            epochs=epochs,
            steps=args.steps,
            batch_size=args.batch_size,
            optimizer=args.optimizer,
            lr=args.lr,
            max_grad_norm=args.max_grad_norm,
            val_fraction=args.val_fraction,
            seed=args.seed,
            progress=not args.no_progress,
            checkpoint_dir=out,
            checkpoint_every=args.checkpoint_every,
            resume=args.resume,
            checks=False if args.no_checks else None,
            threads=args.threads,
            distributed=args.distributed,
            compile=args.compile,
            device=args.device,
        )
    except UsageError as err:
        if err.function == "fit" and err.argument == "steps" and err.expected:
            done = err.expected.replace("more than ", "")
            raise Failure(
                f"the run in {str(out)!r} already finished {done}; {_asked(args, err.got)} "
                "asks for fewer, so there is nothing to train; pass a larger --epochs or "
                "--steps to train longer"
            ) from None
        raise
    if result.resumed_from is not None and result.resumed_from >= result.total_steps:
        raise Failure(
            f"the run in {str(out)!r} already finished at step {result.resumed_from}; "
            "nothing to train; pass a larger --epochs or --steps to train longer"
        )
    if main_rank:
        _report(policy, result, out, args.data)
    return EXIT_OK


def _asked(args: argparse.Namespace, steps: str | None) -> str:
    if args.steps is not None:
        return f"--steps {args.steps}"
    return f"--epochs {args.epochs or 100} ({steps} steps)"


def _report(policy: Any, result: Any, out: Path, data: Path) -> None:
    from shapesafe.bc import plot_losses

    rows = [[f"train loss ({policy.loss_name})", f"{result.final_train_loss:.4f}"]]
    if result.final_val_loss is not None:
        rows.append(["validation loss", f"{result.final_val_loss:.4f}"])
    rows.extend([name, f"{values[-1]:.4f}"] for name, values in result.metrics.items())
    stds = [v for k, v in policy.diagnostics().items() if k.startswith("std_")]
    if stds:
        rows.append(["learned std", ", ".join(f"{s:.3f}" for s in stds)])
    resumed = f", resumed from step {result.resumed_from}" if result.resumed_from else ""
    print(f"\ntrained {result.total_steps} steps in {result.seconds:.1f} s{resumed}\n")
    print(table(["", "final"], rows))
    png = plot_losses(result, out / "losses.png")
    print(f"\nwrote {result.checkpoint}, {png}")
    print(f"next: {PROG} evaluate --checkpoint {result.checkpoint} --data {data}")
