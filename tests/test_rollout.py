"""rollout / evaluate_in_env: the same numbers as a plain gymnasium loop, seeded
episodes, policy resets, space checks and the summary statistics."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from shapesafe import ShapeError, UsageError, save_checkpoint
from shapesafe.bc import (
    DeterministicPolicy,
    GaussianPolicy,
    evaluate_in_env,
    load_policy,
    rollout,
)
from shapesafe.bc.tasks import HiddenVelocityEnv, ObstacleEnv, ObstacleExpert


def _reference_loop(act: Any, env: gym.Env[Any, Any], episodes: int, seed: int) -> dict[str, Any]:
    """The plain gymnasium loop rollout() must agree with."""
    returns, lengths, successes, observations = [], [], [], []
    for i in range(episodes):
        obs, info = env.reset(seed=seed + i)
        total, steps, done = 0.0, 0, False
        while not done:
            observations.append(obs)
            obs, reward, terminated, truncated, info = env.step(act(obs))
            total += float(reward)
            steps += 1
            done = terminated or truncated
        returns.append(total)
        lengths.append(steps)
        successes.append(bool(info["is_success"]))
    return {
        "returns": np.array(returns),
        "lengths": np.array(lengths),
        "successes": np.array(successes),
        "observations": np.stack(observations),
    }


@pytest.mark.values
@pytest.mark.parametrize("make_env", [ObstacleEnv, HiddenVelocityEnv])
def test_rollout_matches_a_plain_gymnasium_loop(make_env: type) -> None:
    torch.manual_seed(0)
    policy = DeterministicPolicy(obs_dim=2, act_dim=2, hidden=(16,))
    got = rollout(policy, make_env(), episodes=6, seed=11, deterministic=True)
    ref = _reference_loop(lambda o: policy.act(o, deterministic=True), make_env(), 6, 11)
    np.testing.assert_allclose(got.returns, ref["returns"], rtol=1e-12)
    np.testing.assert_array_equal(got.lengths, ref["lengths"])
    np.testing.assert_array_equal(got.successes, ref["successes"])
    np.testing.assert_array_equal(got.demos.observations.numpy(), ref["observations"])
    assert got.demos.episode_ids is not None
    np.testing.assert_array_equal(np.bincount(got.demos.episode_ids.numpy()), ref["lengths"])
    np.testing.assert_allclose(
        got.demos.extras["rewards"].sum().item(), ref["returns"].sum(), rtol=1e-5
    )


@pytest.mark.values
def test_expert_rollout_matches_the_reference_loop() -> None:
    got = rollout(ObstacleExpert(seed=4), ObstacleEnv(), episodes=8, seed=0)
    expert = ObstacleExpert(seed=4)
    # The reference resets the expert by hand at each episode start, as rollout must.
    ref_returns = []
    env = ObstacleEnv()
    for i in range(8):
        expert.reset()
        obs, _ = env.reset(seed=i)
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(expert(obs))
            total += float(r)
            done = term or trunc
        ref_returns.append(total)
    np.testing.assert_allclose(got.returns, ref_returns)


@given(episodes=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_every_episode_starts_from_its_own_seed(episodes: int, seed: int) -> None:
    r = rollout(ObstacleExpert(seed=0), ObstacleEnv(), episodes, seed)
    np.testing.assert_array_equal(r.seeds, np.arange(seed, seed + episodes))
    assert r.demos.episode_ids is not None
    ids = r.demos.episode_ids.numpy()
    firsts = r.demos.observations.numpy()[np.searchsorted(ids, np.arange(episodes))]
    for i, first in enumerate(firsts):
        np.testing.assert_array_equal(first, ObstacleEnv().reset(seed=seed + i)[0])
    assert len({tuple(f) for f in firsts}) == episodes  # distinct initial states
    assert r.lengths.sum() == len(r.demos) and r.episodes == episodes


def test_policy_reset_runs_at_every_episode_start() -> None:
    policy = DeterministicPolicy(obs_dim=2, act_dim=2, hidden=(8,))
    calls: list[int] = []
    steps: list[int] = []
    original = policy._act_tensor

    def act(obs: Any, *args: Any) -> Any:
        steps.append(len(calls))
        return original(obs, *args)

    policy.reset = lambda which=None: calls.append(len(steps))  # type: ignore[method-assign]
    policy._act_tensor = act  # type: ignore[method-assign]
    r = rollout(policy, HiddenVelocityEnv(max_steps=3), episodes=4, seed=0)
    # A reset before the first action of each episode, none in between.
    assert calls == [0, 3, 6, 9]
    assert steps == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    np.testing.assert_array_equal(r.lengths, [3, 3, 3, 3])


def test_a_callable_with_reset_is_reset_too() -> None:
    class Counter:
        resets = 0

        def reset(self) -> None:
            self.resets += 1

        def __call__(self, obs: Any) -> np.ndarray:
            return np.zeros(2, np.float32)

    c = Counter()
    rollout(c, HiddenVelocityEnv(max_steps=2), episodes=5, seed=0)
    assert c.resets == 5


@pytest.mark.values
def test_evaluation_statistics_match_numpy() -> None:
    torch.manual_seed(1)
    policy = GaussianPolicy(obs_dim=2, act_dim=2, hidden=(8,))
    result = evaluate_in_env(policy, HiddenVelocityEnv(max_steps=5), episodes=30, seed=3)
    returns = result.rollouts.returns
    assert result.episodes == 30
    assert result.mean_return == pytest.approx(np.mean(returns))
    assert result.std_return == pytest.approx(np.std(returns, ddof=1))
    half = 1.959963984540054 * np.std(returns, ddof=1) / math.sqrt(30)
    lo, hi = result.return_ci95
    assert (lo, hi) == pytest.approx((np.mean(returns) - half, np.mean(returns) + half))
    assert result.mean_length == 5.0
    assert result.seconds_per_action > 0
    assert "over 30 episodes" in str(result)


@given(wins=st.integers(0, 200), extra=st.integers(0, 200))
def test_success_interval_is_a_wilson_interval(wins: int, extra: int) -> None:
    from shapesafe.bc._rollout import _wilson

    n = wins + extra
    if n == 0:
        return
    lo, hi = _wilson(wins, n)
    p = wins / n
    assert 0.0 <= lo <= p <= hi <= 1.0
    # Reference: the Wilson bounds are the roots of (p - q)^2 = z^2 q (1 - q) / n.
    z = 1.959963984540054
    for q in (lo, hi):
        if 0.0 < q < 1.0:
            assert (p - q) ** 2 == pytest.approx(z * z * q * (1 - q) / n, abs=1e-9)


def test_checkpointed_policy_rolls_out_the_same(tmp_path: Any) -> None:
    torch.manual_seed(0)
    policy = DeterministicPolicy(obs_dim=2, act_dim=2, hidden=(16,))
    path = tmp_path / "policy.pt"
    save_checkpoint(path, policy, policy_config=policy.config)
    loaded = load_policy(path)
    a = rollout(policy, ObstacleEnv(), 3, seed=0, deterministic=True)
    b = rollout(loaded, ObstacleEnv(), 3, seed=0, deterministic=True)
    np.testing.assert_array_equal(a.returns, b.returns)


def test_space_mismatches_are_shape_errors() -> None:
    with pytest.raises(ShapeError) as info:
        rollout(GaussianPolicy(obs_dim=3, act_dim=2), ObstacleEnv(), 1)
    err = info.value
    assert (err.function, err.argument) == ("rollout", "env")
    assert (err.expected, err.got) == (
        "observations of shape (3,)",
        "observation space of shape (2,)",
    )
    assert "ObsSpec((2,))" in str(err.hint)

    with pytest.raises(ShapeError) as info:
        evaluate_in_env(GaussianPolicy(obs_dim=2, act_dim=3), ObstacleEnv(), 1)
    err = info.value
    assert (err.function, err.argument) == ("evaluate_in_env", "env")
    assert (err.expected, err.got) == (
        "actions of shape (3,) (what the policy produces)",
        "action space of shape (2,)",
    )
    assert "actions do not fit GaussianPolicy" in str(err)

    with pytest.raises(ShapeError) as info:
        rollout(GaussianPolicy(obs_dim=4, act_dim=2), gym.make("CartPole-v1"), 1)
    assert (info.value.argument, info.value.got) == ("env", "Discrete(2)")
    assert "continuous actions" in str(info.value)


def test_a_callable_returning_the_wrong_action_shape_is_refused() -> None:
    with pytest.raises(ShapeError) as info:
        rollout(lambda obs: np.zeros(3, np.float32), ObstacleEnv(), 1)
    err = info.value
    assert (err.function, err.argument) == ("rollout", "policy")
    assert (err.expected, err.got) == ("an action of shape (2,)", "shape (3,)")
    assert "does not fit the env's action space" in str(err)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [({"episodes": 0}, "episodes"), ({"episodes": 1.5}, "episodes"), ({"seed": -1}, "seed")],
)
def test_bad_counts_are_usage_errors(kwargs: dict[str, Any], argument: str) -> None:
    args = {"episodes": 2, "seed": 0, **kwargs}
    with pytest.raises(UsageError) as info:
        rollout(ObstacleExpert(), ObstacleEnv(), **args)
    assert info.value.argument == argument


def test_a_non_callable_policy_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as info:
        rollout("gaussian", ObstacleEnv(), 1)  # type: ignore[arg-type]
    assert (info.value.function, info.value.argument) == ("rollout", "policy")
    assert "callable" in str(info.value)


def test_a_goal_conditioned_policy_is_refused_with_the_way_out() -> None:
    policy = DeterministicPolicy(obs_dim=2, act_dim=2, hidden=(8,), goal_dim=2)
    with pytest.raises(UsageError) as info:
        rollout(policy, ObstacleEnv(), 1)
    err = info.value
    assert (err.function, err.argument) == ("rollout", "policy")
    assert "goal-conditioned, and the env gives no goals" in str(err)
    goal = np.array([0.0, 1.0], np.float32)
    r = rollout(lambda obs: policy.act(obs, goal=goal), ObstacleEnv(), 2)  # the way out
    assert r.episodes == 2


def test_a_policy_that_overrides_act_is_honoured() -> None:
    class Braking(DeterministicPolicy):
        def act(self, obs: Any, *, deterministic: bool = False, goal: Any = None) -> Any:
            assert isinstance(obs, torch.Tensor) and obs.shape == (1, 2)
            return np.zeros((len(obs), 2), np.float32)

    r = rollout(Braking(obs_dim=2, act_dim=2, hidden=(8,)), ObstacleEnv(max_steps=5), 2)
    np.testing.assert_array_equal(r.demos.actions.numpy(), np.zeros((10, 2)))
    ids = r.demos.episode_ids
    assert ids is not None
    firsts = r.demos.observations.numpy()[[0, 5]]
    np.testing.assert_array_equal(r.final_observations, firsts)  # zero actions: no motion


def test_an_env_without_array_observations_is_refused() -> None:
    class DictEnv(gym.Env[Any, Any]):
        observation_space = gym.spaces.Dict(
            {"observation": gym.spaces.Box(-1, 1, (2,)), "goal": gym.spaces.Box(-1, 1, (2,))}
        )
        action_space = gym.spaces.Box(-1, 1, (2,))

    with pytest.raises(UsageError) as info:
        rollout(ObstacleExpert(), DictEnv(), 1)
    err = info.value
    assert (err.function, err.argument, err.got) == ("rollout", "env", "Dict")
    assert "a Dict with keys ['goal', 'observation']" in str(err)
    assert "FlattenObservation" in str(err.hint)
    flat = gym.wrappers.FlattenObservation(DictEnv())
    assert flat.observation_space.shape == (4,)  # what the hint leads to


def test_a_non_env_is_refused_before_anything_runs() -> None:
    from shapesafe.bc import evaluate_goal_reaching, load_evaluation

    for fn in (rollout, evaluate_in_env, evaluate_goal_reaching):
        with pytest.raises(UsageError) as info:
            fn(lambda obs: obs, None, episodes=1)
        assert info.value.argument == "env"
        assert "must be a gymnasium environment, got NoneType (no reset, step" in str(info.value)
        assert info.value.hint == "gymnasium.make(env_id), or a gymnasium.vector.SyncVectorEnv"
    with pytest.raises(UsageError, match="must be a path to a saved evaluation") as info:
        load_evaluation(None)  # type: ignore[arg-type]
    assert info.value.got == "NoneType"
