"""The checked ops and strict broadcasting under ``torch.compile(fullgraph=True)``: no graph breaks on valid
input, the eager result, and a wrong shape still raises shapesafe's own message (at
trace time, through dynamo's ``comptime``), not dynamo's "cannot trace" error."""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Callable
from typing import NamedTuple

import pytest
import torch
from jaxtyping import Bool, Float
from torch import Tensor
from torch._dynamo.utils import counters

import shapesafe
from shapesafe.ops import flatten, gather, newaxis, reshape, squeeze, take_along, unsqueeze
from shapesafe.strict import strict_broadcasting

Op = Callable[[Tensor, Tensor], Tensor]

q = torch.randn(8, 6)
a = torch.randint(0, 6, (8,))

# name: (op, valid inputs, wrong inputs)
CASES: dict[str, tuple[Op, tuple[Tensor, Tensor], tuple[Tensor, Tensor]]] = {
    "take_along trailing 1": (lambda v, i: take_along(v, i), (q, a), (q, a[:, None])),
    "take_along leading dims": (lambda v, i: take_along(v, i), (q, a), (q, a[:4])),
    "gather smaller index": (lambda v, i: gather(v, 1, i[:, None]), (q, a), (q[:4], a)),
    "squeeze non-1 axis": (lambda v, i: squeeze(v, 1), (q[:, :1], a), (q[:, :2], a)),
    "unsqueeze out of range": (lambda v, i: unsqueeze(v, 2), (q, a), (q[0], a)),
    "newaxis wrong rank": (lambda v, i: newaxis(v)[:, None, :], (q, a), (q[0], a)),
    "reshape pattern": (
        lambda v, i: reshape(v, "b (x y) -> b x y", y=2),
        (q, a),
        (q[:, :5], a),
    ),
    "reshape keep": (lambda v, i: reshape(v, 3, 2, keep=1), (q, a), (q[:, :5], a)),
    "flatten flat input": (lambda v, i: flatten(v), (q, a), (q[:, 0], a)),
}


def _eager_message(op: Op, args: tuple[Tensor, Tensor]) -> str:
    with pytest.raises(ValueError) as info:  # ShapeError is a ValueError
        op(*args)
    return str(info.value).splitlines()[0]


@pytest.mark.parametrize("name", sorted(CASES))
def test_ops_compile_fullgraph_and_keep_their_messages(name: str) -> None:
    op, good, bad = CASES[name]
    torch._dynamo.reset()
    assert torch._dynamo.explain(op)(*good).graph_break_count == 0
    compiled = torch.compile(op, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(*good), op(*good))
    expected = _eager_message(op, bad)
    with pytest.raises(shapesafe.ShapeError) as info:  # arrives as itself, catchable
        compiled(*bad)
    assert str(info.value).startswith(expected)


# ---------------------------------------------------------------- strict broadcasting


def _td_target(r: Tensor, q: Tensor) -> Tensor:
    return r + 0.99 * q  # the line the error must point at


def _mse(p: Tensor, t: Tensor) -> Tensor:
    return torch.nn.functional.mse_loss(p, t)


def _policy_nll(mean: Tensor, log_std: Tensor, act: Tensor) -> Tensor:
    # torch.distributions broadcasts (B, A) with (A,) internally: that is not user code
    return (
        -torch.distributions.Normal(mean, log_std.exp(), validate_args=False)
        .log_prob(act)
        .sum(-1)
        .mean()
    )


@pytest.mark.parametrize(
    ("fn", "good", "bad", "pattern"),
    [
        (
            _td_target,
            (torch.randn(8), torch.randn(8)),
            (torch.randn(8), torch.randn(8, 1)),
            r"^strict_broadcasting: `\+` \(add\) would broadcast shapes "
            r"\(8,\) and \(8, 1\) to \(8, 8\).*\n  at .*test_compile\.py:\d+\n    "
            r"return r \+ 0\.99 \* q",
        ),
        (
            _mse,
            (torch.randn(8), torch.randn(8)),
            (torch.randn(8, 1), torch.randn(8)),
            r"^strict_broadcasting: mse_loss\(\) got input \(8, 1\), target "
            r"\(8,\): torch would broadcast them to \(8, 8\)",
        ),
    ],
)
def test_strict_broadcasting_under_compile(
    fn: Callable[..., Tensor], good: tuple[Tensor, ...], bad: tuple[Tensor, ...], pattern: str
) -> None:
    torch._dynamo.reset()
    compiled = torch.compile(fn, fullgraph=True, backend="eager")
    with strict_broadcasting():
        assert torch._dynamo.explain(fn)(*good).graph_break_count == 0
        torch.testing.assert_close(compiled(*good), fn(*good))
        with pytest.raises(shapesafe.BroadcastError, match=pattern):
            compiled(*bad)
    # outside the mode the same compiled function broadcasts as torch does (mse_loss warns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert compiled(*bad).shape == fn(*bad).shape


def test_strict_broadcasting_lets_torch_internals_broadcast_under_compile() -> None:
    torch._dynamo.reset()
    mean, log_std, act = torch.randn(16, 3), torch.zeros(3), torch.randn(16, 3)
    compiled = torch.compile(_policy_nll, fullgraph=True, backend="eager")
    with strict_broadcasting():
        torch.testing.assert_close(compiled(mean, log_std, act), _policy_nll(mean, log_std, act))


def _sac_pieces(y: Tensor, scale: Tensor, log_alpha: Tensor, log_pi: Tensor) -> Tensor:
    action = y * scale + scale  # (B, A) with (A,) buffers
    alpha_loss = (-log_alpha.exp() * (log_pi + 1.0)).mean()  # (1,) with (B, 1)
    return action.sum() + alpha_loss


def _logp_column(mean: Tensor, actions: Tensor) -> Tensor:
    return torch.distributions.Normal(mean, 1.0, validate_args=False).log_prob(actions)


def _batch_total(log_prob: Tensor, adv: Tensor) -> Tensor:
    return log_prob.sum(0) * adv


def test_strict_rule_under_compile() -> None:
    """Per-feature buffers and one-element parameters pass while compiling; (B, 1)
    actions into a (B,) Normal raise at trace time; batch totals (rule 4) are not
    tracked while compiling (documented), so that pattern compiles and runs."""
    torch._dynamo.reset()
    args = (torch.randn(8, 3), torch.ones(3), torch.zeros(1), torch.randn(8, 1))
    with strict_broadcasting():
        assert torch._dynamo.explain(_sac_pieces)(*args).graph_break_count == 0
        compiled = torch.compile(_sac_pieces, fullgraph=True, backend="eager")
        torch.testing.assert_close(compiled(*args), _sac_pieces(*args))
        logp = torch.compile(_logp_column, fullgraph=True, backend="eager")
        assert logp(torch.zeros(8), torch.zeros(8)).shape == (8,)
        with pytest.raises(shapesafe.BroadcastError, match=r"shapes \(8, 1\) and \(8,\)"):
            logp(torch.zeros(8), torch.zeros(8, 1))
        total = torch.compile(_batch_total, fullgraph=True, backend="eager")
        log_prob = torch.randn(8, requires_grad=True)
        assert total(log_prob, torch.randn(8)).shape == (8,)
        with pytest.raises(shapesafe.BroadcastError, match=r"total over the batch"):
            _batch_total(log_prob, torch.randn(8))  # eager: caught


# ---------------------------------------------------------------- @check under compile


class _Step(NamedTuple):
    action: Float[Tensor, "batch act"]
    log_prob: Float[Tensor, "batch"]


@dataclasses.dataclass
class _Dist:
    mean: Float[Tensor, "batch act"]
    std: Float[Tensor, "batch act"]


@shapesafe.check
def _policy(
    obs: Float[Tensor, "batch obs"],
    w: Float[Tensor, "obs act"],
    mask: Bool[Tensor, "batch"] | None = None,
    scale: float = 1.0,
) -> tuple[_Step, _Dist]:
    a = obs @ w * scale
    return _Step(a, a.sum(-1)), _Dist(a, a.exp())


@pytest.mark.parametrize("dynamic", [False, True])
def test_structured_signatures_compile_without_breaks_or_recompiles(dynamic: bool) -> None:
    torch._dynamo.reset()
    good = (torch.randn(8, 3), torch.randn(3, 2), torch.ones(8, dtype=torch.bool))
    assert torch._dynamo.explain(_policy)(*good).graph_break_count == 0
    torch._dynamo.reset()
    compiled = torch.compile(_policy, fullgraph=True, dynamic=dynamic, backend="eager")
    counters.clear()
    for _ in range(4):
        step, _ = compiled(*good)
    assert counters["stats"]["unique_graphs"] == 1  # no recompile per call
    torch.testing.assert_close(step.action, _policy(*good)[0].action)
    if dynamic:  # new sizes reuse the graph: the checks became guards on symbolic sizes
        for n in (9, 10):
            compiled(torch.randn(n, 3), torch.randn(3, 2), torch.ones(n, dtype=torch.bool))
        assert counters["stats"]["unique_graphs"] == 1
    with pytest.raises(  # as itself, catchable as shapesafe.ShapeError
        shapesafe.ShapeError,
        match=r"^_policy\(\): argument `mask` axis 0 \('batch'\): expected batch=8",
    ):
        compiled(torch.randn(8, 3), torch.randn(3, 2), torch.ones(9, dtype=torch.bool))


@shapesafe.check
def _combine(
    a: Float[Tensor, "n"],
    *rest: Float[Tensor, "n"],
    extra: tuple[Float[Tensor, "n"], ...] = (),
    scale: float = 2.0,
    **named: Float[Tensor, "n"],
) -> Float[Tensor, "n"]:
    out = a
    for r in (*rest, *extra, *named.values()):
        out = out + r
    return out * scale


def _first_line(
    fn: Callable[..., object], args: tuple[object, ...], kwargs: dict[str, object]
) -> str:
    with pytest.raises(Exception) as info:
        fn(*args, **kwargs)
    text = str(info.value)
    return text.removeprefix("ShapeError: ").removeprefix("DtypeError: ").splitlines()[0]


@pytest.mark.parametrize("dynamic", [False, True])
def test_containers_are_explained_under_compile_as_in_eager(dynamic: bool) -> None:
    """``*args``, ``**kwargs`` and ``tuple[X, ...]`` are rebuilt at trace time, so the
    compiled error names the element (not "not inspectable"), and a traced float is
    never blamed in its place."""
    torch._dynamo.reset()
    compiled = torch.compile(_combine, fullgraph=True, dynamic=dynamic, backend="eager")
    x = torch.ones(3)
    torch.testing.assert_close(compiled(x, x, extra=(x,), scale=1.5, z=x), torch.full((3,), 6.0))
    bad: list[tuple[tuple[Tensor, ...], dict[str, object], str]] = [
        ((x, x, torch.ones(2)), {}, r"argument `rest`\[1\] axis 0 \('n'\): expected n=3"),
        ((x,), {"extra": (x, torch.ones(4))}, r"argument `extra`\[1\] axis 0 \('n'\)"),
        ((x,), {"z": torch.ones(4)}, r"argument `named`\['z'\] axis 0 \('n'\)"),
        ((x,), {"scale": "s"}, r"argument `scale`: expected float, got str"),
    ]
    for args, kwargs, pattern in bad:
        eager = _first_line(_combine, args, kwargs)
        assert re.search(pattern, eager), eager
        assert _first_line(compiled, args, kwargs) == eager


def test_beartype_only_annotations_are_skipped_under_compile() -> None:
    """Documented in docs/checker.md: dynamo cannot trace beartype, so ``dict[str, int]``
    and the like are checked in eager mode only; the function still compiles fullgraph.
    (``list[X]`` is checked item by item by shapesafe itself, compiled or not.)"""

    @shapesafe.check
    def f(x: Float[Tensor, "b"], sizes: dict[str, int]) -> Float[Tensor, "b"]:
        return x * len(sizes)

    with pytest.raises(shapesafe.DtypeError, match=r"argument `sizes`: expected dict\[str, int\]"):
        f(torch.ones(2), {"a": "b"})  # type: ignore[dict-item]
    torch._dynamo.reset()
    assert torch._dynamo.explain(f)(torch.ones(2), {"a": 1}).graph_break_count == 0
    compiled = torch.compile(f, fullgraph=True, backend="eager")
    assert torch.equal(compiled(torch.ones(2), {"a": "b"}), torch.ones(2))  # type: ignore[dict-item]
    with pytest.raises(Exception, match=r"argument `x` axis 0 \('b'\)|argument `x`: expected"):
        compiled(torch.ones(2, 2), [1])


@shapesafe.check
def _issue11(
    len: Float[Tensor, "n"],  # a parameter named like a builtin
    *xs: Float[Tensor, "2*n"],
    parts: list[Float[Tensor, "n//2"]],
    tuple: tuple[Float[Tensor, "n"], ...] = (),
) -> Float[Tensor, "n"]:
    out = len
    for x in xs:
        out = out + x[: out.shape[0]]
    return out + sum(p.sum() for p in parts)


@pytest.mark.parametrize("dynamic", [None, False, True])
def test_issue11_annotations_compile_over_batch_sizes(dynamic: bool | None) -> None:
    """Builtin-named parameters, symbolic dims in ``*args`` and in ``list[...]`` (with a
    division) trace without graph breaks at several sizes, including 2 and a ragged one,
    and a wrong size in the *first* element of ``*args`` still raises our error."""
    torch._dynamo.reset()
    compiled = torch.compile(_issue11, fullgraph=True, dynamic=dynamic, backend="eager")
    for n in (8, 4, 2, 6):
        x = torch.ones(n)
        args = (x, torch.ones(2 * n), torch.ones(2 * n))
        got = compiled(*args, parts=[torch.ones(n // 2)])
        torch.testing.assert_close(got, _issue11(*args, parts=[torch.ones(n // 2)]))
    with pytest.raises(shapesafe.ShapeError) as info:
        compiled(torch.ones(6), torch.ones(11), torch.ones(12), parts=[torch.ones(3)])
    assert (info.value.argument, info.value.expected) == ("xs[0]", "2*n=12")
    with pytest.raises(shapesafe.ShapeError) as info:
        compiled(torch.ones(6), torch.ones(12), parts=[torch.ones(3), torch.ones(2)])
    assert info.value.argument == "parts[1]"
