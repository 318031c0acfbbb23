"""rollout in gymnasium vector envs: the same episodes as the single-env rollout of the
same seeds, whatever the number of sub-envs and the autoreset mode; batched inference;
per-sub-env resets; refusals of vector envs that cannot seed each episode."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv
from hypothesis import given, settings
from hypothesis import strategies as st

import shapesafe.bc.tasks  # noqa: F401  (registers shapesafe/Obstacle-v0)
from shapesafe import ShapeError, UsageError
from shapesafe.bc import (
    CategoricalPolicy,
    DeterministicPolicy,
    FrameStackPolicy,
    GaussianPolicy,
    Rollouts,
    evaluate_in_env,
    rollout,
)
from shapesafe.bc.experts import Expert
from shapesafe.bc.policies import ActSpec, ObsSpec
from shapesafe.bc.tasks import ObstacleExpert

MODES = list(AutoresetMode)


def wobbly_cartpole(obs: Any) -> np.ndarray:
    """A poor, deterministic, row-wise CartPole controller: episodes of many different
    lengths, so sub-envs finish out of order and pick up episodes in between."""
    obs = np.asarray(obs)
    return (obs[..., 2] + 0.1 * obs[..., 1] > 0).astype(np.int64)


_OBSTACLE = ObstacleExpert(seed=0)  # never reset: its side is fixed, so it is row-wise


def obstacle_expert(obs: Any) -> np.ndarray:
    """ObstacleExpert on one observation or a batch (row by row)."""
    obs = np.asarray(obs)
    if obs.ndim == 1:
        return _OBSTACLE(obs)
    return np.stack([_OBSTACLE(o) for o in obs])


def _vector(env_id: str, n: int, mode: AutoresetMode = AutoresetMode.NEXT_STEP, **kw: Any) -> Any:
    return SyncVectorEnv([lambda: gym.make(env_id)] * n, autoreset_mode=mode, **kw)


def assert_same_rollouts(a: Rollouts, b: Rollouts) -> None:
    np.testing.assert_array_equal(a.seeds, b.seeds)
    np.testing.assert_array_equal(a.lengths, b.lengths)
    np.testing.assert_array_equal(a.returns, b.returns)
    np.testing.assert_array_equal(a.successes, b.successes)
    np.testing.assert_array_equal(a.final_observations, b.final_observations)
    assert torch.equal(a.demos.observations, b.demos.observations)
    assert torch.equal(a.demos.actions, b.demos.actions)
    assert a.demos.episode_ids is not None and b.demos.episode_ids is not None
    assert torch.equal(a.demos.episode_ids, b.demos.episode_ids)
    assert a.demos.extras.keys() == b.demos.extras.keys()
    for key in a.demos.extras:
        assert torch.equal(a.demos.extras[key], b.demos.extras[key]), key


@settings(max_examples=25)
@given(
    n=st.integers(1, 4),
    episodes=st.integers(1, 7),
    seed=st.integers(0, 10_000),
    mode=st.sampled_from(MODES),
)
def test_a_vector_rollout_is_the_single_env_rollout_of_the_same_seeds(
    n: int, episodes: int, seed: int, mode: AutoresetMode
) -> None:
    single = rollout(wobbly_cartpole, gym.make("CartPole-v1"), episodes, seed)
    vector = rollout(wobbly_cartpole, _vector("CartPole-v1", n, mode), episodes, seed)
    assert_same_rollouts(vector, single)
    assert not (vector.reports_success or single.reports_success)  # CartPole has none


@pytest.mark.parametrize("mode", MODES)
def test_episode_structure_in_every_autoreset_mode(mode: AutoresetMode) -> None:
    r = rollout(wobbly_cartpole, _vector("CartPole-v1", 3, mode), 8, seed=5)
    assert r.episodes == 8 and len(r.demos) == r.lengths.sum()
    ids = r.demos.episode_ids
    assert ids is not None
    np.testing.assert_array_equal(np.bincount(ids.numpy()), r.lengths)
    assert bool((ids[1:] >= ids[:-1]).all())  # whole episodes, in seed order
    ends = (r.demos.extras["terminated"] + r.demos.extras["truncated"]).numpy()
    last = np.cumsum(r.lengths) - 1
    np.testing.assert_array_equal(np.flatnonzero(ends), last)  # one end per episode, last
    # each episode starts from its own seed's reset state
    firsts = r.demos.observations.numpy()[last - r.lengths + 1]
    for i, first in enumerate(firsts):
        np.testing.assert_array_equal(first, gym.make("CartPole-v1").reset(seed=5 + i)[0])


@pytest.mark.parametrize("mode", MODES)
def test_successes_and_final_observations_in_every_mode(mode: AutoresetMode) -> None:
    env_id = "shapesafe/Obstacle-v0"
    single = rollout(obstacle_expert, gym.make(env_id), 5, seed=2)
    vector = rollout(obstacle_expert, _vector(env_id, 3, mode), 5, seed=2)
    assert single.successes.all()  # read from info (SAME_STEP: info["final_info"])
    assert single.reports_success and vector.reports_success
    assert_same_rollouts(vector, single)
    # the final observation is where the last action led: the goal region, not a reset
    assert np.linalg.norm(vector.final_observations - np.array([0.0, 1.0]), axis=1).max() < 0.1


@pytest.mark.parametrize("mode", MODES)
def test_async_vector_env_gives_the_same_episodes(mode: AutoresetMode) -> None:
    env_id = "shapesafe/Obstacle-v0"  # reports is_success: read across processes too
    single = rollout(obstacle_expert, gym.make(env_id), 5, seed=1)
    env = AsyncVectorEnv([lambda: gym.make(env_id)] * 2, autoreset_mode=mode)
    try:
        assert_same_rollouts(rollout(obstacle_expert, env, 5, seed=1), single)
    finally:
        env.close()


def test_fewer_episodes_than_sub_envs_and_a_buffer_reusing_env() -> None:
    single = rollout(wobbly_cartpole, gym.make("CartPole-v1"), 2, seed=9)
    for mode in MODES:
        env = _vector("CartPole-v1", 5, mode, copy=False)  # one observation buffer, reused
        assert_same_rollouts(rollout(wobbly_cartpole, env, 2, seed=9), single)


@pytest.mark.values
def test_a_torch_policy_agrees_up_to_batch_rounding() -> None:
    # A network's output for one row may differ in the last bit with the batch size (the
    # matmul kernel changes), so the trajectories agree to float rounding, not bitwise.
    torch.manual_seed(0)
    policy = DeterministicPolicy(obs_dim=2, act_dim=2, hidden=(16,))
    env_id = "shapesafe/Obstacle-v0"
    single = rollout(policy, gym.make(env_id), 4, seed=0, deterministic=True)
    vector = rollout(policy, _vector(env_id, 3), 4, seed=0, deterministic=True)
    np.testing.assert_array_equal(vector.lengths, single.lengths)
    np.testing.assert_allclose(vector.returns, single.returns, rtol=1e-5)
    torch.testing.assert_close(vector.demos.observations, single.demos.observations)


def test_the_policy_acts_once_per_vector_step_and_resets_the_sub_envs_that_start() -> None:
    policy = CategoricalPolicy(obs_dim=4, n_actions=2, hidden=(8,))
    batches: list[tuple[int, ...]] = []
    resets: list[Any] = []
    original = policy._act_tensor

    def act(obs: torch.Tensor, *args: Any) -> torch.Tensor:
        batches.append(tuple(obs.shape))
        return original(obs, *args)

    policy._act_tensor = act  # type: ignore[method-assign]
    policy.reset = lambda which=None: resets.append(None if which is None else which.copy())  # type: ignore[method-assign]
    r = rollout(policy, _vector("CartPole-v1", 3), 7, seed=0)
    assert set(batches) == {(3, 4)}
    assert resets[0] is None  # the first reset: every sub-env
    masks = resets[1:]
    assert all(m.dtype == bool and m.shape == (3,) and m.any() for m in masks)
    # every episode after the first three starts on a sub-env named in a reset mask
    assert sum(int(m.sum()) for m in masks) == 7 - 3
    assert len(batches) >= r.lengths.max()


def test_history_policies_are_reset_per_sub_env() -> None:
    torch.manual_seed(0)
    policy = FrameStackPolicy(GaussianPolicy(obs_dim=8, act_dim=2, hidden=(8,)), history=4)
    env_id = "shapesafe/Obstacle-v0"
    single = rollout(policy, gym.make(env_id), 4, seed=3, deterministic=True)
    vector = rollout(
        policy, _vector(env_id, 2, AutoresetMode.SAME_STEP), 4, seed=3, deterministic=True
    )
    np.testing.assert_array_equal(vector.lengths, single.lengths)
    np.testing.assert_allclose(vector.returns, single.returns, rtol=1e-5)


def test_vector_evaluation_equals_single_env_evaluation() -> None:
    env_id = "shapesafe/Obstacle-v0"
    a = evaluate_in_env(obstacle_expert, gym.make(env_id), 6, seed=4)
    b = evaluate_in_env(obstacle_expert, _vector(env_id, 4), 6, seed=4)
    assert (a.mean_return, a.std_return, a.return_ci95) == (
        b.mean_return,
        b.std_return,
        b.return_ci95,
    )
    assert b.provenance["env"]["num_envs"] == 4
    assert b.provenance["env"]["autoreset_mode"] == "NextStep"


# ------------------------------------------------------------------ refusals


def test_a_vector_env_without_per_env_seeds_is_refused() -> None:
    env = gym.make_vec("CartPole-v1", num_envs=2)  # gymnasium's CartPoleVectorEnv
    with pytest.raises(UsageError) as info:
        rollout(wobbly_cartpole, env, 2)
    err = info.value
    assert (err.function, err.argument, err.got) == ("rollout", "env", "CartPoleVectorEnv")
    assert "vectorization_mode='sync'" in str(err.hint)
    assert "cannot start each episode from its own seed" in str(err)


def test_async_without_shared_memory_in_next_step_mode_is_refused() -> None:
    env = AsyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2, shared_memory=False)
    try:
        with pytest.raises(UsageError) as info:
            evaluate_in_env(wobbly_cartpole, env, 2)
        assert (info.value.function, info.value.argument) == ("evaluate_in_env", "env")
        assert "shared_memory=True" in str(info.value.hint)
    finally:
        env.close()


def test_a_one_observation_callable_gets_a_hint_in_a_vector_env() -> None:
    env = _vector("shapesafe/Obstacle-v0", 3)
    with pytest.raises(ShapeError) as info:
        rollout(lambda obs: np.zeros(2, np.float32), env, 3)
    err = info.value
    assert (err.function, err.argument) == ("rollout", "policy")
    assert (err.expected, err.got) == ("actions of shape (3, 2)", "shape (2,)")
    assert "np.stack([f(o) for o in obs])" in str(err.hint)

    with pytest.raises(UsageError) as uinfo:  # one that crashes on a batch
        rollout(ObstacleExpert(), env, 3)
    uerr = uinfo.value
    assert (uerr.function, uerr.argument) == ("rollout", "policy")
    assert uerr.got == "ValueError on the first batch"
    assert "ObstacleExpert failed on a batch of observations (3, 2)" in str(uerr)
    assert isinstance(uerr.__cause__, ValueError)  # the callable's own error, kept


def test_a_reset_without_which_cannot_reset_one_sub_env() -> None:
    class Resettable:
        def reset(self) -> None:
            pass

        def __call__(self, obs: Any) -> np.ndarray:
            return wobbly_cartpole(obs)

    with pytest.raises(UsageError) as info:
        rollout(Resettable(), _vector("CartPole-v1", 2), 4)
    assert (info.value.function, info.value.argument) == ("rollout", "policy")
    assert "which=None" in str(info.value.hint)
    # a single env has no sub-envs to single out: reset() is called as before
    assert rollout(Resettable(), gym.make("CartPole-v1"), 2).episodes == 2


def test_policy_and_expert_specs_are_checked_against_the_sub_env_spaces() -> None:
    with pytest.raises(ShapeError) as info:
        rollout(GaussianPolicy(obs_dim=3, act_dim=2), _vector("shapesafe/Obstacle-v0", 2), 1)
    assert (info.value.argument, info.value.got) == ("env", "observation space of shape (2,)")

    class PendulumLike(Expert):
        obs_spec, act_spec = ObsSpec((3,)), ActSpec((1,))

        def act_batch(self, obs: np.ndarray) -> np.ndarray:
            return np.zeros((len(obs), 1))

    with pytest.raises(ShapeError) as info:
        rollout(PendulumLike(), gym.make("CartPole-v1"), 1)
    err = info.value
    assert (err.function, err.argument) == ("rollout", "env")
    assert (err.expected, err.got) == (
        "observations of shape (3,)",
        "observation space of shape (4,)",
    )
    assert "the one this expert was written for" in str(err.hint)
    r = rollout(PendulumLike(), _vector("Pendulum-v1", 2), 3, seed=0)  # fits: runs batched
    assert r.episodes == 3 and r.lengths.tolist() == [200, 200, 200]
