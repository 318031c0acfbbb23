"""RecurrentPolicy (kind "gru"): shapes, the state carried by ``act`` against whole
sequences run through ``nn.GRU`` per episode, the training loss against a per-row
reference (each window's valid steps run alone from a zero state), round trips, a short
learning run on a non-Markov expert, and the refusals."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from shapesafe.bc import (
    Batch,
    Demonstrations,
    DeterministicPolicy,
    RecurrentPolicy,
    build_policy,
    evaluate,
    fit,
    load_policy,
)
from shapesafe.cli import main
from shapesafe.errors import DataError, ShapeError, UsageError
from test_policy_history import difference_demos

dims = st.integers(1, 4)


@pytest.mark.values
@given(
    batch=dims,
    time=dims,
    obs=dims,
    act=dims,
    layers=st.integers(1, 2),
    seed=st.integers(0, 99),
)
def test_shapes(batch: int, time: int, obs: int, act: int, layers: int, seed: int) -> None:
    torch.manual_seed(seed)
    policy = RecurrentPolicy(obs, act, hidden_size=5, num_layers=layers, hidden=(8,))
    x = torch.randn(batch, time, obs)
    actions, state = policy(x)
    assert actions.shape == (batch, time, act) and state.shape == (layers, batch, 5)
    torch.testing.assert_close(policy.predict(x), actions[:, -1])
    assert policy.act(x[:, 0].numpy()).shape == (batch, act)
    policy.reset()
    assert policy.act(x[0, 0].numpy()).shape == (act,)


@pytest.mark.values
@given(envs=st.integers(1, 3), steps=st.integers(1, 8), data=st.data())
def test_act_carries_the_state_and_resets_per_env(
    envs: int, steps: int, data: st.DataObject
) -> None:
    """Per env, the actions of ``act`` equal the GRU run over each episode's whole
    observation sequence from a zero state."""
    torch.manual_seed(steps)
    policy = RecurrentPolicy(2, 2, hidden_size=6, num_layers=2, hidden=(8,))
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
    got = []
    for t in range(steps):
        policy.reset() if t == 0 else policy.reset(starts[t])
        got.append(policy.act(obs[t].numpy()))
    for e in range(envs):
        bounds = [*np.flatnonzero(starts[:, e]), steps]
        for a, b in itertools.pairwise(bounds):
            with torch.no_grad():
                want, _ = policy(obs[a:b, e][None])
            np.testing.assert_allclose(
                np.stack([got[t][e] for t in range(a, b)]), want[0].numpy(), rtol=1e-5, atol=1e-6
            )


@pytest.mark.values
@given(seq_len=st.integers(1, 5), seed=st.integers(0, 99))
def test_loss_and_predictions_match_a_per_row_reference(seq_len: int, seed: int) -> None:
    """Each row: run the valid steps of its window alone from a zero state; the loss is
    the MSE over all those steps, the prediction the output at the row's own step."""
    torch.manual_seed(seed)
    demos = Demonstrations(
        torch.randn(11, 2), torch.randn(11, 1), episode_ids=[0, 0, 0, 0, 1, 2, 2, 2, 2, 2, 2]
    )
    policy = RecurrentPolicy(2, 1, seq_len=seq_len, hidden_size=4, hidden=(8,))
    batch = policy.prepare_data(demos).batch_at(torch.arange(11))
    sq, count, preds = 0.0, 0, []
    ids = demos.episode_ids.tolist()
    for r in range(11):
        rows = [q for q in range(r + 1) if ids[q] == ids[r]][-seq_len:]
        with torch.no_grad():
            out, _ = policy(demos.observations[rows][None])
        sq += float(((out[0] - demos.actions[rows]) ** 2).sum())
        count += len(rows)
        preds.append(out[0, -1])
    with torch.no_grad():
        assert policy.loss(batch).item() == pytest.approx(sq / count, rel=1e-5)
        torch.testing.assert_close(policy.predict_batch(batch), torch.stack(preds))


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    policy = RecurrentPolicy(2, 2, seq_len=4, hidden_size=8, num_layers=2, hidden=(8,))
    assert build_policy(policy.config).config == policy.config
    fit(policy, difference_demos(6, 5), steps=5, checkpoint_dir=tmp_path, progress=False)
    loaded = load_policy(tmp_path / "last.pt")
    assert isinstance(loaded, RecurrentPolicy) and loaded.config == policy.config
    x = torch.randn(3, 7, 2)
    torch.testing.assert_close(loaded(x)[0], policy(x)[0])


def test_cli_trains_a_gru(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = difference_demos(6, 5).save(tmp_path / "demos.npz")
    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--policy", "gru", "--option", "seq_len=3",
            "--option", "hidden_size=8", "--steps", "4", "--no-progress", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    policy = load_policy(out / "last.pt")
    assert isinstance(policy, RecurrentPolicy) and policy.seq_len == 3


@pytest.mark.values
def test_recovers_a_non_markov_expert_that_one_step_bc_cannot() -> None:
    demos, held_out = difference_demos(60, 15, seed=0), difference_demos(20, 15, seed=1)
    torch.manual_seed(0)
    gru = RecurrentPolicy(2, 2, seq_len=8, hidden_size=32, hidden=(32,))
    fit(gru, demos, steps=500, lr=5e-3, seed=0, progress=False)
    torch.manual_seed(0)
    one_step = DeterministicPolicy(2, 2, hidden=(64, 64))
    fit(one_step, demos, steps=500, lr=5e-3, seed=0, progress=False)
    gru_err = evaluate(gru, held_out)["mean_error"]
    assert evaluate(one_step, held_out)["mean_error"] > 0.4
    assert gru_err < 0.1
    # act() carries the state over a whole recorded episode (longer than the training
    # windows) and still tracks the expert
    gru.reset()
    online = np.stack([gru.act(o.numpy()) for o in held_out.observations[:15]])
    assert np.abs(online - held_out.actions[:15].numpy()).mean() < 0.1


def test_fit_needs_episode_ids() -> None:
    demos = Demonstrations(torch.zeros(10, 2), torch.zeros(10, 2))
    with pytest.raises(DataError, match="have no episode ids") as info:
        fit(RecurrentPolicy(2, 2), demos, steps=1, progress=False)
    assert (info.value.function, info.value.argument) == ("fit", "demos")


def test_refusals() -> None:
    with pytest.raises(UsageError) as info:
        RecurrentPolicy(2, 2, seq_len=0)
    assert (info.value.function, info.value.argument) == ("RecurrentPolicy", "seq_len")
    policy = RecurrentPolicy(2, 2)
    with pytest.raises(ShapeError, match="expected observation sequences") as shape_info:
        policy.predict(torch.zeros(5, 2))
    err = shape_info.value
    assert (err.function, err.argument, err.expected) == (
        "RecurrentPolicy.predict", "obs", "(batch, time, 2)",
    )  # fmt: skip
    with pytest.raises(DataError, match="no 'obs_seq' extra"):
        policy.loss((torch.zeros(5, 2), torch.zeros(5, 2)))
    extras = {
        "obs_seq": torch.zeros(5, 3, 2),
        "act_seq": torch.zeros(5, 16, 2),
        "seq_mask": torch.ones(5, 16, dtype=torch.bool),
    }
    with pytest.raises(ShapeError):
        policy.loss(Batch(torch.zeros(5, 2), torch.zeros(5, 2), extras=extras))
    policy.act(np.zeros((3, 2)))
    with pytest.raises(UsageError, match="holds the state of 3 running") as info:
        policy.act(np.zeros((2, 2)))
    assert info.value.function == "RecurrentPolicy.act"
    with pytest.raises(ShapeError):
        policy.reset(np.array([True]))
