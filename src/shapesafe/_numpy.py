"""The numpy ↔ torch boundary, for simulators.

Lecture 3's advice: simulate in numpy, model in torch, convert at the boundary. The traps
there are aliasing (``torch.from_numpy(a)`` and ``t.detach().numpy()`` share memory, so a
later in-place write on one side silently changes the other), float64 leaking into a
float32 model, read-only / negatively-strided / big-endian arrays, object arrays from
ragged lists, and NaN from a diverging simulator.

:func:`to_numpy` and :func:`from_numpy` always **copy**: the result never shares memory
with the source, in either direction. :func:`from_numpy` applies an explicit dtype policy:

============================  =========================================================
numpy dtype                    torch dtype (default policy, ``dtype=None``)
============================  =========================================================
float16 / float32 / float64    ``torch.get_default_dtype()`` (float32 unless changed)
any signed/unsigned integer    ``torch.int64`` (what indexing, gather, cross_entropy need)
bool                           ``torch.bool``
complex64 / complex128         the default complex dtype (complex64 with float32)
object, str, bytes, datetime   refused with :class:`~shapesafe.DtypeError`
============================  =========================================================

``dtype="keep"`` keeps numpy's dtype; ``dtype=torch.float64`` (any torch dtype) forces one.
Conversions that would silently lose information are refused with
:class:`~shapesafe.DtypeError`: a complex array to a real dtype (the imaginary part would be
dropped) and ``uint64`` values above ``2**63 - 1`` to int64 (they would wrap negative).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

from shapesafe._config import STATE
from shapesafe.errors import DtypeError, NonFiniteError

__all__ = ["NonFiniteError", "from_numpy", "to_numpy"]


_FLOAT_DEFAULT = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def _np_dtype_for(dtype: torch.dtype) -> np.dtype[Any] | None:
    try:
        return torch.empty((), dtype=dtype).numpy().dtype
    except (TypeError, RuntimeError):  # bfloat16, float8, ...: no numpy twin
        return None


def _target_dtype(a: np.ndarray[Any, Any], dtype: torch.dtype | str | None) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    kind = a.dtype.kind
    if dtype == "keep":
        try:
            return torch.from_numpy(np.empty(0, dtype=a.dtype.newbyteorder("="))).dtype
        except TypeError:  # longdouble / clongdouble: torch has no such dtype
            raise DtypeError(
                f"from_numpy(): argument `array` has dtype {a.dtype}, which torch has no "
                "equivalent for, so dtype='keep' cannot keep it\n  hint: pass dtype=None "
                "(the default policy) or a torch dtype such as dtype=torch.float64",
                function="from_numpy",
                argument="dtype",
                got=str(a.dtype),
            ) from None
    default = torch.get_default_dtype()
    if kind == "f":
        return default
    if kind in "iu":
        return torch.int64
    if kind == "b":
        return torch.bool
    return _FLOAT_DEFAULT.get(default, torch.complex64)  # kind == "c"


def _describe(a: np.ndarray[Any, Any]) -> str:
    return f"array {a.shape} {a.dtype}"


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
      float32) with :class:`NonFiniteError`, naming how many and where the first is.
    - ``spec`` (``"batch obs"`` or ``Float[Tensor, "batch obs"]``) checks the *resulting
      tensor* with :func:`shapesafe.check_shape`; ``dims`` pre-binds sizes and is updated
      in place with the new bindings, so consecutive calls must agree on shared names.

    ``spec`` and ``check_finite`` are skipped when shapesafe is disabled; the conversion
    itself is identical.

    Examples:
        >>> import numpy as np
        >>> from shapesafe._numpy import from_numpy
        >>> obs = np.zeros((4, 3))            # float64 from a simulator
        >>> t = from_numpy(obs, "batch obs")
        >>> t.dtype, tuple(t.shape)
        (torch.float32, (4, 3))
        >>> obs[0, 0] = 1.0; float(t[0, 0])    # no aliasing
        0.0
    """
    fn = "from_numpy"
    if isinstance(array, torch.Tensor):
        raise DtypeError(
            f"{fn}(): argument `array` is already a torch.Tensor {tuple(array.shape)}\n"
            "  hint: use t.to(dtype) / detached_copy(t); from_numpy is for numpy data",
            function=fn,
            argument="array",
            got="torch.Tensor",
        )
    if isinstance(array, np.ndarray):
        a = array
    else:
        try:
            a = np.asarray(array)
        except ValueError as e:  # ragged nested lists
            raise DtypeError(
                f"{fn}(): argument `array` cannot be made into a numeric array: "
                f"{str(e).splitlines()[0]}\n  hint: the elements have different shapes (a "
                "ragged list of observations?); pad them or np.stack equally-shaped arrays",
                function=fn,
                argument="array",
            ) from None
    kind = a.dtype.kind
    if kind not in "biufc":
        what = {
            "O": "object",
            "U": "string",
            "S": "bytes",
            "M": "datetime",
            "m": "timedelta",
        }.get(kind, "structured")
        hint = (
            "an object array usually comes from a ragged list or a list of arrays of "
            "different shapes; np.stack equally-shaped arrays (or pad them) first"
            if kind == "O"
            else "convert to numbers first"
        )
        raise DtypeError(
            f"{fn}(): argument `array` has {what} dtype ({_describe(a)}), which has no "
            f"tensor equivalent\n  hint: {hint}",
            function=fn,
            argument="array",
            got=str(a.dtype),
        )
    if dtype is not None and dtype != "keep" and not isinstance(dtype, torch.dtype):
        raise DtypeError(
            f"{fn}(): argument `dtype` must be None, 'keep' or a torch.dtype, got {dtype!r}\n"
            "  hint: e.g. dtype=torch.float32",
            function=fn,
            argument="dtype",
        )
    target = _target_dtype(a, dtype)
    if kind == "c" and not target.is_complex:
        raise DtypeError(
            f"{fn}(): argument `array` ({_describe(a)}) is complex, but dtype "
            f"{str(target).removeprefix('torch.')} is real: the imaginary part would be "
            "silently discarded\n  hint: convert explicitly first (a.real, np.abs(a)), or "
            "pass a complex dtype",
            function=fn,
            argument="dtype",
            expected="a complex dtype",
            got=str(target),
        )
    if a.dtype.kind == "u" and a.dtype.itemsize == 8 and target == torch.int64 and a.size:
        top = int(a.max())
        if top > np.iinfo(np.int64).max:
            raise DtypeError(
                f"{fn}(): argument `array` ({_describe(a)}) holds {top}, which does not fit "
                "in int64 (torch's index dtype): the conversion would wrap it to a negative "
                "number\n  hint: the values look like hashes or seeds, not indices; keep "
                "them in numpy, or reduce them first (a % 2**63)",
                function=fn,
                argument="array",
                expected="values <= 2**63 - 1",
                got=str(top),
            )
    checking = STATE.enabled and check_finite
    if checking and kind in "fc":
        _refuse_non_finite(a, fn)
    np_target = _np_dtype_for(target)
    # one copy: converted, C-contiguous, writable, native byte order, never aliasing.
    # Overflow (1e39 -> float32) gives inf silently, as in numpy and torch, unless checked.
    with np.errstate(over="ignore", invalid="ignore"):
        if np_target is not None:
            t = torch.from_numpy(np.array(a, dtype=np_target, order="C", copy=True))
        else:
            native = a.dtype.newbyteorder("=")
            t = torch.from_numpy(np.array(a, dtype=native, order="C", copy=True)).to(target)
    if (
        checking
        and kind in "iufc"  # float64 -> float32, or int -> float16, can overflow to inf
        and (t.is_floating_point() or t.is_complex())
        and not bool(torch.isfinite(t).all())
    ):
        big = float(np.abs(a.astype(np.complex128 if kind == "c" else np.float64)).max())
        raise NonFiniteError(
            f"{fn}(): argument `array` ({_describe(a)}) holds values up to {big:.3g} that "
            f"overflow to inf in {str(target).removeprefix('torch.')}\n  hint: rescale "
            "or clip the values, or keep float64 with dtype=torch.float64",
            function=fn,
            argument="array",
        )
    if device is not None:
        t = t.to(device)
    if spec is not None and STATE.enabled:
        from shapesafe._check import check_shape

        bound = check_shape(t, spec, function=fn, argument="array", dims=dims)
        if dims is not None:
            dims.update(bound)
    return t


def _refuse_non_finite(a: np.ndarray[Any, Any], fn: str) -> None:
    bad = ~np.isfinite(a)
    if not bad.any():
        return
    n_nan = int(np.isnan(a).sum())
    n_inf = int(bad.sum()) - n_nan
    first = tuple(int(i) for i in np.argwhere(bad)[0]) if a.ndim else ()
    where = f" (first at index {first})" if a.ndim else ""
    raise NonFiniteError(
        f"{fn}(): argument `array` ({_describe(a)}) holds {n_nan} NaN and {n_inf} inf "
        f"value{'s' if n_nan + n_inf != 1 else ''}{where}\n  hint: the simulator diverged or "
        "was fed NaN actions; check the step before, or np.nan_to_num() if that is intended",
        function=fn,
        argument="array",
        got=f"{n_nan} NaN, {n_inf} inf",
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
        >>> from shapesafe._numpy import to_numpy
        >>> y = torch.ones(3, requires_grad=True)
        >>> a = to_numpy(y); a[0] = 5.0
        >>> y
        tensor([1., 1., 1.], requires_grad=True)
    """
    fn = "to_numpy"
    if not isinstance(tensor, torch.Tensor):
        raise DtypeError(
            f"{fn}(): argument `tensor` must be a torch.Tensor, got {type(tensor).__name__}\n"
            "  hint: for a numpy array, take a copy with np.array(a, copy=True)",
            function=fn,
            argument="tensor",
            got=type(tensor).__name__,
        )
    if spec is not None and STATE.enabled:
        from shapesafe._check import check_shape

        bound = check_shape(tensor, spec, function=fn, argument="tensor", dims=dims)
        if dims is not None:
            dims.update(bound)
    if tensor.layout != torch.strided:
        raise DtypeError(
            f"{fn}(): argument `tensor` is a {tensor.layout} tensor\n"
            "  hint: densify it first: to_numpy(t.to_dense())",
            function=fn,
            argument="tensor",
        )
    if tensor.is_meta:
        raise DtypeError(
            f"{fn}(): argument `tensor` {tuple(tensor.shape)} is a meta tensor, which has no "
            "data to copy\n  hint: materialise it first (e.g. module.to_empty(device='cpu') "
            "and load real weights)",
            function=fn,
            argument="tensor",
        )
    src = tensor.detach()
    if src.dtype == torch.bfloat16:
        src = src.float()
    if src.device.type != "cpu":
        src = src.cpu()  # already a copy in new memory
        if src.is_conj() or src.is_neg():
            src = src.resolve_conj().resolve_neg()
        return _numpy_of(src, fn)
    src = src.resolve_conj().resolve_neg()
    copied: np.ndarray[Any, Any] = _numpy_of(src, fn).copy()
    return copied


def _numpy_of(t: torch.Tensor, fn: str) -> np.ndarray[Any, Any]:
    try:
        out: np.ndarray[Any, Any] = t.numpy()
        return out
    except (TypeError, RuntimeError) as e:
        raise DtypeError(
            f"{fn}(): a {str(t.dtype).removeprefix('torch.')} tensor has no numpy "
            f"equivalent ({str(e).splitlines()[0]})\n  hint: convert first, e.g. "
            "to_numpy(t.float())",
            function=fn,
            argument="tensor",
            got=str(t.dtype),
        ) from None
