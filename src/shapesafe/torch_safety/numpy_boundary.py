"""The numpy <-> torch boundary, for simulators.

Simulate in numpy, model in torch, convert at the boundary: that is how most RL code is
laid out, and the boundary is where silent bugs live. ``torch.from_numpy(a)`` and
``t.detach().numpy()`` share memory, so a later in-place write on one side silently
changes the other (a replay buffer that changes under the learner); float64 leaks into a
float32 model; read-only, negatively-strided and big-endian arrays trip torch; ragged
lists become object arrays; a diverging simulator hands over NaN.

:func:`to_numpy` and :func:`from_numpy` always **copy**: the result never shares memory
with the source, in either direction. :func:`from_numpy` applies an explicit dtype policy:

============================  =========================================================
numpy dtype                    torch dtype (default policy, ``dtype=None``)
============================  =========================================================
float16 / float32 / float64    ``torch.get_default_dtype()`` (float32 unless changed)
longdouble                     the same (the extra precision has no torch equivalent)
any signed/unsigned integer    ``torch.int64`` (what indexing, gather, cross_entropy need)
bool                           ``torch.bool``
complex64 / complex128         the default complex dtype (complex64 with float32)
object, str, bytes, datetime   refused with :class:`~shapesafe.DtypeError`
============================  =========================================================

``dtype="keep"`` keeps numpy's dtype; ``dtype=torch.float64`` (any torch dtype) forces one.
Conversions that would silently lose information are refused: a complex array to a real
dtype (the imaginary part would be dropped) and ``uint64`` values above ``2**63 - 1`` to
int64 (they would wrap negative) raise :class:`~shapesafe.DtypeError`; NaN or infinity
cast to an integer or bool dtype (numpy turns NaN into ``-2**63``) raises
:class:`~shapesafe.NonFiniteError`, whether or not ``check_finite`` is set.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

import numpy as np
import torch

from shapesafe._config import STATE
from shapesafe._format import error, fmt_dtype, fmt_value, plural
from shapesafe.errors import DtypeError, NonFiniteError, UsageError
from shapesafe.torch_safety._arguments import require_dims, require_flags, require_tensor

__all__ = ["from_numpy", "to_numpy"]


_COMPLEX_OF = {torch.float32: torch.complex64, torch.float64: torch.complex128}
# torch dtypes that hold no plain numbers: refusing them up front beats torch's
# "empty_strided not supported on quantized tensors" from deep inside the copy.
_NOT_NUMERIC = {torch.quint8, torch.qint8, torch.qint32, torch.quint4x2, torch.quint2x4}
_KIND_NAMES = {"O": "object", "U": "string", "S": "bytes", "M": "datetime", "m": "timedelta"}


@functools.cache  # a handful of dtypes; rollouts convert an observation every step
def _np_twin(dtype: torch.dtype) -> np.dtype[Any] | None:
    """numpy's dtype for ``dtype``, or ``None`` (bfloat16, float8, ...: no numpy twin)."""
    try:
        return torch.empty((), dtype=dtype).numpy().dtype
    except (TypeError, RuntimeError):
        return None


def _target_dtype(a: np.ndarray[Any, Any], dtype: torch.dtype | str | None) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    kind = a.dtype.kind
    if dtype == "keep":
        try:
            return torch.from_numpy(np.empty(0, dtype=a.dtype.newbyteorder("="))).dtype
        except TypeError:  # longdouble / clongdouble: torch has no such dtype
            raise error(
                DtypeError,
                f"dtype {fmt_dtype(a.dtype)} has no torch equivalent, so dtype='keep' "
                "cannot keep it",
                argument="dtype",
                got=fmt_dtype(a.dtype),
                hint="pass dtype=None (the default policy) or a torch dtype such as "
                "dtype=torch.float64",
                function="from_numpy",
            ) from None
    default = torch.get_default_dtype()
    if kind == "f":
        return default
    if kind in "iu":
        return torch.int64
    if kind == "b":
        return torch.bool
    return _COMPLEX_OF.get(default, torch.complex64)  # kind == "c"


def _as_array(array: Any) -> np.ndarray[Any, Any]:
    if isinstance(array, torch.Tensor):
        raise error(
            DtypeError,
            f"is already a torch tensor ({fmt_value(array)})",
            argument="array",
            expected="a numpy array, numpy scalar, Python number or list",
            got=fmt_value(array),
            hint="use t.to(dtype) / detached_copy(t); from_numpy is for numpy data",
            function="from_numpy",
        )
    if isinstance(array, np.ndarray):
        return array
    try:
        return np.asarray(array)
    except ValueError as e:  # ragged nested lists
        raise error(
            DtypeError,
            f"cannot be made into a numeric array: {str(e).splitlines()[0]}",
            argument="array",
            got=fmt_value(array),
            hint="the elements have different shapes (a ragged list of observations?); "
            "pad them or np.stack equally-shaped arrays",
            function="from_numpy",
        ) from None


def _check_arguments(a: np.ndarray[Any, Any], dtype: Any, check_finite: Any, dims: Any) -> None:
    kind = a.dtype.kind
    if kind not in "biufc":
        what = _KIND_NAMES.get(kind, "structured")
        raise error(
            DtypeError,
            f"has {what} dtype ({fmt_value(a)}), which has no tensor equivalent",
            argument="array",
            expected="a bool, integer, float or complex dtype",
            got=fmt_dtype(a.dtype),
            hint="an object array usually comes from a ragged list or a list of arrays of "
            "different shapes; np.stack equally-shaped arrays (or pad them) first"
            if kind == "O"
            else "convert to numbers first",
            function="from_numpy",
        )
    if dtype is not None and dtype != "keep" and not isinstance(dtype, torch.dtype):
        raise error(
            UsageError,
            f"must be None, 'keep' or a torch.dtype, got {fmt_value(dtype)}",
            argument="dtype",
            expected="None, 'keep' or a torch.dtype",
            got=fmt_value(dtype),
            hint="e.g. dtype=torch.float32",
            function="from_numpy",
        )
    if dtype in _NOT_NUMERIC:
        raise error(
            UsageError,
            f"{fmt_dtype(dtype)} is a quantized dtype, which plain numbers cannot be converted to",
            argument="dtype",
            got=fmt_dtype(dtype),
            hint="convert to a float dtype, then quantize with torch.quantize_per_tensor",
            function="from_numpy",
        )
    require_flags("from_numpy", check_finite=check_finite)
    require_dims(dims, "from_numpy")


def from_numpy(
    array: Any,
    spec: Any = None,
    *,
    dtype: torch.dtype | Literal["keep"] | None = None,
    device: torch.device | str | None = None,
    check_finite: bool = False,
    dims: dict[str, Any] | None = None,
) -> torch.Tensor:
    """Convert simulator output (a numpy array, numpy scalar, Python number or list) to a
    new tensor that shares no memory with it.

    - ``dtype=None`` applies the policy in the module docs (float64 → float32, integers →
      int64, bool → bool); ``"keep"`` keeps numpy's dtype; a ``torch.dtype`` forces one.
    - Non-contiguous, negatively-strided (``a[::-1]``), read-only and big-endian arrays
      are handled (the copy is contiguous, writable, native-endian).
    - Object arrays (ragged lists), strings and dates are refused with
      :class:`~shapesafe.DtypeError`.
    - ``check_finite=True`` refuses NaN/inf (and float64 values that overflow to inf in
      float32) with :class:`~shapesafe.NonFiniteError`, naming how many and where the
      first is.
    - ``spec`` (``"batch obs"`` or ``Float[Tensor, "batch obs"]``) checks the *resulting
      tensor* with :func:`shapesafe.check_shape`; ``dims`` pre-binds sizes and is updated
      in place with the new bindings, so consecutive calls must agree on shared names.

    ``spec`` and ``check_finite`` are skipped when shapesafe is disabled; the conversion
    itself (and its refusal of lossy conversions) is identical.

    Examples:
        >>> import numpy as np
        >>> from shapesafe import from_numpy
        >>> obs = np.zeros((4, 3))            # float64 from a simulator
        >>> t = from_numpy(obs, "batch obs")
        >>> t.dtype, tuple(t.shape)
        (torch.float32, (4, 3))
        >>> obs[0, 0] = 1.0; float(t[0, 0])    # no aliasing
        0.0
    """
    a = _as_array(array)
    _check_arguments(a, dtype, check_finite, dims)
    target = _target_dtype(a, dtype)
    _refuse_lossy(a, target)
    checking = STATE.enabled and check_finite
    if checking and a.dtype.kind in "fc":
        _refuse_non_finite(a)
    t = _copy(a, target)
    if checking and (t.is_floating_point() or t.is_complex()):
        _refuse_overflow(a, t)
    if device is not None:
        try:
            t = t.to(device)
        except (RuntimeError, TypeError, ValueError):
            raise error(
                UsageError,
                f"{fmt_value(device)} is not a device torch knows",
                function="from_numpy",
                argument="device",
                got=fmt_value(device),
                hint="e.g. device='cpu' or device='cuda:0'",
            ) from None
    if spec is not None and STATE.enabled:
        from shapesafe._checker.decorator import check_shape

        bound = check_shape(t, spec, function="from_numpy", argument="array", dims=dims)
        if dims is not None:
            dims.update(bound)
    return t


def _copy(a: np.ndarray[Any, Any], target: torch.dtype) -> torch.Tensor:
    """One copy: converted, C-contiguous, writable, native byte order, never aliasing.

    Overflow (1e39 -> float32) gives inf silently, as in numpy and torch; the caller
    checks for it when asked to.
    """
    np_target = _np_twin(target)
    if np_target is not None and a.dtype == np_target:  # no cast, no overflow: no errstate
        return torch.from_numpy(np.array(a, order="C", copy=True))
    with np.errstate(over="ignore", invalid="ignore"):
        if np_target is not None:
            return torch.from_numpy(np.array(a, dtype=np_target, order="C", copy=True))
        # bfloat16, float8, ...: go through the nearest dtype torch reads from numpy.
        # longdouble has no torch twin at all, so it goes through float64 / complex128.
        via = a.dtype.newbyteorder("=")
        if via.kind in "fc" and via.itemsize > (8 if via.kind == "f" else 16):
            via = np.dtype(np.float64 if via.kind == "f" else np.complex128)
        return torch.from_numpy(np.array(a, dtype=via, order="C", copy=True)).to(target)


def _refuse_lossy(a: np.ndarray[Any, Any], target: torch.dtype) -> None:
    kind = a.dtype.kind
    if kind == "c" and not target.is_complex:
        raise error(
            DtypeError,
            f"the array ({fmt_value(a)}) is complex, but dtype {fmt_dtype(target)} is real: the "
            "imaginary part would be silently discarded",
            argument="dtype",
            expected="a complex dtype",
            got=fmt_dtype(target),
            hint="convert explicitly first (a.real, np.abs(a)), or pass a complex dtype",
            function="from_numpy",
        )
    if kind == "u" and a.dtype.itemsize == 8 and target == torch.int64 and a.size:
        top = int(a.max())
        if top > np.iinfo(np.int64).max:
            raise error(
                DtypeError,
                f"{fmt_value(a)} holds {top}, which does not fit in int64 (torch's "
                "index dtype): the conversion would wrap it to a negative number",
                argument="array",
                expected="values <= 2**63 - 1",
                got=str(top),
                hint="the values look like hashes or seeds, not indices; keep them in "
                "numpy, or reduce them first (a % 2**63)",
                function="from_numpy",
            )
    if kind in "fc" and not (target.is_floating_point or target.is_complex) and a.size:
        # numpy casts NaN to -2**63 (or True) without a word; no policy makes that useful
        bad = ~np.isfinite(a)
        if bad.any():
            raise error(
                NonFiniteError,
                f"{fmt_value(a)} holds {plural(int(bad.sum()), 'NaN or inf value')}, "
                f"which cannot be converted to {fmt_dtype(target)}",
                argument="array",
                expected="finite values",
                got=f"{int(np.isnan(a).sum())} NaN, {int(np.isinf(a).sum())} inf",
                hint="replace them first (np.nan_to_num) or keep a float dtype",
                function="from_numpy",
            )


def _refuse_non_finite(a: np.ndarray[Any, Any]) -> None:
    bad = ~np.isfinite(a)
    if not bad.any():
        return
    n_nan = int(np.isnan(a).sum())
    n_inf = int(bad.sum()) - n_nan
    first = tuple(int(i) for i in np.argwhere(bad)[0]) if a.ndim else ()
    at = f" (first at index {first})" if a.ndim else ""
    raise error(
        NonFiniteError,
        f"{fmt_value(a)} holds {n_nan} NaN and {plural(n_inf, 'inf value')}{at}",
        argument="array",
        expected="finite values",
        got=f"{n_nan} NaN, {n_inf} inf",
        hint="the simulator diverged or was fed NaN actions; check the step before, or "
        "np.nan_to_num() if that is intended",
        function="from_numpy",
    )


def _refuse_overflow(a: np.ndarray[Any, Any], t: torch.Tensor) -> None:
    """float64 -> float32 or int -> float16 can overflow to inf although the source is
    finite (the source was checked already)."""
    if bool(torch.isfinite(t).all()):
        return
    wide = a.astype(np.complex128 if a.dtype.kind == "c" else np.float64)
    big = float(np.abs(wide).max())
    raise error(
        NonFiniteError,
        f"{fmt_value(a)} holds values up to {big:.3g} that overflow to inf in {fmt_dtype(t.dtype)}",
        argument="array",
        expected=f"values representable in {fmt_dtype(t.dtype)}",
        got=f"max |value| {big:.3g}",
        hint="rescale or clip the values, or keep float64 with dtype=torch.float64",
        function="from_numpy",
    )


def to_numpy(
    tensor: torch.Tensor,
    spec: Any = None,
    *,
    dims: dict[str, Any] | None = None,
) -> np.ndarray[Any, Any]:
    """A numpy copy of ``tensor`` that the caller may mutate safely: detached, on CPU, in
    new memory (never aliasing ``tensor``, unlike ``t.detach().numpy()``).

    Works for tensors that require grad, live on a GPU, are inference tensors, or carry a
    lazy conjugate/negative bit. ``bfloat16`` (which numpy lacks) becomes ``float32``,
    exactly. ``spec`` checks the tensor first, as in :func:`from_numpy`.

    Examples:
        >>> import torch
        >>> from shapesafe import to_numpy
        >>> y = torch.ones(3, requires_grad=True)
        >>> a = to_numpy(y); a[0] = 5.0
        >>> y
        tensor([1., 1., 1.], requires_grad=True)
    """
    _check_tensor(tensor, dims)
    if spec is not None and STATE.enabled:
        from shapesafe._checker.decorator import check_shape

        bound = check_shape(tensor, spec, function="to_numpy", argument="tensor", dims=dims)
        if dims is not None:
            dims.update(bound)
    src = tensor.detach()
    if src.dtype == torch.bfloat16:
        src = src.float()
    if src.is_conj() or src.is_neg():  # materialise lazy bits (cheap to ask, not to do)
        src = src.resolve_conj().resolve_neg()
    if src.device.type != "cpu":
        return _numpy_of(src.cpu())  # already a copy in new memory
    copied: np.ndarray[Any, Any] = _numpy_of(src).copy()
    return copied


def _check_tensor(tensor: Any, dims: Any) -> None:
    require_tensor(
        tensor,
        "to_numpy",
        "tensor",
        hint="for a numpy array, take a copy with np.array(a, copy=True)",
    )
    if tensor.layout != torch.strided:
        raise error(
            DtypeError,
            f"is a {str(tensor.layout).removeprefix('torch.')} tensor",
            argument="tensor",
            expected="a dense (strided) tensor",
            got=str(tensor.layout).removeprefix("torch."),
            hint="densify it first: to_numpy(t.to_dense())",
            function="to_numpy",
        )
    if tensor.is_meta:
        raise error(
            DtypeError,
            f"{fmt_value(tensor)} is a meta tensor, which has no data to copy",
            argument="tensor",
            got="a meta tensor",
            hint="materialise it first (e.g. module.to_empty(device='cpu') and load real weights)",
            function="to_numpy",
        )
    if tensor.is_quantized or tensor.dtype in _NOT_NUMERIC:
        raise error(
            DtypeError,
            f"is a quantized {fmt_dtype(tensor.dtype)} tensor, which numpy cannot hold",
            argument="tensor",
            got=fmt_dtype(tensor.dtype),
            hint="to_numpy(t.dequantize())",
            function="to_numpy",
        )
    require_dims(dims, "to_numpy")


def _numpy_of(t: torch.Tensor) -> np.ndarray[Any, Any]:
    try:
        out: np.ndarray[Any, Any] = t.numpy()
        return out
    except (TypeError, RuntimeError) as e:  # float8, uint16 on old numpy, ...
        raise error(
            DtypeError,
            f"a {fmt_dtype(t.dtype)} tensor has no numpy equivalent ({str(e).splitlines()[0]})",
            function="to_numpy",
            argument="tensor",
            got=fmt_dtype(t.dtype),
            hint="convert first, e.g. to_numpy(t.float())",
        ) from None
