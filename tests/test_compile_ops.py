"""The checked ops and strict broadcasting under ``torch.compile``: the matrix of
issue 11 (blocker 1) and catchable compiled errors (blocker 2).

Every op compiles with ``fullgraph=True`` under automatic dynamic shapes
(``dynamic=None``) and ``dynamic=True``, on the ``eager``, ``aot_eager`` and ``inductor``
backends,
over batch sizes 64, 64, 32, 1, 7 (a repeat, a smaller batch, 1, and a ragged last
batch), with results equal to eager; a wrong shape afterwards still raises the library's
own error, catchable as ``shapesafe.ShapeError`` around the compiled call.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable

import pytest
import torch
from jaxtyping import Float
from torch import Tensor

import shapesafe
from shapesafe import BroadcastError, DtypeError, ShapeError
from shapesafe.ops import flatten, gather, newaxis, reshape, squeeze, take_along, unsqueeze
from shapesafe.strict import strict_broadcasting

BATCHES = (64, 64, 32, 1, 7)


def _q(b: int) -> Tensor:
    return torch.randn(b, 4)


def _actions(b: int, n: int = 4) -> Tensor:
    return torch.randint(0, n, (b,))


Inputs = Callable[[int], tuple[Tensor, ...]]

# name: (op, valid inputs of batch b, wrong inputs of batch b, function named by the error)
OPS: dict[str, tuple[Callable[..., Tensor], Inputs, Inputs, str]] = {
    "take_along": (
        lambda v, i: take_along(v, i),
        lambda b: (_q(b), _actions(b)),
        lambda b: (_q(b), _actions(b)[:, None]),
        "take_along",
    ),
    "take_along batch mismatch": (
        lambda v, i: take_along(v, i),
        lambda b: (_q(b), _actions(b)),
        lambda b: (_q(b), _actions(b + 1)),
        "take_along",
    ),
    "gather": (
        lambda v, i: gather(v, 1, i),
        lambda b: (_q(b), torch.randint(0, 4, (b, 2))),
        lambda b: (_q(b + 1), torch.randint(0, 4, (b, 2))),
        "gather",
    ),
    "squeeze": (
        lambda x: squeeze(x, 1),
        lambda b: (torch.randn(b, 1, 3),),
        lambda b: (torch.randn(b, 2, 3),),
        "squeeze",
    ),
    "unsqueeze": (
        lambda x: unsqueeze(x, 1, 3),
        lambda b: (torch.randn(b, 3),),
        lambda b: (torch.randn(b),),  # a rank the code did not expect: axis 3 of 1 + 2
        "unsqueeze",
    ),
    "newaxis": (
        lambda x: newaxis(x)[:, None, :],
        lambda b: (torch.randn(b, 3),),
        lambda b: (torch.randn(b),),
        "newaxis",
    ),
    "reshape pattern": (
        lambda x: reshape(x, "b (h w) -> b h w", w=2),
        lambda b: (torch.randn(b, 6),),
        lambda b: (torch.randn(b, 5),),
        "reshape",
    ),
    "reshape keep": (
        lambda x: reshape(x, 3, -1, keep=1),
        lambda b: (torch.randn(b, 6),),
        lambda b: (torch.randn(b, 5),),
        "reshape",
    ),
    "flatten": (
        lambda x: flatten(x),
        lambda b: (torch.randn(b, 2, 3),),
        lambda b: (torch.randn(b),),
        "flatten",
    ),
}


@pytest.mark.parametrize("backend", ["eager", "aot_eager", "inductor"])
@pytest.mark.parametrize("dynamic", [None, True], ids=["auto-dynamic", "dynamic"])
@pytest.mark.parametrize("name", sorted(OPS))
def test_ops_compile_over_changing_batch_sizes(
    name: str, dynamic: bool | None, backend: str
) -> None:
    op, good, bad, function = OPS[name]
    torch._dynamo.reset()
    compiled = torch.compile(op, fullgraph=True, dynamic=dynamic, backend=backend)
    for b in BATCHES:
        args = good(b)
        torch.testing.assert_close(compiled(*args), op(*args))
    # a wrong shape after the good ones (a new size: a guard fails, the recompilation's
    # trace-time check raises) is still our error, caught as itself
    with pytest.raises(ShapeError) as info:
        compiled(*bad(5))
    assert info.value.function == function
    eager = _eager_error(op, bad(5))
    assert type(info.value).__name__ == type(eager).__name__
    assert isinstance(info.value, type(eager))
    assert (info.value.argument, info.value.axis) == (eager.argument, eager.axis)
    assert (info.value.expected, info.value.got) == (eager.expected, eager.got)
    assert str(info.value).startswith(str(eager))


def _eager_error(op: Callable[..., Tensor], args: tuple[Tensor, ...]) -> shapesafe.ShapesafeError:
    with pytest.raises(shapesafe.ShapesafeError) as info:
        op(*args)
    return info.value


@pytest.mark.parametrize("name", sorted(OPS))
def test_ops_compile_without_graph_breaks(name: str) -> None:
    op, good, _, _ = OPS[name]
    torch._dynamo.reset()
    explained = torch._dynamo.explain(op)(*good(8))
    assert explained.graph_break_count == 0


@pytest.mark.parametrize("name", ["take_along batch mismatch", "gather", "reshape pattern"])
def test_in_graph_checks_guard_without_duck_shaping(name: str) -> None:
    # Without duck shaping, equal sizes get separate symbols, so nothing ties `index`'s
    # batch to `values`' but the checks' own comparisons, which dynamo turns into guards:
    # a mismatch later recompiles, and the recompilation's trace-time check raises.
    import torch.fx.experimental._config as fx_config

    op, good, bad, function = OPS[name]
    torch._dynamo.reset()
    with fx_config.patch(use_duck_shape=False):
        compiled = torch.compile(op, fullgraph=True, dynamic=True, backend="eager")
        for b in BATCHES:
            args = good(b)
            torch.testing.assert_close(compiled(*args), op(*args))
        with pytest.raises(ShapeError) as info:
            compiled(*bad(6))
    assert info.value.function == function


# ---------------------------------------------------------------- blocker 2: catchable


def test_compiled_error_is_the_library_error_with_its_fields() -> None:
    torch._dynamo.reset()
    compiled = torch.compile(lambda q, a: take_along(q, a), fullgraph=True, backend="eager")
    try:
        compiled(_q(8), _actions(8)[:, None])
    except ShapeError as err:  # the point of blocker 2: this clause catches it
        caught: ShapeError = err
    else:  # pragma: no cover - the call must raise
        raise AssertionError("no error raised")
    assert type(caught).__name__ == "ShapeError"
    assert type(caught).__module__ == "shapesafe"
    assert (caught.function, caught.argument, caught.axis) == ("take_along", "index", 1)
    assert (caught.expected, caught.got) == ("(8,)", "(8, 1)")
    # dynamo's addition names the user's line; its "report to PyTorch" note is dropped
    assert "from user code:" in str(caught)
    assert "TORCHDYNAMO_VERBOSE" not in str(caught)
    assert "shapesafe/ops" not in str(caught)
    # it pickles back as the plain public class (multiprocessing, DDP workers)
    back = pickle.loads(pickle.dumps(caught))
    assert type(back) is ShapeError
    assert (back.function, back.axis, back.got) == ("take_along", 1, "(8, 1)")


def test_compiled_dtype_error_is_catchable_as_dtype_error() -> None:
    torch._dynamo.reset()
    compiled = torch.compile(lambda q, a: take_along(q, a), fullgraph=True, backend="eager")
    with pytest.raises(DtypeError) as info:
        compiled(_q(8), _actions(8).float())
    assert (info.value.argument, info.value.got) == ("index", "float32")


def _td_target(r: Tensor, q: Tensor) -> Tensor:
    return r + 0.99 * q


@pytest.mark.parametrize("dynamic", [None, True], ids=["auto-dynamic", "dynamic"])
def test_strict_broadcasting_under_compile_with_changing_batch_sizes(dynamic: bool | None) -> None:
    torch._dynamo.reset()
    compiled = torch.compile(_td_target, fullgraph=True, dynamic=dynamic, backend="eager")
    with strict_broadcasting():
        for b in BATCHES:
            r, q = torch.randn(b), torch.randn(b)
            torch.testing.assert_close(compiled(r, q), _td_target(r, q))
        with pytest.raises(BroadcastError) as info:
            compiled(torch.randn(5), torch.randn(5, 1))
    assert re.search(r"would broadcast shapes \(5,\) and \(5, 1\) to \(5, 5\)", str(info.value))
    assert "return r + 0.99 * q" in str(info.value)


def test_errors_from_a_compiled_call_do_not_change_eager_behaviour() -> None:
    # the re-classed error is made only at trace time; eager raises the plain class
    with pytest.raises(ShapeError) as info:
        take_along(_q(3), _actions(3)[:, None])
    assert type(info.value) is ShapeError
    assert not isinstance(info.value, AssertionError)


def test_compiled_error_helpers() -> None:
    from shapesafe._compile import compiled_error, passthrough

    err = ShapeError("f(): bad", function="f", argument="x", axis=0, expected="1", got="2")
    re_classed = compiled_error(err)
    assert isinstance(re_classed, ShapeError)
    assert isinstance(re_classed, AssertionError)  # what lets it through dynamo
    assert compiled_error(re_classed) is re_classed
    assert type(compiled_error(ShapeError("g"))) is type(re_classed)  # one class per class
    assert re_classed._fields() == err._fields()
    with pytest.raises(ShapeError) as info, passthrough():
        raise err
    assert isinstance(info.value, AssertionError)


@shapesafe.check
def _row_sums(x: Float[Tensor, "b 3"]) -> Float[Tensor, " b"]:
    return x.sum(-1)


def test_compiled_check_error_is_catchable_as_shape_error() -> None:
    torch._dynamo.reset()
    compiled = torch.compile(_row_sums, fullgraph=True, backend="eager")
    for b in BATCHES:
        torch.testing.assert_close(compiled(torch.ones(b, 3)), torch.full((b,), 3.0))
    with pytest.raises(ShapeError) as info:
        compiled(torch.zeros(4, 2))
    assert (info.value.function, info.value.argument, info.value.axis) == ("_row_sums", "x", 1)


@pytest.mark.values
@pytest.mark.parametrize("name", sorted(OPS))
def test_ops_compile_with_checks_disabled(name: str) -> None:
    op, good, _, _ = OPS[name]
    torch._dynamo.reset()
    compiled = torch.compile(op, fullgraph=True, backend="eager")
    with shapesafe.enabled(False):
        for b in BATCHES:
            args = good(b)
            torch.testing.assert_close(compiled(*args), op(*args))
