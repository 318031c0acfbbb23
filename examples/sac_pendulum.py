"""SAC on Pendulum-v1, one file, with shapesafe's checked RL helpers and distributions.

Read it top to bottom: arguments, the actor (a checked ``TanhNormal``), twin critics, a
typed replay buffer, the two losses, the loop. Shapes are checked at every function
boundary: the critic's ``(B, 1)`` output meeting ``(B,)`` rewards, or a per-coordinate
log-prob where one number per action is meant, is an error at the line that made it.

    python examples/sac_pendulum.py                      # full run (10k steps)
    python examples/sac_pendulum.py --total-steps 400    # smoke test
    python examples/sac_pendulum.py --strict             # strict broadcasting on
    SHAPESAFE_DISABLE=1 python examples/sac_pendulum.py  # checks off: same returns

Documented result (seed 0, 10k steps): the mean return of the last 10 episodes reaches
``THRESHOLD`` (random actions score about -1200); a full run exits 1 below it.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import time
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch
from jaxtyping import Bool, Float
from torch import Tensor, nn

import shapesafe
from shapesafe.distributions import Dist, TanhNormal
from shapesafe.rl import polyak_update, soft_q_target

THRESHOLD = -300.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--total-steps", type=int, default=10_000)
    p.add_argument("--buffer-size", type=int, default=100_000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--tau", type=float, default=0.005)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--learning-starts", type=int, default=1_000)
    p.add_argument("--strict", action="store_true", help="strict broadcasting in the loop")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def mlp(inp: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inp, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, out)
    )


class Actor(nn.Module):
    """A squashed Gaussian in the environment's action bounds."""

    def __init__(self, obs_dim: int, act_dim: int, low: np.ndarray, high: np.ndarray) -> None:
        super().__init__()
        self.net = mlp(obs_dim, 2 * act_dim)
        self.act_dim = act_dim
        # per-action buffers of shape (act,), broadcast against (batch, act) batches
        self.register_buffer("action_scale", torch.as_tensor((high - low) / 2, dtype=torch.float32))
        self.register_buffer("action_bias", torch.as_tensor((high + low) / 2, dtype=torch.float32))

    @shapesafe.check
    def forward(self, obs: Float[Tensor, "batch obs"]) -> Dist[TanhNormal, "batch", "act"]:
        loc, log_std = self.net(obs).split(self.act_dim, dim=-1)
        return TanhNormal(loc, log_std.clamp(-5.0, 2.0).exp())

    @shapesafe.check
    def sample(
        self, obs: Float[Tensor, "batch obs"]
    ) -> tuple[Float[Tensor, "batch act"], Float[Tensor, "batch"]]:
        """An action in the env's bounds and its log-probability (one number per row)."""
        pi = self(obs)
        squashed = pi.rsample()
        log_prob = pi.log_prob(squashed) - torch.log(self.action_scale).sum()
        return squashed * self.action_scale + self.action_bias, log_prob

    @shapesafe.check
    def deterministic(self, obs: Float[Tensor, "batch obs"]) -> Float[Tensor, "batch act"]:
        return self(obs).mode * self.action_scale + self.action_bias


class Critic(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int) -> None:
        super().__init__()
        self.net = mlp(obs_dim + act_dim, 1)

    @shapesafe.check
    def forward(
        self, obs: Float[Tensor, "batch obs"], act: Float[Tensor, "batch act"]
    ) -> Float[Tensor, "batch"]:
        return self.net(torch.cat([obs, act], dim=-1)).squeeze(-1)


class Transitions(NamedTuple):
    obs: Float[Tensor, "batch obs"]
    actions: Float[Tensor, "batch act"]
    rewards: Float[Tensor, "batch"]
    next_obs: Float[Tensor, "batch obs"]
    terminated: Bool[Tensor, "batch"]


class ReplayBuffer:
    def __init__(self, capacity: int, obs_dim: int, act_dim: int) -> None:
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.actions = np.zeros((capacity, act_dim), np.float32)
        self.rewards = np.zeros(capacity, np.float32)
        self.terminated = np.zeros(capacity, np.bool_)
        self.capacity, self.size, self.pos = capacity, 0, 0

    def add(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        reward: float,
        next_obs: np.ndarray,
        terminated: bool,
    ) -> None:
        i = self.pos
        self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_obs[i], self.terminated[i] = next_obs, terminated
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    @shapesafe.check
    def sample(self, batch_size: int, rng: np.random.Generator) -> Transitions:
        idx = rng.integers(0, self.size, batch_size)
        return Transitions(
            *(
                torch.from_numpy(a[idx])
                for a in (self.obs, self.actions, self.rewards, self.next_obs, self.terminated)
            )
        )


@shapesafe.check
def critic_loss(
    actor: Actor,
    q1: Critic,
    q2: Critic,
    q1_target: Critic,
    q2_target: Critic,
    batch: Transitions,
    gamma: float,
    alpha: Float[Tensor, ""],
) -> Float[Tensor, ""]:
    with torch.no_grad():
        next_actions, next_log_prob = actor.sample(batch.next_obs)
        target = soft_q_target(
            batch.rewards,
            q1_target(batch.next_obs, next_actions),
            q2_target(batch.next_obs, next_actions),
            next_log_prob,
            batch.terminated,
            gamma,
            alpha,
        )
    mse = nn.functional.mse_loss
    return mse(q1(batch.obs, batch.actions), target) + mse(q2(batch.obs, batch.actions), target)


@shapesafe.check
def actor_loss(
    actor: Actor, q1: Critic, q2: Critic, obs: Float[Tensor, "batch obs"], alpha: Float[Tensor, ""]
) -> tuple[Float[Tensor, ""], Float[Tensor, "batch"]]:
    actions, log_prob = actor.sample(obs)
    q = q1(obs, actions).minimum(q2(obs, actions))
    return (alpha * log_prob - q).mean(), log_prob


def train(args: argparse.Namespace) -> list[float]:
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    env = gym.make("Pendulum-v1")
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    low, high = env.action_space.low, env.action_space.high
    actor = Actor(obs_dim, act_dim, low, high)
    q1, q2, q1_target, q2_target = (Critic(obs_dim, act_dim) for _ in range(4))
    polyak_update(q1_target, q1, tau=1.0)
    polyak_update(q2_target, q2, tau=1.0)
    q_opt = torch.optim.Adam([*q1.parameters(), *q2.parameters()], lr=args.lr)
    pi_opt = torch.optim.Adam(actor.parameters(), lr=args.lr)
    log_alpha = torch.zeros(1, requires_grad=True)  # a (1,) parameter, as SAC codebases keep it
    alpha_opt = torch.optim.Adam([log_alpha], lr=args.lr)
    target_entropy = -float(act_dim)
    buffer = ReplayBuffer(args.buffer_size, obs_dim, act_dim)
    returns: list[float] = []
    # fast=True: the checked ops are wrapped while the loop runs (cheaper than a mode)
    strict = shapesafe.strict_broadcasting(fast=True) if args.strict else contextlib.nullcontext()

    obs, _ = env.reset(seed=args.seed)
    env.action_space.seed(args.seed)
    episode_return = 0.0
    with strict:
        for step in range(args.total_steps):
            if step < args.learning_starts:
                action = env.action_space.sample()
            else:
                with torch.no_grad():
                    action = actor.sample(torch.as_tensor(obs)[None])[0][0].numpy()
            next_obs, reward, terminated, truncated, _ = env.step(action)
            buffer.add(obs, action, float(reward), next_obs, bool(terminated))
            episode_return += float(reward)
            obs = next_obs
            if terminated or truncated:  # Pendulum only truncates: targets still bootstrap
                returns.append(episode_return)
                if not args.quiet:
                    print(
                        f"step {step + 1:>6}  episode {len(returns):>3}  "
                        f"return {episode_return:8.1f}"
                    )
                obs, _ = env.reset()
                episode_return = 0.0

            if step >= args.learning_starts:
                batch = buffer.sample(args.batch_size, rng)
                alpha = log_alpha.exp().detach().squeeze(0)
                loss_q = critic_loss(actor, q1, q2, q1_target, q2_target, batch, args.gamma, alpha)
                q_opt.zero_grad()
                loss_q.backward()
                q_opt.step()
                loss_pi, log_prob = actor_loss(actor, q1, q2, batch.obs, alpha)
                pi_opt.zero_grad()
                loss_pi.backward()
                pi_opt.step()
                # the temperature loss: a (1,) parameter against (batch,) log-probs
                loss_alpha = (-log_alpha.exp() * (log_prob.detach() + target_entropy)).mean()
                alpha_opt.zero_grad()
                loss_alpha.backward()
                alpha_opt.step()
                polyak_update(q1_target, q1, args.tau)
                polyak_update(q2_target, q2, args.tau)
    env.close()
    return returns


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    returns = train(args)
    final = float(np.mean(returns[-10:])) if returns else float("nan")
    print(
        f"SAC Pendulum-v1: {len(returns)} episodes, mean return of the last 10: "
        f"{final:.1f} ({time.perf_counter() - start:.0f} s)"
    )
    full_run = args.total_steps >= parse_args([]).total_steps
    return 1 if full_run and not final >= THRESHOLD else 0


if __name__ == "__main__":
    raise SystemExit(main())
