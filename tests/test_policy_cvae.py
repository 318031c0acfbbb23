"""CVAEPolicy: shapes over drawn dims, the ELBO against a plain torch reference, bad
input, checkpoint round trip, the command line and a seeded bimodal learning test."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Independent, Normal, kl_divergence

from shapesafe.bc import (
    ActSpec,
    Batch,
    CVAEPolicy,
    Demonstrations,
    ObsSpec,
    build_policy,
    fit,
    load_policy,
)
from shapesafe.bc.policies._generative import densest
from shapesafe.bc.policies.cvae import diag_gaussian_kl
from shapesafe.cli import main
from shapesafe.errors import ShapeError, UsageError

dims = st.integers(1, 4)


def _bimodal(n: int = 512, seed: int = 0) -> Demonstrations:
    """One state (up to small noise), actions +1 or -1 at random: two modes."""
    g = torch.Generator().manual_seed(seed)
    obs = 0.1 * torch.randn(n, 2, generator=g)
    sign = torch.where(torch.rand(n, 1, generator=g) < 0.5, -1.0, 1.0)
    return Demonstrations(obs, sign + 0.05 * torch.randn(n, 1, generator=g))


# ---------------------------------------------------------------- shapes


@settings(max_examples=25)
@given(batch=st.integers(1, 5), obs=dims, act=dims, latent=dims, learned=st.booleans())
def test_shapes_of_every_part(batch: int, obs: int, act: int, latent: int, learned: bool) -> None:
    torch.manual_seed(0)
    policy = CVAEPolicy(obs, act, latent_dim=latent, hidden=(8,), learned_prior=learned)
    o, a = torch.randn(batch, obs), torch.randn(batch, act)
    q = policy.encode(o, a)
    p = policy.prior(o)
    for dist in (q, p):
        assert tuple(dist.batch_shape) == (batch,) and tuple(dist.event_shape) == (latent,)
    assert policy.decode(o, q.rsample()).shape == (batch, act)
    assert policy.predict(o).shape == (batch, act)
    assert policy.act(o.numpy()).shape == (batch, act)
    assert policy.act(o[0].numpy()).shape == (act,)
    out = policy.compute_loss(Batch(o, a))
    assert out.loss.shape == () and set(out.metrics) == {"recon", "kl"}
    assert all(v.shape == () for v in out.metrics.values())


@pytest.mark.values
@given(batch=st.integers(1, 6), latent=dims, seed=st.integers(0, 10_000))
def test_closed_form_kl_matches_torch(batch: int, latent: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    mu_q, mu_p = torch.randn(2, batch, latent, generator=g)
    ls_q, ls_p = torch.rand(2, batch, latent, generator=g) * 3 - 2
    ours = diag_gaussian_kl(mu_q, ls_q, mu_p, ls_p)
    ref = kl_divergence(
        Independent(Normal(mu_q, ls_q.exp()), 1), Independent(Normal(mu_p, ls_p.exp()), 1)
    )
    torch.testing.assert_close(ours, ref)


@pytest.mark.values
@given(
    batch=st.integers(1, 6),
    learned=st.booleans(),
    decoder_std=st.sampled_from([None, 0.3]),
    seed=st.integers(0, 1000),
)
@settings(max_examples=20)
def test_loss_is_the_negative_beta_elbo(
    batch: int, learned: bool, decoder_std: float | None, seed: int
) -> None:
    """The loss against a plain torch.distributions computation with the same latent
    draw (same seed), for the fixed and the learned prior, fixed and learned std."""
    torch.manual_seed(seed)
    policy = CVAEPolicy(
        3, 2, latent_dim=2, hidden=(8,), kl_weight=0.7, learned_prior=learned,
        decoder_std=decoder_std,
    )  # fmt: skip
    obs, act = torch.randn(batch, 3), torch.randn(batch, 2)
    torch.manual_seed(seed)
    out = policy.compute_loss(Batch(obs, act))

    q_mu, q_ls = policy.encoder(torch.cat([obs, act], -1)).chunk(2, -1)
    q = Independent(Normal(q_mu, q_ls.exp()), 1)
    if learned:
        assert policy.prior_net is not None
        p_mu, p_ls = policy.prior_net(obs).chunk(2, -1)
        p = Independent(Normal(p_mu, p_ls.exp()), 1)
    else:
        p = Independent(Normal(torch.zeros(batch, 2), torch.ones(batch, 2)), 1)
    torch.manual_seed(seed)
    z = q.rsample()
    std = math.log(decoder_std) if decoder_std is not None else policy.log_std
    assert std is not None
    dec = Independent(
        Normal(policy.decoder(torch.cat([obs, z], -1)), torch.as_tensor(std).exp()), 1
    )
    recon = -dec.log_prob(act).mean()
    kl = kl_divergence(q, p).mean()
    torch.testing.assert_close(out.metrics["recon"], recon.detach())
    torch.testing.assert_close(out.metrics["kl"], kl.detach())
    torch.testing.assert_close(out.loss, recon + 0.7 * kl)


@pytest.mark.values
def test_densest_picks_the_crowded_mode() -> None:
    cands = torch.tensor(
        [[[1.0], [1.1], [0.9], [-1.0], [0.0]], [[2.0], [2.0], [2.0], [2.0], [2.0]]]
    )
    torch.testing.assert_close(densest(cands), torch.tensor([[1.0], [2.0]]))


# ---------------------------------------------------------------- bad input


def test_bad_options_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="`latent_dim` must be a positive integer") as e:
        CVAEPolicy(2, 2, latent_dim=0)
    assert e.value.function == "CVAEPolicy" and e.value.argument == "latent_dim"
    with pytest.raises(UsageError, match="`kl_weight` must be a number >= 0") as e:
        CVAEPolicy(2, 2, kl_weight=-1.0)
    assert e.value.argument == "kl_weight" and e.value.got == "the float -1.0"
    with pytest.raises(UsageError, match="`decoder_std` must be a number > 0"):
        CVAEPolicy(2, 2, decoder_std=0.0)
    with pytest.raises(UsageError, match="`predict_with` must be one of 'mode', 'prior_mean'") as e:
        CVAEPolicy(2, 2, predict_with="median")
    assert e.value.expected == "mode, prior_mean"
    with pytest.raises(UsageError, match="unknown option for CVAEPolicy"):
        CVAEPolicy.from_specs(ObsSpec((3,)), ActSpec((2,)), beta=2.0)


def test_wrong_shapes_are_shape_errors() -> None:
    policy = CVAEPolicy(3, 2, hidden=(8,))
    with pytest.raises(ShapeError) as e:
        policy.predict(torch.zeros(4, 5))
    assert e.value.function == "CVAEPolicy.predict" and e.value.argument == "obs"
    assert "expected observations of shape (batch, 3)" in str(e.value)
    with pytest.raises(ShapeError) as e:
        policy.encode(torch.zeros(4, 3), torch.zeros(5, 2))
    assert e.value.argument == "act" and e.value.axis == 0
    with pytest.raises(ShapeError) as e:
        policy.loss((torch.zeros(4, 3), torch.zeros(4, 2, 1)))
    assert e.value.argument == "batch" and e.value.got == "(4, 2, 1)"
    assert "trailing axis of size 1" in str(e.value)


# ---------------------------------------------------------------- persistence and CLI


@pytest.mark.values
def test_checkpoint_round_trip(tmp_path: Path) -> None:
    demos = _bimodal(128)
    torch.manual_seed(0)
    policy = CVAEPolicy(2, 1, hidden=(16,), learned_prior=True, predict_with="mode")
    fit(policy, demos, steps=20, batch_size=32, progress=False, checkpoint_dir=tmp_path)
    loaded = load_policy(tmp_path / "last.pt")
    assert type(loaded) is CVAEPolicy and loaded.config == policy.config
    obs = demos.observations[:7]
    with torch.no_grad():
        torch.testing.assert_close(loaded.predict(obs), policy.eval().predict(obs))
    assert build_policy(policy.config).config == policy.config


def test_command_line_train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _bimodal(64).save(tmp_path / "demos.npz")
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--policy", "cvae",
            "--steps", "4", "--hidden", "8", "--option", "latent_dim=3",
            "--option", "kl_weight=0.5", "--no-progress"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    loaded = load_policy(tmp_path / "run" / "last.pt")
    assert isinstance(loaded, CVAEPolicy) and loaded.latent_dim == 3 and loaded.kl_weight == 0.5


# ---------------------------------------------------------------- learning


@pytest.mark.values
def test_learns_both_modes_of_a_bimodal_expert() -> None:
    torch.manual_seed(0)
    policy = CVAEPolicy(2, 1, hidden=(64, 64))
    result = fit(policy, _bimodal(), steps=600, lr=3e-3, progress=False, seed=0)
    assert result.metrics["kl"][-1] > 0.3  # the latent carries the mode (no collapse)
    torch.manual_seed(1)
    samples = policy.act(np.zeros((400, 2), np.float32))
    assert (samples > 0.7).mean() > 0.3 and (samples < -0.7).mean() > 0.3
    assert (np.abs(samples) < 0.3).mean() < 0.1
    assert abs(float(policy.act(np.zeros(2), deterministic=True)[0])) > 0.8  # a mode, not 0
