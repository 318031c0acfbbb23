"""``shapesafe evaluate``: score a trained policy on demonstrations, or in an environment
over seeded episodes (with a 95% interval, and provenance saved as JSON)."""

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
    positive_int,
)

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    ev = sub.add_parser(
        "evaluate",
        help="score a trained policy on demonstrations or in an environment",
        description=(
            "Load a checkpoint written by 'shapesafe train' (or 'demo', 'dagger') and\n"
            "either report the policy's loss, its metrics and the action error on a .npz\n"
            "file (--data), or run it in a gymnasium environment (--env) for --episodes\n"
            "episodes, episode i starting from reset(seed=SEED + i), and report the\n"
            "success rate and mean return with 95% confidence intervals. --save writes the\n"
            "result with its provenance (policy config, checkpoint sha256, env id and\n"
            "version, seeds, per-episode returns, library versions) as JSON.\n\n"
            "examples:\n"
            "  shapesafe evaluate --checkpoint shapesafe-train/last.pt --data test.npz\n"
            "  shapesafe evaluate --checkpoint run/last.pt --env Pendulum-v1 \\\n"
            "      --episodes 100 --seed 1000 --num-envs 8 --save eval.json"
        ),
        formatter_class=Formatter,
    )
    ev.add_argument(
        "--checkpoint", type=Path, required=True, metavar="FILE", help="checkpoint file (.pt)"
    )
    where = ev.add_mutually_exclusive_group(required=True)
    where.add_argument("--data", type=Path, metavar="FILE", help="demonstrations (.npz)")
    where.add_argument("--env", metavar="ID", help="gymnasium environment id")
    ev.add_argument(
        "--episodes", type=positive_int, default=100, metavar="N", help="episodes (--env)"
    )
    ev.add_argument(
        "--seed", type=int, default=0, metavar="S", help="seed of the first episode (--env)"
    )
    ev.add_argument(
        "--num-envs",
        type=positive_int,
        default=1,
        metavar="K",
        help="run K sub-envs side by side (a gymnasium SyncVectorEnv); same episodes, same result",
    )
    ev.add_argument(
        "--deterministic",
        action="store_true",
        help="take the most likely action instead of sampling (--env)",
    )
    ev.add_argument(
        "--save", type=Path, metavar="FILE", help="write the result and provenance (JSON)"
    )
    ev.add_argument("--no-progress", action="store_true", help="no progress bar (--env)")
    add_import_option(ev)


def _load(path: Path) -> Any:
    from shapesafe.bc import load_policy

    if not path.exists():
        raise Failure(f"no such checkpoint: {str(path)!r}")
    if path.is_dir():
        raise Failure(f"--checkpoint {str(path)!r} is a folder; pass the .pt file in it")
    return load_policy(path)


def run(args: argparse.Namespace) -> int:
    import_modules(args.imports)
    env_only = [
        flag
        for flag, on in (
            ("--num-envs", args.num_envs != 1),
            ("--deterministic", args.deterministic),
            ("--save", args.save is not None),
        )
        if on
    ]
    if args.data is not None and env_only:
        raise Failure(f"{', '.join(env_only)} only apply with --env")
    if args.env is not None:
        return _run_env(args)
    from shapesafe.bc import Demonstrations, evaluate

    path: Path = args.checkpoint
    policy = _load(path)
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


def _make_env(env_id: str, num_envs: int) -> Any:
    import gymnasium as gym

    import shapesafe.bc.tasks  # noqa: F401  (registers the shapesafe/... ids)

    try:
        if num_envs == 1:
            return gym.make(env_id)
        return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync")
    except gym.error.Error as exc:  # unknown id, missing dependency, ...
        raise Failure(f"--env {env_id!r}: {exc}") from None


def _run_env(args: argparse.Namespace) -> int:
    from shapesafe.bc import evaluate_in_env

    if not 0 <= args.seed <= 2**31 - 1:
        raise Failure(f"--seed must be between 0 and {2**31 - 1}, got {args.seed}")
    env = _make_env(args.env, args.num_envs)  # first: an unknown id is the first thing to say
    path: Path = args.checkpoint
    policy = _load(path)
    sub_envs = f", {args.num_envs} sub-envs" if args.num_envs > 1 else ""
    print(
        f"{PROG} evaluate: {describe(policy)} from {path} in {args.env} "
        f"({args.episodes} episodes from seed {args.seed}{sub_envs}, "
        f"{'most likely' if args.deterministic else 'sampled'} actions)\n"
    )
    try:
        ev = evaluate_in_env(
            policy,
            env,
            args.episodes,
            args.seed,
            deterministic=args.deterministic,
            progress=not args.no_progress,
            checkpoint=path,
            save_to=args.save,
        )
    finally:
        env.close()
    s_lo, s_hi = ev.success_ci95
    r_lo, r_hi = ev.return_ci95
    rows = [
        ["episodes", str(ev.episodes)],
        ["mean return", f"{ev.mean_return:.3f} ± {ev.std_return:.3f} (std)"],
        ["95% CI of the mean", f"{r_lo:.3f} to {r_hi:.3f}"],
        ["mean length", f"{ev.mean_length:.1f}"],
        ["time per step", f"{ev.seconds_per_action * 1e3:.3f} ms"],
    ]
    if ev.reports_success:  # envs without info["is_success"] have no success rate
        rate = f"{ev.success_rate:.1%} (95% CI {s_lo:.1%}-{s_hi:.1%})"
        rows.insert(3, ["success rate", rate])
    print(table(["metric", "value"], rows))
    if args.save is not None:
        print(f"\nwrote {args.save} (result, per-episode returns and provenance)")
    return EXIT_OK
