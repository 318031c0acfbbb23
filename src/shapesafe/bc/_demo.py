"""The demo experiment behind ``shapesafe demo``: a Gaussian policy cloned from the toy
cubic expert, checked against the answer it should find (the expert's std), with plots.

It lives here, not in the CLI, so that it can be run and tested from Python
(``run_demo(out)``) and the command only parses arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from shapesafe._format import table
from shapesafe.bc._evaluate import plot_losses, require
from shapesafe.bc._fit import fit
from shapesafe.bc._resume import CHECKPOINT_NAME
from shapesafe.bc._toy import cubic_demonstrations, cubic_expert_mean, cubic_expert_std
from shapesafe.bc.policies.gaussian import GaussianPolicy
from shapesafe.distributions import DiagNormal

__all__ = ["run_demo"]


def run_demo(
    out: Path,
    *,
    epochs: int = 200,
    samples: int = 1000,
    seed: int = 0,
    progress: bool = True,
    echo: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Train, report (through ``echo``) and write ``loss.png``, ``actions.png``, the
    checkpoint and ``demos.npz`` into ``out``; returns the learned std, the relative
    errors and the paths written."""
    require("matplotlib", "shapesafe demo's plots")  # before a minute of training
    demos = cubic_demonstrations(samples, seed=seed)
    held_out = cubic_demonstrations(1000, seed=seed + 1_000_003)
    torch.manual_seed(seed)
    policy = GaussianPolicy(2, 2, hidden=(32, 32))
    echo(
        f"shapesafe demo: GaussianPolicy(2 -> 32 -> 32 -> 2) on {len(demos)} demonstrations, "
        f"{epochs} epochs of batch 64, Adam lr 0.01"
    )
    result = fit(
        policy,
        demos,
        epochs=epochs,
        batch_size=64,
        lr=0.01,
        seed=seed,
        progress=progress,
        checkpoint_dir=out,
        checkpoint_every=10**9,  # once, at the end
    )
    true_std = cubic_expert_std()
    with torch.no_grad():
        learned = policy.std().tolist()
        obs, act = held_out.observations, held_out.actions
        dist = policy(obs)
        nll = float(-dist.log_prob(act).mean())
        true_mean = cubic_expert_mean(obs)
        expert = DiagNormal(true_mean, torch.tensor(true_std).expand_as(true_mean))
        expert_nll = float(-expert.log_prob(act).mean())
        mean_err = float(((policy.predict(obs) - true_mean) ** 2).mean().sqrt())
        samples_ = dist.sample()
    rel = [abs(a - b) / b for a, b in zip(learned, true_std)]
    echo(f"\ntrained {result.total_steps} steps in {result.seconds:.1f} s\n")
    echo(
        table(
            ["std of the action", "action 0", "action 1"],
            [
                ["true (expert)", *(f"{s:.3f}" for s in true_std)],
                ["learned (policy)", *(f"{s:.3f}" for s in learned)],
                ["relative error", *(f"{r:.1%}" for r in rel)],
            ],
        )
    )
    echo("")
    echo(
        table(
            [f"held out ({len(held_out)} new states)", "policy", "expert"],
            [
                ["NLL per step", f"{nll:.3f}", f"{expert_nll:.3f}"],
                ["mean error (RMS vs expert mean)", f"{mean_err:.3f}", "0"],
            ],
        )
    )
    loss_png = plot_losses(result, out / "loss.png", title="shapesafe demo: training NLL")
    actions_png = plot_actions(obs, act, samples_, out / "actions.png")
    data_path = demos.save(out / "demos.npz")
    echo(f"\nwrote {loss_png}, {actions_png}, {out / CHECKPOINT_NAME}, {data_path}")
    return {
        "learned_std": learned,
        "relative_error": rel,
        "paths": [loss_png, actions_png, out / CHECKPOINT_NAME, data_path],
        "data": data_path,
    }


def plot_actions(states: Any, expert: Any, policy: Any, path: Path) -> Path:
    """Per action dimension i: action i against state i (the expert's mean depends on
    state i only), expert actions and policy samples on the same held-out states."""
    require("matplotlib", "shapesafe demo's plots")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    grid = torch.linspace(-0.5, 0.5, 101)
    curve = cubic_expert_mean(torch.stack([grid, grid], 1))
    for i, ax in enumerate(axes):
        s = states[:, i].numpy()
        ax.scatter(s, expert[:, i].numpy(), s=7, alpha=0.5, color="tab:blue", label="expert")
        ax.scatter(s, policy[:, i].numpy(), s=7, alpha=0.5, color="tab:orange", label="policy")
        ax.plot(grid.numpy(), curve[:, i].numpy(), color="black", lw=1.5, label="true mean")
        ax.set_xlabel(f"state {i}")
        ax.set_ylabel(f"action {i}")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper left")
    fig.suptitle("held-out states: expert actions vs samples from the learned policy")
    fig.tight_layout()
    fig.savefig(path)
    return path
