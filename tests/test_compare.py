"""``shapesafe compare`` on a tiny budget: the table, results.json, plots, the diffusion
inference-steps sweep, and one-line failures for bad flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shapesafe.bc.tasks import ObstacleEnv, ObstacleExpert
from shapesafe.cli import _compare_plots, main
from shapesafe.cli.compare import TASKS, Recipe, compare, markdown, train


@pytest.fixture
def small_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fewer sampled actions and trajectories per panel: the same code, a CI budget."""
    monkeypatch.setattr(_compare_plots, "SAMPLES", 20)
    monkeypatch.setattr(_compare_plots, "TRAJECTORIES", 3)


@pytest.mark.usefixtures("small_plots")
def test_compare_smoke_writes_the_table_results_and_plots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp"
    code = main(
        ["compare", "--task", "obstacle", "--steps", "50", "--episodes", "5",
         "--eval-episodes", "5", "--kinds", "gaussian,deterministic", "--out", str(out)]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    lines = captured.out.splitlines()
    assert any(line.split()[:1] == ["gaussian"] for line in lines)
    assert any(line.split()[:1] == ["deterministic"] for line in lines)
    assert "[2/2] deterministic: training 50 steps" in captured.err  # progress
    results = json.loads((out / "results.json").read_text())
    kinds = [r["kind"] for r in results["rows"]]
    assert kinds == ["expert", "gaussian", "deterministic"]
    expert = results["rows"][0]
    assert expert["sampled"]["success_rate"] == 1.0  # the scripted expert always succeeds
    for row in results["rows"][1:]:
        assert row["parameters"] > 0 and row["train_seconds"] > 0 and row["ms_per_action"] > 0
        assert row["options"]["steps"] == 50
        assert 0.0 <= row["sampled"]["success_rate"] <= 1.0
    assert (out / "table.md").read_text().count("\n") == 2 + 3
    for name in ("obstacle-actions.png", "obstacle-trajectories.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.usefixtures("small_plots")
def test_hidden_velocity_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["compare", "--task", "hidden-velocity", "--steps", "20", "--episodes", "3",
         "--eval-episodes", "3", "--kinds", "gru", "--out", str(tmp_path), "--quiet"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""  # --quiet
    assert (tmp_path / "hidden-velocity-distance.png").exists()


def test_the_expert_row_matches_a_direct_evaluation() -> None:
    rows, policies, demos = compare(
        TASKS["obstacle"], ["gaussian"], episodes=3, eval_episodes=4, steps=5, seed=2
    )
    from shapesafe.bc import evaluate_in_env
    from shapesafe.cli.compare import EVAL_SEED_OFFSET

    direct = evaluate_in_env(ObstacleExpert(seed=0), ObstacleEnv(), 4, EVAL_SEED_OFFSET + 2)
    assert rows[0].sampled.mean_return == pytest.approx(direct.mean_return)
    assert set(policies) == {"gaussian"}
    assert demos.episode_ids is not None and int(demos.episode_ids.max()) == 2  # 3 episodes
    table = markdown(rows)
    assert table.splitlines()[0].startswith("| kind | success (sampled)")


@pytest.mark.values
def test_a_finetune_recipe_is_a_second_fit_at_the_lower_rate() -> None:
    import torch

    from shapesafe.bc import DeterministicPolicy, fit
    from shapesafe.bc.tasks import obstacle_demonstrations

    demos = obstacle_demonstrations(3, seed=0)
    recipe = Recipe({"hidden": (8,)}, steps=6, lr=1e-2, batch_size=16, finetune=(4, 1e-3))
    policy, seconds = train("deterministic", recipe, demos, seed=3)
    assert seconds > 0
    # The reference: the same two fits by hand (seeds 3 and 4, a fresh Adam each).
    torch.manual_seed(3)
    ref = DeterministicPolicy(obs_dim=2, act_dim=2, hidden=(8,))
    fit(ref, demos, steps=6, batch_size=16, lr=1e-2, seed=3, progress=False)
    fit(ref, demos, steps=4, batch_size=16, lr=1e-3, seed=4, progress=False)
    for got, want in zip(policy.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    # --steps overrides the recipe: one fit, no finetune.
    quick, _ = train("deterministic", recipe, demos, seed=3, steps=6)
    torch.manual_seed(3)
    once = DeterministicPolicy(obs_dim=2, act_dim=2, hidden=(8,))
    fit(once, demos, steps=6, batch_size=16, lr=1e-2, seed=3, progress=False)
    for got, want in zip(quick.parameters(), once.parameters(), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_diffusion_sweep_rows_and_default_restored() -> None:
    rows, policies, _ = compare(
        TASKS["obstacle"],
        ["diffusion"],
        episodes=2,
        eval_episodes=2,
        steps=5,
        diffusion_steps=[5, 1, 10_000],  # 10_000 > train_steps: skipped
    )
    assert [r.kind for r in rows] == [
        "expert",
        "diffusion",
        "diffusion (5 steps)",
        "diffusion (1 steps)",
    ]
    default = rows[1]
    assert policies["diffusion"].inference_steps == 10  # type: ignore[attr-defined]
    assert rows[2].options == {"inference_steps": 5}
    assert rows[2].mode is None and rows[1].mode is not None  # the sweep samples only
    assert default.ms_per_action is not None and rows[3].ms_per_action is not None


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--kinds", "gaussian,nope"], "unknown policy kind 'nope'"),
        (["--kinds", ","], "--kinds is empty"),
        (["--diffusion-steps", "10,x"], "--diffusion-steps expects comma-separated integers"),
        (["--diffusion-steps", "0"], "--diffusion-steps expects positive integers"),
    ],
)
def test_bad_flags_fail_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], fragment: str
) -> None:
    code = main(["compare", "--out", str(tmp_path), *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err
    assert err.startswith("shapesafe compare: error:") and err.count("\n") == 1


def test_unknown_task_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--task", "cartpole"]) == 2
    assert "invalid choice: 'cartpole'" in capsys.readouterr().err
