"""The checked ops under ``torch.compile(fullgraph=True)``: no graph breaks on valid
input, the eager result, and a wrong shape still raises shapesafe's own message (at
trace time, through dynamo's ``comptime``), not dynamo's "cannot trace" error."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from shapesafe.ops import flatten, gather, newaxis, reshape, squeeze, take_along, unsqueeze

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
