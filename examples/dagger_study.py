"""Distribution shift, and DAgger fixing it, on a gymnasium task with a scripted expert.

For one environment this script measures, on the same seeded evaluation episodes:

1. behaviour cloning with more and more expert demonstrations (the first L expert
   state-action pairs, for a range of label budgets L), and
2. DAgger started from a small set of demonstrations, one iteration at a time,

and plots the learner's return (as % of the expert's) against the expert labels each
used -- BC's labels are its demonstrations, DAgger's every state it asked the expert
about. A second plot shows *why* BC fails: from the same initial state, the BC
learner's states drift away from the expert's as time goes on; DAgger's stay close.

"% of expert" is ``(R - R_random) / (R_expert - R_random)``: 0% is a uniformly random
policy, 100% the expert (returns are negative on some tasks, e.g. Pendulum, so a plain
ratio would mislead). Every number is a mean over ``--seeds`` training seeds, each
evaluated on the same ``--eval-episodes`` seeded episodes.

    python examples/dagger_study.py --env InvertedPendulum-v5 --out docs/img/dagger
    python examples/dagger_study.py --env CartPole-v1 --quick     # a smoke run
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from shapesafe.bc import (
    CategoricalPolicy,
    Demonstrations,
    DeterministicPolicy,
    Policy,
    dagger,
    evaluate_in_env,
    fit,
    rollout,
)
from shapesafe.bc.experts import make_expert

#: Evaluation episodes start here (the dagger() default for seed 0); demonstrations
#: and DAgger's own rollouts use other seeds, so no evaluation state was ever labelled.
EVAL_SEED = 1_000_000
DEMO_SEED = 500_000


@dataclass
class Setting:
    """What one environment's study runs."""

    hidden: tuple[int, ...] = (64, 64)
    steps: int = 2000  # optimizer steps per training (BC and every DAgger retraining)
    lr: float = 1e-3
    start: int = 50  # DAgger's initial demonstrations (expert labels)
    iterations: int = 5
    episodes_per_iteration: int = 1
    beta: float | str = 0.0  # the learner alone: the start already holds expert data
    budgets: list[int] = field(default_factory=lambda: [50, 100, 250, 500, 1000, 2000])
    demo_episodes: int = 4  # expert episodes recorded for BC (budgets are prefixes)


SETTINGS: dict[str, Setting] = {
    "InvertedPendulum-v5": Setting(budgets=[50, 100, 250, 500, 1000, 2000, 4000]),
    "CartPole-v1": Setting(
        steps=1000,
        start=20,
        iterations=4,
        budgets=[20, 50, 100, 200, 300, 500, 1000],
        demo_episodes=2,
    ),
    "Pendulum-v1": Setting(start=200, budgets=[200, 400, 600, 800, 1000, 1400], iterations=6),
}


def make_policy(env: Any, s: Setting, seed: int) -> Policy:
    torch.manual_seed(seed)
    obs_dim = int(env.observation_space.shape[0])
    n = getattr(env.action_space, "n", None)
    if n is not None:
        return CategoricalPolicy(obs_dim=obs_dim, n_actions=int(n), hidden=s.hidden)
    return DeterministicPolicy(
        obs_dim=obs_dim, act_dim=int(env.action_space.shape[0]), hidden=s.hidden
    )


def score(ret: float, expert: float, rand: float) -> float:
    """% of expert return: 0 for random actions, 1 for the expert."""
    return (ret - rand) / (expert - rand)


def random_return(env: Any, episodes: int) -> float:
    space = env.action_space
    space.seed(0)
    return evaluate_in_env(lambda obs: space.sample(), env, episodes, seed=EVAL_SEED).mean_return


def run_bc(
    env: Any, demos: Demonstrations, s: Setting, seeds: int, episodes: int
) -> list[dict[str, Any]]:
    rows = []
    for budget in s.budgets:
        returns, policies = [], []
        for seed in range(seeds):
            policy = make_policy(env, s, seed)
            fit(
                policy,
                demos[torch.arange(budget)],
                steps=s.steps,
                lr=s.lr,
                seed=seed,
                progress=False,
            )
            ev = evaluate_in_env(policy, env, episodes, seed=EVAL_SEED, deterministic=True)
            returns.append(ev.mean_return)
            policies.append(policy)
        rows.append({"labels": budget, "returns": returns, "policy": policies[0]})
        print(f"  BC     labels {budget:6d}  return {np.mean(returns):9.1f}  {returns}", flush=True)
    return rows


def run_dagger(
    env: Any, expert: Any, demos: Demonstrations, s: Setting, seeds: int, episodes: int
) -> list[dict[str, Any]]:
    runs = []
    for seed in range(seeds):
        result = dagger(
            make_policy(env, s, seed), expert, env, iterations=s.iterations,
            episodes_per_iteration=s.episodes_per_iteration, beta=s.beta,
            demos=demos[torch.arange(s.start)], seed=seed, steps=s.steps, lr=s.lr,
            eval_episodes=episodes, eval_seed=EVAL_SEED, progress=False,
            on_iteration=lambda r: print(
                f"  DAgger iteration {r.iteration}  labels {r.expert_labels:6d}  "
                f"return {r.mean_return:9.1f}", flush=True),
        )  # fmt: skip
        runs.append({"records": [r.to_dict() for r in result.records], "policy": result.policy})
    return runs


def trajectories(actor: Any, env: Any, seeds: list[int], horizon: int) -> np.ndarray:
    """(episodes, horizon, obs) states from ``env.reset(seed)``; an episode that ended
    early keeps its last state (a fallen pole stays fallen)."""
    out = []
    for seed in seeds:
        r = rollout(actor, env, 1, seed=seed, deterministic=True)
        states = r.demos.observations.numpy()[:horizon]
        pad = np.repeat(states[-1:], horizon - len(states), axis=0)
        out.append(np.concatenate([states, pad]))
    return np.stack(out)


def plots(results: dict[str, Any], out: Path) -> list[Path]:
    """The two figures, drawn from the results JSON alone (``--replot`` redraws them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    env_id, ref, rnd = results["env"], results["expert_return"], results["random_return"]
    slug = env_id.lower().replace("-", "_")
    fig, ax = plt.subplots(figsize=(6, 4))
    bc = results["bc"]
    x = [r["labels"] for r in bc]
    y = np.array([[score(v, ref, rnd) for v in r["returns"]] for r in bc]) * 100
    ax.errorbar(
        x, y.mean(1), yerr=y.std(1), marker="o", capsize=3, label="BC (more demonstrations)"
    )
    runs = results["dagger"]
    labels = np.array([[rec["expert_labels"] for rec in run] for run in runs])
    dy = np.array([[rec["score"] for rec in run] for run in runs]) * 100
    ax.errorbar(labels.mean(0), dy.mean(0), xerr=labels.std(0), yerr=dy.std(0), marker="s",
                capsize=3, label="DAgger (more iterations)")  # fmt: skip
    for level, style in ((100, "-"), (95, "--"), (80, ":")):
        ax.axhline(level, color="grey", lw=0.8, ls=style)
    ax.set_xscale("log")
    ax.set_xlabel("expert labels")
    ax.set_ylabel("% of expert return")
    ax.set_title(f"{env_id}: return against expert labels\n({results['seeds']} seeds, mean ± std)",
                 fontsize=10)  # fmt: skip
    ax.legend(loc="best")
    fig.tight_layout()
    first = out / f"{slug}_return_vs_labels.png"
    fig.savefig(first, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    step = results.get("distance_step", 1)
    window = max(1, 10 // step)  # a moving average over about 10 time steps
    for name, d in results["distance"].items():
        smooth = np.convolve(d, np.ones(window) / window, mode="valid")
        ax.plot(np.arange(len(smooth)) * step, smooth, label=name)
    ax.set_xlabel("time step")
    ax.set_ylabel("distance to the expert's state")
    ax.set_yscale("log")
    ax.set_title(f"{env_id}: same initial states, learner vs expert\n"
                 f"(mean over {results['eval_episodes']} episodes; ended episodes keep their "
                 "last state)", fontsize=10)  # fmt: skip
    ax.legend()
    fig.tight_layout()
    second = out / f"{slug}_state_distance.png"
    fig.savefig(second, dpi=110)
    plt.close(fig)
    return [first, second]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", default="InvertedPendulum-v5", choices=sorted(SETTINGS))
    parser.add_argument("--seeds", type=int, default=3, help="training seeds")
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny budgets")
    parser.add_argument("--out", type=Path, default=Path("dagger_study_out"))
    parser.add_argument("--replot", action="store_true", help="redraw from --out's JSON")
    args = parser.parse_args()
    slug = args.env.lower().replace("-", "_")
    if args.replot:
        results = json.loads((args.out / f"{slug}.json").read_text())
        print("wrote " + ", ".join(map(str, plots(results, args.out))))
        return
    torch.set_num_threads(1)
    s = SETTINGS[args.env]
    if args.quick:
        s = Setting(
            hidden=(16,),
            steps=50,
            start=s.start,
            iterations=1,
            budgets=s.budgets[:2],
            demo_episodes=1,
        )
        args.seeds, args.eval_episodes = 1, 2
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    env, expert = gym.make(args.env), make_expert(args.env)

    ref = evaluate_in_env(expert, env, args.eval_episodes, seed=EVAL_SEED).mean_return
    rnd = random_return(env, args.eval_episodes)
    print(f"{args.env}: expert {ref:.1f}, random {rnd:.1f}", flush=True)
    demos = rollout(expert, env, s.demo_episodes, seed=DEMO_SEED).demos
    if len(demos) < max(s.budgets):
        raise SystemExit(f"{len(demos)} demonstration steps < the largest budget")

    bc = run_bc(env, demos, s, args.seeds, args.eval_episodes)
    runs = run_dagger(env, expert, demos, s, args.seeds, args.eval_episodes)

    # distance to the expert's states: BC with as many labels as DAgger used in all
    # (the largest budget not above it) against DAgger's final learner, seed 0
    final_labels = runs[0]["records"][-1]["expert_labels"]
    same = max(
        (r for r in bc if r["labels"] <= final_labels), key=lambda r: r["labels"], default=bc[0]
    )
    horizon = int(env.spec.max_episode_steps)
    seeds = list(range(EVAL_SEED, EVAL_SEED + args.eval_episodes))
    ex = trajectories(expert, env, seeds, horizon)
    distance = {}
    for name, actor in (
        (f"BC, {same['labels']} labels", same["policy"]),
        (f"DAgger, {final_labels} labels", runs[0]["policy"]),
    ):
        states = trajectories(actor, env, seeds, horizon)
        distance[name] = np.linalg.norm(states - ex, axis=-1).mean(0)
    results = {
        "env": args.env,
        "setting": asdict(s),
        "seeds": args.seeds,
        "eval_episodes": args.eval_episodes,
        "eval_seed": EVAL_SEED,
        "expert_return": ref,
        "random_return": rnd,
        "score": "(R - R_random) / (R_expert - R_random)",
        "bc": [
            {"labels": r["labels"], "returns": r["returns"],
             "score": float(np.mean([score(v, ref, rnd) for v in r["returns"]]))}
            for r in bc
        ],
        "dagger": [
            [{**rec, "score": score(rec["mean_return"], ref, rnd)} for rec in run["records"]]
            for run in runs
        ],
        "distance": {k: [float(v) for v in d] for k, d in distance.items()},
        "distance_step": 1,
        "seconds": time.perf_counter() - start,
    }  # fmt: skip
    path = args.out / f"{slug}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path}, " + ", ".join(map(str, plots(results, args.out))))


if __name__ == "__main__":
    main()
