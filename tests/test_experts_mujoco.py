"""The MuJoCo experts: they solve their tasks, their LQR gains stabilise the simulator's
own linearisation, the linearisation predicts the simulator, inverse kinematics reaches
the target in the simulator, a batch acts like its rows, and bad input is refused."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from shapesafe import ShapeError, UsageError
from shapesafe.bc import rollout
from shapesafe.bc.experts import expert_ids, make_expert
from shapesafe.bc.experts._lqr import closed_loop_eigenvalues, dlqr
from shapesafe.bc.experts.mujoco import (
    InvertedDoublePendulumExpert,
    InvertedPendulumExpert,
    ReacherExpert,
)

PENDULUMS = ["InvertedPendulum-v5", "InvertedDoublePendulum-v5"]
MUJOCO_IDS = [*PENDULUMS, "Reacher-v5"]


def episode(expert: Any, env: gym.Env[Any, Any], seed: int) -> tuple[float, int]:
    """Return and length of one episode from ``env.reset(seed=seed)``."""
    obs, _ = env.reset(seed=seed)
    total, steps = 0.0, 0
    while True:
        obs, reward, terminated, truncated, _ = env.step(expert(obs))
        total += float(reward)
        steps += 1
        if terminated or truncated:
            return total, steps


def observations(env_id: str, n: int, seed: int) -> np.ndarray[Any, Any]:
    """``n`` observations an expert meets: states along a perturbed expert episode."""
    env = gym.make(env_id)
    expert = make_expert(env_id)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    out = []
    for _ in range(n):
        out.append(obs)
        action = expert(obs) + rng.normal(0.0, 0.3, env.action_space.shape)
        obs, _, terminated, _, _ = env.step(action.astype(np.float32))
        if terminated:
            obs, _ = env.reset(seed=seed + len(out))
    return np.stack(out)


# ---------------------------------------------------------------- the tasks are solved


@pytest.mark.values
def test_inverted_pendulum_balances_the_full_episode() -> None:
    env = gym.make("InvertedPendulum-v5")
    expert = make_expert("InvertedPendulum-v5")
    for seed in (0, 1):
        assert episode(expert, env, seed) == (1000.0, 1000)


@pytest.mark.values
def test_inverted_double_pendulum_balances_the_full_episode() -> None:
    env = gym.make("InvertedDoublePendulum-v5")
    total, steps = episode(make_expert("InvertedDoublePendulum-v5"), env, seed=0)
    assert steps == 1000
    # The reward is at most 10 - (1.2 - 2)^2 = 9.36 per step (tip height 1.2 upright).
    assert 9350.0 <= total <= 9360.0


@pytest.mark.values
def test_reacher_reaches_the_target() -> None:
    env = gym.make("Reacher-v5")
    expert = make_expert("Reacher-v5")
    returns, final_distances = [], []
    for seed in range(5):
        obs, _ = env.reset(seed=seed)
        total = 0.0
        for _ in range(50):
            obs, reward, _, _, _ = env.step(expert(obs))
            total += float(reward)
        returns.append(total)
        final_distances.append(float(np.linalg.norm(obs[8:10])))
    # Random actions score about -43; the fingertip ends on the target (radius 0.009).
    assert np.mean(returns) > -6.0
    assert max(final_distances) < 0.01


def test_rollout_accepts_the_experts_against_their_envs() -> None:
    env = gym.make("InvertedPendulum-v5")
    result = rollout(make_expert("InvertedPendulum-v5"), env, episodes=1, seed=3)
    assert result.returns.tolist() == [1000.0]
    assert result.demos.actions.shape == (1000, 1)


def test_a_vector_env_gets_the_same_episodes_as_a_single_env() -> None:
    """The expert acts on the (num_envs, obs) batch of a vector env; seeded episodes
    match one-env-at-a-time episodes exactly."""
    expert = make_expert("Reacher-v5")
    vector = gym.make_vec("Reacher-v5", num_envs=3, vectorization_mode="sync")
    batched = rollout(expert, vector, episodes=5, seed=10)
    single = rollout(expert, gym.make("Reacher-v5"), episodes=5, seed=10)
    np.testing.assert_array_equal(batched.returns, single.returns)
    assert batched.seeds.tolist() == single.seeds.tolist() == [10, 11, 12, 13, 14]


def test_registered_by_id() -> None:
    assert set(MUJOCO_IDS) <= set(expert_ids())
    assert isinstance(make_expert("InvertedPendulum-v5"), InvertedPendulumExpert)
    assert isinstance(make_expert("InvertedDoublePendulum-v5"), InvertedDoublePendulumExpert)
    assert isinstance(make_expert("Reacher-v5"), ReacherExpert)


# ------------------------------------------------------------- linearisation and LQR


@pytest.mark.parametrize("env_id", PENDULUMS)
def test_lqr_gain_stabilises_the_linearisation(env_id: str) -> None:
    expert = make_expert(env_id)
    eig = closed_loop_eigenvalues(expert.A, expert.B, expert.gain)
    assert np.max(np.abs(eig)) < 0.99
    # Without feedback the upright state is unstable: the gain is doing the work.
    assert np.max(np.abs(np.linalg.eigvals(expert.A))) > 1.0


@pytest.mark.parametrize("env_id", PENDULUMS)
def test_linearisation_predicts_one_env_step(env_id: str) -> None:
    """``A x + B u`` is what ``env.step(u)`` does from a slightly perturbed upright
    state: one env step is ``frame_skip`` simulator steps, and the model is the env's.
    (Rest is not an exact equilibrium, the pole leans a millimetre in the XML, so the
    step from rest is subtracted.)"""
    env = gym.make(env_id)
    expert = make_expert(env_id)
    inner: Any = env.unwrapped
    env.reset(seed=0)
    nq = inner.model.nq

    def step(x: np.ndarray[Any, Any], u: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        inner.set_state(x[:nq], x[nq:])
        env.step(u.astype(np.float32))
        return np.concatenate([inner.data.qpos, inner.data.qvel])

    rest = step(np.zeros(2 * nq), np.zeros(1))
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.normal(0.0, 1e-3, 2 * nq)
        u = rng.normal(0.0, 1e-3, 1)
        moved = step(x, u) - rest
        # Second-order error: |x|^2 ~ 1e-6, against first-order terms ~ 1e-3.
        np.testing.assert_allclose(moved, expert.A @ x + expert.B @ u, atol=1e-5)
        # A one-step (frame_skip=1) linearisation would miss by far more than that.
        assert np.max(np.abs(moved - x)) > 1e-4


def test_double_pendulum_state_is_the_simulator_state() -> None:
    env = gym.make("InvertedDoublePendulum-v5")
    expert = make_expert("InvertedDoublePendulum-v5")
    inner: Any = env.unwrapped
    obs, _ = env.reset(seed=4)
    for _ in range(20):
        state = expert.state(obs[None])[0]
        np.testing.assert_allclose(state, np.concatenate([inner.data.qpos, inner.data.qvel]))
        obs, *_ = env.step(expert(obs))


def test_gains_follow_the_env_it_is_given() -> None:
    """A custom frame_skip changes the env step, so the gain, and still balances."""
    env = gym.make("InvertedDoublePendulum-v5", frame_skip=3)
    expert = InvertedDoublePendulumExpert(env=env)
    assert not np.allclose(expert.gain, make_expert("InvertedDoublePendulum-v5").gain)
    _, steps = episode(expert, env, seed=1)
    assert steps == 1000


def test_lqr_weights_are_options() -> None:
    """A dearer action (larger r) gives a gentler gain that still stabilises."""
    default = make_expert("InvertedDoublePendulum-v5")
    gentle = make_expert("InvertedDoublePendulum-v5", r=10.0)
    assert np.abs(gentle.gain).sum() < np.abs(default.gain).sum()
    assert np.max(np.abs(closed_loop_eigenvalues(gentle.A, gentle.B, gentle.gain))) < 1.0
    with pytest.raises(UsageError) as info:
        make_expert("InvertedPendulum-v5", q=(1.0, 2.0))
    assert info.value.argument == "q"
    with pytest.raises(UsageError) as info:
        InvertedPendulumExpert(r=0.0)
    assert info.value.argument == "r"


@given(
    a=st.floats(-3.0, 3.0),
    b=st.floats(0.1, 3.0),
    q=st.floats(0.1, 10.0),
    r=st.floats(0.1, 10.0),
)
def test_dlqr_matches_the_scalar_closed_form(a: float, b: float, q: float, r: float) -> None:
    # Scalar DARE: b^2 P^2 + (r (1 - a^2) - q b^2) P - q r = 0, positive root.
    c1 = r * (1 - a * a) - q * b * b
    p = (-c1 + np.sqrt(c1 * c1 + 4 * b * b * q * r)) / (2 * b * b)
    K, P = dlqr(np.array([[a]]), np.array([[b]]), np.array([[q]]), np.array([[r]]))
    np.testing.assert_allclose(P[0, 0], p, rtol=1e-8)
    np.testing.assert_allclose(K[0, 0], a * b * p / (r + b * b * p), rtol=1e-8)


def test_dlqr_solves_the_riccati_equation() -> None:
    expert = make_expert("InvertedDoublePendulum-v5")
    A, B = expert.A, expert.B
    Q, R = np.diag([1.0, 10.0, 10.0, 0.1, 0.1, 0.1]), np.eye(1)
    K, P = dlqr(A, B, Q, R)
    residual = Q + A.T @ P @ A - A.T @ P @ B @ np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
    np.testing.assert_allclose(residual, P, atol=1e-8 * np.abs(P).max())
    np.testing.assert_allclose(K, expert.gain)


def test_dlqr_refuses_an_uncontrollable_system() -> None:
    with pytest.raises(UsageError) as info:
        dlqr(2 * np.eye(2), np.zeros((2, 1)), np.eye(2), np.eye(1))
    assert info.value.function == "dlqr"
    assert "did not converge" in str(info.value)


# ------------------------------------------------------------------ inverse kinematics


@given(
    radius=st.floats(0.02, 0.2),
    angle=st.floats(-np.pi, np.pi),
    q=st.tuples(st.floats(-np.pi, np.pi), st.floats(-2.9, 2.9)),
)
def test_reacher_inverse_kinematics_puts_the_fingertip_on_the_target(
    radius: float, angle: float, q: tuple[float, float]
) -> None:
    """The joint angles the expert drives to (q + its joint error) place the simulator's
    fingertip on the target."""
    from shapesafe.bc.experts.mujoco import _joint_error

    target = radius * np.array([np.cos(angle), np.sin(angle)])
    goal = np.asarray(q) + _joint_error(np.asarray([q]), target[None])[0]
    inner: Any = REACHER.unwrapped
    inner.set_state(np.array([*goal, *target]), np.zeros(4))
    np.testing.assert_allclose(
        inner.get_body_com("fingertip")[:2], inner.get_body_com("target")[:2], atol=1e-9
    )
    assert abs(goal[1]) <= np.pi  # the elbow goal is inside its joint's reach


REACHER = gym.make("Reacher-v5")


# -------------------------------------------------------------- batches and formats


@pytest.mark.parametrize("env_id", MUJOCO_IDS)
@given(n=st.integers(1, 8), seed=st.integers(0, 3))
def test_a_batch_acts_like_its_rows(env_id: str, n: int, seed: int) -> None:
    expert = EXPERTS[env_id]
    obs = OBS[env_id][seed * 8 : seed * 8 + n]
    batch = expert(obs)
    assert batch.shape == (n, *expert.act_spec.shape)
    assert batch.dtype == np.float32
    np.testing.assert_array_equal(batch, np.stack([expert(row) for row in obs]))
    assert torch.equal(expert(torch.as_tensor(obs)), torch.as_tensor(batch))


EXPERTS = {env_id: make_expert(env_id) for env_id in MUJOCO_IDS}
OBS = {env_id: observations(env_id, 32, seed=0) for env_id in MUJOCO_IDS}


@pytest.mark.parametrize("env_id", MUJOCO_IDS)
def test_actions_stay_in_the_action_space(env_id: str) -> None:
    space = gym.make(env_id).action_space
    actions = EXPERTS[env_id](OBS[env_id] * 50.0)  # far from anything balanced
    assert np.all(actions >= space.low) and np.all(actions <= space.high)
    assert np.abs(actions).max() == pytest.approx(space.high.max())  # and saturate


# ------------------------------------------------------------------------ refusals


def test_wrong_observation_shape() -> None:
    expert = make_expert("InvertedDoublePendulum-v5")
    with pytest.raises(ShapeError) as info:
        expert(np.zeros((5, 4)))  # InvertedPendulum observations
    err = info.value
    assert err.function == "InvertedDoublePendulumExpert.__call__"
    assert err.argument == "obs"
    assert err.axis == 1
    assert "(9,)" in str(err.expected)
    assert "InvertedDoublePendulum-v5" in str(err)


def test_an_env_with_another_model_is_refused() -> None:
    with pytest.raises(UsageError) as info:
        InvertedPendulumExpert(env=gym.make("InvertedDoublePendulum-v5"))
    assert info.value.argument == "env"
    assert "3 joints" in str(info.value.got)


def test_a_non_mujoco_env_is_refused() -> None:
    with pytest.raises(UsageError) as info:
        InvertedDoublePendulumExpert(env=gym.make("CartPole-v1"))
    assert info.value.function == "InvertedDoublePendulumExpert"
    assert "MuJoCo env" in str(info.value)


@pytest.mark.parametrize("kwargs", [{"kp": -1.0}, {"kd": "fast"}, {"kp": True}])
def test_reacher_gains_are_checked(kwargs: dict[str, Any]) -> None:
    with pytest.raises(UsageError) as info:
        ReacherExpert(**kwargs)
    assert info.value.argument == next(iter(kwargs))


def test_without_mujoco_the_pendulums_name_the_extra() -> None:
    """``import shapesafe.bc.experts`` works without MuJoCo, the Reacher expert (plain
    numpy) still works, and a pendulum expert names the extra to install."""
    code = """
import sys
sys.modules["mujoco"] = None  # what a missing package looks like to import
from shapesafe import UsageError
from shapesafe.bc.experts import make_expert
print(make_expert("Reacher-v5")([1.0, 1.0, 0.0, 0.0, 0.1, 0.11, 0.0, 0.0, 0.0, 0.0]))
try:
    make_expert("InvertedPendulum-v5")
except UsageError as err:
    print(err.function, "|", err.hint)
assert "mujoco" not in [m for m in sys.modules if sys.modules[m] is not None]
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines() == [
        "[0.        0.3926991]",
        "InvertedPendulumExpert | pip install 'shapesafe[mujoco]'",
    ]


@pytest.mark.parametrize("cls", [InvertedPendulumExpert, InvertedDoublePendulumExpert])
def test_a_missing_mujoco_is_a_usage_error(cls: type[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mujoco", None)
    with pytest.raises(UsageError) as info:
        cls()
    assert info.value.function == cls.__name__
    assert info.value.hint == "pip install 'shapesafe[mujoco]'"
    assert "MuJoCo is not installed" in str(info.value)
