"""ChunkingPolicy (kind "chunk"): shapes, ACT's temporal ensembling against a plain
transcription of the ACT evaluation loop (weight direction, the first steps of an
episode, resets per environment), open-loop execution, the masked loss, checkpoint and
CLI round trips, a short learning run and the refusals."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor

from shapesafe.bc import (
    Batch,
    ChunkingPolicy,
    Demonstrations,
    build_policy,
    evaluate,
    fit,
    load_policy,
)
from shapesafe.cli import main
from shapesafe.errors import DataError, ShapeError, UsageError

dims = st.integers(1, 4)


def _episodes(n_eps: int, length: int, obs: int, act: int, seed: int = 0) -> Demonstrations:
    g = torch.Generator().manual_seed(seed)
    n = n_eps * length
    return Demonstrations(
        torch.randn(n, obs, generator=g),
        torch.randn(n, act, generator=g),
        episode_ids=torch.arange(n) // length,
    )


# ---------------------------------------------------------------- shapes


@pytest.mark.values
@given(batch=dims, obs=dims, act=dims, chunk=st.integers(1, 5), seed=st.integers(0, 99))
def test_shapes(batch: int, obs: int, act: int, chunk: int, seed: int) -> None:
    torch.manual_seed(seed)
    policy = ChunkingPolicy(obs, act, chunk=chunk, hidden=(8,))
    x = torch.randn(batch, obs)
    plan = policy(x)
    assert plan.shape == (batch, chunk, act)
    torch.testing.assert_close(policy.predict(x), plan[:, 0])
    assert policy.act(x.numpy()).shape == (batch, act)
    policy.reset()
    assert policy.act(x[0].numpy()).shape == (act,)


# ---------------------------------------------------------------- ACT reference


def act_reference(plans: list[np.ndarray], k: float, temporal_agg: bool) -> list[np.ndarray]:
    """The executed actions of ONE episode, transcribed from ACT's evaluation loop
    (``imitate_episodes.py``: ``all_time_actions``, ``exp_weights = np.exp(-k *
    np.arange(len(actions_for_curr_step)))`` over the predictions for step t, oldest
    first). ``plans[t]`` is the chunk predicted at step t. A separate ``populated`` array
    replaces ACT's ``!= 0`` test, which would drop a prediction that is exactly 0."""
    steps, (chunk, act_dim) = len(plans), plans[0].shape
    all_time_actions = np.zeros((steps, steps + chunk, act_dim))
    populated = np.zeros((steps, steps + chunk), dtype=bool)
    out = []
    for t in range(steps):
        if temporal_agg:
            all_time_actions[t, t : t + chunk] = plans[t]
            populated[t, t : t + chunk] = True
            actions_for_curr_step = all_time_actions[:, t][populated[:, t]]
            exp_weights = np.exp(-k * np.arange(len(actions_for_curr_step)))
            exp_weights = exp_weights / exp_weights.sum()
            out.append((actions_for_curr_step * exp_weights[:, None]).sum(axis=0))
        else:  # query every `chunk` steps, execute the chunk in order
            if t % chunk == 0:
                all_actions = plans[t]
            out.append(all_actions[t % chunk])
    return out


@pytest.mark.values
@given(
    envs=st.integers(1, 3),
    steps=st.integers(1, 12),
    chunk=st.integers(1, 5),
    k=st.sampled_from([0.0, 0.01, 0.5, 2.0, -0.7]),
    temporal=st.booleans(),
    data=st.data(),
)
def test_act_matches_the_act_reference(
    envs: int, steps: int, chunk: int, k: float, temporal: bool, data: st.DataObject
) -> None:
    """Vectorised envs whose episodes start at drawn steps; each env's executed actions
    equal the reference run on that env's episodes one by one."""
    torch.manual_seed(envs * 100 + steps)
    policy = ChunkingPolicy(3, 2, chunk=chunk, hidden=(8,), temporal_ensemble=temporal,
                            ensemble_decay=k)  # fmt: skip
    obs = torch.randn(steps, envs, 3)
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
    executed = []
    for t in range(steps):
        if t == 0:
            policy.reset()
        else:
            policy.reset(starts[t])
        executed.append(policy.act(obs[t].numpy()))
    with torch.no_grad():
        plans = policy(obs.reshape(-1, 3)).reshape(steps, envs, chunk, 2).numpy()
    for e in range(envs):
        bounds = [*np.flatnonzero(starts[:, e]), steps]
        want: list[np.ndarray] = []
        for a, b in itertools.pairwise(bounds):
            want += act_reference([plans[t, e] for t in range(a, b)], k, temporal)
        got = np.stack([executed[t][e] for t in range(steps)])
        np.testing.assert_allclose(got, np.stack(want), rtol=1e-5, atol=1e-6)


class ScriptedChunks(ChunkingPolicy, kind="test-scripted-chunks"):
    """Plays back given chunks, one per call, to check the weights by hand."""

    def __init__(self, plans: list[Tensor], **kw: Any) -> None:
        super().__init__(1, 1, chunk=plans[0].shape[0], hidden=(1,), **kw)
        self.plans = plans
        self.calls = 0

    def forward(self, obs: Tensor) -> Tensor:
        plan = self.plans[self.calls].expand(obs.shape[0], -1, -1)
        self.calls += 1
        return plan


@pytest.mark.values
def test_the_oldest_prediction_weighs_most() -> None:
    """chunk=2, m=ln 3: at step 1 the prediction made at step 0 gets weight
    1/(1 + 1/3) = 0.75 and the new one 0.25 (ACT's direction, not the reverse)."""
    plans = [torch.tensor([[10.0], [20.0]]), torch.tensor([[0.0], [100.0]]),
             torch.tensor([[0.0], [0.0]])]  # fmt: skip
    policy = ScriptedChunks(plans, ensemble_decay=math.log(3))
    assert policy.act(np.zeros(1))[0] == pytest.approx(10.0)  # one prediction: itself
    assert policy.act(np.zeros(1))[0] == pytest.approx(0.75 * 20.0 + 0.25 * 0.0)
    assert policy.act(np.zeros(1))[0] == pytest.approx(0.75 * 100.0 + 0.25 * 0.0)


@pytest.mark.values
def test_reset_forgets_only_the_selected_envs() -> None:
    plans = [torch.tensor([[1.0], [2.0]]), torch.tensor([[5.0], [7.0]])]
    policy = ScriptedChunks(plans, ensemble_decay=0.0)
    policy.act(np.zeros((2, 1)))
    policy.reset(np.array([True, False]))
    out = policy.act(np.zeros((2, 1)))[:, 0]
    # env 0 starts over (only the new prediction), env 1 averages both
    np.testing.assert_allclose(out, [5.0, (2.0 + 5.0) / 2])


# ---------------------------------------------------------------- loss


@pytest.mark.values
@given(batch=dims, obs=dims, act=dims, chunk=st.integers(1, 4), seed=st.integers(0, 99))
def test_masked_l1_matches_numpy(batch: int, obs: int, act: int, chunk: int, seed: int) -> None:
    torch.manual_seed(seed)
    policy = ChunkingPolicy(obs, act, chunk=chunk, hidden=(8,))
    x, a = torch.randn(batch, obs), torch.randn(batch, act)
    target, mask = torch.randn(batch, chunk, act), torch.rand(batch, chunk) < 0.7
    mask[:, 0] = True  # a row's own step is always valid
    b = Batch(x, a, extras={"action_chunk": target, "chunk_mask": mask})
    pred = policy(x).detach().numpy()
    err = np.abs(pred - target.numpy()).sum(-1)
    m = mask.numpy()
    want = (err * m).sum() / (m.sum() * act)
    assert policy.loss(b).item() == pytest.approx(want, rel=1e-5)


@pytest.mark.values
def test_padding_past_the_episode_end_does_not_count() -> None:
    demos = _episodes(3, 4, obs=2, act=1)
    policy = ChunkingPolicy(2, 1, chunk=3, hidden=(8,))
    prepared = policy.prepare_data(demos)
    batch = prepared.batch_at(torch.arange(len(prepared)))
    base = policy.loss(batch).item()
    # changing a padded target entry leaves the loss unchanged; a valid one changes it
    chunk = batch.extras["action_chunk"].clone()
    padded = ~batch.extras["chunk_mask"]
    chunk[padded] += 100.0
    moved = Batch(batch.observations, batch.actions, extras={**batch.extras, "action_chunk": chunk})
    assert policy.loss(moved).item() == pytest.approx(base)
    chunk[~padded] += 1.0
    moved = Batch(batch.observations, batch.actions, extras={**batch.extras, "action_chunk": chunk})
    assert policy.loss(moved).item() != pytest.approx(base)


# ---------------------------------------------------------------- round trips


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    demos = _episodes(4, 6, obs=3, act=2)
    policy = ChunkingPolicy(3, 2, chunk=3, hidden=(16,), ensemble_decay=0.2)
    fit(policy, demos, steps=5, checkpoint_dir=tmp_path, progress=False)
    loaded = load_policy(tmp_path / "last.pt")
    assert isinstance(loaded, ChunkingPolicy) and loaded.config == policy.config
    obs = torch.randn(5, 3)
    torch.testing.assert_close(loaded(obs), policy(obs))
    policy.reset()
    assert np.allclose([policy.act(o.numpy()) for o in obs], [loaded.act(o.numpy()) for o in obs])
    assert build_policy(policy.config).config == policy.config


def test_cli_trains_on_flat_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _episodes(4, 6, obs=3, act=2).save(tmp_path / "demos.npz")
    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--policy", "chunk", "--option", "chunk=4",
            "--hidden", "16", "--steps", "4", "--no-progress", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    policy = load_policy(out / "last.pt")
    assert isinstance(policy, ChunkingPolicy) and policy.chunk == 4


# ---------------------------------------------------------------- learning


def test_learns_the_future_of_a_trajectory() -> None:
    """Each episode follows a(t) = x0 * sin(2 pi t / 20); the observation holds t / 20 and
    x0, so the next actions are a function of it."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    eps, length = 40, 20
    t = torch.arange(length).repeat(eps).float()
    x0 = (torch.rand(eps, generator=g) * 2 - 1).repeat_interleave(length)
    obs = torch.stack([t / length, x0], 1)
    act = (x0 * torch.sin(2 * math.pi * t / length))[:, None]
    demos = Demonstrations(obs, act, episode_ids=torch.arange(eps * length) // length)
    policy = ChunkingPolicy(2, 1, chunk=5, hidden=(64, 64))
    result = fit(policy, demos, steps=600, batch_size=64, lr=3e-3, seed=0, progress=False)
    assert result.train_loss[-1] < 0.3 * result.train_loss[0]
    metrics = evaluate(policy, demos)
    assert metrics["loss"] < 0.04 and metrics["mean_error"] < 0.06


# ---------------------------------------------------------------- refusals


def test_fit_needs_episode_ids() -> None:
    demos = Demonstrations(torch.zeros(10, 3), torch.zeros(10, 2))
    with pytest.raises(DataError, match="have no episode ids") as info:
        fit(ChunkingPolicy(3, 2), demos, steps=1, progress=False)
    assert (info.value.function, info.value.argument) == ("fit", "demos")
    assert info.value.hint is not None and "episode_ids=" in info.value.hint


def test_a_batch_without_chunks_is_refused() -> None:
    policy = ChunkingPolicy(3, 2, chunk=4)
    with pytest.raises(DataError, match="no 'action_chunk' extra") as info:
        policy.loss((torch.zeros(5, 3), torch.zeros(5, 2)))
    err = info.value
    assert (err.function, err.argument, err.got) == ("ChunkingPolicy.loss", "batch", "missing")
    extras = {
        "action_chunk": torch.zeros(5, 3, 2),
        "chunk_mask": torch.ones(5, 4, dtype=torch.bool),
    }
    with pytest.raises(ShapeError) as shape_info:
        policy.loss(Batch(torch.zeros(5, 3), torch.zeros(5, 2), extras=extras))
    assert (shape_info.value.expected, shape_info.value.got) == ("(5, 4, 2)", "(5, 3, 2)")


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"chunk": 0}, "chunk"),
        ({"ensemble_decay": math.nan}, "ensemble_decay"),
        ({"ensemble_decay": "fast"}, "ensemble_decay"),
    ],
)
def test_bad_options(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(UsageError) as info:
        ChunkingPolicy(3, 2, **kwargs)
    assert (info.value.function, info.value.argument) == ("ChunkingPolicy", argument)


def test_act_refuses_a_changed_number_of_envs_and_bad_resets() -> None:
    policy = ChunkingPolicy(3, 2, chunk=2)
    policy.act(np.zeros((4, 3)))
    with pytest.raises(UsageError, match="holds the state of 4 running") as info:
        policy.act(np.zeros((3, 3)))
    assert (info.value.function, info.value.argument) == ("ChunkingPolicy.act", "obs")
    with pytest.raises(ShapeError) as shape_info:
        policy.reset(np.array([True, False]))
    assert (shape_info.value.function, shape_info.value.expected) == (
        "ChunkingPolicy.reset",
        "(4,)",
    )
    with pytest.raises(UsageError, match="boolean array"):
        policy.reset(np.array([1, 0, 0, 1]))
    policy.reset()
    assert policy.act(np.zeros((3, 3))).shape == (3, 2)  # after a full reset: any count


@pytest.mark.values
@given(
    batch=st.integers(1, 4),
    obs=st.integers(1, 3),
    goal=st.integers(1, 3),
    seed=st.integers(0, 99),
)
def test_goal_conditioned_chunks_equal_the_policy_on_concatenated_inputs(
    batch: int, obs: int, goal: int, seed: int
) -> None:
    """goal_dim=G is the same policy on observations cat(obs, goal): the same chunks,
    the same ensembled actions step after step, the same loss."""
    torch.manual_seed(seed)
    conditioned = ChunkingPolicy(obs, 2, chunk=3, hidden=(8,), goal_dim=goal)
    plain = ChunkingPolicy(obs + goal, 2, chunk=3, hidden=(8,))
    plain.load_state_dict(conditioned.state_dict())
    g = torch.Generator().manual_seed(seed)
    o, gl = torch.randn(batch, obs, generator=g), torch.randn(batch, goal, generator=g)
    x = torch.cat([o, gl], dim=-1)
    with torch.no_grad():
        torch.testing.assert_close(conditioned(o, gl), plain(x))
        torch.testing.assert_close(conditioned.predict(o, gl), plain.predict(x))
    for _ in range(4):  # temporal ensembling over the same steps
        mine = conditioned.act(o.numpy(), goal=gl.numpy())
        np.testing.assert_allclose(mine, plain.act(x.numpy()), rtol=1e-6, atol=1e-6)
    demos = Demonstrations(
        torch.randn(12, obs, generator=g),
        torch.randn(12, 2, generator=g),
        goals=torch.randn(12, goal, generator=g),
        episode_ids=torch.arange(3).repeat_interleave(4),
    )
    joined = Demonstrations(
        torch.cat([demos.observations, demos.goals], -1),
        demos.actions,
        episode_ids=demos.episode_ids,
    )
    a = conditioned.prepare_data(demos).batch_at(torch.arange(12))
    b = plain.prepare_data(joined).batch_at(torch.arange(12))
    with torch.no_grad():
        torch.testing.assert_close(conditioned.loss(a), plain.loss(b))


def test_goal_conditioned_chunks_refuse_missing_goals_and_round_trip() -> None:
    policy = ChunkingPolicy(2, 2, chunk=3, hidden=(8,), goal_dim=2)
    with pytest.raises(ShapeError, match=r"goal-conditioned \(goal_dim=2\) but no goals"):
        policy.predict(torch.zeros(1, 2))
    rebuilt = build_policy(policy.config)
    assert rebuilt.config == policy.config and rebuilt.goal_spec == policy.goal_spec
