from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from jaxtyping import Float
from torch import Tensor, nn
from torch.distributions import Independent, Normal

from shapesafe.bc import (
    ACTIVATIONS,
    DeterministicPolicy,
    GaussianPolicy,
    Policy,
    build_policy,
    mlp,
)
from shapesafe.errors import DataError, DtypeError, ShapeError, UsageError
from shapesafe.testing import from_annotation

dims = st.integers(1, 6)
batches = st.integers(1, 33)
# A batch of observations and demonstrated actions; the policy is built to fit it.
obs_acts = from_annotation(
    (Float[Tensor, "batch obs"], Float[Tensor, "batch act"]),
    dims={"batch": batches, "obs": dims, "act": dims},
)


# ---------------------------------------------------------------- mlp


@pytest.mark.values
@given(in_dim=dims, out_dim=dims, hidden=st.lists(st.integers(1, 16), max_size=3))
def test_mlp_layers(in_dim: int, out_dim: int, hidden: list[int]) -> None:
    net = mlp(in_dim, out_dim, hidden, activation="tanh")
    linears = [m for m in net if isinstance(m, nn.Linear)]
    sizes = [in_dim, *hidden, out_dim]
    assert [(lin.in_features, lin.out_features) for lin in linears] == list(
        itertools.pairwise(sizes)
    )
    assert sum(isinstance(m, nn.Tanh) for m in net) == len(hidden)
    assert isinstance(net[-1], nn.Linear)


def test_mlp_rejects_bad_arguments() -> None:
    with pytest.raises(UsageError, match=r"unknown activation 'sigmoidish'; choose one of elu"):
        mlp(2, 2, activation="sigmoidish")
    with pytest.raises(UsageError, match=r"`hidden` must be a positive integer, got 0"):
        mlp(2, 2, hidden=(32, 0))
    with pytest.raises(UsageError, match=r"`in_dim` must be a positive integer, got 2.5"):
        mlp(2.5, 2)  # type: ignore[arg-type]


# ---------------------------------------------------------------- Gaussian


@pytest.mark.values
@given(obs_act=obs_acts, seed=st.integers(0, 1000))
def test_gaussian_log_prob_matches_torch(obs_act: tuple[Tensor, Tensor], seed: int) -> None:
    obs, act = obs_act
    (batch, obs_dim), act_dim = obs.shape, act.shape[1]
    torch.manual_seed(seed)  # the policy's weights
    policy = GaussianPolicy(obs_dim, act_dim, hidden=(8,), init_log_std=-0.5)
    with torch.no_grad():
        policy.log_std.uniform_(-2.0, 1.0)
    dist = policy(obs)
    assert tuple(dist.batch_shape) == (batch,) and tuple(dist.event_shape) == (act_dim,)
    reference = Independent(Normal(policy.net(obs), policy.log_std.exp()), 1)
    torch.testing.assert_close(dist.log_prob(act), reference.log_prob(act))
    torch.testing.assert_close(policy.loss((obs, act)), -reference.log_prob(act).mean())
    torch.testing.assert_close(policy.predict(obs), policy.net(obs))
    torch.testing.assert_close(policy.std(), policy.log_std.exp())


@pytest.mark.values
@given(obs_act=obs_acts, seed=st.integers(0, 1000))
def test_state_dependent_std_matches_torch(obs_act: tuple[Tensor, Tensor], seed: int) -> None:
    obs, act = obs_act
    obs_dim, act_dim = obs.shape[1], act.shape[1]
    torch.manual_seed(seed)  # the policy's weights
    policy = GaussianPolicy(obs_dim, act_dim, hidden=(8,), state_dependent_std=True)
    assert policy.log_std is None
    out = policy.net(obs)
    loc, log_std = out[:, :act_dim], out[:, act_dim:].clamp(-10.0, 2.0)
    reference = Independent(Normal(loc, log_std.exp()), 1)
    torch.testing.assert_close(policy(obs).log_prob(act), reference.log_prob(act))
    torch.testing.assert_close(policy.std(obs), log_std.exp())


@pytest.mark.values
def test_log_std_is_bounded() -> None:
    policy = GaussianPolicy(2, 3, state_dependent_std=True, log_std_bounds=(-3.0, 1.0))
    last = policy.net[-1]
    assert isinstance(last, nn.Linear)
    with torch.no_grad():
        last.bias[3:] = torch.tensor([-50.0, 0.5, 50.0])
        last.weight.zero_()
    std = policy.std(torch.zeros(4, 2))
    torch.testing.assert_close(
        std[0], torch.tensor([np.exp(-3.0), np.exp(0.5), np.exp(1.0)]).float()
    )
    fixed = GaussianPolicy(2, 2, log_std_bounds=(-1.0, 0.0), init_log_std=0.0)
    with torch.no_grad():
        fixed.log_std.fill_(-7.0)
    torch.testing.assert_close(fixed.std(), torch.full((2,), float(np.exp(-1.0))))


@pytest.mark.values
def test_initial_std_and_state_dependent_initial_bias() -> None:
    assert torch.equal(GaussianPolicy(2, 2, init_log_std=0.0).std(), torch.ones(2))
    policy = GaussianPolicy(2, 2, state_dependent_std=True, init_log_std=-1.0)
    last = policy.net[-1]
    assert isinstance(last, nn.Linear)
    assert torch.equal(last.bias[2:].detach(), torch.full((2,), -1.0))


def test_gaussian_constructor_errors() -> None:
    with pytest.raises(UsageError, match=r"`log_std_bounds` must be \(min, max\) with min < max"):
        GaussianPolicy(2, 2, log_std_bounds=(1.0, -1.0))
    with pytest.raises(UsageError, match=r"`init_log_std`=5.0 lies outside"):
        GaussianPolicy(2, 2, init_log_std=5.0)
    with pytest.raises(UsageError, match=r"`act_dim` must be a positive integer, got 0"):
        GaussianPolicy(2, 0)
    with pytest.raises(UsageError, match=r"a state-dependent std needs `obs`"):
        GaussianPolicy(2, 2, state_dependent_std=True).std()


@pytest.mark.parametrize("cls", [GaussianPolicy, DeterministicPolicy])
def test_forward_names_the_policy_obs_dim(cls: type[Policy]) -> None:
    policy = cls(3, 2)  # type: ignore[call-arg]
    pattern = (
        rf"{cls.__name__}\.forward\(\): argument `obs` axis 1 \('obs'\): expected obs=3 "
        r"\(the policy's obs_dim\), got shape \(5, 4\)\n  hint: this policy was built with "
        r"obs_dim=3; .* or build the policy with obs_dim=4"
    )
    with pytest.raises(ShapeError, match=pattern) as info:
        policy(torch.zeros(5, 4))
    assert info.value.axis == 1 and info.value.argument == "obs"
    with pytest.raises(ShapeError, match=r"got shape \(3, 7\)\n  hint: the axes look swapped"):
        policy(torch.zeros(3, 7))


@pytest.mark.parametrize("cls", [GaussianPolicy, DeterministicPolicy])
def test_forward_is_checked_by_the_annotations(cls: type[Policy]) -> None:
    policy = cls(3, 2)  # type: ignore[call-arg]
    with pytest.raises(ShapeError, match=rf"{cls.__name__}\.forward\(\): argument `obs`"):
        policy(torch.zeros(3))
    with pytest.raises(DtypeError, match=r"argument `obs`: expected dtype Float"):
        policy(torch.zeros(5, 3, dtype=torch.int64))


def test_gaussian_loss_refuses_actions_that_would_broadcast() -> None:
    policy = GaussianPolicy(3, 2)
    with pytest.raises(
        ShapeError,
        match=r"hint: this policy was built for actions \(2,\) but these are \(1,\)",
    ) as info:
        policy.loss((torch.zeros(5, 3), torch.zeros(5, 1)))
    err = info.value
    assert (err.function, err.argument) == ("GaussianPolicy.loss", "batch")
    assert (err.expected, err.got) == ("(5, 2)", "(5, 1)")
    with pytest.raises(ShapeError, match=r"hint: the actions have a trailing axis of size 1"):
        policy.loss((torch.zeros(5, 3), torch.zeros(5, 2, 1)))
    with pytest.raises(ShapeError, match=r"hint: 4 actions for 5 observations"):
        policy.loss((torch.zeros(5, 3), torch.zeros(4, 2)))
    with pytest.raises(ShapeError, match=r"hint: the actions lack the last axis"):
        GaussianPolicy(3, 1).loss((torch.zeros(5, 3), torch.zeros(5)))
    # the distribution itself refuses the same value when called directly
    dist = policy(torch.zeros(5, 3))
    with pytest.raises(ShapeError, match=r"log_prob\(\)") as info:
        dist.log_prob(torch.zeros(5, 1))
    assert info.value.argument == "value"


# ---------------------------------------------------------------- deterministic


@pytest.mark.values
@given(obs_act=obs_acts, seed=st.integers(0, 1000))
def test_deterministic_loss_is_mse(obs_act: tuple[Tensor, Tensor], seed: int) -> None:
    obs, act = obs_act
    torch.manual_seed(seed)  # the policy's weights
    policy = DeterministicPolicy(obs.shape[1], act.shape[1], hidden=(8, 8), activation="elu")
    torch.testing.assert_close(policy(obs), policy.net(obs))
    torch.testing.assert_close(policy.loss((obs, act)), F.mse_loss(policy.net(obs), act))
    torch.testing.assert_close(policy.predict(obs), policy.net(obs))


# ---------------------------------------------------------------- act()


class _Dropout(DeterministicPolicy):
    """A policy whose output changes in train mode, to see that act() uses eval mode."""

    def __init__(self) -> None:
        super().__init__(3, 2, hidden=(16,))
        self.drop = nn.Dropout(0.9)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(self.drop(obs))
        return out


@pytest.mark.values
def test_act_numpy_in_numpy_out_single_and_batch() -> None:
    torch.manual_seed(0)
    policy = GaussianPolicy(3, 2)
    obs = np.random.default_rng(0).normal(size=(4, 3))  # float64 from an environment
    batch = policy.act(obs, deterministic=True)
    assert isinstance(batch, np.ndarray) and batch.shape == (4, 2) and batch.dtype == np.float32
    expected = policy.predict(torch.as_tensor(obs, dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(batch, expected)
    single = policy.act(obs[1], deterministic=True)
    assert single.shape == (2,)
    np.testing.assert_allclose(single, expected[1], rtol=1e-6)
    sampled = policy.act(obs)
    assert sampled.shape == (4, 2) and not np.allclose(sampled, batch)
    assert policy.act(torch.zeros(3)).shape == (2,)


@pytest.mark.values
def test_act_runs_in_eval_mode_without_grad_and_restores_the_mode() -> None:
    policy = _Dropout()
    policy.train()
    policy.drop.train()
    obs = np.ones((8, 3))
    expected = policy.net(torch.ones(8, 3)).detach().numpy()
    np.testing.assert_allclose(policy.act(obs), expected, rtol=1e-6)
    assert policy.training and policy.drop.training
    with torch.enable_grad():
        out = policy.predict(torch.ones(1, 3))
    assert out.requires_grad


def test_act_shape_errors_with_hints() -> None:
    policy = DeterministicPolicy(3, 2)
    with pytest.raises(
        ShapeError,
        match=r"act\(\): argument `obs`: expected shape \(3,\) or "
        r"\(batch, 3\), got \(4, 7\)$",
    ):
        policy.act(np.zeros((4, 7)))
    with pytest.raises(ShapeError, match=r"got \(3, 5\)\n  hint: the axes look swapped"):
        policy.act(np.zeros((3, 5)))
    with pytest.raises(ShapeError, match=r"got \(5, 1, 3\)\n  hint: flatten each observation"):
        policy.act(np.zeros((5, 1, 3)))
    with pytest.raises(ShapeError, match=r"expected shape \(3,\) or \(batch, 3\), got \(4,\)"):
        policy.act(np.zeros(4))
    with pytest.raises(DtypeError, match=r"argument `obs` must hold numbers, got <U1"):
        policy.act(np.array(["a", "b", "c"]))


# ---------------------------------------------------------------- config


@pytest.mark.values
@pytest.mark.parametrize(
    "policy",
    [
        GaussianPolicy(4, 2, hidden=(16, 8), activation="gelu", init_log_std=-0.5),
        GaussianPolicy(4, 2, state_dependent_std=True, log_std_bounds=(-5.0, 1.0)),
        DeterministicPolicy(4, 3, hidden=(5,), activation="silu"),
    ],
)
def test_build_policy_rebuilds_from_config(policy: Policy) -> None:
    rebuilt = build_policy(policy.config)
    assert type(rebuilt) is type(policy) and rebuilt.config == policy.config
    rebuilt.load_state_dict(policy.state_dict())
    obs = torch.randn(6, 4)
    torch.testing.assert_close(rebuilt.predict(obs), policy.predict(obs))


def test_build_policy_errors() -> None:
    with pytest.raises(
        ValueError,
        match=r"unknown policy kind 'no-such-kind'; known kinds: .*deterministic.*gaussian",
    ):
        build_policy({"kind": "no-such-kind", "obs_dim": 2, "act_dim": 2})
    with pytest.raises(UsageError, match=r"cannot build a gaussian policy from .*wings"):
        build_policy({"kind": "gaussian", "obs_dim": 2, "act_dim": 2, "wings": 2})


def test_every_activation_builds() -> None:
    for name in ACTIVATIONS:
        assert GaussianPolicy(2, 2, activation=name).config["activation"] == name


@pytest.mark.parametrize(
    "policy",
    [
        GaussianPolicy(3, 2),
        GaussianPolicy(3, 2, state_dependent_std=True),
        DeterministicPolicy(3, 2),
    ],
    ids=["gaussian", "state-dependent", "deterministic"],
)
def test_observations_of_another_dtype_are_dtype_errors(policy: Policy) -> None:
    """Not torch's "mat1 and mat2 must have the same dtype": the policy and the fix."""
    name = type(policy).__name__
    obs = torch.zeros(4, 3, dtype=torch.float64)
    with pytest.raises(
        DtypeError,
        match=rf"{name}.forward\(\): argument `obs`: observations have dtype torch.float64, but "
        r"the policy's parameters are torch.float32\n  hint: convert the observations, "
        r"obs.to\(torch.float32\), or the policy, policy.to\(torch.float64\)",
    ):
        policy(obs)
    where = "loss\\(\\): argument `batch`" if name == "GaussianPolicy" else "forward"
    with pytest.raises(DtypeError, match=rf"{name}.{where}.*observations have dtype"):
        policy.loss((obs, torch.zeros(4, 2)))
    # act() converts for the user; a policy in float64 takes float64 observations
    assert policy.act(obs).dtype == np.float32
    assert policy.to(torch.float64)(obs) is not None
    policy.to(torch.float32)


@pytest.mark.parametrize("cls", [GaussianPolicy, DeterministicPolicy])
def test_loss_needs_a_batch(cls: type[Policy]) -> None:
    policy = cls(3, 2)  # type: ignore[call-arg]
    with pytest.raises(DataError, match=r"got a tensor of shape \(4, 3\)") as info:
        policy.loss(torch.zeros(4, 3))  # type: ignore[arg-type]
    assert (info.value.function, info.value.argument) == (f"{cls.__name__}.loss", "batch")
    with pytest.raises(DataError, match=r"got None"):
        policy.loss(None)  # type: ignore[arg-type]
