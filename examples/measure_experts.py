"""Measure every registered scripted expert over seeded episodes.

Each expert runs ``--episodes`` episodes of its env (episode i from ``reset(seed=i)``,
the same as ``rollout(expert, gymnasium.make(id), episodes=100, seed=0)``); prints a
table of return mean ± std, min, max and episode length, and writes the numbers to
``docs/img/experts/experts.json``, which docs/experts.md quotes.

    python examples/measure_experts.py                      # all, 100 episodes each
    python examples/measure_experts.py --only CartPole-v1 --episodes 10
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from shapesafe.bc import rollout
from shapesafe.bc.experts import expert_ids, make_expert

OUT = Path(__file__).resolve().parent.parent / "docs" / "img" / "experts" / "experts.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--episodes", type=int, default=100, help="episodes per expert")
    p.add_argument("--seed", type=int, default=0, help="episode i starts from seed + i")
    p.add_argument("--only", nargs="*", default=None, metavar="ID", help="these env ids only")
    p.add_argument("--out", type=Path, default=OUT, help="JSON file to write")
    p.add_argument("--num-envs", type=int, default=1, help="vector env size (same episodes)")
    return p.parse_args(argv)


def measure(env_id: str, episodes: int, seed: int, num_envs: int) -> dict[str, Any]:
    """Roll out the registered expert of ``env_id``; its return statistics."""
    expert = make_expert(env_id)
    env = (
        gym.make(env_id)
        if num_envs == 1
        else gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync")
    )
    r = rollout(expert, env, episodes=episodes, seed=seed)
    env.close()
    returns = r.returns
    return {
        "expert": type(expert).__name__,
        "episodes": episodes,
        "seed": seed,
        "mean": float(returns.mean()),
        "std": float(returns.std(ddof=1)) if episodes > 1 else 0.0,
        "min": float(returns.min()),
        "max": float(returns.max()),
        "mean_length": float(r.lengths.mean()),
    }


def main(argv: list[str] | None = None) -> dict[str, dict[str, Any]]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    ids = args.only if args.only else list(expert_ids())
    results = {env_id: measure(env_id, args.episodes, args.seed, args.num_envs) for env_id in ids}
    width = max(len(i) for i in ids)
    head = f"{'env':<{width}}  {'expert':<26}  {'return (mean ± std)':>20}"
    print(f"{head}  {'min':>8}  {'length':>7}")
    for env_id, m in results.items():
        stat = f"{m['mean']:.1f} ± {m['std']:.1f}"
        line = f"{env_id:<{width}}  {m['expert']:<26}  {stat:>20}  {m['min']:>8.1f}"
        print(f"{line}  {m['mean_length']:>7.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(args.out.read_text()) if args.out.exists() else {}
    experts = {**old.get("experts", {}), **results}  # --only updates those ids, keeps the rest
    meta = {
        "gymnasium": gym.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "command": "python examples/measure_experts.py",
    }
    args.out.write_text(json.dumps({"meta": meta, "experts": experts}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
