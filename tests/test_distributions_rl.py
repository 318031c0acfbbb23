"""Distributions for RL action spaces: masked Categorical, MultiCategorical, Beta and the
bounded TanhNormal, against plain torch.distributions / numpy references."""

from __future__ import annotations

import math

import gymnasium
import numpy as np
import pytest
import torch
import torch.distributions as td
from hypothesis import given
from hypothesis import strategies as st
from jaxtyping import Float
from torch import Tensor
from torch.distributions.transforms import AffineTransform, TanhTransform

from shapesafe import check
from shapesafe.distributions import Beta, Categorical, Dist, MultiCategorical, TanhNormal
from shapesafe.errors import DtypeError, ShapeError, ShapesafeError, UsageError

values = pytest.mark.values

#: batch shapes with size-1 axes among them (size 0: see test_size_zero_batches, plain
#: torch's validation fails on those, so they cannot run with checks disabled)
batch_shapes = st.lists(st.integers(1, 4), max_size=2).map(tuple)
sample_shapes = st.lists(st.integers(1, 3), max_size=1).map(tuple)
seeds = st.integers(0, 2**16)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def legal_mask(shape: tuple[int, ...], g: torch.Generator) -> Tensor:
    """A random mask with at least one legal action per row."""
    mask = torch.rand(shape, generator=g) > 0.5
    keep = torch.randint(0, shape[-1], shape[:-1], generator=g)
    return mask | torch.nn.functional.one_hot(keep, shape[-1]).bool()


def all_actions(batch: tuple[int, ...], k: int) -> Tensor:
    """Every action index for every batch element: shape (k, *batch)."""
    return torch.arange(k).reshape(k, *([1] * len(batch))).expand(k, *batch)


# --------------------------------------------------------------------------------------
# Categorical with an action mask


@values
@given(batch=batch_shapes, k=st.integers(1, 6), seed=seeds, use_probs=st.booleans())
def test_masked_categorical_matches_torch_with_masked_logits(
    batch: tuple[int, ...], k: int, seed: int, use_probs: bool
) -> None:
    g = gen(seed)
    raw = torch.randn(*batch, k, generator=g)
    mask = legal_mask((*batch, k), g)
    if use_probs:
        probs = raw.softmax(-1)
        d = Categorical(probs=probs, mask=mask)
        ref = td.Categorical(probs=probs * mask, validate_args=False)  # torch fails on 0-size
    else:
        d = Categorical(logits=raw, mask=mask)
        ref = td.Categorical(logits=raw.masked_fill(~mask, -math.inf), validate_args=False)
    assert d.batch_shape == batch and d.event_shape == ()
    torch.testing.assert_close(d.probs, ref.probs)
    assert bool((d.probs[~mask] == 0).all())
    actions = all_actions(batch, k)
    lp = d.log_prob(actions)
    expected = ref.probs.log().movedim(-1, 0)  # log 0 = -inf where masked
    torch.testing.assert_close(lp, expected)
    assert bool((lp.movedim(0, -1)[~mask] == -math.inf).all())
    # entropy over the legal actions only: finite, the numpy formula
    p = ref.probs.double().numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(p > 0, p * np.log(p), 0.0).sum(-1)
    assert bool(d.entropy().isfinite().all())
    np.testing.assert_allclose(d.entropy().double().numpy(), ent, rtol=1e-4, atol=1e-5)
    # the mode and every draw are legal
    assert bool(mask.gather(-1, d.mode.unsqueeze(-1)).all())
    draws = d.sample((20,))
    assert draws.shape == (20, *batch)
    assert bool(mask.expand(20, *batch, k).gather(-1, draws.unsqueeze(-1)).all())


@values
def test_masked_entropy_has_finite_gradients() -> None:
    logits = torch.randn(5, 4, requires_grad=True)
    mask = torch.tensor([[True, False, True, False]] * 4 + [[False, False, False, True]])
    d = Categorical(logits=logits, mask=mask)
    (d.entropy().sum() + d.log_prob(torch.tensor([0, 2, 0, 2, 3])).sum()).backward()
    assert logits.grad is not None
    assert bool(logits.grad.isfinite().all())
    assert bool((logits.grad[~mask] == 0).all())  # masked logits do not matter


@values
def test_masked_categorical_kl_is_the_true_kl() -> None:
    g = gen(0)
    lp, lq = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    mask = legal_mask((6, 4), g)
    p, q = Categorical(logits=lp, mask=mask), Categorical(logits=lq, mask=mask)
    pp, qq = p.probs.double().numpy(), q.probs.double().numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = np.where(pp > 0, pp * (np.log(pp) - np.log(qq)), 0.0).sum(-1)
    kl = td.kl_divergence(p, q)
    np.testing.assert_allclose(kl.double().numpy(), ref, rtol=1e-4, atol=1e-6)
    # p puts mass where q forbids it: infinite, as the math says
    q_narrow = Categorical(logits=lq, mask=torch.nn.functional.one_hot(p.mode, 4).bool())
    wider = p.probs.count_nonzero(-1) > 1
    assert bool((td.kl_divergence(p, q_narrow)[wider] == math.inf).all())


@values
def test_masked_categorical_expands_and_broadcasts_a_shared_mask() -> None:
    mask = torch.tensor([True, False, True])
    d = Categorical(logits=torch.zeros(4, 3), mask=mask, broadcast=True)
    torch.testing.assert_close(d.probs, torch.tensor([[0.5, 0.0, 0.5]]).expand(4, 3))
    e = d.expand((2, 4))
    assert e.batch_shape == (2, 4)
    assert e.mask is not None and e.mask.shape == (2, 4, 3)
    assert bool((e.log_prob(torch.ones(2, 4, dtype=torch.long)) == -math.inf).all())


def test_a_row_without_legal_actions_is_refused_naming_the_row() -> None:
    mask = torch.tensor([[True, False], [False, False]])
    with pytest.raises(UsageError) as info:
        Categorical(logits=torch.zeros(2, 2), mask=mask)
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.function, err.argument, err.got) == ("Categorical", "mask", "all False")
    assert "row mask[1] allows no action" in str(err)


def test_a_mask_that_leaves_only_impossible_actions_is_refused() -> None:
    logits = torch.tensor([[0.0, -math.inf, 1.0]])
    with pytest.raises(UsageError) as info:
        Categorical(logits=logits, mask=torch.tensor([[False, True, False]]))
    assert (info.value.function, info.value.argument) == ("Categorical", "logits")
    assert "gives no probability to any legal action" in str(info.value)
    with pytest.raises(UsageError, match="row probs\\[0\\]"):
        Categorical(probs=torch.tensor([[0.5, 0.0, 0.5]]), mask=torch.tensor([[0, 1, 0]]).bool())


def test_mask_shape_and_dtype_errors_name_the_mask() -> None:
    logits = torch.zeros(5, 3)
    with pytest.raises(ShapeError) as info:
        Categorical(logits=logits, mask=torch.ones(5, 4, dtype=torch.bool))
    assert (info.value.argument, info.value.expected, info.value.got) == ("mask", "K=3", "K=4")
    with pytest.raises(ShapeError) as info:
        Categorical(logits=logits, mask=torch.ones(3, dtype=torch.bool))
    assert info.value.argument == "mask"
    assert "broadcast=True" in str(info.value)
    with pytest.raises(DtypeError) as info:
        Categorical(logits=logits, mask=torch.ones(5, 3))
    assert (info.value.argument, info.value.got) == ("mask", "float32")
    assert "mask.bool()" in str(info.value)


def test_masked_categorical_keeps_the_value_checks() -> None:
    d = Categorical(logits=torch.zeros(5, 3), mask=torch.ones(5, 3, dtype=torch.bool))
    with pytest.raises(ShapeError) as info:
        d.log_prob(torch.zeros(5, 1, dtype=torch.long))
    assert (info.value.function, info.value.got) == ("Categorical.log_prob", "(5, 1)")
    assert "squeeze(-1)" in str(info.value)


# --------------------------------------------------------------------------------------
# MultiCategorical


nvecs = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


@values
@given(batch=batch_shapes, nvec=nvecs, sample=sample_shapes, seed=seeds, masked=st.booleans())
def test_multi_categorical_matches_independent_categoricals(
    batch: tuple[int, ...], nvec: tuple[int, ...], sample: tuple[int, ...], seed: int, masked: bool
) -> None:
    g = gen(seed)
    logits = torch.randn(*batch, sum(nvec), generator=g)
    parts = logits.split(nvec, -1)
    masks = [legal_mask((*batch, n), g) for n in nvec] if masked else None
    mask = torch.cat(masks, -1) if masks else None
    d = MultiCategorical(logits, nvec=nvec, mask=mask)
    refs = [
        td.Categorical(
            logits=p if masks is None else p.masked_fill(~m, -math.inf), validate_args=False
        )
        for p, m in zip(parts, masks or [None] * len(nvec), strict=True)
    ]
    assert (d.batch_shape, d.event_shape) == (batch, (len(nvec),))
    a = d.sample(sample)
    assert a.shape == (*sample, *batch, len(nvec)) and a.dtype == torch.int64
    for i, (n, ref) in enumerate(zip(nvec, refs, strict=True)):
        assert bool(((a[..., i] >= 0) & (a[..., i] < n)).all())
        assert bool(ref.log_prob(a[..., i]).isfinite().all())  # never an illegal choice
    expected = torch.stack([ref.log_prob(a[..., i]) for i, ref in enumerate(refs)]).sum(0)
    torch.testing.assert_close(d.log_prob(a), expected)
    torch.testing.assert_close(d.entropy(), torch.stack([ref.entropy() for ref in refs]).sum(0))
    assert bool(d.entropy().isfinite().all())
    torch.testing.assert_close(d.mode, torch.stack([ref.probs.argmax(-1) for ref in refs], -1))
    torch.testing.assert_close(d.probs, torch.cat([ref.probs for ref in refs], -1))
    # the list form is the same distribution
    listed = MultiCategorical(list(parts), mask=mask)
    assert listed.nvec == nvec
    torch.testing.assert_close(listed.log_prob(a), d.log_prob(a))


@values
def test_multi_categorical_takes_a_gymnasium_multidiscrete_space() -> None:
    space = gymnasium.spaces.MultiDiscrete([3, 5, 2], seed=0)
    logits = torch.randn(16, int(space.nvec.sum()), generator=gen(1))
    d = MultiCategorical(logits, nvec=space.nvec)
    assert d.nvec == (3, 5, 2)
    actions = torch.as_tensor(np.stack([space.sample() for _ in range(16)]))
    assert d.log_prob(actions).shape == (16,)
    assert space.contains(d.sample()[0].numpy())
    e = d.expand((2, 16))
    assert e.batch_shape == (2, 16)
    torch.testing.assert_close(e.log_prob(actions.expand(2, 16, 3))[1], d.log_prob(actions))


def test_multi_categorical_refuses_a_wrong_head_size() -> None:
    with pytest.raises(ShapeError) as info:
        MultiCategorical(torch.zeros(8, 6), nvec=[3, 2])
    err = info.value
    assert (err.function, err.argument, err.axis) == ("MultiCategorical", "logits", 1)
    assert (err.expected, err.got) == ("(*batch, 5)", "(8, 6)")
    assert "sum(nvec) = 5" in str(err)


def test_multi_categorical_nvec_errors() -> None:
    with pytest.raises(UsageError) as info:
        MultiCategorical(torch.zeros(8, 5))
    assert (info.value.argument, info.value.got) == ("nvec", "None")
    with pytest.raises(UsageError, match="nvec\\[1\\] = 0 is not a positive int"):
        MultiCategorical(torch.zeros(8, 5), nvec=[5, 0])
    with pytest.raises(UsageError, match="disagrees"):
        MultiCategorical([torch.zeros(8, 3), torch.zeros(8, 2)], nvec=[2, 3])
    with pytest.raises(ShapeError) as info:
        MultiCategorical([torch.zeros(8, 3), torch.zeros(7, 2)])
    assert (info.value.argument, info.value.expected, info.value.got) == (
        "logits",
        "(8, n_1)",
        "(7, 2)",
    )


def test_multi_categorical_refuses_a_sub_action_without_legal_choice() -> None:
    mask = torch.tensor([[True, True, True, False, True], [True, False, False, False, False]])
    with pytest.raises(UsageError) as info:
        MultiCategorical(torch.zeros(2, 5), nvec=[3, 2], mask=mask)
    assert (info.value.function, info.value.argument) == ("MultiCategorical", "mask")
    assert "sub-action 1 (nvec[1] = 2) of row mask[1] has no legal choice" in str(info.value)


def test_multi_categorical_value_shape_dtype_and_support() -> None:
    d = MultiCategorical(torch.zeros(4, 5), nvec=[3, 2])
    with pytest.raises(ShapeError) as info:
        d.log_prob(torch.zeros(4, dtype=torch.long))  # (B,) into a (B, 2)-event
    assert (info.value.function, info.value.got) == ("MultiCategorical.log_prob", "(4,)")
    assert "sub-action axis" in str(info.value)
    with pytest.raises(ShapeError) as info:
        d.log_prob(torch.zeros(4, 1, dtype=torch.long))
    assert info.value.axis == 1
    with pytest.raises(DtypeError) as info:
        d.log_prob(torch.zeros(4, 2))
    assert info.value.got == "float32"
    with pytest.raises(UsageError) as info:
        d.log_prob(torch.tensor([[0, 2]] * 4))  # sub-action 1 has only 2 choices
    assert "nvec = [3, 2]" in str(info.value)


def test_multi_categorical_has_no_rsample() -> None:
    with pytest.raises(UsageError) as info:
        MultiCategorical(torch.zeros(4, 5), nvec=[3, 2]).rsample()
    assert info.value.function == "MultiCategorical.rsample"


@values
def test_multi_categorical_kl_is_the_sum_over_sub_actions() -> None:
    g = gen(3)
    lp, lq = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    p, q = MultiCategorical(lp, nvec=[3, 2]), MultiCategorical(lq, nvec=[3, 2])
    ref = sum(
        td.kl_divergence(td.Categorical(logits=a), td.Categorical(logits=b))
        for a, b in zip(lp.split([3, 2], -1), lq.split([3, 2], -1), strict=True)
    )
    torch.testing.assert_close(td.kl_divergence(p, q), torch.as_tensor(ref))


def test_multi_categorical_kl_refuses_other_action_spaces() -> None:
    p = MultiCategorical(torch.zeros(6, 5), nvec=[3, 2])
    q = MultiCategorical(torch.zeros(6, 5), nvec=[2, 3])
    with pytest.raises(ShapeError) as info:
        td.kl_divergence(p, q)
    assert (info.value.function, info.value.argument) == ("kl_divergence", "q")
    assert (info.value.expected, info.value.got) == ("nvec [3, 2]", "nvec [2, 3]")


# --------------------------------------------------------------------------------------
# Beta


def bounds_for(act: int, g: torch.Generator, kind: str) -> tuple[Tensor | float | None, ...]:
    if kind == "none":
        return None, None
    if kind == "scalar":
        return -2.0, 3.0
    low = torch.randn(act, generator=g)
    return low, low + torch.rand(act, generator=g) * 3 + 0.1


@values
@given(
    batch=batch_shapes,
    act=st.integers(1, 3),
    sample=sample_shapes,
    seed=seeds,
    kind=st.sampled_from(["none", "scalar", "vector"]),
)
def test_beta_matches_torch_beta_with_an_affine_map(
    batch: tuple[int, ...], act: int, sample: tuple[int, ...], seed: int, kind: str
) -> None:
    g = gen(seed)
    c1 = torch.rand(*batch, act, generator=g) * 4 + 0.3
    c0 = torch.rand(*batch, act, generator=g) * 4 + 0.3
    low, high = bounds_for(act, g, kind)
    d = Beta(c1, c0, low=low, high=high)
    # per-dim bounds for the reference: torch's AffineTransform counts a 0-d scale's
    # log-Jacobian once per event instead of once per coordinate
    lo = torch.as_tensor(0.0 if low is None else low).expand(act)
    width = torch.ones(act) if high is None else torch.as_tensor(high) - lo
    ref = td.TransformedDistribution(
        td.Independent(td.Beta(c1, c0, validate_args=False), 1),
        [AffineTransform(lo, width, event_dim=1)],
        validate_args=False,
    )
    assert (d.batch_shape, d.event_shape) == (batch, (act,))
    unit = torch.rand(*sample, *batch, act, generator=g) * 0.98 + 0.01
    a = lo + width * unit
    if a.numel():  # torch's Independent cannot sum over a 0-size batch
        torch.testing.assert_close(d.log_prob(a), ref.log_prob(a), rtol=1e-4, atol=1e-4)
    else:
        assert d.log_prob(a).shape == (*sample, *batch)
    ent = (
        td.Beta(c1, c0, validate_args=False).entropy().sum(-1) + torch.log(width).expand(act).sum()
    )
    torch.testing.assert_close(d.entropy(), ent, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(d.mean, lo + width * c1 / (c1 + c0))
    torch.testing.assert_close(d.variance, width**2 * td.Beta(c1, c0, validate_args=False).variance)
    draw = d.rsample(sample)
    assert draw.shape == (*sample, *batch, act)
    assert bool(((draw >= lo) & (draw <= lo + width)).all())
    # at the bounds: finite, as for a replay buffer of clipped actions
    edge = torch.where(torch.rand(*batch, act, generator=g) > 0.5, lo + width, lo)
    assert bool(d.log_prob(edge.expand(*batch, act)).isfinite().all())


@values
def test_beta_mode_is_the_density_maximum() -> None:
    c1 = torch.tensor([[3.0, 0.5, 2.0, 0.5, 1.0, 4.0]])
    c0 = torch.tensor([[2.0, 2.0, 0.7, 0.5, 1.0, 4.0]])
    d = Beta(c1, c0, low=-1.0, high=1.0)
    unit = torch.tensor([[2 / 3, 0.0, 1.0, 0.5, 0.5, 0.5]])
    torch.testing.assert_close(d.mode, 2 * unit - 1)
    # where the interior formula applies, torch's own mode agrees
    torch.testing.assert_close(d.mode[0, [0, 5]], 2 * td.Beta(c1, c0).mode[0, [0, 5]] - 1)


@values
def test_beta_rsample_carries_gradients() -> None:
    c1 = torch.full((4, 2), 2.0, requires_grad=True)
    c0 = torch.full((4, 2), 3.0, requires_grad=True)
    d = Beta(c1, c0, low=torch.tensor([-1.0, 0.0]), high=torch.tensor([1.0, 5.0]))
    a = d.rsample()
    (a.sum() + d.log_prob(a).sum()).backward()
    assert c1.grad is not None and bool(c1.grad.isfinite().all())


def test_beta_refuses_a_batch_only_value_and_bad_parameters() -> None:
    d = Beta(torch.ones(6, 2), torch.ones(6, 2))
    with pytest.raises(ShapeError) as info:
        d.log_prob(torch.full((6,), 0.5))  # (B,) into a (B, act) Beta
    assert (info.value.function, info.value.got) == ("Beta.log_prob", "(6,)")
    assert "lacks the action axis (2,)" in str(info.value)
    with pytest.raises(UsageError) as info:
        Beta(torch.ones(6, 2), -torch.ones(6, 2))
    assert (info.value.argument, info.value.expected) == ("concentration0", "> 0")
    with pytest.raises(ShapeError) as info:
        Beta(torch.ones(6, 2), torch.ones(5, 2))
    assert info.value.argument == "concentration0"
    with pytest.raises(ShapeError) as info:
        Beta(2.0, 2.0)  # no action axis
    assert (info.value.argument, info.value.got) == ("concentration1", "()")
    assert "one entry per action dimension" in str(info.value)
    with pytest.raises(UsageError) as info:
        d.log_prob(torch.full((6, 2), 1.5))  # outside [0, 1]
    assert "pass low= and high=" in str(info.value)


def test_bounds_are_checked() -> None:
    c = torch.ones(6, 2)
    with pytest.raises(ShapeError) as info:
        Beta(c, c, low=torch.zeros(6), high=torch.ones(6))  # one bound per batch row
    err = info.value
    assert (err.function, err.argument, err.expected, err.got) == (
        "Beta",
        "low",
        "(), (2,) or (6, 2)",
        "(6,)",
    )
    with pytest.raises(UsageError) as info:
        Beta(c, c, low=torch.tensor([0.0, 1.0]), high=torch.tensor([1.0, 1.0]))
    assert (info.value.argument, info.value.got) == ("high", "high[1] = 1")
    with pytest.raises(UsageError) as info:
        Beta(c, c, low=0.0)
    assert (info.value.argument, info.value.got) == ("high", "high=None")
    with pytest.raises(UsageError) as info:
        TanhNormal(c, c, low=-math.inf, high=1.0)
    assert (info.value.function, info.value.argument) == ("TanhNormal", "low")
    assert "must be finite" in str(info.value)


# --------------------------------------------------------------------------------------
# TanhNormal scaled to the environment's bounds


@values
@given(
    batch=batch_shapes,
    act=st.integers(1, 3),
    sample=sample_shapes,
    seed=seeds,
    kind=st.sampled_from(["scalar", "vector", "numpy"]),
)
def test_scaled_tanh_normal_matches_torch_tanh_then_affine(
    batch: tuple[int, ...], act: int, sample: tuple[int, ...], seed: int, kind: str
) -> None:
    g = gen(seed)
    loc = torch.randn(*batch, act, generator=g)
    scale = torch.rand(*batch, act, generator=g) + 0.2
    low, high = bounds_for(act, g, "vector" if kind == "numpy" else kind)
    given_low, given_high = (
        (low.numpy(), high.numpy()) if kind == "numpy" else (low, high)  # type: ignore[union-attr]
    )
    d = TanhNormal(loc, scale, low=given_low, high=given_high)
    lo, hi = torch.as_tensor(low).expand(act), torch.as_tensor(high).expand(act)  # see Beta
    center, half = (hi + lo) / 2, (hi - lo) / 2
    ref = td.TransformedDistribution(
        td.Independent(td.Normal(loc, scale, validate_args=False), 1),
        [TanhTransform(), AffineTransform(center, half, event_dim=1)],
        validate_args=False,
    )
    assert (d.batch_shape, d.event_shape) == (batch, (act,))
    a = center + half * (torch.rand(*sample, *batch, act, generator=g) * 1.8 - 0.9)
    if a.numel():  # torch's Independent cannot sum over a 0-size batch
        torch.testing.assert_close(d.log_prob(a), ref.log_prob(a), rtol=1e-4, atol=1e-4)
    else:
        assert d.log_prob(a).shape == (*sample, *batch)
    torch.testing.assert_close(d.mode, center + half * torch.tanh(loc))
    draw = d.rsample(sample)
    assert draw.shape == (*sample, *batch, act)
    assert bool(((draw >= lo) & (draw <= hi)).all())
    assert bool(d.log_prob(draw).isfinite().all())
    # exactly at the bounds: finite (torch's transform gives inf or NaN there)
    edge = torch.where(torch.rand(*batch, act, generator=g) > 0.5, hi, lo)
    assert bool(d.log_prob(edge.expand(*batch, act)).isfinite().all())


@values
def test_scaled_tanh_normal_reuses_the_pre_tanh_value_of_its_draw() -> None:
    loc, scale = torch.full((3, 2), 4.0), torch.full((3, 2), 2.0)  # saturating draws
    d = TanhNormal(loc, scale, low=torch.tensor([-2.0, 0.0]), high=torch.tensor([2.0, 10.0]))
    torch.manual_seed(0)
    a = d.rsample()
    torch.manual_seed(0)
    x = td.Normal(loc, scale).rsample()
    ref = td.Independent(td.Normal(loc, scale), 1).log_prob(x)
    ref = ref - (2 * (math.log(2) - x - torch.nn.functional.softplus(-2 * x))).sum(-1)
    ref = ref - torch.log(torch.tensor([2.0, 5.0])).sum()
    torch.testing.assert_close(d.log_prob(a), ref)


@values
def test_unit_bounds_give_the_plain_tanh_normal() -> None:
    g = gen(5)
    loc, scale = torch.randn(4, 3, generator=g), torch.rand(4, 3, generator=g) + 0.1
    a = torch.rand(4, 3, generator=g) * 2 - 1
    torch.testing.assert_close(
        TanhNormal(loc, scale, low=-1.0, high=1.0).log_prob(a), TanhNormal(loc, scale).log_prob(a)
    )


def test_scaled_tanh_normal_refuses_values_outside_the_bounds() -> None:
    d = TanhNormal(torch.zeros(3, 2), torch.ones(3, 2), low=0.0, high=4.0)
    with pytest.raises(UsageError) as info:
        d.log_prob(torch.full((3, 2), -1.0))
    assert (info.value.function, info.value.argument) == ("TanhNormal.log_prob", "value")
    assert "environment's units" in str(info.value)
    with pytest.raises(ShapeError):
        d.log_prob(torch.zeros(3))


# --------------------------------------------------------------------------------------
# size-0 batches (checks on: plain torch's validation cannot reshape them)


@pytest.mark.parametrize("batch", [(0,), (2, 0)])
def test_size_zero_batches(batch: tuple[int, ...]) -> None:
    logits, ones = torch.zeros(*batch, 5), torch.ones(*batch, 2)
    mask = torch.ones(*batch, 5, dtype=torch.bool)
    cat = Categorical(logits=logits, mask=mask)
    multi = MultiCategorical(logits, nvec=[3, 2], mask=mask)
    beta = Beta(ones, ones, low=-1.0, high=torch.tensor([1.0, 2.0]))
    tanh = TanhNormal(ones, ones, low=-1.0, high=torch.tensor([1.0, 2.0]))
    for d in (cat, multi, beta, tanh):
        assert d.batch_shape == batch
        draw = d.sample((3,))
        assert draw.shape == (3, *batch, *d.event_shape)
        assert d.log_prob(draw).shape == (3, *batch)
        assert d.mode.shape == (*batch, *d.event_shape)
    for d in (cat, multi, beta):
        assert d.entropy().shape == batch


# --------------------------------------------------------------------------------------
# annotations, and short learning runs


def test_dist_annotations_bind_the_new_classes() -> None:
    @check
    def heads(
        obs: Float[Tensor, "batch obs"],
    ) -> tuple[Dist[MultiCategorical, "batch", "dims"], Dist[Beta, "batch", "act"]]:
        n = obs.shape[0]
        return (
            MultiCategorical(torch.zeros(n, 5), nvec=[3, 2]),
            Beta(torch.ones(n, 4), torch.ones(n, 4)),
        )

    multi, beta = heads(torch.zeros(7, 3))
    assert (multi.batch_shape, beta.event_shape) == ((7,), (4,))

    @check
    def wrong(obs: Float[Tensor, "batch obs"]) -> Dist[Beta, "batch", "act"]:
        return Beta(torch.ones(obs.shape[0] + 1, 2), torch.ones(obs.shape[0] + 1, 2))

    with pytest.raises(ShapesafeError) as info:
        wrong(torch.zeros(7, 3))
    assert isinstance(info.value, ShapeError)
    assert info.value.argument == "return value"


@values
def test_policy_gradient_with_a_mask_learns_the_best_legal_action() -> None:
    # a 5-armed bandit whose best arm (4) is illegal: REINFORCE must settle on arm 2
    torch.manual_seed(0)
    rewards = torch.tensor([0.1, 0.2, 0.6, 0.3, 1.0])
    mask = torch.tensor([True, True, True, True, False]).expand(64, 5)
    logits = torch.zeros(5, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.1)
    for _ in range(150):
        pi = Categorical(logits=logits.expand(64, 5), mask=mask)
        a = pi.sample()
        assert not bool((a == 4).any())  # never drawn
        loss = -(pi.log_prob(a) * (rewards[a] - rewards[a].mean())).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    final = Categorical(logits=logits.detach()[None], mask=mask[:1])
    assert float(final.probs[0, 2]) > 0.9
    assert int(final.mode[0]) == 2


@values
def test_maximum_likelihood_recovers_a_bounded_beta() -> None:
    torch.manual_seed(0)
    low, high = torch.tensor([-2.0, 0.0]), torch.tensor([2.0, 1.0])
    truth = Beta(torch.tensor([2.0, 5.0]), torch.tensor([4.0, 1.5]), low=low, high=high)
    data = truth.sample((512,))
    raw = torch.zeros(2, 2, requires_grad=True)
    opt = torch.optim.Adam([raw], lr=0.05)
    for _ in range(300):
        c = torch.nn.functional.softplus(raw) + 1e-3
        nll = -Beta(c[0], c[1], low=low, high=high).log_prob(data).mean()
        opt.zero_grad()
        nll.backward()
        opt.step()
    fitted = Beta(*(torch.nn.functional.softplus(raw.detach()) + 1e-3), low=low, high=high)
    torch.testing.assert_close(fitted.mean, truth.mean, atol=0.1, rtol=0)  # width 4 and 1
    torch.testing.assert_close(fitted.concentration1, truth.concentration1, atol=0.6, rtol=0)
