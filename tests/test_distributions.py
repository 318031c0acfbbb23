"""shapesafe.distributions: values equal torch.distributions', shapes cannot broadcast."""

from __future__ import annotations

import copy
import math
import pickle
import typing

import pytest
import torch
import torch.distributions as td
from hypothesis import given
from hypothesis import strategies as st
from jaxtyping import Float
from torch import Tensor

from shapesafe import _config
from shapesafe._check import check
from shapesafe.distributions import (
    Bernoulli,
    Categorical,
    DiagNormal,
    Dist,
    DistSpec,
    GaussianMixture,
    MultivariateNormal,
    Normal,
    TanhNormal,
)
from shapesafe.errors import AnnotationError, DtypeError, ShapeError
from shapesafe.testing import (
    covariance_matrices,
    locs,
    logits,
    probabilities,
    probability_vectors,
    scale_trils,
    scales,
)

values = pytest.mark.values

batch_shapes = st.lists(st.integers(1, 4), max_size=2).map(tuple)
sample_shapes = st.lists(st.integers(1, 3), max_size=2).map(tuple)
sizes = st.integers(1, 4)


def same(a: Tensor, b: Tensor) -> None:
    """Bit-identical (same torch ops in the same order), NaN-aware."""
    assert a.shape == b.shape
    assert a.dtype == b.dtype
    torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)


@pytest.fixture
def checks_off() -> typing.Iterator[None]:
    with _config.enabled(False):
        yield


# --------------------------------------------------------------------------------------
# values: equal to torch.distributions on hypothesis-drawn parameters


@values
@given(data=st.data(), batch=batch_shapes, dim=sizes, sample=sample_shapes)
def test_diag_normal_matches_independent_normal(
    data: st.DataObject, batch: tuple[int, ...], dim: int, sample: tuple[int, ...]
) -> None:
    loc = data.draw(locs((*batch, dim)))
    scale = data.draw(scales((*batch, dim)))
    ours = DiagNormal(loc, scale)
    ref = td.Independent(td.Normal(loc, scale), 1)
    assert isinstance(ours, td.Independent) and isinstance(ours, td.Distribution)
    assert ours.batch_shape == ref.batch_shape == batch
    assert ours.event_shape == ref.event_shape == (dim,)
    value = data.draw(locs((*sample, *batch, dim)))
    same(ours.log_prob(value), ref.log_prob(value))
    same(ours.entropy(), ref.entropy())
    same(ours.mean, ref.mean)
    same(ours.variance, ref.variance)
    same(ours.stddev, scale)
    same(ours.loc, loc)
    same(ours.scale, scale)
    torch.manual_seed(0)
    a = ours.sample(sample)
    torch.manual_seed(0)
    same(a, ref.sample(sample))
    torch.manual_seed(1)
    b = ours.rsample(sample)
    torch.manual_seed(1)
    same(b, ref.rsample(sample))
    assert a.shape == (*sample, *batch, dim)


@values
@given(data=st.data(), batch=batch_shapes, sample=sample_shapes)
def test_normal_matches_torch(
    data: st.DataObject, batch: tuple[int, ...], sample: tuple[int, ...]
) -> None:
    loc = data.draw(locs(batch))
    scale = data.draw(scales(batch))
    ours, ref = Normal(loc, scale), td.Normal(loc, scale)
    assert ours.batch_shape == batch and ours.event_shape == ()
    value = data.draw(locs((*sample, *batch)))
    same(ours.log_prob(value), ref.log_prob(value))
    same(ours.cdf(value), ref.cdf(value))
    p = data.draw(probabilities((*sample, *batch)))
    same(ours.icdf(p), ref.icdf(p))
    same(ours.entropy(), ref.entropy())
    torch.manual_seed(3)
    a = ours.rsample(sample)
    torch.manual_seed(3)
    same(a, ref.rsample(sample))


@values
def test_normal_accepts_python_numbers_like_torch() -> None:
    ours, ref = Normal(0.0, 2.0), td.Normal(0.0, 2.0)
    assert ours.batch_shape == ref.batch_shape == ()
    same(ours.log_prob(torch.tensor(0.5)), ref.log_prob(torch.tensor(0.5)))
    d = DiagNormal(torch.zeros(3), 0.5)
    same(
        d.log_prob(torch.ones(3)),
        td.Independent(td.Normal(torch.zeros(3), 0.5), 1).log_prob(torch.ones(3)),
    )


@values
@given(data=st.data(), batch=batch_shapes, dim=sizes, kind=st.sampled_from(["cov", "prec", "tril"]))
def test_multivariate_normal_matches_torch(
    data: st.DataObject, batch: tuple[int, ...], dim: int, kind: str
) -> None:
    loc = data.draw(locs((*batch, dim)))
    if kind == "tril":
        kw = {"scale_tril": data.draw(scale_trils(batch, dim))}
    else:
        name = "covariance_matrix" if kind == "cov" else "precision_matrix"
        kw = {name: data.draw(covariance_matrices(batch, dim))}
    ours = MultivariateNormal(loc, **kw)
    ref = td.MultivariateNormal(loc, **kw)
    assert ours.batch_shape == batch and ours.event_shape == (dim,)
    value = data.draw(locs((2, *batch, dim)))
    same(ours.log_prob(value), ref.log_prob(value))
    same(ours.entropy(), ref.entropy())
    torch.manual_seed(4)
    a = ours.rsample((3,))
    torch.manual_seed(4)
    same(a, ref.rsample((3,)))
    same(td.kl_divergence(ours, ours), td.kl_divergence(ref, ref))


@values
@given(data=st.data(), batch=batch_shapes, k=sizes, use_probs=st.booleans())
def test_categorical_matches_torch(
    data: st.DataObject, batch: tuple[int, ...], k: int, use_probs: bool
) -> None:
    if use_probs:
        p = data.draw(probability_vectors((*batch, k)))
        ours, ref = Categorical(probs=p), td.Categorical(probs=p)
    else:
        lg = data.draw(logits((*batch, k)))
        ours, ref = Categorical(logits=lg), td.Categorical(logits=lg)
    assert ours.batch_shape == batch and ours.event_shape == ()
    value = data.draw(st.integers(0, k - 1).map(lambda i: torch.full((2, *batch), i)))
    same(ours.log_prob(value), ref.log_prob(value))
    same(ours.entropy(), ref.entropy())
    same(ours.probs, ref.probs)
    same(td.kl_divergence(ours, ref), td.kl_divergence(ref, ref))
    torch.manual_seed(5)
    a = ours.sample((3,))
    torch.manual_seed(5)
    same(a, ref.sample((3,)))


@values
@given(data=st.data(), batch=batch_shapes, use_probs=st.booleans())
def test_bernoulli_matches_torch(
    data: st.DataObject, batch: tuple[int, ...], use_probs: bool
) -> None:
    if use_probs:
        p = data.draw(probabilities(batch))
        ours, ref = Bernoulli(probs=p), td.Bernoulli(probs=p)
    else:
        lg = data.draw(logits(batch))
        ours, ref = Bernoulli(logits=lg), td.Bernoulli(logits=lg)
    assert ours.batch_shape == batch
    value = torch.randint(0, 2, (3, *batch)).float()
    same(ours.log_prob(value), ref.log_prob(value))
    same(ours.entropy(), ref.entropy())
    same(td.kl_divergence(ours, ref), td.kl_divergence(ref, ref))


@values
@given(data=st.data(), batch=batch_shapes, k=sizes, dim=sizes)
def test_gaussian_mixture_matches_mixture_same_family(
    data: st.DataObject, batch: tuple[int, ...], k: int, dim: int
) -> None:
    lg = data.draw(logits((*batch, k)))
    mu = data.draw(locs((*batch, k, dim)))
    sd = data.draw(scales((*batch, k, dim)))
    ours = GaussianMixture(lg, mu, sd)
    ref = td.MixtureSameFamily(td.Categorical(logits=lg), td.Independent(td.Normal(mu, sd), 1))
    assert isinstance(ours, td.MixtureSameFamily)
    assert ours.batch_shape == batch and ours.event_shape == (dim,)
    value = data.draw(locs((2, *batch, dim)))
    same(ours.log_prob(value), ref.log_prob(value))
    same(ours.mean, ref.mean)
    same(ours.variance, ref.variance)
    same(ours.locs, mu)
    same(ours.scales, sd)
    same(ours.logits, ref.mixture_distribution.logits)
    torch.manual_seed(6)
    a = ours.sample((3,))
    torch.manual_seed(6)
    same(a, ref.sample((3,)))


@values
@given(data=st.data(), batch=batch_shapes, dim=sizes)
def test_tanh_normal_matches_transformed_distribution(
    data: st.DataObject, batch: tuple[int, ...], dim: int
) -> None:
    loc = data.draw(locs((*batch, dim), bound=2.0))
    scale = data.draw(scales((*batch, dim), max_value=2.0))
    ours = TanhNormal(loc, scale)
    ref = td.TransformedDistribution(
        td.Independent(td.Normal(loc, scale), 1), [td.transforms.TanhTransform(cache_size=1)]
    )
    assert ours.batch_shape == batch and ours.event_shape == (dim,)
    torch.manual_seed(7)
    a = ours.rsample((2,))
    torch.manual_seed(7)
    b = ref.rsample((2,))
    same(a, b)
    same(ours.log_prob(a), ref.log_prob(b))
    same(ours.mode, torch.tanh(loc))
    same(ours.loc, loc)
    same(ours.scale, scale)


@values
@given(data=st.data(), dim=sizes)
def test_tanh_normal_log_det_jacobian_is_correct(data: st.DataObject, dim: int) -> None:
    # change of variables, checked against autograd's Jacobian of tanh (float64)
    loc = data.draw(locs((dim,), bound=1.5, dtype=torch.float64))
    scale = data.draw(scales((dim,), max_value=1.0, dtype=torch.float64))
    x = data.draw(locs((dim,), bound=3.0, dtype=torch.float64))
    y = torch.tanh(x)
    jac = torch.autograd.functional.jacobian(torch.tanh, x)
    expected = td.Independent(td.Normal(loc, scale), 1).log_prob(x) - torch.logdet(jac)
    got = TanhNormal(loc, scale).log_prob(y)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


@values
def test_sample_moments_match_parameters() -> None:
    torch.manual_seed(0)
    n = 20000
    loc, scale = torch.tensor([[0.5, -1.0], [2.0, 0.0]]), torch.tensor([[1.0, 0.5], [0.2, 3.0]])
    x = DiagNormal(loc, scale).sample((n,))
    assert x.shape == (n, 2, 2)
    torch.testing.assert_close(x.mean(0), loc, atol=4 * 3.0 / math.sqrt(n), rtol=0)
    torch.testing.assert_close(x.std(0), scale, rtol=0.03, atol=0)

    cov = torch.tensor([[1.0, 0.8], [0.8, 2.0]])
    y = MultivariateNormal(torch.zeros(2), cov).sample((n,))
    torch.testing.assert_close(torch.cov(y.T), cov, atol=0.06, rtol=0)

    p = torch.tensor([0.1, 0.2, 0.7])
    c = Categorical(probs=p).sample((n,))
    torch.testing.assert_close(torch.bincount(c, minlength=3).float() / n, p, atol=0.015, rtol=0)

    b = Bernoulli(probs=torch.tensor([0.3, 0.9])).sample((n,))
    torch.testing.assert_close(b.mean(0), torch.tensor([0.3, 0.9]), atol=0.015, rtol=0)

    m = GaussianMixture(torch.tensor([0.0, 1.0]), torch.tensor([[-2.0], [3.0]]), torch.ones(2, 1))
    z = m.sample((n,))
    torch.testing.assert_close(z.mean(0), m.mean, atol=0.06, rtol=0)
    torch.testing.assert_close(z.var(0), m.variance, rtol=0.05, atol=0)

    t = TanhNormal(torch.tensor([0.3]), torch.tensor([0.5])).sample((n,))
    assert bool((t.abs() < 1).all())
    ref = torch.tanh(0.3 + 0.5 * torch.randn(n, 1))
    torch.testing.assert_close(t.mean(0), ref.mean(0), atol=0.02, rtol=0)


@values
def test_kl_divergence_and_gradients_work() -> None:
    loc = torch.zeros(4, 3, requires_grad=True)
    p = DiagNormal(loc, torch.ones(4, 3))
    q = DiagNormal(torch.ones(4, 3), 2 * torch.ones(4, 3))
    ref = td.kl_divergence(
        td.Independent(td.Normal(torch.zeros(4, 3), torch.ones(4, 3)), 1),
        td.Independent(td.Normal(torch.ones(4, 3), 2 * torch.ones(4, 3)), 1),
    )
    same(td.kl_divergence(p, q).detach(), ref)
    same(
        td.kl_divergence(
            Normal(torch.zeros(3), torch.ones(3)), Normal(torch.ones(3), torch.ones(3))
        ),
        td.kl_divergence(
            td.Normal(torch.zeros(3), torch.ones(3)), td.Normal(torch.ones(3), torch.ones(3))
        ),
    )
    p.rsample((2,)).sum().backward()
    assert loc.grad is not None and loc.grad.shape == (4, 3)


@values
@given(batch_shapes, sizes, st.data())
def test_kl_divergence_matches_torch_for_every_class(
    batch: tuple[int, ...], k: int, data: st.DataObject
) -> None:
    lp, lq = data.draw(locs((*batch, k))), data.draw(locs((*batch, k)))
    sp, sq = data.draw(scales((*batch, k))), data.draw(scales((*batch, k)))
    gp, gq = data.draw(logits((*batch, k))), data.draw(logits((*batch, k)))
    cp, cq = data.draw(covariance_matrices(batch, k)), data.draw(covariance_matrices(batch, k))
    pairs = [
        (Normal(lp, sp), Normal(lq, sq), td.Normal(lp, sp), td.Normal(lq, sq)),
        (
            DiagNormal(lp, sp),
            DiagNormal(lq, sq),
            td.Independent(td.Normal(lp, sp), 1),
            td.Independent(td.Normal(lq, sq), 1),
        ),
        (
            MultivariateNormal(lp, cp),
            MultivariateNormal(lq, cq),
            td.MultivariateNormal(lp, cp),
            td.MultivariateNormal(lq, cq),
        ),
        (
            Categorical(logits=gp),
            Categorical(logits=gq),
            td.Categorical(logits=gp),
            td.Categorical(logits=gq),
        ),
        (
            Bernoulli(logits=gp),
            Bernoulli(logits=gq),
            td.Bernoulli(logits=gp),
            td.Bernoulli(logits=gq),
        ),
    ]
    for p, q, ref_p, ref_q in pairs:
        same(td.kl_divergence(p, q), td.kl_divergence(ref_p, ref_q))


def test_kl_divergence_refuses_broadcasting_batch_shapes() -> None:
    p = Normal(torch.zeros(4), torch.ones(4))
    q = Normal(torch.zeros(4, 1), torch.ones(4, 1))
    assert td.kl_divergence(td.Normal(p.loc, p.scale), td.Normal(q.loc, q.scale)).shape == (4, 4)
    with pytest.raises(
        ShapeError,
        match=(
            r"kl_divergence\(\): `p` has batch_shape \(4,\) but `q` has batch_shape \(4, 1\); "
            r"they must be equal \(plain torch would broadcast them to a KL of shape \(4, 4\)\)"
            r"\n  hint: `q`'s parameters have a trailing axis of size 1; squeeze them"
        ),
    ):
        td.kl_divergence(p, q)
    with pytest.raises(ShapeError, match=r"hint: `p`'s parameters have a trailing axis of size 1"):
        td.kl_divergence(q, p)
    small = DiagNormal(torch.zeros(3, 2), torch.ones(3, 2))
    big = DiagNormal(torch.zeros(4, 2), torch.ones(4, 2))
    with pytest.raises(
        ShapeError,
        match=r"batch_shape \(3,\) but `q` has batch_shape \(4,\); they must be equal\n  hint: "
        r"build both from the same minibatch",
    ):
        td.kl_divergence(small, big)
    with pytest.raises(
        ShapeError,
        match=r"`p` has event_shape \(2,\) but `q` has event_shape \(3,\).*\n  hint: both "
        r"distributions must be over the same space",
    ):
        td.kl_divergence(big, DiagNormal(torch.zeros(4, 3), torch.ones(4, 3)))
    with pytest.raises(
        ShapeError, match=r"`p` has batch_shape \(4,\) but `q` has batch_shape \(1,\)"
    ):
        td.kl_divergence(
            Categorical(logits=torch.zeros(4, 3)), Categorical(logits=torch.zeros(1, 3))
        )
    # a prior with batch_shape () is shared by the whole batch, like a scalar parameter
    prior = DiagNormal(torch.zeros(2), torch.ones(2))
    assert td.kl_divergence(big, prior).shape == (4,)
    assert td.kl_divergence(big, big.expand((4,))).shape == (4,)
    assert td.kl_divergence(small, prior.expand((3,))).shape == (3,)


def test_kl_divergence_checks_off_broadcasts_like_torch(checks_off: None) -> None:
    p = Normal(torch.zeros(4), torch.ones(4))
    q = Normal(torch.zeros(4, 1), torch.ones(4, 1))
    assert td.kl_divergence(p, q).shape == (4, 4)


@values
def test_expand_keeps_the_class_and_matches_torch() -> None:
    loc, scale = torch.randn(3, 2), torch.rand(3, 2) + 0.1
    cases = [
        (DiagNormal(loc, scale), td.Independent(td.Normal(loc, scale), 1)),
        (Normal(loc, scale), td.Normal(loc, scale)),
        (Categorical(logits=loc), td.Categorical(logits=loc)),
        (Bernoulli(logits=loc), td.Bernoulli(logits=loc)),
        (TanhNormal(loc, scale), None),
        (MultivariateNormal(loc, scale_tril=torch.eye(2).expand(3, 2, 2)), None),
        (GaussianMixture(loc, loc[..., None], scale[..., None]), None),
    ]
    for ours, ref in cases:
        big = ours.expand((5, *ours.batch_shape))
        assert type(big) is type(ours)
        assert big.batch_shape == (5, *ours.batch_shape) and big.event_shape == ours.event_shape
        value = big.sample()
        assert big.log_prob(value).shape == big.batch_shape
        if ref is not None:
            same(big.log_prob(value), ref.expand((5, *ours.batch_shape)).log_prob(value))


@values
def test_copy_and_pickle_round_trip() -> None:
    d = DiagNormal(torch.zeros(2, 3), torch.ones(2, 3))
    for other in (copy.deepcopy(d), pickle.loads(pickle.dumps(d))):
        assert isinstance(other, DiagNormal)
        same(other.log_prob(torch.ones(2, 3)), d.log_prob(torch.ones(2, 3)))


@values
def test_broadcast_true_gives_torch_broadcasting() -> None:
    loc, log_std = torch.randn(64, 6), torch.zeros(6)
    ours = DiagNormal(loc, log_std.exp(), broadcast=True)
    ref = td.Independent(td.Normal(loc, log_std.exp()), 1)
    a = torch.randn(64, 6)
    same(ours.log_prob(a), ref.log_prob(a))
    mean, cov = torch.zeros(2), torch.eye(2).expand(3, 2, 2)
    g = MultivariateNormal(mean, cov, broadcast=True)
    assert g.batch_shape == (3,) and g.event_shape == (2,) and g.sample((5,)).shape == (5, 3, 2)
    m = GaussianMixture(torch.zeros(3), torch.randn(8, 3, 2), torch.ones(3, 2), broadcast=True)
    assert m.batch_shape == (8,) and m.log_prob(torch.zeros(8, 2)).shape == (8,)
    m2 = GaussianMixture(torch.zeros(4, 3), torch.randn(3, 2), 1.0, broadcast=True)
    assert m2.batch_shape == (4,)


@values
def test_validate_args_false_skips_value_checks_like_torch() -> None:
    # torch accepts a negative scale when asked not to validate; so do we
    d = DiagNormal(torch.zeros(3), -torch.ones(3), validate_args=False)
    ref = td.Independent(td.Normal(torch.zeros(3), -torch.ones(3), validate_args=False), 1)
    same(d.log_prob(torch.ones(3)), ref.log_prob(torch.ones(3)))
    bad = torch.tensor([-1.0, 2.0])
    same(
        Categorical(bad, validate_args=False).probs, td.Categorical(bad, validate_args=False).probs
    )


# --------------------------------------------------------------------------------------
# log_prob shape errors


@given(
    batch=batch_shapes,
    event=st.lists(st.integers(1, 4), max_size=1).map(tuple),
    shape=st.lists(st.integers(1, 4), max_size=4).map(tuple),
)
def test_log_prob_accepts_exactly_sample_plus_batch_plus_event(
    batch: tuple[int, ...], event: tuple[int, ...], shape: tuple[int, ...]
) -> None:
    full = (*batch, *event)
    d = (
        DiagNormal(torch.zeros(full), torch.ones(full))
        if event
        else Normal(torch.zeros(batch), torch.ones(batch))
    )
    value = torch.zeros(shape)
    ok = len(shape) >= len(full) and shape[len(shape) - len(full) :] == full
    if ok:
        assert d.log_prob(value).shape == shape[: len(shape) - len(event)]
    else:
        with pytest.raises(
            ShapeError, match=r"(?s)argument `value`.*\n  expected shape \(\*sample_shape"
        ):
            d.log_prob(value)


def test_trailing_one_for_scalar_event_is_the_classic_trap() -> None:
    pi = Normal(torch.zeros(64), torch.ones(64))
    with pytest.raises(ShapeError) as info:
        pi.log_prob(torch.zeros(64, 1))
    msg = str(info.value)
    assert msg.startswith(
        "Normal.log_prob(): argument `value` axis 1 (batch axis 0): expected size 64, got 1"
    )
    assert (
        "expected shape (*sample_shape, 64) = sample_shape + batch_shape (64,) + event_shape ()"
        in msg
    )
    assert "got shape (64, 1)" in msg
    assert "would broadcast and return a log_prob of shape (64, 64)" in msg
    assert "actions of shape (B, 1) for a scalar-event distribution? Use value.squeeze(-1)." in msg
    err = info.value
    assert (err.function, err.argument, err.axis) == ("Normal.log_prob", "value", 1)
    assert (err.expected, err.got) == ("(*sample_shape, 64)", "(64, 1)")
    # the same trap with a Categorical
    with pytest.raises(ShapeError, match=r"(?s)Categorical.*trailing axis of size 1"):
        Categorical(logits=torch.zeros(64, 4)).log_prob(torch.zeros(64, 1, dtype=torch.long))


@pytest.mark.parametrize(
    ("value_shape", "pattern"),
    [
        (
            (64,),
            r"has 1 axis \(64,\), but this DiagNormal needs at least 2.*lacks the event axes \(6,\)",
        ),
        (
            (64, 6, 1),
            r"axis 2 \(event axis 0\): expected size 6, got 1.*extra trailing axis of size 1",
        ),
        ((6,), r"has 1 axis.*only the event shape \(6,\).*value.expand\(64, 6\)"),
        ((6, 64), r"axis 1 \(event axis 0\).*transposed\?"),
        (
            (64, 5, 6),
            r"axis 1 \(batch axis 0\).*axis 1 of `value` looks like a sample axis.*movedim\(1, 0\)",
        ),
        ((32, 6), r"axis 0 \(batch axis 0\): expected size 64, got 32.*batch sizes differ"),
        ((64, 4), r"axis 1 \(event axis 0\): expected size 6, got 4.*event sizes differ"),
    ],
)
def test_log_prob_hints(value_shape: tuple[int, ...], pattern: str) -> None:
    pi = DiagNormal(torch.zeros(64, 6), torch.ones(64, 6))
    with pytest.raises(
        ShapeError, match=f"(?s)^DiagNormal.log_prob\\(\\): argument `value` {pattern}"
    ):
        pi.log_prob(torch.zeros(value_shape))


def test_log_prob_without_a_likely_fix_has_no_hint() -> None:
    pi = DiagNormal(torch.zeros(64, 6), torch.ones(64, 6))
    with pytest.raises(ShapeError, match=r"got shape \(32, 4\)$"):
        pi.log_prob(torch.zeros(32, 4))


def test_event_of_size_one_missing() -> None:
    pi = DiagNormal(torch.zeros(8, 1), torch.ones(8, 1))
    with pytest.raises(
        ShapeError, match=r"lacks the event axis of size 1; use value.unsqueeze\(-1\)"
    ):
        pi.log_prob(torch.zeros(8))


def test_categorical_value_checks() -> None:
    pi = Categorical(logits=torch.zeros(64, 4))
    with pytest.raises(
        ShapeError, match=r"(?s)looks one-hot \(its last axis has size 4.*value.argmax\(-1\)"
    ):
        pi.log_prob(torch.zeros(64, 4, dtype=torch.long))
    with pytest.raises(
        DtypeError,
        match=r"Categorical.log_prob\(\): argument `value` has dtype torch.float32; expected integer class indices\n  hint: value.long\(\)",
    ):
        pi.log_prob(torch.zeros(64))
    with pytest.raises(
        ValueError,
        match=r"(?s)64 of 64 entries outside the support .*first: value\[0\] = 5.*\n  hint: class indices must lie in \[0, 3\]",
    ):
        pi.log_prob(torch.full((64,), 5))


def test_bernoulli_value_checks() -> None:
    b = Bernoulli(logits=torch.zeros(8))
    with pytest.raises(
        DtypeError,
        match=r"Bernoulli.log_prob\(\): argument `value` has dtype torch.int64; expected floats 0.0/1.0\n  hint: value.float\(\)",
    ):
        b.log_prob(torch.zeros(8, dtype=torch.long))
    with pytest.raises(
        ValueError, match=r"(?s)outside the support.*\n  hint: Bernoulli values are 0.0 or 1.0"
    ):
        b.log_prob(torch.full((8,), 0.5))


def test_support_hints_for_continuous_distributions() -> None:
    with pytest.raises(
        ValueError,
        match=r"(?s)DiagNormal.log_prob\(\): argument `value` has 1 of 2 entries outside the support.*first: value\[1\] = \[nan, 0.0\].*hint: NaN usually comes from upstream",
    ):
        DiagNormal(torch.zeros(2, 2), torch.ones(2, 2)).log_prob(
            torch.tensor([[0.0, 0.0], [math.nan, 0.0]])
        )
    with pytest.raises(
        ValueError, match=r"(?s)TanhNormal.log_prob\(\).*outside the support.*rescale actions"
    ):
        TanhNormal(torch.zeros(2), torch.ones(2)).log_prob(torch.tensor([0.5, 2.0]))
    for d in (
        Normal(torch.zeros(2), torch.ones(2)),
        MultivariateNormal(torch.zeros(2), torch.eye(2)),
        GaussianMixture(torch.zeros(2), torch.zeros(2, 1), torch.ones(2, 1)),
    ):
        value = torch.full(tuple(d.batch_shape + d.event_shape), math.nan)
        with pytest.raises(ValueError, match=rf"(?s){type(d).__name__}.log_prob\(\).*NaN usually"):
            d.log_prob(value)


def test_value_must_be_a_tensor() -> None:
    with pytest.raises(
        DtypeError,
        match=r"Normal.log_prob\(\): argument `value` must be a torch.Tensor, got float\n  hint: torch.as_tensor\(value\)",
    ):
        Normal(0.0, 1.0).log_prob(0.5)  # type: ignore[arg-type]


def test_cdf_and_icdf_are_checked() -> None:
    d = Normal(torch.zeros(5), torch.ones(5))
    with pytest.raises(ShapeError, match=r"^Normal.cdf\(\): argument `value` axis 1"):
        d.cdf(torch.zeros(5, 1))
    with pytest.raises(
        ShapeError, match=r"^Normal.icdf\(\): argument `value` axis 0 \(batch axis 0\)"
    ):
        d.icdf(torch.full((4,), 0.5))


def test_expanded_distribution_is_checked() -> None:
    d = DiagNormal(torch.zeros(3, 2), torch.ones(3, 2)).expand((4, 3))
    with pytest.raises(ShapeError, match=r"batch_shape \(4, 3\) \+ event_shape \(2,\)"):
        d.log_prob(torch.zeros(3, 2))


def test_result_shapes_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    d = DiagNormal(torch.zeros(3, 2), torch.ones(3, 2))
    import shapesafe.distributions as dists

    monkeypatch.setattr(dists, "_independent_log_prob", lambda self, v: torch.zeros(7))
    monkeypatch.setattr(td.Normal, "log_prob", lambda self, v: torch.zeros(7))
    monkeypatch.setattr(td.Independent, "sample", lambda self, s=(): torch.zeros(7))
    monkeypatch.setattr(td.Independent, "rsample", lambda self, s=(): torch.zeros(7))
    with pytest.raises(
        ShapeError,
        match=r"DiagNormal.log_prob\(\): return value has shape \(7,\), expected \(3,\) \(sample_shape \+ batch_shape\)\n  hint: this is a bug in the distribution class",
    ):
        d.log_prob(torch.zeros(3, 2))
    with pytest.raises(
        ShapeError,
        match=r"DiagNormal.sample\(\): return value has shape \(7,\), expected \(5, 3, 2\) \(sample_shape \+ batch_shape \+ event_shape\)",
    ):
        d.sample((5,))
    with pytest.raises(ShapeError, match=r"DiagNormal.rsample\(\): return value has shape \(7,\)"):
        d.rsample()
    with pytest.raises(
        ShapeError, match=r"^Normal.log_prob\(\): return value has shape \(7,\), expected \(2, 3\)"
    ):
        Normal(torch.zeros(3), torch.ones(3)).log_prob(torch.zeros(2, 3))


@given(
    a=st.lists(st.integers(1, 3), max_size=3).map(tuple),
    b=st.lists(st.integers(1, 3), max_size=3).map(tuple),
)
def test_broadcast_helper_agrees_with_torch(a: tuple[int, ...], b: tuple[int, ...]) -> None:
    from shapesafe.distributions import _broadcast_shapes

    try:
        expected: tuple[int, ...] | None = tuple(torch.broadcast_shapes(a, b))
    except RuntimeError:
        expected = None
    if expected is None:
        with pytest.raises(RuntimeError, match="cannot be broadcast together"):
            _broadcast_shapes(a, b)
    else:
        assert _broadcast_shapes(a, b) == expected


def test_checks_work_under_torch_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    # torch 2.13's dynamo leaks `validate_args=False` of a distribution built inside a
    # compiled function into the class default (plain torch too); restore it afterwards
    monkeypatch.setattr(td.Distribution, "_validate_args", td.Distribution._validate_args)

    def score(loc: Tensor, scale: Tensor, a: Tensor) -> Tensor:
        return DiagNormal(loc, scale, validate_args=False).log_prob(a)

    compiled = torch.compile(score, backend="eager")
    loc, scale, a = torch.randn(4, 3), torch.rand(4, 3) + 0.1, torch.randn(4, 3)
    same(compiled(loc, scale, a), score(loc, scale, a))
    with pytest.raises(
        ShapeError,
        match=r"(?s)DiagNormal.log_prob\(\): argument `value` axis 1 \(batch axis 0\).*movedim\(1, 0\)",
    ):
        compiled(loc, scale, torch.zeros(4, 1, 3))


# --------------------------------------------------------------------------------------
# constructor errors


@pytest.mark.parametrize("cls", [DiagNormal, TanhNormal])
def test_state_independent_scale_needs_broadcast_true(cls: type) -> None:
    name = cls.__name__
    with pytest.raises(
        ShapeError,
        match=rf"^{name}\(\): argument `scale` has shape \(6,\) but `loc` has shape \(64, 6\); they must be equal \(shapesafe does not broadcast parameters unless asked\)\n  hint: one `scale` shared across the leading axes\? pass broadcast=True \(or scale.expand\(64, 6\) yourself\)$",
    ):
        cls(torch.zeros(64, 6), torch.ones(6))


@pytest.mark.parametrize(
    ("loc_shape", "scale_shape", "pattern"),
    [
        (
            (64, 1),
            (64,),
            r"together they would broadcast to \(64, 64\), larger than either.*squeeze",
        ),
        (
            (64, 6),
            (64, 1),
            r"`scale` would be broadcast to \(64, 6\); if that is intended pass broadcast=True \(or scale.expand\(64, 6\)\)",
        ),
        ((6,), (64, 6), r"`loc` would be broadcast to \(64, 6\).*loc.expand\(64, 6\)"),
        ((3,), (4,), r"these shapes cannot be broadcast together either"),
    ],
)
def test_parameter_shape_mismatches(
    loc_shape: tuple[int, ...], scale_shape: tuple[int, ...], pattern: str
) -> None:
    with pytest.raises(
        ShapeError, match=rf"(?s)^DiagNormal\(\): argument `scale`.*hint: {pattern}"
    ):
        DiagNormal(torch.zeros(loc_shape), torch.ones(scale_shape))


def test_parameter_errors() -> None:
    with pytest.raises(
        ShapeError,
        match=r"cannot broadcast `loc` \(3,\), `scale` \(4,\) together \(broadcast=True was given\)",
    ):
        DiagNormal(torch.zeros(3), torch.ones(4), broadcast=True)
    with pytest.raises(
        ShapeError,
        match=r"(?s)DiagNormal\(\): `loc` and `scale` have shape \(\), but a DiagNormal needs at least one axis.*shapesafe.distributions.Normal",
    ):
        DiagNormal(torch.tensor(0.0), 1.0)
    with pytest.raises(
        DtypeError,
        match=r"DiagNormal\(\): argument `loc` has dtype torch.int64; expected a floating-point tensor\n  hint: convert it with loc.float\(\)",
    ):
        DiagNormal(torch.zeros(3, dtype=torch.long), torch.ones(3))
    with pytest.raises(
        DtypeError,
        match=r"Normal\(\): argument `scale` must be a torch.Tensor or a Python number, got list",
    ):
        Normal(torch.zeros(2), [1.0, 1.0])  # type: ignore[arg-type]
    with pytest.raises(
        ValueError,
        match=r"DiagNormal\(\): argument `scale` \(a standard deviation\) must be positive, but 1 of 4 entries are <= 0 \(first: scale\[1, 0\] = -0.5\)\n  hint: keep it positive by construction, e.g. scale=log_std.exp\(\)",
    ):
        DiagNormal(torch.zeros(2, 2), torch.tensor([[1.0, 1.0], [-0.5, 1.0]]))
    with pytest.raises(
        ValueError,
        match=r"Normal\(\): argument `scale` \(a standard deviation\) contains NaN: 1 of 2 entries, first at scale\[1\]\n  hint: NaN usually comes from upstream",
    ):
        Normal(torch.zeros(2), torch.tensor([1.0, math.nan]))
    with pytest.raises(
        ValueError,
        match=r"TanhNormal\(\): argument `loc` contains NaN: 1 of 2 entries, first at loc\[0\]",
    ):
        TanhNormal(torch.tensor([math.nan, 0.0]), torch.ones(2))
    with pytest.raises(ValueError, match=r"(?s)must be positive.*first: scale = 0\)"):
        Normal(torch.tensor(0.0), torch.tensor(0.0))


def test_multivariate_normal_errors() -> None:
    mean = torch.zeros(2)
    cov = torch.tensor([[[1, 0.8], [0.8, 2]], [[1, -0.2], [-0.2, 1]], [[4, 0.6], [0.6, 0.5]]])
    with pytest.raises(
        ShapeError,
        match=r"(?s)^MultivariateNormal\(\): argument `loc` has batch shape \(\) but `covariance_matrix` has batch shape \(3,\); they must be equal.*\n  hint: one `loc` shared across the leading axes\? pass broadcast=True \(or loc.expand\(3, 2\) yourself\)$",
    ):
        MultivariateNormal(mean, cov)
    with pytest.raises(
        ShapeError,
        match=r"(?s)`covariance_matrix` would be broadcast to \(4,\).*covariance_matrix.expand\(4, 2, 2\)",
    ):
        MultivariateNormal(torch.zeros(4, 2), torch.eye(2))
    with pytest.raises(
        ValueError,
        match=r"pass exactly one of covariance_matrix=, precision_matrix=, scale_tril= \(got: covariance_matrix, scale_tril\)",
    ):
        MultivariateNormal(mean, torch.eye(2), scale_tril=torch.eye(2))
    with pytest.raises(ValueError, match=r"\(got: none\)"):
        MultivariateNormal(mean)
    with pytest.raises(
        ShapeError, match=r"argument `loc` has shape \(\), but needs at least one axis"
    ):
        MultivariateNormal(torch.tensor(0.0), torch.eye(1))
    with pytest.raises(
        ShapeError,
        match=r"argument `covariance_matrix` has shape \(2, 3\); expected \(\*batch, D, D\) with square D x D matrices",
    ):
        MultivariateNormal(mean, torch.ones(2, 3))
    with pytest.raises(
        ShapeError,
        match=r"(?s)argument `covariance_matrix` has shape \(2,\).*\n  hint: for a diagonal covariance use torch.diag_embed\(covariance_matrix\)",
    ):
        MultivariateNormal(mean, torch.ones(2))
    with pytest.raises(
        ShapeError, match=r"argument `scale_tril` holds 3x3 matrices, but `loc` has event size 2"
    ):
        MultivariateNormal(mean, scale_tril=torch.eye(3))
    with pytest.raises(DtypeError, match=r"argument `loc` must be a torch.Tensor, got list"):
        MultivariateNormal([0.0, 0.0], torch.eye(2))  # type: ignore[arg-type]
    with pytest.raises(
        ValueError,
        match=r"covariance_matrix\[1\] is not symmetric \(max \|M - M.T\| = 0.5\)\n  hint: symmetrize",
    ):
        MultivariateNormal(
            torch.zeros(2, 2), torch.stack([torch.eye(2), torch.tensor([[1.0, 0.5], [0.0, 1.0]])])
        )
    with pytest.raises(
        ValueError,
        match=r"`precision_matrix`: precision_matrix is not positive definite \(smallest eigenvalue -1\)",
    ):
        MultivariateNormal(mean, precision_matrix=torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
    with pytest.raises(ValueError, match=r"scale_tril\[0\] has nonzero entries above the diagonal"):
        MultivariateNormal(torch.zeros(1, 2), scale_tril=torch.ones(1, 2, 2))
    with pytest.raises(
        ValueError, match=r"scale_tril has diagonal \[1.0, -1.0\]; the diagonal must be positive"
    ):
        MultivariateNormal(mean, scale_tril=torch.tensor([[1.0, 0.0], [0.5, -1.0]]))
    with pytest.raises(ValueError, match=r"argument `loc` contains NaN"):
        MultivariateNormal(torch.tensor([math.nan, 0.0]), torch.eye(2))


def test_categorical_errors() -> None:
    with pytest.raises(
        ValueError,
        match=r"Categorical\(\): pass exactly one of probs= or logits= \(got both\)\n  hint: a network's raw output is logits: Categorical\(logits=net\(obs\)\)",
    ):
        Categorical(torch.ones(3), torch.ones(3))
    with pytest.raises(ValueError, match=r"\(got neither\)"):
        Categorical()
    with pytest.raises(
        ShapeError,
        match=r"argument `logits` has shape \(\); expected \(\*batch, K\) with the category axis last",
    ):
        Categorical(logits=torch.tensor(0.0))
    with pytest.raises(
        DtypeError, match=r"Categorical\(\): argument `logits` has dtype torch.int64"
    ):
        Categorical(logits=torch.zeros(3, dtype=torch.long))
    with pytest.raises(
        ValueError,
        match=r"argument `probs` has negative entries \(first: probs\[0, 1\] = -0.5\); probabilities must be >= 0\n  hint: is this a network output\? Those are logits",
    ):
        Categorical(torch.tensor([[0.5, -0.5, 1.0]]))
    with pytest.raises(ValueError, match=r"argument `probs` contains NaN \(first at probs\[1\]\)"):
        Categorical(torch.tensor([0.5, math.nan]))
    with pytest.raises(ValueError, match=r"row probs\[1\] sums to 0, so it cannot be normalized"):
        Categorical(torch.tensor([[0.5, 0.5], [0.0, 0.0]]))
    with pytest.raises(
        ValueError, match=r"argument `logits` contains NaN \(first at logits\[0\]\)"
    ):
        Categorical(logits=torch.tensor([math.nan, 0.0]))
    with pytest.raises(
        ValueError,
        match=r"row logits\[0\] contains \+inf\n  hint: clamp the logits, or mask with -inf",
    ):
        Categorical(logits=torch.tensor([[math.inf, 0.0]]))
    with pytest.raises(
        ValueError, match=r"(?s)every entry of row logits\[1\] is -inf.*at least one action allowed"
    ):
        Categorical(logits=torch.tensor([[0.0, 1.0], [-math.inf, -math.inf]]))
    # masking some (not all) actions with -inf is fine
    masked = Categorical(logits=torch.tensor([[0.0, -math.inf]]))
    assert masked.log_prob(torch.tensor([0])).item() == 0.0


def test_bernoulli_errors() -> None:
    with pytest.raises(
        ValueError, match=r"Bernoulli\(\): pass exactly one of probs= or logits= \(got neither\)"
    ):
        Bernoulli()
    with pytest.raises(
        ValueError,
        match=r"Bernoulli\(\): argument `probs` must lie in \[0, 1\], but 1 of 2 entries do not \(first: probs\[1\] = 1.5\)\n  hint: is this a network output\?",
    ):
        Bernoulli(torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match=r"first: probs = -1\)"):
        Bernoulli(-1.0)
    with pytest.raises(ValueError, match=r"Bernoulli\(\): argument `logits` contains NaN"):
        Bernoulli(logits=torch.tensor([math.nan]))
    with pytest.raises(
        DtypeError,
        match=r"Bernoulli\(\): argument `probs` must be a torch.Tensor or a Python number, got str",
    ):
        Bernoulli("0.5")  # type: ignore[arg-type]


def test_gaussian_mixture_errors() -> None:
    with pytest.raises(
        ShapeError,
        match=r"GaussianMixture\(\): argument `logits` has shape \(\); expected \(\*batch, K\)",
    ):
        GaussianMixture(torch.tensor(0.0), torch.zeros(1, 2), torch.ones(1, 2))
    with pytest.raises(
        ShapeError,
        match=r"(?s)argument `locs` has shape \(3,\); expected \(\*batch, K, D\).*locs.unsqueeze\(-1\)",
    ):
        GaussianMixture(torch.zeros(3), torch.zeros(3), torch.ones(3))
    with pytest.raises(
        ShapeError,
        match=r"(?s)`logits` has 3 components \(its last axis, shape \(16, 3\)\) but `locs` has 4 \(axis -2 of \(16, 4, 2\)\).*transposed",
    ):
        GaussianMixture(torch.zeros(16, 3), torch.zeros(16, 4, 2), torch.ones(16, 4, 2))
    with pytest.raises(
        ShapeError,
        match=r"(?s)argument `locs` has batch shape \(8,\) but `logits` has batch shape \(\).*`logits` would be broadcast to \(8,\).*logits.expand\(8, 3\)",
    ):
        GaussianMixture(torch.zeros(3), torch.zeros(8, 3, 2), torch.ones(8, 3, 2))
    with pytest.raises(
        ShapeError, match=r"argument `scales` has shape \(3, 2\) but `locs` has shape \(8, 3, 2\)"
    ):
        GaussianMixture(torch.zeros(8, 3), torch.zeros(8, 3, 2), torch.ones(3, 2))
    with pytest.raises(
        ValueError, match=r"argument `scales` \(standard deviations\) must be positive"
    ):
        GaussianMixture(torch.zeros(3), torch.zeros(3, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"argument `locs` contains NaN"):
        GaussianMixture(torch.zeros(1), torch.full((1, 2), math.nan), torch.ones(1, 2))
    with pytest.raises(ValueError, match=r"argument `logits` contains NaN"):
        GaussianMixture(torch.tensor([math.nan]), torch.zeros(1, 2), torch.ones(1, 2))
    with pytest.raises(
        ShapeError, match=r"cannot broadcast `logits` \(4,\), `locs` \(5,\) together"
    ):
        GaussianMixture(torch.zeros(4, 3), torch.zeros(5, 3, 2), 1.0, broadcast=True)


# --------------------------------------------------------------------------------------
# with checks off: plain torch behaviour


@values
def test_checks_off_behaves_like_torch(checks_off: None) -> None:
    pi = Normal(torch.zeros(64), torch.ones(64))
    assert pi.log_prob(torch.zeros(64, 1)).shape == (64, 64)  # torch's silent broadcast
    d = DiagNormal(torch.zeros(64, 6), torch.ones(6))  # broadcasts like torch
    assert d.batch_shape == (64,)
    with pytest.raises(ValueError, match=r"Expected parameter scale"):
        DiagNormal(torch.zeros(3), -torch.ones(3))
    assert Categorical(logits=torch.zeros(4, 3)).log_prob(torch.zeros(4)).shape == (4,)


@values
def test_disabled_results_are_identical() -> None:
    loc, scale, a = torch.randn(8, 3), torch.rand(8, 3) + 0.1, torch.randn(8, 3)
    on = DiagNormal(loc, scale).log_prob(a)
    with _config.enabled(False):
        off = DiagNormal(loc, scale).log_prob(a)
    same(on, off)


# --------------------------------------------------------------------------------------
# describe / repr


def test_describe_and_repr() -> None:
    mean = torch.zeros(2)
    cov = torch.eye(2).expand(3, 2, 2)
    g = MultivariateNormal(mean, cov, broadcast=True)
    assert repr(g) == "MultivariateNormal(batch_shape=(3,), event_shape=(2,))"
    assert g.describe() == (
        "MultivariateNormal: batch_shape (3,), event_shape (2,)\n"
        "  parameters: loc (3, 2), covariance_matrix (3, 2, 2)\n"
        "  sample(sample_shape) -> (*sample_shape, 3, 2)\n"
        "  log_prob(value (*sample_shape, 3, 2)) -> (*sample_shape, 3)"
    )
    assert Categorical(logits=torch.zeros(5, 4)).describe().splitlines()[:2] == [
        "Categorical: batch_shape (5,), event_shape ()",
        "  parameters: logits (5, 4)",
    ]
    assert "parameters: probs (2,)" in Bernoulli(torch.tensor([0.5, 0.5])).describe()
    assert (
        "parameters: logits (2, 3), locs (2, 3, 1), scales (2, 3, 1)"
        in GaussianMixture(torch.zeros(2, 3), torch.zeros(2, 3, 1), torch.ones(2, 3, 1)).describe()
    )
    assert (
        "parameters: loc (4,), scale (4,)" in TanhNormal(torch.zeros(4), torch.ones(4)).describe()
    )
    assert "parameters: loc (), scale ()" in Normal(0.0, 1.0).describe()
    assert repr(Normal(0.0, 1.0)) == "Normal(batch_shape=(), event_shape=())"


# --------------------------------------------------------------------------------------
# annotations


def test_class_subscript_is_an_annotated_spec() -> None:
    hint = DiagNormal["batch", "act"]
    assert typing.get_origin(hint) is typing.Annotated
    base, spec = typing.get_args(hint)
    assert base is DiagNormal
    assert isinstance(spec, DistSpec)
    assert spec.__shapesafe_spec__() == (
        DiagNormal,
        (("batch_shape", "batch"), ("event_shape", "act")),
    )
    assert repr(spec) == "DiagNormal['batch', 'act']"
    assert Dist[DiagNormal, "batch", "act"] is hint  # cached, one object
    assert typing.get_args(Categorical["batch"])[1].__shapesafe_spec__()[1] == (
        ("batch_shape", "batch"),
        ("event_shape", ""),
    )
    # any torch distribution class works with Dist[...]
    assert typing.get_args(Dist[td.Normal, "b", ""])[1].cls is td.Normal
    assert typing.get_args(DiagNormal["*batch", "act"])[1].batch == "*batch"


def test_annotation_errors() -> None:
    with pytest.raises(
        AnnotationError,
        match=r"DiagNormal\['batch'\]: give the event dims too, e.g. DiagNormal\['batch', 'act'\]",
    ):
        DiagNormal["batch"]
    with pytest.raises(
        AnnotationError,
        match=r"DiagNormal\['b', 'x y'\]: a DiagNormal has 1 event dim\(s\), but 'x y' names 2",
    ):
        DiagNormal["b", "x y"]
    with pytest.raises(
        AnnotationError, match=r"Categorical\['b', 'k'\]: a Categorical has 0 event dim\(s\)"
    ):
        Categorical["b", "k"]
    with pytest.raises(AnnotationError, match=r"DiagNormal\[...\] takes one or two dim strings"):
        DiagNormal["b", "a", "c"]
    with pytest.raises(AnnotationError, match=r"(?s)takes one or two dim strings.*got \(3,\)"):
        DiagNormal[3]
    with pytest.raises(
        AnnotationError,
        match=r"Dist\[...\]: the first item must be a torch.distributions.Distribution subclass, got <class 'int'>",
    ):
        Dist[int, "b", ""]
    with pytest.raises(
        AnnotationError, match=r"Dist\[...\] takes a distribution class and dim strings"
    ):
        Dist[DiagNormal]
    with pytest.raises(TypeError, match=r"Dist is used in annotations only"):
        Dist()


def test_check_reads_distribution_return_annotations() -> None:
    @check
    def policy(
        obs: Float[Tensor, "batch obs"], act_dim: int, extra: int = 0
    ) -> DiagNormal["batch", "act"]:
        n = obs.shape[0] + extra
        return DiagNormal(torch.zeros(n, act_dim), torch.ones(n, act_dim))

    @check
    def discrete(obs: Float[Tensor, "batch obs"]) -> Dist[Categorical, "batch"]:
        return Categorical(logits=torch.zeros(4, 3))

    assert policy(torch.zeros(5, 3), 2).batch_shape == (5,)
    with pytest.raises(
        ShapeError,
        match=r"policy\(\): return value axis 0 \('batch'\): expected batch_shape batch=5 \(bound by `obs`\), got batch_shape 6",
    ):
        policy(torch.zeros(5, 3), 2, extra=1)
    with pytest.raises(ShapeError, match=r"discrete\(\): return value axis 0 \('batch'\)"):
        discrete(torch.zeros(5, 3))

    @check
    def wrong_type(obs: Float[Tensor, "batch obs"]) -> DiagNormal["batch", "act"]:
        return Categorical(logits=torch.zeros(5, 3))  # type: ignore[return-value]

    with pytest.raises(DtypeError, match=r"expected DiagNormal\['batch', 'act'\], got Categorical"):
        wrong_type(torch.zeros(5, 3))


# --------------------------------------------------------------------------------------
# the strategies themselves


@given(data=st.data(), batch=batch_shapes, dim=sizes)
def test_strategies_produce_valid_parameters(
    data: st.DataObject, batch: tuple[int, ...], dim: int
) -> None:
    s = data.draw(scales((*batch, dim), min_value=0.1, max_value=5.0))
    assert s.shape == (*batch, dim) and bool(((s >= 0.1) & (s <= 5.0)).all())
    p = data.draw(probability_vectors((*batch, dim)))
    assert bool((p > 0).all())
    torch.testing.assert_close(p.sum(-1), torch.ones(batch), atol=1e-6, rtol=0)
    c = data.draw(covariance_matrices(batch, dim, dtype=torch.float64))
    assert c.shape == (*batch, dim, dim) and torch.equal(c, c.mT)
    assert bool((torch.linalg.eigvalsh(c) >= 0.1 - 1e-9).all())
    lt = data.draw(scale_trils(st.just(batch), dim))
    assert torch.equal(lt, lt.tril()) and bool((lt.diagonal(dim1=-2, dim2=-1) > 0).all())
    q = data.draw(probabilities(batch))
    assert bool(((q > 0) & (q < 1)).all())
    assert data.draw(locs(dim)).shape == (dim,)


def test_strategy_argument_errors() -> None:
    with pytest.raises(
        ValueError, match=r"scales\(\): need 0 < min_value <= max_value, got 0.0 and 1.0"
    ):
        scales(3, min_value=0.0, max_value=1.0)
    with pytest.raises(ValueError, match=r"covariance_matrices\(\): jitter must be > 0, got 0"):
        covariance_matrices((), 2, jitter=0)
    with pytest.raises(ValueError, match=r"probability_vectors\(\): shape \(\) needs a last axis"):
        probability_vectors(())


@values
def test_inf_means_and_empty_batches_are_accepted_like_torch() -> None:
    # torch's `real` constraint allows +-inf (only NaN is invalid); so do we
    loc = torch.tensor([math.inf, -math.inf])
    assert Normal(loc, torch.ones(2)).batch_shape == td.Normal(loc, torch.ones(2)).batch_shape
    # (torch's Independent cannot score an empty batch, so only construction is compared)
    empty = DiagNormal(torch.zeros(0, 3), torch.ones(0, 3))
    assert empty.batch_shape == (0,) and Normal(torch.zeros(0), torch.ones(0)).batch_shape == (0,)
