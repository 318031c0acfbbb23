"""Saved evaluations: the JSON round trip, what the provenance records, distinct seeds,
and clear refusals of files that are not saved evaluations."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import SyncVectorEnv
from hypothesis import given, settings
from hypothesis import strategies as st

import shapesafe.bc.tasks  # noqa: F401  (registers shapesafe/Obstacle-v0)
from shapesafe import DataError, UsageError, save_checkpoint
from shapesafe.bc import (
    DeterministicPolicy,
    EnvEvaluation,
    evaluate_in_env,
    load_evaluation,
    load_policy,
)
from shapesafe.bc.tasks import ObstacleEnv, ObstacleExpert

SUMMARY = (
    "episodes",
    "success_rate",
    "success_ci95",
    "mean_return",
    "std_return",
    "return_ci95",
    "mean_length",
    "seconds_per_action",
)


def _cartpole_controller(obs: Any) -> np.ndarray:
    obs = np.asarray(obs)
    return (obs[..., 2] + 0.1 * obs[..., 1] > 0).astype(np.int64)


def test_round_trip_keeps_every_number_and_the_provenance(tmp_path: Path) -> None:
    torch.manual_seed(0)
    policy = DeterministicPolicy(obs_dim=2, act_dim=2, hidden=(8,))
    ckpt = save_checkpoint(tmp_path / "p.pt", policy, policy_config=policy.config)
    env = gym.make("shapesafe/Obstacle-v0")
    path = tmp_path / "out" / "eval.json"  # missing folders are created
    ev = evaluate_in_env(load_policy(ckpt), env, 7, seed=40, checkpoint=ckpt, save_to=path)
    back = load_evaluation(path)
    assert isinstance(back, EnvEvaluation) and back.rollouts is None
    for name in SUMMARY:
        assert getattr(back, name) == getattr(ev, name), name
    for name in ("returns", "lengths", "successes", "seeds"):
        got, want = getattr(back, name), getattr(ev, name)
        assert got.dtype == want.dtype and np.array_equal(got, want), name
    assert back.provenance == json.loads(json.dumps(dict(ev.provenance))) | {
        "episodes": back.provenance["episodes"]
    }
    assert str(back) == str(ev)
    # saving the loaded one writes the same file
    again = back.save(tmp_path / "again.json")
    assert json.loads(again.read_text()) == json.loads(path.read_text())


def test_provenance_names_policy_checkpoint_env_and_versions(tmp_path: Path) -> None:
    torch.manual_seed(0)
    policy = DeterministicPolicy(obs_dim=2, act_dim=2, hidden=(8,))
    ckpt = save_checkpoint(tmp_path / "p.pt", policy, policy_config=policy.config)
    env = gym.make("shapesafe/Obstacle-v0", max_steps=30)
    ev = evaluate_in_env(policy, env, 3, seed=5, deterministic=True, checkpoint=ckpt)
    doc = json.loads(ev.save(tmp_path / "e.json").read_text())
    assert doc["format"] == "shapesafe-evaluation" and doc["version"] == 1
    assert doc["policy"]["kind"] == "deterministic"
    assert doc["policy"]["config"] == json.loads(json.dumps(policy.get_config()))
    assert doc["checkpoint"] == {
        "path": str(ckpt),
        "sha256": hashlib.sha256(Path(ckpt).read_bytes()).hexdigest(),
    }
    assert doc["env"]["id"] == "shapesafe/Obstacle-v0"
    assert doc["env"]["kwargs"] == {"max_steps": 30}
    assert doc["evaluation"] | {"seconds": 0} == {
        "episodes": 3,
        "seed": 5,
        "deterministic": True,
        "reports_success": True,
        "seconds": 0,
    }
    versions = doc["versions"]
    assert versions["torch"] == torch.__version__ and versions["numpy"] == np.__version__
    assert versions["gymnasium"] == gym.__version__ and versions["shapesafe"]
    assert doc["date"].endswith("+00:00")
    assert doc["episodes"]["seeds"] == [5, 6, 7]
    assert doc["evaluation"]["reports_success"] is True
    assert all(n <= 30 for n in doc["episodes"]["lengths"])
    assert str(ev).startswith("success ")


def test_an_env_without_is_success_has_no_success_rate_to_show(tmp_path: Path) -> None:
    ev = evaluate_in_env(_cartpole_controller, gym.make("CartPole-v1"), 3)
    assert not ev.reports_success and str(ev).startswith("return ")
    assert not load_evaluation(ev.save(tmp_path / "e.json")).reports_success


def test_an_expert_is_described_by_its_class() -> None:
    ev = evaluate_in_env(ObstacleExpert(seed=0), ObstacleEnv(), 2)
    assert ev.provenance["policy"] == {
        "kind": None,
        "class": "shapesafe.bc.tasks.obstacle.ObstacleExpert",
    }
    assert ev.provenance["env"]["id"] is None  # built directly, not through gym.make
    assert ev.provenance["env"]["class"] == "shapesafe.bc.tasks.obstacle.ObstacleEnv"
    assert ev.provenance["checkpoint"] is None


@settings(max_examples=20)
@given(episodes=st.integers(1, 12), seed=st.integers(0, 2**20), n=st.integers(1, 3))
def test_saved_seeds_are_distinct_and_name_distinct_initial_states(
    tmp_path_factory: pytest.TempPathFactory, episodes: int, seed: int, n: int
) -> None:
    env = SyncVectorEnv([lambda: gym.make("CartPole-v1")] * n) if n > 1 else gym.make("CartPole-v1")
    path = tmp_path_factory.mktemp("ev") / "e.json"
    ev = evaluate_in_env(_cartpole_controller, env, episodes, seed, save_to=path)
    seeds = load_evaluation(path).seeds
    np.testing.assert_array_equal(seeds, np.arange(seed, seed + episodes))
    assert len(set(seeds.tolist())) == episodes  # no cap by the number of sub-envs
    assert ev.rollouts is not None and ev.rollouts.demos.episode_ids is not None
    starts = np.cumsum(ev.lengths) - ev.lengths
    firsts = ev.rollouts.demos.observations.numpy()[starts]
    assert len({f.tobytes() for f in firsts}) == episodes  # distinct initial states
    for s, first in zip(seeds, firsts):
        np.testing.assert_array_equal(first, gym.make("CartPole-v1").reset(seed=int(s))[0])


@pytest.mark.values
def test_the_saved_summary_is_what_the_saved_episodes_give(tmp_path: Path) -> None:
    torch.manual_seed(3)
    policy = DeterministicPolicy(obs_dim=2, act_dim=2, hidden=(8,))
    path = tmp_path / "e.json"
    evaluate_in_env(policy, ObstacleEnv(), 12, seed=0, save_to=path)
    doc = json.loads(path.read_text())
    returns = np.array(doc["episodes"]["returns"])
    summary = doc["summary"]
    assert summary["mean_return"] == pytest.approx(returns.mean(), rel=1e-12)
    assert summary["std_return"] == pytest.approx(returns.std(ddof=1), rel=1e-12)
    half = 1.959963984540054 * returns.std(ddof=1) / np.sqrt(12)
    assert summary["return_ci95"] == pytest.approx([returns.mean() - half, returns.mean() + half])
    assert summary["success_rate"] == np.mean(doc["episodes"]["successes"])
    assert summary["mean_length"] == np.mean(doc["episodes"]["lengths"])


# ------------------------------------------------------------------ refusals


def test_files_that_are_not_saved_evaluations_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        load_evaluation(tmp_path / "missing.json")
    assert (info.value.function, info.value.argument) == ("load_evaluation", "path")
    assert "no such file" in str(info.value)

    cases = {
        "not json": ("{oops", "it is not JSON"),
        "other json": ('{"a": 1}', "it has no \"format\": 'shapesafe-evaluation' entry"),
        "newer": ('{"format": "shapesafe-evaluation", "version": 2}', "format version 2"),
        "no summary": (
            '{"format": "shapesafe-evaluation", "version": 1, "summary": {"episodes": 3}}',
            "its summary lacks success_rate",
        ),
    }
    for name, (text, fragment) in cases.items():
        p = tmp_path / f"{name}.json"
        p.write_text(text)
        with pytest.raises(DataError) as dinfo:
            load_evaluation(p)
        err = dinfo.value
        assert (err.function, err.argument) == ("load_evaluation", "path"), name
        assert fragment in str(err), (name, str(err))
        assert "evaluate_in_env(..., save_to=path)" in str(err.hint)


def test_a_missing_checkpoint_is_refused_before_any_episode(tmp_path: Path) -> None:
    calls: list[int] = []

    def expert(obs: Any) -> Any:
        calls.append(1)
        return ObstacleExpert()(obs)

    with pytest.raises(UsageError) as info:
        evaluate_in_env(expert, ObstacleEnv(), 2, checkpoint=tmp_path / "gone.pt")
    err = info.value
    assert (err.function, err.argument) == ("evaluate_in_env", "checkpoint")
    assert "no such checkpoint file" in str(err) and calls == []
