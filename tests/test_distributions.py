"""shapesafe.distributions: values equal torch.distributions', shapes cannot broadcast."""

from __future__ import annotations

import copy
import math
import pickle
import typing

import pytest
import torch
import torch.distributions as td
from hypothesis import event, given, settings
from hypothesis import strategies as st
from jaxtyping import Float
from torch import Tensor

from shapesafe import _config, check
from shapesafe._format import fmt_shape
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
from shapesafe.distributions._shapes import broadcast_shapes
from shapesafe.errors import (
    AnnotationError,
    DtypeError,
    NonFiniteError,
    ShapeError,
    ShapesafeError,
    UsageError,
)
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
        with pytest.raises(ShapeError, match="sample_shape") as info:
            d.log_prob(value)
        err = info.value
        assert (err.function, err.argument) == (f"{type(d).__name__}.log_prob", "value")
        assert err.got == fmt_shape(shape)
        assert err.expected == "(" + ", ".join(["*sample_shape", *map(str, full)]) + ")"


def test_expanded_distribution_is_checked() -> None:
    d = DiagNormal(torch.zeros(3, 2), torch.ones(3, 2)).expand((4, 3))
    with pytest.raises(ShapeError, match=r"batch_shape \(4, 3\)") as info:
        d.log_prob(torch.zeros(3, 2))
    assert info.value.expected == "(*sample_shape, 4, 3, 2)"


def test_result_shapes_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    d = DiagNormal(torch.zeros(3, 2), torch.ones(3, 2))
    monkeypatch.setattr(td.Independent, "log_prob", lambda self, v: torch.zeros(7))
    monkeypatch.setattr(td.Independent, "sample", lambda self, s=(): torch.zeros(7))
    monkeypatch.setattr(td.Independent, "rsample", lambda self, s=(): torch.zeros(7))
    for call, function, expected in [
        (lambda: d.log_prob(torch.zeros(3, 2)), "DiagNormal.log_prob", "(3,)"),
        (lambda: d.sample((5,)), "DiagNormal.sample", "(5, 3, 2)"),
        (lambda: d.rsample(), "DiagNormal.rsample", "(3, 2)"),
    ]:
        with pytest.raises(ShapeError, match="bug in the distribution class") as info:
            call()
        err = info.value
        assert (err.function, err.argument, err.expected, err.got) == (
            function,
            "return value",
            expected,
            "(7,)",
        )


@given(
    a=st.lists(st.integers(1, 3), max_size=3).map(tuple),
    b=st.lists(st.integers(1, 3), max_size=3).map(tuple),
)
def test_broadcast_helper_agrees_with_torch(a: tuple[int, ...], b: tuple[int, ...]) -> None:
    try:
        expected: tuple[int, ...] | None = tuple(torch.broadcast_shapes(a, b))
    except RuntimeError:
        expected = None
    if expected is None:
        with pytest.raises(RuntimeError, match="cannot be broadcast together"):
            broadcast_shapes(a, b)
    else:
        assert broadcast_shapes(a, b) == expected


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
    # no closed form: torch's own NotImplementedError, as plain torch gives it
    squashed = TanhNormal(torch.zeros(2), torch.ones(2))
    mixture = GaussianMixture(torch.zeros(2), torch.zeros(2, 1), torch.ones(2, 1))
    for call in (squashed.entropy, lambda: squashed.mean, mixture.entropy, mixture.rsample):
        with pytest.raises(NotImplementedError):
            call()


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
    with pytest.raises(ShapeError, match="batch_shape") as info:
        policy(torch.zeros(5, 3), 2, extra=1)
    err = info.value
    assert (err.function, err.argument, err.axis) == ("policy", "return value", 0)
    assert "batch=5" in err.expected and "6" in err.got
    with pytest.raises(ShapeError, match="batch_shape") as info:
        discrete(torch.zeros(5, 3))
    assert (info.value.function, info.value.argument, info.value.axis) == (
        "discrete",
        "return value",
        0,
    )

    @check
    def wrong_type(obs: Float[Tensor, "batch obs"]) -> DiagNormal["batch", "act"]:
        return Categorical(logits=torch.zeros(5, 3))  # type: ignore[return-value]

    with pytest.raises(DtypeError, match="Categorical") as info:
        wrong_type(torch.zeros(5, 3))
    assert (info.value.expected, info.value.got) == ("DiagNormal['batch', 'act']", "Categorical")


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
    for call, function, argument in [
        (lambda: scales(3, min_value=0.0, max_value=1.0), "scales", "min_value"),
        (lambda: locs(3, bound=-1.0), "locs", "min_value"),
        (lambda: covariance_matrices((), 2, jitter=0), "covariance_matrices", "jitter"),
        (lambda: probability_vectors(()), "probability_vectors", "shape"),
    ]:
        with pytest.raises(UsageError) as info:
            call()
        assert (info.value.function, info.value.argument) == (function, argument)


@values
def test_inf_means_and_empty_batches_are_accepted_like_torch() -> None:
    # torch's `real` constraint allows +-inf (only NaN is invalid); so do we
    loc = torch.tensor([math.inf, -math.inf])
    assert Normal(loc, torch.ones(2)).batch_shape == td.Normal(loc, torch.ones(2)).batch_shape
    # (torch's Independent cannot score an empty batch, so only construction is compared)
    empty = DiagNormal(torch.zeros(0, 3), torch.ones(0, 3))
    assert empty.batch_shape == (0,) and Normal(torch.zeros(0), torch.ones(0)).batch_shape == (0,)


# --------------------------------------------------------------------------------------
# errors: class, structured fields and one key fragment (full wording: test_messages_distributions.py)

E = torch.zeros

ERRORS = [
    (
        "normal_trailing_one",
        lambda: Normal(E(64), torch.ones(64)).log_prob(E((64, 1))),
        ShapeError,
        "Normal.log_prob",
        "value",
        1,
        "(*sample_shape, 64)",
        "(64, 1)",
        "expected size 64 (batch axis 0), got 1",
    ),
    (
        "categorical_trailing_one",
        lambda: Categorical(logits=E((64, 4))).log_prob(torch.zeros(64, 1, dtype=torch.long)),
        ShapeError,
        "Categorical.log_prob",
        "value",
        1,
        "(*sample_shape, 64)",
        "(64, 1)",
        "expected size 64 (batch axis 0), got 1",
    ),
    (
        "diag_missing_event",
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E(64)),
        ShapeError,
        "DiagNormal.log_prob",
        "value",
        None,
        "(*sample_shape, 64, 6)",
        "(64,)",
        "has 1 axis (64,), but this DiagNormal ne",
    ),
    (
        "diag_extra_one",
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E((64, 6, 1))),
        ShapeError,
        "DiagNormal.log_prob",
        "value",
        2,
        "(*sample_shape, 64, 6)",
        "(64, 6, 1)",
        "expected size 6 (event axis 0), got 1",
    ),
    (
        "diag_event_only",
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E(6)),
        ShapeError,
        "DiagNormal.log_prob",
        "value",
        None,
        "(*sample_shape, 64, 6)",
        "(6,)",
        "has 1 axis (6,), but this DiagNormal nee",
    ),
    (
        "diag_transposed",
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E((6, 64))),
        ShapeError,
        "DiagNormal.log_prob",
        "value",
        1,
        "(*sample_shape, 64, 6)",
        "(6, 64)",
        "expected size 6 (event axis 0), got 64",
    ),
    (
        "diag_sample_axis",
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E((64, 5, 6))),
        ShapeError,
        "DiagNormal.log_prob",
        "value",
        1,
        "(*sample_shape, 64, 6)",
        "(64, 5, 6)",
        "expected size 64 (batch axis 0), got 5",
    ),
    (
        "diag_batch_differs",
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E((32, 6))),
        ShapeError,
        "DiagNormal.log_prob",
        "value",
        0,
        "(*sample_shape, 64, 6)",
        "(32, 6)",
        "expected size 64 (batch axis 0), got 32",
    ),
    (
        "diag_event_differs",
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E((64, 4))),
        ShapeError,
        "DiagNormal.log_prob",
        "value",
        1,
        "(*sample_shape, 64, 6)",
        "(64, 4)",
        "expected size 6 (event axis 0), got 4",
    ),
    (
        "diag_no_hint",
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E((32, 4))),
        ShapeError,
        "DiagNormal.log_prob",
        "value",
        1,
        "(*sample_shape, 64, 6)",
        "(32, 4)",
        "expected size 6 (event axis 0), got 4",
    ),
    (
        "diag_event_one_missing",
        lambda: DiagNormal(E((8, 1)), torch.ones(8, 1)).log_prob(E(8)),
        ShapeError,
        "DiagNormal.log_prob",
        "value",
        None,
        "(*sample_shape, 8, 1)",
        "(8,)",
        "has 1 axis (8,), but this DiagNormal nee",
    ),
    (
        "categorical_one_hot",
        lambda: Categorical(logits=E((64, 4))).log_prob(torch.zeros(64, 4, dtype=torch.long)),
        ShapeError,
        "Categorical.log_prob",
        "value",
        1,
        "(*sample_shape, 64)",
        "(64, 4)",
        "expected size 64 (batch axis 0), got 4",
    ),
    (
        "categorical_float_value",
        lambda: Categorical(logits=E((64, 4))).log_prob(E(64)),
        DtypeError,
        "Categorical.log_prob",
        "value",
        None,
        "integer class indices",
        "float32",
        "has dtype float32; expected integer clas",
    ),
    (
        "categorical_out_of_support",
        lambda: Categorical(logits=E((64, 4))).log_prob(torch.full((64,), 5)),
        UsageError,
        "Categorical.log_prob",
        "value",
        None,
        "IntegerInterval(lower_bound=0, upper_bound=3)",
        "value[0] = 5",
        "has 64 of 64 entries outside the support",
    ),
    (
        "bernoulli_int_value",
        lambda: Bernoulli(logits=E(8)).log_prob(torch.zeros(8, dtype=torch.long)),
        DtypeError,
        "Bernoulli.log_prob",
        "value",
        None,
        "floats 0.0/1.0",
        "int64",
        "has dtype int64; expected floats 0.0/1.0",
    ),
    (
        "bernoulli_half",
        lambda: Bernoulli(logits=E(8)).log_prob(torch.full((8,), 0.5)),
        UsageError,
        "Bernoulli.log_prob",
        "value",
        None,
        "Boolean()",
        "value[0] = 0.5",
        "has 8 of 8 entries outside the support B",
    ),
    (
        "diag_nan_value",
        lambda: DiagNormal(E((2, 2)), torch.ones(2, 2)).log_prob(
            torch.tensor([[0.0, 0.0], [math.nan, 0.0]])
        ),
        NonFiniteError,
        "DiagNormal.log_prob",
        "value",
        None,
        "IndependentConstraint(Real(), 1)",
        "value[1] = [nan, 0.0]",
        "has 1 of 2 entries outside the support I",
    ),
    (
        "tanh_outside",
        lambda: TanhNormal(E(2), torch.ones(2)).log_prob(torch.tensor([0.5, 2.0])),
        UsageError,
        "TanhNormal.log_prob",
        "value",
        None,
        "IndependentConstraint(Interval(lower_bound=-1.0, upper_bound=1.0), 1)",
        "value = [0.5, 2.0]",
        "has 1 of 1 entries outside the support I",
    ),
    (
        "value_not_tensor",
        lambda: Normal(0.0, 1.0).log_prob(0.5),
        DtypeError,
        "Normal.log_prob",
        "value",
        None,
        "torch.Tensor",
        "float",
        "must be a torch.Tensor, got the float 0.",
    ),
    (
        "cdf",
        lambda: Normal(E(5), torch.ones(5)).cdf(E((5, 1))),
        ShapeError,
        "Normal.cdf",
        "value",
        1,
        "(*sample_shape, 5)",
        "(5, 1)",
        "expected size 5 (batch axis 0), got 1",
    ),
    (
        "icdf",
        lambda: Normal(E(5), torch.ones(5)).icdf(torch.full((4,), 0.5)),
        ShapeError,
        "Normal.icdf",
        "value",
        0,
        "(*sample_shape, 5)",
        "(4,)",
        "expected size 5 (batch axis 0), got 4",
    ),
    (
        "expanded",
        lambda: DiagNormal(E((3, 2)), torch.ones(3, 2)).expand((4, 3)).log_prob(E((3, 2))),
        ShapeError,
        "DiagNormal.log_prob",
        "value",
        None,
        "(*sample_shape, 4, 3, 2)",
        "(3, 2)",
        "has 2 axes (3, 2), but this DiagNormal n",
    ),
    (
        "scale_shared",
        lambda: DiagNormal(E((64, 6)), torch.ones(6)),
        ShapeError,
        "DiagNormal",
        "scale",
        None,
        "(64, 6)",
        "(6,)",
        "has shape (6,) but `loc` has shape (64, ",
    ),
    (
        "tanh_scale_shared",
        lambda: TanhNormal(E((64, 6)), torch.ones(6)),
        ShapeError,
        "TanhNormal",
        "scale",
        None,
        "(64, 6)",
        "(6,)",
        "has shape (6,) but `loc` has shape (64, ",
    ),
    (
        "stray_axis",
        lambda: DiagNormal(E((64, 1)), torch.ones(64)),
        ShapeError,
        "DiagNormal",
        "scale",
        None,
        "(64, 1)",
        "(64,)",
        "has shape (64,) but `loc` has shape (64,",
    ),
    (
        "scale_would_broadcast",
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 1)),
        ShapeError,
        "DiagNormal",
        "scale",
        None,
        "(64, 6)",
        "(64, 1)",
        "has shape (64, 1) but `loc` has shape (6",
    ),
    (
        "loc_would_broadcast",
        lambda: DiagNormal(E(6), torch.ones(64, 6)),
        ShapeError,
        "DiagNormal",
        "scale",
        None,
        "(6,)",
        "(64, 6)",
        "has shape (64, 6) but `loc` has shape (6",
    ),
    (
        "cannot_broadcast",
        lambda: DiagNormal(E(3), torch.ones(4)),
        ShapeError,
        "DiagNormal",
        "scale",
        None,
        "(3,)",
        "(4,)",
        "has shape (4,) but `loc` has shape (3,);",
    ),
    (
        "diag_scalars",
        lambda: DiagNormal(0.0, 1.0),
        ShapeError,
        "DiagNormal",
        "loc",
        None,
        "(*batch, dim)",
        "()",
        "`loc` and `scale` have shape (), but a D",
    ),
    (
        "int_loc",
        lambda: Normal(torch.zeros(3, dtype=torch.long), torch.ones(3)),
        DtypeError,
        "Normal",
        "loc",
        None,
        "a floating-point tensor",
        "int64",
        "has dtype int64; expected a floating-poi",
    ),
    (
        "list_loc",
        lambda: Normal([0.0], 1.0),
        DtypeError,
        "Normal",
        "loc",
        None,
        "a torch.Tensor or a Python number",
        "list",
        "must be a torch.Tensor or a Python numbe",
    ),
    (
        "negative_scale",
        lambda: Normal(E(3), torch.tensor([1.0, -2.0, 1.0])),
        UsageError,
        "Normal",
        "scale",
        None,
        "> 0",
        "scale[1] = -2",
        "(a standard deviation) must be positive,",
    ),
    (
        "nan_scale",
        lambda: Normal(E(3), torch.tensor([1.0, math.nan, 1.0])),
        NonFiniteError,
        "Normal",
        "scale",
        None,
        "no NaN",
        "NaN at scale[1]",
        "(a standard deviation) contains NaN: 1 o",
    ),
    (
        "nan_loc",
        lambda: DiagNormal(torch.tensor([[0.0, math.nan]]), torch.ones(1, 2)),
        NonFiniteError,
        "DiagNormal",
        "loc",
        None,
        "no NaN",
        "NaN at loc[0, 1]",
        "contains NaN: 1 of 2 entries, first at l",
    ),
    (
        "mvn_loc_shared",
        lambda: MultivariateNormal(E(2), torch.eye(2).expand(3, 2, 2)),
        ShapeError,
        "MultivariateNormal",
        "covariance_matrix",
        None,
        "()",
        "(3,)",
        "has batch shape (3,) but `loc` has batch",
    ),
    (
        "mvn_none",
        lambda: MultivariateNormal(E(2)),
        UsageError,
        "MultivariateNormal",
        "covariance_matrix",
        None,
        "exactly one of covariance_matrix=, precision_matrix=, scale_tril=",
        "neither",
        "pass exactly one of covariance_matrix=, ",
    ),
    (
        "mvn_two",
        lambda: MultivariateNormal(E(2), torch.eye(2), scale_tril=torch.eye(2)),
        UsageError,
        "MultivariateNormal",
        "scale_tril",
        None,
        "exactly one of covariance_matrix=, precision_matrix=, scale_tril=",
        "covariance_matrix, scale_tril",
        "pass exactly one of covariance_matrix=, ",
    ),
    (
        "mvn_scalar_loc",
        lambda: MultivariateNormal(torch.tensor(0.0), torch.eye(1)),
        ShapeError,
        "MultivariateNormal",
        "loc",
        None,
        "(*batch, D)",
        "()",
        "has shape (); expected (*batch, D)",
    ),
    (
        "mvn_not_square",
        lambda: MultivariateNormal(E(2), torch.ones(2, 3)),
        ShapeError,
        "MultivariateNormal",
        "covariance_matrix",
        1,
        "D=2",
        "D=3",
        "expected D=2 (from `loc` axis 0, shape (",
    ),
    (
        "mvn_vector_cov",
        lambda: MultivariateNormal(E(2), torch.ones(2)),
        ShapeError,
        "MultivariateNormal",
        "covariance_matrix",
        None,
        "(*batch, D, D)",
        "(2,)",
        "has shape (2,); expected (*batch, D, D)",
    ),
    (
        "mvn_wrong_size",
        lambda: MultivariateNormal(E(2), scale_tril=torch.eye(3)),
        ShapeError,
        "MultivariateNormal",
        "scale_tril",
        0,
        "D=2",
        "D=3",
        "expected D=2 (from `loc` axis 0, shape (",
    ),
    (
        "mvn_list",
        lambda: MultivariateNormal([0.0, 0.0], torch.eye(2)),
        DtypeError,
        "MultivariateNormal",
        "loc",
        None,
        "a torch.Tensor",
        "list",
        "must be a torch.Tensor, got a list of 2 ",
    ),
    (
        "mvn_not_symmetric",
        lambda: MultivariateNormal(
            E((2, 2)), torch.stack([torch.eye(2), torch.tensor([[1.0, 0.5], [0.0, 1.0]])])
        ),
        UsageError,
        "MultivariateNormal",
        "covariance_matrix",
        None,
        "symmetric matrices",
        "max |M - M.T| = 0.5",
        "covariance_matrix[1] is not symmetric (m",
    ),
    (
        "mvn_not_pd",
        lambda: MultivariateNormal(E(2), precision_matrix=torch.tensor([[1.0, 0.0], [0.0, -1.0]])),
        UsageError,
        "MultivariateNormal",
        "precision_matrix",
        None,
        "eigenvalues > 0",
        "smallest eigenvalue -1",
        "precision_matrix is not positive definit",
    ),
    (
        "mvn_tril_upper",
        lambda: MultivariateNormal(E((1, 2)), scale_tril=torch.ones(1, 2, 2)),
        UsageError,
        "MultivariateNormal",
        "scale_tril",
        None,
        "lower-triangular matrices",
        "nonzero entries above the diagonal",
        "scale_tril[0] has nonzero entries above ",
    ),
    (
        "mvn_tril_diag",
        lambda: MultivariateNormal(E(2), scale_tril=torch.tensor([[1.0, 0.0], [0.5, -1.0]])),
        UsageError,
        "MultivariateNormal",
        "scale_tril",
        None,
        "a positive diagonal",
        "diagonal [1.0, -1.0]",
        "scale_tril has a diagonal entry <= 0",
    ),
    (
        "mvn_nan_loc",
        lambda: MultivariateNormal(torch.tensor([math.nan, 0.0]), torch.eye(2)),
        NonFiniteError,
        "MultivariateNormal",
        "loc",
        None,
        "no NaN",
        "NaN at loc[0]",
        "contains NaN: 1 of 2 entries, first at l",
    ),
    (
        "cat_both",
        lambda: Categorical(torch.ones(3), torch.ones(3)),
        UsageError,
        "Categorical",
        "logits",
        None,
        "exactly one of probs= or logits=",
        "both",
        "pass exactly one of probs= or logits= (g",
    ),
    (
        "cat_neither",
        lambda: Categorical(),
        UsageError,
        "Categorical",
        "probs",
        None,
        "exactly one of probs= or logits=",
        "neither",
        "pass exactly one of probs= or logits= (g",
    ),
    (
        "cat_scalar",
        lambda: Categorical(logits=torch.tensor(0.0)),
        ShapeError,
        "Categorical",
        "logits",
        None,
        "(*batch, K)",
        "()",
        "has shape (); expected (*batch, K)",
    ),
    (
        "cat_int_logits",
        lambda: Categorical(logits=torch.zeros(3, dtype=torch.long)),
        DtypeError,
        "Categorical",
        "logits",
        None,
        "a floating-point tensor",
        "int64",
        "has dtype int64; expected a floating-poi",
    ),
    (
        "cat_negative_probs",
        lambda: Categorical(torch.tensor([[0.5, -0.5, 1.0]])),
        UsageError,
        "Categorical",
        "probs",
        None,
        ">= 0",
        "probs[0, 1] = -0.5",
        "has negative entries; probabilities must",
    ),
    (
        "cat_nan_probs",
        lambda: Categorical(torch.tensor([0.5, math.nan])),
        NonFiniteError,
        "Categorical",
        "probs",
        None,
        "no NaN",
        "NaN at probs[1]",
        "contains NaN: 1 of 2 entries, first at p",
    ),
    (
        "cat_zero_row",
        lambda: Categorical(torch.tensor([[0.5, 0.5], [0.0, 0.0]])),
        UsageError,
        "Categorical",
        "probs",
        None,
        "a positive, finite sum per row",
        "sum 0",
        "row probs[1] cannot be normalized",
    ),
    (
        "cat_nan_logits",
        lambda: Categorical(logits=torch.tensor([math.nan, 0.0])),
        NonFiniteError,
        "Categorical",
        "logits",
        None,
        "no NaN",
        "NaN at logits[0]",
        "contains NaN: 1 of 2 entries, first at l",
    ),
    (
        "cat_inf_logits",
        lambda: Categorical(logits=torch.tensor([[math.inf, 0.0]])),
        UsageError,
        "Categorical",
        "logits",
        None,
        "no +inf",
        "+inf",
        "row logits[0] contains +inf",
    ),
    (
        "cat_all_masked",
        lambda: Categorical(logits=torch.tensor([[0.0, 1.0], [-math.inf, -math.inf]])),
        UsageError,
        "Categorical",
        "logits",
        None,
        "at least one finite logit per row",
        "all -inf",
        "every entry of row logits[1] is -inf, so",
    ),
    (
        "bern_neither",
        lambda: Bernoulli(),
        UsageError,
        "Bernoulli",
        "probs",
        None,
        "exactly one of probs= or logits=",
        "neither",
        "pass exactly one of probs= or logits= (g",
    ),
    (
        "bern_probs_range",
        lambda: Bernoulli(torch.tensor([0.5, 1.5])),
        UsageError,
        "Bernoulli",
        "probs",
        None,
        "0 <= p <= 1",
        "probs[1] = 1.5",
        "must lie in [0, 1], but 1 of 2 entries d",
    ),
    (
        "bern_number",
        lambda: Bernoulli(-1.0),
        UsageError,
        "Bernoulli",
        "probs",
        None,
        "0 <= p <= 1",
        "probs = -1",
        "must lie in [0, 1], but 1 of 1 entries d",
    ),
    (
        "bern_nan_logits",
        lambda: Bernoulli(logits=torch.tensor([math.nan])),
        NonFiniteError,
        "Bernoulli",
        "logits",
        None,
        "no NaN",
        "NaN at logits[0]",
        "contains NaN: 1 of 1 entries, first at l",
    ),
    (
        "bern_str",
        lambda: Bernoulli("0.5"),
        DtypeError,
        "Bernoulli",
        "probs",
        None,
        "a torch.Tensor or a Python number",
        "str",
        "must be a torch.Tensor or a Python numbe",
    ),
    (
        "mix_scalar_logits",
        lambda: GaussianMixture(torch.tensor(0.0), E((1, 2)), torch.ones(1, 2)),
        ShapeError,
        "GaussianMixture",
        "logits",
        None,
        "(*batch, K)",
        "()",
        "has shape (); expected (*batch, K)",
    ),
    (
        "mix_vector_locs",
        lambda: GaussianMixture(E(3), E(3), torch.ones(3)),
        ShapeError,
        "GaussianMixture",
        "locs",
        None,
        "(*batch, K, D)",
        "(3,)",
        "has shape (3,); expected (*batch, K, D)",
    ),
    (
        "mix_components",
        lambda: GaussianMixture(E((16, 3)), E((16, 4, 2)), torch.ones(16, 4, 2)),
        ShapeError,
        "GaussianMixture",
        "locs",
        1,
        "K=3",
        "K=4",
        "expected K=3 (from `logits` axis 1, shap",
    ),
    (
        "mix_logits_shared",
        lambda: GaussianMixture(E(3), E((8, 3, 2)), torch.ones(8, 3, 2)),
        ShapeError,
        "GaussianMixture",
        "locs",
        None,
        "()",
        "(8,)",
        "has batch shape (8,) but `logits` has ba",
    ),
    (
        "mix_scales_shared",
        lambda: GaussianMixture(E((8, 3)), E((8, 3, 2)), torch.ones(3, 2)),
        ShapeError,
        "GaussianMixture",
        "scales",
        None,
        "(8,)",
        "()",
        "has batch shape () but `logits` has batc",
    ),
    (
        "mix_zero_scales",
        lambda: GaussianMixture(E(3), E((3, 2)), torch.zeros(3, 2)),
        UsageError,
        "GaussianMixture",
        "scales",
        None,
        "> 0",
        "scales[0, 0] = 0",
        "(standard deviations) must be positive, ",
    ),
    (
        "mix_cannot_broadcast",
        lambda: GaussianMixture(E((4, 3)), E((5, 3, 2)), 1.0, broadcast=True),
        ShapeError,
        "GaussianMixture",
        "locs",
        None,
        "shapes that broadcast",
        "`logits` (4,), `locs` (5,)",
        "cannot broadcast `logits` (4,), `locs` (",
    ),
    (
        "mix_rsample",
        lambda: GaussianMixture(E(3), E((3, 2)), torch.ones(3, 2)).rsample(),
        UsageError,
        "GaussianMixture.rsample",
        None,
        None,
        "a distribution with has_rsample=True",
        "GaussianMixture",
        "has no reparameterized sample: drawing i",
    ),
    (
        "mix_entropy",
        lambda: GaussianMixture(E(3), E((3, 2)), torch.ones(3, 2)).entropy(),
        UsageError,
        "GaussianMixture.entropy",
        None,
        None,
        "a distribution with a closed-form entropy",
        "GaussianMixture",
        "has no closed form for a GaussianMixture",
    ),
    (
        "tanh_entropy",
        lambda: TanhNormal(E(2), torch.ones(2)).entropy(),
        UsageError,
        "TanhNormal.entropy",
        None,
        None,
        "a distribution with a closed-form entropy",
        "TanhNormal",
        "has no closed form for a TanhNormal",
    ),
    (
        "tanh_mean",
        lambda: TanhNormal(E(2), torch.ones(2)).mean,
        UsageError,
        "TanhNormal.mean",
        None,
        None,
        "a distribution with a closed-form mean",
        "TanhNormal",
        "has no closed form for a TanhNormal",
    ),
    (
        "kl_trailing_q",
        lambda: td.kl_divergence(Normal(E(4), torch.ones(4)), Normal(E((4, 1)), torch.ones(4, 1))),
        ShapeError,
        "kl_divergence",
        "q",
        None,
        "(4,)",
        "(4, 1)",
        "`p` has batch_shape (4,) but `q` has bat",
    ),
    (
        "kl_trailing_p",
        lambda: td.kl_divergence(Normal(E((4, 1)), torch.ones(4, 1)), Normal(E(4), torch.ones(4))),
        ShapeError,
        "kl_divergence",
        "q",
        None,
        "(4, 1)",
        "(4,)",
        "`p` has batch_shape (4, 1) but `q` has b",
    ),
    (
        "kl_batch",
        lambda: td.kl_divergence(
            DiagNormal(E((3, 2)), torch.ones(3, 2)), DiagNormal(E((4, 2)), torch.ones(4, 2))
        ),
        ShapeError,
        "kl_divergence",
        "q",
        None,
        "(3,)",
        "(4,)",
        "`p` has batch_shape (3,) but `q` has bat",
    ),
    (
        "kl_event",
        lambda: td.kl_divergence(
            DiagNormal(E((4, 2)), torch.ones(4, 2)), DiagNormal(E((4, 3)), torch.ones(4, 3))
        ),
        ShapeError,
        "kl_divergence",
        "q",
        None,
        "(2,)",
        "(3,)",
        "`p` has event_shape (2,) but `q` has eve",
    ),
    (
        "kl_categories",
        lambda: td.kl_divergence(Categorical(logits=E((4, 4))), Categorical(logits=E((4, 1)))),
        ShapeError,
        "kl_divergence",
        "q",
        None,
        "4 categories",
        "1 category",
        "`p` has 4 categories but `q` has 1; they",
    ),
    (
        "ann_no_event",
        lambda: DiagNormal["batch"],
        AnnotationError,
        "DiagNormal['batch']",
        None,
        None,
        "batch and event dims",
        "('batch',)",
        "give the event dims too, e.g. DiagNormal",
    ),
    (
        "ann_event_count",
        lambda: DiagNormal["b", "x y"],
        AnnotationError,
        "DiagNormal['b', 'x y']",
        None,
        None,
        "1 event dim(s)",
        "2",
        "a DiagNormal has 1 event dim(s), but 'x ",
    ),
    (
        "ann_cat_event",
        lambda: Categorical["b", "k"],
        AnnotationError,
        "Categorical['b', 'k']",
        None,
        None,
        "0 event dim(s)",
        "1",
        "a Categorical has 0 event dim(s), but 'k",
    ),
    (
        "ann_three",
        lambda: DiagNormal["b", "a", "c"],
        AnnotationError,
        "DiagNormal[...]",
        None,
        None,
        "one or two dim strings",
        "('b', 'a', 'c')",
        "takes one or two dim strings: DiagNormal",
    ),
    (
        "ann_int",
        lambda: DiagNormal[3],
        AnnotationError,
        "DiagNormal[...]",
        None,
        None,
        "one or two dim strings",
        "(3,)",
        "takes one or two dim strings: DiagNormal",
    ),
    (
        "dist_int",
        lambda: Dist[int, "b", ""],
        AnnotationError,
        "Dist[...]",
        None,
        None,
        "a torch.distributions.Distribution subclass",
        "<class 'int'>",
        "the first item must be a torch.distribut",
    ),
    (
        "dist_one",
        lambda: Dist[DiagNormal],
        AnnotationError,
        "Dist[...]",
        None,
        None,
        "Dist[cls, batch_dims, event_dims]",
        "Dist[<class 'shapesafe.distributions.DiagNormal'>]",
        "takes a distribution class and dim strin",
    ),
    (
        "entropy_estimate_n",
        lambda: Normal(0.0, 1.0).entropy_estimate(0),
        UsageError,
        "Normal.entropy_estimate",
        "n",
        None,
        "a positive int",
        "0",
        "must be a positive int, got 0",
    ),
]


@pytest.mark.parametrize(
    ("case", "call", "cls", "function", "argument", "axis", "expected", "got", "fragment"),
    ERRORS,
    ids=[row[0] for row in ERRORS],
)
def test_errors_name_what_went_wrong(
    case: str,
    call: typing.Callable[[], object],
    cls: type[ShapesafeError],
    function: str,
    argument: str | None,
    axis: int | None,
    expected: str,
    got: str,
    fragment: str,
) -> None:
    with pytest.raises(cls) as info:
        call()
    err = info.value
    assert type(err) is cls
    assert (err.function, err.argument, err.axis) == (function, argument, axis)
    assert (err.expected, err.got) == (expected, got)
    assert fragment in str(err)


# --------------------------------------------------------------------------------------
# regressions (issue 11)


@values
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tanh_normal_log_prob_is_finite_at_the_bounds(dtype: torch.dtype) -> None:
    # replay buffers clip actions to exactly +-1, where atanh is infinite: torch says NaN
    loc, scale = torch.tensor([0.3, -0.2], dtype=dtype), torch.tensor([0.5, 1.5], dtype=dtype)
    ours = TanhNormal(loc, scale)
    ref = td.TransformedDistribution(
        td.Independent(td.Normal(loc, scale), 1), [td.transforms.TanhTransform()]
    )
    edge = torch.tensor([[1.0, -1.0], [1.0, 0.5], [-1.0, -0.25]], dtype=dtype)
    assert bool(ref.log_prob(edge).isnan().any())
    got = ours.log_prob(edge)
    assert bool(got.isfinite().all())
    # equal to torch's value at the documented clamp point +-(1 - eps)
    bound = 1.0 - max(TanhNormal.eps, torch.finfo(dtype).eps)
    torch.testing.assert_close(got, ref.log_prob(edge.clamp(-bound, bound)))
    inside = torch.tensor([[0.999, -0.5], [0.0, 0.2]], dtype=dtype)
    same(ours.log_prob(inside), ref.log_prob(inside))


def test_tanh_normal_mode_mean_and_entropy() -> None:
    loc = torch.tensor([[0.5, -1.0]])
    pi = TanhNormal(loc, torch.ones(1, 2))
    same(pi.mode, torch.tanh(loc))
    with pytest.raises(UsageError, match=r"use \.mode") as info:
        _ = pi.mean
    assert (info.value.function, info.value.got) == ("TanhNormal.mean", "TanhNormal")
    with pytest.raises(UsageError, match=r"entropy_estimate\(n\)") as info:
        pi.entropy()
    assert info.value.function == "TanhNormal.entropy"
    assert not isinstance(info.value, NotImplementedError)
    # the suggested estimate, against the same estimate on torch's own class (same draws)
    ref = td.TransformedDistribution(
        td.Independent(td.Normal(loc, torch.ones(1, 2)), 1),
        [td.transforms.TanhTransform(cache_size=1)],
    )
    torch.manual_seed(0)
    est = pi.entropy_estimate(4000)
    torch.manual_seed(0)
    expected = -ref.log_prob(ref.rsample((4000,))).mean(0)
    assert est.shape == (1,)
    torch.testing.assert_close(est, expected)


def test_gaussian_mixture_rsample_and_entropy_say_why() -> None:
    m = GaussianMixture(torch.zeros(4, 3), torch.randn(4, 3, 2), torch.ones(4, 3, 2))
    with pytest.raises(UsageError, match="no reparameterized sample") as info:
        m.rsample((2,))
    assert info.value.function == "GaussianMixture.rsample"
    with pytest.raises(UsageError, match="no closed form") as info:
        m.entropy()
    assert info.value.function == "GaussianMixture.entropy"
    torch.manual_seed(1)
    est = m.entropy_estimate(2000)
    torch.manual_seed(1)
    ref = td.MixtureSameFamily(
        td.Categorical(logits=torch.zeros(4, 3)),
        td.Independent(td.Normal(m.locs, torch.ones(4, 3, 2)), 1),
    )
    torch.testing.assert_close(est, -ref.log_prob(ref.sample((2000,))).mean(0))


@pytest.mark.parametrize("n", [0, -3, 2.5, True, "10", None])
def test_entropy_estimate_needs_a_positive_int(n: typing.Any) -> None:
    with pytest.raises(UsageError, match="positive int") as info:
        Normal(0.0, 1.0).entropy_estimate(n)
    assert (info.value.function, info.value.argument) == ("Normal.entropy_estimate", "n")


@pytest.mark.parametrize(("kp", "kq"), [(4, 1), (1, 4), (3, 5)])
def test_kl_divergence_of_categoricals_needs_equal_category_counts(kp: int, kq: int) -> None:
    p, q = Categorical(logits=torch.zeros(8, kp)), Categorical(logits=torch.zeros(8, kq))
    if 1 in (kp, kq):  # plain torch broadcasts the single column silently
        assert td.kl_divergence(
            td.Categorical(logits=p.logits), td.Categorical(logits=q.logits)
        ).shape == (8,)
    with pytest.raises(ShapeError, match="categories") as info:
        td.kl_divergence(p, q)
    err = info.value
    assert (err.function, err.argument) == ("kl_divergence", "q")
    assert str(kp) in err.expected and str(kq) in err.got
    # a prior shared by the batch with the same categories is fine
    prior = Categorical(logits=torch.zeros(kp))
    same(
        td.kl_divergence(p, prior),
        td.kl_divergence(td.Categorical(logits=p.logits), td.Categorical(logits=prior.logits)),
    )


# --------------------------------------------------------------------------------------
# fuzz: odd parameters and values -> torch's result or a ShapesafeError, never anything else

_ODD_FLOATS = [0.0, -1.0, 0.5, 1.0, 2.0, math.nan, math.inf, -math.inf, 1e30, -0.0]
_DTYPES = [torch.float32, torch.float64, torch.float16, torch.int64, torch.bool, torch.complex64]


@st.composite
def odd_tensors(draw: st.DrawFn, shape: tuple[int, ...] | None = None) -> Tensor:
    """Tensors of random rank (0-3), sizes (0-3), dtypes and odd values (NaN, inf, <= 0)."""
    if shape is None:
        shape = tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
    dtype = draw(st.sampled_from(_DTYPES))
    fill = draw(st.sampled_from(["randn", "rand", "odd", "ones"]))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))  # reproducible draws
    if fill == "randn":
        x = torch.randn(shape, dtype=torch.float64, generator=gen)
    elif fill == "rand":
        x = torch.rand(shape, dtype=torch.float64, generator=gen) + 0.05
    elif fill == "odd":
        x = torch.full(shape, draw(st.sampled_from(_ODD_FLOATS)), dtype=torch.float64)
        if x.numel() > 1:
            x.view(-1)[0] = draw(st.sampled_from(_ODD_FLOATS))
    else:
        x = torch.ones(shape, dtype=torch.float64)
    if dtype.is_complex:
        return x.to(dtype)
    if not dtype.is_floating_point:
        return x.nan_to_num(0.0, 0.0, 0.0).clamp(-5, 5).to(dtype)
    return x.to(dtype)


_ODD_OBJECTS: list[typing.Any] = [
    None,
    "0.5",
    [0.0, 1.0],
    {"a": 1},
    True,
    10**20,
    -3,
    0.5,
    math.nan,
]


def _good(name: str, shape: tuple[int, ...]) -> Tensor:
    """A valid value for parameter ``name`` of the given shape."""
    if name in ("covariance_matrix", "precision_matrix", "scale_tril"):
        return torch.eye(shape[-1]).expand(shape).clone() if len(shape) >= 2 else torch.ones(shape)
    gen = torch.Generator().manual_seed(sum(shape) + len(name))  # reproducible
    if name in ("scale", "scales", "probs"):
        return torch.rand(shape, generator=gen) * 0.9 + 0.05
    return torch.randn(shape, generator=gen)


def odd_params(name: str, shape: tuple[int, ...]) -> st.SearchStrategy[typing.Any]:
    """A parameter: often valid and of the fitting shape (so that the comparison with torch
    is reached), else odd tensors of that or any shape, or odd Python values."""
    return st.one_of(
        st.just(shape).map(lambda s: _good(name, s)),
        st.just(shape).map(lambda s: _good(name, s)),
        odd_tensors(shape),
        odd_tensors(),
        st.sampled_from(_ODD_OBJECTS),
    )


def _reference(cls: type, kwargs: dict[str, typing.Any], validate: bool | None) -> typing.Any:
    """torch.distributions' object for the same parameters."""
    v = validate
    if cls is Normal:
        return td.Normal(kwargs["loc"], kwargs["scale"], validate_args=v)
    if cls is DiagNormal:
        return td.Independent(
            td.Normal(kwargs["loc"], kwargs["scale"], validate_args=v), 1, validate_args=v
        )
    if cls is TanhNormal:
        base = td.Independent(
            td.Normal(kwargs["loc"], kwargs["scale"], validate_args=v), 1, validate_args=v
        )
        return td.TransformedDistribution(
            base, [td.transforms.TanhTransform(cache_size=1)], validate_args=v
        )
    if cls is MultivariateNormal:
        return td.MultivariateNormal(validate_args=v, **kwargs)
    if cls is Categorical:
        return td.Categorical(validate_args=v, **kwargs)
    if cls is Bernoulli:
        return td.Bernoulli(validate_args=v, **kwargs)
    assert cls is GaussianMixture
    mix = td.Categorical(logits=kwargs["logits"], validate_args=v)
    comp = td.Independent(
        td.Normal(kwargs["locs"], kwargs["scales"], validate_args=v), 1, validate_args=v
    )
    return td.MixtureSameFamily(mix, comp, validate_args=v)


_PARAMS: dict[type, tuple[str, ...]] = {
    Normal: ("loc", "scale"),
    DiagNormal: ("loc", "scale"),
    TanhNormal: ("loc", "scale"),
    MultivariateNormal: ("loc", "covariance_matrix", "precision_matrix", "scale_tril"),
    Categorical: ("probs", "logits"),
    Bernoulli: ("probs", "logits"),
    GaussianMixture: ("logits", "locs", "scales"),
}


def _zeros_value(d: typing.Any) -> Tensor:
    shape = tuple(d.batch_shape) + tuple(d.event_shape)
    if isinstance(d, td.Categorical):
        return torch.zeros(shape, dtype=torch.long)
    return torch.zeros(shape, dtype=d.mean.dtype if not isinstance(d, TanhNormal) else d.loc.dtype)


@settings(max_examples=300)
@given(
    cls=st.sampled_from(sorted(_PARAMS, key=lambda c: c.__name__)),
    data=st.data(),
    validate=st.sampled_from([None, True, False]),
)
def test_fuzz_constructors_and_log_prob_match_torch_or_raise_ours(
    cls: type, data: st.DataObject, validate: bool | None
) -> None:
    """Odd parameters (random ranks, 0-size axes, dtypes, NaN/inf/negative values, Python
    scalars, None, lists): our distribution either refuses them with a ShapesafeError or
    agrees with torch.distributions on shapes and on log_prob."""
    batch = tuple(data.draw(st.lists(st.integers(0, 3), max_size=2), label="batch"))
    k, d = data.draw(st.integers(1, 3), label="K"), data.draw(st.integers(1, 3), label="D")
    trailing = {
        "loc": (d,) if cls is not Normal else (),
        "scale": (d,) if cls is not Normal else (),
        "covariance_matrix": (d, d),
        "precision_matrix": (d, d),
        "scale_tril": (d, d),
        "probs": (k,) if cls is Categorical else (),
        "logits": (k,) if cls in (Categorical, GaussianMixture) else (),
        "locs": (k, d),
        "scales": (k, d),
    }
    kwargs = {
        name: data.draw(odd_params(name, batch + trailing[name]), label=name)
        for name in _PARAMS[cls]
    }
    if cls in (MultivariateNormal, Categorical, Bernoulli):
        # alternatives: mostly exactly one of them given, as users do
        keep = data.draw(
            st.sampled_from(_PARAMS[cls][-3:] if cls is MultivariateNormal else _PARAMS[cls])
        )
        for name in _PARAMS[cls]:
            if name not in (keep, "loc") and data.draw(st.booleans(), label=f"drop {name}"):
                kwargs[name] = None
    try:
        ours = cls(**kwargs, validate_args=validate)
    except ShapesafeError as err:
        event(f"refused: {type(err).__name__}")
        return
    event("built")
    # (torch's own validation fails on an empty batch: compare without it there)
    ref = _reference(
        cls, kwargs, False if 0 in ours.batch_shape else validate
    )  # torch accepts what we accept
    assert ours.batch_shape == ref.batch_shape and ours.event_shape == ref.event_shape
    value = _zeros_value(ours)
    try:
        got = ours.log_prob(value)
    except ShapesafeError as err:
        event(f"log_prob refused: {type(err).__name__}")
        return
    event("compared with torch")
    if 0 in ours.batch_shape:  # (torch's Independent cannot sum an empty batch)
        assert got.shape == ours.batch_shape
        return
    same(got, ref.log_prob(value))


@settings(max_examples=300)
@given(
    cls=st.sampled_from(
        [Normal, DiagNormal, TanhNormal, Categorical, Bernoulli, MultivariateNormal]
    ),
    batch=st.lists(st.integers(0, 3), max_size=2).map(tuple),
    data=st.data(),
)
def test_fuzz_log_prob_values_match_torch_or_raise_ours(
    cls: type, batch: tuple[int, ...], data: st.DataObject
) -> None:
    """Valid distributions, odd values (any shape, dtype, NaN/inf, Python objects): the
    result equals torch's, or a ShapesafeError says why it would not be meaningful."""
    if cls in (Categorical,):
        kwargs: dict[str, typing.Any] = {"logits": torch.zeros(*batch, 3)}
    elif cls is Bernoulli:
        kwargs = {"logits": torch.zeros(batch)}
    elif cls is MultivariateNormal:
        kwargs = {"loc": torch.zeros(*batch, 2), "scale_tril": torch.eye(2).expand(*batch, 2, 2)}
    elif cls is Normal:
        kwargs = {"loc": torch.zeros(batch), "scale": torch.ones(batch)}
    else:
        kwargs = {"loc": torch.zeros(*batch, 2), "scale": torch.ones(*batch, 2)}
    ours = cls(**kwargs)
    ref = _reference(cls, kwargs, False)  # (torch's own validation fails on empty batches)
    full = (*ours.batch_shape, *ours.event_shape)
    sample = tuple(data.draw(st.lists(st.integers(0, 2), max_size=2), label="sample"))
    value = data.draw(
        st.one_of(
            odd_tensors((*sample, *full)),
            odd_tensors((*sample, *full)),
            odd_tensors(),
            st.sampled_from(_ODD_OBJECTS),
        ),
        label="value",
    )
    try:
        got = ours.log_prob(value)
    except ShapesafeError as err:
        event(f"refused: {type(err).__name__}")
        return
    event("compared with torch")
    outer = value.shape[: value.dim() - len(ours.event_shape)]
    if 0 in outer:  # (torch's Independent cannot sum over an empty batch)
        assert got.shape == outer and got.numel() == 0
        return
    if cls is TanhNormal:  # actions at +-1 are scored at the documented clamp point
        bound = 1.0 - max(TanhNormal.eps, torch.finfo(value.dtype).eps)
        value = value.clamp(-bound, bound)
    same(got, ref.log_prob(value))


def test_fuzz_findings_are_refused_clearly() -> None:
    # found by the fuzz tests above; each leaked a torch RuntimeError before
    with pytest.raises(DtypeError, match="Cholesky") as info:
        MultivariateNormal(torch.zeros(2, dtype=torch.float16), torch.eye(2).half())
    assert info.value.argument == "covariance_matrix"
    with pytest.raises(UsageError, match="not positive definite") as info:
        MultivariateNormal(torch.zeros(2), -torch.eye(2), validate_args=False)
    assert info.value.argument == "covariance_matrix"
    with pytest.raises(DtypeError, match="expected real numbers") as info:
        Normal(torch.zeros(2), torch.ones(2)).log_prob(torch.ones(2, dtype=torch.bool))
    with pytest.raises(DtypeError, match="floats in") as info:
        TanhNormal(torch.zeros(2), torch.ones(2)).log_prob(torch.ones(2, dtype=torch.long))
    # empty batches: torch's Independent cannot sum over them, ours returns the empty result
    for d in (
        DiagNormal(torch.zeros(0, 2), torch.ones(0, 2)),
        TanhNormal(torch.zeros(0, 2), torch.ones(0, 2)),
        GaussianMixture(torch.zeros(0, 3), torch.zeros(0, 3, 2), torch.ones(0, 3, 2)),
    ):
        got = d.log_prob(torch.zeros(4, 0, 2))
        assert got.shape == (4, 0) and got.dtype == torch.float32
    assert DiagNormal(torch.zeros(2), torch.ones(2)).log_prob(torch.zeros(0, 2)).shape == (0,)


@pytest.mark.parametrize(("batch", "got"), [((3, 4), "batch_shape (3, 4)"), ((), "batch_shape ()")])
def test_dist_annotation_with_the_wrong_batch_rank_is_a_shape_error(
    batch: tuple[int, ...], got: str
) -> None:
    # was: AttributeError: 'DiagNormal' object has no attribute 'shape'
    @check
    def act(pi: DiagNormal["batch", "act"]) -> None:
        return None

    @check
    def pick(pi: Dist[Categorical, "batch"]) -> None:
        return None

    with pytest.raises(ShapeError, match="batch_shape") as info:
        act(DiagNormal(torch.zeros(*batch, 2), torch.ones(*batch, 2)))
    assert (info.value.function, info.value.argument, info.value.got) == ("act", "pi", got)
    with pytest.raises(ShapeError, match="batch_shape") as info:
        pick(Categorical(logits=torch.zeros(*batch, 5)))
    assert (info.value.function, info.value.argument, info.value.got) == ("pick", "pi", got)
