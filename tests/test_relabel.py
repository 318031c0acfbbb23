"""Hindsight relabelling (property tests over episode layouts: nothing lost, duplicated
or taken from another episode, goals only from the same or a later step), the
GoalReach task and its expert, goal rollouts, and the seeded result that relabelling
raises the success rate on goals the demonstrations never commanded."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe.bc import (
    Demonstrations,
    DeterministicPolicy,
    GaussianPolicy,
    evaluate_goal_reaching,
    fit,
    goal_rollout,
    relabel_goals,
)
from shapesafe.bc._relabel import STRATEGIES
from shapesafe.bc.tasks import (
    GOAL_REGION,
    GoalReachEnv,
    GoalReachExpert,
    ObstacleEnv,
    goal_reach_demonstrations,
)
from shapesafe.errors import DataError, NonFiniteError, ShapeError, UsageError

OFFSET = 1000.0  # achieved[i] = (OFFSET + i, -i): the goal names the row it came from


@st.composite
def layouts(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Episode ids per row (episodes of 1..5 steps, arbitrary labels, rows of different
    episodes possibly interleaved) and each row's step within its episode."""
    lengths = draw(st.lists(st.integers(1, 5), min_size=1, max_size=6))
    labels = draw(
        st.lists(st.integers(-50, 50), min_size=len(lengths), max_size=len(lengths), unique=True)
    )
    ids = [label for label, n in zip(labels, lengths, strict=True) for _ in range(n)]
    if draw(st.booleans()):
        ids = draw(st.permutations(ids))
    ids_arr = np.asarray(ids, dtype=np.int64)
    steps = np.zeros(len(ids), dtype=np.int64)
    for label in labels:
        rows = np.flatnonzero(ids_arr == label)
        steps[rows] = np.arange(len(rows))
    return ids_arr, steps


def _demos(ids: np.ndarray, goals: bool = True) -> Demonstrations:
    n = len(ids)
    i = np.arange(n, dtype=np.float32)
    return Demonstrations(
        i[:, None],
        -i[:, None],
        episode_ids=ids,
        goals=np.full((n, 2), -7.0, np.float32) if goals else None,
        extras={"achieved_goals": np.stack([OFFSET + i, -i], 1), "rewards": i * 10},
    )


@settings(max_examples=60, deadline=None)
@given(
    layout=layouts(),
    strategy=st.sampled_from(STRATEGIES),
    k=st.integers(1, 3),
    keep=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_relabelling_never_loses_duplicates_or_crosses_episodes(
    layout: tuple[np.ndarray, np.ndarray], strategy: str, k: int, keep: bool, seed: int
) -> None:
    ids, steps = layout
    demos = _demos(ids)
    out = relabel_goals(demos, strategy=strategy, k=k, keep_original=keep, seed=seed)
    n = len(demos)
    assert len(out) == (k + keep) * n and out.episode_ids is not None and out.goals is not None
    blocks = []
    if keep:  # the originals first, as they were
        torch.testing.assert_close(out.goals[:n], demos.goals)
        blocks.append(slice(0, n))
    copies = [slice((keep + c) * n, (keep + c + 1) * n) for c in range(k)]
    for rows in [*blocks, *copies]:  # every block is the data row for row, k + keep times
        torch.testing.assert_close(out.observations[rows], demos.observations)
        torch.testing.assert_close(out.actions[rows], demos.actions)
        assert torch.equal(out.episode_ids[rows], demos.episode_ids)  # type: ignore[arg-type]
        torch.testing.assert_close(out.extras["rewards"][rows], demos.extras["rewards"])
    for rows in copies:
        source = (out.goals[rows, 0] - OFFSET).round().long().numpy()  # where each goal came from
        np.testing.assert_array_equal(out.goals[rows, 1].numpy(), -source.astype(np.float32))
        np.testing.assert_array_equal(ids[source], ids)  # the same episode, always
        if strategy == "future":
            assert (steps[source] >= steps).all()
        if strategy == "final":  # a plain numpy reference: each episode's last row
            last = {label: np.flatnonzero(ids == label)[-1] for label in np.unique(ids)}
            np.testing.assert_array_equal(source, [last[label] for label in ids])


@pytest.mark.values
def test_future_draws_every_later_step_and_only_those() -> None:
    demos = _demos(np.zeros(4, dtype=np.int64))
    out = relabel_goals(demos, k=400, keep_original=False, seed=0)
    source = (out.goals[:, 0] - OFFSET).round().long().reshape(400, 4)  # type: ignore[index]
    assert [sorted(set(source[:, t].tolist())) for t in range(4)] == [
        [0, 1, 2, 3],
        [1, 2, 3],
        [2, 3],
        [3],
    ]
    # uniform over the later steps: row 0 picks each of its 4 about 100 times in 400
    counts = torch.bincount(source[:, 0], minlength=4)
    assert int(counts.min()) > 60


@pytest.mark.values
def test_seeded_and_other_ways_to_give_achieved_goals() -> None:
    demos = _demos(np.repeat(np.arange(5), 10))
    a, b = relabel_goals(demos, seed=3), relabel_goals(demos, seed=3)
    assert torch.equal(a.goals, b.goals)  # type: ignore[arg-type]
    assert not torch.equal(a.goals, relabel_goals(demos, seed=4).goals)  # type: ignore[arg-type]
    # a callable on the observations, or an array, instead of an extras field
    by_obs = relabel_goals(demos, achieved=lambda obs: obs, keep_original=False, strategy="final")
    assert by_obs.goals is not None
    np.testing.assert_array_equal(by_obs.goals[:, 0].numpy(), np.repeat(np.arange(9, 50, 10), 10))
    array = demos.extras["achieved_goals"].numpy()
    same = relabel_goals(demos, achieved=array, seed=3)
    assert torch.equal(same.goals, a.goals)  # type: ignore[arg-type]


def test_bad_input_is_refused_with_the_fields() -> None:
    demos = _demos(np.repeat(np.arange(3), 4))
    no_ids = Demonstrations(demos.observations, demos.actions, goals=demos.goals)
    with pytest.raises(DataError, match="no episode ids") as info:
        relabel_goals(no_ids)
    assert (info.value.function, info.value.argument) == ("relabel_goals", "demos")
    assert info.value.got == "episode_ids=None" and info.value.hint is not None
    with pytest.raises(DataError, match="no extra field 'achieved'") as info:
        relabel_goals(demos, achieved="achieved")
    assert info.value.argument == "achieved" and "achieved_goals" in str(info.value.got)
    with pytest.raises(DataError, match="keep_original=True keeps the original goals") as info:
        relabel_goals(_demos(np.zeros(3, dtype=np.int64), goals=False))
    assert info.value.argument == "keep_original"
    with pytest.raises(UsageError, match="unknown strategy 'later'") as info:
        relabel_goals(demos, strategy="later")
    assert info.value.argument == "strategy"
    for k in (0, 1.5, True):
        with pytest.raises(UsageError) as info:
            relabel_goals(demos, k=k)  # type: ignore[arg-type]
        assert info.value.argument == "k"
    with pytest.raises(ShapeError, match=r"do not have the shape of the demonstrations' goals"):
        relabel_goals(demos, achieved=lambda obs: obs)  # (N, 1) achieved, (N, 2) goals
    nan = demos.extras["achieved_goals"].clone()
    nan[5, 1] = float("nan")
    with pytest.raises(NonFiniteError, match="non-finite values in 1 row") as info:
        relabel_goals(demos, achieved=nan)
    assert (info.value.argument, info.value.got) == ("achieved", "non-finite values in row 5")
    with pytest.raises(ShapeError, match="one row per step") as info:
        relabel_goals(demos, achieved=np.zeros((5, 2), np.float32))
    assert (info.value.argument, info.value.axis) == ("achieved", 0)


# ---------------------------------------------------------------- the task


def test_env_follows_the_goal_env_conventions() -> None:
    env = gym.make("shapesafe/GoalReach-v0")
    obs, info = env.reset(seed=0)
    assert set(obs) == {"observation", "achieved_goal", "desired_goal"}
    assert env.observation_space.contains(obs) and info["is_success"] is False
    np.testing.assert_array_equal(obs["observation"], obs["achieved_goal"])
    obs, _ = env.reset(seed=1, options={"goal": (0.25, -0.5)})
    np.testing.assert_allclose(obs["desired_goal"], [0.25, -0.5])
    inner: Any = env.unwrapped
    rewards = inner.compute_reward(np.zeros((3, 2)), np.array([[0, 0.05], [0, 0.5], [1, 1]]), {})
    np.testing.assert_array_equal(rewards, [0.0, -1.0, -1.0])
    corner = GoalReachEnv(goal_region=GOAL_REGION)
    goals = np.stack([corner.reset(seed=s)[0]["desired_goal"] for s in range(50)])
    assert (np.linalg.norm(goals - GOAL_REGION[:2], axis=1) <= GOAL_REGION[2] + 1e-6).all()
    with pytest.raises(UsageError, match="goal_region") as info:
        GoalReachEnv(goal_region=(0.0, 0.0, -1.0))
    assert (info.value.function, info.value.argument) == ("GoalReachEnv", "goal_region")


@pytest.mark.values
def test_expert_reaches_every_goal_and_rollouts_record_achieved_goals() -> None:
    result = evaluate_goal_reaching(GoalReachExpert(), GoalReachEnv(), episodes=30, seed=0)
    assert result.success_rate == 1.0 and result.episodes == 30
    demos = goal_reach_demonstrations(20, seed=0)  # the wandering expert, goals in the corner
    assert demos.goals is not None and demos.episode_ids is not None
    assert (np.linalg.norm(demos.goals.numpy() - GOAL_REGION[:2], axis=1) < 0.21).all()
    achieved, obs = demos.extras["achieved_goals"], demos.observations
    same = demos.episode_ids[1:] == demos.episode_ids[:-1]
    # the goal achieved after a step is where the next step of that episode starts
    torch.testing.assert_close(achieved[:-1][same], obs[1:][same])
    assert int(demos.extras["terminated"].sum()) == 20  # every demonstration succeeds


def test_goal_rollouts_check_the_policy_and_the_env() -> None:
    policy = GaussianPolicy(2, 2, goal_dim=2)
    r = goal_rollout(policy, GoalReachEnv(max_steps=5), episodes=2, seed=0)
    assert r.episodes == 2 and r.demos.goals is not None and r.final_observations is not None
    last = np.cumsum(r.lengths) - 1  # the final observation is the last achieved goal
    np.testing.assert_array_equal(r.final_observations, r.demos.extras["achieved_goals"][last])
    with pytest.raises(UsageError, match="is not goal-conditioned") as info:
        goal_rollout(GaussianPolicy(2, 2), GoalReachEnv(), 1)
    assert (info.value.argument, info.value.hint) == ("policy", "build it with goal_dim=2")
    with pytest.raises(ShapeError, match="goals do not fit") as info:
        goal_rollout(GaussianPolicy(2, 2, goal_dim=3), GoalReachEnv(), 1)
    assert info.value.argument == "env"
    with pytest.raises(UsageError, match="not a goal environment") as info:
        evaluate_goal_reaching(policy, ObstacleEnv(), 1)
    assert info.value.function == "evaluate_goal_reaching"


# ---------------------------------------------------------------- the result


@pytest.mark.values
def test_relabelling_raises_success_on_goals_never_commanded() -> None:
    """Demonstrations commanded to one corner; evaluation goals anywhere (seeded)."""
    demos = goal_reach_demonstrations(40, seed=0)
    rates = {}
    for name, data in (("plain", demos), ("relabelled", relabel_goals(demos, k=4, seed=0))):
        torch.manual_seed(0)
        policy = DeterministicPolicy(2, 2, hidden=(64, 64), goal_dim=2)
        fit(policy, data, steps=300, batch_size=256, lr=3e-3, seed=0, progress=False)
        result = evaluate_goal_reaching(policy, GoalReachEnv(), 50, seed=1000, deterministic=True)
        rates[name] = result.success_rate
    assert rates["plain"] < 0.5 and rates["relabelled"] > 0.8, rates
