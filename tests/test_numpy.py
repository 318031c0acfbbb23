from __future__ import annotations

from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from jaxtyping import Float, Int

from shapesafe import (
    DtypeError,
    NonFiniteError,
    ShapeError,
    ShapesafeError,
    UsageError,
    enabled,
    from_numpy,
    to_numpy,
)
from shapesafe.testing import shapes, tensors


def assert_fields(err: ShapesafeError, **fields: Any) -> None:
    """The structured fields of ``err`` (the wording is pinned in test_messages)."""
    for name, value in fields.items():
        assert getattr(err, name) == value, (name, getattr(err, name), value)


NUMERIC = [
    np.float16,
    np.float32,
    np.float64,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.bool_,
    np.complex64,
    np.complex128,
]


def policy(dt: np.dtype[Any]) -> torch.dtype:
    """The documented default policy, written out independently."""
    if dt.kind == "f":
        return torch.float32
    if dt.kind in "iu":
        return torch.int64
    if dt.kind == "b":
        return torch.bool
    return torch.complex64


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    """numpy arrays as environments hand them over: any numeric dtype (some torch lacks,
    such as uint16), either byte order, and non-contiguous or read-only views.
    shapesafe.testing draws native-order arrays of torch's dtypes only, hence hnp here."""
    dt = np.dtype(draw(st.sampled_from(NUMERIC)))
    if draw(st.booleans()):
        dt = dt.newbyteorder(">") if dt.itemsize > 1 else dt
    shape = draw(shapes(max_dims=3, max_side=4))
    a = draw(
        hnp.arrays(
            dt,
            shape,
            elements={"allow_nan": False, "allow_infinity": False} if dt.kind in "fc" else None,
        )
    )
    view = draw(st.sampled_from(["plain", "reversed", "transposed", "readonly"]))
    if view == "reversed" and a.ndim:
        a = a[::-1]
    elif view == "transposed":
        a = a.T
    elif view == "readonly":
        a.flags.writeable = False
    return a


# ---------------------------------------------------------------- from_numpy values


@pytest.mark.values
@given(arrays())
def test_from_numpy_policy_values_and_no_aliasing(a: np.ndarray) -> None:
    t = from_numpy(a)
    assert t.dtype == policy(a.dtype)
    assert tuple(t.shape) == a.shape
    expected = torch.from_numpy(np.array(a, order="C").astype(a.dtype.newbyteorder("="))).to(
        policy(a.dtype)
    )
    assert torch.equal(t, expected)
    assert t.is_contiguous()
    if a.size:
        before = a.copy()
        t.view(-1)[0] = 1 if t.dtype != torch.bool else not bool(t.view(-1)[0])
        np.testing.assert_array_equal(a, before)  # mutating the tensor leaves the source
        if a.flags.writeable:
            snapshot = t.clone()
            a.reshape(-1)[0] = 0  # and mutating the source leaves the tensor (reshape may copy)
            a[(0,) * a.ndim] = 0
            assert torch.equal(t, snapshot)


@pytest.mark.values
@given(arrays())
def test_from_numpy_keep_and_explicit_dtypes(a: np.ndarray) -> None:
    kept = from_numpy(a, dtype="keep")
    assert kept.dtype == torch.from_numpy(np.empty(0, a.dtype.newbyteorder("="))).dtype
    np.testing.assert_array_equal(kept.numpy(), a)
    if a.dtype.kind != "c":
        forced = from_numpy(a, dtype=torch.float64)
        assert forced.dtype == torch.float64
        np.testing.assert_array_equal(forced.numpy(), a.astype(np.float64))


@pytest.mark.values
def test_from_numpy_scalars_lists_and_default_dtype() -> None:
    assert from_numpy(np.float64(2.5)).dtype == torch.float32
    assert from_numpy(3).dtype == torch.int64 and from_numpy(3).shape == ()
    assert torch.equal(from_numpy([[1.5, 2.0]]), torch.tensor([[1.5, 2.0]]))
    assert from_numpy(True).dtype == torch.bool
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert from_numpy(np.zeros(2, np.float32)).dtype == torch.float64
        assert from_numpy(np.zeros(2, np.complex64)).dtype == torch.complex128
    finally:
        torch.set_default_dtype(previous)
    t = from_numpy(np.ones(2), dtype=torch.bfloat16, device="cpu")
    assert t.dtype == torch.bfloat16 and torch.equal(t.float(), torch.ones(2))


@pytest.mark.values
def test_from_numpy_read_only_array_gives_writable_tensor_without_warning() -> None:
    a = np.arange(4.0)
    a.flags.writeable = False
    t = from_numpy(a)  # torch.from_numpy would warn (an error under our pytest settings)
    t[0] = 9.0
    assert a[0] == 0.0


# ---------------------------------------------------------------- from_numpy errors


def test_from_numpy_refuses_object_string_and_ragged() -> None:
    with pytest.raises(DtypeError, match="has object dtype") as info:
        from_numpy(np.array([np.zeros(2), np.zeros(3)], dtype=object))
    assert_fields(info.value, function="from_numpy", argument="array", got="object")
    assert "ragged list" in (info.value.hint or "")
    with pytest.raises(DtypeError, match="has string dtype") as info:
        from_numpy(np.array(["abc"]))
    assert_fields(info.value, function="from_numpy", argument="array", got="<U3")
    with pytest.raises(DtypeError, match="has datetime dtype"):
        from_numpy(np.array(["2024-01-01"], dtype="datetime64[D]"))
    with pytest.raises(DtypeError, match="cannot be made into a numeric array") as info:
        from_numpy([[1.0, 2.0], [3.0]])
    assert_fields(info.value, function="from_numpy", argument="array", got="a list of 2 items")


def test_from_numpy_refuses_tensors_and_bad_dtype_argument() -> None:
    with pytest.raises(DtypeError, match="is already a torch tensor") as info:
        from_numpy(torch.zeros(2))
    assert_fields(info.value, function="from_numpy", argument="array", got="tensor (2,) float32")
    with pytest.raises(UsageError, match=r"must be None, 'keep' or a torch.dtype") as uinfo:
        from_numpy(np.zeros(2), dtype=np.float32)  # type: ignore[arg-type]
    assert_fields(uinfo.value, function="from_numpy", argument="dtype")


def test_from_numpy_check_finite() -> None:
    a = np.zeros((3, 2))
    a[1, 0] = np.nan
    a[2, 1] = np.inf
    with pytest.raises(NonFiniteError, match=r"first at index \(1, 0\)") as info:
        from_numpy(a, check_finite=True)
    assert_fields(info.value, function="from_numpy", argument="array", got="1 NaN, 1 inf")
    with pytest.raises(NonFiniteError, match="holds 1 NaN and 0 inf value") as info:
        from_numpy(np.float64("nan"), check_finite=True)
    assert_fields(info.value, function="from_numpy", got="1 NaN, 0 inf")
    with pytest.raises(NonFiniteError, match="overflow to inf in float32") as info:
        from_numpy(np.array([1.0, 1e39]), check_finite=True)
    assert_fields(info.value, function="from_numpy", argument="array", got="max |value| 1e+39")
    # the same values pass when not asked to check, or with float64 kept
    assert torch.isnan(from_numpy(a)).any()
    assert from_numpy(np.array([1e39]), dtype=torch.float64, check_finite=True).item() == 1e39
    with enabled(False):
        assert torch.isinf(from_numpy(np.array([1e39]), check_finite=True)).all()


def test_from_numpy_shape_spec_and_shared_dims() -> None:
    dims: dict[str, Any] = {}
    obs = from_numpy(np.zeros((4, 3)), "batch obs", dims=dims)
    assert obs.shape == (4, 3) and dims == {"batch": 4, "obs": 3}
    with pytest.raises(ShapeError, match=r"from_numpy\(\): argument `array` axis 0 \('batch'\)"):
        from_numpy(np.zeros((5, 2)), "batch act", dims=dims)
    acts = from_numpy(np.zeros(4, np.int32), Int[torch.Tensor, "batch"], dims=dims)
    assert acts.dtype == torch.int64
    with pytest.raises(DtypeError, match=r"from_numpy\(\): argument `array`: expected dtype Float"):
        from_numpy(np.zeros(4, np.int32), Float[torch.Tensor, "batch"])
    with enabled(False):
        assert from_numpy(np.zeros((5, 2)), "batch act", dims={"batch": 4}).shape == (5, 2)


# ---------------------------------------------------------------- to_numpy


@st.composite
def tensor_views(draw: st.DrawFn) -> torch.Tensor:
    """Tensors as a training loop holds them: possibly non-leaf with grad, or transposed."""
    dt = draw(st.sampled_from([torch.float32, torch.float64, torch.int64, torch.bool]))
    # every value of the dtype (infinities and extremes too), not only the default range
    np_dt = np.dtype(str(dt).removeprefix("torch."))
    elements = hnp.from_dtype(np_dt, **({"allow_nan": False} if dt.is_floating_point else {}))
    t = draw(tensors(dt, shapes(max_dims=3, max_side=4), elements=elements))
    if dt.is_floating_point and draw(st.booleans()):
        t = t.requires_grad_(True) * 1.0  # non-leaf that requires grad
    if t.dim() >= 2 and draw(st.booleans()):
        t = t.transpose(0, 1)
    return t


@pytest.mark.values
@given(tensor_views())
def test_to_numpy_values_and_no_aliasing(t: torch.Tensor) -> None:
    a = to_numpy(t)
    expected = t.detach().numpy()
    np.testing.assert_array_equal(a, expected)
    assert a.dtype == expected.dtype and a.flags.writeable
    if a.size:
        snapshot = t.detach().clone()
        a.reshape(-1)[0] = 1
        a[(0,) * a.ndim] = not a[(0,) * a.ndim] if a.dtype == bool else 7
        assert torch.equal(t.detach(), snapshot)  # mutating the copy leaves the tensor
        before = a.copy()
        with torch.no_grad():
            t[(0,) * t.dim()] = 0 if t.dtype != torch.bool else True
        np.testing.assert_array_equal(a, before)  # and mutating the tensor leaves the copy


@pytest.mark.values
def test_to_numpy_special_tensors() -> None:
    with torch.inference_mode():
        inf = torch.ones(2) * 3
    np.testing.assert_array_equal(to_numpy(inf), [3.0, 3.0])
    np.testing.assert_array_equal(to_numpy(torch.tensor([1 + 2j]).conj()), [1 - 2j])
    np.testing.assert_array_equal(to_numpy(-torch.tensor([1 + 2j]).conj().imag), [2.0])
    b = to_numpy(torch.tensor([1.5, -2.0], dtype=torch.bfloat16))
    assert b.dtype == np.float32 and b.tolist() == [1.5, -2.0]


def test_to_numpy_errors_and_spec() -> None:
    dims: dict[str, Any] = {}
    to_numpy(torch.zeros(3, 2), "n d", dims=dims)
    assert dims == {"n": 3, "d": 2}
    with pytest.raises(DtypeError, match=r"must be a torch.Tensor") as info:
        to_numpy(np.zeros(2))  # type: ignore[arg-type]
    assert_fields(info.value, function="to_numpy", argument="tensor", got="array (2,) float64")
    with pytest.raises(DtypeError, match="is a sparse_coo tensor") as info:
        to_numpy(torch.ones(2).to_sparse())
    assert_fields(info.value, function="to_numpy", argument="tensor", got="sparse_coo")
    with pytest.raises(ShapeError, match=r"to_numpy\(\): argument `tensor` axis 1"):
        to_numpy(torch.zeros(3, 2), "n d", dims={"d": 3})


def test_the_detach_numpy_trap_is_real() -> None:
    """The aliasing to_numpy avoids: detach().numpy() shares memory with y."""
    y = torch.ones(3, requires_grad=True)
    y.detach().numpy()[0] = 5.0
    assert y[0].item() == 5.0
    z = torch.ones(3, requires_grad=True)
    to_numpy(z)[0] = 5.0
    assert z[0].item() == 1.0


def test_from_numpy_refuses_silently_lossy_conversions() -> None:
    with pytest.raises(DtypeError, match="imaginary part would be silently discarded") as info:
        from_numpy(np.array([1 + 2j]), dtype=torch.float32)
    assert_fields(
        info.value,
        function="from_numpy",
        argument="dtype",
        expected="a complex dtype",
        got="float32",
    )
    assert from_numpy(np.array([1 + 2j]), dtype=torch.complex128).item() == 1 + 2j
    # uint64 beyond int64 would wrap to a negative index
    big = np.array([0, 2**63 + 5], dtype=np.uint64)
    with pytest.raises(DtypeError, match="does not fit in int64") as info:
        from_numpy(big)
    assert_fields(info.value, function="from_numpy", argument="array", got=str(2**63 + 5))
    ok = np.array([0, 2**63 - 1], dtype=np.uint64)
    assert from_numpy(ok).tolist() == [0, 2**63 - 1]
    # dtype="keep" on a dtype torch lacks: a shapesafe error, not torch's TypeError
    if np.dtype(np.longdouble).itemsize > 8:
        with pytest.raises(DtypeError, match="has no torch equivalent") as info:
            from_numpy(np.array([1.0], dtype=np.longdouble), dtype="keep")
        assert_fields(info.value, function="from_numpy", argument="dtype")
        assert from_numpy(np.array([1.5], dtype=np.longdouble)).item() == 1.5


def test_from_numpy_check_finite_catches_integer_overflow_to_float16() -> None:
    with pytest.raises(NonFiniteError, match="overflow to inf in float16") as info:
        from_numpy(np.array([70000]), dtype=torch.float16, check_finite=True)
    assert_fields(info.value, function="from_numpy", argument="array", got="max |value| 7e+04")
    assert from_numpy(np.array([60000]), dtype=torch.float16, check_finite=True).item() == 60000


def test_to_numpy_refuses_meta_tensors() -> None:
    with pytest.raises(DtypeError, match="is a meta tensor") as info:
        to_numpy(torch.zeros(2, device="meta"))
    assert_fields(info.value, function="to_numpy", argument="tensor", got="a meta tensor")


# ---------------------------------------------------------------- issue 11: hardening


def test_from_numpy_longdouble_to_any_float_dtype() -> None:
    """Issue 11: longdouble to a dtype numpy lacks (bfloat16) leaked torch's TypeError."""
    a = np.array([1.5, -2.25], dtype=np.longdouble)
    for target in (torch.bfloat16, torch.float16, torch.float32, torch.float64):
        t = from_numpy(a, dtype=target)
        assert t.dtype == target and t.tolist() == [1.5, -2.25]
    c = np.array([1.5 + 2j], dtype=np.clongdouble)
    assert from_numpy(c, dtype=torch.complex64).item() == 1.5 + 2j


@pytest.mark.parametrize("target", [torch.int64, torch.int32, torch.uint8, torch.bool])
def test_from_numpy_refuses_nan_to_integer(target: torch.dtype) -> None:
    """numpy turns NaN into -2**63 when cast to int64, silently; refused even unchecked."""
    with pytest.raises(NonFiniteError, match="cannot be converted to") as info:
        from_numpy(np.array([1.0, np.nan, np.inf]), dtype=target)
    assert_fields(info.value, function="from_numpy", argument="array", got="1 NaN, 1 inf")
    assert from_numpy(np.array([1.0, 2.0]), dtype=target).dtype == target


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"dtype": torch.quint8}, "dtype"),
        ({"device": "nope"}, "device"),
        ({"dims": 5, "spec": "a"}, "dims"),
        ({"check_finite": "yes"}, "check_finite"),
    ],
)
def test_from_numpy_refuses_bad_keyword_values(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(UsageError) as info:
        from_numpy(np.zeros(3), **kwargs)
    assert_fields(info.value, function="from_numpy", argument=argument)


# ---------------------------------------------------------------- fuzz: from_numpy

FUZZ_DTYPES = [
    *NUMERIC,
    np.uint64,
    np.longdouble,
    np.clongdouble,
    ">f8",
    ">f4",
    ">i8",
    ">u2",
    ">c16",
]
FUZZ_TARGETS = [
    None,
    "keep",
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
    torch.int8,
    torch.int64,
    torch.uint8,
    torch.bool,
    torch.complex64,
    torch.complex128,
]


@st.composite
def odd_arrays(draw: st.DrawFn) -> np.ndarray:
    dt = np.dtype(draw(st.sampled_from(FUZZ_DTYPES)))
    shape = draw(st.lists(st.integers(0, 3), max_size=3).map(tuple))
    a = draw(hnp.arrays(dt, shape))  # NaN, inf and extreme values included
    view = draw(st.sampled_from(["plain", "reversed", "transposed", "strided"]))
    if view == "reversed" and a.ndim:
        a = a[::-1]
    elif view == "transposed":
        a = a.T
    elif view == "strided" and a.ndim:
        a = a[::2]
    return a


def _reference(a: np.ndarray, target: torch.dtype) -> torch.Tensor:
    """What numpy's own cast gives, then torch for dtypes numpy lacks."""
    with np.errstate(all="ignore"):
        try:
            twin = torch.empty((), dtype=target).numpy().dtype
        except (TypeError, RuntimeError):
            wide = {"f": np.float64, "c": np.complex128}.get(
                a.dtype.kind, a.dtype.newbyteorder("=")
            )
            return torch.from_numpy(np.array(a.astype(wide), order="C")).to(target)
        return torch.from_numpy(np.array(a.astype(twin), order="C"))


@pytest.mark.values
@given(a=odd_arrays(), target=st.sampled_from(FUZZ_TARGETS), check_finite=st.booleans())
def test_from_numpy_fuzz_matches_numpy_or_refuses(
    a: np.ndarray, target: Any, check_finite: bool
) -> None:
    """Any numeric dtype (big-endian, longdouble, unsigned, complex), 0-size and
    non-contiguous arrays, NaN/inf, any target: numpy's cast, or a ShapesafeError."""
    try:
        t = from_numpy(a, dtype=target, check_finite=check_finite)
    except ShapesafeError:
        return
    assert tuple(t.shape) == a.shape and t.is_contiguous()
    if target not in (None, "keep"):
        assert t.dtype == target
    expected = _reference(a, t.dtype)
    assert expected.dtype == t.dtype
    assert torch.equal(t, expected) or (
        (t.is_floating_point() or t.is_complex())
        and torch.equal(t.isnan(), expected.isnan())
        and torch.equal(t.nan_to_num(0.0), expected.nan_to_num(0.0))
    )
    if a.dtype.kind in "fc" and not (t.is_floating_point() or t.is_complex()):
        assert np.isfinite(a).all()  # NaN never silently became an integer
    if a.dtype.kind == "c":
        assert t.is_complex()  # the imaginary part was never dropped
    if check_finite and a.dtype.kind in "fc":
        assert bool(torch.isfinite(t).all()) or not (t.is_floating_point() or t.is_complex())
