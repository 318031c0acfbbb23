"""``shapesafe dataset``: Minari datasets in and out (``export``, ``import``, ``list``).

``export`` writes a Minari dataset from an expert's episodes (``--env``, as ``shapesafe
collect`` runs them) or from a ``.npz`` file of demonstrations (``--data``); ``import``
writes a local Minari dataset as a ``.npz`` file that ``shapesafe train --data`` reads;
``list`` shows the datasets under ``$MINARI_DATASETS_PATH``. Nothing is downloaded.
"""

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
    import_modules,
    one_line,
    positive_int,
)
from shapesafe.errors import ShapesafeError

__all__ = ["add_parser", "run"]

_ROOT_HELP = "Minari keeps datasets under $MINARI_DATASETS_PATH (default ~/.minari/datasets)."


def add_parser(sub: Any) -> None:
    ds = sub.add_parser(
        "dataset",
        help="export demonstrations as a Minari dataset, import one, list them",
        description=(
            "Minari datasets (the Farama standard for offline RL and imitation data) in\n"
            "and out; needs the minari extra (pip install 'shapesafe[minari]').\n"
            f"{_ROOT_HELP}\n\n"
            "examples:\n"
            "  shapesafe dataset export --env CartPole-v1 --episodes 20 --id cartpole/expert-v0\n"
            "  shapesafe dataset export --data demos.npz --id mine/demos-v0 "
            "--episode-ends truncated\n"
            "  shapesafe dataset import cartpole/expert-v0 --out cartpole.npz\n"
            "  shapesafe dataset list"
        ),
        formatter_class=Formatter,
    )
    actions = ds.add_subparsers(dest="action", metavar="<action>", required=True)

    exp = actions.add_parser(
        "export",
        help="write a Minari dataset",
        description=(
            "Write a Minari dataset: the registered expert's (or --expert's) episodes in\n"
            "--env (episode i from reset(seed=SEED + i)), or the demonstrations of a\n"
            ".npz file (--data; it needs episode ids, a rewards column, how episodes\n"
            "ended -- terminated/truncated columns or --episode-ends -- and a\n"
            "next_observations column for the observation after each episode's last step).\n"
            f"{_ROOT_HELP}"
        ),
        formatter_class=Formatter,
    )
    exp.add_argument("--id", required=True, metavar="ID", help="(namespace/)name-v<version>")
    source = exp.add_mutually_exclusive_group(required=True)
    source.add_argument("--env", metavar="ENV", help="gymnasium env id to collect in")
    source.add_argument("--data", type=Path, metavar="FILE", help="demonstrations (.npz)")
    exp.add_argument(
        "--data-env",
        metavar="ENV",
        help="with --data: the gymnasium env id the data comes from (spaces checked, spec stored)",
    )
    exp.add_argument(
        "--episodes", type=positive_int, default=10, metavar="N", help="with --env: episodes"
    )
    exp.add_argument(
        "--seed", type=int, default=0, metavar="S", help="with --env: episode i from seed S + i"
    )
    exp.add_argument(
        "--expert",
        metavar="MODULE:NAME",
        help="with --env: your expert instead of the registered one",
    )
    exp.add_argument(
        "--episode-ends",
        choices=("terminated", "truncated"),
        help="with --data without terminated/truncated columns: how every episode ended",
    )
    exp.add_argument("--overwrite", action="store_true", help="replace a dataset with this id")
    exp.add_argument("--author", metavar="NAME", help="dataset metadata: author")
    exp.add_argument("--author-email", metavar="EMAIL", help="dataset metadata: contact")
    exp.add_argument("--algorithm", metavar="TEXT", help="dataset metadata: algorithm name")
    exp.add_argument("--code-permalink", metavar="URL", help="dataset metadata: code link")
    exp.add_argument("--description", metavar="TEXT", help="dataset metadata: description")
    add_import_option(exp)

    imp = actions.add_parser(
        "import",
        help="write a local Minari dataset as demonstrations (.npz)",
        description=(
            "Read a Minari dataset on this machine (an id, or a dataset's folder) and save\n"
            f"it as demonstrations (.npz) for '{PROG} train --data'. Discrete actions stay\n"
            "integers; rewards, terminated and truncated become columns.\n"
            f"{_ROOT_HELP}"
        ),
        formatter_class=Formatter,
    )
    imp.add_argument("dataset", metavar="ID_OR_DIR", help="dataset id or folder")
    imp.add_argument("--out", type=Path, required=True, metavar="FILE", help=".npz to write")
    imp.add_argument(
        "--next-observations",
        action="store_true",
        help="also save each step's next observation (a next_observations column)",
    )
    imp.add_argument(
        "--observation-key", metavar="KEY", help="Dict observations: the observation entry"
    )
    imp.add_argument("--goal-key", metavar="KEY", help="Dict observations: the goal entry")
    imp.add_argument(
        "--infos",
        metavar="A,B",
        help="comma-separated per-step infos fields to save as columns",
    )
    imp.add_argument("--overwrite", action="store_true", help="replace an existing --out file")

    actions.add_parser(
        "list",
        help="the Minari datasets on this machine",
        description=f"List the local Minari datasets.\n{_ROOT_HELP}",
        formatter_class=Formatter,
    )


def run(args: argparse.Namespace) -> int:
    runner = {"export": _export, "import": _import, "list": _list}[args.action]
    try:
        return runner(args)
    except ShapesafeError as err:
        raise Failure(_cli_advice(err)) from None


def _cli_advice(err: ShapesafeError) -> str:
    """The library's message with its Python advice turned into flags."""
    text = one_line(err, "dataset")
    if err.function == "to_minari" and "exists already" in str(err):
        text += "; hint: pass --overwrite to replace it, or bump the version (name-v1, ...)"
    elif err.function == "to_minari" and "after each episode's last action" in str(err):
        text += (
            "; hint: export straight from the expert (--env ID), or add a "
            "next_observations column to the .npz"
        )
    elif err.function == "to_minari" and "how each episode ended" in str(err):
        text += "; hint: pass --episode-ends terminated (or truncated)"
    elif err.function == "from_minari" and err.argument in ("observation_key", "goal_key"):
        text += f"; hint: pass --{err.argument.replace('_', '-')} KEY"
    return text


def _export(args: argparse.Namespace) -> int:
    from shapesafe.bc import Demonstrations, to_minari

    import_modules(args.imports)
    metadata = {
        "author": args.author,
        "author_email": args.author_email,
        "algorithm_name": args.algorithm,
        "code_permalink": args.code_permalink,
        "description": args.description,
    }
    if args.env is not None:
        if args.data_env is not None or args.episode_ends is not None:
            raise Failure("--data-env and --episode-ends go with --data, not --env")
        data, env = _collect(args)
        if metadata["algorithm_name"] is None:
            metadata["algorithm_name"] = args.expert or f"shapesafe expert for {args.env}"
    else:
        if args.expert is not None:
            raise Failure("--expert goes with --env, not --data")
        data = Demonstrations.load(args.data)
        env = args.data_env
    try:
        dataset = to_minari(
            data,
            args.id,
            env=env,
            episode_ends=args.episode_ends,
            overwrite=args.overwrite,
            **metadata,
        )
    finally:
        if env is not None and not isinstance(env, str):
            env.close()
    print(
        f"{PROG} dataset: wrote {dataset.id!r}: {dataset.total_episodes} episodes, "
        f"{dataset.total_steps} steps, in {str(dataset.storage.data_path.parent)!r}"
    )
    print(f"next: {PROG} dataset import {dataset.id} --out demos.npz")
    return EXIT_OK


def _collect(args: argparse.Namespace) -> tuple[Any, Any]:
    """(Rollouts, env) of the expert in ``--env``, as ``shapesafe collect`` runs them."""
    import shapesafe.bc.tasks  # noqa: F401  (registers the shapesafe/... env ids)
    from shapesafe.bc import rollout
    from shapesafe.cli.collect import _expert, _make_env

    if args.seed < 0:
        raise Failure(f"--seed must be 0 or more, got {args.seed}")
    env = _make_env(args.env, 1)
    try:
        expert = _expert(args.expert, args.env)
        return rollout(expert, env, episodes=args.episodes, seed=args.seed), env
    except BaseException:
        env.close()
        raise


def _import(args: argparse.Namespace) -> int:
    from shapesafe.bc import from_minari

    out: Path = (
        args.out if args.out.suffix == ".npz" else args.out.with_name(args.out.name + ".npz")
    )
    if out.exists() and not args.overwrite:
        raise Failure(f"--out {str(out)!r} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise Failure(f"--out {str(out)!r}: no such folder {str(out.parent)!r}")
    infos = None if args.infos is None else [k for k in args.infos.split(",") if k]
    demos = from_minari(
        args.dataset,
        observation_key=args.observation_key,
        goal_key=args.goal_key,
        infos=infos,
        next_observations=args.next_observations,
    )
    path = demos.save(out)
    print(f"{PROG} dataset: {demos}\nsaved {path}\nnext: {PROG} train --data {path}")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    from shapesafe.bc._minari import require_minari

    minari = require_minari("dataset list")
    root = minari.storage.datasets_root_dir.get_dataset_path()
    found = minari.list_local_datasets()
    if not found:
        print(f"no Minari datasets in {str(root)!r}")
        return EXIT_OK
    rows = [
        [
            dataset_id,
            str(meta.get("total_episodes", "?")),
            str(meta.get("total_steps", "?")),
            _env_id(meta.get("env_spec")),
        ]
        for dataset_id, meta in found.items()
    ]
    print(f"Minari datasets in {str(root)!r}:\n")
    print(table(["id", "episodes", "steps", "env"], rows))
    return EXIT_OK


def _env_id(spec_json: Any) -> str:
    import json

    if not isinstance(spec_json, str):
        return "-"
    try:
        return str(json.loads(spec_json).get("id", "-"))
    except ValueError:
        return "-"
