"""Overhead of ``shapesafe.strict.strict_broadcasting()`` on a small behaviour-cloning loop.

The loop fits a conditional Gaussian policy (GaussianPolicy, 1000 two-dimensional
states, DataLoader batches of 64, Adam, -log_prob loss), run for a few epochs per repeat. Plain, an empty TorchFunctionMode, strict (the mode)
and strict with ``fast=True`` (the checked ops wrapped, no mode) are interleaved in one
process, with the same seeds; we report the median of each and their ratios.

Run: ``python benchmarks/bench_strict.py [--repeats N] [--epochs E]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import AbstractContextManager, nullcontext

import torch
import torch.nn.functional as F
from torch import distributions, nn, optim
from torch.overrides import TorchFunctionMode
from torch.utils.data import DataLoader, TensorDataset

from shapesafe.strict import strict_broadcasting


class BareMode(TorchFunctionMode):
    """A TorchFunctionMode that does nothing: the floor any such mode pays."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        return func(*args, **(kwargs or {}))


TARGET = 2.0  # strict mode is a debugging aid; we aim to keep it under 2x on this loop


class GaussianPolicy(nn.Module):
    def __init__(self, input_size: int, output_size: int) -> None:
        super().__init__()
        self.mean_fc1 = nn.Linear(input_size, 32)
        self.mean_fc2 = nn.Linear(32, 32)
        self.mean_fc3 = nn.Linear(32, output_size)
        self.log_std = nn.Parameter(torch.randn(output_size))

    def forward(self, x: torch.Tensor) -> distributions.Normal:
        mean = F.relu(self.mean_fc1(x))
        mean = F.relu(self.mean_fc2(mean))
        mean = self.mean_fc3(mean)
        return distributions.Normal(mean, self.log_std.exp())


def train(epochs: int, mode: AbstractContextManager[None]) -> float:
    torch.manual_seed(0)
    states = torch.rand(1000, 2) - 0.5
    true_means = states**3 + 4.5 * states
    true_cov = torch.diag(torch.tensor([0.1, 0.05]))
    expert_actions = torch.distributions.MultivariateNormal(true_means, true_cov).sample()
    policy = GaussianPolicy(2, 2)
    optimizer = optim.Adam(policy.parameters(), lr=0.01)
    loader = DataLoader(TensorDataset(states, expert_actions), batch_size=64, shuffle=True)
    with mode:
        for _ in range(epochs):
            epoch_loss = 0.0
            for curr_states, curr_actions in loader:
                dist = policy(curr_states)
                loss = -dist.log_prob(curr_actions).sum()
                optimizer.zero_grad()
                loss.backward()
                epoch_loss += loss.detach().cpu().numpy().squeeze()
                optimizer.step()
    return epoch_loss / len(loader)


def train_dqn(epochs: int, mode: AbstractContextManager[None]) -> float:
    """A DQN update loop as CleanRL writes it (a real RL loop, next to the seed's BC
    loop): Q-network 4-120-84-2, target network, replay batches of 128, TD target with
    (1 - done) masking, MSE loss, Adam. ``epochs`` x 100 updates."""
    torch.manual_seed(0)
    q = nn.Sequential(nn.Linear(4, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 2))
    target = nn.Sequential(
        nn.Linear(4, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 2)
    )
    target.load_state_dict(q.state_dict())
    optimizer = optim.Adam(q.parameters(), lr=2.5e-4)
    n = 10_000
    obs, next_obs = torch.randn(n, 4), torch.randn(n, 4)
    actions = torch.randint(0, 2, (n, 1))
    rewards, dones = torch.randn(n), (torch.rand(n) < 0.05).float()
    total = 0.0
    with mode:
        for step in range(epochs * 100):
            idx = torch.randint(0, n, (128,))
            with torch.no_grad():
                target_max, _ = target(next_obs[idx]).max(dim=1)
                td_target = rewards[idx] + 0.99 * target_max * (1 - dones[idx])
            old_val = q(obs[idx]).gather(1, actions[idx]).squeeze()
            loss = F.mse_loss(td_target, old_val)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss)
            if step % 50 == 0:
                for tp, p in zip(target.parameters(), q.parameters()):
                    tp.data.copy_(0.005 * p.data + (1.0 - 0.005) * tp.data)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--loop", choices=("bc", "dqn"), default="bc", help="the seed's BC loop, or a DQN loop"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    train_fn = train if args.loop == "bc" else train_dqn

    # Same loss both ways: the mode changes nothing on a correct loop.
    plain_loss = train_fn(1, nullcontext())
    strict_loss = train_fn(1, strict_broadcasting())
    fast_loss = train_fn(1, strict_broadcasting(fast=True))
    assert plain_loss == strict_loss == fast_loss, (plain_loss, strict_loss, fast_loss)

    times: dict[str, list[float]] = {"plain": [], "bare mode": [], "strict": [], "fast": []}
    for _ in range(args.repeats):
        for label in times:
            mode: AbstractContextManager[None]
            if label == "plain":
                mode = nullcontext()
            elif label == "bare mode":
                mode = BareMode()
            elif label == "fast":
                mode = strict_broadcasting(fast=True)
            else:
                mode = strict_broadcasting()
            t0 = time.perf_counter()
            train_fn(args.epochs, mode)
            times[label].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    steps = args.epochs * (16 if args.loop == "bc" else 100)
    name = "GaussianPolicy BC loop" if args.loop == "bc" else "DQN update loop"
    print(f"{name}, {steps} steps, {args.repeats} repeats")
    for label, t in med.items():
        print(f"  {label:9s}: {t * 1e3:8.2f} ms  ({t / steps * 1e6:7.1f} us/step)")
    ratio = med["strict"] / med["plain"]
    floor = med["bare mode"] / med["plain"]
    print(f"  ratio strict/plain: {ratio:.2f}x  (target < {TARGET:.1f}x)")
    print(f"  ratio strict(fast=True)/plain: {med['fast'] / med['plain']:.2f}x")
    print(f"  (an empty TorchFunctionMode alone costs {floor:.2f}x on this loop)")


if __name__ == "__main__":
    main()
