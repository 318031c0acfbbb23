"""The acceptance test of the bc redesign: a policy class written here, in a user's file
-- image observations (C, H, W), discrete actions, goals in the batch -- trains with
``fit``, checkpoints, resumes, rebuilds from its checkpoint, evaluates and acts, through
the Python API and the command line, with no change to the library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from shapesafe.bc import (
    ActSpec,
    Batch,
    Demonstrations,
    LossOutput,
    ObsSpec,
    Policy,
    build_policy,
    evaluate,
    fit,
    load_policy,
    policy_kinds,
)
from shapesafe.cli import main
from shapesafe.errors import DtypeError, ShapeError


class GoalImagePolicy(Policy, kind="test-goal-image"):
    """A tiny conv net on (C, H, W) images, conditioned on a goal vector, choosing one of
    ``n_actions`` discrete actions."""

    def __init__(self, channels: int = 3, size: int = 8, n_actions: int = 4, goal_dim: int = 2):
        super().__init__()
        self.obs_spec = ObsSpec((channels, size, size))
        self.act_spec = ActSpec((), torch.int64, discrete=n_actions)
        self.goal_spec = ObsSpec((goal_dim,))
        self._config = {
            "channels": channels,
            "size": size,
            "n_actions": n_actions,
            "goal_dim": goal_dim,
        }
        self.conv = nn.Sequential(
            nn.Conv2d(channels, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.head = nn.Sequential(nn.Linear(8 + goal_dim, 32), nn.ReLU(), nn.Linear(32, n_actions))

    def logits(self, obs: Tensor, goals: Tensor) -> Tensor:
        return self.head(torch.cat([self.conv(obs), goals], dim=-1))

    def compute_loss(self, batch: Batch) -> LossOutput:
        assert batch.goals is not None
        logits = self.logits(batch.observations, batch.goals)
        hit = (logits.argmax(-1) == batch.actions).float().mean()
        return LossOutput(F.cross_entropy(logits, batch.actions), {"hit_rate": hit.detach()})

    def predict(self, obs: Tensor, goals: Tensor | None = None) -> Tensor:
        assert goals is not None
        return self.logits(obs, goals).argmax(-1)

    def get_config(self) -> dict[str, Any]:
        return dict(self._config)

    @classmethod
    def from_specs(cls, obs_spec: ObsSpec, act_spec: ActSpec, **options: Any) -> Policy:
        channels, size, _ = obs_spec.shape
        assert act_spec.discrete is not None
        return cls(channels, size, act_spec.discrete, **options)


def _demos(n: int = 512, seed: int = 0) -> Demonstrations:
    """The action is 2 * (goal[0] > 0) + (image brightness > 0): both inputs matter."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 3, 8, 8, generator=g) + torch.randn(n, 1, 1, 1, generator=g)
    goals = torch.randn(n, 2, generator=g)
    actions = 2 * (goals[:, 0] > 0).long() + (images.mean((1, 2, 3)) > 0).long()
    return Demonstrations(images, actions, goals=goals)


def _policy(seed: int) -> GoalImagePolicy:
    torch.manual_seed(seed)
    return GoalImagePolicy()


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


KW: dict[str, Any] = dict(batch_size=32, lr=0.01, seed=3, progress=False, log_every=8)


@pytest.mark.values
def test_a_user_policy_trains_checkpoints_resumes_rebuilds_and_evaluates(tmp_path: Path) -> None:
    demos = _demos()
    assert "test-goal-image" in policy_kinds()

    straight = _policy(0)
    expected = fit(straight, demos, steps=160, **KW)
    assert expected.metrics["hit_rate"][-1] > 0.8  # it learns (chance is 0.25)

    crashed = _policy(0)
    calls = [0]
    inner = crashed.compute_loss

    def crash_at_step_71(batch: Batch) -> LossOutput:
        calls[0] += torch.is_grad_enabled()
        if calls[0] == 71:
            raise KeyboardInterrupt
        return inner(batch)

    crashed.compute_loss = crash_at_step_71  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        fit(crashed, demos, steps=160, checkpoint_dir=tmp_path, checkpoint_every=30, **KW)
    resumed = _policy(1)  # other weights: everything must come from the checkpoint
    result = fit(resumed, demos, steps=160, checkpoint_dir=tmp_path, resume=True, **KW)
    assert result.resumed_from == 60
    assert _same(resumed, straight)
    assert result.train_loss == expected.train_loss
    assert result.metrics == expected.metrics

    rebuilt = load_policy(tmp_path / "last.pt")
    assert type(rebuilt) is GoalImagePolicy and not rebuilt.training
    assert _same(rebuilt, straight)
    assert type(build_policy(straight.config)) is GoalImagePolicy

    held_out = _demos(256, seed=1)
    metrics = evaluate(rebuilt, held_out)
    assert set(metrics) == {"loss", "hit_rate", "accuracy"}
    with torch.no_grad():
        pred = rebuilt.predict(held_out.observations, held_out.goals)
    assert metrics["accuracy"] == pytest.approx(float((pred == held_out.actions).float().mean()))
    assert metrics["accuracy"] > 0.8

    one = rebuilt.act(held_out.observations[0].numpy(), goal=held_out.goals[0].numpy())
    assert one.shape == () and one.dtype == np.int64
    many = rebuilt.act(held_out.observations[:5], goal=held_out.goals[:5], deterministic=True)
    assert many.shape == (5,)


def test_the_specs_check_user_batches() -> None:
    policy = _policy(0)
    demos = _demos(16)
    batch = demos.sample(4, generator=torch.Generator().manual_seed(0))
    assert policy.loss(batch).shape == ()
    with pytest.raises(ShapeError, match=r"no goals") as info:
        policy.loss(Batch(batch.observations, batch.actions))
    assert info.value.function == "GoalImagePolicy.loss"
    with pytest.raises(ShapeError) as info:
        policy.loss(Batch(batch.observations[:, :1], batch.actions, batch.goals))
    assert (info.value.expected, info.value.got) == ("(batch, 3, 8, 8)", "(4, 1, 8, 8)")
    with pytest.raises(DtypeError, match=r"expected a integer tensor, got torch.float32"):
        policy.loss(Batch(batch.observations, batch.actions.float(), batch.goals))
    # fit refuses data of another shape before training
    with pytest.raises(ShapeError, match=r"observations have shape \(N, 3, 4, 4\)"):
        fit(policy, Demonstrations(torch.zeros(8, 3, 4, 4), torch.zeros(8).long(),
                                   goals=torch.zeros(8, 2)), steps=1, progress=False)  # fmt: skip


def test_the_command_line_trains_and_evaluates_a_user_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _demos(128).save(tmp_path / "images.npz")
    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--import", __file__, "--policy", "test-goal-image",
            "--option", "goal_dim=2", "--steps", "8", "--no-progress", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    assert "trained 8 steps" in capsys.readouterr().out
    code = main(["evaluate", "--checkpoint", str(out / "last.pt"), "--data", str(data)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "accuracy" in captured.out and "hit_rate" in captured.out
