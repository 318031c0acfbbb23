"""Minari import/export: round trips through real on-disk datasets (in a temporary
``MINARI_DATASETS_PATH``, never ``~/.minari``), and the refusals."""

from __future__ import annotations

import importlib
import itertools
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe import DataError, DtypeError, NonFiniteError, ShapeError, UsageError
from shapesafe.bc import CategoricalPolicy, Demonstrations, fit, from_minari, rollout, to_minari
from shapesafe.bc.experts import make_expert
from shapesafe.bc.tasks import ObstacleEnv, ObstacleExpert

minari = pytest.importorskip("minari", reason="the minari extra is not installed")

_ids = itertools.count()


@pytest.fixture(autouse=True)
def datasets_root(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    root = tmp_path_factory.mktemp("minari")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def fresh_id() -> str:
    return f"test/data{next(_ids)}-v0"


def cartpole_policy(obs: np.ndarray) -> int:
    # push towards the side the pole leans to: episodes of a few dozen steps
    return int(obs[2] + 0.5 * obs[3] > 0)


def layout_demos(
    lengths: list[int], obs_dim: int, n_actions: int | None, seed: int
) -> tuple[Demonstrations, np.ndarray]:
    """Demonstrations with the given episode lengths, random contents, a reward column,
    terminated/truncated on each last step, and random final observations."""
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    ids = np.repeat(np.arange(len(lengths)), lengths)
    last = np.zeros(n, dtype=bool)
    last[np.cumsum(lengths) - 1] = True
    ends_terminated = rng.random(n) < 0.5
    if n_actions is None:
        actions = rng.normal(size=(n, 2)).astype(np.float32)
    else:
        actions = rng.integers(0, n_actions, size=n)
    demos = Demonstrations(
        rng.normal(size=(n, obs_dim)).astype(np.float32),
        actions,
        episode_ids=ids,
        extras={
            "rewards": rng.normal(size=n).astype(np.float32),
            "terminated": last & ends_terminated,
            "truncated": last & ~ends_terminated,
        },
    )
    finals = rng.normal(size=(len(lengths), obs_dim)).astype(np.float32)
    return demos, finals


def assert_same(a: Demonstrations, b: Demonstrations) -> None:
    assert torch.equal(a.observations, b.observations)
    assert torch.equal(a.actions, b.actions)
    assert a.actions.dtype == b.actions.dtype
    assert a.episode_ids is not None and b.episode_ids is not None
    assert torch.equal(a.episode_ids, b.episode_ids)
    assert sorted(a.extras) == sorted(b.extras)
    for k in a.extras:
        assert torch.equal(a.extras[k], b.extras[k]), k
    if a.goals is None:
        assert b.goals is None
    else:
        assert b.goals is not None and torch.equal(a.goals, b.goals)


# --------------------------------------------------------------------------- round trips


@pytest.mark.values
def test_rollout_round_trip_continuous() -> None:
    r = rollout(ObstacleExpert(seed=0), ObstacleEnv(), episodes=3, seed=5)
    ds = to_minari(r, "test/obstacle-v0", env="shapesafe/Obstacle-v0", author="tests")
    back = from_minari("test/obstacle-v0")
    assert_same(r.demos, back)
    assert back.fingerprint() == r.demos.fingerprint()
    # what another Minari user sees: T+1 observations, the final one from the rollout
    assert ds.total_episodes == 3 and ds.total_steps == len(r.demos)
    for i, ep in enumerate(ds.iterate_episodes()):
        assert len(ep.observations) == r.lengths[i] + 1
        np.testing.assert_array_equal(ep.observations[-1], r.final_observations[i])
        assert ep.rewards.sum() == pytest.approx(r.returns[i], rel=1e-5)
    seeds = [m["seed"] for m in ds.storage.get_episode_metadata(range(3))]
    assert seeds == [5, 6, 7]
    assert ds.spec.env_spec.id == "shapesafe/Obstacle-v0"
    assert ds.storage.metadata["author"] == {"tests"}
    assert "3 episodes" in ds.storage.metadata["description"]
    env = ds.recover_environment()
    assert env.observation_space.shape == (2,)


@pytest.mark.values
def test_rollout_round_trip_discrete() -> None:
    env = gym.make("CartPole-v1")
    r = rollout(cartpole_policy, env, episodes=3, seed=0)
    ds = to_minari(r, fresh_id(), env=env)
    assert ds.action_space == gym.spaces.Discrete(2)
    back = from_minari(ds)
    assert back.actions.dtype == torch.int64 and back.actions.ndim == 1
    assert_same(r.demos, back)
    assert bool(back.extras["terminated"].sum() + back.extras["truncated"].sum() == 3)


@settings(max_examples=12)
@given(
    lengths=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    obs_dim=st.integers(1, 3),
    n_actions=st.none() | st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_round_trip_over_episode_layouts(
    lengths: list[int], obs_dim: int, n_actions: int | None, seed: int
) -> None:
    demos, finals = layout_demos(lengths, obs_dim, n_actions, seed)
    action_space = None if n_actions is None else gym.spaces.Discrete(n_actions)
    dataset_id = fresh_id()
    ds = to_minari(demos, dataset_id, final_observations=finals, action_space=action_space)
    back = from_minari(dataset_id)
    assert_same(demos, back)
    assert [len(ep) for ep in ds.iterate_episodes()] == lengths
    # the D4RL-style next_observations column reproduces the same dataset
    with_next = from_minari(ds, next_observations=True)
    again = to_minari(with_next, fresh_id(), action_space=action_space)
    for ep1, ep2 in zip(ds.iterate_episodes(), again.iterate_episodes()):
        np.testing.assert_array_equal(ep1.observations, ep2.observations)
        np.testing.assert_array_equal(ep1.terminations, ep2.terminations)


def test_vector_env_rollouts_and_env_without_spec() -> None:
    vec = gym.make_vec("CartPole-v1", 2, vectorization_mode="sync", max_episode_steps=80)
    r = rollout(lambda obs: (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64), vec, 3, seed=0)
    ds = to_minari(r, fresh_id(), env=vec)
    vec.close()
    assert ds.spec.env_spec.id == "CartPole-v1" and ds.action_space == gym.spaces.Discrete(2)
    assert ds.spec.env_spec.max_episode_steps == 80
    assert ds.recover_environment().spec.max_episode_steps == 80
    assert_same(r.demos, from_minari(ds))
    # an env built without gymnasium.make has no spec: its spaces are still stored
    obstacle = rollout(ObstacleExpert(seed=0), ObstacleEnv(), episodes=2, seed=0)
    ds = to_minari(obstacle, fresh_id(), env=ObstacleEnv())
    assert ds.spec.env_spec is None
    assert ds.observation_space == ObstacleEnv().observation_space


@pytest.mark.values
def test_float64_and_image_spaces_stored_in_their_dtype() -> None:
    # MuJoCo observation spaces are float64: stored as such, read back exactly
    env = gym.make("InvertedPendulum-v5")
    r = rollout(lambda obs: np.zeros(1, np.float32), env, episodes=2, seed=0)
    ds = to_minari(r, fresh_id(), env=env)
    assert next(iter(ds.iterate_episodes())).observations.dtype == np.float64
    assert_same(r.demos, from_minari(ds))
    # uint8 images: stored as uint8 (without lossy JPEG), integers again on the way back
    images = np.random.default_rng(0).integers(0, 256, size=(3, 4, 4, 1))
    space = gym.spaces.Box(0, 255, (4, 4, 1), np.uint8)
    demos = Demonstrations(
        images,
        np.zeros((3, 1), np.float32),
        episode_ids=[0, 0, 0],
        extras={"rewards": np.zeros(3)},
    )
    final = images[:1]
    ds = to_minari(
        demos,
        fresh_id(),
        observation_space=space,
        final_observations=final,
        episode_ends="truncated",
    )
    stored = next(iter(ds.iterate_episodes())).observations
    assert stored.dtype == np.uint8
    np.testing.assert_array_equal(stored[:3], images)
    back = from_minari(ds)
    assert back.extras["truncated"].tolist() == [0, 0, 1]
    rewards_only = {"rewards": back.extras["rewards"]}
    assert_same(
        demos,
        Demonstrations(
            back.observations, back.actions, episode_ids=back.episode_ids, extras=rewards_only
        ),
    )


@pytest.mark.values
def test_training_on_the_imported_data_equals_training_on_the_original() -> None:
    env = gym.make("CartPole-v1")
    r = rollout(make_expert("CartPole-v1"), env, episodes=1, seed=0)
    back = from_minari(to_minari(r, fresh_id(), env=env))
    weights = []
    for demos in (r.demos, back):
        torch.manual_seed(0)
        policy = CategoricalPolicy(4, 2, hidden=(16,))
        fit(policy, demos, steps=10, batch_size=32, lr=1e-2, seed=0, progress=False)
        weights.append(policy.state_dict())
    for name, value in weights[0].items():
        assert torch.equal(value, weights[1][name]), name


def test_episodes_out_of_order_are_grouped_stably() -> None:
    # rows of two episodes interleaved (e.g. two sub-envs): each episode keeps its order
    obs = np.arange(6, dtype=np.float32)[:, None]
    ids = np.array([1, 0, 1, 0, 0, 1])
    demos = Demonstrations(obs, obs * 2, episode_ids=ids, extras={"rewards": obs[:, 0]})
    finals = np.array([[10.0], [11.0]], dtype=np.float32)
    ds = to_minari(demos, fresh_id(), final_observations=finals, episode_ends="truncated")
    eps = list(ds.iterate_episodes())
    np.testing.assert_array_equal(eps[0].observations[:, 0], [1, 3, 4, 10])
    np.testing.assert_array_equal(eps[1].observations[:, 0], [0, 2, 5, 11])
    assert eps[0].truncations.tolist() == [False, False, True]
    assert not eps[0].terminations.any()


def test_goals_and_extras_round_trip() -> None:
    demos, finals = layout_demos([3, 2], 2, None, 0)
    demos = Demonstrations(
        demos.observations,
        demos.actions,
        episode_ids=demos.episode_ids,
        goals=torch.arange(10.0).reshape(5, 2),
        extras={**demos.extras, "costs": torch.arange(5.0), "phase": torch.tensor([0, 1, 2, 0, 1])},
    )
    ds = to_minari(demos, fresh_id(), final_observations=finals)
    assert sorted(next(iter(ds.iterate_episodes())).infos) == ["costs", "goals", "phase"]
    back = from_minari(ds)
    assert_same(demos, back)
    assert back.extras["phase"].dtype == torch.int64


def test_goal_env_dict_observations() -> None:
    # the gymnasium-robotics layout: observation / achieved_goal / desired_goal
    box = gym.spaces.Box(-10, 10, (2,), np.float32)
    space = gym.spaces.Dict({"observation": box, "achieved_goal": box, "desired_goal": box})
    rng = np.random.default_rng(0)
    obs = {k: rng.normal(size=(4, 2)).astype(np.float32) for k in space.spaces}
    buffer = minari.data_collector.EpisodeBuffer(
        observations=obs,
        actions=rng.normal(size=(3, 2)).astype(np.float32),
        rewards=np.zeros(3),
        terminations=np.array([False, False, True]),
        truncations=np.zeros(3, dtype=bool),
        infos={"success": np.array([0, 0, 0, 1])},  # T+1 entries, as DataCollector writes
    )
    dataset_id = fresh_id()
    with pytest.warns(UserWarning):
        minari.create_dataset_from_buffers(
            dataset_id, [buffer], observation_space=space, action_space=box, jpeg_encoding=False
        )
    demos = from_minari(dataset_id, infos=["success"])
    np.testing.assert_array_equal(demos.observations.numpy(), obs["observation"][:3])
    assert demos.goals is not None
    np.testing.assert_array_equal(demos.goals.numpy(), obs["desired_goal"][:3])
    # entry t+1 is the info returned with step t's reward
    assert demos.extras["success"].tolist() == [0, 0, 1]
    achieved = from_minari(dataset_id, observation_key="achieved_goal")
    np.testing.assert_array_equal(achieved.observations.numpy(), obs["achieved_goal"][:3])
    assert achieved.goals is None


def test_dataset_directory_and_overwrite(datasets_root: Path) -> None:
    demos, finals = layout_demos([2, 2], 1, None, 1)
    to_minari(demos, "test/same-v0", final_observations=finals)
    from_dir = from_minari(datasets_root / "test" / "same-v0")
    assert_same(demos, from_dir)
    other, other_finals = layout_demos([1], 1, None, 2)
    to_minari(other, "test/same-v0", final_observations=other_finals, overwrite=True)
    assert len(from_minari("test/same-v0")) == 1


def test_failed_write_leaves_no_dataset(
    monkeypatch: pytest.MonkeyPatch, datasets_root: Path
) -> None:
    demos, finals = layout_demos([2], 1, None, 3)

    def broken(*args: Any, **kwargs: Any) -> None:
        minari.storage.datasets_root_dir.get_dataset_path("test/broken-v0").mkdir(parents=True)
        raise OSError("disk full")

    monkeypatch.setattr(minari, "create_dataset_from_buffers", broken)
    with pytest.raises(OSError):
        to_minari(demos, "test/broken-v0", final_observations=finals)
    assert not (datasets_root / "test" / "broken-v0").exists()


def test_module_imports_without_minari(monkeypatch: pytest.MonkeyPatch) -> None:
    # a fresh import of the module with minari blocked: nothing at import time needs it
    monkeypatch.setitem(sys.modules, "minari", None)
    package = importlib.import_module("shapesafe.bc")
    for name in ("_minari", "_minari_episodes"):
        monkeypatch.delitem(sys.modules, f"shapesafe.bc.{name}")
        # the import below rebinds the package attribute: give the original back after
        monkeypatch.setattr(package, name, getattr(package, name))
    module = importlib.import_module("shapesafe.bc._minari")
    with pytest.raises(UsageError) as info:
        module.from_minari("test/x-v0")
    assert info.value.hint == "install it with pip install 'shapesafe[minari]'"


# --------------------------------------------------------------------------- refusals


def test_missing_minari_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "minari", None)
    demos, finals = layout_demos([2], 1, None, 0)
    with pytest.raises(UsageError) as info:
        to_minari(demos, "test/x-v0", final_observations=finals)
    assert info.value.function == "to_minari"
    assert info.value.hint == "install it with pip install 'shapesafe[minari]'"


def test_no_episode_ids() -> None:
    demos = Demonstrations(torch.zeros(3, 2), torch.zeros(3, 1), extras={"rewards": torch.zeros(3)})
    with pytest.raises(DataError) as info:
        to_minari(demos, fresh_id())
    assert (info.value.function, info.value.argument) == ("to_minari", "data")
    assert "no episode ids" in str(info.value)


def test_no_rewards_no_ends_no_finals() -> None:
    ids = np.array([0, 0, 1])
    bare = Demonstrations(torch.zeros(3, 2), torch.zeros(3, 1), episode_ids=ids)
    with pytest.raises(DataError) as info:
        to_minari(bare, fresh_id())
    assert info.value.expected == "extras['rewards'] of shape (N,)"
    rewarded = Demonstrations(
        torch.zeros(3, 2), torch.zeros(3, 1), episode_ids=ids, extras={"rewards": torch.ones(3)}
    )
    with pytest.raises(DataError) as info:
        to_minari(rewarded, fresh_id())
    assert "episode_ends='terminated'" in (info.value.hint or "")
    with pytest.raises(DataError) as info:
        to_minari(rewarded, fresh_id(), episode_ends="terminated")
    assert "final_observations=" in (info.value.hint or "")
    with pytest.raises(ShapeError) as shape_info:
        to_minari(
            rewarded, fresh_id(), episode_ends="terminated", final_observations=np.zeros((3, 2))
        )
    assert shape_info.value.argument == "final_observations"
    assert shape_info.value.expected == "shape (2, 2) (episodes, obs...)"
    with pytest.raises(UsageError) as usage:
        to_minari(rewarded, fresh_id(), episode_ends="ended")
    assert usage.value.argument == "episode_ends"


def test_flags_conflict_and_mid_episode_end() -> None:
    demos, finals = layout_demos([2, 2], 1, None, 0)
    with pytest.raises(UsageError) as usage:
        to_minari(demos, fresh_id(), final_observations=finals, episode_ends="truncated")
    assert usage.value.argument == "episode_ends"
    early = Demonstrations(
        demos.observations,
        demos.actions,
        episode_ids=demos.episode_ids,
        extras={**demos.extras, "terminated": torch.tensor([1, 0, 0, 1])},
    )
    with pytest.raises(DataError) as info:
        to_minari(early, fresh_id(), final_observations=finals)
    assert info.value.got == "first at row 0 of the data sorted by episode"
    odd = Demonstrations(
        demos.observations,
        demos.actions,
        episode_ids=demos.episode_ids,
        extras={**demos.extras, "terminated": torch.tensor([0, 2, 0, 1])},
    )
    with pytest.raises(DtypeError):
        to_minari(odd, fresh_id(), final_observations=finals)


def test_inconsistent_next_observations() -> None:
    demos, _ = layout_demos([3], 1, None, 0)
    nxt = torch.cat([demos.observations[1:], torch.zeros(1, 1)])
    ok = Demonstrations(
        demos.observations,
        demos.actions,
        episode_ids=demos.episode_ids,
        extras={**demos.extras, "next_observations": nxt},
    )
    ds = to_minari(ok, fresh_id())
    assert next(iter(ds.iterate_episodes())).observations[-1].tolist() == [0.0]
    nxt[0] += 1
    bad = Demonstrations(
        demos.observations,
        demos.actions,
        episode_ids=demos.episode_ids,
        extras={**demos.extras, "next_observations": nxt},
    )
    with pytest.raises(DataError) as info:
        to_minari(bad, fresh_id())
    assert info.value.got == "first at row 0 of the data sorted by episode"


def test_existing_and_malformed_ids() -> None:
    demos, finals = layout_demos([2], 1, None, 0)
    to_minari(demos, "test/taken-v0", final_observations=finals)
    with pytest.raises(UsageError) as info:
        to_minari(demos, "test/taken-v0", final_observations=finals)
    assert info.value.argument == "dataset_id"
    assert (
        info.value.hint == "pass overwrite=True to replace it, or bump the version (name-v1, ...)"
    )
    with pytest.raises(UsageError) as info:
        to_minari(demos, "test/no-version", final_observations=finals)
    assert info.value.hint == "add a version: 'test/no-version-v0'"
    with pytest.raises(UsageError) as info:  # minari's namespaces have 2+ characters
        to_minari(demos, "t/short-v0", final_observations=finals)
    assert "a namespace needs 2 or more characters" in (info.value.hint or "")
    with pytest.raises(UsageError):
        to_minari(demos, 3, final_observations=finals)  # type: ignore[arg-type]


def test_spaces_checked_against_the_data() -> None:
    discrete, finals = layout_demos([2], 3, 2, 4)
    assert discrete.actions.tolist() == [1, 1]
    with pytest.raises(UsageError) as info:
        to_minari(discrete, fresh_id(), final_observations=finals)
    assert info.value.argument == "action_space"
    assert info.value.hint == "pass env=... or action_space=gymnasium.spaces.Discrete(n)"
    with pytest.raises(DataError) as data_info:
        to_minari(
            discrete, fresh_id(), final_observations=finals, action_space=gym.spaces.Discrete(1)
        )
    assert data_info.value.expected == "values in [0, 1)"
    with pytest.raises(ShapeError) as shape_info:
        to_minari(discrete, fresh_id(), final_observations=finals, env="CartPole-v1")
    assert shape_info.value.argument == "observation_space"
    assert shape_info.value.got == "observations of shape (2, 3)"
    continuous, finals = layout_demos([2], 4, None, 0)
    with pytest.raises(ShapeError) as shape_info:
        to_minari(continuous, fresh_id(), final_observations=finals, env="CartPole-v1")
    assert shape_info.value.argument == "action_space"
    with pytest.raises(UsageError) as info:
        to_minari(continuous, fresh_id(), final_observations=finals, env="NoSuchEnv-v0")
    assert info.value.argument == "env"


def test_import_refusals(datasets_root: Path) -> None:
    with pytest.raises(DataError) as info:
        from_minari("test/absent-v0")
    assert info.value.argument == "dataset"
    assert "minari download test/absent-v0" in (info.value.hint or "")
    with pytest.raises(DataError):
        from_minari(datasets_root)  # a directory that is not a dataset
    with pytest.raises(UsageError):
        from_minari(42)
    tuple_space = gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Discrete(3)))
    buffer = minari.data_collector.EpisodeBuffer(
        observations=np.zeros((2, 1), np.float32),
        actions=(np.array([0]), np.array([1])),
        rewards=np.zeros(1),
        terminations=np.array([True]),
        truncations=np.array([False]),
        infos={},
    )
    dataset_id = fresh_id()
    with pytest.warns(UserWarning):
        minari.create_dataset_from_buffers(
            dataset_id,
            [buffer],
            observation_space=gym.spaces.Box(-1, 1, (1,), np.float32),
            action_space=tuple_space,
        )
    with pytest.raises(DataError) as info:
        from_minari(dataset_id)
    assert info.value.got == "Tuple"
    with pytest.raises(UsageError) as info:
        from_minari(dataset_id, observation_key="observation")
    assert info.value.argument == "observation_key"


def test_dict_without_observation_entry_and_missing_info() -> None:
    box = gym.spaces.Box(-1, 1, (1,), np.float32)
    space = gym.spaces.Dict({"pos": box, "vel": box})
    buffer = minari.data_collector.EpisodeBuffer(
        observations={"pos": np.zeros((2, 1), np.float32), "vel": np.ones((2, 1), np.float32)},
        actions=np.zeros((1, 1), np.float32),
        rewards=np.zeros(1),
        terminations=np.array([True]),
        truncations=np.array([False]),
        infos={},
    )
    dataset_id = fresh_id()
    with pytest.warns(UserWarning):
        minari.create_dataset_from_buffers(
            dataset_id, [buffer], observation_space=space, action_space=box
        )
    with pytest.raises(DataError) as info:
        from_minari(dataset_id)
    assert info.value.expected == "one of ['pos', 'vel']"
    assert info.value.hint == "pass observation_key=<the entry that holds the observations>"
    demos = from_minari(dataset_id, observation_key="vel")
    assert demos.observations.tolist() == [[1.0]]
    with pytest.raises(DataError) as info:
        from_minari(dataset_id, observation_key="vel", infos=["success"])
    assert info.value.argument == "infos"


def test_non_finite_data_is_refused_on_import() -> None:
    buffer = minari.data_collector.EpisodeBuffer(
        observations=np.array([[0.0], [np.nan]], np.float32),
        actions=np.array([[np.nan]], np.float32),
        rewards=np.zeros(1),
        terminations=np.array([True]),
        truncations=np.array([False]),
        infos={},
    )
    box = gym.spaces.Box(-1, 1, (1,), np.float32)
    dataset_id = fresh_id()
    with pytest.warns(UserWarning):
        minari.create_dataset_from_buffers(
            dataset_id, [buffer], observation_space=box, action_space=box
        )
    with pytest.raises(NonFiniteError) as info:
        from_minari(dataset_id)
    assert info.value.argument == "actions"


# --------------------------------------------------------------------------- the CLI


def test_cli_export_import_list(
    tmp_path: Path, datasets_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from shapesafe.cli import main

    args = ["dataset", "export", "--env", "CartPole-v1", "--episodes", "2", "--seed", "3"]
    assert main([*args, "--id", "cli/cartpole-v0", "--author", "tests"]) == 0
    assert "wrote 'cli/cartpole-v0': 2 episodes" in capsys.readouterr().out
    assert main([*args, "--id", "cli/cartpole-v0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.endswith(
        "hint: pass --overwrite to replace it, or bump the version (name-v1, ...)"
    )
    out = tmp_path / "cartpole.npz"
    assert main(["dataset", "import", "cli/cartpole-v0", "--out", str(out)]) == 0
    expert = rollout(
        make_expert("CartPole-v1"),
        gym.make("CartPole-v1"),
        episodes=2,
        seed=3,
    )
    assert_same(expert.demos, Demonstrations.load(out))
    assert main(["dataset", "list"]) == 0
    listing = capsys.readouterr().out
    assert "cli/cartpole-v0" in listing and "CartPole-v1" in listing
    # a .npz without the final observations: one line, advice in flags
    assert main(["dataset", "export", "--data", str(out), "--id", "cli/again-v0"]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "hint: export straight from the expert (--env ID), or add a next_observations "
            "column to the .npz"
        )
    )
    with_next = tmp_path / "next.npz"
    assert (
        main(
            ["dataset", "import", "cli/cartpole-v0", "--out", str(with_next), "--next-observations"]
        )
        == 0
    )
    assert (
        main(
            [
                "dataset",
                "export",
                "--data",
                str(with_next),
                "--id",
                "cli/again-v0",
                "--data-env",
                "CartPole-v1",
            ]
        )
        == 0
    )
    assert_same(from_minari("cli/again-v0"), Demonstrations.load(out))
