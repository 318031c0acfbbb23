"""Regression tests for the checker items of issue 11 (each failed before its fix)."""

from __future__ import annotations

import asyncio
import functools
import gc
import inspect
import linecache
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import pytest
import torch
from jaxtyping import Float
from torch import Tensor

import shapesafe
from shapesafe import AnnotationError, DtypeError, ShapeError, ShapesafeError, UsageError

# --------------------------------------------------------------------------------------
# @check misses


def test_symbolic_dims_in_star_args_check_every_element() -> None:
    @shapesafe.check
    def f(*xs: Float[Tensor, "n+1"], ref: Float[Tensor, "n"]) -> None:
        return None

    f(torch.ones(4), torch.ones(4), ref=torch.ones(3))
    with pytest.raises(ShapeError) as info:  # the bad element is the first, not the last
        f(torch.ones(5), torch.ones(4), ref=torch.ones(3))
    assert info.value.argument == "xs[0]"
    assert info.value.axis == 0
    assert info.value.expected == "n+1=4"


def test_symbolic_dims_in_variadic_tuple_check_every_element() -> None:
    @shapesafe.check
    def f(xs: tuple[Float[Tensor, "2*n"], ...], ref: Float[Tensor, "n"]) -> None:
        return None

    f((torch.ones(6), torch.ones(6)), torch.ones(3))
    with pytest.raises(ShapeError) as info:
        f((torch.ones(5), torch.ones(6)), torch.ones(3))
    assert info.value.argument == "xs[0]"
    assert "2*n=6" in str(info.value)


def test_non_ascii_dim_names_bind() -> None:
    @shapesafe.check
    def f(x: Float[Tensor, "größe"], y: Float[Tensor, "größe"]) -> None:
        return None

    f(torch.ones(3), torch.ones(3))
    with pytest.raises(ShapeError) as info:
        f(torch.ones(3), torch.ones(4))
    assert info.value.argument == "y"
    assert info.value.bindings == {"größe": 3}


def test_dims_inside_list_annotations_bind_with_other_arguments() -> None:
    @shapesafe.check
    def f(xs: list[Float[Tensor, "n"]], y: Float[Tensor, "n"]) -> None:
        return None

    f([torch.ones(3), torch.ones(3)], torch.ones(3))
    with pytest.raises(ShapeError) as info:
        f([torch.ones(3)], torch.ones(4))
    assert info.value.argument == "y"
    assert info.value.expected == "n=3 (bound by `xs`[0])"
    with pytest.raises(ShapeError) as info:
        f([torch.ones(3), torch.ones(2)], torch.ones(3))
    assert info.value.argument == "xs[1]"


# --------------------------------------------------------------------------------------
# internal errors leaking


@pytest.mark.parametrize("name", ["len", "isinstance", "tuple", "None_", "int", "min"])
def test_parameters_named_like_builtins(name: str) -> None:
    ns: dict[str, Any] = {"Float": Float, "Tensor": Tensor}
    exec(
        f"def f({name}: Float[Tensor, 'n'], y: tuple[Float[Tensor, 'n'], Float[Tensor, 'max(n,1)']]) -> Float[Tensor, 'n']:\n"
        f"    return {name}\n",
        ns,
    )
    f = shapesafe.check(ns["f"])
    x = torch.ones(3)
    assert f(x, (x, x)) is x
    with pytest.raises(ShapeError) as info:
        f(x, (x, torch.ones(2)))
    assert info.value.argument == "y[1]"


def test_floor_division_by_zero_is_a_shape_error() -> None:
    @shapesafe.check
    def f(x: Float[Tensor, "n"], y: Float[Tensor, "m"], z: Float[Tensor, "n//m"]) -> None:
        return None

    f(torch.ones(6), torch.ones(2), torch.ones(3))
    with pytest.raises(ShapeError) as info:
        f(torch.ones(6), torch.ones(0), torch.ones(3))
    assert info.value.argument == "z"
    assert "divides by zero" in str(info.value)


def test_true_division_with_odd_size_is_explained() -> None:
    @shapesafe.check
    def f(x: Float[Tensor, "n"], y: Float[Tensor, "n/2"]) -> None:
        return None

    f(torch.ones(4), torch.ones(2))
    with pytest.raises(ShapeError) as info:
        f(torch.ones(5), torch.ones(2))
    assert info.value.expected == "n/2=2.5"
    assert "could not explain" not in str(info.value)


def test_check_shape_with_a_list_spec() -> None:
    with pytest.raises(AnnotationError) as info:
        shapesafe.check_shape(torch.ones(3), ["n"])
    assert info.value.argument == "spec"


@pytest.mark.parametrize(
    "dims", [{1: 3}, {"n": "3"}, {"n": True}, {"n": -1}, {"n": 2.0}, {"n": None}, ["n"]]
)
def test_check_shape_with_bad_dims(dims: Any) -> None:
    with pytest.raises(UsageError) as info:
        shapesafe.check_shape(torch.ones(3), "n", dims=dims)
    assert info.value.argument == "dims"


def test_check_of_a_builtin_is_an_annotation_error() -> None:
    with pytest.raises(AnnotationError, match="builtin"):
        shapesafe.check(torch.add)


def test_check_of_a_partial_checks_the_remaining_parameters() -> None:
    def scale(x: Float[Tensor, "n"], w: Float[Tensor, "n"]) -> Float[Tensor, "n"]:
        return x * w

    f = shapesafe.check(functools.partial(scale, w=torch.full((3,), 2.0)))
    assert torch.equal(f(torch.ones(3)), torch.full((3,), 2.0))
    with pytest.raises(ShapeError) as info:
        f(torch.ones(4))
    assert info.value.function == "scale"
    assert info.value.argument == "w"


def test_big_endian_float_arrays_are_accepted() -> None:
    @shapesafe.check
    def f(x: Float[np.ndarray, "n"]) -> None:
        return None

    f(np.ones(3, dtype=">f4"))
    f(np.ones(3, dtype=">f8"))
    with pytest.raises(DtypeError):
        f(np.ones(3, dtype=">i4"))


def test_distribution_annotation_with_wrong_batch_rank() -> None:
    from shapesafe.distributions import DiagNormal, Dist

    @shapesafe.check
    def f(d: Dist[DiagNormal, "batch", "act"]) -> None:
        return None

    f(DiagNormal(torch.zeros(4, 2), torch.ones(4, 2)))
    with pytest.raises(ShapeError) as info:
        f(DiagNormal(torch.zeros(5, 4, 2), torch.ones(5, 4, 2)))
    assert info.value.argument == "d"
    assert "batch_shape" in str(info.value)
    assert not isinstance(info.value, AttributeError)


# --------------------------------------------------------------------------------------
# the on/off switch across threads


@pytest.mark.values
def test_enabled_false_interleaved_in_two_threads_restores_checks() -> None:
    entered = [threading.Event(), threading.Event()]
    leave = [threading.Event(), threading.Event()]
    left = [threading.Event(), threading.Event()]

    def worker(i: int) -> None:
        with shapesafe.enabled(False):
            entered[i].set()
            leave[i].wait(5)
        left[i].set()

    was = shapesafe.is_enabled()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    threads[0].start()
    entered[0].wait(5)
    threads[1].start()
    entered[1].wait(5)  # entered: A then B
    assert not shapesafe.is_enabled()
    leave[0].set()  # left: A first, then B (not the reverse order)
    left[0].wait(5)
    assert not shapesafe.is_enabled()  # B's block is still running with checks off
    leave[1].set()
    for t in threads:
        t.join(5)
    assert shapesafe.is_enabled() == was


@pytest.mark.values
def test_enabled_contexts_left_out_of_order_in_one_thread() -> None:
    was = shapesafe.is_enabled()
    a, b = shapesafe.enabled(False), shapesafe.enabled(True)
    a.__enter__()
    b.__enter__()
    assert shapesafe.is_enabled()
    a.__exit__(None, None, None)  # the outer one leaves first
    assert shapesafe.is_enabled()
    b.__exit__(None, None, None)
    assert shapesafe.is_enabled() == was


# --------------------------------------------------------------------------------------
# memory per decoration


def test_decorating_in_a_loop_does_not_grow_linecache() -> None:
    def f(x: Float[Tensor, "n"]) -> Float[Tensor, "n"]:
        return x

    shapesafe.check(f)
    before = len(linecache.cache)
    for _ in range(200):
        shapesafe.check(f)
    gc.collect()
    assert len(linecache.cache) <= before + 1


# --------------------------------------------------------------------------------------
# generators and coroutines


def test_checked_generator_stays_a_generator_function() -> None:
    @shapesafe.check
    def gen(x: Float[Tensor, "n"], k: int) -> Iterator[Float[Tensor, "n"]]:
        for _ in range(k):
            yield x

    assert inspect.isgeneratorfunction(gen)
    assert len(list(gen(torch.ones(2), 3))) == 3
    with pytest.raises(DtypeError) as info:
        next(gen(torch.ones(2), "3"))  # type: ignore[arg-type]
    assert info.value.argument == "k"


def test_checked_coroutine_stays_a_coroutine_function() -> None:
    @shapesafe.check
    async def co(x: Float[Tensor, "n"], y: Float[Tensor, "n"]) -> Float[Tensor, "n"]:
        return x + y

    assert inspect.iscoroutinefunction(co)
    out = asyncio.run(co(torch.ones(2), torch.ones(2)))
    assert torch.equal(out, torch.full((2,), 2.0))
    with pytest.raises(ShapeError) as info:
        asyncio.run(co(torch.ones(2), torch.ones(3)))
    assert info.value.argument == "y"


def test_checked_async_generator_stays_an_async_generator_function() -> None:
    @shapesafe.check
    async def agen(x: Float[Tensor, "n"], y: Float[Tensor, "n"]) -> AsyncIterator[int]:
        yield 1
        yield 2

    assert inspect.isasyncgenfunction(agen)

    async def collect(it: AsyncIterator[int]) -> list[int]:
        return [v async for v in it]

    assert asyncio.run(collect(agen(torch.ones(2), torch.ones(2)))) == [1, 2]
    with pytest.raises(ShapeError):
        asyncio.run(collect(agen(torch.ones(2), torch.ones(3))))


# --------------------------------------------------------------------------------------
# messages and hints that misled


def _err(fn: Any, *args: Any) -> ShapesafeError:
    with pytest.raises(ShapesafeError) as info:
        fn(*args)
    return info.value


@shapesafe.check
def predict(obs: Float[Tensor, "batch obs"]) -> Float[Tensor, "batch"]:
    return obs.sum(-1)


def test_missing_batch_axis_hints_unsqueeze_0() -> None:
    err = _err(predict, torch.zeros(3))
    assert err.hint is not None and "obs.unsqueeze(0)" in err.hint
    assert "unsqueeze(-1)" not in err.hint


def test_log_prob_summed_over_the_batch_hints_an_early_reduction() -> None:
    @shapesafe.check
    def loss(logp: Float[Tensor, "batch"], adv: Float[Tensor, "batch"]) -> Float[Tensor, ""]:
        return -(logp * adv).mean()

    err = _err(loss, torch.zeros(()), torch.zeros(8))
    assert err.hint is not None and "reduced over the batch" in err.hint


def test_per_coordinate_log_prob_hints_sum() -> None:
    @shapesafe.check
    def loss(logp: Float[Tensor, "batch"], adv: Float[Tensor, "batch"]) -> Float[Tensor, ""]:
        return -(logp * adv).mean()

    err = _err(loss, torch.zeros(8), torch.zeros(8, 6))
    assert err.hint is not None and "adv.sum(-1)" in err.hint


def test_non_scalar_where_a_scalar_is_annotated_hints_a_reduction() -> None:
    @shapesafe.check
    def loss(x: Float[Tensor, "batch"]) -> Float[Tensor, ""]:
        return x

    err = _err(loss, torch.zeros(8))
    assert err.argument == "return value"
    assert err.hint == (
        "return value is not a scalar (shape (8,)); reduce it, e.g. with .mean() or .sum()"
    )


def test_time_major_vs_batch_major_hints_a_transpose_of_either() -> None:
    @shapesafe.check
    def f(obs: Float[Tensor, "time batch obs"], act: Float[Tensor, "time batch act"]) -> None:
        return None

    err = _err(f, torch.zeros(5, 8, 3), torch.zeros(8, 5, 2))
    assert err.argument == "act"
    assert err.hint is not None
    assert "act.transpose(0, 1)" in err.hint and "`obs`" in err.hint


def test_fixed_sizes_are_not_printed_as_names() -> None:
    @shapesafe.check
    def f(x: Float[Tensor, "batch 4"]) -> None:
        return None

    err = _err(f, torch.zeros(2, 3))
    assert err.axis == 1
    assert "axis 1:" in str(err) and "('4')" not in str(err)


def test_known_symbolic_expressions_are_evaluated_in_the_expected_shape() -> None:
    @shapesafe.check
    def f(r: Float[Tensor, "time batch"], v: Float[Tensor, "time+1 batch"]) -> None:
        return None

    err = _err(f, torch.zeros(5, 8), torch.zeros(5, 8, 1))
    assert err.expected == "shape (time+1, batch) = (6, 8) [2 axes]"
