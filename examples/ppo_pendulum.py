"""PPO (continuous actions) on Pendulum-v1, one file, with shapesafe's checked RL helpers.

Read it top to bottom: arguments, the agent (a checked ``DiagNormal`` policy and a value
head), the rollout, GAE, the clipped losses, the update. Rollouts are time-major
``(steps, envs)``; the advantage estimate bootstraps from the *final* observation's value
when a time limit truncates an episode (Pendulum only ever truncates, so a PPO that
treats truncation as termination learns a visibly worse value function here).

    python examples/ppo_pendulum.py                      # full run (150k steps)
    python examples/ppo_pendulum.py --total-steps 2048   # smoke test
    python examples/ppo_pendulum.py --strict             # strict broadcasting on
    SHAPESAFE_DISABLE=1 python examples/ppo_pendulum.py  # checks off: same returns

Targets gymnasium 1.x vector environments with ``AutoresetMode.SAME_STEP`` (gymnasium
>= 1.1): the step that ends an episode returns the new episode's first observation and
puts the old one in ``info["final_obs"]``. (gymnasium 0.29 and 1.x's default NEXT_STEP
mode differ: there the reset happens on the *next* call to ``step``.)

Documented result (seed 0, 150k steps): the mean return of the last 20 episodes
reaches ``THRESHOLD`` (random actions score about -1200); a full run exits 1 below it.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import time

import gymnasium as gym
import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor, nn

import shapesafe
from shapesafe.distributions import DiagNormal, Dist
from shapesafe.rl import clipped_surrogate_loss, gae, value_loss

THRESHOLD = -400.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--total-steps", type=int, default=150_000)
    p.add_argument("--num-envs", type=int, default=4)
    p.add_argument("--num-steps", type=int, default=512, help="steps per env per rollout")
    p.add_argument("--gamma", type=float, default=0.9)
    p.add_argument("--lam", type=float, default=0.95)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--minibatches", type=int, default=32)
    p.add_argument("--clip", type=float, default=0.2)
    p.add_argument("--vf-coef", type=float, default=0.5)
    p.add_argument("--max-grad-norm", type=float, default=0.5)
    p.add_argument("--reward-scale", type=float, default=0.1)
    p.add_argument("--strict", action="store_true", help="strict broadcasting in the loop")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


class Agent(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int) -> None:
        super().__init__()
        self.actor = nn.Sequential(
            nn.Linear(obs_dim, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, act_dim)
        )
        self.critic = nn.Sequential(
            nn.Linear(obs_dim, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1)
        )
        self.log_std = nn.Parameter(torch.zeros(act_dim))

    @shapesafe.check
    def policy(self, obs: Float[Tensor, "batch obs"]) -> Dist[DiagNormal, "batch", "act"]:
        loc = self.actor(obs)
        return DiagNormal(loc, self.log_std.exp().expand_as(loc))

    @shapesafe.check
    def value(self, obs: Float[Tensor, "batch obs"]) -> Float[Tensor, "batch"]:
        return self.critic(obs).squeeze(-1)


@shapesafe.check
def ppo_loss(
    agent: Agent,
    obs: Float[Tensor, "batch obs"],
    actions: Float[Tensor, "batch act"],
    old_log_prob: Float[Tensor, "batch"],
    advantages: Float[Tensor, "batch"],
    returns: Float[Tensor, "batch"],
    clip: float,
    vf_coef: float,
) -> Float[Tensor, ""]:
    log_prob = agent.policy(obs).log_prob(actions)  # one number per row: DiagNormal sums
    adv = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    return clipped_surrogate_loss(log_prob, old_log_prob, adv, clip) + vf_coef * value_loss(
        agent.value(obs), returns
    )


def train(args: argparse.Namespace) -> list[float]:
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    envs = gym.make_vec(
        "Pendulum-v1",
        num_envs=args.num_envs,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    )
    envs = gym.wrappers.vector.RecordEpisodeStatistics(envs)
    obs_dim, act_dim = envs.single_observation_space.shape[0], envs.single_action_space.shape[0]
    low = torch.as_tensor(envs.single_action_space.low)
    high = torch.as_tensor(envs.single_action_space.high)
    agent = Agent(obs_dim, act_dim)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.lr)
    T, N = args.num_steps, args.num_envs
    returns: list[float] = []
    # fast=True: the checked ops are wrapped while the loop runs (cheaper than a mode)
    strict = shapesafe.strict_broadcasting(fast=True) if args.strict else contextlib.nullcontext()

    obs_np, _ = envs.reset(seed=args.seed)
    obs = torch.as_tensor(obs_np)
    with strict:
        for _ in range(max(1, args.total_steps // (T * N))):
            # ---- rollout: (T, N) tables, time-major
            b_obs = torch.zeros(T, N, obs_dim)
            b_act = torch.zeros(T, N, act_dim)
            b_logp, b_rew, b_val, b_next_val = (torch.zeros(T, N) for _ in range(4))
            b_term, b_trunc = (torch.zeros(T, N, dtype=torch.bool) for _ in range(2))
            for t in range(T):
                with torch.no_grad():
                    pi = agent.policy(obs)
                    action = pi.sample()
                    b_obs[t], b_act[t] = obs, action
                    b_logp[t], b_val[t] = pi.log_prob(action), agent.value(obs)
                clipped = torch.maximum(torch.minimum(action, high), low)
                obs_np, reward, term, trunc, info = envs.step(clipped.numpy())
                next_obs = torch.as_tensor(obs_np)
                b_rew[t] = torch.as_tensor(reward, dtype=torch.float32) * args.reward_scale
                b_term[t], b_trunc[t] = torch.as_tensor(term), torch.as_tensor(trunc)
                # V(s_{t+1}): of the final observation where an episode just ended
                after = next_obs.clone()
                if "final_obs" in info:
                    for i in np.flatnonzero(info["_final_obs"]):
                        after[i] = torch.as_tensor(info["final_obs"][i])
                with torch.no_grad():
                    b_next_val[t] = agent.value(after)
                if "episode" in info:
                    returns.extend(float(r) for r in info["episode"]["r"][info["_episode"]])
                obs = next_obs
            advantages = gae(b_rew, b_val, b_next_val, b_term, b_trunc, args.gamma, args.lam)
            targets = advantages + b_val

            # ---- update: flat (T * N,) minibatches
            flat = (
                b_obs.reshape(T * N, obs_dim),
                b_act.reshape(T * N, act_dim),
                b_logp.reshape(-1),
                advantages.reshape(-1),
                targets.reshape(-1),
            )
            size = (T * N) // args.minibatches
            for _ in range(args.epochs):
                order = torch.as_tensor(rng.permutation(T * N))
                for start in range(0, T * N, size):
                    idx = order[start : start + size]
                    loss = ppo_loss(agent, *(x[idx] for x in flat), args.clip, args.vf_coef)
                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                    optimizer.step()
            if not args.quiet and returns:
                print(
                    f"episodes {len(returns):>4}  mean return (last 20) "
                    f"{np.mean(returns[-20:]):8.1f}"
                )
    envs.close()
    return returns


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    returns = train(args)
    final = float(np.mean(returns[-20:])) if returns else float("nan")
    print(
        f"PPO Pendulum-v1: {len(returns)} episodes, mean return of the last 20: "
        f"{final:.1f} ({time.perf_counter() - start:.0f} s)"
    )
    full_run = args.total_steps >= parse_args([]).total_steps
    return 1 if full_run and not final >= THRESHOLD else 0


if __name__ == "__main__":
    raise SystemExit(main())
