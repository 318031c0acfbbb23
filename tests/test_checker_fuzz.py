"""Fuzz-style property tests of the checker.

1. Verdicts against a reference: for drawn annotations (ranks 0-4, fixed / named /
   broadcastable / symbolic / variadic / anonymous axes, dtype families) and drawn
   values (0-size axes, many dtypes, numpy arrays, odd Python values), ``@check``
   accepts exactly what jaxtyping + beartype accept. A disagreement is a bug.
2. Odd inputs to the public entry points give a correct result or a ShapesafeError,
   never an internal exception.
3. The ``shapesafe.testing`` strategies and the checker agree (one parser, one matcher).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from beartype import beartype
from hypothesis import given, settings
from hypothesis import strategies as st
from jaxtyping import Bool, Float, Int, Shaped, jaxtyped
from torch import Tensor

import shapesafe
from shapesafe import ShapesafeError
from shapesafe.testing import shapes, wrong_shapes

NAMES = ("a", "b", "c")
FAMILIES = (Float, Int, Bool, Shaped)
DTYPES = (torch.float32, torch.float64, torch.int64, torch.int32, torch.uint8, torch.bool)


@st.composite
def dim_string(draw: st.DrawFn, bound: tuple[str, ...]) -> str:
    """A dim string of 0-4 axes; symbolic axes only over names in ``bound`` (names
    bound by an earlier argument: both checkers then evaluate them on sight)."""
    tokens: list[str] = []
    n = draw(st.integers(0, 4))
    variadic = False
    for _ in range(n):
        options = ["fixed", "name", "name", "anon"]
        if not variadic:
            options += ["run", "anyrun"]
        if bound:
            options.append("symbolic")
        kind = draw(st.sampled_from(options))
        if kind == "fixed":
            tokens.append(str(draw(st.integers(0, 3))))
        elif kind == "name":
            name = draw(st.sampled_from(NAMES))
            tokens.append("#c" if name == "c" and "#c" not in tokens else name)
            if tokens[-1] == "c":  # 'c' is always broadcastable, never plain
                tokens[-1] = draw(st.sampled_from(("a", "b")))
        elif kind == "anon":
            tokens.append("_")
        elif kind == "run":
            tokens.append("*r")
            variadic = True
        elif kind == "anyrun":
            tokens.append("...")
            variadic = True
        else:
            name = draw(st.sampled_from(bound))
            tokens.append(draw(st.sampled_from((f"{name}+1", f"2*{name}", f"{name}-1"))))
    return " ".join(tokens)


odd_values = st.one_of(
    st.none(),
    st.text(max_size=3),
    st.booleans(),
    st.floats(allow_nan=True),
    st.integers(-(10**20), 10**20),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


@st.composite
def values(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(("tensor", "tensor", "tensor", "numpy", "odd")))
    if kind == "odd":
        return draw(odd_values)
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=4)))
    dtype = draw(st.sampled_from(DTYPES))
    t = torch.zeros(shape, dtype=dtype)
    return t.numpy() if kind == "numpy" else t


def _verdict(fn: Any, x: Any, y: Any) -> bool:
    try:
        fn(x, y)
    except ShapesafeError:
        return False
    return True


def _reference_verdict(fn: Any, x: Any, y: Any) -> bool:
    try:
        fn(x, y)
    except Exception:  # jaxtyping/beartype raise several types; all mean "rejected"
        return False
    return True


@settings(max_examples=300)
@given(st.data())
def test_check_agrees_with_jaxtyping_and_beartype(data: st.DataObject) -> None:
    s1 = data.draw(dim_string(()), label="x dims")
    plain = tuple(t for t in s1.split() if t in NAMES)
    s2 = data.draw(dim_string(plain), label="y dims")
    f1, f2 = data.draw(st.sampled_from(FAMILIES)), data.draw(st.sampled_from(FAMILIES))
    x, y = data.draw(values(), label="x"), data.draw(values(), label="y")

    def fn(x: Any, y: Any) -> None:
        return None

    # real annotation objects (this module has postponed annotations, which beartype
    # could not resolve for locals)
    fn.__annotations__ = {"x": f1[Tensor, s1], "y": f2[Tensor, s2], "return": None}

    ours = _verdict(shapesafe.check(fn), x, y)
    reference = _reference_verdict(jaxtyped(typechecker=beartype)(fn), x, y)
    assert ours == reference, (s1, s2, f1, f2, x, y)


@settings(max_examples=200)
@given(
    st.one_of(odd_values, values(), st.sampled_from(["n", "n m", "*r n", "", "n+1", "#n"])),
    st.one_of(odd_values, st.sampled_from(["n", "b n", "*r", "...", "", "n n", "n//m"])),
    st.one_of(st.none(), odd_values, st.dictionaries(st.sampled_from(["n", "m", "r"]), odd_values)),
)
def test_check_shape_on_odd_inputs_never_leaks_internal_errors(
    value: Any, spec: Any, dims: Any
) -> None:
    try:
        out = shapesafe.check_shape(value, spec, dims=dims)
    except ShapesafeError:
        return
    # accepted: a tensor or array whose shape the returned bindings explain
    assert isinstance(value, (torch.Tensor, np.ndarray))
    assert isinstance(out, dict)
    for name, size in out.items():
        assert isinstance(name, str)
        assert isinstance(size, (int, tuple))


@settings(max_examples=200)
@given(values(), values(), st.one_of(odd_values, st.integers(0, 3)))
def test_checked_function_on_odd_inputs_gives_result_or_our_error(x: Any, y: Any, k: Any) -> None:
    @shapesafe.check
    def f(x: Float[Tensor, "b n"], y: Int[Tensor, "b"] | None, k: int = 0) -> Float[Tensor, "b"]:
        return x.sum(-1) + k

    try:
        out = f(x, y, k)
    except ShapesafeError:
        return
    # accepted only what the annotations say, and the result is the plain computation
    assert isinstance(x, torch.Tensor) and x.is_floating_point() and x.ndim == 2
    assert y is None or (isinstance(y, torch.Tensor) and y.shape == (x.shape[0],))
    assert isinstance(k, int)
    torch.testing.assert_close(out, x.sum(-1) + k)


@settings(max_examples=100)
@given(st.data())
def test_testing_strategies_agree_with_the_checker(data: st.DataObject) -> None:
    s = data.draw(dim_string(()), label="dims")
    ann = Shaped[Tensor, s]
    shape = data.draw(shapes(ann, min_side=0, max_side=3), label="shape")
    shapesafe.check_shape(torch.zeros(shape), ann)  # drawn to fit: must be accepted
    pinned = {name: data.draw(st.integers(0, 3)) for name in set(s.split()) & set(NAMES)}
    try:
        bad = data.draw(wrong_shapes(ann, dims=pinned, min_side=0, max_side=3), label="bad")
    except shapesafe.AnnotationError:
        return  # every shape fits this annotation (wrong_shapes refuses, documented)
    try:
        shapesafe.check_shape(torch.zeros(bad), ann, dims=pinned)
    except shapesafe.ShapeError:
        return
    raise AssertionError(f"{bad} accepted by {s!r} with {pinned}")
