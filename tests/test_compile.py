"""The checked ops and strict broadcasting under ``torch.compile(fullgraph=True)``: no graph breaks on valid
input, the eager result, and a wrong shape still raises shapesafe's own message (at
trace time, through dynamo's ``comptime``), not dynamo's "cannot trace" error."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

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
    with pytest.raises(Exception) as info:
        compiled(*bad)
    assert f"ShapeError: {expected}" in str(info.value)


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
            r"BroadcastError: strict_broadcasting: `\+` \(add\) would broadcast shapes "
            r"\(8,\) and \(8, 1\) to \(8, 8\).*\n  at .*test_compile\.py:\d+\n    "
            r"return r \+ 0\.99 \* q",
        ),
        (
            _mse,
            (torch.randn(8), torch.randn(8)),
            (torch.randn(8, 1), torch.randn(8)),
            r"BroadcastError: strict_broadcasting: mse_loss\(\) got input \(8, 1\), target "
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
        with pytest.raises(Exception, match=pattern):
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
