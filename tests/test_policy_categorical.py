"""CategoricalPolicy: shapes over drawn dims, the loss against torch's cross-entropy,
action masks (probability exactly 0, never sampled, entropy over the legal actions,
masked loss), bad input, checkpoint round trip, the command line and learning."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Categorical

import shapesafe
from shapesafe.bc import (
    ActSpec,
    Batch,
    CategoricalPolicy,
    Demonstrations,
    ObsSpec,
    build_policy,
    evaluate,
    fit,
    load_policy,
)
from shapesafe.cli import main
from shapesafe.errors import DataError, DtypeError, ShapeError, UsageError


@st.composite
def masks(draw: st.DrawFn, batch: int, n: int) -> torch.Tensor:
    """(batch, n) legal-action masks with at least one legal action per row."""
    rows = []
    for _ in range(batch):
        row = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        row[draw(st.integers(0, n - 1))] = True
        rows.append(row)
    return torch.tensor(rows, dtype=torch.bool)


def _demos(n: int = 512, seed: int = 0, mask: bool = False) -> Demonstrations:
    """Action = which quadrant the 2-D observation lies in (4 actions); with ``mask``
    the two actions of the other half-plane are illegal."""
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, 2, generator=g)
    act = 2 * (obs[:, 0] > 0).long() + (obs[:, 1] > 0).long()
    extras = None
    if mask:
        right = (obs[:, 0] > 0).unsqueeze(1)
        extras = {"action_mask": torch.cat([~right, ~right, right, right], 1)}
    return Demonstrations(obs, act, extras=extras)


# ---------------------------------------------------------------- shapes and values


@settings(max_examples=30)
@given(data=st.data(), batch=st.integers(1, 5), obs=st.integers(1, 4), n=st.integers(1, 6))
def test_shapes_of_every_part(data: st.DataObject, batch: int, obs: int, n: int) -> None:
    torch.manual_seed(0)
    policy = CategoricalPolicy(obs, n, hidden=(8,))
    o = torch.randn(batch, obs)
    m = data.draw(masks(batch, n))
    assert policy.logits(o).shape == policy.logits(o, m).shape == (batch, n)
    dist = policy(o, m)
    assert tuple(dist.batch_shape) == (batch,) and tuple(dist.event_shape) == ()
    assert policy.predict(o).shape == (batch,) and policy.predict(o).dtype == torch.int64
    assert policy.act(o.numpy()).shape == (batch,)
    assert policy.act(o[0].numpy(), action_mask=m[0].numpy()).shape == ()
    assert policy.act(o.numpy(), action_mask=m.numpy(), deterministic=True).shape == (batch,)
    a = torch.randint(0, n, (batch,))
    out = policy.compute_loss(Batch(o, a))
    assert out.loss.shape == () and set(out.metrics) == {"accuracy"}


@pytest.mark.values
@settings(max_examples=40)
@given(data=st.data(), batch=st.integers(1, 6), n=st.integers(1, 6), seed=st.integers(0, 9999))
def test_masked_distribution_against_a_renormalised_reference(
    data: st.DataObject, batch: int, n: int, seed: int
) -> None:
    """Probabilities: softmax over the legal actions only, exactly 0 elsewhere; entropy
    over the legal actions; log-probs of legal actions match the reference."""
    torch.manual_seed(seed)
    policy = CategoricalPolicy(3, n, hidden=(8,))
    obs = torch.randn(batch, 3)
    m = data.draw(masks(batch, n))
    raw = policy.logits(obs).detach()
    dist = policy(obs, m)
    for i in range(batch):
        legal = m[i].nonzero().flatten()
        ref = Categorical(logits=raw[i, legal])
        probs = dist.probs[i].detach()
        assert (probs[~m[i]] == 0).all()
        torch.testing.assert_close(probs[legal], ref.probs)
        torch.testing.assert_close(dist.entropy()[i].detach(), ref.entropy())
        for j, a in enumerate(legal.tolist()):
            lp = dist.log_prob(torch.full((batch,), a))[i].detach()
            torch.testing.assert_close(lp, ref.log_prob(torch.tensor(j)))


@pytest.mark.values
@settings(max_examples=30)
@given(data=st.data(), batch=st.integers(1, 6), n=st.integers(2, 6), seed=st.integers(0, 9999))
def test_loss_is_cross_entropy_over_the_legal_actions(
    data: st.DataObject, batch: int, n: int, seed: int
) -> None:
    torch.manual_seed(seed)
    policy = CategoricalPolicy(3, n, hidden=(8,))
    obs = torch.randn(batch, 3)
    m = data.draw(masks(batch, n))
    act = torch.tensor(
        [int(row.nonzero()[data.draw(st.integers(0, int(row.sum()) - 1))]) for row in m]
    )
    raw = policy.logits(obs)
    # plain torch: a large negative number in place of -inf gives the same softmax
    ref = F.cross_entropy(raw.masked_fill(~m, -1e9), act)
    out = policy.compute_loss(Batch(obs, act, extras={"action_mask": m.long()}))
    torch.testing.assert_close(out.loss, ref)
    torch.testing.assert_close(policy.compute_loss(Batch(obs, act)).loss, F.cross_entropy(raw, act))
    hits = (raw.masked_fill(~m, -1e9).argmax(-1) == act).float().mean()
    torch.testing.assert_close(out.metrics["accuracy"], hits)


@pytest.mark.values
def test_masked_actions_are_never_sampled_or_predicted() -> None:
    torch.manual_seed(0)
    policy = CategoricalPolicy(2, 5, hidden=(8,))
    last = policy.net[-1]
    assert isinstance(last, torch.nn.Linear)
    with torch.no_grad():  # action 4 is by far the most likely; masking must still win
        last.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 0.0, 20.0]))
    mask = np.array([True, False, True, False, False])
    draws = policy.act(np.zeros((3000, 2), np.float32), action_mask=np.tile(mask, (3000, 1)))
    assert set(np.unique(draws)) == {0, 2}
    assert abs((draws == 0).mean() - 0.5) < 0.1  # ~equal logits -> ~equal shares
    assert policy.act(np.zeros(2), action_mask=mask, deterministic=True) in (0, 2)
    assert policy.act(np.zeros(2), deterministic=True) == 4
    # a 0/1 integer mask and a torch bool mask mean the same
    one = policy.act(np.zeros(2), action_mask=[0, 0, 0, 1, 0])
    assert one == 3
    assert policy.act(np.zeros(2), action_mask=torch.tensor(mask), deterministic=True) in (0, 2)


@pytest.mark.values
def test_loss_is_the_same_with_checks_off() -> None:
    torch.manual_seed(3)
    policy = CategoricalPolicy(2, 4, hidden=(8,))
    demos = _demos(64, mask=True)
    batch = demos.batch_at(torch.arange(64))
    on = policy.compute_loss(batch)
    with shapesafe.enabled(False):
        off = policy.compute_loss(batch)
    assert torch.equal(on.loss, off.loss)
    assert torch.equal(on.metrics["accuracy"], off.metrics["accuracy"])


# ---------------------------------------------------------------- bad input


def test_a_row_with_no_legal_action_is_an_error() -> None:
    policy = CategoricalPolicy(2, 3, hidden=(8,))
    mask = np.array([[True, False, False], [False, False, False]])
    with pytest.raises(DataError, match="row 1 of the action mask allows no action") as e:
        policy.act(np.zeros((2, 2)), action_mask=mask)
    assert e.value.function == "CategoricalPolicy.act" and e.value.argument == "action_mask"
    assert e.value.got == "all False in row 1"
    with pytest.raises(DataError, match="allows no action") as e:
        policy(torch.zeros(2, 2), torch.tensor(mask))
    assert e.value.function == "CategoricalPolicy.forward"


def test_bad_masks_are_refused() -> None:
    policy = CategoricalPolicy(2, 3, hidden=(8,))
    with pytest.raises(ShapeError, match=r"must have shape \(batch, n_actions\) = \(2, 3\)") as e:
        policy.act(np.zeros((2, 2)), action_mask=np.ones(3, bool))
    assert e.value.expected == "(2, 3)" and e.value.got == "(3,)"
    assert e.value.hint is not None and "one row per observation" in e.value.hint
    with pytest.raises(DtypeError, match="must hold booleans") as e:
        policy.act(np.zeros(2), action_mask=np.ones(3))
    assert e.value.got == "torch.float64" and "mask.astype(bool)" in str(e.value.hint)
    obs, act = torch.zeros(2, 2), torch.tensor([0, 1])
    with pytest.raises(ShapeError) as e:
        policy.loss(Batch(obs, act, extras={"action_mask": torch.ones(2, 4, dtype=torch.bool)}))
    assert e.value.argument == "batch.extras['action_mask']" and e.value.got == "(2, 4)"


def test_demonstrated_actions_must_be_legal_and_in_range() -> None:
    policy = CategoricalPolicy(2, 3, hidden=(8,))
    obs = torch.zeros(2, 2)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    with pytest.raises(DataError, match="action 1 in row 1 is illegal under its own") as e:
        policy.loss(Batch(obs, torch.tensor([0, 1]), extras={"action_mask": mask}))
    assert e.value.function == "CategoricalPolicy.loss"
    assert e.value.got == "action 1 masked in row 1"
    with pytest.raises(DataError, match=r"action 5 in row 1 lies outside the 3 actions") as e:
        policy.loss(Batch(obs, torch.tensor([0, 5])))
    assert e.value.hint == "build the policy with n_actions=6"
    demos = Demonstrations(torch.zeros(4, 2), torch.tensor([0, 1, 2, 3]))
    with pytest.raises(DataError, match="action 3 in row 3") as e:
        fit(policy, demos, steps=1, progress=False)
    assert e.value.function == "CategoricalPolicy.prepare_data"


def test_bad_options_and_specs() -> None:
    with pytest.raises(UsageError, match="`n_actions` must be a positive integer") as e:
        CategoricalPolicy(2, 0)
    assert e.value.function == "CategoricalPolicy"
    with pytest.raises(DtypeError, match="takes one discrete action per step") as e:
        CategoricalPolicy.from_specs(ObsSpec((3,)), ActSpec((2,)))
    assert e.value.argument == "act_spec" and e.value.hint is not None
    with pytest.raises(ShapeError, match=r"takes flat observations \(obs,\)"):
        CategoricalPolicy.from_specs(ObsSpec((3, 4)), ActSpec((), discrete=2))
    with pytest.raises(UsageError, match="unknown option for CategoricalPolicy"):
        CategoricalPolicy.from_specs(ObsSpec((3,)), ActSpec((), discrete=2), temperature=2)
    policy = CategoricalPolicy.from_specs(ObsSpec((3,)), ActSpec((), discrete=7))
    assert isinstance(policy, CategoricalPolicy) and policy.n_actions == 7
    with pytest.raises(DtypeError, match="integer tensor"):
        policy.loss((torch.zeros(2, 3), torch.zeros(2)))


# ---------------------------------------------------------------- persistence and CLI


@pytest.mark.values
def test_checkpoint_round_trip(tmp_path: Path) -> None:
    demos = _demos(128, mask=True)
    torch.manual_seed(0)
    policy = CategoricalPolicy(2, 4, hidden=(16,), activation="tanh")
    fit(policy, demos, steps=20, batch_size=32, progress=False, checkpoint_dir=tmp_path)
    loaded = load_policy(tmp_path / "last.pt")
    assert type(loaded) is CategoricalPolicy and loaded.config == policy.config
    assert loaded.config["n_actions"] == 4
    obs = demos.observations[:9]
    policy.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded.logits(obs), policy.logits(obs))
    assert build_policy(policy.config).config == policy.config


def test_command_line_train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _demos(64).save(tmp_path / "demos.npz")
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--policy",
            "categorical", "--steps", "4", "--hidden", "8", "--no-progress"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    loaded = load_policy(tmp_path / "run" / "last.pt")
    assert isinstance(loaded, CategoricalPolicy) and loaded.n_actions == 4


def test_command_line_train_with_masks_of_more_actions_than_the_data_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Actions 0-2 only, but the mask knows of 5: the inferred n_actions=3 is refused with
    the fix, and --option n_actions=5 trains."""
    demos = _demos(64)
    act = demos.actions.clamp(max=2)
    mask = torch.ones(64, 5, dtype=torch.bool)
    data = Demonstrations(demos.observations, act, extras={"action_mask": mask})
    path = data.save(tmp_path / "demos.npz")
    argv = ["train", "--data", str(path), "--policy", "categorical", "--steps", "2",
            "--no-progress", "--out"]  # fmt: skip
    assert main([*argv, str(tmp_path / "a")]) != 0
    assert "got (58, 5) (the mask knows of 5 actions)" in capsys.readouterr().err
    policy = CategoricalPolicy(2, 3)
    with pytest.raises(ShapeError) as e:
        fit(policy, data, steps=1, progress=False)
    assert (
        e.value.hint == "build the policy with n_actions=5 (shapesafe train: --option n_actions=5)"
    )
    assert main([*argv, str(tmp_path / "b"), "--option", "n_actions=5"]) == 0
    assert load_policy(tmp_path / "b" / "last.pt").config["n_actions"] == 5


# ---------------------------------------------------------------- learning


@pytest.mark.values
def test_learns_the_quadrant_expert_with_and_without_masks() -> None:
    for mask in (False, True):
        torch.manual_seed(0)
        policy = CategoricalPolicy(2, 4, hidden=(32, 32))
        result = fit(policy, _demos(mask=mask), steps=300, lr=3e-3, progress=False, seed=0)
        assert result.metrics["accuracy"][-1] > 0.9
        held_out = evaluate(policy, _demos(256, seed=1, mask=mask))
        assert held_out["accuracy"] > 0.9 and held_out["loss"] < 0.4
        assert math.isfinite(held_out["loss"])
