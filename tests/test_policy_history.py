"""FrameStackPolicy (kind "frame-stack"): shapes, the stacking order, what ``act`` feeds
the inner policy against a plain deque reference (padding at episode starts, resets per
environment), config and checkpoint round trips, the CLI, a short learning run on a
non-Markov expert, and the refusals."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor

from shapesafe.bc import (
    ActSpec,
    Batch,
    ChunkingPolicy,
    Demonstrations,
    DeterministicPolicy,
    FrameStackPolicy,
    GaussianPolicy,
    ObsSpec,
    build_policy,
    evaluate,
    fit,
    load_policy,
)
from shapesafe.cli import main
from shapesafe.errors import DataError, ShapeError, UsageError

dims = st.integers(1, 4)


def difference_demos(episodes: int = 60, length: int = 15, seed: int = 0) -> Demonstrations:
    """A non-Markov expert: the observation is a random walk x_t (2-d), the action is its
    last step x_t - x_{t-1} (0 at an episode's first step). One observation says nothing
    about the action; two say everything."""
    g = torch.Generator().manual_seed(seed)
    steps = torch.randn(episodes, length, 2, generator=g) * 0.5
    steps[:, 0] = 0.0
    x = torch.randn(episodes, 1, 2, generator=g) + steps.cumsum(1)
    return Demonstrations(
        x.reshape(-1, 2),
        steps.reshape(-1, 2),
        episode_ids=torch.arange(episodes).repeat_interleave(length),
    )


# ---------------------------------------------------------------- shapes


@pytest.mark.values
@given(batch=dims, obs=dims, act=dims, history=st.integers(1, 4), seed=st.integers(0, 99))
def test_shapes_and_stacking_order(batch: int, obs: int, act: int, history: int, seed: int) -> None:
    torch.manual_seed(seed)
    policy = FrameStackPolicy.from_specs(
        ObsSpec((obs,)), ActSpec((act,)), inner="deterministic", history=history, hidden=[8]
    )
    assert isinstance(policy, FrameStackPolicy)
    assert policy.obs_spec.shape == (obs,) and policy.inner.obs_spec.shape == (history * obs,)
    windows = torch.randn(batch, history, obs)
    out = policy.predict(windows)
    assert out.shape == (batch, act)
    # oldest first: the inner policy sees [o_{t-h+1}, ..., o_t] concatenated
    flat = torch.cat([windows[:, j] for j in range(history)], dim=1)
    torch.testing.assert_close(out, policy.inner.predict(flat))
    assert policy.act(windows[:, -1].numpy()).shape == (batch, act)
    policy.reset()
    assert policy.act(windows[0, -1].numpy()).shape == (act,)


@pytest.mark.values
def test_image_observations_stack_channels() -> None:
    class Images(DeterministicPolicy, kind="test-flat-images"):
        """Reads (C, H, W) images by flattening them (enough to check the stacking)."""

        def __init__(self, channels: int) -> None:
            super().__init__(channels * 4, 1, hidden=(4,))
            self.obs_spec = ObsSpec((channels, 2, 2))
            self.channels = channels

        def predict(self, obs: Tensor, goals: Tensor | None = None) -> Tensor:
            out: Tensor = self.net(obs.flatten(1))
            return out

        def get_config(self) -> dict[str, Any]:
            return {"channels": self.channels}

    policy = FrameStackPolicy(Images(6), history=3)
    assert policy.obs_spec.shape == (2, 2, 2)
    frames = torch.randn(4, 3, 2, 2, 2)
    want = policy.inner.predict(torch.cat([frames[:, j] for j in range(3)], dim=1))
    torch.testing.assert_close(policy.predict(frames), want)


# ---------------------------------------------------------------- acting


@pytest.mark.values
@given(
    envs=st.integers(1, 3),
    steps=st.integers(1, 10),
    history=st.integers(1, 4),
    data=st.data(),
)
def test_act_feeds_the_window_of_a_deque_reference(
    envs: int, steps: int, history: int, data: st.DataObject
) -> None:
    """Per env: a deque filled with the episode's first observation at its start, then
    appended to -- the inner policy must see exactly that, also across resets of some
    environments of a vectorised env."""
    torch.manual_seed(steps)
    policy = FrameStackPolicy(DeterministicPolicy(history * 2, 2, hidden=(8,)), history=history)
    obs = torch.randn(steps, envs, 2)
    starts = np.array(
        data.draw(
            st.lists(
                st.lists(st.booleans(), min_size=envs, max_size=envs),
                min_size=steps,
                max_size=steps,
            )
        )
    )
    starts[0] = True
    windows: list[deque[Tensor]] = [deque(maxlen=history) for _ in range(envs)]
    for t in range(steps):
        policy.reset() if t == 0 else policy.reset(starts[t])
        got = policy.act(obs[t].numpy(), deterministic=True)
        for e in range(envs):
            if starts[t, e]:
                windows[e].extend([obs[t, e]] * history)
            windows[e].append(obs[t, e])
        want = policy.predict(torch.stack([torch.stack(list(w)) for w in windows]))
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.values
def test_act_sees_what_training_saw() -> None:
    """Rolling the policy over one recorded episode gives the predictions on the
    training windows of that episode (same padding at its start)."""
    demos = difference_demos(episodes=2, length=6)
    policy = FrameStackPolicy(DeterministicPolicy(3 * 2, 2, hidden=(8,)), history=3)
    prepared = policy.prepare_data(demos)
    offline = policy.predict_batch(prepared.batch_at(torch.arange(len(demos))))
    online = []
    for e in range(2):
        policy.reset()
        online += [
            policy.act(o.numpy(), deterministic=True) for o in demos.observations[e * 6 : e * 6 + 6]
        ]
    np.testing.assert_allclose(np.stack(online), offline.detach().numpy(), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- round trips


def test_config_and_checkpoint_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    policy = FrameStackPolicy.from_specs(
        ObsSpec((2,)), ActSpec((2,)), inner="gaussian", history=3,
        inner_options={"hidden": [16], "init_log_std": -1.0},
    )  # fmt: skip
    cfg = policy.config
    assert cfg["kind"] == "frame-stack" and cfg["history"] == 3
    assert cfg["inner"]["kind"] == "gaussian" and cfg["inner"]["obs_dim"] == 6
    assert cfg["inner"]["init_log_std"] == -1.0
    assert build_policy(cfg).config == cfg
    fit(policy, difference_demos(6, 5), steps=5, checkpoint_dir=tmp_path, progress=False)
    loaded = load_policy(tmp_path / "last.pt")
    assert isinstance(loaded, FrameStackPolicy) and loaded.config == cfg
    assert isinstance(loaded.inner, GaussianPolicy)
    windows = torch.randn(4, 3, 2)
    torch.testing.assert_close(loaded.predict(windows), policy.predict(windows))
    assert evaluate(loaded, difference_demos(2, 5))["std_0"] == pytest.approx(
        policy.diagnostics()["std_0"]
    )


def test_cli_trains_a_frame_stack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = difference_demos(6, 5).save(tmp_path / "demos.npz")
    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--policy", "frame-stack", "--option", "history=2",
            "--option", "inner=deterministic", "--hidden", "16", "--steps", "4",
            "--no-progress", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    policy = load_policy(out / "last.pt")
    assert isinstance(policy, FrameStackPolicy) and isinstance(policy.inner, DeterministicPolicy)
    assert policy.inner.get_config()["hidden"] == [16]


# ---------------------------------------------------------------- learning


@pytest.mark.values
def test_recovers_a_non_markov_expert_that_one_step_bc_cannot() -> None:
    demos, held_out = difference_demos(60, 15, seed=0), difference_demos(20, 15, seed=1)
    torch.manual_seed(0)
    stacked = FrameStackPolicy(DeterministicPolicy(2 * 2, 2, hidden=(64, 64)), history=2)
    fit(stacked, demos, steps=800, lr=3e-3, seed=0, progress=False)
    torch.manual_seed(0)
    one_step = DeterministicPolicy(2, 2, hidden=(64, 64))
    fit(one_step, demos, steps=800, lr=3e-3, seed=0, progress=False)
    stacked_err = evaluate(stacked, held_out)["mean_error"]
    one_step_err = evaluate(one_step, held_out)["mean_error"]
    assert one_step_err > 0.4  # the actions' own scale (std 0.5 off the first steps)
    assert stacked_err < 0.15 * one_step_err


# ---------------------------------------------------------------- refusals


def test_fit_needs_episode_ids() -> None:
    demos = Demonstrations(torch.zeros(10, 2), torch.zeros(10, 2))
    policy = FrameStackPolicy(DeterministicPolicy(4, 2), history=2)
    with pytest.raises(DataError, match="have no episode ids") as info:
        fit(policy, demos, steps=1, progress=False)
    assert (info.value.function, info.value.argument) == ("fit", "demos")
    with pytest.raises(DataError) as info:
        evaluate(policy, demos)
    assert info.value.function == "evaluate"


def test_a_batch_without_windows_is_refused() -> None:
    policy = FrameStackPolicy(DeterministicPolicy(4, 2), history=2)
    with pytest.raises(DataError, match="no 'obs_history' extra") as info:
        policy.loss((torch.zeros(5, 2), torch.zeros(5, 2)))
    assert (info.value.function, info.value.argument) == ("FrameStackPolicy.loss", "batch")
    extras = {
        "obs_history": torch.zeros(5, 3, 2),
        "history_mask": torch.ones(5, 3, dtype=torch.bool),
    }
    with pytest.raises(ShapeError):
        policy.loss(Batch(torch.zeros(5, 2), torch.zeros(5, 2), extras=extras))


def test_predict_takes_windows() -> None:
    policy = FrameStackPolicy(DeterministicPolicy(6, 2), history=3)
    with pytest.raises(ShapeError, match="expected observation windows") as info:
        policy.predict(torch.zeros(5, 2))
    err = info.value
    assert (err.function, err.argument, err.expected, err.got) == (
        "FrameStackPolicy.predict", "obs", "(batch, 3, 2)", "(5, 2)",
    )  # fmt: skip


def test_bad_construction() -> None:
    with pytest.raises(UsageError) as info:
        FrameStackPolicy(DeterministicPolicy(4, 2), history=0)
    assert (info.value.function, info.value.argument) == ("FrameStackPolicy", "history")
    with pytest.raises(ShapeError, match="not a multiple of history=3") as shape_info:
        FrameStackPolicy(DeterministicPolicy(4, 2), history=3)
    assert (shape_info.value.function, shape_info.value.got) == ("FrameStackPolicy", "(4,)")
    with pytest.raises(UsageError, match="trains on windows itself") as info:
        FrameStackPolicy(ChunkingPolicy(4, 2), history=2)
    assert info.value.argument == "inner"
    with pytest.raises(UsageError, match="must be a Policy or a policy config"):
        FrameStackPolicy("gaussian", history=2)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="unknown inner policy kind 'mlp'") as info:
        FrameStackPolicy.from_specs(ObsSpec((2,)), ActSpec((2,)), inner="mlp")
    assert (info.value.function, info.value.argument) == ("FrameStackPolicy.from_specs", "inner")


def test_act_refuses_a_changed_number_of_envs() -> None:
    policy = FrameStackPolicy(DeterministicPolicy(4, 2), history=2)
    policy.act(np.zeros((3, 2)))
    with pytest.raises(UsageError, match="holds the state of 3 running") as info:
        policy.act(np.zeros((2, 2)))
    assert info.value.function == "FrameStackPolicy.act"
    with pytest.raises(ShapeError):
        policy.reset([True, False])


@pytest.mark.values
def test_goals_reach_the_inner_policy_only_when_it_is_goal_conditioned() -> None:
    base = difference_demos(episodes=4, length=5)
    goals = torch.randn(len(base), 2, generator=torch.Generator().manual_seed(1))
    demos = Demonstrations(
        base.observations, base.actions, episode_ids=base.episode_ids, goals=goals
    )
    torch.manual_seed(0)
    blind = FrameStackPolicy(DeterministicPolicy(obs_dim=4, act_dim=2), history=2)
    # a goal-blind stack evaluates on data that carries goals by ignoring them
    assert set(evaluate(blind, demos)) >= {"loss"}
    torch.manual_seed(0)
    aware = FrameStackPolicy(DeterministicPolicy(obs_dim=4, act_dim=2, goal_dim=2), history=2)
    batch = aware.prepare_data(demos).batch_at(torch.arange(len(demos)))
    windows = batch.extras["obs_history"].flatten(1)
    expected = aware.inner.predict(windows, goals)
    torch.testing.assert_close(aware.predict_batch(batch), expected)
