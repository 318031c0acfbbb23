"""Goal-conditioned BC with and without hindsight relabelling, on goals never commanded.

The demonstrations (``goal_reach_demonstrations``): a wandering expert, started anywhere
in the square, sent to goals in one corner disk. Every policy family is trained four
ways on the same episodes -- on the commanded goals, relabelled with the episode's final
state (``"final"``, originals kept), relabelled with a later state of the same episode
(``strategy="future"``, k=4, originals kept), and with the relabelled rows alone
(``keep_original=False``) -- and scored on seeded episodes whose goals are
drawn anywhere in the square (the unseen goals), and on goals from the corner (the
commanded region). Success rates with Wilson 95% intervals; JSON and plots in --out.

    python examples/gcbc_study.py            # the numbers in docs/goal-conditioned.md
    python examples/gcbc_study.py --quick    # a smoke run (two families, short training)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shapesafe.bc import (
    Demonstrations,
    FitResult,
    Policy,
    build_policy,
    evaluate_goal_reaching,
    fit,
    goal_rollout,
    relabel_goals,
)
from shapesafe.bc.tasks import GOAL_REGION, GoalReachEnv, goal_reach_demonstrations

# the policy families, each small enough for a CPU run, conditioned on a 2-d goal
FAMILIES: dict[str, dict[str, Any]] = {
    "deterministic": {"kind": "deterministic", "hidden": [128, 128]},
    "gaussian": {"kind": "gaussian", "hidden": [128, 128]},
    "mixture": {"kind": "mixture", "hidden": [128, 128], "components": 3},
    "diffusion": {"kind": "diffusion", "hidden": [128, 128], "train_steps": 50},
    "cvae": {"kind": "cvae", "hidden": [128, 128], "latent_dim": 2},
}
CONDITIONS = (
    "commanded goals",
    "relabelled: final",
    "relabelled: future",
    "future, no originals",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--episodes", type=int, default=200, help="demonstration episodes")
    parser.add_argument("--steps", type=int, default=3000, help="training steps per policy")
    parser.add_argument("--eval-episodes", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=2, help="training seeds per cell")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--out", default="docs/img/gcbc")
    parser.add_argument(
        "--replot", action="store_true", help="redraw success.png from --out/results.json"
    )
    if parser.parse_args(argv).quick:  # smaller defaults; flags given still win
        parser.set_defaults(
            episodes=40,
            steps=300,
            eval_episodes=50,
            seeds=1,
            families=["deterministic", "gaussian"],
        )
    return parser.parse_args(argv)


def datasets(demos: Demonstrations) -> dict[str, Demonstrations]:
    """The same episodes, four ways (seeded relabelling)."""
    return {
        "commanded goals": demos,
        "relabelled: final": relabel_goals(demos, strategy="final", k=1, seed=0),
        "relabelled: future": relabel_goals(demos, strategy="future", k=4, seed=0),
        "future, no originals": relabel_goals(
            demos, strategy="future", k=4, seed=0, keep_original=False
        ),
    }


def train(family: str, data: Demonstrations, steps: int, seed: int) -> tuple[Policy, FitResult]:
    torch.manual_seed(seed)
    policy = build_policy({**FAMILIES[family], "obs_dim": 2, "act_dim": 2, "goal_dim": 2})
    result = fit(policy, data, steps=steps, batch_size=256, lr=1e-3, seed=seed, progress=False)
    return policy, result


def score(policy: Policy, episodes: int) -> dict[str, Any]:
    """Success on goals anywhere (unseen) and on goals from the commanded corner,
    deterministic actions, evaluation seeds far from the demonstrations' (0..)."""
    out = {}
    for name, env in (
        ("unseen", GoalReachEnv()),
        ("commanded", GoalReachEnv(goal_region=GOAL_REGION)),
    ):
        r = evaluate_goal_reaching(policy, env, episodes, seed=100_000, deterministic=True)
        out[name] = {
            "success": r.success_rate,
            "ci95": list(r.success_ci95),
            "wins": round(r.success_rate * r.episodes),
            "episodes": r.episodes,
        }
    return out


def wilson(wins: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson 95% interval of a success rate (what evaluate_goal_reaching reports)."""
    p = wins / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def pooled(cells: list[dict[str, Any]], which: str) -> dict[str, Any]:
    """Success over every seed's episodes together, with its Wilson interval."""
    wins = sum(c[which]["wins"] for c in cells)
    n = sum(c[which]["episodes"] for c in cells)
    return {"success": wins / n, "ci95": list(wilson(wins, n)), "episodes": n}


def plot(results: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = list(results["families"])
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / len(CONDITIONS)
    colours = ("#b0b0b0", "#8fb3d9", "#1f5fa8", "#0b2f5e")
    for j, (condition, colour) in enumerate(zip(CONDITIONS, colours, strict=True)):
        cells = [results["families"][f][condition]["unseen"] for f in families]
        rate = np.array([c["success"] for c in cells])
        # clipped at 0: at 100% the interval's top is 1.0 up to float rounding
        lo = np.maximum(rate - np.array([c["ci95"][0] for c in cells]), 0)
        hi = np.maximum(np.array([c["ci95"][1] for c in cells]) - rate, 0)
        x = np.arange(len(families)) + (j - (len(CONDITIONS) - 1) / 2) * width
        ax.bar(x, rate, width, yerr=[lo, hi], capsize=3, color=colour, label=condition)
    ax.set_xticks(np.arange(len(families)), families)
    ax.set_ylim(0, 1.2)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("success on unseen goals")
    episodes = results["families"][families[0]][CONDITIONS[0]]["unseen"]["episodes"]
    ax.set_title(f"GoalReach: goals anywhere, demonstrations to one corner ({episodes} episodes)")
    ax.legend(loc="upper center", ncol=len(CONDITIONS), fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "success.png", dpi=120)
    plt.close(fig)


def plot_paths(policies: dict[str, Policy], out: Path) -> None:
    """Where the deterministic policy goes for a few unseen goals, trained on commanded
    goals vs relabelled ones."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(policies), figsize=(4 * len(policies), 4))
    env = GoalReachEnv()
    for ax, (name, policy) in zip(np.atleast_1d(axes), policies.items(), strict=True):
        r = goal_rollout(policy, env, 12, seed=100_000, deterministic=True)
        ids = r.demos.episode_ids.numpy()  # type: ignore[union-attr]
        obs, goals = r.demos.observations.numpy(), r.demos.goals.numpy()  # type: ignore[union-attr]
        for i in range(r.episodes):
            rows = ids == i
            colour = "tab:blue" if r.successes[i] else "tab:red"
            path = np.vstack([obs[rows], r.final_observations[i : i + 1]])  # type: ignore[index]
            ax.plot(path[:, 0], path[:, 1], color=colour, lw=1)
            ax.plot(*goals[rows][0], marker="*", color=colour, ms=10)
        cx, cy, radius = GOAL_REGION
        ax.add_patch(plt.Circle((cx, cy), radius, color="0.85", zorder=0))
        ax.set_xlim(-1, 1), ax.set_ylim(-1, 1), ax.set_aspect("equal")
        ax.set_title(f"{name}: {int(r.successes.sum())}/{r.episodes} reached", fontsize=9)
    fig.suptitle("deterministic policy, 12 unseen goals (stars; grey: the commanded corner)")
    fig.tight_layout()
    fig.savefig(out / "paths.png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.replot:
        saved: dict[str, Any] = json.loads((out / "results.json").read_text())
        plot(saved, out)
        return saved
    demos = goal_reach_demonstrations(args.episodes, seed=0)
    data = datasets(demos)
    results: dict[str, Any] = {
        "command": "python examples/gcbc_study.py" + (" --quick" if args.quick else ""),
        "demonstrations": {"episodes": args.episodes, "rows": len(demos)},
        "rows": {name: len(d) for name, d in data.items()},
        "steps": args.steps,
        "seeds": args.seeds,
        "families": {},
    }
    kept: dict[str, Policy] = {}
    start = time.perf_counter()
    for family in args.families:
        results["families"][family] = {}
        for condition, d in data.items():
            cells = []
            for seed in range(args.seeds):
                policy, _ = train(family, d, args.steps, seed)
                cells.append(score(policy, args.eval_episodes))
                if family == "deterministic" and seed == 0 and condition != "relabelled: final":
                    kept[condition] = policy
            cell = {which: pooled(cells, which) for which in ("unseen", "commanded")}
            results["families"][family][condition] = cell
            u, c = cell["unseen"], cell["commanded"]
            print(
                f"{family:13s} {condition:20s} unseen {u['success']:6.1%} "
                f"[{u['ci95'][0]:.0%}, {u['ci95'][1]:.0%}]  commanded {c['success']:6.1%}  "
                f"({time.perf_counter() - start:.0f}s)",
                flush=True,
            )
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, out)
    if kept:
        plot_paths(kept, out)
    return results


if __name__ == "__main__":
    main()
