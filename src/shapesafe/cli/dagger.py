"""``shapesafe dagger``: DAgger on a gymnasium environment with its registered expert."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
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
    hidden_sizes,
    import_modules,
    parse_policy_options,
    positive_float,
    positive_int,
    writable_dir,
)
from shapesafe.errors import CheckpointError, UsageError

__all__ = ["add_parser", "run"]

RECORDS = "records.json"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "dagger",
        help="DAgger on a gymnasium environment with its scripted expert",
        description=(
            "Train a policy with DAgger: roll out a mixture of the learner and the env's\n"
            "registered expert, label every visited state with the expert's action,\n"
            "aggregate and retrain. Prints one row per iteration; writes the checkpoint\n"
            "(dagger.pt, after every iteration) and the records (records.json) into --out.\n"
            "% expert is (R - R_random) / (R_expert - R_random) on the same seeded episodes\n"
            "(0%: uniformly random actions, 100%: the expert).\n\n"
            "example (20 expert labels to start from, then the learner acts):\n"
            "  shapesafe dagger --env CartPole-v1 --demos 1 --demo-steps 20 --iterations 3 \\\n"
            "      --episodes-per-iteration 1 --beta 0"
        ),
        formatter_class=Formatter,
    )
    p.add_argument("--env", required=True, metavar="ID", help="gymnasium id with an expert")
    p.add_argument(
        "--iterations", type=positive_int, default=5, metavar="N", help="DAgger iterations"
    )
    p.add_argument(
        "--episodes-per-iteration",
        type=positive_int,
        default=2,
        metavar="K",
        help="episodes collected per iteration",
    )
    p.add_argument(
        "--demos",
        type=int,
        default=0,
        metavar="E",
        help="expert episodes to start from (iteration 0 is behaviour cloning on them)",
    )
    p.add_argument(
        "--demo-steps",
        type=positive_int,
        metavar="N",
        help="keep only the first N steps of those episodes (a small label budget)",
    )
    p.add_argument(
        "--beta",
        default="exponential",
        metavar="BETA",
        help="probability of executing the expert's action: a number in [0, 1], "
        "'exponential' (1, 0.5, 0.25, ...), 'exponential:P' or 'linear'",
    )
    p.add_argument(
        "--policy",
        default="auto",
        metavar="KIND",
        help="policy kind; auto: categorical for discrete actions, deterministic otherwise",
    )
    add_import_option(p)
    p.add_argument("--hidden", type=hidden_sizes, metavar="SIZES", help="hidden layer sizes")
    add_policy_options(p)
    length = p.add_mutually_exclusive_group()
    length.add_argument(
        "--steps", type=positive_int, metavar="N", help="optimizer steps per retraining (1000)"
    )
    length.add_argument(
        "--epochs", type=positive_int, metavar="N", help="passes over the data per retraining"
    )
    p.add_argument(
        "--batch-size", type=positive_int, default=64, metavar="N", help="minibatch size"
    )
    p.add_argument("--lr", type=positive_float, default=1e-3, metavar="LR", help="learning rate")
    p.add_argument(
        "--warm-start",
        action="store_true",
        help="retrain from the last weights (default: from the initial weights)",
    )
    p.add_argument(
        "--eval-episodes",
        type=positive_int,
        default=20,
        metavar="N",
        help="evaluation episodes per iteration",
    )
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of everything")
    p.add_argument("--out", type=Path, default="shapesafe-dagger", metavar="DIR", help="output")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue from --out/dagger.pt")
    again.add_argument("--overwrite", action="store_true", help="start over in --out")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _beta(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """Constructor options: ``--hidden``, then ``--option``."""
    options: dict[str, Any] = {}
    if args.hidden is not None:
        options["hidden"] = args.hidden
    return parse_policy_options(args.options, options)


def _build(args: argparse.Namespace, env: Any) -> Any:
    from shapesafe.bc import ActSpec, ObsSpec, policy_kinds
    from shapesafe.bc.policies.registry import _REGISTRY

    n = getattr(env.action_space, "n", None)
    kind = args.policy
    if kind == "auto":
        kind = "categorical" if n is not None else "deterministic"
    cls = _REGISTRY.get(kind)
    if cls is None:
        raise Failure(
            f"unknown --policy {kind!r}; known: {', '.join(policy_kinds())} "
            "(pass --import MODULE to use a policy class of your own)"
        )
    obs_spec = ObsSpec(tuple(env.observation_space.shape))
    if n is not None:
        act_spec = ActSpec((), torch.int64, discrete=int(n))
    else:
        act_spec = ActSpec(tuple(env.action_space.shape))
    options = _options(args)
    try:
        return cls.from_specs(obs_spec, act_spec, **options)
    except UsageError as err:
        for key in options:
            if repr(key) in err.message:
                flag = "--hidden" if key == "hidden" else f"--option {key}=..."
                raise Failure(f"{flag} does not apply to --policy {kind}") from None
        raise


def _make(env_id: str) -> tuple[Any, Any]:
    import gymnasium as gym

    from shapesafe.bc.experts import expert_ids, make_expert

    if env_id not in expert_ids():
        raise Failure(
            f"no expert is registered for --env {env_id!r}; known: {', '.join(expert_ids())}"
        )
    try:
        env = gym.make(env_id)
    except Exception as exc:  # a missing extra (mujoco), a broken install
        raise Failure(f"cannot make --env {env_id!r}: {exc}") from None
    return env, make_expert(env_id)


def _random_return(env: Any, episodes: int, seed: int) -> float:
    """Mean return of uniformly random actions on the evaluation episodes."""
    from shapesafe.bc import evaluate_in_env

    space = env.action_space
    space.seed(seed)
    return evaluate_in_env(lambda obs: space.sample(), env, episodes, seed=seed).mean_return


def run(args: argparse.Namespace) -> int:
    from shapesafe.bc import DaggerRecord, beta_schedule, dagger, evaluate_in_env, rollout
    from shapesafe.bc._dagger import EVAL_SEED_OFFSET

    import_modules(args.imports)
    if args.demos < 0:
        raise Failure(f"--demos must be 0 or more, got {args.demos}")
    beta_schedule(_beta(args.beta), args.iterations)  # a bad --beta fails before any work
    out: Path = args.out
    last = out / "dagger.pt"
    if last.exists() and not (args.resume or args.overwrite):
        raise Failure(
            f"--out {str(out)!r} already holds a run ({last.name}); pass --resume to "
            "continue it or --overwrite to start over"
        )
    writable_dir(out)
    if args.overwrite and last.exists():
        last.unlink()
    env, expert = _make(args.env)
    torch.manual_seed(args.seed)
    policy = _build(args, env)
    demos = None
    if args.demos:
        # seeds above the collection seeds' range, so no initial state repeats
        demos = rollout(expert, env, args.demos, seed=args.seed + EVAL_SEED_OFFSET // 2).demos
        if args.demo_steps is not None:
            demos = demos[torch.arange(min(args.demo_steps, len(demos)))]
    elif args.demo_steps is not None:
        raise Failure("--demo-steps needs --demos (the episodes to cut)")
    eval_seed = args.seed + EVAL_SEED_OFFSET
    ref = evaluate_in_env(expert, env, args.eval_episodes, seed=eval_seed).mean_return
    rnd = _random_return(env, args.eval_episodes, eval_seed)
    print(
        f"{PROG} dagger: {describe(policy)} on {args.env}; expert return {ref:.1f}, "
        f"random {rnd:.1f} (over {args.eval_episodes} episodes)\n",
        flush=True,
    )
    header = ["iter", "beta", "labels", "return", "95% CI", "% expert"]
    widths = [4, 5, 8, 10, 19, 8]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)), flush=True)

    def row(r: DaggerRecord) -> None:
        lo, hi = r.return_ci95
        score = (r.mean_return - rnd) / (ref - rnd) if ref != rnd else math.nan
        cells = [
            str(r.iteration),
            f"{r.beta:.3g}",
            str(r.expert_labels),
            f"{r.mean_return:.1f}",
            f"[{lo:.1f}, {hi:.1f}]",
            f"{score:.0%}",
        ]
        print("  ".join(c.rjust(w) for c, w in zip(cells, widths)), flush=True)

    try:
        result = dagger(
            policy,
            expert,
            env,
            iterations=args.iterations,
            episodes_per_iteration=args.episodes_per_iteration,
            beta=_beta(args.beta),
            demos=demos,
            seed=args.seed,
            steps=args.steps,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            warm_start=args.warm_start,
            eval_episodes=args.eval_episodes,
            eval_seed=eval_seed,
            checkpoint_dir=out,
            resume=args.resume,
            progress=not args.no_progress,
            on_iteration=row,
        )
    except CheckpointError as err:
        if err.argument != "resume":
            raise
        raise Failure(
            f"cannot resume the run in {str(out)!r}: its settings differ; resume with the "
            "same options (only --iterations may grow), or start over with --overwrite"
        ) from None
    if result.resumed_from is not None:
        print(f"(resumed after iteration {result.resumed_from}; earlier rows in {RECORDS})")
    records = {
        "env": args.env,
        "expert_return": ref,
        "random_return": rnd,
        "eval_episodes": args.eval_episodes,
        "eval_seed": eval_seed,
        **result.to_dict(),
    }
    path = out / RECORDS
    path.write_text(json.dumps(records, indent=2, default=_plain) + "\n")
    final = result.records[-1]
    print(
        "\n"
        + table(
            ["", "final"],
            [
                ["return", f"{final.mean_return:.1f} ± {final.std_return:.1f}"],
                ["expert labels", str(final.expert_labels)],
            ],
        )
    )
    print(f"\nwrote {result.checkpoint}, {path}")
    return EXIT_OK


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
