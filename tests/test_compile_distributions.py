"""Every checked distribution under torch.compile: the compile matrix of issue 11.

One program builds all seven distributions from the same batch and calls what each
defines (construct, log_prob, sample/rsample, entropy, mean/mode). It is compiled with
``fullgraph=True`` on the eager and inductor backends, with automatic dynamic shapes
and with ``dynamic=True``, and run over batch sizes 64, 64, 32, 1, 7 (a repeat, a
smaller batch, a batch of one, a ragged last batch): every output must equal the eager
run with the same seed. Then a wrong shape, after the good calls, must raise
shapesafe's own error, catchable as ``shapesafe.ShapeError`` around the compiled call.

One program per configuration keeps the number of (slow) inductor compilations small.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from torch import Tensor

import shapesafe
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

# torch's own inductor lowering of ``diagonal`` (MultivariateNormal) warns about itself
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch._prims_common.check` is deprecated:FutureWarning"
)

A, K = 3, 4  # action dim, categories / components
BATCHES = (64, 64, 32, 1, 7)
CONFIGS = list(itertools.product(["eager", "inductor"], [None, True]))
IDS = [f"{backend}-{'dynamic' if dynamic else 'automatic'}" for backend, dynamic in CONFIGS]


@pytest.fixture(autouse=True)
def _fresh_dynamo() -> Iterator[None]:
    torch._dynamo.reset()
    with torch._inductor.config.patch(fallback_random=True):  # same draws as eager
        yield
    torch._dynamo.reset()


def inputs(b: int, seed: int = 0) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed + b)
    raw = torch.randn(b, K, A, generator=g)
    return {
        "loc": torch.randn(b, A, generator=g),
        "scale": torch.rand(b, A, generator=g) + 0.1,
        "tril": torch.eye(A) + 0.1 * torch.randn(b, A, A, generator=g).tril(-1),
        "logits": torch.randn(b, K, generator=g),
        "locs": raw,
        "action": torch.rand(b, A, generator=g) * 1.8 - 0.9,
        "index": torch.randint(0, K, (b,), generator=g),
        "coin": torch.randint(0, 2, (b,), generator=g).float(),
    }


def program(
    loc: Tensor,
    scale: Tensor,
    tril: Tensor,
    logits: Tensor,
    locs: Tensor,
    action: Tensor,
    index: Tensor,
    coin: Tensor,
) -> list[Tensor]:
    out: list[Tensor] = []
    normal = Normal(loc[:, 0], scale[:, 0])
    out += [normal.log_prob(action[:, 0]), normal.cdf(action[:, 0]), normal.rsample()]
    out += [normal.entropy(), normal.mean, normal.mode]
    diag = DiagNormal(loc, scale)
    out += [diag.log_prob(action), diag.rsample((2,)), diag.sample(), diag.entropy()]
    out += [diag.mean, diag.mode]
    tanh = TanhNormal(loc, scale)
    out += [tanh.log_prob(action), tanh.rsample(), tanh.mode]
    mvn = MultivariateNormal(loc, scale_tril=tril)
    out += [mvn.log_prob(action), mvn.rsample(), mvn.entropy(), mvn.mean, mvn.mode]
    cat = Categorical(logits=logits)
    out += [cat.log_prob(index), cat.sample().float(), cat.entropy(), cat.mode.float()]
    coin_flip = Bernoulli(logits=logits[:, 0])
    out += [coin_flip.log_prob(coin), coin_flip.sample(), coin_flip.entropy(), coin_flip.mean]
    mix = GaussianMixture(logits, locs, scale[:, None, :].expand(-1, K, -1))
    out += [mix.log_prob(action), mix.sample(), mix.mean]
    return out


def run_seeded(fn: Callable[..., list[Tensor]], args: dict[str, Tensor]) -> list[Tensor]:
    torch.manual_seed(123)
    return fn(**args)


@pytest.mark.parametrize(("backend", "dynamic"), CONFIGS, ids=IDS)
def test_every_distribution_compiles_and_matches_eager(backend: str, dynamic: bool | None) -> None:
    compiled = torch.compile(program, fullgraph=True, dynamic=dynamic, backend=backend)
    for i, b in enumerate(BATCHES):
        args = inputs(b, seed=i)
        got = run_seeded(compiled, args)
        expected = run_seeded(program, args)
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            assert g.shape == e.shape
            torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)
    # after the good calls: a wrong shape still raises shapesafe's error, as itself
    bad = inputs(8)
    bad["action"] = bad["action"][:, None, :]  # (B, 1, A): action[:, 0] is (B, A), not (B,)
    with pytest.raises(shapesafe.ShapeError) as info:
        compiled(**bad)
    assert (info.value.function, info.value.argument) == ("Normal.log_prob", "value")
    assert (info.value.expected, info.value.got) == ("(*sample_shape, 8)", "(8, 3)")


NVEC = (3, 2)  # a MultiDiscrete([3, 2]) action space
LOW, HIGH = torch.tensor([-2.0, 0.0, -1.0]), torch.tensor([1.0, 3.0, 1.0])


def action_space_inputs(b: int, seed: int = 0) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed + b)
    mask = torch.rand(b, K, generator=g) > 0.5
    mask[:, 0] = True  # a legal action in every row
    multi_mask = torch.rand(b, sum(NVEC), generator=g) > 0.4
    multi_mask[:, [0, NVEC[0]]] = True
    return {
        "logits": torch.randn(b, K, generator=g),
        "mask": mask,
        "multi_logits": torch.randn(b, sum(NVEC), generator=g),
        "multi_mask": multi_mask,
        "c1": torch.rand(b, A, generator=g) + 0.5,
        "c0": torch.rand(b, A, generator=g) + 0.5,
        "loc": torch.randn(b, A, generator=g),
        "scale": torch.rand(b, A, generator=g) + 0.1,
        "action": LOW + (HIGH - LOW) * torch.rand(b, A, generator=g),
        "index": torch.zeros(b, dtype=torch.long),
        "multi_index": torch.zeros(b, len(NVEC), dtype=torch.long),
    }


def action_spaces(
    logits: Tensor,
    mask: Tensor,
    multi_logits: Tensor,
    multi_mask: Tensor,
    c1: Tensor,
    c0: Tensor,
    loc: Tensor,
    scale: Tensor,
    action: Tensor,
    index: Tensor,
    multi_index: Tensor,
) -> list[Tensor]:
    # the RL action-space distributions of issue 15: masks, MultiDiscrete, Box bounds
    out: list[Tensor] = []
    cat = Categorical(logits=logits, mask=mask)
    out += [cat.log_prob(index), cat.entropy(), cat.mode.float(), cat.probs, cat.sample().float()]
    by_probs = Categorical(probs=logits.softmax(-1), mask=mask)
    out += [by_probs.log_prob(index), by_probs.entropy()]
    multi = MultiCategorical(multi_logits, nvec=NVEC, mask=multi_mask)
    out += [multi.log_prob(multi_index), multi.entropy(), multi.mode.float(), multi.probs]
    out += [multi.sample().float()]
    beta = Beta(c1, c0, low=LOW, high=HIGH)
    out += [beta.log_prob(action), beta.mean, beta.mode, beta.entropy(), beta.variance]
    tanh = TanhNormal(loc, scale, low=LOW, high=HIGH)
    drawn = tanh.rsample()
    out += [tanh.log_prob(action), drawn, tanh.log_prob(drawn), tanh.mode]
    # compiled Beta draws come from two Gammas (torch's Dirichlet sampler does not
    # trace): another random stream than eager's, so only their range is compared
    draws = beta.rsample((2,))
    out += [((draws >= LOW) & (draws <= HIGH)).all().float()]
    out += [beta.log_prob(draws).isfinite().all().float()]
    return out


# inductor once (with dynamic shapes): its compilations dominate this file's run time, and
# the recompilations of automatic dynamic shapes are exercised on the eager backend
ACTION_CONFIGS = [c for c in CONFIGS if c != ("inductor", None)]


@pytest.mark.parametrize(
    ("backend", "dynamic"), ACTION_CONFIGS, ids=[IDS[CONFIGS.index(c)] for c in ACTION_CONFIGS]
)
def test_action_space_distributions_compile_and_match_eager(
    backend: str, dynamic: bool | None
) -> None:
    compiled = torch.compile(action_spaces, fullgraph=True, dynamic=dynamic, backend=backend)
    for i, b in enumerate(BATCHES):
        args = action_space_inputs(b, seed=i)
        got = run_seeded(compiled, args)
        expected = run_seeded(action_spaces, args)
        for g, e in zip(got, expected, strict=True):
            assert g.shape == e.shape
            torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)
    bad = action_space_inputs(8)
    bad["multi_index"] = bad["multi_index"][:, :1]  # one column of a 2-sub-action space
    with pytest.raises(shapesafe.ShapeError) as info:
        compiled(**bad)
    assert (info.value.function, info.value.argument) == ("MultiCategorical.log_prob", "value")
    assert (info.value.expected, info.value.got) == ("(*sample_shape, 8, 2)", "(8, 1)")


def score(loc: Tensor, scale: Tensor, action: Tensor) -> Tensor:
    return DiagNormal(loc, scale).log_prob(action)


def scalar_score(logits: Tensor, index: Tensor) -> Tensor:
    return Categorical(logits=logits).log_prob(index)


def tanh_entropy(loc: Tensor, scale: Tensor) -> Tensor:
    return TanhNormal(loc, scale).entropy()


def mixture_rsample(logits: Tensor, locs: Tensor, scales: Tensor) -> Tensor:
    return GaussianMixture(logits, locs, scales).rsample()


def multi_score(logits: Tensor, action: Tensor) -> Tensor:
    return MultiCategorical(logits, nvec=NVEC).log_prob(action)


def bounded_beta(c: Tensor, low: Tensor, high: Tensor) -> Tensor:
    return Beta(c, c, low=low, high=high).mean


WRONG: list[tuple[str, Callable[..., Any], tuple[Tensor, ...], type, str, str | None]] = [
    # (case, function, arguments, error class, error function, error argument)
    (
        "log_prob batch",
        score,
        (torch.zeros(7, 3), torch.ones(7, 3), torch.zeros(6, 3)),
        shapesafe.ShapeError,
        "DiagNormal.log_prob",
        "value",
    ),
    (
        "log_prob trailing one",
        scalar_score,
        (torch.zeros(7, 4), torch.zeros(7, 1, dtype=torch.long)),
        shapesafe.ShapeError,
        "Categorical.log_prob",
        "value",
    ),
    (
        "log_prob dtype",
        scalar_score,
        (torch.zeros(7, 4), torch.zeros(7)),
        shapesafe.DtypeError,
        "Categorical.log_prob",
        "value",
    ),
    (
        "parameters",
        score,
        (torch.zeros(7, 3), torch.ones(3), torch.zeros(7, 3)),
        shapesafe.ShapeError,
        "DiagNormal",
        "scale",
    ),
    (
        "no closed form",
        tanh_entropy,
        (torch.zeros(7, 3), torch.ones(7, 3)),
        shapesafe.UsageError,
        "TanhNormal.entropy",
        None,
    ),
    (
        "multi-categorical head size",
        multi_score,
        (torch.zeros(7, 6), torch.zeros(7, 2, dtype=torch.long)),
        shapesafe.ShapeError,
        "MultiCategorical",
        "logits",
    ),
    (
        "bounds per batch row",
        bounded_beta,
        (torch.ones(7, 3), torch.zeros(7), torch.ones(7)),
        shapesafe.ShapeError,
        "Beta",
        "low",
    ),
    (
        "no rsample",
        mixture_rsample,
        (torch.zeros(7, 4), torch.zeros(7, 4, 3), torch.ones(7, 4, 3)),
        shapesafe.UsageError,
        "GaussianMixture.rsample",
        None,
    ),
]


@pytest.mark.parametrize(("backend", "dynamic"), CONFIGS, ids=IDS)
@pytest.mark.parametrize(
    ("case", "fn", "args", "cls", "function", "argument"), WRONG, ids=[w[0] for w in WRONG]
)
def test_wrong_input_raises_our_error_under_compile(
    backend: str,
    dynamic: bool | None,
    case: str,
    fn: Callable[..., Any],
    args: tuple[Tensor, ...],
    cls: type,
    function: str,
    argument: str | None,
) -> None:
    compiled = torch.compile(fn, fullgraph=True, dynamic=dynamic, backend=backend)
    with pytest.raises(cls) as info:
        compiled(*args)
    err = info.value
    assert isinstance(err, shapesafe.ShapesafeError)
    assert (err.function, err.argument) == (function, argument)
    # the same error, field for field, as in eager mode
    with pytest.raises(cls) as eager:
        fn(*args)
    assert (eager.value.expected, eager.value.got) == (err.expected, err.got)


@pytest.mark.parametrize("dynamic", [None, True], ids=["automatic", "dynamic"])
def test_a_wrong_batch_after_good_ones_recompiles_and_raises(dynamic: bool | None) -> None:
    compiled = torch.compile(score, fullgraph=True, dynamic=dynamic, backend="eager")
    for b in BATCHES:
        compiled(torch.zeros(b, 3), torch.ones(b, 3), torch.zeros(b, 3))
    with pytest.raises(shapesafe.ShapeError) as info:
        compiled(torch.zeros(5, 3), torch.ones(4, 3), torch.zeros(5, 3))
    assert (info.value.function, info.value.argument) == ("DiagNormal", "scale")
    with pytest.raises(shapesafe.ShapeError) as info:
        compiled(torch.zeros(5, 3), torch.ones(5, 3), torch.zeros(4, 3))
    assert (info.value.function, info.value.axis) == ("DiagNormal.log_prob", 0)


def kl_terms(a: Tensor, b: Tensor, la: Tensor, lb: Tensor) -> tuple[Tensor, Tensor]:
    gauss = torch.distributions.kl_divergence(DiagNormal(a, a.exp()), DiagNormal(b, b.exp()))
    cat = torch.distributions.kl_divergence(Categorical(logits=la), Categorical(logits=lb))
    return gauss, cat


@pytest.mark.parametrize("dynamic", [None, True], ids=["automatic", "dynamic"])
def test_kl_divergence_under_compile_without_fullgraph(dynamic: bool | None) -> None:
    # torch's own kl_divergence does not trace with fullgraph=True in torch 2.13 (its
    # dispatch calls min() over a generator), plain torch distributions included; with
    # a graph break there, results and our errors are unchanged
    compiled = torch.compile(kl_terms, dynamic=dynamic, backend="eager")
    for b in BATCHES:
        args = (torch.randn(b, A), torch.randn(b, A), torch.randn(b, K), torch.randn(b, K))
        for g, e in zip(compiled(*args), kl_terms(*args), strict=True):
            torch.testing.assert_close(g, e)
    with pytest.raises(shapesafe.ShapeError) as info:
        compiled(torch.zeros(5, A), torch.zeros(4, A), torch.zeros(5, K), torch.zeros(5, K))
    assert (info.value.function, info.value.expected, info.value.got) == (
        "kl_divergence",
        "(5,)",
        "(4,)",
    )
    with pytest.raises(shapesafe.ShapeError, match="categories") as info:
        compiled(torch.zeros(5, A), torch.zeros(5, A), torch.zeros(5, K), torch.zeros(5, 1))
    assert info.value.argument == "q"


def scalar_parameters(loc: Tensor, std: float, action: Tensor) -> Tensor:
    diag = DiagNormal(loc, std).log_prob(action)
    normal = Normal(0.0, std).log_prob(action[:, 0])
    coin = Bernoulli(probs=std / 2).log_prob(action[:, 0].clamp(0, 1).round())
    mix = GaussianMixture(loc, loc[..., None], std).log_prob(action[:, :1])
    return diag + normal + coin + mix


@pytest.mark.parametrize("dynamic", [None, True], ids=["automatic", "dynamic"])
def test_python_number_parameters_compile(dynamic: bool | None) -> None:
    # dynamic=True traces float arguments as symbols, which reached the trace-time check
    # as opaque markers and were refused as "not a tensor or a Python number"
    compiled = torch.compile(scalar_parameters, fullgraph=True, dynamic=dynamic, backend="eager")
    for std in (0.5, 0.7, 1.3):
        for b in (4, 3):
            args = (torch.randn(b, 2), std, torch.rand(b, 2))
            torch.testing.assert_close(compiled(*args), scalar_parameters(*args))


def other_parameterizations(
    loc: Tensor, cov: Tensor, probs: Tensor, action: Tensor, index: Tensor
) -> list[Tensor]:
    # the alternatives the main program does not use: broadcast=True, probs=,
    # covariance_matrix= and precision_matrix=
    scales = torch.ones(K, A)
    mix = GaussianMixture(probs.log(), loc[:, None, :].expand(-1, K, -1), scales, broadcast=True)
    cov_form = MultivariateNormal(loc, cov)
    precision_form = MultivariateNormal(loc, precision_matrix=cov)
    squashed = TanhNormal(loc, torch.ones(A), broadcast=True)
    return [
        mix.log_prob(action),
        cov_form.log_prob(action),
        precision_form.log_prob(action),
        Categorical(probs=probs).log_prob(index),
        Bernoulli(probs=probs[:, 0]).log_prob(index.clamp(0, 1).float()),
        squashed.log_prob(action.tanh()),
        squashed.entropy_estimate(3),
    ]


@pytest.mark.parametrize("dynamic", [None, True], ids=["automatic", "dynamic"])
def test_other_parameterizations_compile(dynamic: bool | None) -> None:
    compiled = torch.compile(
        other_parameterizations, fullgraph=True, dynamic=dynamic, backend="eager"
    )
    for b in BATCHES:
        g = torch.Generator().manual_seed(b)
        args = (
            torch.randn(b, A, generator=g),
            torch.eye(A).expand(b, A, A),
            torch.rand(b, K, generator=g) * 0.8 + 0.1,
            torch.randn(b, A, generator=g),
            torch.randint(0, K, (b,), generator=g),
        )
        got = run_seeded(compiled, dict(zip(["loc", "cov", "probs", "action", "index"], args)))
        expected = run_seeded(
            other_parameterizations, dict(zip(["loc", "cov", "probs", "action", "index"], args))
        )
        for x, y in zip(got, expected, strict=True):
            torch.testing.assert_close(x, y)
