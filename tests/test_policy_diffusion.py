"""DiffusionPolicy and its arithmetic: schedules, forward noising and the timestep
embedding against plain formulas, DDIM/DDPM recovering x_0 with an oracle denoiser,
shapes over drawn dims, bounds, bad input, checkpoint round trip, the command line and
a seeded bimodal learning test."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from shapesafe.bc import (
    ActSpec,
    Batch,
    Demonstrations,
    DiffusionPolicy,
    ObsSpec,
    build_policy,
    fit,
    load_policy,
)
from shapesafe.bc.policies._schedules import (
    SCHEDULES,
    betas_for,
    q_sample,
    strided_timesteps,
    timestep_embedding,
)
from shapesafe.bc.policies.diffusion import PREDICTIONS
from shapesafe.cli import main
from shapesafe.errors import ShapeError, UsageError

dims = st.integers(1, 4)


def _bimodal(n: int = 512, seed: int = 0) -> Demonstrations:
    """One state (up to small noise), actions +1 or -1 at random: two modes."""
    g = torch.Generator().manual_seed(seed)
    obs = 0.1 * torch.randn(n, 2, generator=g)
    sign = torch.where(torch.rand(n, 1, generator=g) < 0.5, -1.0, 1.0)
    return Demonstrations(obs, sign + 0.05 * torch.randn(n, 1, generator=g))


# ---------------------------------------------------------------- the arithmetic


@pytest.mark.values
@given(schedule=st.sampled_from(SCHEDULES), steps=st.integers(1, 300))
def test_alpha_bar_decreases_inside_zero_one(schedule: str, steps: int) -> None:
    betas = betas_for(schedule, steps)
    alpha_bar = torch.cumprod(1 - betas, 0)
    assert betas.shape == (steps,) and bool(((betas > 0) & (betas < 1)).all())
    assert bool(((alpha_bar > 0) & (alpha_bar < 1)).all())
    assert bool((alpha_bar[1:] < alpha_bar[:-1]).all())
    if steps >= 10:  # a chain of any length ends close to pure noise
        assert float(alpha_bar[-1]) < 0.05


@pytest.mark.values
@given(batch=st.integers(1, 6), act=dims, seed=st.integers(0, 10_000))
def test_forward_noising_matches_the_formula(batch: int, act: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x0, noise = rng.normal(size=(2, batch, act)).astype(np.float32)
    ab = rng.uniform(0.01, 0.99, size=batch).astype(np.float32)
    ours = q_sample(torch.from_numpy(x0), torch.from_numpy(ab), torch.from_numpy(noise))
    ref = np.sqrt(ab)[:, None] * x0 + np.sqrt(1 - ab)[:, None] * noise
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-6, atol=1e-6)


@pytest.mark.values
@given(batch=st.integers(1, 5), dim=st.integers(1, 9), steps=st.integers(1, 200))
def test_timestep_embedding_matches_the_formula(batch: int, dim: int, steps: int) -> None:
    t = torch.randint(0, steps, (batch,))
    emb = timestep_embedding(t, dim, steps)
    half = dim // 2
    freqs = np.exp(-math.log(10000.0) * np.arange(half) / max(half, 1))
    angles = (t.numpy() * 1000.0 / steps)[:, None] * freqs
    ref = np.concatenate([np.sin(angles), np.cos(angles), np.zeros((batch, dim % 2))], axis=1)
    np.testing.assert_allclose(emb.numpy(), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.values
@given(data=st.data(), train=st.integers(1, 200))
def test_strided_timesteps_span_the_chain(data: st.DataObject, train: int) -> None:
    steps = data.draw(st.integers(1, train))
    ts = strided_timesteps(train, steps)
    assert len(ts) == steps and ts[0] == train - 1
    assert all(a > b for a, b in itertools.pairwise(ts))
    assert steps == 1 or ts[-1] == 0


def _oracle(policy: DiffusionPolicy, x0: Tensor) -> None:
    """Replace the denoiser by the perfect noise predictor for the clean actions x0
    (alpha_bar in float64, as the sampler uses it)."""
    ab = torch.cumprod(1 - betas_for(policy.schedule, policy.train_steps), 0).to(x0.dtype)

    def perfect(x_t: Tensor, t: Tensor, obs: Tensor) -> Tensor:
        a = ab[t].unsqueeze(-1)
        return (x_t - a.sqrt() * x0) / (1 - a).sqrt()

    policy.denoise = perfect  # type: ignore[method-assign]


@pytest.mark.values
@given(
    batch=st.integers(1, 5),
    act=dims,
    schedule=st.sampled_from(SCHEDULES),
    sampler=st.sampled_from(["ddim", "ddpm"]),
    steps=st.sampled_from([(50, 50), (50, 7), (20, 1)]),
    seed=st.integers(0, 1000),
)
@settings(max_examples=30)
def test_a_perfect_denoiser_recovers_x0(
    batch: int, act: int, schedule: str, sampler: str, steps: tuple[int, int], seed: int
) -> None:
    train, inference = steps
    policy = DiffusionPolicy(
        2, act, hidden=(4,), train_steps=train, inference_steps=inference, sampler=sampler,
        schedule=schedule, low=-1.0, high=1.0,
    ).double()  # fmt: skip
    g = torch.Generator().manual_seed(seed)
    x0 = torch.rand(batch, act, generator=g, dtype=torch.float64) * 1.8 - 0.9
    _oracle(policy, x0)
    # float64: the first step divides by sqrt(alpha_bar_T) ~ 1e-3, which float32 feels
    out = policy.sample(torch.zeros(batch, 2, dtype=torch.float64), generator=g)
    torch.testing.assert_close(out, x0, rtol=0, atol=1e-7)


@pytest.mark.values
@given(
    batch=st.integers(1, 6),
    prediction=st.sampled_from(PREDICTIONS),
    schedule=st.sampled_from(SCHEDULES),
    seed=st.integers(0, 1000),
)
@settings(max_examples=20)
def test_loss_against_a_plain_reference(
    batch: int, prediction: str, schedule: str, seed: int
) -> None:
    """The loss recomputed with plain torch from the same draws (same seed): t uniform
    over the chain, x_t from the closed-form forward process, MSE of the prediction."""
    torch.manual_seed(seed)
    policy = DiffusionPolicy(
        3, 2, hidden=(8,), train_steps=25, schedule=schedule, prediction=prediction,
        low=[-2.0, 0.0], high=[2.0, 4.0],
    )  # fmt: skip
    obs, act = (
        torch.randn(batch, 3),
        torch.rand(batch, 2) * torch.tensor([4.0, 4.0]) - torch.tensor([2.0, 0.0]),
    )
    torch.manual_seed(seed)
    out = policy.compute_loss(Batch(obs, act))

    x0 = (act - torch.tensor([-2.0, 0.0])) / torch.tensor([2.0, 2.0]) - 1
    alpha_bar = torch.cumprod(1 - betas_for(schedule, 25), 0).float()
    torch.manual_seed(seed)
    t = torch.randint(0, 25, (batch,))
    noise = torch.randn(batch, 2)
    ab = alpha_bar[t].unsqueeze(-1)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    emb = timestep_embedding(t, policy.embed_dim, 25)
    pred = policy.denoiser(torch.cat([obs, x_t, emb], -1))
    target = {"epsilon": noise, "sample": x0, "v": ab.sqrt() * noise - (1 - ab).sqrt() * x0}
    torch.testing.assert_close(out.loss, ((pred - target[prediction]) ** 2).mean())
    # denoise() gives the noise whatever the network predicts: the clean action it
    # implies is the network's own estimate of it
    eps = policy.denoise(x_t, t, obs)
    implied_x0 = (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()
    estimate = {
        "epsilon": (x_t - (1 - ab).sqrt() * pred) / ab.sqrt(),
        "sample": pred,
        "v": ab.sqrt() * x_t - (1 - ab).sqrt() * pred,
    }
    torch.testing.assert_close(implied_x0, estimate[prediction], rtol=1e-3, atol=1e-3)


# ---------------------------------------------------------------- shapes and bounds


@settings(max_examples=25)
@given(
    batch=st.integers(1, 5),
    obs=dims,
    act=dims,
    sampler=st.sampled_from(["ddim", "ddpm"]),
    prediction=st.sampled_from(PREDICTIONS),
)
def test_shapes_of_every_part(
    batch: int, obs: int, act: int, sampler: str, prediction: str
) -> None:
    torch.manual_seed(0)
    policy = DiffusionPolicy(
        obs, act, hidden=(8,), train_steps=10, inference_steps=3, sampler=sampler, candidates=4,
        prediction=prediction,
    )  # fmt: skip
    o, a = torch.randn(batch, obs), torch.randn(batch, act)
    t = torch.randint(0, 10, (batch,))
    assert policy.denoise(a, t, o).shape == (batch, act)
    assert policy.sample(o).shape == (batch, act)
    assert policy.predict(o).shape == (batch, act)
    assert policy.act(o.numpy()).shape == (batch, act)
    assert policy.act(o[0].numpy(), deterministic=True).shape == (act,)
    out = policy.compute_loss(Batch(o, a))
    assert out.loss.shape == () and set(out.metrics) == {"x0_mse"}


@pytest.mark.values
def test_bounds_come_from_the_data_and_clip_every_sample() -> None:
    demos = _bimodal(256)
    torch.manual_seed(0)
    policy = DiffusionPolicy(2, 1, hidden=(16,), train_steps=20, inference_steps=4)
    low, high = policy.bounds()  # no data yet: [-1, 1]
    assert low.tolist() == [-1.0] and high.tolist() == [1.0]
    fit(policy, demos, steps=5, progress=False)
    low, high = policy.bounds()
    torch.testing.assert_close(low, demos.actions.amin(0))
    torch.testing.assert_close(high, demos.actions.amax(0))
    samples = policy.sample(torch.randn(300, 2), noise=10 * torch.randn(300, 1))
    assert bool(((samples >= low) & (samples <= high)).all())
    torch.testing.assert_close(policy.unnormalize(policy.normalize(demos.actions)), demos.actions)

    fixed = DiffusionPolicy(2, 1, hidden=(16,), train_steps=20, low=-3.0, high=[3.0])
    fit(fixed, demos, steps=5, progress=False)
    assert fixed.bounds()[0].tolist() == [-3.0] and fixed.bounds()[1].tolist() == [3.0]


@pytest.mark.values
def test_inference_steps_change_after_training() -> None:
    torch.manual_seed(0)
    policy = DiffusionPolicy(2, 1, hidden=(8,), train_steps=30, inference_steps=30)
    calls: list[int] = []
    inner = policy.denoise

    def counting(x_t: Tensor, t: Tensor, obs: Tensor) -> Tensor:
        calls.append(int(t[0]))
        return inner(x_t, t, obs)

    policy.denoise = counting  # type: ignore[method-assign]
    for steps in (30, 10, 5, 1):
        calls.clear()
        policy.inference_steps = steps
        policy.sample(torch.zeros(3, 2))
        assert len(calls) == steps and calls[0] == 29
        assert policy.config["inference_steps"] == steps


# ---------------------------------------------------------------- bad input


def test_bad_options_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="`inference_steps` must be at most train_steps=10") as e:
        DiffusionPolicy(2, 1, train_steps=10, inference_steps=20)
    assert e.value.function == "DiffusionPolicy" and e.value.argument == "inference_steps"
    policy = DiffusionPolicy(2, 1, hidden=(4,), train_steps=10)
    with pytest.raises(UsageError, match="`inference_steps` must be a positive integer"):
        policy.inference_steps = 0
    assert policy.inference_steps == 10  # unchanged
    with pytest.raises(UsageError, match="`sampler` must be one of 'ddim', 'ddpm'") as e:
        policy.sampler = "euler"
    assert e.value.got == "the str 'euler'"
    with pytest.raises(UsageError, match="`schedule` must be one of 'cosine', 'linear'") as e:
        DiffusionPolicy(2, 1, schedule="sigmoid")
    assert e.value.argument == "schedule"
    with pytest.raises(UsageError, match="give both `low` and `high`"):
        DiffusionPolicy(2, 1, low=-1.0)
    with pytest.raises(UsageError, match="`low` must be below `high` in every dimension"):
        DiffusionPolicy(2, 2, low=[-1.0, 1.0], high=[1.0, 1.0])
    with pytest.raises(UsageError, match=r"`high` must be a finite number or 2 of them") as e:
        DiffusionPolicy(2, 2, low=-1.0, high=[1.0, 2.0, 3.0])
    assert e.value.argument == "high"
    with pytest.raises(UsageError, match="unknown option for DiffusionPolicy"):
        DiffusionPolicy.from_specs(ObsSpec((2,)), ActSpec((1,)), steps=5)


def test_wrong_shapes_are_shape_errors() -> None:
    policy = DiffusionPolicy(3, 2, hidden=(8,), train_steps=10, inference_steps=2)
    with pytest.raises(ShapeError) as e:
        policy.predict(torch.zeros(4, 5))
    assert e.value.function == "DiffusionPolicy.predict" and e.value.argument == "obs"
    assert "expected observations of shape (batch, 3)" in str(e.value)
    with pytest.raises(ShapeError) as e:
        policy.sample(torch.zeros(4, 3), noise=torch.zeros(5, 2))
    assert e.value.argument == "noise" and e.value.axis == 0
    with pytest.raises(ShapeError) as e:
        policy.denoise(torch.zeros(4, 2), torch.zeros(4, 1, dtype=torch.long), torch.zeros(4, 3))
    assert e.value.argument == "t"
    with pytest.raises(ShapeError) as e:
        policy.loss((torch.zeros(4, 3), torch.zeros(4, 2, 1)))
    assert e.value.argument == "batch" and "trailing axis of size 1" in str(e.value)


# ---------------------------------------------------------------- persistence and CLI


@pytest.mark.values
def test_checkpoint_round_trip(tmp_path: Path) -> None:
    demos = _bimodal(128)
    torch.manual_seed(0)
    policy = DiffusionPolicy(2, 1, hidden=(16,), train_steps=20, inference_steps=5)
    fit(policy, demos, steps=20, batch_size=32, progress=False, checkpoint_dir=tmp_path)
    loaded = load_policy(tmp_path / "last.pt")
    assert type(loaded) is DiffusionPolicy and loaded.config == policy.config
    torch.testing.assert_close(loaded.bounds(), policy.bounds())
    obs = demos.observations[:7]
    with torch.no_grad():
        torch.testing.assert_close(loaded.predict(obs), policy.eval().predict(obs))
    g1, g2 = (torch.Generator().manual_seed(3) for _ in range(2))
    torch.testing.assert_close(loaded.sample(obs, generator=g1), policy.sample(obs, generator=g2))
    assert build_policy(policy.config).config == policy.config


def test_command_line_train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _bimodal(64).save(tmp_path / "demos.npz")
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--policy",
            "diffusion", "--steps", "4", "--hidden", "8", "--option", "train_steps=20",
            "--option", "inference_steps=4", "--option", "sampler=ddpm",
            "--no-progress"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    loaded = load_policy(tmp_path / "run" / "last.pt")
    assert isinstance(loaded, DiffusionPolicy) and loaded.sampler == "ddpm"
    assert (loaded.train_steps, loaded.inference_steps) == (20, 4)


# ---------------------------------------------------------------- learning


@pytest.mark.values
def test_learns_both_modes_of_a_bimodal_expert() -> None:
    torch.manual_seed(0)
    policy = DiffusionPolicy(2, 1, hidden=(64, 64))
    fit(policy, _bimodal(), steps=800, lr=3e-3, progress=False, seed=0)
    torch.manual_seed(1)
    samples = policy.act(np.zeros((400, 2), np.float32))
    assert (samples > 0.7).mean() > 0.2 and (samples < -0.7).mean() > 0.2  # both modes
    assert (np.abs(samples) < 0.3).mean() < 0.1
    assert abs(float(policy.act(np.zeros(2), deterministic=True)[0])) > 0.7  # a mode, not 0
