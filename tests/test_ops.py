from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import shapesafe
from shapesafe import AnnotationError, DtypeError, ShapeError, ShapesafeError, UsageError
from shapesafe._format import fmt_dtype, fmt_shape
from shapesafe.ops import flatten, gather, newaxis, reshape, squeeze, take_along, unsqueeze
from shapesafe.testing import shapes, tensors, wrong_shapes

# --------------------------------------------------------------------------------------
# helpers


def raised(cls: type[ShapesafeError], call: Callable[[], object]) -> Any:
    """The error ``call()`` raises, checked to be a ``cls``."""
    with pytest.raises(cls) as info:
        call()
    return info.value


@st.composite
def take_along_case(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor, int]:
    vshape = draw(shapes(min_dims=1, max_dims=4, max_side=5))
    dim = draw(st.integers(-len(vshape), len(vshape) - 1))
    d = dim % len(vshape)
    values = draw(tensors(torch.float64, vshape))
    ishape = vshape[:d] + vshape[d + 1 :]
    index = draw(tensors(torch.int64, ishape, elements=st.integers(0, vshape[d] - 1)))
    return values, index, dim


def reference_take_along(values: torch.Tensor, index: torch.Tensor, dim: int) -> torch.Tensor:
    """Plain advanced indexing, written independently of gather."""
    moved = values.movedim(dim, -1)
    flat = moved.reshape(-1, moved.shape[-1])
    rows = torch.arange(flat.shape[0])
    return flat[rows, index.reshape(-1)].reshape(index.shape)


@st.composite
def gather_case(draw: st.DrawFn) -> tuple[torch.Tensor, int, torch.Tensor]:
    ishape = draw(shapes(min_dims=1, max_dims=3, max_side=4))
    dim = draw(st.integers(-len(ishape), len(ishape) - 1))
    d = dim % len(ishape)
    inp = draw(tensors(torch.float32, ishape))
    xshape = list(ishape)
    xshape[d] = draw(st.integers(0, 5))
    index = draw(tensors(torch.int64, tuple(xshape), elements=st.integers(0, ishape[d] - 1)))
    return inp, dim, index


# --------------------------------------------------------------------------------------
# take_along


@pytest.mark.values
@given(take_along_case())
def test_take_along_matches_advanced_indexing(case: tuple[torch.Tensor, torch.Tensor, int]) -> None:
    values, index, dim = case
    got = take_along(values, index, dim)
    assert torch.equal(got, reference_take_along(values, index, dim))
    np_got = take_along(values.numpy(), index.numpy(), dim)
    assert isinstance(np_got, np.ndarray)
    np.testing.assert_array_equal(np_got, got.numpy())


@pytest.mark.values
@given(take_along_case(), st.sampled_from([torch.int32, torch.int16, torch.uint8]))
def test_take_along_accepts_any_integer_dtype(
    case: tuple[torch.Tensor, torch.Tensor, int], dtype: torch.dtype
) -> None:
    values, index, dim = case
    if values.shape[dim] > 200:
        return
    assert torch.equal(take_along(values, index.to(dtype), dim), take_along(values, index, dim))


@pytest.mark.values
def test_take_along_q_of_taken_action() -> None:
    q = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    actions = torch.tensor([2, 0])
    assert torch.equal(take_along(q, actions), torch.tensor([3.0, 4.0]))


@given(take_along_case())
def test_take_along_refuses_trailing_unit_axis(
    case: tuple[torch.Tensor, torch.Tensor, int],
) -> None:
    values, index, dim = case
    err = raised(ShapeError, lambda: take_along(values, index.unsqueeze(-1), dim))
    assert (err.function, err.argument, err.axis) == ("take_along", "index", index.ndim)
    assert err.got == fmt_shape((*index.shape, 1))
    assert err.hint is not None and "index.squeeze(-1)" in err.hint


def test_take_along_message_for_the_actions_bug() -> None:
    q, a = torch.zeros(64, 4), torch.zeros(64, 1, dtype=torch.long)
    err = raised(ShapeError, lambda: take_along(q, a))
    assert (err.function, err.argument, err.axis) == ("take_along", "index", 1)
    assert (err.expected, err.got) == ("(64,)", "(64, 1)")
    assert "did you mean index.squeeze(-1)?" in str(err)


@given(st.data())
def test_take_along_refuses_wrong_leading_dims(data: st.DataObject) -> None:
    vshape = data.draw(shapes(min_dims=2, max_dims=4, max_side=5))
    lead = vshape[:-1]
    names = " ".join(f"d{i}" for i in range(len(lead)))
    bad = data.draw(wrong_shapes(names, dims={f"d{i}": s for i, s in enumerate(lead)}))
    index = torch.zeros(bad, dtype=torch.long)
    err = raised(ShapeError, lambda: take_along(torch.zeros(vshape), index))
    assert (err.function, err.argument) == ("take_along", "index")
    assert (err.expected, err.got) == (fmt_shape(lead), fmt_shape(bad))


def test_take_along_refuses_broadcastable_leading_dims() -> None:
    err = raised(
        ShapeError, lambda: take_along(torch.zeros(8, 3), torch.zeros(1, dtype=torch.long))
    )
    assert (err.axis, err.expected, err.got) == (0, "(8,)", "(1,)")
    assert err.hint is not None and "does not broadcast" in err.hint
    err = raised(
        ShapeError,
        lambda: take_along(torch.zeros(2, 3, 5), torch.zeros(2, 1, dtype=torch.long), dim=1),
    )
    assert (err.axis, err.expected, err.got) == (1, "(2, 5)", "(2, 1)")
    assert "without axis 1" in str(err)


def test_take_along_points_to_gather_for_full_shape_index() -> None:
    err = raised(
        ShapeError, lambda: take_along(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long))
    )
    assert (err.argument, err.axis, err.expected, err.got) == ("index", None, "(2,)", "(2, 3)")
    assert err.hint is not None and "use shapesafe.ops.gather" in err.hint
    err = raised(ShapeError, lambda: take_along(torch.zeros(2, 3), torch.tensor(0)))
    assert (err.expected, err.got) == ("(2,)", "()")
    assert err.hint is not None and "1 axis, not 0" in err.hint


@pytest.mark.parametrize("dtype", [torch.float32, torch.bool])
def test_take_along_refuses_non_integer_index(dtype: torch.dtype) -> None:
    err = raised(DtypeError, lambda: take_along(torch.zeros(4, 3), torch.zeros(4, dtype=dtype)))
    assert (err.function, err.argument) == ("take_along", "index")
    assert (err.expected, err.got) == ("an integer dtype", fmt_dtype(dtype))
    hint = "boolean mask" if dtype == torch.bool else "convert it with index.long()"
    assert err.hint is not None and hint in err.hint
    err = raised(DtypeError, lambda: take_along(np.zeros((4, 3)), np.zeros(4)))
    assert err.got == "float64"


@given(take_along_case(), st.integers(1, 5), st.booleans())
def test_take_along_refuses_out_of_range(
    case: tuple[torch.Tensor, torch.Tensor, int], offset: int, negative: bool
) -> None:
    values, index, dim = case
    if index.numel() == 0:
        return
    size = values.shape[dim]
    bad = index.clone().reshape(-1)
    bad[-1] = -offset if negative else size - 1 + offset
    bad = bad.reshape(index.shape)
    value = int(bad.reshape(-1)[-1])
    for v, i in ((values, bad), (values.numpy(), bad.numpy())):
        err = raised(ShapeError, lambda v=v, i=i: take_along(v, i, dim))  # type: ignore[misc]
        assert (err.function, err.argument) == ("take_along", "index")
        assert (err.expected, err.got) == (f"0 <= index < {size}", str(value))
        fragment = "negative indices are not wrapped" if negative else "built for this tensor"
        assert err.hint is not None and fragment in err.hint


def test_take_along_refuses_mixing_numpy_and_torch() -> None:
    err = raised(
        DtypeError,
        lambda: take_along(torch.zeros(2, 3), np.zeros(2, dtype=np.int64)),  # type: ignore[arg-type]
    )
    assert (err.function, err.argument) == ("take_along", "index")
    assert (err.expected, err.got) == ("a torch.Tensor", "a numpy.ndarray")
    assert "cannot mix torch tensors and numpy arrays" in str(err)
    err = raised(
        DtypeError,
        lambda: take_along([[1.0]], torch.zeros(1, dtype=torch.long)),  # type: ignore[arg-type]
    )
    assert (err.argument, err.got) == ("values", "a list of 1 item")


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("squeeze", lambda x: squeeze(x, 0)),
        ("unsqueeze", lambda x: unsqueeze(x, 0)),
        ("newaxis", lambda x: newaxis(x)[None, ...]),
        ("reshape", lambda x: reshape(x, -1, keep=1)),
        ("reshape", lambda x: reshape(x, "a b -> (a b)")),
        ("flatten", lambda x: flatten(x)),
    ],
)
def test_ops_refuse_non_arrays_with_a_dtype_error(name: str, call: Callable[[Any], Any]) -> None:
    err = raised(DtypeError, lambda: call([[1.0, 2.0]]))
    assert (err.function, err.argument) == (name, "x")
    assert (err.expected, err.got) == ("torch.Tensor or numpy.ndarray", "a list of 1 item")


def test_take_along_bad_dim() -> None:
    err = raised(
        ShapeError, lambda: take_along(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), dim=2)
    )
    assert (err.function, err.argument, err.expected, err.got) == (
        "take_along",
        "dim",
        "an int in -2..1",
        "2",
    )
    assert "out of range for `values` of shape (2, 3)" in str(err)
    err = raised(ShapeError, lambda: take_along(torch.tensor(1.0), torch.tensor(0)))
    assert (err.argument, err.expected, err.got) == ("values", "at least 1 axis", "()")


# --------------------------------------------------------------------------------------
# gather


@pytest.mark.values
@given(gather_case())
def test_gather_matches_torch_gather(case: tuple[torch.Tensor, int, torch.Tensor]) -> None:
    inp, dim, index = case
    expected = torch.gather(inp, dim, index)
    assert torch.equal(gather(inp, dim, index), expected)
    np.testing.assert_array_equal(gather(inp.numpy(), dim, index.numpy()), expected.numpy())


@pytest.mark.values
def test_gather_seed_examples() -> None:
    x = torch.arange(6).reshape(2, 3)
    y = torch.tensor([0, 1, 0]).reshape(1, 3)
    assert torch.equal(gather(x, 0, y), torch.tensor([[0, 4, 2]]))
    y = torch.tensor([0, 1]).reshape(2, 1)
    assert torch.equal(gather(x[:, :1], 0, y), torch.gather(x, 0, y))


@given(gather_case(), st.data())
def test_gather_refuses_smaller_index_that_torch_accepts(
    case: tuple[torch.Tensor, int, torch.Tensor], data: st.DataObject
) -> None:
    inp, dim, index = case
    d = dim % inp.ndim
    others = [k for k in range(inp.ndim) if k != d and inp.shape[k] > 1]
    if not others:
        return
    k = data.draw(st.sampled_from(others))
    m = data.draw(st.integers(1, inp.shape[k] - 1))
    smaller = index.narrow(k, 0, m)
    torch.gather(inp, dim, smaller)  # torch silently accepts this
    err = raised(ShapeError, lambda: gather(inp, dim, smaller))
    assert (err.function, err.argument, err.axis) == ("gather", "index", k)
    assert (err.expected, err.got) == (
        f"size {inp.shape[k]}",
        f"size {m} (shape {fmt_shape(smaller.shape)})",
    )
    assert err.hint is not None and "would silently read only" in err.hint


def test_gather_messages() -> None:
    x = torch.arange(6).reshape(2, 3)
    err = raised(ShapeError, lambda: gather(x, 0, torch.tensor([[0], [1]])))
    assert (err.function, err.argument, err.axis) == ("gather", "index", 1)
    assert (err.expected, err.got) == ("size 3", "size 1 (shape (2, 1))")
    assert err.hint is not None and "gather(input[:, :1], 0, index)" in err.hint
    err = raised(ShapeError, lambda: gather(x, 1, torch.zeros(3, 3, dtype=torch.long)))
    assert (err.axis, err.expected) == (0, "size 2")
    assert err.hint is not None and "is larger than `input` along axis 0" in err.hint
    err = raised(ShapeError, lambda: gather(x, 1, torch.zeros(2, dtype=torch.long)))
    assert (err.argument, err.expected, err.got) == ("index", "2 axes", "(2,)")
    assert err.hint is not None and "take_along" in err.hint
    err = raised(ShapeError, lambda: gather(x, 0, torch.tensor([[0, 2, 0]])))
    assert (err.expected, err.got) == ("0 <= index < 2", "2")
    assert "at position (0, 1)" in str(err)
    err = raised(DtypeError, lambda: gather(x, 0, torch.zeros(1, 3)))
    assert (err.argument, err.got) == ("index", "float32")
    err = raised(ShapeError, lambda: gather(torch.tensor(1), 0, torch.tensor(0)))
    assert (err.argument, err.got) == ("input", "()")


# --------------------------------------------------------------------------------------
# squeeze / unsqueeze / newaxis


@st.composite
def squeeze_case(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    shape = draw(shapes(min_dims=1, max_dims=6, min_side=1, max_side=3))
    ones = [i for i, s in enumerate(shape) if s == 1]
    if not ones:
        shape = (*shape, 1)
        ones = [len(shape) - 1]
    chosen = draw(st.lists(st.sampled_from(ones), min_size=1, unique=True))
    as_negative = draw(st.booleans())
    return shape, tuple(c - len(shape) if as_negative else c for c in chosen)


@pytest.mark.values
@given(squeeze_case())
def test_squeeze_matches_numpy(case: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    shape, axes = case
    a = np.arange(math.prod(shape)).reshape(shape)
    expected = np.squeeze(a, axis=axes)
    np.testing.assert_array_equal(squeeze(a, axes), expected)
    np.testing.assert_array_equal(squeeze(torch.from_numpy(a), axes).numpy(), expected)
    if len(axes) == 1:
        assert squeeze(a, axes[0]).shape == expected.shape


@pytest.mark.values
def test_squeeze_seed_example() -> None:
    a = np.random.randint(10, size=(10, 1, 4, 1, 1, 6, 2))
    assert squeeze(a, (1, 3)).shape == a.squeeze((1, 3)).shape == (10, 4, 1, 6, 2)


@given(shapes(min_dims=1, max_dims=4, min_side=2, max_side=4), st.data())
def test_squeeze_refuses_non_unit_axis(shape: tuple[int, ...], data: st.DataObject) -> None:
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = torch.zeros(shape)
    assert x.squeeze(axis).shape == x.shape  # what torch does silently
    err = raised(ShapeError, lambda: squeeze(x, axis))
    assert (err.function, err.argument, err.axis) == ("squeeze", "x", axis % len(shape))
    assert (err.expected, err.got) == ("size 1", f"size {shape[axis]}")


def test_squeeze_messages() -> None:
    err = raised(ShapeError, lambda: squeeze(torch.zeros(10, 1, 4), 2))
    assert (err.function, err.argument, err.axis, err.got) == ("squeeze", "x", 2, "size 4")
    assert err.hint is not None and "torch's x.squeeze(2) would silently return" in err.hint
    err = raised(ShapeError, lambda: squeeze(np.zeros((3, 4)), 0))
    assert err.hint is not None and err.hint.startswith("`x` has no size-1 axes")
    err = raised(ShapeError, lambda: squeeze(torch.zeros(3, 1), 3))
    assert (err.argument, err.expected, err.got) == ("dim", "an int in -2..1", "3")
    err = raised(UsageError, lambda: squeeze(torch.zeros(3, 1), (1, -1)))
    assert (err.argument, err.got) == ("dim", "(1, -1)")
    err = raised(UsageError, lambda: squeeze(torch.zeros(3, 1), ()))
    assert (err.argument, err.got) == ("dim", "()")
    err = raised(DtypeError, lambda: squeeze(torch.zeros(3, 1), 1.0))  # type: ignore[arg-type]
    assert (err.argument, err.got) == ("dim", "the float 1.0")


@st.composite
def unsqueeze_case(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    shape = draw(shapes(max_dims=4, max_side=3))
    n_new = draw(st.integers(1, 3))
    out_nd = len(shape) + n_new
    positions = draw(
        st.lists(st.integers(0, out_nd - 1), min_size=n_new, max_size=n_new, unique=True)
    )
    signs = draw(st.lists(st.booleans(), min_size=n_new, max_size=n_new))
    return shape, tuple(p - out_nd if neg else p for p, neg in zip(positions, signs))


@pytest.mark.values
@given(unsqueeze_case())
def test_unsqueeze_matches_numpy_expand_dims(case: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    shape, dims = case
    a = np.arange(math.prod(shape)).reshape(shape)
    expected = np.expand_dims(a, dims)
    np.testing.assert_array_equal(unsqueeze(a, *dims), expected)
    np.testing.assert_array_equal(unsqueeze(a, dims), expected)
    np.testing.assert_array_equal(unsqueeze(torch.from_numpy(a), *dims).numpy(), expected)


def test_unsqueeze_messages() -> None:
    err = raised(UsageError, lambda: unsqueeze(torch.zeros(2)))
    assert (err.function, err.argument, err.got) == ("unsqueeze", "dims", "()")
    err = raised(UsageError, lambda: unsqueeze(torch.zeros(2), 1, -2))
    assert (err.argument, err.expected, err.got) == ("dims", "distinct axes", "(1, -2)")
    err = raised(ShapeError, lambda: unsqueeze(torch.zeros(2), 3))
    assert (err.argument, err.expected, err.got) == ("dims", "an int in -2..1", "3")
    assert "out of range for the result (1 + 1 axes)" in str(err)


@st.composite
def newaxis_case(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[Any, ...]]:
    shape = draw(shapes(max_dims=4, max_side=3))
    use_ellipsis = draw(st.booleans())
    n_keep = draw(st.integers(0, len(shape))) if use_ellipsis else len(shape)
    items: list[Any] = [slice(None)] * n_keep + [None] * draw(st.integers(0, 3))
    if use_ellipsis:
        items.append(Ellipsis)
    order = draw(st.permutations(items))
    return shape, tuple(order)


@pytest.mark.values
@given(newaxis_case())
def test_newaxis_matches_numpy_indexing(case: tuple[tuple[int, ...], tuple[Any, ...]]) -> None:
    shape, key = case
    a = np.arange(math.prod(shape)).reshape(shape)
    expected = a[key]
    np.testing.assert_array_equal(newaxis(a)[key], expected)
    np.testing.assert_array_equal(newaxis(torch.from_numpy(a))[key].numpy(), expected)


@pytest.mark.values
def test_newaxis_seed_example() -> None:
    b = np.random.randint(10, size=(10, 4, 2, 7, 8, 9))
    expected = b[:, np.newaxis, :, np.newaxis, ...]
    assert newaxis(b)[:, np.newaxis, :, np.newaxis, ...].shape == expected.shape
    assert expected.shape == b.reshape(10, 1, 4, 1, 2, 7, 8, 9).shape


def test_newaxis_messages() -> None:
    b = np.zeros((10, 4, 2))
    err = raised(ShapeError, lambda: newaxis(b)[:, None])
    assert (err.function, err.argument, err.expected, err.got) == (
        "newaxis",
        "x",
        "1 axis",
        "3 axes",
    )
    assert err.hint is not None and "write one `:` per axis" in err.hint
    err = raised(ShapeError, lambda: newaxis(torch.zeros(10, 4, 2))[:, :, :, None, :, ...])
    assert (err.expected, err.got) == ("4 axes or more", "3 axes")
    err = raised(UsageError, lambda: newaxis(b)[:, 0, None])
    assert (err.argument, err.got) == ("key", "0")
    err = raised(UsageError, lambda: newaxis(b)[1:, ...])
    assert err.got == "slice(1, None, None)"
    err = raised(UsageError, lambda: newaxis(b)[..., None, ...])
    assert (err.expected, err.got) == ("at most one `...`", "2")


# --------------------------------------------------------------------------------------
# reshape / flatten


@st.composite
def grouping_case(
    draw: st.DrawFn,
) -> tuple[tuple[int, ...], str, str, dict[str, int], tuple[int, ...]]:
    """A shape, a merge pattern, its inverse split pattern, and the sizes the split needs."""
    shape = draw(shapes(min_dims=1, max_dims=5, max_side=4))
    names = [f"a{i}" for i in range(len(shape))]
    cuts = sorted(draw(st.sets(st.integers(1, len(shape) - 1))) if len(shape) > 1 else set())
    groups = [names[i:j] for i, j in zip([0, *cuts], [*cuts, len(shape)])]
    flat = " ".join(names)
    merged = " ".join(g[0] if len(g) == 1 else f"({' '.join(g)})" for g in groups)
    sizes = {g[i]: shape[names.index(g[i])] for g in groups for i in range(1, len(g))}
    merged_shape = tuple(math.prod(shape[i:j]) for i, j in zip([0, *cuts], [*cuts, len(shape)]))
    return shape, f"{flat} -> {merged}", f"{merged} -> {flat}", sizes, merged_shape


@pytest.mark.values
@given(grouping_case())
def test_reshape_pattern_round_trip_matches_numpy(
    case: tuple[tuple[int, ...], str, str, dict[str, int], tuple[int, ...]],
) -> None:
    shape, merge, split, sizes, merged_shape = case
    a = np.arange(math.prod(shape)).reshape(shape)
    merged = reshape(a, merge)
    np.testing.assert_array_equal(merged, a.reshape(merged_shape))
    np.testing.assert_array_equal(reshape(merged, split, **sizes), a)
    t = torch.from_numpy(a)
    assert torch.equal(reshape(reshape(t, merge), split, **sizes), t)


@pytest.mark.values
@given(tensors(torch.float32, shapes(min_dims=1, max_dims=4, max_side=4)))
def test_reshape_ellipsis_flatten_matches_torch_flatten(x: torch.Tensor) -> None:
    assert torch.equal(
        reshape(x, "b ... -> b (...)"), torch.flatten(x, 1) if x.ndim > 1 else x[:, None]
    )
    assert torch.equal(reshape(x, "... -> (...)"), x.reshape(-1))


@pytest.mark.values
@given(shapes(min_dims=2, max_dims=4, max_side=4), st.data())
def test_reshape_keep_matches_torch(shape: tuple[int, ...], data: st.DataObject) -> None:
    keep = data.draw(st.integers(0, len(shape) - 1))
    rest = math.prod(shape[keep:])
    divisors = [d for d in range(1, rest + 1) if rest % d == 0]
    first = data.draw(st.sampled_from(divisors))
    use_minus_one = data.draw(st.booleans())
    target = (first, -1 if use_minus_one else rest // first)
    x = torch.arange(math.prod(shape)).reshape(shape)
    expected = x.reshape(*shape[:keep], first, rest // first)
    assert torch.equal(reshape(x, *target, keep=keep), expected)
    assert torch.equal(reshape(x, target, keep=keep), expected)
    np.testing.assert_array_equal(reshape(x.numpy(), *target, keep=keep), expected.numpy())


@pytest.mark.values
@given(tensors(torch.float32, shapes(min_dims=2, max_dims=4, max_side=4)), st.data())
def test_flatten_matches_torch(x: torch.Tensor, data: st.DataObject) -> None:
    keep = data.draw(st.integers(0, x.ndim - 1))
    assert torch.equal(flatten(x, keep), torch.flatten(x, keep))
    if keep == 1:
        assert torch.equal(flatten(x), torch.nn.Flatten()(x))
    np.testing.assert_array_equal(flatten(x.numpy(), keep), torch.flatten(x, keep).numpy())


def test_reshape_refuses_reordering() -> None:
    x = torch.zeros(5, 32, 3)
    err = raised(AnnotationError, lambda: reshape(x, "time batch obs -> batch (time obs)"))
    assert (err.function, err.argument) == ("reshape", "pattern")
    assert err.got == "'time batch obs -> batch (time obs)'"
    assert "reorders axes (time batch obs -> batch time obs)" in str(err)
    assert err.hint is not None and err.hint.startswith("permute first")


def test_reshape_pattern_messages() -> None:
    x = torch.zeros(32, 7056)
    err = raised(ShapeError, lambda: reshape(x, "batch (h w) -> batch h w", h=85))
    assert (err.function, err.argument, err.axis) == ("reshape", "x", 1)
    assert (err.expected, err.got) == ("a multiple of 85", "size 7056 (shape (32, 7056))")
    err = raised(UsageError, lambda: reshape(x, "batch (h w) -> batch h w"))
    assert (err.axis, err.got) == (1, "size 7056")
    assert "cannot infer h and w" in str(err)
    err = raised(ShapeError, lambda: reshape(x, "batch obs -> batch obs", obs=4))
    assert (err.axis, err.expected, err.got) == (1, "size 4", "size 7056 (shape (32, 7056))")
    err = raised(ShapeError, lambda: reshape(x, "b c d -> b (c d)"))
    assert (err.argument, err.expected, err.got) == ("x", "3 axes", "(32, 7056)")
    err = raised(ShapeError, lambda: reshape(x, "b c d ... -> b (c d) ..."))
    assert err.expected == "at least 3 axes"
    err = raised(UsageError, lambda: reshape(x, "b c -> b c", w=3))
    assert (err.argument, err.got) == ("w", "w")
    for pattern, fragment in [
        ("time obs -> obs", "time only on the left"),
        ("b c", "must have the form 'left -> right'"),
        ("b b -> b b", "left side repeats b"),
        ("b c -> ((b c))", "nested parentheses"),
        ("b c -> (b c", "unbalanced `(`"),
        ("b c -> b c)", "unbalanced `)`"),
        ("b c -> b c 2", "cannot read '2'"),
        ("b (...) -> b ...", "`...` cannot be split on the left"),
    ]:
        err = raised(AnnotationError, lambda p=pattern: reshape(x, p))  # type: ignore[misc]
        assert (err.function, err.argument, err.got) == ("reshape", "pattern", repr(pattern))
        assert fragment in str(err)


def test_reshape_keep_messages() -> None:
    err = raised(ShapeError, lambda: reshape(torch.zeros(32, 7000), 84, 84, keep=1))
    assert (err.function, err.argument) == ("reshape", "x")
    assert (err.expected, err.got) == ("7056 elements per item", "shape (32, 7000)")
    assert err.hint is not None and err.hint.startswith("keep=1 preserves (32,)")
    # 8 * 9 == 4 * 6 * 3: a plain x.reshape(-1, 6, 3) would split rows across items
    err = raised(ShapeError, lambda: reshape(torch.zeros(8, 9), 6, 3, keep=1))
    assert err.hint is not None and "x.reshape(-1, 6, 3) would have silently mixed" in err.hint
    err = raised(UsageError, lambda: reshape(torch.zeros(8, 9), -1, -1, keep=1))
    assert (err.argument, err.got) == ("shape", "(-1, -1)")
    err = raised(UsageError, lambda: reshape(torch.zeros(8, 9), -2, keep=1))
    assert (err.argument, err.got) == ("shape", "-2")
    err = raised(ShapeError, lambda: reshape(torch.zeros(8, 9), 9, keep=3))
    assert (err.argument, err.expected, err.got) == ("keep", "an int in 0..2", "3")
    err = raised(UsageError, lambda: reshape(torch.zeros(8, 9), 72))
    assert (err.argument, err.got) == ("keep", "None")
    err = raised(UsageError, lambda: reshape(torch.zeros(8, 9), "a b -> (a b)", keep=1))
    assert (err.argument, err.got) == ("keep", "keep=1")
    err = raised(UsageError, lambda: reshape(torch.zeros(8, 9), 9, keep=1, h=3))
    assert err.argument == "h"
    assert "only go with a pattern string" in str(err)


def test_flatten_messages() -> None:
    err = raised(ShapeError, lambda: flatten(torch.zeros(32)))
    assert (err.function, err.argument) == ("flatten", "x")
    assert (err.expected, err.got) == ("more than 1 axis", "shape (32,)")
    assert err.hint is not None and err.hint.startswith("`x` may already be flat")
    err = raised(UsageError, lambda: flatten(torch.zeros(3, 2), keep=-1))
    assert (err.argument, err.got) == ("keep", "-1")


# --------------------------------------------------------------------------------------
# disabled checks: same results, no checking


@pytest.mark.values
@given(take_along_case(), gather_case())
def test_disabled_gives_identical_results(
    ta: tuple[torch.Tensor, torch.Tensor, int], ga: tuple[torch.Tensor, int, torch.Tensor]
) -> None:
    values, index, dim = ta
    inp, gdim, gindex = ga
    on = (take_along(values, index, dim), gather(inp, gdim, gindex), flatten(values, 0))
    with shapesafe.enabled(False):
        off = (take_along(values, index, dim), gather(inp, gdim, gindex), flatten(values, 0))
    for a, b in zip(on, off):
        assert torch.equal(a, b)


def test_disabled_skips_the_checks() -> None:
    with shapesafe.enabled(False):
        # torch's own behaviour comes through unchanged
        assert squeeze(torch.zeros(3, 4), 1).shape == (3, 4)
        assert gather(torch.arange(6).reshape(2, 3), 0, torch.tensor([[0], [1]])).shape == (2, 1)
        assert newaxis(np.zeros((2, 3)))[:, None].shape == (2, 1, 3)


# --------------------------------------------------------------------------------------
# issue 11: internal errors that leaked (regression tests)


@pytest.mark.values
@pytest.mark.parametrize("dtype", [torch.uint16, torch.uint32, torch.uint64])
def test_wide_unsigned_indices_work_like_int64(dtype: torch.dtype) -> None:
    # was: NotImplementedError "aminmax_cpu" not implemented for 'UInt16' (and 32, 64)
    q = torch.arange(12.0).reshape(3, 4)
    a = torch.tensor([0, 3, 1])
    assert torch.equal(take_along(q, a.to(dtype)), take_along(q, a))
    assert torch.equal(gather(q, 1, a[:, None].to(dtype)), gather(q, 1, a[:, None]))
    # values of these dtypes too (torch.gather has no kernel for them)
    qu = q.to(dtype)
    assert torch.equal(take_along(qu, a), take_along(q, a).to(dtype))
    assert torch.equal(gather(qu, 1, a[:, None]), gather(q, 1, a[:, None]).to(dtype))


@pytest.mark.parametrize("dtype", [torch.uint16, torch.uint32, torch.uint64])
def test_wide_unsigned_indices_are_range_checked(dtype: torch.dtype) -> None:
    q = torch.arange(12.0).reshape(3, 4)
    err = raised(ShapeError, lambda: take_along(q, torch.tensor([0, 4, 1]).to(dtype)))
    assert (err.argument, err.expected, err.got) == ("index", "0 <= index < 4", "4")


def test_uint64_index_above_int64_is_refused_with_its_unsigned_value() -> None:
    huge = torch.tensor([0, 1, -1]).view(torch.uint64)  # last entry: 2**64 - 1
    err = raised(ShapeError, lambda: take_along(torch.zeros(3, 4), huge))
    assert (err.function, err.argument, err.got) == ("take_along", "index", str(2**64 - 1))
    assert "at position (2,)" in str(err)


@pytest.mark.parametrize(
    ("value", "cls", "got"),
    [
        (None, DtypeError, "None"),
        ("2", DtypeError, "the str '2'"),
        (2.0, DtypeError, "the float 2.0"),
        (True, DtypeError, "the bool True"),  # was accepted as size 1
        (-2, UsageError, "-2"),
        (10**20, UsageError, str(10**20)),  # was: RuntimeError from torch
    ],
)
def test_reshape_size_keywords_must_be_sizes(
    value: object, cls: type[ShapesafeError], got: str
) -> None:
    err = raised(cls, lambda: reshape(torch.zeros(3, 4), "b (h w) -> b h w", h=value))  # type: ignore[arg-type]
    assert (err.function, err.argument, err.got) == ("reshape", "h", got)
    assert "size keyword h=" in str(err)


def test_reshape_accepts_numpy_integer_sizes() -> None:
    out = reshape(torch.zeros(3, 4), "b (h w) -> b h w", h=np.int64(2))  # type: ignore[arg-type]
    assert out.shape == (3, 2, 2)


# --------------------------------------------------------------------------------------
# fuzz: any input gives the plain torch result or a ShapesafeError, never anything else

FUZZ_DTYPES = [
    torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.complex64,
    torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.uint16,
    torch.uint32, torch.uint64, torch.bool,
]  # fmt: skip

ODD = st.one_of(
    st.integers(-6, 6),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True),
    st.text(max_size=2),
    st.just(10**20),
    st.just(-(10**20)),
    st.just(np.int64(1)),
    st.lists(st.integers(-3, 3), max_size=3),
    st.tuples(st.integers(-3, 3), st.integers(-3, 3)),
    st.dictionaries(st.text(max_size=1), st.integers(), max_size=1),
)

FUZZ = settings(max_examples=300)


@st.composite
def any_tensor(draw: st.DrawFn, max_dims: int = 4) -> torch.Tensor:
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=max_dims)))
    dtype = draw(st.sampled_from(FUZZ_DTYPES))
    values = draw(
        st.lists(st.integers(-2, 5), min_size=math.prod(shape), max_size=math.prod(shape))
    )
    t = torch.tensor(values, dtype=torch.int64).reshape(shape)
    return (
        t.to(dtype)
        if dtype not in (torch.uint16, torch.uint32, torch.uint64)
        else t.abs().to(dtype)
    )


def outcome(call: Callable[[], Any]) -> Any:
    """The result, or None for a ShapesafeError; any other exception fails the test."""
    try:
        return call()
    except ShapesafeError:
        return None


def _long(index: torch.Tensor) -> torch.Tensor:
    return index.to(torch.int64)


@FUZZ
@given(any_tensor(), any_tensor(), st.one_of(st.integers(-5, 4), ODD))
def test_fuzz_take_along(values: torch.Tensor, index: torch.Tensor, dim: Any) -> None:
    got = outcome(lambda: take_along(values, index, dim))
    if got is not None:
        assert torch.equal(got, reference_take_along(values, _long(index), dim))


@FUZZ
@given(any_tensor(), any_tensor(), st.one_of(st.integers(-5, 4), ODD))
def test_fuzz_gather(inp: torch.Tensor, index: torch.Tensor, dim: Any) -> None:
    got = outcome(lambda: gather(inp, dim, index))
    if got is not None:
        wide = inp.dtype in (torch.uint16, torch.uint32, torch.uint64)  # no torch kernel
        expected = torch.gather(inp.to(torch.int64) if wide else inp, dim, _long(index))
        assert got.dtype == inp.dtype
        assert torch.equal(got.to(expected.dtype), expected)


@FUZZ
@given(any_tensor(), st.one_of(st.integers(-5, 4), ODD))
def test_fuzz_squeeze(x: torch.Tensor, dim: Any) -> None:
    got = outcome(lambda: squeeze(x, dim))
    if got is not None:
        axes = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
        assert all(x.shape[a] == 1 for a in axes)
        assert torch.equal(got, x.squeeze(axes))


@FUZZ
@given(any_tensor(max_dims=3), st.lists(st.one_of(st.integers(-5, 5), ODD), max_size=3))
def test_fuzz_unsqueeze(x: torch.Tensor, dims: list[Any]) -> None:
    got = outcome(lambda: unsqueeze(x, *dims))
    if got is not None:
        flat = [a for d in dims for a in (d if isinstance(d, (tuple, list)) else (d,))]
        assert got.shape == np.expand_dims(np.zeros(x.shape), tuple(flat)).shape
        assert got.dtype == x.dtype
        assert torch.equal(got.reshape(x.shape), x)


KEY_ITEMS = st.sampled_from([slice(None), None, Ellipsis, 0, -1, slice(1, None), "a", 1.5])


@FUZZ
@given(any_tensor(), st.one_of(KEY_ITEMS, st.lists(KEY_ITEMS, max_size=5).map(tuple)))
def test_fuzz_newaxis(x: torch.Tensor, key: Any) -> None:
    got = outcome(lambda: newaxis(x)[key])
    if got is not None:
        assert torch.equal(got, x[key])
        n_keep = sum(isinstance(k, slice) for k in (key if isinstance(key, tuple) else (key,)))
        assert got.ndim - x.ndim == got.ndim - n_keep - (x.ndim - n_keep)  # only axes added
        assert got.numel() == x.numel()


@FUZZ
@given(any_tensor(), st.one_of(st.integers(-2, 6), ODD), st.one_of(st.integers(-2, 6), ODD))
def test_fuzz_reshape_pattern(x: torch.Tensor, h: Any, w: Any) -> None:
    got = outcome(lambda: reshape(x, "b (h w) -> b h w", h=h, w=w))
    if got is not None:
        assert x.ndim == 2 and (h, w) == (int(h), int(w))
        assert not isinstance(h, bool) and not isinstance(w, bool)
        assert torch.equal(got, x.reshape(x.shape[0], int(h), int(w)))
    got = outcome(lambda: reshape(x, "b (h w) -> b h w", h=h))
    if got is not None:
        assert not isinstance(h, bool) and x.shape[1] % int(h) == 0
        assert torch.equal(got, x.reshape(x.shape[0], int(h), x.shape[1] // int(h)))


@FUZZ
@given(
    any_tensor(),
    st.lists(st.one_of(st.integers(-2, 6), ODD), max_size=3),
    st.one_of(st.integers(-1, 4), ODD),
)
def test_fuzz_reshape_keep(x: torch.Tensor, shape: list[Any], keep: Any) -> None:
    got = outcome(lambda: reshape(x, *shape, keep=keep))
    if got is not None:
        assert isinstance(keep, (int, np.integer)) and not isinstance(keep, bool)
        assert 0 <= keep <= x.ndim
        assert got.shape[:keep] == x.shape[:keep]
        dims = shape[0] if len(shape) == 1 and isinstance(shape[0], (list, tuple)) else shape
        assert torch.equal(got, torch.reshape(x, (*x.shape[:keep], *[int(s) for s in dims])))


@FUZZ
@given(any_tensor(), st.one_of(st.integers(-2, 5), ODD))
def test_fuzz_flatten(x: torch.Tensor, keep: Any) -> None:
    got = outcome(lambda: flatten(x, keep))
    if got is not None:
        assert x.ndim > keep >= 0
        assert torch.equal(got, torch.flatten(x, keep))


ARRAY_OR_ODD = st.one_of(any_tensor(max_dims=2), ODD, any_tensor(max_dims=2).map(lambda t: t.numpy() if t.dtype not in (torch.bfloat16, torch.uint16, torch.uint32) else t))  # fmt: skip


@FUZZ
@given(ARRAY_OR_ODD, ARRAY_OR_ODD, st.one_of(st.integers(-2, 2), ODD))
def test_fuzz_any_argument_is_an_array_or_a_shapesafe_error(a: Any, b: Any, k: Any) -> None:
    # numpy arrays, odd Python values and tensors in every array position of every op
    for call in (
        lambda: take_along(a, b, k),
        lambda: gather(a, k, b),
        lambda: squeeze(a, k),
        lambda: unsqueeze(a, k),
        lambda: newaxis(a)[k],
        lambda: reshape(a, "b ... -> b (...)"),
        lambda: reshape(a, k, keep=1),
        lambda: flatten(a, k),
    ):
        got = outcome(call)
        assert got is None or isinstance(got, (torch.Tensor, np.ndarray))
