"""``shapesafe collect``: roll out an expert in a gymnasium env and save the demonstrations."""

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
    import_module_or_file,
    import_modules,
    positive_int,
)

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    col = sub.add_parser(
        "collect",
        help="roll out a scripted expert and save its demonstrations",
        description=(
            "Run the registered expert of a gymnasium env (or your own, --expert) for\n"
            "seeded episodes (episode i starts from reset(seed=SEED + i)) and save every\n"
            "step as demonstrations (.npz, with episode ids and per-step rewards) that\n"
            f"'{PROG} train --data' reads. Prints the mean return ± its standard deviation.\n\n"
            "examples:\n"
            "  shapesafe collect --env CartPole-v1 --episodes 20 --out cartpole.npz\n"
            "  shapesafe collect --env Pendulum-v1 --expert my_experts:Swing --out p.npz"
        ),
        formatter_class=Formatter,
    )
    col.add_argument("--env", required=True, metavar="ID", help="gymnasium env id")
    col.add_argument(
        "--episodes", type=positive_int, default=10, metavar="N", help="episodes to collect"
    )
    col.add_argument(
        "--seed", type=int, default=0, metavar="S", help="episode i starts from seed S + i"
    )
    col.add_argument(
        "--out", type=Path, required=True, metavar="FILE", help="demonstrations file (.npz)"
    )
    col.add_argument(
        "--expert",
        metavar="MODULE:NAME",
        help="your expert instead of the registered one: a callable obs -> action, or a "
        "class built with no arguments (MODULE may be a .py file); or a trained policy's "
        "checkpoint FILE.pt (it acts deterministically)",
    )
    col.add_argument(
        "--num-envs",
        type=positive_int,
        default=1,
        metavar="K",
        help="run K copies of the env side by side (a gymnasium vector env; the expert "
        "gets (K, obs) batches); the episodes are the same as with 1",
    )
    col.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    col.add_argument("--progress", action="store_true", help="show a progress bar")
    add_import_option(col)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import shapesafe.bc.tasks  # noqa: F401  (registers the shapesafe/... env ids)
    from shapesafe.bc import rollout

    import_modules(args.imports)
    out: Path = (
        args.out if args.out.suffix == ".npz" else args.out.with_name(args.out.name + ".npz")
    )
    if out.exists() and not args.overwrite:
        raise Failure(f"--out {str(out)!r} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise Failure(f"--out {str(out)!r}: no such folder {str(out.parent)!r}")
    if args.seed < 0:
        raise Failure(f"--seed must be 0 or more, got {args.seed}")
    env = _make_env(args.env, args.num_envs)  # first: an unknown id is the first thing to say
    try:
        expert = _expert(args.expert, args.env)
        r = rollout(
            expert,
            env,
            episodes=args.episodes,
            seed=args.seed,
            deterministic=True,  # a trained policy as the expert: its most likely action
            progress=args.progress,
        )
    finally:
        env.close()
    path = r.demos.save(out)
    returns, lengths = r.returns, r.lengths
    std = float(returns.std(ddof=1)) if len(returns) > 1 else 0.0
    name = getattr(expert, "__name__", type(expert).__name__)
    if str(args.expert).endswith(".pt"):
        name += f" from {args.expert}"
    print(
        f"{PROG} collect: {name} on {args.env}, {r.episodes} episodes "
        f"(seeds {args.seed}-{args.seed + r.episodes - 1}), {int(lengths.sum())} steps\n"
    )
    rows = [
        ["return (mean ± std)", f"{returns.mean():.1f} ± {std:.1f}"],
        ["return (min / max)", f"{returns.min():.1f} / {returns.max():.1f}"],
        ["episode length (mean)", f"{lengths.mean():.1f}"],
    ]
    if r.successes.any():  # only envs that report info["is_success"] can have any
        rows.append(["success rate", f"{np.mean(r.successes):.0%}"])
    print(table(["metric", "value"], rows))
    print(f"\nsaved {path}\nnext: {PROG} train --data {path}")
    return EXIT_OK


def _expert(spec: str | None, env_id: str) -> Any:
    """The expert: ``--expert MODULE:NAME`` if given, else the registered one."""
    from shapesafe.bc.experts import expert_ids, make_expert

    if spec is None:
        if env_id not in expert_ids():
            raise Failure(
                f"no expert is registered for {env_id!r} (registered: "
                f"{', '.join(expert_ids())}); hint: pass --expert MODULE:NAME"
            )
        return make_expert(env_id)
    if spec.endswith(".pt"):  # a trained policy's checkpoint
        from shapesafe.bc import load_policy

        if not Path(spec).is_file():
            raise Failure(f"--expert {spec!r}: no such checkpoint file")
        return load_policy(spec)
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise Failure(f"--expert {spec!r}: expected MODULE:NAME, e.g. my_experts:Expert")
    module = _import(module_name, spec)
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise Failure(f"--expert {spec!r}: {module_name!r} has no {attr!r}") from None
    if isinstance(obj, type):
        try:
            obj = obj()
        except TypeError as exc:
            raise Failure(f"--expert {spec!r}: cannot build it with no arguments ({exc})") from None
    if not callable(obj):
        raise Failure(f"--expert {spec!r} is not callable (an expert maps obs -> action)")
    return obj


def _import(name: str, spec: str) -> Any:
    return import_module_or_file(name, f"--expert {spec!r}")


def _make_env(env_id: str, num_envs: int) -> Any:
    import gymnasium as gym

    try:
        if num_envs == 1:
            return gym.make(env_id)
        return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync")
    except gym.error.Error as exc:  # unknown id, missing dependency, ...
        raise Failure(f"--env {env_id!r}: {exc}") from None
