"""``shapesafe dagger`` end to end on a tiny budget, resume, and bad arguments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shapesafe.bc import load_policy
from shapesafe.cli import main

TINY = [
    "--env", "Pendulum-v1", "--episodes-per-iteration", "1", "--demos", "1", "--demo-steps", "50",
    "--steps", "10", "--eval-episodes", "1", "--no-progress",
]  # fmt: skip


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["dagger", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("shapesafe dagger: error: "), err
    return lines[0]


def test_dagger_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "run"
    code, out, err = _run([*TINY, "--iterations", "1", "--out", str(out_dir)], capsys)
    assert code == 0, err
    assert "on Pendulum-v1; expert return -" in out
    rows = [ln.split() for ln in out.splitlines() if ln.strip()[:1].isdigit()]
    assert [r[0] for r in rows] == ["0", "1"]  # one row per iteration, as they finish
    records = json.loads((out_dir / "records.json").read_text())
    assert records["env"] == "Pendulum-v1" and records["expert_return"] < 0
    got = records["records"]
    assert [r["iteration"] for r in got] == [0, 1]
    assert [r["beta"] for r in got] == [1.0, 1.0]
    assert [int(r[2]) for r in rows] == [r["expert_labels"] for r in got]
    assert got[0]["expert_labels"] == 50 and got[1]["expert_labels"] == 250  # + one episode
    policy = load_policy(out_dir / "dagger.pt")
    assert policy.kind == "deterministic"

    # a second run in the same folder needs --resume (or --overwrite)
    code, _, err = _run([*TINY, "--iterations", "1", "--out", str(out_dir)], capsys)
    assert code == 2 and "--resume" in _one_line_error(err)
    code, out, err = _run([*TINY, "--iterations", "2", "--out", str(out_dir), "--resume"], capsys)
    assert code == 0, err
    assert "resumed after iteration 1" in out
    records = json.loads((out_dir / "records.json").read_text())["records"]
    assert [r["beta"] for r in records] == [1.0, 1.0, 0.5]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--env", "NoSuchEnv-v0"], "no expert is registered for --env 'NoSuchEnv-v0'"),
        (["--env", "CartPole-v1", "--beta", "2"], "`beta` must be a probability"),
        (["--env", "CartPole-v1", "--beta", "cosine"], "unknown beta schedule 'cosine'"),
        (["--env", "CartPole-v1", "--policy", "nope"], "unknown --policy 'nope'"),
        (["--env", "CartPole-v1", "--option", "width=3"], "--option width=... does not apply"),
        (["--env", "CartPole-v1", "--demos", "-1"], "--demos must be 0 or more"),
        (["--env", "CartPole-v1", "--option", "x"], "--option expects KEY=VALUE"),
        (["--env", "CartPole-v1", "--demo-steps", "5"], "--demo-steps needs --demos"),
    ],
)
def test_bad_arguments_give_one_line(
    argv: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run([*argv, "--iterations", "1", "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert fragment in _one_line_error(err)


def test_resume_with_other_settings_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = str(tmp_path / "run")
    tiny = [*TINY, "--iterations", "1", "--out", out_dir]
    assert _run(tiny, capsys)[0] == 0
    code, _, err = _run([*tiny, "--resume", "--seed", "3"], capsys)
    assert code == 2
    assert "its settings differ" in _one_line_error(err)
