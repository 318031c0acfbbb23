"""Behaviour cloning with a Gaussian policy, in one file you can read top to bottom.

A toy expert acts with a ~ N(s**3 + 4.5 s, diag(0.1, 0.05))
on 2-d states; we fit pi(a|s) = N(f(s), diag(sigma^2)) by maximum likelihood and check
that the learned sigma matches the expert's. Every tensor's shape is written down and
checked (shapesafe.check, DiagNormal); batches are drawn by indexing, not a DataLoader.

    python examples/bc_gaussian.py --epochs 200 --out bc_gaussian_out
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

import shapesafe
from shapesafe.distributions import DiagNormal, Dist


@dataclass
class Args:
    seed: int = 0
    n_demos: int = 1000
    epochs: int = 200
    batch_size: int = 64
    lr: float = 0.01
    hidden: int = 32
    out: str = "bc_gaussian_out"
    checks: bool = True


def parse_args() -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, default in vars(Args()).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"),
                                default=default)  # fmt: skip
        else:
            parser.add_argument(flag, type=type(default), default=default)
    return Args(**vars(parser.parse_args()))


# ---------------------------------------------------------------------------- the expert

TRUE_STD = torch.tensor([math.sqrt(0.1), math.sqrt(0.05)])


@shapesafe.check
def expert_mean(states: Float[Tensor, "n 2"]) -> Float[Tensor, "n 2"]:
    return states**3 + 4.5 * states


def make_demos(n: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    states = torch.rand(n, 2, generator=gen) - 0.5
    actions = expert_mean(states) + TRUE_STD * torch.randn(n, 2, generator=gen)
    return states, actions


# ---------------------------------------------------------------------------- the policy


class GaussianPolicy(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(obs_dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, act_dim)
        self.log_std = nn.Parameter(torch.zeros(act_dim))

    @shapesafe.check
    def forward(self, obs: Float[Tensor, "batch obs"]) -> Dist[DiagNormal, "batch", "act"]:
        mean = self.fc3(F.relu(self.fc2(F.relu(self.fc1(obs)))))
        return DiagNormal(mean, self.log_std.exp().expand_as(mean))


@shapesafe.check
def nll(
    policy: GaussianPolicy, obs: Float[Tensor, "batch obs"], act: Float[Tensor, "batch act"]
) -> Float[Tensor, ""]:
    return -policy(obs).log_prob(act).mean()


@shapesafe.check
def batches(n: int, batch_size: int, gen: torch.Generator) -> list[Int[Tensor, "_"]]:
    """One epoch of row indices: a random permutation cut into batches."""
    return list(torch.randperm(n, generator=gen).split(batch_size))


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    if not args.checks:
        shapesafe.disable()

    states, actions = make_demos(args.n_demos, gen)
    test_states, test_actions = make_demos(1000, gen)
    policy = GaussianPolicy(2, 2, args.hidden)
    optimizer = torch.optim.Adam(policy.parameters(), lr=args.lr)

    losses: list[float] = []
    start = time.perf_counter()
    for epoch in range(args.epochs):
        epoch_losses = []
        for idx in batches(len(states), args.batch_size, gen):
            loss = nll(policy, states[idx], actions[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            epoch_losses.append(loss.detach())
        losses.append(float(torch.stack(epoch_losses).mean()))
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"the loss became {losses[-1]} in epoch {epoch}")
        if epoch % 50 == 0 or epoch == args.epochs - 1:
            print(f"epoch {epoch:4d}  nll {losses[-1]:.4f}")
    seconds = time.perf_counter() - start

    policy.eval()
    with torch.no_grad():
        test_nll = float(nll(policy, test_states, test_actions))
        mean_error = float(
            (policy(test_states).mean - expert_mean(test_states)).pow(2).mean().sqrt()
        )
    learned = policy.log_std.exp().detach()
    print(f"\ntrained {args.epochs} epochs in {seconds:.1f} s")
    print(f"true std    {TRUE_STD.tolist()}")
    print(f"learned std {[round(s, 4) for s in learned.tolist()]}")
    print(f"held-out nll {test_nll:.4f}, mean error {mean_error:.4f}")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(policy.state_dict(), out / "policy.pt")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(losses)
    ax.set_xlabel("epoch")
    ax.set_ylabel("NLL")
    fig.savefig(out / "losses.png")
    print(f"wrote {out / 'policy.pt'} and {out / 'losses.png'}")


if __name__ == "__main__":
    main()
