from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import shapesafe
from shapesafe import DtypeError, ShapeError
from shapesafe.ops import flatten, gather, newaxis, reshape, squeeze, take_along, unsqueeze
from shapesafe.testing import shapes, tensors, wrong_shapes

# --------------------------------------------------------------------------------------
# helpers


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
    with pytest.raises(ShapeError, match=r"did you mean index\.squeeze\(-1\)\?") as info:
        take_along(values, index.unsqueeze(-1), dim)
    assert info.value.argument == "index"
    assert info.value.axis == index.ndim


def test_take_along_message_for_the_actions_bug() -> None:
    q, a = torch.zeros(64, 4), torch.zeros(64, 1, dtype=torch.long)
    with pytest.raises(
        ShapeError,
        match=(
            r"take_along\(\): argument `index` axis 1: expected shape \(64,\) matching "
            r"values' leading dims \(64,\), got \(64, 1\)\n  hint: `index` has a trailing "
            r"axis of size 1; did you mean index\.squeeze\(-1\)\?"
        ),
    ):
        take_along(q, a)


@given(st.data())
def test_take_along_refuses_wrong_leading_dims(data: st.DataObject) -> None:
    vshape = data.draw(shapes(min_dims=2, max_dims=4, max_side=5))
    lead = vshape[:-1]
    names = " ".join(f"d{i}" for i in range(len(lead)))
    bad = data.draw(wrong_shapes(names, dims={f"d{i}": s for i, s in enumerate(lead)}))
    index = torch.zeros(bad, dtype=torch.long)
    with pytest.raises(ShapeError, match=r"take_along\(\): argument `index`"):
        take_along(torch.zeros(vshape), index)


def test_take_along_refuses_broadcastable_leading_dims() -> None:
    with pytest.raises(ShapeError, match=r"axis 0 of `index` has size 1 .* does not broadcast"):
        take_along(torch.zeros(8, 3), torch.zeros(1, dtype=torch.long))
    with pytest.raises(ShapeError, match=r"axis 1: expected shape \(2, 5\) = values' shape"):
        take_along(torch.zeros(2, 3, 5), torch.zeros(2, 1, dtype=torch.long), dim=1)


def test_take_along_points_to_gather_for_full_shape_index() -> None:
    with pytest.raises(
        ShapeError, match=r"for torch\.gather semantics .* use shapesafe\.ops\.gather"
    ):
        take_along(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ShapeError, match=r"needs one entry per position .* 1 axis, not 0"):
        take_along(torch.zeros(2, 3), torch.tensor(0))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bool])
def test_take_along_refuses_non_integer_index(dtype: torch.dtype) -> None:
    hint = "boolean mask" if dtype == torch.bool else r"convert it with index\.long\(\)"
    with pytest.raises(DtypeError, match=rf"must have an integer dtype, got torch\.\w+\n.*{hint}"):
        take_along(torch.zeros(4, 3), torch.zeros(4, dtype=dtype))
    with pytest.raises(DtypeError, match=r"integer dtype, got float64"):
        take_along(np.zeros((4, 3)), np.zeros(4))


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
    match = r"negative indices are not wrapped" if negative else r"out of range for axis"
    with pytest.raises(ShapeError, match=match):
        take_along(values, bad, dim)
    with pytest.raises(ShapeError, match=rf"has entry {int(bad.reshape(-1)[-1])} at position"):
        take_along(values.numpy(), bad.numpy(), dim)


def test_take_along_refuses_mixing_numpy_and_torch() -> None:
    with pytest.raises(DtypeError, match=r"cannot mix torch tensors and numpy arrays"):
        take_along(torch.zeros(2, 3), np.zeros(2, dtype=np.int64))  # type: ignore[arg-type]
    with pytest.raises(DtypeError, match=r"must be a torch\.Tensor or numpy\.ndarray, got list"):
        take_along([[1.0]], torch.zeros(1, dtype=torch.long))  # type: ignore[arg-type]


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
    with pytest.raises(
        DtypeError,
        match=rf"{name}\(\): argument `x` must be a torch\.Tensor or numpy\.ndarray, got list",
    ):
        call([[1.0, 2.0]])


def test_take_along_bad_dim() -> None:
    with pytest.raises(ShapeError, match=r"`dim`=2 is out of range .* \(valid: -2\.\.1\)"):
        take_along(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), dim=2)
    with pytest.raises(ShapeError, match=r"argument `values` is 0-d"):
        take_along(torch.tensor(1.0), torch.tensor(0))


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
    smaller = index.narrow(k, 0, data.draw(st.integers(1, inp.shape[k] - 1)))
    torch.gather(inp, dim, smaller)  # torch silently accepts this
    with pytest.raises(ShapeError, match=rf"axis {k}: expected size .*\n.*would silently read"):
        gather(inp, dim, smaller)


def test_gather_messages() -> None:
    x = torch.arange(6).reshape(2, 3)
    with pytest.raises(
        ShapeError,
        match=(
            r"gather\(\): argument `index` axis 1: expected size 3 \(as `input` \(2, 3\); only "
            r"axis 0 may differ\), got shape \(2, 1\)\n  hint: torch\.gather would silently "
            r"read only the first 1 of the 3 entries .* gather\(input\[:, :1\], 0, index\)"
        ),
    ):
        gather(x, 0, torch.tensor([[0], [1]]))
    with pytest.raises(ShapeError, match=r"is larger than `input` along axis 0"):
        gather(x, 1, torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(ShapeError, match=r"must have 2 axes like `input` .*\n.*use shapesafe"):
        gather(x, 1, torch.zeros(2, dtype=torch.long))
    with pytest.raises(ShapeError, match=r"entry 2 at position \(0, 1\), out of range"):
        gather(x, 0, torch.tensor([[0, 2, 0]]))
    with pytest.raises(DtypeError, match=r"argument `index` must have an integer dtype"):
        gather(x, 0, torch.zeros(1, 3))
    with pytest.raises(ShapeError, match=r"argument `input` is 0-d"):
        gather(torch.tensor(1), 0, torch.tensor(0))


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
    with pytest.raises(ShapeError, match=rf"axis {axis} of `x` has size {shape[axis]}, not 1"):
        squeeze(x, axis)


def test_squeeze_messages() -> None:
    with pytest.raises(
        ShapeError,
        match=(
            r"squeeze\(\): axis 2 of `x` has size 4, not 1 \(`x` of shape \(10, 1, 4\)\)\n"
            r"  hint: the size-1 axes of `x` are \(1,\); torch's x\.squeeze\(2\) would "
            r"silently return `x` unchanged"
        ),
    ):
        squeeze(torch.zeros(10, 1, 4), 2)
    with pytest.raises(ShapeError, match=r"hint: `x` has no size-1 axes"):
        squeeze(np.zeros((3, 4)), 0)
    with pytest.raises(ShapeError, match=r"`dim`=3 is out of range for `x` of shape \(3, 1\)"):
        squeeze(torch.zeros(3, 1), 3)
    with pytest.raises(ShapeError, match=r"names the same axis twice"):
        squeeze(torch.zeros(3, 1), (1, -1))
    with pytest.raises(ShapeError, match=r"`dim` is empty"):
        squeeze(torch.zeros(3, 1), ())
    with pytest.raises(ShapeError, match=r"`dim` must be an int, got float"):
        squeeze(torch.zeros(3, 1), 1.0)  # type: ignore[arg-type]


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
    with pytest.raises(ShapeError, match=r"unsqueeze\(\): no axes given"):
        unsqueeze(torch.zeros(2))
    with pytest.raises(ShapeError, match=r"dims \(1, -2\) name the same result axis twice"):
        unsqueeze(torch.zeros(2), 1, -2)
    with pytest.raises(
        ShapeError, match=r"`dims`=3 is out of range for the result \(1 \+ 1 axes\)"
    ):
        unsqueeze(torch.zeros(2), 3)


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
    with pytest.raises(
        ShapeError,
        match=(
            r"newaxis\(\): index \[:, None\] keeps 1 axis with `:` but `x` has 3 "
            r"\(shape \(10, 4, 2\)\)\n  hint: write one `:` per axis"
        ),
    ):
        newaxis(b)[:, None]
    with pytest.raises(ShapeError, match=r"keeps 4 axes with `:` but `x` has only 3"):
        newaxis(torch.zeros(10, 4, 2))[:, :, :, None, :, ...]
    with pytest.raises(ShapeError, match=r"entry 1 is 0; only `:`"):
        newaxis(b)[:, 0, None]
    with pytest.raises(ShapeError, match=r"entry 0 is slice\(1, None, None\)"):
        newaxis(b)[1:, ...]
    with pytest.raises(ShapeError, match=r"more than one `\.\.\.`"):
        newaxis(b)[..., None, ...]


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
    with pytest.raises(
        shapesafe.ShapesafeError,
        match=(
            r"reshape\(\): pattern 'time batch obs -> batch \(time obs\)' reorders axes "
            r"\(time batch obs -> batch time obs\); a reshape cannot move axes, it would mix "
            r"them\n  hint: permute first"
        ),
    ):
        reshape(x, "time batch obs -> batch (time obs)")


def test_reshape_pattern_messages() -> None:
    x = torch.zeros(32, 7056)
    with pytest.raises(
        shapesafe.ShapesafeError,
        match=r"axis 1 \(h w\) of `x` has size 7056, not divisible by h=85",
    ):
        reshape(x, "batch (h w) -> batch h w", h=85)
    with pytest.raises(
        shapesafe.ShapesafeError, match=r"cannot infer h and w from axis 1 of size 7056"
    ):
        reshape(x, "batch (h w) -> batch h w")
    with pytest.raises(
        shapesafe.ShapesafeError, match=r"axis 1 \(obs\) of `x` has size 7056, expected obs=4"
    ):
        reshape(x, "batch obs -> batch obs", obs=4)
    with pytest.raises(
        shapesafe.ShapesafeError,
        match=r"pattern 'b c d -> b \(c d\)' expects 3 axes, `x` has shape \(32, 7056\)",
    ):
        reshape(x, "b c d -> b (c d)")
    with pytest.raises(shapesafe.ShapesafeError, match=r"expects at least 3 axes"):
        reshape(x, "b c d ... -> b (c d) ...")
    with pytest.raises(shapesafe.ShapesafeError, match=r"size keyword\(s\) w not in pattern"):
        reshape(x, "b c -> b c", w=3)
    with pytest.raises(shapesafe.ShapesafeError, match=r"time only on the left"):
        reshape(torch.zeros(5, 3), "time obs -> obs")
    with pytest.raises(shapesafe.ShapesafeError, match=r"must have the form 'left -> right'"):
        reshape(x, "b c")
    with pytest.raises(shapesafe.ShapesafeError, match=r"left side repeats b"):
        reshape(x, "b b -> b b")
    with pytest.raises(shapesafe.ShapesafeError, match=r"nested parentheses"):
        reshape(x, "b c -> ((b c))")
    with pytest.raises(shapesafe.ShapesafeError, match=r"unbalanced `\(`"):
        reshape(x, "b c -> (b c")
    with pytest.raises(shapesafe.ShapesafeError, match=r"unbalanced `\)`"):
        reshape(x, "b c -> b c)")
    with pytest.raises(shapesafe.ShapesafeError, match=r"cannot read '2'"):
        reshape(x, "b c -> b c 2")
    with pytest.raises(shapesafe.ShapesafeError, match=r"`\.\.\.` cannot be split on the left"):
        reshape(x, "b (...) -> b ...")


def test_reshape_keep_messages() -> None:
    with pytest.raises(
        ShapeError,
        match=(
            r"cannot reshape axes 1\.\. of `x` \(shape \(32, 7000\)\) into \(84, 84\): 7000 "
            r"elements per item, 7056 in the target\n  hint: keep=1 preserves \(32,\)"
        ),
    ):
        reshape(torch.zeros(32, 7000), 84, 84, keep=1)
    # 8 * 9 == 4 * 6 * 3: a plain x.reshape(-1, 6, 3) would split rows across items
    with pytest.raises(ShapeError, match=r"x\.reshape\(-1, 6, 3\) would have silently mixed"):
        reshape(torch.zeros(8, 9), 6, 3, keep=1)
    with pytest.raises(ShapeError, match=r"more than one -1"):
        reshape(torch.zeros(8, 9), -1, -1, keep=1)
    with pytest.raises(ShapeError, match=r"shape entries must be ints >= -1, got -2"):
        reshape(torch.zeros(8, 9), -2, keep=1)
    with pytest.raises(ShapeError, match=r"keep=3 must be an int in 0\.\.2"):
        reshape(torch.zeros(8, 9), 9, keep=3)
    with pytest.raises(TypeError, match=r"pass keep="):
        reshape(torch.zeros(8, 9), 72)
    with pytest.raises(TypeError, match=r"`keep` is not used with a pattern"):
        reshape(torch.zeros(8, 9), "a b -> (a b)", keep=1)
    with pytest.raises(TypeError, match=r"size keywords \(h\) only go with a pattern"):
        reshape(torch.zeros(8, 9), 9, keep=1, h=3)


def test_flatten_messages() -> None:
    with pytest.raises(
        ShapeError,
        match=(
            r"flatten\(\): `x` has shape \(32,\): no axes left to flatten after keeping 1 "
            r"leading axis\n  hint: `x` may already be flat"
        ),
    ):
        flatten(torch.zeros(32))
    with pytest.raises(ShapeError, match=r"keep=-1 must be an int >= 0"):
        flatten(torch.zeros(3, 2), keep=-1)


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
