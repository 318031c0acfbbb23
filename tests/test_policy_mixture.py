"""MixturePolicy: shapes over drawn dims, the NLL against torch's MixtureSameFamily,
predict = the most likely component's mean, sampling by weight, bad input, checkpoint
round trip, the command line and a seeded bimodal learning test (against a Gaussian)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

import shapesafe
from shapesafe.bc import (
    ActSpec,
    Batch,
    Demonstrations,
    GaussianPolicy,
    MixturePolicy,
    ObsSpec,
    build_policy,
    fit,
    load_policy,
)
from shapesafe.bc.policies.mixture import mixture_log_prob
from shapesafe.cli import main
from shapesafe.distributions import GaussianMixture
from shapesafe.errors import DtypeError, ShapeError, UsageError

dims = st.integers(1, 4)


def _bimodal(n: int = 512, seed: int = 0) -> Demonstrations:
    """One state (up to small noise), actions +1 or -1 at random: two modes."""
    g = torch.Generator().manual_seed(seed)
    obs = 0.1 * torch.randn(n, 2, generator=g)
    sign = torch.where(torch.rand(n, 1, generator=g) < 0.5, -1.0, 1.0)
    return Demonstrations(obs, sign + 0.05 * torch.randn(n, 1, generator=g))


def _reference(
    logits: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor
) -> MixtureSameFamily:
    return MixtureSameFamily(
        Categorical(logits=logits), Independent(Normal(means, log_scales.exp()), 1)
    )


# ---------------------------------------------------------------- shapes and values


@settings(max_examples=30)
@given(batch=st.integers(1, 5), obs=dims, act=dims, k=dims)
def test_shapes_of_every_part(batch: int, obs: int, act: int, k: int) -> None:
    torch.manual_seed(0)
    policy = MixturePolicy(obs, act, components=k, hidden=(8,))
    o = torch.randn(batch, obs)
    logits, means, log_scales = policy.heads(o)
    assert logits.shape == (batch, k)
    assert means.shape == log_scales.shape == (batch, k, act)
    dist = policy(o)
    assert isinstance(dist, GaussianMixture)
    assert tuple(dist.batch_shape) == (batch,) and tuple(dist.event_shape) == (act,)
    assert policy.predict(o).shape == (batch, act)
    assert policy.act(o.numpy()).shape == (batch, act)
    assert policy.act(o[0].numpy()).shape == (act,)
    out = policy.compute_loss(Batch(o, torch.randn(batch, act)))
    assert out.loss.shape == () and set(out.metrics) == {"mixing_entropy", "mean_scale"}


@pytest.mark.values
@settings(max_examples=40)
@given(batch=st.integers(1, 6), act=dims, k=dims, seed=st.integers(0, 10_000))
def test_nll_matches_torch_mixture_same_family(batch: int, act: int, k: int, seed: int) -> None:
    torch.manual_seed(seed)
    policy = MixturePolicy(3, act, components=k, hidden=(8,))
    obs, actions = torch.randn(batch, 3), 2 * torch.randn(batch, act)
    logits, means, log_scales = policy.heads(obs)
    ref = _reference(logits, means, log_scales).log_prob(actions)
    torch.testing.assert_close(mixture_log_prob(logits, means, log_scales, actions), ref)
    torch.testing.assert_close(policy(obs).log_prob(actions), ref)
    torch.testing.assert_close(policy.loss((obs, actions)), -ref.mean())


@pytest.mark.values
@settings(max_examples=30)
@given(batch=st.integers(1, 6), act=dims, k=st.integers(2, 5), seed=st.integers(0, 10_000))
def test_predict_is_the_mean_of_the_most_likely_component(
    batch: int, act: int, k: int, seed: int
) -> None:
    torch.manual_seed(seed)
    policy = MixturePolicy(2, act, components=k, hidden=(8,))
    obs = torch.randn(batch, 2)
    logits, means, _ = policy.heads(obs)
    best = [int(np.argmax(row)) for row in logits.detach().numpy()]
    expected = torch.stack([means[i, best[i]] for i in range(batch)])
    torch.testing.assert_close(policy.predict(obs), expected)


def _two_component_policy(weight: float) -> MixturePolicy:
    """A policy that ignores the observation: components at -1 and +2 with weights
    (1 - weight, weight) and scales e^-10."""
    policy = MixturePolicy(1, 1, components=2, hidden=(4,), log_std_bounds=(-10.0, 2.0))
    last = policy.net[-1]
    assert isinstance(last, torch.nn.Linear)
    with torch.no_grad():
        last.weight.zero_()
        logit = float(np.log(weight / (1 - weight)))
        last.bias.copy_(torch.tensor([0.0, logit, -1.0, 2.0, -10.0, -10.0]))
    return policy


@pytest.mark.values
def test_sampling_picks_components_by_weight() -> None:
    policy = _two_component_policy(0.3)
    torch.manual_seed(0)
    samples = policy.act(np.zeros((4000, 1), np.float32))[:, 0]
    near_low, near_high = np.abs(samples + 1) < 1e-3, np.abs(samples - 2) < 1e-3
    assert (near_low | near_high).all()  # always one component's mean, never between
    assert abs(near_high.mean() - 0.3) < 0.03
    assert float(policy.act(np.zeros(1), deterministic=True)[0]) == pytest.approx(-1.0)


@pytest.mark.values
def test_loss_is_the_same_with_checks_off() -> None:
    torch.manual_seed(3)
    policy = MixturePolicy(2, 2, components=3, hidden=(8,))
    obs, act = torch.randn(9, 2), torch.randn(9, 2)
    on = policy.compute_loss(Batch(obs, act))
    with shapesafe.enabled(False):
        off = policy.compute_loss(Batch(obs, act))
        pred = policy.predict(obs)
    assert torch.equal(on.loss, off.loss)
    assert torch.equal(pred, policy.predict(obs))


# ---------------------------------------------------------------- bad input


def test_bad_options_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="`components` must be a positive integer") as e:
        MixturePolicy(2, 2, components=0)
    assert e.value.function == "MixturePolicy" and e.value.argument == "components"
    with pytest.raises(UsageError, match=r"`log_std_bounds` must be \(min, max\)") as e:
        MixturePolicy(2, 2, log_std_bounds=(1.0, -1.0))
    assert e.value.argument == "log_std_bounds" and e.value.got == "(1.0, -1.0)"
    with pytest.raises(UsageError, match="unknown option for MixturePolicy"):
        MixturePolicy.from_specs(ObsSpec((3,)), ActSpec((2,)), modes=2)
    with pytest.raises(DtypeError) as e:
        MixturePolicy.from_specs(ObsSpec((3,)), ActSpec((), torch.int64, discrete=4))
    assert e.value.argument == "act_spec" and "continuous" in str(e.value)


def test_wrong_shapes_are_shape_errors() -> None:
    policy = MixturePolicy(3, 2, components=2, hidden=(8,))
    with pytest.raises(ShapeError) as e:
        policy.predict(torch.zeros(4, 5))
    assert e.value.function == "MixturePolicy.predict" and e.value.argument == "obs"
    assert "expected observations of shape (batch, 3)" in str(e.value)
    with pytest.raises(ShapeError) as e:
        policy.heads(torch.zeros(4, 5))
    assert e.value.axis == 1 and e.value.expected == "obs=3"
    with pytest.raises(ShapeError) as e:
        policy.loss((torch.zeros(4, 3), torch.zeros(4, 2, 1)))
    assert e.value.argument == "batch" and e.value.got == "(4, 2, 1)"
    assert "trailing axis of size 1" in str(e.value)
    with pytest.raises(ShapeError) as e:
        policy(torch.zeros(4, 3)).log_prob(torch.zeros(4, 1))
    assert "log_prob" in str(e.value)


# ---------------------------------------------------------------- persistence and CLI


@pytest.mark.values
def test_checkpoint_round_trip(tmp_path: Path) -> None:
    demos = _bimodal(128)
    torch.manual_seed(0)
    policy = MixturePolicy(2, 1, components=3, hidden=(16,), log_std_bounds=(-4.0, 1.0))
    fit(policy, demos, steps=20, batch_size=32, progress=False, checkpoint_dir=tmp_path)
    loaded = load_policy(tmp_path / "last.pt")
    assert type(loaded) is MixturePolicy and loaded.config == policy.config
    obs = demos.observations[:7]
    policy.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded.predict(obs), policy.predict(obs))
        torch.testing.assert_close(
            loaded(obs).log_prob(demos.actions[:7]), policy(obs).log_prob(demos.actions[:7])
        )
    assert build_policy(policy.config).config == policy.config


def test_command_line_train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _bimodal(64).save(tmp_path / "demos.npz")
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--policy", "mixture",
            "--steps", "4", "--hidden", "8", "--option", "components=3", "--no-progress"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    loaded = load_policy(tmp_path / "run" / "last.pt")
    assert isinstance(loaded, MixturePolicy) and loaded.components == 3


# ---------------------------------------------------------------- learning


@pytest.mark.values
def test_learns_both_modes_where_a_gaussian_averages_them() -> None:
    demos = _bimodal()
    torch.manual_seed(0)
    policy = MixturePolicy(2, 1, components=3, hidden=(32, 32))
    fit(policy, demos, steps=400, lr=3e-3, progress=False, seed=0)
    torch.manual_seed(1)
    samples = policy.act(np.zeros((400, 2), np.float32))
    assert (samples > 0.7).mean() > 0.3 and (samples < -0.7).mean() > 0.3
    assert (np.abs(samples) < 0.3).mean() < 0.1
    assert abs(float(policy.act(np.zeros(2), deterministic=True)[0])) > 0.8  # a mode, not 0

    torch.manual_seed(0)
    gaussian = GaussianPolicy(2, 1, hidden=(32, 32))
    fit(gaussian, demos, steps=400, lr=3e-3, progress=False, seed=0)
    assert abs(float(gaussian.act(np.zeros(2), deterministic=True)[0])) < 0.3  # the average
