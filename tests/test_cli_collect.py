"""``shapesafe collect``: demonstrations from an expert, saved and reported; one-line errors."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from shapesafe import save_checkpoint
from shapesafe.bc import CategoricalPolicy, Demonstrations, rollout
from shapesafe.bc.experts import make_expert
from shapesafe.cli import main


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("shapesafe collect: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.values
def test_collect_saves_the_experts_episodes_and_prints_the_return(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cartpole.npz"
    code, text, err = _run(
        ["collect", "--env", "CartPole-v1", "--episodes", "2", "--seed", "3", "--out", str(out)],
        capsys,
    )
    assert code == 0, err
    demos = Demonstrations.load(out)
    # the same steps as rollout() with the registered expert
    ref = rollout(make_expert("CartPole-v1"), gym.make("CartPole-v1"), episodes=2, seed=3)
    np.testing.assert_array_equal(demos.observations, ref.demos.observations)
    np.testing.assert_array_equal(demos.actions, ref.demos.actions)
    np.testing.assert_array_equal(demos.episode_ids, ref.demos.episode_ids)
    assert demos.actions.dtype == torch.int64 and len(demos) == 1000
    np.testing.assert_array_equal(np.asarray(demos.extras["rewards"]), np.ones(1000))
    assert "CartPoleExpert on CartPole-v1, 2 episodes (seeds 3-4), 1000 steps" in text
    assert "500.0 ± 0.0" in text
    assert f"saved {out}" in text


@pytest.mark.values
def test_a_vector_env_collects_the_same_episodes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = []
    for k in ("1", "3"):
        path = tmp_path / f"p{k}.npz"
        argv = ["collect", "--env", "Pendulum-v1", "--episodes", "3", "--num-envs", k]
        code, _, err = _run([*argv, "--out", str(path)], capsys)
        assert code == 0, err
        paths.append(path)
    one, three = (Demonstrations.load(p) for p in paths)
    np.testing.assert_array_equal(one.observations, three.observations)
    np.testing.assert_array_equal(one.actions, three.actions)


def test_your_own_expert_from_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = tmp_path / "my_experts.py"
    module.write_text(
        "import numpy as np\n"
        "def push_right(obs):\n"
        "    return np.int64(1)\n"
        "class Lean:\n"
        "    def __call__(self, obs):\n"
        "        return np.int64(obs[2] > 0)\n"
    )
    out = tmp_path / "d.npz"
    base = ["collect", "--env", "CartPole-v1", "--episodes", "2", "--out", str(out)]
    code, text, err = _run([*base, "--expert", f"{module}:push_right"], capsys)
    assert code == 0, err
    assert "push_right on CartPole-v1" in text
    assert set(np.asarray(Demonstrations.load(out).actions).tolist()) == {1}
    # a class is built with no arguments; --overwrite replaces the file
    code, text, err = _run([*base, "--expert", f"{module}:Lean", "--overwrite"], capsys)
    assert code == 0, err
    assert "Lean on CartPole-v1" in text


def test_a_trained_policy_as_the_expert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    policy = CategoricalPolicy(obs_dim=4, n_actions=2, hidden=(8,))
    checkpoint = save_checkpoint(tmp_path / "policy.pt", policy, policy_config=policy.config)
    out = tmp_path / "d.npz"
    argv = ["collect", "--env", "CartPole-v1", "--episodes", "1", "--out", str(out)]
    code, text, err = _run([*argv, "--expert", str(checkpoint)], capsys)
    assert code == 0, err
    assert f"CategoricalPolicy from {checkpoint} on CartPole-v1" in text
    demos = Demonstrations.load(out)
    # the policy's most likely action at every step
    with torch.no_grad():
        np.testing.assert_array_equal(
            np.asarray(demos.actions), np.asarray(policy.predict(demos.observations))
        )
    # a policy for the wrong env is refused before the first step
    code, _, err = _run(
        [
            "collect",
            "--env",
            "Pendulum-v1",
            "--expert",
            str(checkpoint),
            "--out",
            str(tmp_path / "p.npz"),
        ],
        capsys,
    )
    assert code == 2 and "do not fit CategoricalPolicy" in _one_line_error(err)
    code, _, err = _run([*argv, "--expert", "missing.pt", "--overwrite"], capsys)
    assert code == 2 and "'missing.pt': no such checkpoint file" in _one_line_error(err)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--env", "Nope-v1"], "--env 'Nope-v1': Environment `Nope` doesn't exist"),
        (
            ["--env", "MountainCar-v0"],
            "no expert is registered for 'MountainCar-v0' (registered: CartPole-v1, ",
        ),
        (["--env", "CartPole-v1", "--expert", "nocolon"], "expected MODULE:NAME"),
        (["--env", "CartPole-v1", "--expert", "no_such_module_xyz:f"], "No module named"),
        (["--env", "CartPole-v1", "--expert", "shapesafe.bc.experts:Nope"], "has no 'Nope'"),
        (["--env", "CartPole-v1", "--expert", "shapesafe:__version__"], "is not callable"),
        (
            ["--env", "Pendulum-v1", "--expert", "shapesafe.bc.experts:CartPoleExpert"],
            "the env's observations do not fit CartPoleExpert",
        ),
        (["--env", "CartPole-v1", "--seed", "-1"], "--seed must be 0 or more"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(
    argv: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(["collect", *argv, "--out", str(tmp_path / "d.npz")], capsys)
    assert code == 2
    assert fragment in _one_line_error(err)
    assert not (tmp_path / "d.npz").exists()


def test_an_existing_file_is_kept_without_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "d.npz"
    out.write_bytes(b"keep me")
    code, _, err = _run(["collect", "--env", "CartPole-v1", "--out", str(out)], capsys)
    assert code == 2 and "exists; pass --overwrite" in _one_line_error(err)
    assert out.read_bytes() == b"keep me"
    code, _, err = _run(
        ["collect", "--env", "CartPole-v1", "--out", str(tmp_path / "no" / "d.npz")], capsys
    )
    assert code == 2 and "no such folder" in _one_line_error(err)


def test_help_names_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["--help"], capsys)
    assert code == 0 and "shapesafe collect --env CartPole-v1" in out
    code, out, _ = _run(["collect", "--help"], capsys)
    assert code == 0 and "--expert MODULE:NAME" in out and "(default: 10)" in out
