from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shapesafe import save_checkpoint
from shapesafe.bc import GaussianPolicy, cubic_demonstrations
from shapesafe.cli import main


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str, command: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"shapesafe {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return cubic_demonstrations(200, seed=0).save(tmp_path / "demos.npz")


# ---------------------------------------------------------------- help


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["--help"], capsys)
    assert code == 0
    for command in ("demo", "train", "evaluate"):
        assert f"shapesafe {command}" in out
    code, out, _ = _run(["train", "--help"], capsys)
    assert code == 0 and "--data" in out and "(default: 64)" in out and "example:" in out


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run([], capsys)
    assert code == 2 and "usage: shapesafe" in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["train"], capsys)
    assert code == 2 and "the following arguments are required: --data" in err
    code, _, err = _run(["train", "--data", "x.npz", "--hidden", "64,-1"], capsys)
    assert code == 2 and "layer sizes must be positive integers" in err
    code, _, err = _run(["train", "--data", "x.npz", "--epochs", "3", "--steps", "4"], capsys)
    assert code == 2 and "not allowed with argument" in err


# ---------------------------------------------------------------- demo


def test_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "out"
    argv = ["demo", "--out", str(out_dir), "--epochs", "3", "--samples", "200", "--no-progress"]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    assert "true (expert)         0.316     0.224" in out
    assert "learned (policy)" in out and "NLL per step" in out and "mean error" in out
    for name in ("loss.png", "actions.png", "last.pt", "demos.npz"):
        assert (out_dir / name).exists(), name
    assert (out_dir / "actions.png").read_bytes()[:4] == b"\x89PNG"
    assert f"shapesafe train --data {out_dir / 'demos.npz'}" in out


def test_demo_refuses_a_file_as_output_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = _run(["demo", "--out", str(blocker), "--epochs", "1"], capsys)
    assert code == 2
    assert "exists and is not a folder" in _one_line_error(err, "demo")


# ---------------------------------------------------------------- train + evaluate


def test_train_then_evaluate_then_resume(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "run"
    argv = ["train", "--data", str(data), "--out", str(out_dir), "--steps", "20",
            "--hidden", "16,16", "--no-progress"]  # fmt: skip
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    assert "trained 20 steps" in out and "validation loss" in out and "learned std" in out
    assert (out_dir / "last.pt").exists() and (out_dir / "losses.png").exists()

    code, out, err = _run(["evaluate", "--checkpoint", str(out_dir / "last.pt"),
                           "--data", str(data)], capsys)  # fmt: skip
    assert code == 0, err
    assert "loss (NLL)" in out and "mean error (RMS)" in out

    code, out, err = _run([*argv[:6], "30", *argv[7:], "--resume"], capsys)
    assert code == 0, err
    assert "trained 30 steps" in out and "resumed from step 20" in out


def test_train_deterministic_without_checks(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "d"), "--policy",
            "deterministic", "--epochs", "2", "--no-checks", "--no-progress",
            "--val-fraction", "0"]  # fmt: skip
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    assert "validation loss" not in out
    code, out, _ = _run(["evaluate", "--checkpoint", str(tmp_path / "d" / "last.pt"),
                         "--data", str(data)], capsys)  # fmt: skip
    assert code == 0 and "loss (MSE)" in out


# ---------------------------------------------------------------- bad input: one line, exit 2


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    text = tmp_path / "text.npz"
    text.write_text("hello")
    noact = tmp_path / "noact.npz"
    np.savez(noact, observations=np.zeros((10, 2)))
    ragged = tmp_path / "ragged.npz"
    np.savez(ragged, observations=np.zeros((10, 2)), actions=np.zeros((9, 2)))
    images = tmp_path / "images.npz"
    np.savez(images, observations=np.zeros((10, 4, 4)), actions=np.zeros((10, 2)))
    discrete = tmp_path / "discrete.npz"
    np.savez(discrete, observations=np.zeros((10, 2)), actions=np.zeros(10, dtype=np.int64))
    nans = tmp_path / "nans.npz"
    np.savez(nans, observations=np.full((10, 2), np.nan), actions=np.zeros((10, 2)))
    strings = tmp_path / "strings.npz"
    np.savez(strings, observations=np.zeros((10, 2)), actions=np.zeros((10, 2)), tag=["a"] * 10)
    objects = tmp_path / "objects.npz"
    np.savez(objects, observations=np.zeros((10, 2)), actions=np.array([{}] * 10, dtype=object))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(ragged.read_bytes()[:100])
    single = tmp_path / "single.npy"
    np.save(single, np.zeros((10, 2)))
    return {
        "strings": (strings, r"`tag` must hold numbers, got numpy dtype <U1"),
        "objects": (objects, r"is not a readable .npz file \(array 'actions' holds Python objects"),
        "truncated": (truncated, r"is not a readable .npz file"),
        "npy": (single, r"is not a readable .npz file \(a single .npy array\)"),
        "folder": (tmp_path, r"is a directory, not a .npz file"),
        "missing": (tmp_path / "missing.npz", r"no such file: '.*missing.npz'"),
        "text": (text, r"is not a readable .npz file"),
        "no actions": (noact, r"has no actions array .*found: observations\)"),
        "unequal rows": (ragged, r"`actions` axis 0 \(N\): expected 10 rows"),
        "not flat": (images, r"GaussianPolicy takes flat observations \(obs,\), got \(4, 4\)"),
        "discrete": (discrete, r"GaussianPolicy predicts continuous actions \(act,\), got \(\)"),
        "nan": (nans, r"non-finite values"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "text",
        "no actions",
        "unequal rows",
        "not flat",
        "discrete",
        "nan",
        "strings",
        "objects",
        "truncated",
        "npy",
        "folder",
    ],
)
def test_train_bad_data_is_one_line_exit_2(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, pattern = _bad_files(tmp_path)[case]
    code, _, err = _run(["train", "--data", str(path), "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    line = _one_line_error(err, "train")
    assert re.search(pattern, line), line


def test_evaluate_bad_input_is_one_line_exit_2(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(["evaluate", "--checkpoint", str(tmp_path / "no.pt"), "--data",
                         str(data)], capsys)  # fmt: skip
    assert code == 2 and "no such checkpoint" in _one_line_error(err, "evaluate")

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00not a checkpoint")
    code, _, err = _run(["evaluate", "--checkpoint", str(junk), "--data", str(data)], capsys)
    assert code == 2 and "junk.pt" in _one_line_error(err, "evaluate")

    # a policy for 2-d observations scored on 3-d ones
    out_dir = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(out_dir), "--steps", "2",
                 "--no-progress"]) == 0  # fmt: skip
    wide = tmp_path / "wide.npz"
    np.savez(wide, observations=np.zeros((10, 3)), actions=np.zeros((10, 2)))
    capsys.readouterr()
    code, _, err = _run(["evaluate", "--checkpoint", str(out_dir / "last.pt"), "--data",
                         str(wide)], capsys)  # fmt: skip
    line = _one_line_error(err, "evaluate")
    assert code == 2 and "observations have shape (N, 3) but GaussianPolicy expects" in line
    assert line.startswith("shapesafe evaluate: error: evaluate(): argument `demos`"), line
    # issue 11: command-line advice, not Python advice ("build the policy with obs_dim=3")
    assert "obs_dim" not in line
    assert "; hint: evaluate the checkpoint on data shaped like the data it was trained on" in line


def test_evaluate_checkpoints_that_do_not_describe_a_policy(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = GaussianPolicy(2, 2, hidden=(8,))
    cases = {
        "bare": (None, r"holds no policy description.*hint: use a checkpoint written by"),
        "sizes": ({**policy.config, "hidden": [16]}, r"does not fit GaussianPolicy"),
        "kind": ({**policy.config, "kind": "mystery"}, r"unknown policy kind 'mystery'"),
    }
    for name, (config, pattern) in cases.items():
        path = tmp_path / f"{name}.pt"
        if config is None:
            save_checkpoint(path, policy)
        else:
            save_checkpoint(path, policy, policy_config=config)
        code, _, err = _run(["evaluate", "--checkpoint", str(path), "--data", str(data)], capsys)
        assert code == 2, name
        assert re.search(pattern, _one_line_error(err, "evaluate")), (name, err)


def test_resume_with_other_settings_is_one_line_exit_2(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = str(tmp_path / "run")
    base = ["train", "--data", str(data), "--out", out_dir, "--steps", "4", "--no-progress"]
    assert main(base) == 0
    code, _, err = _run([*base, "--resume", "--batch-size", "32"], capsys)
    assert code == 2 and "the run differs" in _one_line_error(err, "train")


def test_console_entry_point_in_a_subprocess(tmp_path: Path) -> None:
    """The real process: exit status 2 and one line on stderr, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "shapesafe.cli", "train", "--data", str(tmp_path / "x.npz")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"shapesafe train: error: Demonstrations.load(): argument `path`: no such file: "
        f"'{tmp_path / 'x.npz'}'"
    ]
    assert proc.stdout == ""


def test_demo_without_matplotlib_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else real(name, *a),
    )
    code, _, err = _run(["demo", "--out", str(tmp_path / "o"), "--epochs", "1"], capsys)
    assert code == 2
    assert re.search(
        r"needs matplotlib.*pip install 'shapesafe\[bc\]'", _one_line_error(err, "demo")
    )


# ---------------------------------------------------------------- evaluate --env


@pytest.fixture
def env_checkpoint(tmp_path: Path) -> Path:
    import torch

    from shapesafe.bc import DeterministicPolicy

    torch.manual_seed(0)
    policy = DeterministicPolicy(obs_dim=2, act_dim=2, hidden=(8,))
    return save_checkpoint(tmp_path / "p.pt", policy, policy_config=policy.config)


def test_evaluate_in_an_env_prints_the_interval_and_saves_provenance(
    env_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import hashlib

    import gymnasium as gym

    from shapesafe.bc import evaluate_in_env, load_evaluation, load_policy

    saved = tmp_path / "eval.json"
    argv = ["evaluate", "--checkpoint", str(env_checkpoint), "--env", "shapesafe/Obstacle-v0"]
    argv += ["--episodes", "5", "--seed", "3", "--num-envs", "2", "--deterministic"]
    code, out, err = _run([*argv, "--save", str(saved), "--no-progress"], capsys)
    assert code == 0, err
    assert "in shapesafe/Obstacle-v0 (5 episodes from seed 3, 2 sub-envs" in out
    assert "95% CI of the mean" in out and f"wrote {saved}" in out
    ev = load_evaluation(saved)
    assert ev.seeds.tolist() == [3, 4, 5, 6, 7]
    assert (
        ev.provenance["checkpoint"]["sha256"]
        == hashlib.sha256(env_checkpoint.read_bytes()).hexdigest()
    )
    assert ev.provenance["env"]["num_envs"] == 2
    direct = evaluate_in_env(
        load_policy(env_checkpoint), gym.make("shapesafe/Obstacle-v0"), 5, 3, deterministic=True
    )
    np.testing.assert_array_equal(ev.lengths, direct.lengths)
    np.testing.assert_allclose(ev.returns, direct.returns, rtol=1e-5)  # batch rounding only


def test_evaluate_env_errors_are_one_line_exit_2(
    env_checkpoint: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = str(env_checkpoint)
    code, _, err = _run(["evaluate", "--checkpoint", ckpt, "--env", "NoSuchEnv-v9"], capsys)
    assert code == 2 and "--env 'NoSuchEnv-v9'" in _one_line_error(err, "evaluate")
    code, _, err = _run(
        ["evaluate", "--checkpoint", ckpt, "--data", str(data), "--save", "x"], capsys
    )
    assert code == 2 and "--save only apply with --env" in _one_line_error(err, "evaluate")
    code, _, err = _run(["evaluate", "--checkpoint", ckpt, "--env", "CartPole-v1"], capsys)
    line = _one_line_error(err, "evaluate")
    assert code == 2 and "observations do not fit DeterministicPolicy" in line, line
    code, _, err = _run(["evaluate", "--checkpoint", ckpt], capsys)
    assert code == 2 and "one of the arguments --data --env is required" in err
