"""``shapesafe compare``: train every policy family on the same expert data of a built-in
task and print one table (success, return, train time, time per action, parameters).

The recipe of each kind -- constructor options, training steps, learning rate -- lives in
:data:`RECIPES`, tuned on these tasks, so the comparison is between reasonably trained
policies rather than between default settings. ``--steps`` overrides every recipe's
step count (for quick runs). Plots go to ``--out`` (see :mod:`._compare_plots`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shapesafe._format import table
from shapesafe.bc import (
    ActSpec,
    Demonstrations,
    EnvEvaluation,
    ObsSpec,
    Policy,
    evaluate_in_env,
    fit,
    policy_kinds,
)
from shapesafe.bc.policies.registry import _REGISTRY
from shapesafe.cli._common import (
    EXIT_OK,
    Failure,
    Formatter,
    add_import_option,
    import_modules,
    positive_int,
    writable_dir,
)
from shapesafe.cli._compare_setup import RECIPES, TASKS, Recipe, Task

__all__ = [
    "RECIPES",
    "TASKS",
    "Recipe",
    "Row",
    "Score",
    "Task",
    "add_parser",
    "compare",
    "run",
    "train",
]


#: Evaluation episodes start from seeds the demonstrations never used.
EVAL_SEED_OFFSET = 100_000


@dataclass(frozen=True)
class Score:
    success_rate: float
    success_ci95: tuple[float, float]
    mean_return: float
    std_return: float

    @classmethod
    def of(cls, ev: EnvEvaluation) -> Score:
        return cls(ev.success_rate, ev.success_ci95, ev.mean_return, ev.std_return)


@dataclass
class Row:
    """One line of the table (``results.json`` holds a list of these): the policy scored
    twice over the same seeded episodes, sampling its actions (``act()``) and taking its
    most likely action (``act(deterministic=True)``)."""

    kind: str
    sampled: Score
    mode: Score | None
    train_seconds: float | None
    ms_per_action: float | None
    parameters: int | None
    options: dict[str, Any] = field(default_factory=dict)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="train every policy family on a built-in task and print one table",
        description=(
            "Train each policy kind on the same expert demonstrations of a built-in task\n"
            "and score it over seeded evaluation episodes, sampling its actions and taking\n"
            "its most likely action. Prints one table (success rates, mean returns, train\n"
            "time, time per sampled action, parameters) and writes table.md, results.json\n"
            "(with 95% intervals) and plots into --out.\n\n"
            "tasks:\n"
            + "".join(f"  {t.name:16s} {t.what}\n" for t in TASKS.values())
            + "\nexample:\n"
            "  shapesafe compare --task obstacle --out compare-obstacle\n"
            "  shapesafe compare --task hidden-velocity --kinds gaussian,gru --steps 500"
        ),
        formatter_class=Formatter,
    )
    p.add_argument("--task", choices=sorted(TASKS), default="obstacle", help="which task")
    p.add_argument(
        "--kinds",
        metavar="K1,K2",
        help="policy kinds to compare (default: the task's families; see --list-kinds)",
    )
    p.add_argument(
        "--episodes",
        type=positive_int,
        metavar="N",
        help="expert episodes (default: 200 on obstacle, 1000 on hidden-velocity)",
    )
    p.add_argument(
        "--eval-episodes",
        type=positive_int,
        default=100,
        metavar="N",
        help="seeded evaluation episodes per policy",
    )
    p.add_argument(
        "--steps",
        type=positive_int,
        metavar="N",
        help="training steps for every kind (default: each kind's tuned recipe)",
    )
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of data and weights")
    p.add_argument(
        "--diffusion-steps",
        metavar="N1,N2",
        help="also score the diffusion policy with these inference steps, e.g. 100,10,5",
    )
    p.add_argument("--out", type=Path, default="shapesafe-compare", metavar="DIR")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    add_import_option(p)


def _int_list(text: str | None, flag: str) -> list[int]:
    if not text:
        return []
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise Failure(f"{flag} expects comma-separated integers, got {text!r}") from None
    if any(v < 1 for v in values):
        raise Failure(f"{flag} expects positive integers, got {text!r}")
    return values


def _kinds(text: str | None, task: Task) -> list[str]:
    kinds = [k.strip() for k in text.split(",") if k.strip()] if text else list(task.kinds)
    unknown = [k for k in kinds if k not in _REGISTRY]
    if unknown:
        raise Failure(
            f"unknown policy kind {unknown[0]!r}; registered kinds: {', '.join(policy_kinds())}"
        )
    if not kinds:
        raise Failure("--kinds is empty")
    return list(dict.fromkeys(kinds))


def train(
    kind: str,
    recipe: Recipe,
    demos: Demonstrations,
    *,
    seed: int = 0,
    steps: int | None = None,
) -> tuple[Policy, float]:
    """A new policy of ``kind`` for ``demos``'s specs trained by ``recipe`` (``steps``
    overrides its step count and skips its finetune phase); returns it and the seconds
    training took."""
    torch.manual_seed(seed)
    obs_spec, act_spec = ObsSpec(demos.obs_shape), ActSpec(demos.act_shape)
    policy = _REGISTRY[kind].from_specs(obs_spec, act_spec, **recipe.options)
    phases = [(steps or recipe.steps, recipe.lr)]
    if recipe.finetune is not None and steps is None:
        phases.append(recipe.finetune)
    start = time.perf_counter()
    for i, (n, lr) in enumerate(phases):
        fit(
            policy,
            demos,
            steps=n,
            batch_size=recipe.batch_size,
            lr=lr,
            seed=seed + i,
            progress=False,
        )
    return policy, time.perf_counter() - start


def parameter_count(policy: Policy) -> int:
    return sum(p.numel() for p in policy.parameters())


def ms_per_action(policy: Policy, obs: np.ndarray, calls: int = 200, blocks: int = 5) -> float:
    """Milliseconds per sampled ``policy.act`` on one observation (after a warm-up): the
    fastest of ``blocks`` blocks of ``calls / blocks`` calls, so that other jobs on a
    shared machine slow one block rather than the whole measurement."""
    policy.reset()
    policy.act(obs)
    per_block = max(1, calls // blocks)
    best = math.inf
    for _ in range(blocks):
        start = time.perf_counter()
        for _ in range(per_block):
            policy.act(obs)
        best = min(best, (time.perf_counter() - start) / per_block)
    policy.reset()
    return 1e3 * best


def _row(kind: str, sampled: EnvEvaluation, mode: EnvEvaluation | None, **extra: Any) -> Row:
    return Row(
        kind,
        Score.of(sampled),
        None if mode is None else Score.of(mode),
        extra.get("train_seconds"),
        extra.get("ms_per_action"),
        extra.get("parameters"),
        extra.get("options", {}),
    )


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def compare(
    task: Task,
    kinds: Sequence[str],
    *,
    episodes: int | None = None,
    eval_episodes: int = 100,
    steps: int | None = None,
    seed: int = 0,
    diffusion_steps: Sequence[int] = (),
    quiet: bool = True,
) -> tuple[list[Row], dict[str, Policy], Demonstrations]:
    """Train and score each kind on ``task``; returns the rows, the trained policies and
    the demonstrations (the first row is the expert)."""
    episodes = episodes or task.episodes
    demos = task.demonstrations(episodes, seed)
    env = task.make_env()
    eval_seed = EVAL_SEED_OFFSET + seed
    _say(quiet, f"{task.name}: {len(demos)} expert steps in {episodes} episodes")
    expert = evaluate_in_env(task.expert(env), env, eval_episodes, eval_seed)
    rows, policies = [_row("expert", expert, expert)], {}
    start_obs, _ = env.reset(seed=eval_seed)
    for i, kind in enumerate(kinds, 1):
        recipe = RECIPES.get(kind, Recipe())
        n_steps = steps or recipe.steps
        then = recipe.finetune if steps is None else None
        plan = f"{n_steps} steps (lr {recipe.lr:g})" + (
            "" if then is None else f" then {then[0]} (lr {then[1]:g})"
        )
        _say(quiet, f"[{i}/{len(kinds)}] {kind}: training {plan}")
        policy, train_s = train(kind, recipe, demos, seed=seed, steps=steps)
        ev, ev_mode = (
            evaluate_in_env(policy, env, eval_episodes, eval_seed, deterministic=d)
            for d in (False, True)
        )
        ms = ms_per_action(policy, start_obs)
        rows.append(
            _row(
                kind,
                ev,
                ev_mode,
                train_seconds=train_s,
                ms_per_action=ms,
                parameters=parameter_count(policy),
                options={
                    **recipe.options,
                    "steps": n_steps,
                    "lr": recipe.lr,
                    "batch_size": recipe.batch_size,
                    **({} if then is None else {"finetune": list(then)}),
                },
            )
        )
        policies[kind] = policy
        _say(quiet, f"    sampled: {ev}\n    most likely: {ev_mode}")
        _say(quiet, f"    {train_s:.1f} s training, {ms:.2f} ms per action")
        if kind == "diffusion" and diffusion_steps:
            rows.extend(
                _diffusion_sweep(
                    policy, env, diffusion_steps, eval_episodes, eval_seed, start_obs, quiet
                )
            )
    return rows, policies, demos


def _diffusion_sweep(
    policy: Any,
    env: Any,
    inference_steps: Sequence[int],
    eval_episodes: int,
    eval_seed: int,
    start_obs: np.ndarray,
    quiet: bool,
) -> list[Row]:
    """The diffusion policy re-scored with fewer (or more) reverse steps, sampling only
    (the most likely action costs ``candidates`` samples, and 100 steps already take
    ~10x the default's time per action)."""
    rows = []
    default = policy.inference_steps
    try:
        for n in inference_steps:
            if n > policy.train_steps:
                _say(quiet, f"    diffusion: skipping {n} inference steps (> train_steps)")
                continue
            policy.inference_steps = n
            ev = evaluate_in_env(policy, env, eval_episodes, eval_seed)
            ms = ms_per_action(policy, start_obs)
            rows.append(
                _row(
                    f"diffusion ({n} steps)",
                    ev,
                    None,
                    ms_per_action=ms,
                    parameters=parameter_count(policy),
                    options={"inference_steps": n},
                )
            )
            _say(quiet, f"    diffusion, {n} inference steps: {ev} ({ms:.2f} ms per action)")
    finally:
        policy.inference_steps = default
    return rows


def _fmt_row(r: Row) -> list[str]:
    return [
        r.kind,
        f"{r.sampled.success_rate:.0%}",
        "-" if r.mode is None else f"{r.mode.success_rate:.0%}",
        f"{r.sampled.mean_return:.2f}",
        "-" if r.mode is None else f"{r.mode.mean_return:.2f}",
        "-" if r.train_seconds is None else f"{r.train_seconds:.1f}",
        "-" if r.ms_per_action is None else f"{r.ms_per_action:.2f}",
        "-" if r.parameters is None else f"{r.parameters:,}",
    ]


HEADER = [
    "kind",
    "success (sampled)",
    "success (most likely)",
    "return (sampled)",
    "return (most likely)",
    "train s",
    "ms/action",
    "params",
]


def markdown(rows: Sequence[Row]) -> str:
    """The table as Markdown (what the docs page includes)."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(_fmt_row(r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    import_modules(args.imports)
    task = TASKS[args.task]
    kinds = _kinds(args.kinds, task)
    sweep = _int_list(args.diffusion_steps, "--diffusion-steps")
    episodes = args.episodes or task.episodes
    writable_dir(args.out)
    if not args.no_plots:
        from shapesafe.cli._compare_plots import require_matplotlib

        require_matplotlib()  # before minutes of training
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    rows, policies, demos = compare(
        task,
        kinds,
        episodes=episodes,
        eval_episodes=args.eval_episodes,
        steps=args.steps,
        seed=args.seed,
        diffusion_steps=sweep,
        quiet=args.quiet,
    )
    print(
        f"{task.name}: {len(demos)} expert steps ({episodes} episodes); each policy "
        f"scored over {args.eval_episodes} seeded episodes, sampling its actions and "
        "taking its most likely action"
    )
    print(table(HEADER, [_fmt_row(r) for r in rows]))
    (args.out / "table.md").write_text(markdown(rows), encoding="utf-8")
    payload = {
        "task": task.name,
        "rows": [asdict(r) for r in rows],
    }
    (args.out / "results.json").write_text(
        json.dumps(payload, indent=2, default=_jsonable), encoding="utf-8"
    )
    if not args.no_plots:
        from shapesafe.cli._compare_plots import plot_task

        for path in plot_task(task, policies, args.out, seed=EVAL_SEED_OFFSET + args.seed):
            print(f"wrote {path}")
    return EXIT_OK


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple):
        return list(value)
    return str(value)
