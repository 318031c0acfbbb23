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

from _dist_common import batch_shapes, same, sample_shapes, sizes
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
    DtypeError,
    ShapeError,
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
