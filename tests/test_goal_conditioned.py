"""Goal-conditioned flat policies (``goal_dim=G``): shapes over drawn dims, each family
equal to the same family on ``cat(obs, goal)`` (the reference), checkpoint and command
line round trips, a seeded learning test, and bad input (missing goals, goals of the
wrong width, goals for a policy without them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from shapesafe.bc import (
    ActSpec,
    AutoregressivePolicy,
    Batch,
    CategoricalPolicy,
    CVAEPolicy,
    Demonstrations,
    DeterministicPolicy,
    DiffusionPolicy,
    GaussianPolicy,
    MixturePolicy,
    ObsSpec,
    build_policy,
    fit,
    load_policy,
)
from shapesafe.bc.policies.mlp import FlatPolicy
from shapesafe.cli import main
from shapesafe.errors import ShapeError, UsageError

dims = st.integers(1, 4)

# small and fast versions of every flat family (diffusion: a short chain)
FAMILIES: dict[str, tuple[type[FlatPolicy], dict[str, Any]]] = {
    "gaussian": (GaussianPolicy, {}),
    "gaussian-sd": (GaussianPolicy, {"state_dependent_std": True}),
    "deterministic": (DeterministicPolicy, {}),
    "mixture": (MixturePolicy, {"components": 2}),
    "diffusion": (DiffusionPolicy, {"train_steps": 8, "inference_steps": 2, "candidates": 3}),
    "cvae": (CVAEPolicy, {"latent_dim": 2, "candidates": 4}),
    "autoregressive": (AutoregressivePolicy, {"bins": 4, "low": -1.0, "high": 1.0}),
}


def _build(name: str, obs: int, act: int, goal: int, seed: int = 0) -> FlatPolicy:
    cls, options = FAMILIES[name]
    torch.manual_seed(seed)
    return cls(obs, act, hidden=(8,), goal_dim=goal, **options)


def _reaching(n: int = 512, seed: int = 0) -> Demonstrations:
    """Actions that head for the goal: a = clip(goal - obs), learnable only from both."""
    g = torch.Generator().manual_seed(seed)
    obs = torch.rand(n, 2, generator=g) * 2 - 1
    goals = torch.rand(n, 2, generator=g) * 2 - 1
    return Demonstrations(obs, (goals - obs).clamp(-1, 1), goals=goals)


# ---------------------------------------------------------------- shapes


@settings(max_examples=12, deadline=None)
@given(
    name=st.sampled_from(sorted(FAMILIES)), batch=st.integers(1, 5), obs=dims, act=dims, goal=dims
)
def test_shapes_of_every_family(name: str, batch: int, obs: int, act: int, goal: int) -> None:
    policy = _build(name, obs, act, goal)
    assert policy.goal_spec == ObsSpec((goal,)) and policy.in_dim == obs + goal
    o, g = torch.randn(batch, obs), torch.randn(batch, goal)
    assert policy.predict(o, g).shape == (batch, act)
    assert policy.act(o.numpy(), goal=g.numpy()).shape == (batch, act)
    assert policy.act(o[0].numpy(), goal=g[0].numpy(), deterministic=True).shape == (act,)
    out = policy.loss(Batch(o, torch.randn(batch, act), goals=g))
    assert out.shape == () and torch.isfinite(out)


@pytest.mark.values
@settings(max_examples=12, deadline=None)
@given(
    name=st.sampled_from(sorted(FAMILIES)),
    batch=st.integers(1, 5),
    obs=dims,
    goal=dims,
    seed=st.integers(0, 1000),
)
def test_equals_the_same_family_on_concatenated_inputs(
    name: str, batch: int, obs: int, goal: int, seed: int
) -> None:
    """The reference: a policy with goal_dim=G is the family's policy on observations
    cat(obs, goal) -- same parameters, same predictions, same loss for the same noise."""
    conditioned = _build(name, obs, 2, goal, seed)
    cls, options = FAMILIES[name]
    plain = cls(obs + goal, 2, hidden=(8,), **options)
    plain.load_state_dict(conditioned.state_dict())
    g = torch.Generator().manual_seed(seed)
    o, gl, a = (torch.randn(batch, d, generator=g) for d in (obs, goal, 2))
    x = torch.cat([o, gl], dim=-1)
    with torch.no_grad():
        torch.testing.assert_close(conditioned.predict(o, gl), plain.predict(x))
        torch.manual_seed(seed)
        mine = conditioned.loss(Batch(o, a, goals=gl))
        torch.manual_seed(seed)
        theirs = plain.loss(Batch(x, a))
    torch.testing.assert_close(mine, theirs)


@pytest.mark.values
@settings(max_examples=10, deadline=None)
@given(batch=st.integers(1, 5), obs=dims, goal=dims, n=st.integers(2, 4), seed=st.integers(0, 99))
def test_categorical_with_goals_equals_it_on_concatenated_inputs(
    batch: int, obs: int, goal: int, n: int, seed: int
) -> None:
    torch.manual_seed(seed)
    conditioned = CategoricalPolicy(obs, n, hidden=(8,), goal_dim=goal)
    plain = CategoricalPolicy(obs + goal, n, hidden=(8,))
    plain.load_state_dict(conditioned.state_dict())
    o, g = torch.randn(batch, obs), torch.randn(batch, goal)
    x = torch.cat([o, g], dim=-1)
    mask = torch.ones(batch, n, dtype=torch.bool)
    mask[:, 0] = False  # the masked path takes the goals too
    with torch.no_grad():
        torch.testing.assert_close(conditioned.logits(o, goals=g), plain.logits(x))
        assert torch.equal(
            conditioned.predict(o, g, action_mask=mask), plain.predict(x, action_mask=mask)
        )
        a = plain.predict(x)
        torch.testing.assert_close(conditioned.loss(Batch(o, a, goals=g)), plain.loss(Batch(x, a)))
    acted = conditioned.act(o.numpy(), goal=g.numpy(), action_mask=mask.numpy())
    assert acted.shape == (batch,) and (acted != 0).all()
    assert conditioned.act(o[0].numpy(), goal=g[0].numpy(), deterministic=True).shape == ()
    with pytest.raises(ShapeError, match="no goal was given"):
        conditioned.act(o.numpy(), action_mask=mask.numpy())


def test_a_policy_without_goal_dim_ignores_the_goals_of_its_training_data() -> None:
    """A goal-blind baseline trains on the same goal-carrying data."""
    demos = _reaching(64)
    policy = GaussianPolicy(2, 2, hidden=(8,))
    result = fit(policy, demos, steps=3, batch_size=16, progress=False)
    assert result.total_steps == 3 and all(np.isfinite(result.train_loss))


def test_without_goal_dim_the_config_and_spec_are_unchanged() -> None:
    policy = GaussianPolicy(3, 2)
    assert policy.goal_spec is None and "goal_dim" not in policy.config
    assert GaussianPolicy(3, 2, goal_dim=2).config["goal_dim"] == 2


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", ["gaussian", "mixture", "diffusion", "cvae"])
def test_checkpoint_round_trip(name: str, tmp_path: Path) -> None:
    demos = _reaching(64)
    policy = _build(name, 2, 2, 2)
    fit(policy, demos, steps=5, batch_size=16, progress=False, checkpoint_dir=tmp_path)
    loaded = load_policy(tmp_path / "last.pt")
    assert type(loaded) is type(policy) and loaded.config == policy.config
    assert loaded.goal_spec == ObsSpec((2,))
    policy.eval()
    with torch.no_grad():
        obs, goals = demos.observations[:5], demos.goals[:5]  # type: ignore[index]
        torch.testing.assert_close(loaded.predict(obs, goals), policy.predict(obs, goals))
    assert build_policy(policy.config).config == policy.config


def test_from_specs_and_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = MixturePolicy.from_specs(ObsSpec((2,)), ActSpec((2,)), goal_dim=3)
    assert policy.goal_spec == ObsSpec((3,))
    data = _reaching(64).save(tmp_path / "demos.npz")
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--policy",
            "gaussian", "--steps", "3", "--hidden", "8", "--option", "goal_dim=2",
            "--no-progress"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    loaded = load_policy(tmp_path / "run" / "last.pt")
    assert isinstance(loaded, GaussianPolicy) and loaded.goal_dim == 2


# ---------------------------------------------------------------- learning


@pytest.mark.values
def test_learns_to_head_for_the_goal() -> None:
    """Only obs and goal together give the action: a goal-blind policy cannot fit it."""
    demos, test = _reaching(1024, seed=0), _reaching(256, seed=1)
    torch.manual_seed(0)
    policy = DeterministicPolicy(2, 2, hidden=(64, 64), goal_dim=2)
    fit(policy, demos, steps=600, lr=3e-3, batch_size=128, progress=False, seed=0)
    with torch.no_grad():
        err = (policy.predict(test.observations, test.goals) - test.actions).pow(2).mean()
        blind = (test.actions - demos.actions.mean(0)).pow(2).mean()
    assert float(err) < 0.1 * float(blind)


# ---------------------------------------------------------------- bad input


def test_missing_goals_name_the_method() -> None:
    policy = GaussianPolicy(3, 2, goal_dim=2)
    with pytest.raises(ShapeError, match="no goals were given") as info:
        policy.predict(torch.zeros(4, 3))
    err = info.value
    assert (err.function, err.argument) == ("GaussianPolicy.predict", "goals")
    assert (err.expected, err.got) == ("(batch, 2)", "goals=None")
    with pytest.raises(ShapeError, match="no goal was given") as info:
        policy.act(np.zeros(3))
    assert (info.value.function, info.value.argument) == ("GaussianPolicy.act", "goal")
    with pytest.raises(UsageError, match="not goal-conditioned, but a goal was given"):
        GaussianPolicy(3, 2).act(np.zeros(3), goal=np.zeros(2))
    with pytest.raises(ShapeError, match="is goal-conditioned but the demonstrations have no"):
        fit(policy, Demonstrations(torch.zeros(8, 3), torch.zeros(8, 2)), steps=1)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_goals_of_the_wrong_width(name: str) -> None:
    policy = _build(name, 3, 2, 2)
    with pytest.raises(ShapeError, match=r"expected goals of shape \(batch, 2\)") as info:
        policy.predict(torch.zeros(4, 3), torch.zeros(4, 5))
    err = info.value
    assert err.argument == "goals" and err.axis == 1
    assert (err.expected, err.got) == ("(batch, 2)", "(4, 5)")
    assert err.function == f"{type(policy).__name__}.predict"


def test_goals_for_another_batch_and_in_fit() -> None:
    policy = DeterministicPolicy(3, 2, goal_dim=2)
    with pytest.raises(ShapeError, match="expected batch=4") as info:
        policy.predict(torch.zeros(4, 3), torch.zeros(5, 2))
    assert info.value.argument == "goals" and info.value.axis == 0
    wrong = Demonstrations(torch.zeros(8, 3), torch.zeros(8, 2), goals=torch.zeros(8, 4))
    with pytest.raises(ShapeError, match="goal_dim=4") as info:
        fit(policy, wrong, steps=1)
    assert (info.value.expected, info.value.got) == ("(N, 2)", "(N, 4)")


def test_goals_for_a_policy_without_goals_and_bad_goal_dim() -> None:
    with pytest.raises(UsageError, match="not goal-conditioned") as info:
        DeterministicPolicy(3, 2).predict(torch.zeros(4, 3), torch.zeros(4, 2))
    assert info.value.argument == "goals" and info.value.hint is not None
    for bad in (-1, 1.5, "2", True):
        with pytest.raises(UsageError) as info:
            GaussianPolicy(3, 2, goal_dim=bad)
        assert info.value.argument == "goal_dim"


def test_the_study_script_runs_and_writes_its_results(tmp_path: Path) -> None:
    """examples/gcbc_study.py with a tiny budget: the numbers in the docs come from it."""
    import importlib.util
    import json

    path = Path(__file__).parent.parent / "examples" / "gcbc_study.py"
    spec = importlib.util.spec_from_file_location("gcbc_study", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = ["--quick", "--episodes", "4", "--steps", "3", "--eval-episodes", "2",
            "--families", "deterministic", "--out", str(tmp_path)]  # fmt: skip
    results = module.main(argv)
    assert set(results["families"]["deterministic"]) == set(module.CONDITIONS)
    assert json.loads((tmp_path / "results.json").read_text())["steps"] == 3
    assert (tmp_path / "success.png").stat().st_size > 0
    assert (tmp_path / "paths.png").stat().st_size > 0
