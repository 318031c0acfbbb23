"""AutoregressivePolicy: shapes over drawn dims, binning against numpy, the loss and the
greedy decoding against a plain per-dimension reference, causality (dim i never sees
dims >= i), sampling frequencies, bounds, bad input, checkpoint round trip, the command
line and a seeded learning test on a correlated bimodal expert."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import shapesafe
from shapesafe.bc import (
    ActSpec,
    AutoregressivePolicy,
    Batch,
    Demonstrations,
    ObsSpec,
    build_policy,
    evaluate,
    fit,
    load_policy,
)
from shapesafe.cli import main
from shapesafe.errors import DtypeError, ShapeError, UsageError

dims = st.integers(1, 4)


def _policy(obs: int, act: int, bins: int = 8, **kw: object) -> AutoregressivePolicy:
    return AutoregressivePolicy(obs, act, bins=bins, hidden=(16,), low=-1.0, high=1.0, **kw)  # type: ignore[arg-type]


def _reference_logits(
    policy: AutoregressivePolicy, obs: torch.Tensor, prev_unit: torch.Tensor, i: int
) -> torch.Tensor:
    """Dimension i's logits the plain way: obs, dims < i (in [-1, 1]), zeros, one-hot i."""
    n, a = obs.shape[0], policy.act_dim
    prev = torch.zeros(n, a)
    prev[:, :i] = prev_unit[:, :i]
    onehot = F.one_hot(torch.full((n,), i), a).float()
    out: torch.Tensor = policy.net(torch.cat([obs, prev, onehot], -1))
    return out


def _np_bins(a: np.ndarray, low: np.ndarray, high: np.ndarray, bins: int) -> np.ndarray:
    return np.clip(np.floor((a - low) / ((high - low) / bins)), 0, bins - 1).astype(np.int64)


def _correlated(n: int = 512, seed: int = 0) -> Demonstrations:
    """One state, actions (+0.8, +0.6) or (-0.8, -0.6) at random: two modes whose
    dimensions go together."""
    g = torch.Generator().manual_seed(seed)
    obs = 0.1 * torch.randn(n, 2, generator=g)
    sign = torch.where(torch.rand(n, 1, generator=g) < 0.5, -1.0, 1.0)
    act = sign * torch.tensor([0.8, 0.6]) + 0.03 * torch.randn(n, 2, generator=g)
    return Demonstrations(obs, act)


# ---------------------------------------------------------------- shapes and values


@settings(max_examples=30)
@given(batch=st.integers(1, 5), obs=dims, act=dims, bins=st.integers(2, 9))
def test_shapes_of_every_part(batch: int, obs: int, act: int, bins: int) -> None:
    torch.manual_seed(0)
    policy = _policy(obs, act, bins)
    o, a = torch.randn(batch, obs), torch.rand(batch, act) * 2 - 1
    assert policy.bin_logits(o, a).shape == (batch, act, bins)
    assert policy.to_bins(a).shape == (batch, act) and policy.to_bins(a).dtype == torch.int64
    assert policy.centres(policy.to_bins(a)).shape == (batch, act)
    assert policy.predict(o).shape == (batch, act)
    assert policy.act(o.numpy()).shape == (batch, act)
    assert policy.act(o[0].numpy()).shape == (act,)
    out = policy.compute_loss(Batch(o, a))
    assert out.loss.shape == ()
    assert set(out.metrics) == {f"bin_accuracy_{i}" for i in range(act)}


@pytest.mark.values
@settings(max_examples=40)
@given(
    act=dims,
    bins=st.integers(2, 12),
    values=st.lists(st.floats(-5, 5, allow_nan=False, width=32), min_size=1, max_size=24),
    low=st.floats(-2, 0.5),
    width=st.floats(0.1, 3),
)
def test_binning_matches_numpy_and_clips(
    act: int, bins: int, values: list[float], low: float, width: float
) -> None:
    a = np.resize(np.asarray(values, np.float32), (len(values), act))
    policy = AutoregressivePolicy(2, act, bins=bins, hidden=(4,), low=low, high=low + width)
    lo, hi = (t.numpy() for t in policy.bounds())
    index = policy.to_bins(torch.from_numpy(a))
    np.testing.assert_array_equal(index.numpy(), _np_bins(a, lo, hi, bins))
    centres = policy.centres(index).numpy()
    step = (hi - lo) / bins
    np.testing.assert_allclose(centres, lo + (index.numpy() + 0.5) * step, rtol=1e-5, atol=1e-5)
    assert ((centres >= lo) & (centres <= hi)).all()  # outside values land in the end bins


@pytest.mark.values
@settings(max_examples=30)
@given(batch=st.integers(1, 6), act=dims, bins=st.integers(2, 9), seed=st.integers(0, 9999))
def test_loss_and_greedy_decoding_against_a_per_dimension_reference(
    batch: int, act: int, bins: int, seed: int
) -> None:
    torch.manual_seed(seed)
    policy = _policy(3, act, bins)
    obs, a = torch.randn(batch, 3), torch.rand(batch, act) * 2 - 1
    target = policy.to_bins(a)
    unit = (target.float() + 0.5) * (2 / bins) - 1  # bin centres in [-1, 1]
    ref = [_reference_logits(policy, obs, unit, i) for i in range(act)]
    torch.testing.assert_close(policy.bin_logits(obs, a), torch.stack(ref, 1))
    ce = sum(F.cross_entropy(ref[i], target[:, i]) for i in range(act))
    torch.testing.assert_close(policy.loss((obs, a)), ce)

    # greedy decoding: the centre of dim 0's most probable 3-bin window (of its most
    # probable bin below 5 bins), fed to dim 1, ...
    decoded = torch.zeros(batch, act)
    for i in range(act):
        probs = _reference_logits(policy, obs, decoded, i).softmax(-1).detach().numpy()
        padded = np.pad(probs, ((0, 0), (1, 1)))
        scores = padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:] if bins >= 5 else probs
        best = torch.from_numpy(scores.argmax(-1))
        decoded[:, i] = (best.float() + 0.5) * (2 / bins) - 1
    torch.testing.assert_close(policy.predict(obs), decoded)  # bounds are [-1, 1]


@pytest.mark.values
@settings(max_examples=20)
@given(batch=st.integers(1, 4), act=st.integers(2, 4), seed=st.integers(0, 9999))
def test_dimension_i_never_sees_dimensions_from_i_on(batch: int, act: int, seed: int) -> None:
    torch.manual_seed(seed)
    policy = _policy(2, act)
    obs, a = torch.randn(batch, 2), torch.rand(batch, act) * 2 - 1
    base = policy.bin_logits(obs, a)
    for i in range(act):
        changed = a.clone()
        changed[:, i:] = -changed[:, i:] + 0.3
        torch.testing.assert_close(policy.bin_logits(obs, changed)[:, : i + 1], base[:, : i + 1])


@pytest.mark.values
def test_sampling_follows_the_bin_probabilities() -> None:
    torch.manual_seed(0)
    policy = _policy(1, 1, bins=4)
    last = policy.net[-1]
    assert isinstance(last, torch.nn.Linear)
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.log(torch.tensor([0.1, 0.2, 0.3, 0.4])))
    draws = policy.act(np.zeros((4000, 1), np.float32))[:, 0]
    centres = np.array([-0.75, -0.25, 0.25, 0.75], np.float32)
    shares = [(np.abs(draws - c) < 1e-6).mean() for c in centres]
    np.testing.assert_allclose(shares, [0.1, 0.2, 0.3, 0.4], atol=0.03)
    # greedy, 4 bins: the most probable bin
    assert float(policy.act(np.zeros(1), deterministic=True)[0]) == pytest.approx(0.75)

    policy.temperature = 0.5  # shares ∝ p ** 2
    sharp = policy.act(np.zeros((4000, 1), np.float32))[:, 0]
    p2 = np.array([0.1, 0.2, 0.3, 0.4]) ** 2
    np.testing.assert_allclose(
        [(np.abs(sharp - c) < 1e-6).mean() for c in centres], p2 / p2.sum(), atol=0.03
    )
    policy.temperature = 1.0

    policy.jitter = True
    jittered = policy.act(np.zeros((4000, 1), np.float32))[:, 0]
    assert ((jittered >= -1) & (jittered <= 1)).all()
    assert len(np.unique(jittered)) > 3000  # continuous within the bins
    np.testing.assert_allclose(
        [((jittered >= c - 0.25) & (jittered < c + 0.25)).mean() for c in centres],
        [0.1, 0.2, 0.3, 0.4],
        atol=0.03,
    )


@pytest.mark.values
def test_greedy_prefers_a_broad_mode_to_a_narrow_spike() -> None:
    policy = _policy(1, 1, bins=8)
    last = policy.net[-1]
    assert isinstance(last, torch.nn.Linear)
    probs = torch.tensor([0.01, 0.3, 0.01, 0.01, 0.22, 0.23, 0.21, 0.01])
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(probs.log())
    # bin 1 is the single most likely bin, but bins 4-6 hold twice its mass
    assert float(policy.predict(torch.zeros(1, 1))[0, 0]) == pytest.approx(-1 + 5.5 * 0.25)


@pytest.mark.values
def test_loss_is_the_same_with_checks_off() -> None:
    torch.manual_seed(3)
    policy = _policy(2, 3)
    obs, act = torch.randn(9, 2), torch.rand(9, 3) * 2 - 1
    on = policy.compute_loss(Batch(obs, act))
    with shapesafe.enabled(False):
        off = policy.compute_loss(Batch(obs, act))
        pred = policy.predict(obs)
    assert torch.equal(on.loss, off.loss)
    assert torch.equal(pred, policy.predict(obs))


# ---------------------------------------------------------------- bounds


@pytest.mark.values
def test_bounds_are_learned_from_the_data_or_fixed() -> None:
    demos = Demonstrations(
        torch.zeros(4, 2), torch.tensor([[-2.0, 0.0], [1.0, 5.0], [0.0, 1.0], [0.5, 2.0]])
    )
    learned = AutoregressivePolicy(2, 2, hidden=(4,))
    fit(learned, demos, steps=1, progress=False)
    low, high = learned.bounds()
    assert low.tolist() == [-2.0, 0.0] and high.tolist() == [1.0, 5.0]
    assert evaluate(learned, demos)["high_1"] == 5.0

    fixed = AutoregressivePolicy(2, 2, hidden=(4,), low=[-1.0, -1.0], high=1.0)
    fit(fixed, demos, steps=1, progress=False)
    assert fixed.bounds()[1].tolist() == [1.0, 1.0]  # data beyond fixed bounds is clipped
    assert fixed.to_bins(torch.tensor([[-9.0, 9.0]])).tolist() == [[0, fixed.bins - 1]]

    # a loop of one's own (no prepare_data): the first training batch sets the bounds
    own = AutoregressivePolicy(2, 2, hidden=(4,))
    own.loss((demos.observations, demos.actions))
    assert own.bounds()[0].tolist() == [-2.0, 0.0]


# ---------------------------------------------------------------- bad input


def test_bad_options_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="`bins` must be at least 2, got 1") as e:
        AutoregressivePolicy(2, 2, bins=1)
    assert e.value.function == "AutoregressivePolicy" and e.value.argument == "bins"
    with pytest.raises(UsageError, match="give both `low` and `high`") as e:
        AutoregressivePolicy(2, 2, low=-1.0)
    assert e.value.argument == "high"
    with pytest.raises(UsageError, match="`low` must be below `high` in every dimension"):
        AutoregressivePolicy(2, 2, low=[0.0, 1.0], high=[1.0, 1.0])
    with pytest.raises(UsageError, match="`low` must be a finite number or 2 of them") as e:
        AutoregressivePolicy(2, 2, low=[0.0, 1.0, 2.0], high=3.0)
    assert e.value.expected == "a number or a list of 2"
    with pytest.raises(UsageError, match="`temperature` must be a number > 0, got 0") as e:
        AutoregressivePolicy(2, 2, temperature=0)
    assert e.value.function == "AutoregressivePolicy" and e.value.argument == "temperature"
    with pytest.raises(UsageError, match="unknown option for AutoregressivePolicy"):
        AutoregressivePolicy.from_specs(ObsSpec((3,)), ActSpec((2,)), beam_width=4)
    with pytest.raises(DtypeError) as e:
        AutoregressivePolicy.from_specs(ObsSpec((3,)), ActSpec((), torch.int64, discrete=4))
    assert e.value.argument == "act_spec"


def test_wrong_shapes_are_shape_errors() -> None:
    policy = _policy(3, 2)
    with pytest.raises(ShapeError) as e:
        policy.predict(torch.zeros(4, 5))
    assert e.value.function == "AutoregressivePolicy.predict" and e.value.argument == "obs"
    with pytest.raises(ShapeError) as e:
        policy.bin_logits(torch.zeros(4, 3), torch.zeros(5, 2))
    assert e.value.argument == "actions" and e.value.axis == 0
    with pytest.raises(ShapeError) as e:
        policy.loss((torch.zeros(4, 3), torch.zeros(4, 2, 1)))
    assert e.value.argument == "batch" and "trailing axis of size 1" in str(e.value)


# ---------------------------------------------------------------- persistence and CLI


@pytest.mark.values
def test_checkpoint_round_trip_keeps_the_learned_bounds(tmp_path: Path) -> None:
    demos = _correlated(128)
    torch.manual_seed(0)
    policy = AutoregressivePolicy(2, 2, bins=16, hidden=(16,))
    fit(policy, demos, steps=20, batch_size=32, progress=False, checkpoint_dir=tmp_path)
    loaded = load_policy(tmp_path / "last.pt")
    assert type(loaded) is AutoregressivePolicy and loaded.config == policy.config
    for a, b in zip(loaded.bounds(), policy.bounds()):
        assert torch.equal(a, b)
    obs = demos.observations[:7]
    policy.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded.predict(obs), policy.predict(obs))
    fixed = AutoregressivePolicy(2, 2, low=[-1, -2], high=1)
    assert (
        build_policy(fixed.config).config
        == fixed.config
        == {**fixed.config, "low": [-1.0, -2.0], "high": 1.0}
    )


def test_command_line_train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _correlated(64).save(tmp_path / "demos.npz")
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--policy",
            "autoregressive", "--steps", "4", "--hidden", "8", "--option", "bins=12",
            "--option", "low=-1", "--option", "high=1", "--no-progress"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    loaded = load_policy(tmp_path / "run" / "last.pt")
    assert isinstance(loaded, AutoregressivePolicy) and loaded.bins == 12
    assert loaded.config["low"] == -1.0


# ---------------------------------------------------------------- learning


@pytest.mark.values
def test_learns_both_modes_and_keeps_their_dimensions_together() -> None:
    torch.manual_seed(0)
    policy = AutoregressivePolicy(2, 2, bins=16, hidden=(64, 64))
    result = fit(policy, _correlated(), steps=400, lr=3e-3, progress=False, seed=0)
    assert result.train_loss[-1] < result.train_loss[0]
    torch.manual_seed(1)
    samples = policy.act(np.zeros((400, 2), np.float32))
    plus = (samples[:, 0] > 0.5) & (samples[:, 1] > 0.4)
    minus = (samples[:, 0] < -0.5) & (samples[:, 1] < -0.4)
    assert plus.mean() > 0.3 and minus.mean() > 0.3
    # dim 1 follows the mode dim 0 chose: independent dims would mix them half the time
    assert (plus | minus).mean() > 0.95
    greedy = policy.act(np.zeros(2), deterministic=True)
    assert abs(float(greedy[0])) > 0.6 and np.sign(greedy[0]) == np.sign(greedy[1])
