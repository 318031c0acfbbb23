"""The single-file RL examples: a short seeded run of each works with checks on, under
strict broadcasting, and gives exactly the same returns with checks off."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from jaxtyping import Float
from torch import Tensor

import shapesafe

EXAMPLES = Path(__file__).parent.parent / "examples"
pytest.importorskip("gymnasium")

# tiny budgets: a few hundred environment steps with some learning updates in each
SHORT = {
    "dqn_cartpole": ["--total-steps", "400", "--learning-starts", "200", "--batch-size", "32"],
    "sac_pendulum": ["--total-steps", "260", "--learning-starts", "200", "--batch-size", "32"],
    "ppo_pendulum": [
        "--total-steps",
        "512",
        "--num-envs",
        "2",
        "--num-steps",
        "256",
        "--epochs",
        "2",
        "--minibatches",
        "4",
    ],
}


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(SHORT))
def test_example_runs_checked_and_strict_with_the_same_returns_as_unchecked(name: str) -> None:
    module = _load(name)
    args = module.parse_args([*SHORT[name], "--quiet"])
    checked = module.train(args)
    with shapesafe.enabled(False):
        unchecked = module.train(args)
    strict = module.train(module.parse_args([*SHORT[name], "--quiet", "--strict"]))
    assert checked, "the short run should finish at least one episode"
    assert checked == unchecked == strict


def test_a_b1_bug_injected_into_the_sac_example_is_caught() -> None:
    """Inject the classic bug -- a critic that keeps its (B, 1) output -- into the SAC
    example: plain torch only warns in mse_loss; shapesafe names the critic's return."""
    module = _load("sac_pendulum")

    class BuggyCritic(module.Critic):  # type: ignore[name-defined,misc]
        @shapesafe.check
        def forward(
            self, obs: Float[Tensor, "batch obs"], act: Float[Tensor, "batch act"]
        ) -> Float[Tensor, "batch"]:
            return self.net(torch.cat([obs, act], dim=-1))  # forgot .squeeze(-1)

    actor = module.Actor(3, 1, np.array([-2.0]), np.array([2.0]))
    critics = [BuggyCritic(3, 1) for _ in range(4)]
    b = 8
    batch = module.Transitions(
        torch.zeros(b, 3),
        torch.zeros(b, 1),
        torch.zeros(b),
        torch.zeros(b, 3),
        torch.zeros(b, dtype=torch.bool),
    )
    with pytest.raises(shapesafe.ShapeError) as info:
        module.critic_loss(actor, *critics, batch, 0.99, torch.tensor(0.2))
    assert info.value.argument == "return value"
    assert info.value.function.endswith("BuggyCritic.forward")
