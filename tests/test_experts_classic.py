"""The classic-control experts and the expert contract: they solve their tasks, a batch
equals its rows, the linear models match gymnasium's own step, the LQR gains solve the
Riccati equation, and bad input gets a clear shapesafe error."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from shapesafe import DtypeError, ShapeError, UsageError
from shapesafe.bc import ActSpec, CategoricalPolicy, ObsSpec, evaluate_in_env, fit, rollout
from shapesafe.bc.experts import (
    CartPoleExpert,
    Expert,
    MountainCarExpert,
    PendulumExpert,
    _base,
    cartpole_model,
    expert_ids,
    make_expert,
    pendulum_model,
    register_expert,
)

CLASSIC = {
    "CartPole-v1": CartPoleExpert,
    "Pendulum-v1": PendulumExpert,
    "MountainCarContinuous-v0": MountainCarExpert,
}
#: Observation ranges to draw from (inside each env's observation space).
#: Built once: building one solves a Riccati equation, too slow per hypothesis example.
EXPERTS = {env_id: make_expert(env_id) for env_id in CLASSIC}
SPACES = {env_id: gym.make(env_id).action_space for env_id in CLASSIC}
LOW = {"CartPole-v1": -1.0, "Pendulum-v1": -1.0, "MountainCarContinuous-v0": -0.0625}


def riccati_residual(A: Any, B: Any, Q: Any, R: Any, P: Any) -> float:
    """max |P - (Q + A'PA - A'PB (R + B'PB)^-1 B'PA)| relative to max |P|."""
    rhs = Q + A.T @ P @ A - A.T @ P @ B @ np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
    return float(np.max(np.abs(P - rhs)) / np.max(np.abs(P)))


# ------------------------------------------------------------------ they solve their tasks


@pytest.mark.values
@pytest.mark.parametrize(
    ("env_id", "episodes", "threshold"),
    [
        ("CartPole-v1", 2, 475.0),  # the env's "solved" score; the expert gets 500
        ("Pendulum-v1", 4, -200.0),  # mean over 100 episodes is about -142
        ("MountainCarContinuous-v0", 2, 90.0),  # "solved" is 90
    ],
)
def test_each_expert_reaches_its_threshold_on_seeded_episodes(
    env_id: str, episodes: int, threshold: float
) -> None:
    r = rollout(make_expert(env_id), gym.make(env_id), episodes=episodes, seed=0)
    assert r.returns.mean() >= threshold, r.returns
    assert r.demos.obs_shape == gym.make(env_id).observation_space.shape


@pytest.mark.values
def test_every_classic_expert_is_registered_under_its_id() -> None:
    assert set(CLASSIC) <= set(expert_ids())
    for env_id, cls in CLASSIC.items():
        expert = make_expert(env_id)
        assert type(expert) is cls and expert.env_id == env_id
        env = gym.make(env_id)
        assert expert.obs_spec.shape == env.observation_space.shape
        if isinstance(env.action_space, gym.spaces.Discrete):
            assert expert.act_spec.discrete == int(env.action_space.n)
        else:
            assert expert.act_spec.shape == env.action_space.shape


# ------------------------------------------------------------------ batches, tensors, formats


@pytest.mark.values
@pytest.mark.parametrize("env_id", list(CLASSIC))
@given(data=st.data(), n=st.integers(1, 9))
def test_a_batch_equals_its_rows_one_at_a_time(env_id: str, n: int, data: Any) -> None:
    expert = EXPERTS[env_id]
    low = LOW[env_id]
    obs = data.draw(
        arrays(np.float32, (n, *expert.obs_spec.shape), elements=st.floats(low, -low, width=32))
    )
    batch = expert(obs)
    rows = np.stack([expert(o) for o in obs])
    np.testing.assert_array_equal(batch, rows)
    assert batch.shape == (n, *expert.act_spec.shape)
    discrete = expert.act_spec.discrete is not None
    assert batch.dtype == (np.int64 if discrete else np.float32)
    # and every action lies in the env's action space
    space = SPACES[env_id]
    assert all(space.contains(a) for a in rows)


@pytest.mark.values
@pytest.mark.parametrize("env_id", list(CLASSIC))
def test_a_tensor_in_gives_a_tensor_out_with_the_same_values(env_id: str) -> None:
    expert = make_expert(env_id)
    obs = np.random.default_rng(0).uniform(-0.05, 0.05, size=(5, *expert.obs_spec.shape))
    out = expert(torch.as_tensor(obs, dtype=torch.float32))
    assert isinstance(out, torch.Tensor)
    want = expert(obs.astype(np.float32))
    np.testing.assert_array_equal(out.numpy(), want)
    assert out.dtype == torch.from_numpy(want).dtype


@pytest.mark.values
def test_single_actions_are_arrays_in_the_envs_format() -> None:
    a = make_expert("CartPole-v1")(np.zeros(4, np.float32))
    assert isinstance(a, np.ndarray) and a.shape == () and a.dtype == np.int64
    b = make_expert("Pendulum-v1")(np.array([-1.0, 0.0, 0.0], np.float32))
    assert b.shape == (1,) and b.dtype == np.float32


# ------------------------------------------------------------------ the control laws


@pytest.mark.values
def test_cartpole_model_matches_gymnasiums_step() -> None:
    """A and B against central differences of gymnasium's own step at upright (exact
    up to O(eps^2): the dynamics are affine in the force there, and the force does not
    change d/d(theta) or d/d(theta_dot) at theta = theta_dot = 0)."""
    A, B = cartpole_model()
    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=0)

    def step(state: np.ndarray, action: int) -> np.ndarray:
        env.state = state.copy()
        env.step(action)
        return np.asarray(env.state, dtype=np.float64)

    eps = 1e-6
    for action, force in ((1, 10.0), (0, -10.0)):
        jac = np.stack(
            [(step(eps * e, action) - step(-eps * e, action)) / (2 * eps) for e in np.eye(4)],
            axis=1,
        )
        np.testing.assert_allclose(jac, A, atol=1e-6)
        np.testing.assert_allclose(step(np.zeros(4), action), B[:, 0] * force, atol=1e-12)


@pytest.mark.values
def test_pendulum_model_matches_gymnasiums_step() -> None:
    A, B = pendulum_model()
    env = gym.make("Pendulum-v1").unwrapped
    env.reset(seed=0)

    def step(state: np.ndarray, u: float) -> np.ndarray:
        env.state = state.copy()
        env.step(np.array([u], np.float32))
        return np.asarray(env.state, dtype=np.float64)

    eps = 1e-5
    jac = np.stack(
        [(step(eps * e, 0.0) - step(-eps * e, 0.0)) / (2 * eps) for e in np.eye(2)], axis=1
    )
    np.testing.assert_allclose(jac, A, atol=1e-6)
    np.testing.assert_allclose(step(np.zeros(2), 1.0), B[:, 0], atol=1e-6)


@pytest.mark.values
@pytest.mark.parametrize(
    ("expert", "model", "Q", "R"),
    [
        (CartPoleExpert(), cartpole_model, np.diag([1.0, 1.0, 10.0, 1.0]), np.array([[0.1]])),
        (PendulumExpert(), pendulum_model, np.diag([1.0, 0.1]), np.array([[0.001]])),
    ],
)
def test_lqr_gain_solves_the_riccati_equation_and_stabilises(
    expert: Any, model: Any, Q: Any, R: Any
) -> None:
    A, B = model()
    assert riccati_residual(A, B, Q, R, expert.P) < 1e-8
    np.testing.assert_allclose(expert.P, expert.P.T)
    assert np.all(np.linalg.eigvalsh(expert.P) > 0)
    # the gain is the one the Riccati solution defines ...
    np.testing.assert_allclose(
        expert.K, np.linalg.solve(R + B.T @ expert.P @ B, B.T @ expert.P @ A), rtol=1e-10
    )
    # ... and it stabilises the model (the open loop does not)
    assert np.max(np.abs(np.linalg.eigvals(A))) > 1
    assert np.max(np.abs(np.linalg.eigvals(A - B @ expert.K))) < 1


@pytest.mark.values
def test_cartpole_pushes_against_the_fall() -> None:
    expert = CartPoleExpert()
    lean = np.array([[0, 0, 0.05, 0], [0, 0, -0.05, 0], [0, 0, 0, 0.5], [0, 0, 0, -0.5]])
    assert expert(lean).tolist() == [1, 0, 1, 0]


@pytest.mark.values
def test_pendulum_pumps_energy_in_at_the_bottom_and_balances_at_the_top() -> None:
    expert = PendulumExpert()
    # hanging, swinging right (thdot > 0): push along the motion, at most 2
    assert expert(np.array([-1.0, 0.0, 1.0]))[0] == pytest.approx(2.0)
    assert expert(np.array([-1.0, 0.0, -1.0]))[0] == pytest.approx(-2.0)
    # near the top, leaning right (sin > 0): torque to the left
    assert expert(np.array([np.cos(0.1), np.sin(0.1), 0.0]))[0] < 0


@pytest.mark.values
def test_mountain_car_pushes_along_the_velocity() -> None:
    out = MountainCarExpert(force=0.5, start=1.0)(np.array([[0.0, 0.02], [0.0, -0.02], [0, 0]]))
    assert out[:, 0].tolist() == [0.5, -0.5, 0.5]


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("shape", "axis"),
    [((3,), 0), ((2, 3), 1), ((1, 2, 4), None), ((), None)],
)
def test_a_wrong_observation_shape_is_a_shape_error_naming_the_axis(
    shape: tuple[int, ...], axis: int | None
) -> None:
    with pytest.raises(ShapeError) as info:
        make_expert("CartPole-v1")(np.zeros(shape))
    err = info.value
    assert err.function == "CartPoleExpert.__call__"
    assert err.argument == "obs"
    assert err.axis == axis
    assert err.expected == "shape (4,) (one observation) or (n, 4) (a batch)"
    assert err.got == f"shape {shape}"
    assert "CartPole-v1" in str(err)


def test_a_non_numeric_observation_is_a_dtype_error() -> None:
    with pytest.raises(DtypeError) as info:
        make_expert("Pendulum-v1")(["up", "down", "left"])
    assert info.value.argument == "obs"
    assert "not numeric" in str(info.value)


def test_an_unknown_env_id_lists_the_known_ones() -> None:
    with pytest.raises(UsageError) as info:
        make_expert("CartPole-v0")
    err = info.value
    assert err.function == "make_expert" and err.argument == "env_id"
    assert err.expected is not None and "CartPole-v1" in err.expected
    assert err.hint == "did you mean 'CartPole-v1'?"


def test_bad_expert_options_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="4 positive weights") as info:
        CartPoleExpert(q=(1.0, 1.0))
    assert info.value.argument == "q"
    with pytest.raises(UsageError, match="positive number"):
        PendulumExpert(gain=-1.0)
    with pytest.raises(UsageError, match=r"in \(0, 1\]"):
        make_expert("MountainCarContinuous-v0", force=2.0)
    with pytest.raises(UsageError, match=r"-1 \(left\) or 1"):
        MountainCarExpert(start=0.0)


def test_an_act_batch_of_the_wrong_shape_is_named_as_the_experts_bug() -> None:
    class Broken(Expert):
        obs_spec, act_spec = ObsSpec((2,)), ActSpec((1,))

        def act_batch(self, obs: np.ndarray) -> np.ndarray:
            return obs  # (n, 2), not (n, 1)

    with pytest.raises(ShapeError) as info:
        Broken()(np.zeros((3, 2)))
    assert info.value.function == "Broken.act_batch"
    assert info.value.argument == "return value"
    assert info.value.expected == "shape (3, 1)"


# ------------------------------------------------------------------ your own experts


def test_register_expert_makes_a_custom_expert_buildable_by_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_base, "_REGISTRY", dict(_base._REGISTRY))

    @register_expert("Toy-v0")
    class Toy(Expert):
        obs_spec, act_spec = ObsSpec((1,)), ActSpec((), discrete=3)

        def __init__(self, choice: int = 2) -> None:
            self.choice = choice

        def act_batch(self, obs: np.ndarray) -> np.ndarray:
            return np.full(len(obs), self.choice)

    toy = make_expert("Toy-v0", choice=1)
    assert isinstance(toy, Toy) and Toy.env_id == "Toy-v0"
    assert toy(np.zeros((2, 1))).tolist() == [1, 1]
    assert "Toy-v0" in expert_ids()
    assert repr(toy) == "Toy('Toy-v0', obs (1,), act Discrete(3))"
    toy.reset()  # the default reset is a no-op
    toy.reset(np.array([True, False]))
    # a plain factory function registers too
    register_expert("Lambda-v0")(lambda: lambda obs: 0)
    assert make_expert("Lambda-v0")(None) == 0
    with pytest.raises(UsageError, match="non-empty string"):
        register_expert("")


@pytest.mark.values
def test_the_measuring_script_writes_the_table(tmp_path: Any) -> None:
    path = Path(__file__).parent.parent / "examples" / "measure_experts.py"
    spec = importlib.util.spec_from_file_location("measure_experts", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "experts.json"
    argv = ["--only", "CartPole-v1", "MountainCarContinuous-v0", "--episodes", "2"]
    results = module.main([*argv, "--out", str(out)])
    saved = json.loads(out.read_text())["experts"]
    assert saved == results
    assert saved["CartPole-v1"]["mean"] == 500.0 and saved["CartPole-v1"]["std"] == 0.0
    ref = rollout(MountainCarExpert(), gym.make("MountainCarContinuous-v0"), episodes=2, seed=0)
    assert saved["MountainCarContinuous-v0"]["mean"] == pytest.approx(ref.returns.mean())


def test_a_policy_cloned_from_the_cartpole_expert_balances_too() -> None:
    """Seeded short learning run: four expert episodes, 300 steps of a small categorical
    policy; the clone balances from starts it never saw (seeds 100-104)."""
    torch.manual_seed(0)
    env = gym.make("CartPole-v1")
    demos = rollout(make_expert("CartPole-v1"), env, episodes=4, seed=0).demos
    policy = CategoricalPolicy(obs_dim=4, n_actions=2, hidden=(64, 64))
    fit(policy, demos, steps=300, batch_size=256, lr=3e-3, seed=0, progress=False)
    clone = evaluate_in_env(policy, env, episodes=5, seed=100, deterministic=True)
    assert clone.mean_return >= 475.0


def test_the_enough_demonstrations_script_runs_and_scores_against_the_expert(
    tmp_path: Any,
) -> None:
    path = Path(__file__).parent.parent / "examples" / "bc_enough_demos.py"
    spec = importlib.util.spec_from_file_location("bc_enough_demos", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "bc.json"
    assert module.main(["--quick", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert [r["env"] for r in saved] == ["CartPole-v1", "Pendulum-v1"]
    for r in saved:
        row = r["rows"][0]
        expected = (row["mean_return"] - r["random_return"]) / (
            r["expert_return"] - r["random_return"]
        )
        assert row["pct_of_expert"] == pytest.approx(expected)
        assert r["eval_episodes"] == 5
