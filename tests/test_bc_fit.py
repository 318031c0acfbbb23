from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

import shapesafe
from shapesafe import load_checkpoint
from shapesafe.bc import (
    Batch,
    Demonstrations,
    DeterministicPolicy,
    FitResult,
    GaussianPolicy,
    LossOutput,
    NonFiniteLossError,
    Policy,
    cubic_demonstrations,
    cubic_expert_mean,
    cubic_expert_std,
    evaluate,
    fit,
    plot_losses,
)
from shapesafe.errors import CheckpointError, DtypeError, ShapeError, UsageError


def _policy(seed: int = 0) -> GaussianPolicy:
    torch.manual_seed(seed)
    return GaussianPolicy(2, 2, hidden=(32, 32))


def _same_parameters(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ---------------------------------------------------------------- learning


@pytest.mark.values
def test_learned_std_is_within_5_percent_of_the_true_std() -> None:
    """The lecture-3 experiment: 1000 demonstrations, batch 64, Adam lr 0.01, 200 epochs."""
    demos = cubic_demonstrations(1000, seed=0)
    policy = _policy(0)
    true_std = torch.tensor(cubic_expert_std())
    before = policy.std().detach()
    assert not torch.allclose(before, true_std, rtol=0.05)  # the test can fail
    result = fit(policy, demos, epochs=200, batch_size=64, lr=0.01, seed=0, progress=False)
    assert result.total_steps == 200 * 16 and len(result.train_loss) == 200
    learned = policy.std().detach()
    torch.testing.assert_close(learned, true_std, rtol=0.05, atol=0.0)
    # and the mean is learned too: held-out error well below the noise level
    held_out = cubic_demonstrations(1000, seed=1)
    with torch.no_grad():
        err = policy.predict(held_out.observations) - cubic_expert_mean(held_out.observations)
    assert float(err.pow(2).mean().sqrt()) < 0.5 * min(cubic_expert_std())


@pytest.mark.values
def test_deterministic_policy_learns_the_mean() -> None:
    demos = cubic_demonstrations(1000, seed=0)
    torch.manual_seed(0)
    policy = DeterministicPolicy(2, 2, hidden=(32, 32))
    fit(policy, demos, epochs=60, lr=0.01, progress=False)
    held_out = cubic_demonstrations(500, seed=2)
    with torch.no_grad():
        err = policy(held_out.observations) - cubic_expert_mean(held_out.observations)
    assert float(err.pow(2).mean().sqrt()) < 0.5 * min(cubic_expert_std())


@pytest.mark.values
def test_fit_matches_a_hand_written_loop() -> None:
    """fit() is the lecture's loop with index sampling: same batches, same parameters."""
    demos = cubic_demonstrations(300, seed=0)
    ours = _policy(1)
    fit(ours, demos, epochs=3, batch_size=64, lr=0.01, seed=7, progress=False)

    hand = _policy(1)
    opt = torch.optim.Adam(hand.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(7)
    for _ in range(3):
        perm = torch.randperm(300, generator=g)
        for start in range(0, 300, 64):
            idx = perm[start : start + 64]
            dist = torch.distributions.Independent(
                torch.distributions.Normal(hand.net(demos.observations[idx]), hand.log_std.exp()),
                1,
            )
            loss = -dist.log_prob(demos.actions[idx]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    # equal up to float rounding (the policy clamps and expands its log-std first)
    for (name, x), (_, y) in zip(ours.named_parameters(), hand.named_parameters()):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.values
def test_checks_off_gives_identical_parameters() -> None:
    demos = cubic_demonstrations(200, seed=0)
    a, b = _policy(3), _policy(3)
    ra = fit(a, demos, steps=50, lr=0.01, progress=False, checks=True)
    rb = fit(b, demos, steps=50, lr=0.01, progress=False, checks=False)
    assert _same_parameters(a, b) and ra.train_loss == rb.train_loss
    assert shapesafe.is_enabled() == (not shapesafe._config.DISABLED_BY_ENV)


# ---------------------------------------------------------------- history


@pytest.mark.values
def test_history_and_validation() -> None:
    demos = cubic_demonstrations(400, seed=0)
    result = fit(_policy(), demos, steps=50, log_every=10, val_fraction=0.25, progress=False)
    assert isinstance(result, FitResult)
    assert result.steps == [10, 20, 30, 40, 50]
    assert len(result.train_loss) == len(result.val_loss) == 5
    assert result.final_val_loss == result.val_loss[-1]
    assert result.train_loss[-1] < result.train_loss[0]
    assert "FitResult(steps=50" in repr(result)


@pytest.mark.values
def test_validation_loss_equals_evaluate_on_the_held_out_episodes() -> None:
    demos = cubic_demonstrations(200, seed=0)
    episodic = Demonstrations(
        demos.observations, demos.actions, episode_ids=torch.arange(200) // 20
    )
    policy = _policy()
    result = fit(policy, episodic, steps=20, val_fraction=0.2, seed=3, progress=False)
    _, val = episodic.split(0.2, seed=3)
    assert val.n_episodes == 2
    assert result.final_val_loss == pytest.approx(evaluate(policy, val)["loss"], rel=1e-6)


@pytest.mark.values
def test_explicit_validation_data_and_a_partial_last_log() -> None:
    demos = cubic_demonstrations(100, seed=0)
    result = fit(
        _policy(),
        demos,
        steps=25,
        log_every=10,
        val_demos=cubic_demonstrations(50, seed=9),
        progress=False,
    )
    assert result.steps == [10, 20, 25] and len(result.val_loss) == 3


@pytest.mark.values
def test_evaluate_against_a_reference() -> None:
    policy = _policy()
    demos = cubic_demonstrations(100, seed=4)
    metrics = evaluate(policy, demos)
    with torch.no_grad():
        ref_loss = policy.loss((demos.observations, demos.actions))
        ref_err = (policy.predict(demos.observations) - demos.actions).pow(2).mean().sqrt()
    assert metrics["loss"] == pytest.approx(float(ref_loss), rel=1e-6)
    assert metrics["mean_error"] == pytest.approx(float(ref_err), rel=1e-5)
    assert metrics["std_0"] == pytest.approx(1.0) and metrics["std_1"] == pytest.approx(1.0)


def test_plot_losses_writes_a_png(tmp_path: Path) -> None:
    result = fit(
        _policy(), cubic_demonstrations(100), steps=6, log_every=2, val_fraction=0.2, progress=False
    )
    out = plot_losses(result, tmp_path / "sub" / "loss.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=r"no logged losses"):
        plot_losses(FitResult(_policy()), tmp_path / "empty.png")


def test_progress_bar_shows_the_running_loss(capsys: pytest.CaptureFixture[str]) -> None:
    fit(_policy(), cubic_demonstrations(100), steps=4, log_every=2, progress=True)
    err = capsys.readouterr().err
    assert "4/4" in err and "loss=" in err


@pytest.mark.values
def test_fit_restores_each_submodule_mode() -> None:
    policy = _policy()
    policy.eval()
    policy.net[0].train()  # a mixed state that policy.train(False) would not restore
    fit(policy, cubic_demonstrations(64), steps=2, progress=False)
    assert not policy.training and policy.net[0].training and not policy.net[1].training


@pytest.mark.values
def test_float64_policies_train_on_float32_data() -> None:
    policy = _policy().double()
    fit(policy, cubic_demonstrations(64), steps=3, progress=False)
    assert policy.log_std.dtype == torch.float64


# ---------------------------------------------------------------- exact resume


class _Interrupt(Exception):
    pass


def _interrupt_at(policy: Policy, call: int) -> None:
    """Make the policy's loss raise on its `call`-th call (a crash mid-training)."""
    inner = policy.compute_loss
    calls = [0]

    def compute_loss(batch: Batch) -> LossOutput:
        calls[0] += torch.is_grad_enabled()  # training steps only, not validation passes
        if calls[0] == call:
            raise _Interrupt
        return inner(batch)

    policy.compute_loss = compute_loss  # type: ignore[method-assign]


@pytest.mark.values
@pytest.mark.parametrize(
    ("checkpoint_every", "crash_at", "val_fraction"),
    [(37, 100, 0.0), (16, 50, 0.0), (32, 70, 0.2), (10, 11, 0.0)],
    ids=["mid-epoch", "epoch-aligned", "with-validation", "just-after-a-checkpoint"],
)
def test_resume_is_bit_identical(
    tmp_path: Path, checkpoint_every: int, crash_at: int, val_fraction: float
) -> None:
    demos = cubic_demonstrations(1000, seed=0)
    kw: dict[str, object] = dict(
        steps=120, lr=0.01, seed=5, log_every=7, val_fraction=val_fraction, progress=False
    )
    straight = _policy(2)
    expected = fit(straight, demos, **kw)  # type: ignore[arg-type]

    crashed = _policy(2)
    _interrupt_at(crashed, crash_at)
    with pytest.raises(_Interrupt):
        fit(crashed, demos, checkpoint_dir=tmp_path, checkpoint_every=checkpoint_every, **kw)  # type: ignore[arg-type]

    resumed = _policy(99)  # different initial weights: all state must come from the file
    result = fit(
        resumed,
        demos,
        checkpoint_dir=tmp_path,
        checkpoint_every=checkpoint_every,
        resume=True,
        **kw,  # type: ignore[arg-type]
    )
    last_ckpt = (crash_at - 1) // checkpoint_every * checkpoint_every
    assert result.resumed_from == last_ckpt
    assert _same_parameters(resumed, straight)
    assert result.steps == expected.steps
    assert result.train_loss == expected.train_loss
    assert result.val_loss == expected.val_loss
    assert result.total_steps == 120 and result.checkpoint == tmp_path / "last.pt"


@pytest.mark.values
def test_resume_extends_a_finished_run(tmp_path: Path) -> None:
    demos = cubic_demonstrations(300, seed=0)
    straight = _policy(4)
    fit(straight, demos, steps=40, lr=0.01, progress=False)
    first = _policy(4)
    fit(first, demos, steps=25, lr=0.01, progress=False, checkpoint_dir=tmp_path)
    again = _policy(4)
    result = fit(
        again,
        demos,
        steps=40,
        lr=0.01,
        progress=False,
        checkpoint_dir=tmp_path,
        resume=tmp_path / "last.pt",
    )
    assert result.resumed_from == 25 and _same_parameters(again, straight)


def test_resume_true_without_a_checkpoint_starts_fresh(tmp_path: Path) -> None:
    result = fit(
        _policy(),
        cubic_demonstrations(64),
        steps=2,
        progress=False,
        checkpoint_dir=tmp_path,
        resume=True,
    )
    assert result.resumed_from is None and (tmp_path / "last.pt").exists()


def test_resume_refuses_a_different_run(tmp_path: Path) -> None:
    demos = cubic_demonstrations(100)
    fit(_policy(), demos, steps=2, progress=False, checkpoint_dir=tmp_path)
    with pytest.raises(
        CheckpointError,
        match=r"(?s)cannot resume from .*the run differs "
        r"\(batch_size: checkpoint 64, now 32\).*hint: resume with the same",
    ):
        fit(
            _policy(),
            demos,
            steps=4,
            batch_size=32,
            progress=False,
            checkpoint_dir=tmp_path,
            resume=True,
        )
    with pytest.raises(CheckpointError, match=r"no checkpoint to resume from at"):
        fit(_policy(), demos, steps=4, progress=False, resume=tmp_path / "nope.pt")
    with pytest.raises(UsageError, match=r"`resume=True` needs `checkpoint_dir`"):
        fit(_policy(), demos, steps=4, progress=False, resume=True)


def test_checkpoints_are_loadable_weights_only_files(tmp_path: Path) -> None:
    policy = _policy()
    fit(policy, cubic_demonstrations(100), steps=5, checkpoint_dir=tmp_path, progress=False)
    fresh = _policy(8)
    meta = load_checkpoint(tmp_path / "last.pt", fresh)
    assert _same_parameters(fresh, policy)
    assert meta["policy_config"] == policy.config and meta["fit"]["step"] == 5


# ---------------------------------------------------------------- non-finite loss


def _nan_from(policy: Policy, call: int) -> None:
    inner = policy.compute_loss
    calls = [0]

    def compute_loss(batch: Batch) -> LossOutput:
        calls[0] += 1
        out = inner(batch)
        return LossOutput(out.loss * float("nan")) if calls[0] >= call else out

    policy.compute_loss = compute_loss  # type: ignore[method-assign]


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    policy = _policy()
    _nan_from(policy, 57)
    with pytest.raises(
        NonFiniteLossError,
        match=r"the last good checkpoint \(step 50\) is kept",
    ) as info:
        fit(
            policy,
            cubic_demonstrations(500),
            steps=100,
            checkpoint_dir=tmp_path,
            checkpoint_every=25,
            log_every=10,
            progress=False,
        )
    assert info.value.step == 57 and info.value.last_checkpoint == tmp_path / "last.pt"
    assert (info.value.function, info.value.got) == ("fit", "nan")
    good = _policy(5)
    meta = load_checkpoint(tmp_path / "last.pt", good)
    assert meta["fit"]["step"] == 50
    assert all(bool(torch.isfinite(p).all()) for p in good.parameters())


@pytest.mark.parametrize("nan_at", [57, 60])
def test_non_finite_loss_with_checks_off_stops_after_the_step(tmp_path: Path, nan_at: int) -> None:
    """With checks off, train_step does not refuse the loss before backward; fit still
    reads the loss of every step and stops right after the bad one, naming it."""
    policy = DeterministicPolicy(2, 2) if nan_at == 60 else _policy()
    _nan_from(policy, nan_at)
    with pytest.raises(
        NonFiniteLossError,
        match=rf"became nan at step {nan_at}; training stopped; the last good checkpoint "
        r"\(step 50\)",
    ) as info:
        fit(
            policy,
            cubic_demonstrations(500),
            steps=100,
            checkpoint_dir=tmp_path,
            checkpoint_every=25,
            log_every=10,
            progress=False,
            checks=False,
        )
    assert info.value.step == nan_at
    meta = load_checkpoint(tmp_path / "last.pt", type(policy)(2, 2, hidden=policy.config["hidden"]))
    assert meta["fit"]["step"] == 50


def test_non_finite_loss_without_checkpoints() -> None:
    policy = _policy()
    _nan_from(policy, 1)
    with pytest.raises(
        NonFiniteLossError,
        match=r"became nan at step 1; .*no checkpoint was "
        r"written \(pass checkpoint_dir= to keep one\)",
    ):
        fit(policy, cubic_demonstrations(100), steps=5, progress=False)


def test_diverging_training_is_caught() -> None:
    torch.manual_seed(0)
    policy = DeterministicPolicy(2, 2, hidden=(32,))
    with pytest.raises(NonFiniteLossError, match=r"became (nan|inf) at step \d+"):
        fit(policy, cubic_demonstrations(200), steps=200, optimizer="sgd", lr=1e4, progress=False)


# ---------------------------------------------------------------- argument errors


def test_data_that_does_not_fit_the_policy() -> None:
    policy = GaussianPolicy(3, 2)
    with pytest.raises(ShapeError, match=r"hint: build the policy with obs_dim=2") as info:
        fit(policy, cubic_demonstrations(10), steps=1)
    err = info.value
    assert (err.function, err.argument, err.axis) == ("fit", "demos", 1)
    assert (err.expected, err.got) == ("(N, 3)", "(N, 2)")
    images = Demonstrations(torch.zeros(10, 1, 3), torch.zeros(10, 2))
    with pytest.raises(ShapeError, match=r"\(N, 1, 3\).*\n  hint: the observations are not flat"):
        fit(policy, images, steps=1)
    wide = Demonstrations(torch.zeros(10, 3), torch.zeros(10, 4))
    with pytest.raises(
        ShapeError,
        match=r"actions have shape \(N, 4\) but GaussianPolicy "
        r"predicts \(N, 2\)\n  hint: build the policy with act_dim=4",
    ):
        fit(policy, wide, steps=1)
    discrete = Demonstrations(torch.zeros(10, 3), torch.zeros(10, dtype=torch.int64))
    with pytest.raises(
        DtypeError,
        match=r"actions have dtype torch.int64, but GaussianPolicy "
        r"predicts continuous",
    ):
        fit(policy, discrete, steps=1)


def test_evaluate_and_val_demos_errors_name_their_function_and_argument() -> None:
    policy = GaussianPolicy(3, 2)
    with pytest.raises(
        ShapeError,
        match=r"^evaluate\(\): argument `demos`: observations have shape \(N, 2\) but "
        r"GaussianPolicy expects \(N, 3\)",
    ):
        evaluate(policy, cubic_demonstrations(10))
    labels = Demonstrations(torch.zeros(10, 3), torch.zeros(10, dtype=torch.int64))
    with pytest.raises(DtypeError, match=r"^evaluate\(\): argument `demos`: actions have dtype"):
        evaluate(policy, labels)
    scalar_actions = Demonstrations._from_validated(
        torch.zeros(10, 3), torch.zeros(10), None, None, {}
    )
    with pytest.raises(ShapeError, match=r"actions have shape \(N,\) but GaussianPolicy"):
        evaluate(policy, scalar_actions)
    good = Demonstrations(torch.zeros(10, 3), torch.zeros(10, 2))
    with pytest.raises(ShapeError, match=r"^fit\(\): argument `val_demos`: observations") as info:
        fit(policy, good, steps=1, val_demos=cubic_demonstrations(5), progress=False)
    assert info.value.function == "fit" and info.value.argument == "val_demos"


Bad = Callable[[], object]


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda: fit(_policy(), cubic_demonstrations(10)), r"exactly one of `steps` and `epochs`"),
        (lambda: fit(_policy(), cubic_demonstrations(10), steps=1, epochs=1), r"exactly one"),
        (lambda: fit(_policy(), cubic_demonstrations(10), steps=0), r"`steps` must be a positive"),
        (lambda: fit(_policy(), cubic_demonstrations(10), steps=1, batch_size=0), r"`batch_size`"),
        (
            lambda: fit(_policy(), cubic_demonstrations(10), steps=1, optimizer="lbfgsx"),
            r"unknown optimizer 'lbfgsx'",
        ),
        (lambda: fit(_policy(), (1, 2), steps=1), r"`demos` must be a Demonstrations"),  # type: ignore[arg-type]
        (
            lambda: fit(nn.Linear(2, 2), cubic_demonstrations(10), steps=1),  # type: ignore[arg-type]
            r"`policy` must be a shapesafe.bc.Policy",
        ),
        (
            lambda: fit(_policy(), cubic_demonstrations(10), steps=1, max_grad_norm=0.0),
            r"`max_grad_norm` must be positive",
        ),
        (
            lambda: fit(
                _policy(),
                cubic_demonstrations(10),
                steps=1,
                val_fraction=0.2,
                val_demos=cubic_demonstrations(5),
            ),
            r"`val_fraction` or `val_demos`",
        ),
    ],
)
def test_argument_errors(call: Bad, pattern: str) -> None:
    with pytest.raises(shapesafe.ShapesafeError, match=pattern) as info:
        call()
    assert info.value.function == "fit"


def test_optimizer_instances_and_factories() -> None:
    demos = cubic_demonstrations(100)
    p = _policy()
    opt = torch.optim.SGD(p.parameters(), lr=0.1)
    fit(p, demos, steps=2, optimizer=opt, progress=False)
    assert opt.state_dict()["param_groups"][0]["lr"] == 0.1
    with pytest.raises(UsageError, match=r"pass `lr` only with an optimizer name"):
        fit(p, demos, steps=2, optimizer=opt, lr=0.5, progress=False)
    q = _policy()
    result = fit(
        q,
        demos,
        steps=2,
        optimizer=lambda ps: torch.optim.AdamW(ps, lr=1e-2),
        max_grad_norm=1.0,
        progress=False,
    )
    assert result.total_steps == 2


def test_missing_optional_dependencies_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("tqdm", "matplotlib") else real(name, *a),
    )
    demos = cubic_demonstrations(100, seed=0)
    with pytest.raises(ImportError, match=r"fit\(progress=True\) needs tqdm.*shapesafe\[bc\]"):
        fit(GaussianPolicy(2, 2), demos, steps=2, progress=True)
    result = fit(GaussianPolicy(2, 2), demos, steps=2, progress=False, log_every=1)
    with pytest.raises(ImportError, match=r"plot_losses\(\) needs matplotlib"):
        plot_losses(result, tmp_path / "loss.png")
