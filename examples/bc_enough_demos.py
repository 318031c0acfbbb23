"""Plain BC with enough demonstrations recovers the scripted expert (CartPole, Pendulum).

For each env: roll out the registered expert for N seeded episodes, clone it with a
deterministic MLP (CartPole: ``CategoricalPolicy``; Pendulum: ``DeterministicPolicy``),
and score the clone over 100 fresh seeded episodes (seeds 10_000+, never seen in
training). "% of expert" is ``(R - R_random) / (R_expert - R_random)`` -- the same
scale as docs/dagger.md, so that negative returns (Pendulum) read correctly -- with
R_random the mean return of uniformly random actions over the same evaluation seeds.

Run:   python examples/bc_enough_demos.py            (full: a few minutes on 2 cores)
       python examples/bc_enough_demos.py --quick    (a smoke run)
Writes docs/img/experts/bc_enough_demos.json unless --out is given.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

from shapesafe.bc import (
    CategoricalPolicy,
    DeterministicPolicy,
    Policy,
    evaluate_in_env,
    fit,
    rollout,
)
from shapesafe.bc.experts import make_expert

EVAL_SEED = 10_000
OUT = Path(__file__).resolve().parent.parent / "docs" / "img" / "experts" / "bc_enough_demos.json"

#: env id -> (demonstration episode budgets, training steps)
SETTINGS: dict[str, tuple[tuple[int, ...], int]] = {
    "CartPole-v1": ((2, 10, 50), 3000),
    "Pendulum-v1": ((10, 50, 200), 6000),
}


def make_policy(env_id: str) -> Policy:
    if env_id == "CartPole-v1":
        return CategoricalPolicy(obs_dim=4, n_actions=2, hidden=(64, 64))
    return DeterministicPolicy(obs_dim=3, act_dim=1, hidden=(128, 128))


def random_return(env_id: str, episodes: int) -> float:
    env = gym.make(env_id)
    env.action_space.seed(0)
    space = env.action_space

    def act(obs: Any) -> Any:
        return space.sample()

    return float(rollout(act, env, episodes, seed=EVAL_SEED).returns.mean())


def study(env_id: str, budgets: tuple[int, ...], steps: int, eval_episodes: int) -> dict[str, Any]:
    env = gym.make(env_id)
    expert = evaluate_in_env(make_expert(env_id), env, eval_episodes, seed=EVAL_SEED)
    r_random = random_return(env_id, eval_episodes)
    rows = []
    for n in budgets:
        demos = rollout(make_expert(env_id), env, n, seed=0).demos
        torch.manual_seed(0)
        policy = make_policy(env_id)
        start = time.perf_counter()
        fit(policy, demos, steps=steps, batch_size=256, lr=1e-3, seed=0, progress=False)
        seconds = time.perf_counter() - start
        clone = evaluate_in_env(policy, env, eval_episodes, seed=EVAL_SEED, deterministic=True)
        pct = (clone.mean_return - r_random) / (expert.mean_return - r_random)
        rows.append(
            {
                "demo_episodes": n,
                "labels": len(demos),
                "mean_return": clone.mean_return,
                "std_return": clone.std_return,
                "return_ci95": list(clone.return_ci95),
                "pct_of_expert": pct,
                "train_seconds": seconds,
            }
        )
        print(
            f"{env_id:<14} {n:>4} episodes ({len(demos):>6} labels): return "
            f"{clone.mean_return:8.1f} ± {clone.std_return:6.1f}  "
            f"CI [{clone.return_ci95[0]:.1f}, {clone.return_ci95[1]:.1f}]  "
            f"{100 * pct:5.1f}% of expert  ({seconds:.0f} s training)"
        )
    return {
        "env": env_id,
        "expert_return": expert.mean_return,
        "expert_std": expert.std_return,
        "random_return": r_random,
        "eval_episodes": eval_episodes,
        "eval_seeds": [EVAL_SEED, EVAL_SEED + eval_episodes - 1],
        "training_steps": steps,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (tiny budgets)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results = []
    for env_id, (budgets, steps) in SETTINGS.items():
        if args.quick:
            budgets, steps = budgets[:1], 50
        results.append(study(env_id, budgets, steps, 5 if args.quick else 100))
        r = results[-1]
        print(
            f"  expert {r['expert_return']:.1f} ± {r['expert_std']:.1f}, "
            f"random {r['random_return']:.1f}"
        )
    out = args.out or (None if args.quick else OUT)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {out}")
    best = [max(row["pct_of_expert"] for row in r["rows"]) for r in results]
    return 0 if args.quick or all(b >= 0.95 for b in best) else 1


if __name__ == "__main__":
    raise SystemExit(main())
