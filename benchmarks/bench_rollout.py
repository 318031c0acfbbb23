"""Environment steps per second through ``shapesafe.bc.rollout`` vs a bare gymnasium loop.

Both run the same policy (an MLP with (64, 64) hidden units, most likely action) in the
same env for the same steps, timed in one run with interleaved repeats. Each round runs
every variant once, back to back; the ratio reported is the median over rounds of the
per-round ratio (the two runs of a round see the same machine load, which on a shared
machine drifts more between rounds than within one), beside each variant's fastest
round. Settings:

* CartPole-v1 (``CategoricalPolicy``) and Pendulum-v1 (``GaussianPolicy``), single env:
  the bare loop is ``env.reset(seed=...)`` / ``env.step`` with the policy called the way
  a hand-written evaluation script calls it -- ``torch.no_grad()`` around
  ``policy.predict(torch.as_tensor(obs[None]))`` -- and, beside it (not the target), the
  same loop through the public ``policy.act(obs, deterministic=True)``;
* the same two envs as a ``SyncVectorEnv`` of 8 sub-envs: the bare loop steps the vector
  env (autoreset, no per-episode seeding) for as many vector steps as the rollout took,
  calling the policy once per step on the ``(8, obs)`` batch -- and the target is
  measured against the bare vector loop that runs the *same episodes*: every new
  episode from its own seeded masked reset, as an evaluation that a reviewer can trust
  must (``bare_vector_seeded``). A seeded reset builds a new generator (about 35 us for
  CartPole), which the unseeded loop never pays; with ~10-step episodes (an untrained
  CartPole policy) that is most of the difference between the two bare loops, so both
  ratios are printed.

Target (issue 13): rollout's steps per second >= 0.8 of the bare loop's (ratio printed as
bare time / rollout time, so higher is better and 1.0 is parity). What rollout does
beyond the bare loop: the numpy boundary (``from_numpy`` / ``to_numpy`` copies), a copy
of each observation, action-format checks, and recording every step (observations,
actions, rewards, terminated/truncated, episode ids), assembled into Demonstrations at
the end -- the bare loop records nothing.

Run: python benchmarks/bench_rollout.py [--episodes N] [--repeats R]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import time

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import SyncVectorEnv

from shapesafe.bc import CategoricalPolicy, GaussianPolicy, Policy, rollout

TARGET = 0.8
HIDDEN = (64, 64)


def make_policy(env_id: str) -> Policy:
    torch.manual_seed(0)
    if env_id == "CartPole-v1":
        return CategoricalPolicy(obs_dim=4, n_actions=2, hidden=HIDDEN)
    return GaussianPolicy(obs_dim=3, act_dim=1, hidden=HIDDEN)


def bare_single(policy: Policy, env: Any, episodes: int, seed: int, public_act: bool) -> int:
    """The hand-written loop: no recording, no checks. Returns the steps taken."""
    steps = 0
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    policy.eval()
    with torch.no_grad():
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            done = False
            while not done:
                if public_act:
                    a = policy.act(obs, deterministic=True)
                else:
                    a = policy.predict(torch.as_tensor(obs[None])).numpy()[0]
                obs, _, terminated, truncated, _ = env.step(int(a) if discrete else a)
                done = terminated or truncated
                steps += 1
    return steps


def bare_vector(policy: Policy, env: Any, vector_steps: int, seed: int) -> int:
    obs, _ = env.reset(seed=seed)
    policy.eval()
    with torch.no_grad():
        for _ in range(vector_steps):
            a = policy.predict(torch.as_tensor(obs)).numpy()
            obs, *_ = env.step(a)
    return vector_steps * env.num_envs


def bare_vector_seeded(policy: Policy, env: Any, episodes: int, seed: int) -> int:
    """The bare vector loop that runs the *same episodes* as an honest evaluation: each
    new episode starts from its own seeded reset (``reset(seed=[...], options=
    {"reset_mask": ...})``, plain gymnasium calls), as rollout must; nothing recorded."""
    n = env.num_envs
    first = min(n, episodes)
    active = np.zeros(n, dtype=bool)
    active[:first] = True
    obs, _ = env.reset(seed=[seed + j if j < first else None for j in range(n)])
    started, finished, steps = first, 0, 0
    policy.eval()
    with torch.no_grad():
        while finished < episodes:
            a = policy.predict(torch.as_tensor(obs)).numpy()
            next_obs, _, terminated, truncated, _ = env.step(a)
            steps += n
            ended = np.logical_or(terminated, truncated)
            if not ended.any():
                obs = next_obs
                continue
            seeds: list[int | None] = [None] * n
            mask = np.zeros(n, dtype=bool)
            for j in np.flatnonzero(ended & active):
                finished += 1
                active[j] = started < episodes
                if active[j]:
                    seeds[j], mask[j] = seed + started, True
                    started += 1
            if finished < episodes and mask.any():
                obs, _ = env.reset(seed=seeds, options={"reset_mask": mask})
            else:
                obs = next_obs
    return steps


class CountSteps:
    """Counts a vector env's step() calls (to give the bare loop as many)."""

    def __init__(self, env: Any) -> None:
        self.env, self.calls = env, 0
        self._step = env.step

    def __enter__(self) -> CountSteps:
        def step(a: Any) -> Any:
            self.calls += 1
            return self._step(a)

        self.env.step = step
        return self

    def __exit__(self, *exc: Any) -> None:
        self.env.step = self._step


def timed(variants: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    """Seconds per run of each variant, one run of each per round (after one warm-up)."""
    for fn in variants.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def bench_single(env_id: str, episodes: int, repeats: int) -> float:
    policy = make_policy(env_id)
    env = gym.make(env_id)
    steps = int(rollout(policy, env, episodes, seed=0, deterministic=True).lengths.sum())
    assert bare_single(policy, env, episodes, 0, False) == steps  # the same steps
    variants: dict[str, Callable[[], Any]] = {
        "rollout": lambda: rollout(policy, env, episodes, seed=0, deterministic=True),
        "bare loop (torch forward)": lambda: bare_single(policy, env, episodes, 0, False),
        "bare loop (policy.act)": lambda: bare_single(policy, env, episodes, 0, True),
    }
    times = timed(variants, repeats)
    return _print(f"{env_id}, single env, {episodes} episodes = {steps} steps", times, steps)


def bench_vector(env_id: str, n: int, episodes: int, repeats: int) -> float:
    policy = make_policy(env_id)
    env = SyncVectorEnv([lambda: gym.make(env_id)] * n)
    with CountSteps(env) as counter:
        r = rollout(policy, env, episodes, seed=0, deterministic=True)
    vector_steps = counter.calls
    assert bare_vector_seeded(policy, env, episodes, 0) == vector_steps * n  # same steps
    variants: dict[str, Callable[[], Any]] = {
        "rollout": lambda: rollout(policy, env, episodes, seed=0, deterministic=True),
        "bare loop (seeded episodes)": lambda: bare_vector_seeded(policy, env, episodes, 0),
        "bare loop (torch forward)": lambda: bare_vector(policy, env, vector_steps, 0),
    }
    times = timed(variants, repeats)
    title = (
        f"{env_id}, SyncVectorEnv n={n}, {episodes} episodes = {int(r.lengths.sum())} "
        f"kept steps, {vector_steps} vector steps"
    )
    return _print(title, times, vector_steps * n, base="bare loop (seeded episodes)")


def _print(
    title: str,
    times: dict[str, list[float]],
    steps: int,
    base: str = "bare loop (torch forward)",
) -> float:
    baseline = np.array(times[base])
    print(f"\n{title}")
    print(f"  {'variant':<28} {'best ms':>9} {'env steps/s':>12} {'vs bare (median)':>17}")
    for name, ts in times.items():
        t = np.array(ts)
        print(
            f"  {name:<28} {t.min() * 1e3:9.1f} {steps / t.min():12.0f} "
            f"{np.median(baseline / t):17.2f}"
        )
    ratio = float(np.median(baseline / np.array(times["rollout"])))
    best = baseline.min() / min(times["rollout"])
    print(
        f"  rollout / {base} steps per second: median {ratio:.2f}, best rounds "
        f"{best:.2f} (target >= {TARGET})"
    )
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 50 CartPole episodes (~10 steps each with an untrained policy) amortise rollout's
    # fixed cost per call (checks, eval mode, building Demonstrations: ~0.5 ms) the way a
    # real evaluation of 100 episodes does.
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, numpy {np.__version__}, gymnasium {gym.__version__}")
    ratios = {
        "CartPole single": bench_single("CartPole-v1", args.episodes, args.repeats),
        "Pendulum single": bench_single("Pendulum-v1", args.episodes // 10 or 1, args.repeats),
        "CartPole vector n=8": bench_vector("CartPole-v1", 8, args.episodes * 2, args.repeats),
        "Pendulum vector n=8": bench_vector(
            "Pendulum-v1", 8, args.episodes // 2 or 1, args.repeats
        ),
    }
    print("\nrollout / bare loop, env steps per second:")
    for name, ratio in ratios.items():
        print(f"  {name:<22} {ratio:.2f}  {'ok' if ratio >= TARGET else 'MISSED'}")
    return 0 if all(r >= TARGET for r in ratios.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
