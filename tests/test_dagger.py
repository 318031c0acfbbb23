"""dagger(): β schedules, the β-mixture, aggregation, checkpoint/resume, argument
errors, and a short seeded learning run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe import CheckpointError, DataError, ShapeError, UsageError
from shapesafe.bc import (
    BetaMixture,
    Demonstrations,
    DeterministicPolicy,
    GaussianPolicy,
    beta_schedule,
    dagger,
    load_policy,
    rollout,
)
from shapesafe.bc.tasks import ObstacleEnv, ObstacleExpert


class CounterEnv(gym.Env[np.ndarray, np.ndarray]):
    """Observation ``(episode seed, step)``; episode length ``1 + seed % 4``. Every row
    of collected data says which episode and step it came from."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.marker, self.t, self.length = 0, 0, 1

    def _obs(self) -> np.ndarray:
        return np.array([self.marker, self.t], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.marker, self.t, self.length = int(seed or 0), 0, 1 + int(seed or 0) % 4
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        return self._obs(), float(np.asarray(action).sum()), self.t >= self.length, False, {}


def counter_expert(obs: Any) -> np.ndarray:
    return np.array([0.1 * float(obs[1]) - 0.5], dtype=np.float32)


def _learner(seed: int = 0) -> DeterministicPolicy:
    torch.manual_seed(seed)
    return DeterministicPolicy(obs_dim=2, act_dim=1, hidden=(4,))


# ---------------------------------------------------------------- beta schedules


@given(p=st.floats(0.01, 1.0), n=st.integers(1, 12))
def test_exponential_schedule_is_p_to_the_i_minus_1(p: float, n: int) -> None:
    s = beta_schedule(f"exponential:{p!r}", n)
    np.testing.assert_allclose([s(i) for i in range(1, n + 1)], p ** np.arange(n), rtol=1e-12)


@given(n=st.integers(1, 12))
def test_linear_schedule_goes_from_1_to_0(n: int) -> None:
    s = beta_schedule("linear", n)
    ref = np.linspace(1.0, 0.0, n) if n > 1 else np.ones(1)
    np.testing.assert_allclose([s(i) for i in range(1, n + 1)], ref, atol=1e-12)


def test_constant_default_and_callable_schedules() -> None:
    assert [beta_schedule(0.3, 4)(i) for i in (1, 4)] == [0.3, 0.3]
    assert [beta_schedule("exponential", 3)(i) for i in (1, 2, 3)] == [1.0, 0.5, 0.25]
    assert beta_schedule(lambda i: 1 / i, 3)(4) == 0.25
    assert beta_schedule(0, 2).description == "constant 0"


@pytest.mark.parametrize(
    "beta", [1.5, -0.1, math.nan, True, "cosine", "exponential:2", "exponential:x", None]
)
def test_bad_beta_is_refused_clearly(beta: Any) -> None:
    with pytest.raises(UsageError) as info:
        beta_schedule(beta, 3)
    assert info.value.function == "dagger"
    assert info.value.argument == "beta"
    assert "beta" in str(info.value)


def test_a_schedule_that_leaves_0_1_is_refused_at_that_iteration() -> None:
    s = beta_schedule(lambda i: 1.0 if i == 1 else 2.0, 3)
    assert s(1) == 1.0
    with pytest.raises(UsageError) as info:
        s(2)
    assert info.value.argument == "beta"
    assert "at iteration 2" in str(info.value)


# ---------------------------------------------------------------- the mixture


@given(beta=st.floats(0.0, 1.0), seed=st.integers(0, 2**16), episodes=st.integers(1, 3))
@settings(max_examples=25)
def test_mixture_executes_the_expert_exactly_when_the_coin_says(
    beta: float, seed: int, episodes: int
) -> None:
    def learner(obs: Any) -> np.ndarray:
        return np.array([0.9], dtype=np.float32)

    mix = BetaMixture(learner, counter_expert, beta, seed=seed)
    r = rollout(mix, CounterEnv(), episodes, seed=seed)
    n = len(r.demos)
    flips = np.random.default_rng(seed).random(n) < beta  # one draw per step
    assert mix.expert_acted == flips.tolist()
    obs = r.demos.observations.numpy()
    labels = np.stack(mix.labels)
    np.testing.assert_array_equal(labels, np.stack([counter_expert(o) for o in obs]))
    executed = r.demos.actions.numpy()
    np.testing.assert_array_equal(executed[flips], labels[flips])
    np.testing.assert_array_equal(
        executed[~flips], np.full((int((~flips).sum()), 1), 0.9, dtype=np.float32)
    )


def test_mixture_calls_a_policy_learner_deterministically() -> None:
    learner = _learner()
    mix = BetaMixture(learner, counter_expert, 0.0)
    obs = np.array([3.0, 1.0], dtype=np.float32)
    np.testing.assert_array_equal(mix(obs), learner.act(obs, deterministic=True))
    assert mix.expert_acted == [False]


def test_a_trained_policy_can_be_the_expert() -> None:
    teacher = _learner(seed=3)
    result = _call(expert=teacher, iterations=2)
    obs = result.demos.observations
    expected = teacher.act(obs.numpy(), deterministic=True)
    np.testing.assert_allclose(result.demos.actions.numpy(), expected, rtol=1e-6)


def test_mixture_refuses_non_callables_and_bad_beta() -> None:
    with pytest.raises(UsageError) as info:
        BetaMixture(counter_expert, "expert", 0.5)  # type: ignore[arg-type]
    assert (info.value.function, info.value.argument) == ("BetaMixture", "expert")
    with pytest.raises(UsageError) as info:
        BetaMixture(counter_expert, counter_expert, 1.2)
    assert (info.value.function, info.value.argument) == ("BetaMixture", "beta")


# ---------------------------------------------------------------- aggregation


def _initial_demos(episodes: int) -> Demonstrations:
    # seeds far from the collection seeds, so every episode's marker is unique
    return rollout(counter_expert, CounterEnv(), episodes, seed=5000).demos


@given(
    iterations=st.integers(1, 3),
    k=st.integers(1, 3),
    initial=st.integers(0, 3),
    beta=st.sampled_from([0.0, 0.5, 1.0, "exponential", "linear"]),
    seed=st.integers(0, 100),
)
@settings(max_examples=12)
def test_aggregation_never_loses_duplicates_or_crosses_episodes(
    iterations: int, k: int, initial: int, beta: Any, seed: int
) -> None:
    demos = _initial_demos(initial) if initial else None
    result = dagger(
        _learner(seed), counter_expert, CounterEnv(), iterations=iterations,
        episodes_per_iteration=k, beta=beta, demos=demos, seed=seed, steps=1,
        eval_episodes=1, progress=False,
    )  # fmt: skip
    data = result.demos
    assert data is not None and data.episode_ids is not None
    obs, ids = data.observations.numpy(), data.episode_ids.numpy()
    iteration = data.extras["iteration"].numpy()
    # every row is labelled with the expert's action on that row's state
    np.testing.assert_array_equal(data.actions.numpy(), np.stack([counter_expert(o) for o in obs]))
    # the initial demonstrations come first, unchanged
    if demos is not None:
        np.testing.assert_array_equal(obs[: len(demos)], demos.observations.numpy())
    # episode ids are 0..E-1; each episode is one contiguous run of one env episode
    # (one marker, steps 0..len-1 in order) from one iteration
    n_episodes = initial + iterations * k
    assert sorted(set(ids.tolist())) == list(range(n_episodes))
    markers = set()
    for e in range(n_episodes):
        rows = np.flatnonzero(ids == e)
        assert np.array_equal(rows, np.arange(rows[0], rows[-1] + 1))
        marker = obs[rows, 0]
        assert len(set(marker.tolist())) == 1
        m = int(marker[0])
        assert m not in markers  # no episode twice
        markers.add(m)
        np.testing.assert_array_equal(obs[rows, 1], np.arange(1 + m % 4))  # none lost
        assert len(set(iteration[rows].tolist())) == 1
    # the records count exactly the rows
    assert [r.expert_labels for r in result.records] == np.cumsum(
        [r.new_labels for r in result.records]
    ).tolist()
    assert result.expert_labels == len(data)
    first = 0 if demos is not None else 1
    assert [r.iteration for r in result.records] == list(range(first, iterations + 1))


@pytest.mark.values
def test_seeded_aggregation_counts() -> None:
    result = dagger(
        _learner(), counter_expert, CounterEnv(), iterations=3, episodes_per_iteration=4,
        beta="exponential", seed=7, steps=2, eval_episodes=2, progress=False,
    )  # fmt: skip
    # episode j of iteration i has seed 7 + 4 i + j and length 1 + seed % 4
    lengths = [sum(1 + (7 + 4 * i + j) % 4 for j in range(4)) for i in (1, 2, 3)]
    assert [r.new_labels for r in result.records] == lengths
    assert [r.beta for r in result.records] == [1.0, 0.5, 0.25]
    assert result.records[0].expert_acted == 1.0
    flips = np.random.default_rng([7, 2]).random(lengths[1]) < 0.5
    assert result.records[1].expert_acted == pytest.approx(flips.mean())


@given(st.lists(st.integers(-5, 5), min_size=1, max_size=30))
def test_renumber_is_dense_in_order_of_first_appearance(ids: list[int]) -> None:
    from shapesafe.bc._dagger_data import renumber

    order = list(dict.fromkeys(ids))  # the reference: ids by first appearance
    expected = [order.index(i) for i in ids]
    assert renumber(torch.tensor(ids)).tolist() == expected


def test_a_vector_env_is_refused() -> None:
    envs = gym.vector.SyncVectorEnv([CounterEnv, CounterEnv])
    with pytest.raises(UsageError) as info:
        _call(env=envs)
    assert (info.value.function, info.value.argument) == ("dagger", "env")
    assert "runs one environment" in str(info.value)


def test_initial_demos_without_episode_ids_are_one_episode() -> None:
    demos = _initial_demos(2).without_episodes()
    result = dagger(
        _learner(), counter_expert, CounterEnv(), iterations=1, episodes_per_iteration=2,
        demos=demos, steps=1, eval_episodes=1, progress=False,
    )  # fmt: skip
    assert result.demos is not None and result.demos.episode_ids is not None
    assert result.demos.episode_ids[: len(demos)].unique().tolist() == [0]
    assert result.demos.n_episodes == 3


def test_demos_with_other_action_dtype_are_refused() -> None:
    demos = Demonstrations(np.zeros((5, 2)), np.zeros(5, dtype=np.int64))
    with pytest.raises(DataError) as info:
        dagger(
            _learner(), counter_expert, CounterEnv(), iterations=1, episodes_per_iteration=1,
            demos=demos, steps=1, eval_episodes=1, progress=False,
        )  # fmt: skip
    assert (info.value.function, info.value.argument) == ("dagger", "demos")
    assert "do not match the env" in str(info.value)


# ---------------------------------------------------------------- checkpoint / resume


#: A stateless expert (noise 0, never reset: it keeps one side): its labels depend on the
#: observation alone, so a resumed run can equal an uninterrupted one (an expert's own
#: random state is not part of the checkpoint).
_OBSTACLE_EXPERT = ObstacleExpert(seed=0)


def obstacle_expert(obs: Any) -> np.ndarray:
    return _OBSTACLE_EXPERT(obs)


def _run(
    out: Path, iterations: int, resume: bool = False, seed: int = 0, warm: bool = False
) -> Any:
    torch.manual_seed(0)
    policy = GaussianPolicy(2, 2, hidden=(16,))
    return dagger(
        policy, obstacle_expert, ObstacleEnv(), iterations=iterations,
        episodes_per_iteration=2, beta="exponential", demos=_obstacle_demos(), seed=seed,
        steps=30, eval_episodes=3, deterministic=False, checkpoint_dir=out, resume=resume,
        warm_start=warm, progress=False,
    )  # fmt: skip


def _obstacle_demos() -> Demonstrations:
    return rollout(ObstacleExpert(seed=1), ObstacleEnv(), 2, seed=100).demos


@pytest.mark.parametrize("warm", [False, True])
def test_resume_equals_an_uninterrupted_run(tmp_path: Path, warm: bool) -> None:
    whole = _run(tmp_path / "a", 3, warm=warm)
    _run(tmp_path / "b", 1, warm=warm)  # "interrupted" after iteration 1
    torch.manual_seed(123)  # a resume does not depend on the caller's RNG state
    resumed = _run(tmp_path / "b", 3, resume=True, warm=warm)
    assert resumed.resumed_from == 1
    assert [r.episodes for r in whole.records] == [2, 2, 2, 2]
    assert [r.to_dict() for r in resumed.records] == [r.to_dict() for r in whole.records]
    for a, b in zip(whole.policy.state_dict().values(), resumed.policy.state_dict().values()):
        assert torch.equal(a, b)
    assert whole.demos is not None and resumed.demos is not None
    assert torch.equal(whole.demos.observations, resumed.demos.observations)
    assert torch.equal(whole.demos.episode_ids, resumed.demos.episode_ids)  # type: ignore[arg-type]


def test_warm_start_continues_from_the_last_weights(tmp_path: Path) -> None:
    cold, warm = _run(tmp_path / "c", 2), _run(tmp_path / "w", 2, warm=True)
    # iteration 0 is the same fit from the same weights; later ones start elsewhere
    assert cold.records[0].to_dict() == warm.records[0].to_dict()
    assert cold.records[2].train_loss != warm.records[2].train_loss


def test_checkpoint_rebuilds_the_learner(tmp_path: Path) -> None:
    result = _run(tmp_path, 1)
    assert result.checkpoint == tmp_path / "dagger.pt"
    loaded = load_policy(result.checkpoint)
    obs = torch.rand(5, 2)
    assert torch.equal(loaded.predict(obs), result.policy.eval().predict(obs))


def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    _run(tmp_path, 1)
    with pytest.raises(CheckpointError) as info:
        _run(tmp_path, 2, resume=True, seed=5)
    assert (info.value.function, info.value.argument) == ("dagger", "resume")
    assert "seed: checkpoint 0, now 5" in str(info.value)


def test_resume_without_a_checkpoint_starts_fresh(tmp_path: Path) -> None:
    result = _run(tmp_path, 1, resume=True)
    assert result.resumed_from is None and len(result.records) == 2


# ---------------------------------------------------------------- arguments


def _call(**overrides: Any) -> Any:
    kwargs: dict[str, Any] = {
        "policy": _learner(),
        "expert": counter_expert,
        "env": CounterEnv(),
        "iterations": 1,
        "episodes_per_iteration": 1,
        "steps": 1,
        "eval_episodes": 1,
        "progress": False,
    }
    kwargs.update(overrides)
    return dagger(kwargs.pop("policy"), kwargs.pop("expert"), kwargs.pop("env"), **kwargs)


@pytest.mark.parametrize(
    ("overrides", "cls", "argument", "fragment"),
    [
        ({"policy": counter_expert}, UsageError, "policy", "must be a shapesafe Policy"),
        ({"expert": 3}, UsageError, "expert", "callable obs -> action"),
        ({"env": ObstacleEnv()}, ShapeError, "env", "does not fit the learner"),
        ({"iterations": 0}, UsageError, "iterations", "positive integer"),
        ({"episodes_per_iteration": 0}, UsageError, "episodes_per_iteration", "positive"),
        ({"beta": 2.0}, UsageError, "beta", "probability"),
        ({"resume": True}, UsageError, "resume", "checkpoint_dir"),
        ({"fit_options": {"seed": 1}}, UsageError, "fit_options", "dagger() sets itself"),
        ({"demos": "demos.npz"}, UsageError, "demos", "must be Demonstrations"),
        ({"expert": lambda o: np.zeros(3)}, ShapeError, "expert", "do not fit"),
    ],
)
def test_bad_arguments_are_refused_clearly(
    overrides: dict[str, Any], cls: type, argument: str, fragment: str
) -> None:
    with pytest.raises(cls) as info:
        _call(**overrides)
    assert info.value.function == "dagger"
    assert info.value.argument == argument
    assert fragment in str(info.value)


# ---------------------------------------------------------------- learning


def test_dagger_learner_improves_over_its_bc_start() -> None:
    """From 20 expert labels, BC on CartPole drifts off the expert's states and falls
    within a few dozen steps; two DAgger iterations on the learner's own states fix it
    (seeded)."""
    from shapesafe.bc import CategoricalPolicy
    from shapesafe.bc.experts import make_expert

    env = gym.make("CartPole-v1")
    expert = make_expert("CartPole-v1")
    demos = rollout(expert, env, 1, seed=500_000).demos[torch.arange(20)]
    torch.manual_seed(0)
    policy = CategoricalPolicy(obs_dim=4, n_actions=2, hidden=(32,))
    result = dagger(
        policy, expert, env, iterations=2, episodes_per_iteration=1, beta=0.0,
        demos=demos, steps=300, lr=3e-3, eval_episodes=3, progress=False,
    )  # fmt: skip
    first, last = result.records[0], result.records[-1]
    assert first.mean_return < 100
    assert last.mean_return > first.mean_return + 200
    assert last.expert_labels < 500  # fewer labels than one expert episode


def test_the_study_script_writes_its_plots_and_numbers(tmp_path: Path) -> None:
    import json
    import runpy
    import sys

    script = Path(__file__).parent.parent / "examples" / "dagger_study.py"
    argv = ["dagger_study.py", "--env", "CartPole-v1", "--quick", "--out", str(tmp_path)]
    old, sys.argv = sys.argv, argv
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = old
    results = json.loads((tmp_path / "cartpole_v1.json").read_text())
    assert results["expert_return"] == 500.0
    assert [r["labels"] for r in results["bc"]] == [20, 50]
    assert [r["iteration"] for r in results["dagger"][0]] == [0, 1]
    for name in ("return_vs_labels", "state_distance"):
        assert (tmp_path / f"cartpole_v1_{name}.png").stat().st_size > 10_000
