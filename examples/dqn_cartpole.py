"""DQN on CartPole-v1, one file, with shapesafe's checked RL helpers.

Read it top to bottom: arguments, the Q-network, a typed replay buffer, the loss, the
loop. Every function boundary that carries a batch is annotated and checked, so a
``(B, 1)`` column meeting a ``(B,)`` one -- the classic silent DQN bug -- is an error at
the line that made it. ``--strict`` also refuses implicit broadcasting inside the loop.

    python examples/dqn_cartpole.py                      # full run (about 50k steps)
    python examples/dqn_cartpole.py --total-steps 500    # smoke test
    python examples/dqn_cartpole.py --strict             # strict broadcasting on
    SHAPESAFE_DISABLE=1 python examples/dqn_cartpole.py  # checks off: same returns

Documented result (seed 0, 50k steps): the greedy policy's mean return over 10 seeded
evaluation episodes reaches ``THRESHOLD`` (CartPole's classic "solved" level; 500 is the
cap); the script exits with status 1 below it on a full run.
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
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

import shapesafe
from shapesafe.rl import double_dqn_target, polyak_update, q_select

THRESHOLD = 195.0  # mean greedy return over 10 seeded evaluation episodes, full run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--total-steps", type=int, default=50_000)
    p.add_argument("--buffer-size", type=int, default=20_000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--tau", type=float, default=0.01, help="Polyak rate of the target net")
    p.add_argument("--learning-starts", type=int, default=1_000)
    p.add_argument("--train-every", type=int, default=1)
    p.add_argument("--eps-start", type=float, default=1.0)
    p.add_argument("--eps-end", type=float, default=0.02)
    p.add_argument("--eps-fraction", type=float, default=0.2, help="of total steps")
    p.add_argument("--strict", action="store_true", help="strict broadcasting in the loop")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


class QNetwork(nn.Module):
    def __init__(self, obs_dim: int, n_actions: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(obs_dim, 128),
            nn.ReLU(),
            nn.Linear(128, 128),
            nn.ReLU(),
            nn.Linear(128, n_actions),
        )

    @shapesafe.check
    def forward(self, obs: Float[Tensor, "batch obs"]) -> Float[Tensor, "batch actions"]:
        return self.net(obs)


class Transitions(NamedTuple):
    """One sampled minibatch; the checker reads the field annotations."""

    obs: Float[Tensor, "batch obs"]
    actions: Int[Tensor, "batch"]
    rewards: Float[Tensor, "batch"]
    next_obs: Float[Tensor, "batch obs"]
    terminated: Bool[Tensor, "batch"]


class ReplayBuffer:
    """A ring buffer of transitions. Actions, rewards and flags are stored as flat
    ``(capacity,)`` columns, so a sample hands out ``(B,)`` -- not the ``(B, 1)`` that
    many buffers produce and that broadcasts against ``(B,)`` targets."""

    def __init__(self, capacity: int, obs_dim: int) -> None:
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.actions = np.zeros(capacity, np.int64)
        self.rewards = np.zeros(capacity, np.float32)
        self.terminated = np.zeros(capacity, np.bool_)
        self.capacity, self.size, self.pos = capacity, 0, 0

    def add(
        self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminated: bool
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
            torch.from_numpy(self.obs[idx]),
            torch.from_numpy(self.actions[idx]),
            torch.from_numpy(self.rewards[idx]),
            torch.from_numpy(self.next_obs[idx]),
            torch.from_numpy(self.terminated[idx]),
        )


@shapesafe.check
def dqn_loss(
    q_net: QNetwork, target_net: QNetwork, batch: Transitions, gamma: float
) -> Float[Tensor, ""]:
    with torch.no_grad():
        target = double_dqn_target(
            batch.rewards,
            q_net(batch.next_obs),
            target_net(batch.next_obs),
            batch.terminated,
            gamma,
        )
    q_taken = q_select(q_net(batch.obs), batch.actions)
    return nn.functional.smooth_l1_loss(q_taken, target)


def epsilon(step: int, args: argparse.Namespace) -> float:
    span = max(1, int(args.eps_fraction * args.total_steps))
    return max(args.eps_end, args.eps_start + (args.eps_end - args.eps_start) * step / span)


def evaluate(q_net: QNetwork, episodes: int = 10, seed: int = 10_000) -> float:
    """Mean return of the greedy policy over seeded episodes (no exploration)."""
    env = gym.make("CartPole-v1")
    total = 0.0
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done = False
        while not done:
            with torch.no_grad():
                action = int(q_net(torch.as_tensor(obs)[None]).argmax(-1)[0])
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
    env.close()
    return total / episodes


def train_agent(args: argparse.Namespace) -> tuple[list[float], QNetwork]:
    """Train; returns the return of every finished episode and the Q-network."""
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    env = gym.make("CartPole-v1")
    obs_dim, n_actions = env.observation_space.shape[0], int(env.action_space.n)
    q_net, target_net = QNetwork(obs_dim, n_actions), QNetwork(obs_dim, n_actions)
    polyak_update(target_net, q_net, tau=1.0)
    optimizer = torch.optim.Adam(q_net.parameters(), lr=args.lr)
    buffer = ReplayBuffer(args.buffer_size, obs_dim)
    returns: list[float] = []
    # fast=True: the checked ops are wrapped while the loop runs (cheaper than a mode)
    strict = shapesafe.strict_broadcasting(fast=True) if args.strict else contextlib.nullcontext()

    obs, _ = env.reset(seed=args.seed)
    episode_return = 0.0
    with strict:
        for step in range(args.total_steps):
            if rng.random() < epsilon(step, args):
                action = int(rng.integers(n_actions))
            else:
                with torch.no_grad():
                    action = int(q_net(torch.as_tensor(obs)[None]).argmax(-1)[0])
            next_obs, reward, terminated, truncated, _ = env.step(action)
            buffer.add(obs, action, float(reward), next_obs, bool(terminated))
            episode_return += float(reward)
            obs = next_obs
            if terminated or truncated:
                returns.append(episode_return)
                if not args.quiet and len(returns) % 20 == 0:
                    print(
                        f"step {step + 1:>6}  episode {len(returns):>4}  "
                        f"mean return (last 20) {np.mean(returns[-20:]):7.1f}"
                    )
                obs, _ = env.reset()
                episode_return = 0.0

            if step >= args.learning_starts and step % args.train_every == 0:
                loss = dqn_loss(q_net, target_net, buffer.sample(args.batch_size, rng), args.gamma)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                polyak_update(target_net, q_net, tau=args.tau)
    env.close()
    return returns, q_net


def train(args: argparse.Namespace) -> list[float]:
    """Train; returns the return of every finished episode."""
    return train_agent(args)[0]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    returns, q_net = train_agent(args)
    last = float(np.mean(returns[-20:])) if returns else float("nan")
    greedy = evaluate(q_net)
    print(
        f"DQN CartPole-v1: {len(returns)} episodes, mean return of the last 20: {last:.1f}; "
        f"greedy, 10 evaluation episodes: {greedy:.1f} ({time.perf_counter() - start:.0f} s)"
    )
    full_run = args.total_steps >= parse_args([]).total_steps
    return 1 if full_run and not greedy >= THRESHOLD else 0


if __name__ == "__main__":
    raise SystemExit(main())
