"""Fuzz tests of shapesafe.distributions: odd parameters and values give torch's result
or a ShapesafeError, never anything else."""

from __future__ import annotations

import math
import typing

import pytest
import torch
import torch.distributions as td
from hypothesis import event, given, settings
from hypothesis import strategies as st
from torch import Tensor

from _dist_common import same
from shapesafe.distributions import (
    Bernoulli,
    Beta,
    Categorical,
    DiagNormal,
    GaussianMixture,
    MultiCategorical,
    MultivariateNormal,
    Normal,
    TanhNormal,
)
from shapesafe.errors import (
    ShapesafeError,
)

values = pytest.mark.values


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
    if name == "mask":
        return torch.rand(shape, generator=gen) > 0.3
    if name in ("scale", "scales", "probs", "concentration1", "concentration0"):
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
    if cls is Beta:
        beta = td.Beta(kwargs["concentration1"], kwargs["concentration0"], validate_args=v)
        return td.Independent(beta, 1, validate_args=v)
    if cls is MultiCategorical:
        return _IndependentCategoricals(kwargs["logits"], kwargs["mask"], v)
    assert cls is GaussianMixture
    mix = td.Categorical(logits=kwargs["logits"], validate_args=v)
    comp = td.Independent(
        td.Normal(kwargs["locs"], kwargs["scales"], validate_args=v), 1, validate_args=v
    )
    return td.MixtureSameFamily(mix, comp, validate_args=v)


class _IndependentCategoricals:
    """The reference of a MultiCategorical over nvec (K, 1): torch Categoricals side by
    side, masked logits set to -inf."""

    def __init__(self, logits: Tensor, mask: Tensor | None, validate: bool | None) -> None:
        if mask is not None:
            logits = logits.masked_fill(~mask, -math.inf)
        self.parts = [
            td.Categorical(logits=part, validate_args=validate)
            for part in logits.split(list(MULTI_NVEC(logits.shape[-1])), -1)
        ]
        self.batch_shape = self.parts[0].batch_shape
        self.event_shape = torch.Size([len(self.parts)])

    def log_prob(self, value: Tensor) -> Tensor:
        return torch.stack([p.log_prob(value[..., i]) for i, p in enumerate(self.parts)], -1).sum(
            -1
        )


def MULTI_NVEC(n: int) -> tuple[int, ...]:
    """The nvec of the fuzzed MultiCategoricals: (K, 1), for logits of K + 1 entries."""
    return (n - 1, 1)


_PARAMS: dict[type, tuple[str, ...]] = {
    Normal: ("loc", "scale"),
    DiagNormal: ("loc", "scale"),
    TanhNormal: ("loc", "scale"),
    MultivariateNormal: ("loc", "covariance_matrix", "precision_matrix", "scale_tril"),
    Categorical: ("probs", "logits"),
    Bernoulli: ("probs", "logits"),
    GaussianMixture: ("logits", "locs", "scales"),
    Beta: ("concentration1", "concentration0"),
    MultiCategorical: ("logits", "mask"),
}


def _zeros_value(d: typing.Any) -> Tensor:
    shape = tuple(d.batch_shape) + tuple(d.event_shape)
    if isinstance(d, Beta):  # inside (0, 1), where no clamping happens
        return torch.full(shape, 0.5, dtype=d.concentration1.dtype)
    if isinstance(d, (td.Categorical, MultiCategorical)):
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
        "logits": (k + 1,) if cls is MultiCategorical else (k,) if cls is not Bernoulli else (),
        "mask": (k + 1,),
        "concentration1": (d,),
        "concentration0": (d,),
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
    if cls is MultiCategorical:
        if data.draw(st.booleans(), label="drop mask"):
            kwargs["mask"] = None
        logits = kwargs["logits"]
        n = logits.shape[-1] if isinstance(logits, Tensor) and logits.dim() else k + 1
        kwargs["nvec"] = MULTI_NVEC(max(n, 2))
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
