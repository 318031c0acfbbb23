"""hypothesis strategies for tensors, shapes and jaxtyping annotations.

In the style of :mod:`hypothesis.extra.numpy`: :func:`tensors` draws torch tensors of a
dtype and shape; :func:`shapes` draws shapes, optionally ones that satisfy a jaxtyping
annotation or a dim string such as ``"batch act"``; :func:`from_annotation` draws tensors
(or consistent sets of tensors sharing dim bindings) that satisfy annotations;
:func:`wrong_shapes` and :func:`wrong_dtypes` draw what an annotation must reject.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from jaxtyping import AbstractArray, Shaped

from shapesafe._checker.dims import (
    AnonDim,
    ArgDim,
    Dim,
    FixedDim,
    NamedDim,
    RunDim,
    SymbolicDim,
    SymbolicError,
    parse_dim_string,
)
from shapesafe.errors import AnnotationError

__all__ = [
    "from_annotation",
    "from_signature",
    "shapes",
    "tensors",
]

Shape = tuple[int, ...]
DimValue = int | Sequence[int] | st.SearchStrategy[Any]

# --------------------------------------------------------------------------------------
# dtypes

_TORCH_TO_NUMPY: dict[torch.dtype, Any] = {
    torch.float64: np.float64,
    torch.float32: np.float32,
    torch.float16: np.float16,
    torch.int64: np.int64,
    torch.int32: np.int32,
    torch.int16: np.int16,
    torch.int8: np.int8,
    torch.uint8: np.uint8,
    torch.bool: np.bool_,
    torch.complex64: np.complex64,
    torch.complex128: np.complex128,
}

# Preference order when an annotation allows several dtypes.
_PREFERRED: tuple[torch.dtype, ...] = (
    torch.float32,
    torch.float64,
    torch.float16,
    torch.bfloat16,
    torch.int64,
    torch.int32,
    torch.int16,
    torch.int8,
    torch.uint8,
    torch.bool,
    torch.complex64,
    torch.complex128,
)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _default_elements(dtype: torch.dtype) -> st.SearchStrategy[Any]:
    if dtype == torch.bool:
        return st.booleans()
    if dtype.is_complex:
        return st.complex_numbers(max_magnitude=1e3, allow_nan=False, allow_infinity=False)
    if dtype.is_floating_point:
        width: Literal[16, 32, 64] = 32
        if dtype in (torch.float16, torch.bfloat16):
            width = 16
        elif dtype == torch.float64:
            width = 64
        return st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=width)
    info = torch.iinfo(dtype)
    return st.integers(max(info.min, -1000), min(info.max, 1000))


def _as_torch_dtype(dtype: Any) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        raise AnnotationError(f"tensors(): unknown dtype {dtype!r}") from None
    for t, n in _TORCH_TO_NUMPY.items():
        if np.dtype(n) == np_dtype:
            return t
    raise AnnotationError(f"tensors(): numpy dtype {np_dtype} has no torch equivalent")


# --------------------------------------------------------------------------------------
# tensors


def _shape_strategy(shape: Shape | int | st.SearchStrategy[Shape]) -> st.SearchStrategy[Shape]:
    if isinstance(shape, st.SearchStrategy):
        return shape
    if isinstance(shape, int):
        return st.just((shape,))
    return st.just(tuple(int(s) for s in shape))


@st.composite
def _tensors(
    draw: st.DrawFn,
    dtype: torch.dtype,
    shape: st.SearchStrategy[Shape],
    elements: st.SearchStrategy[Any] | None,
    device: str | torch.device,
    as_numpy: bool,
) -> Any:
    s = draw(shape)
    elems = elements if elements is not None else _default_elements(dtype)
    np_dtype = _TORCH_TO_NUMPY.get(dtype, np.float32)  # bfloat16 is drawn as float32
    arr = np.array(draw(hnp.arrays(np_dtype, s, elements=elems)))  # 0-d stays 0-d
    if as_numpy:
        return arr
    return torch.from_numpy(arr).to(device=device, dtype=dtype)


def tensors(
    dtype: torch.dtype | Any = torch.float32,
    shape: Shape | int | st.SearchStrategy[Shape] = (),
    *,
    elements: st.SearchStrategy[Any] | None = None,
    device: str | torch.device = "cpu",
) -> st.SearchStrategy[torch.Tensor]:
    """Strategy for torch tensors of ``dtype`` and ``shape`` (a tuple or a strategy).

    By default elements are finite: floats in ``[-1000, 1000]``, integers in that range
    clipped to the dtype's; pass ``elements=`` (a strategy for one element, as in
    :func:`hypothesis.extra.numpy.arrays`) for anything else.

    Examples:
        >>> from hypothesis import given
        >>> @given(tensors(torch.float32, shape=shapes(min_dims=1)))
        ... def test_double(x):
        ...     assert torch.equal(x + x, 2 * x)
        >>> test_double()
    """
    return _tensors(_as_torch_dtype(dtype), _shape_strategy(shape), elements, device, False)


def shapes(
    spec: Any = None,
    *,
    dims: Mapping[str, DimValue] | None = None,
    min_dims: int = 0,
    max_dims: int = 4,
    min_side: int = 1,
    max_side: int = 8,
) -> st.SearchStrategy[Shape]:
    """Strategy for shapes (tuples of ints).

    With no ``spec``, any shape with ``min_dims..max_dims`` axes of size
    ``min_side..max_side``. With a jaxtyping annotation (``Float[Tensor, "batch act"]``)
    or a dim string (``"batch act"``, ``"*batch 3"``), shapes that satisfy it; ``dims``
    fixes some names (to an int, a tuple for ``*name``, or a strategy).

    Examples:
        >>> from hypothesis import given
        >>> @given(shapes("batch 3", dims={"batch": 5}))
        ... def test_shape(s):
        ...     assert s == (5, 3)
        >>> test_shape()
    """
    if spec is None:
        return st.lists(st.integers(min_side, max_side), min_size=min_dims, max_size=max_dims).map(
            tuple
        )
    template = _template(spec, "shapes")
    for e in template.entries:  # fail at construction, not inside a test
        if isinstance(e, ArgDim):
            _arg_dim_key(e, dims or {}, "shapes")
    return _shapes_for(template, dict(dims or {}), min_side, max_side)


# --------------------------------------------------------------------------------------
# annotation templates


@dataclass(frozen=True)
class _Template:
    """An annotation, parsed by the checker's own parser (``shapesafe._checker.dims``):
    the strategies draw exactly what the checker accepts."""

    entries: tuple[Dim, ...]
    variadic: int | None  # index of the '*name' / '...' entry
    dtypes: tuple[str, ...] | None  # None: any dtype
    array_type: Any
    text: str


def _template(spec: Any, function: str) -> _Template:
    if isinstance(spec, str):
        try:
            ann: Any = Shaped[torch.Tensor, spec]
        except Exception as e:
            raise AnnotationError(f"{function}(): cannot parse dim string {spec!r}: {e}") from None
        array_type: Any = None  # a dim string: tensors by default
    elif isinstance(spec, type) and issubclass(spec, AbstractArray):
        ann = spec
        array_type = ann.array_type
    else:
        raise AnnotationError(
            f"{function}(): expected a jaxtyping annotation such as Float[Tensor, 'batch act'] "
            f"or a dim string such as 'batch act', got {spec!r}"
        )
    entries, variadic = parse_dim_string(ann.dim_str)
    raw = ann.dtypes
    dtypes = tuple(raw) if isinstance(raw, (tuple, list)) else None
    return _Template(entries, variadic, dtypes, array_type, ann.dim_str)


def _pick_dtype(t: _Template, function: str) -> torch.dtype:
    if t.dtypes is None:
        return torch.float32
    for dt in _PREFERRED:
        if _dtype_name(dt) in t.dtypes:
            return dt
    raise AnnotationError(f"{function}(): no torch dtype satisfies {t.dtypes}")


def _eval_symbolic(d: SymbolicDim, bound: Mapping[str, Any]) -> int | None:
    """The size of a symbolic axis (``None``: it has none, e.g. ``n//m`` with ``m=0``)."""
    try:
        value = d.evaluate(bound)
    except SymbolicError:
        return None
    if value is None:
        raise AnnotationError(f"{d.expr!r} uses a name that no axis binds")
    return value if isinstance(value, int) else None


def _dim_strategy(value: DimValue, name: str, variadic: bool) -> st.SearchStrategy[Any]:
    if isinstance(value, st.SearchStrategy):
        return value
    if variadic:
        if isinstance(value, int):
            return st.just((value,))
        return st.just(tuple(int(v) for v in value))
    if not isinstance(value, int) or isinstance(value, bool):
        raise AnnotationError(f"dims[{name!r}] must be an int or a strategy, got {value!r}")
    return st.just(value)


def _draw_bindings(
    draw: st.DrawFn,
    templates: Sequence[_Template],
    dims: Mapping[str, DimValue],
    min_side: int,
    max_side: int,
) -> dict[str, Any]:
    bound: dict[str, Any] = {}
    for t in templates:
        for e in t.entries:
            if isinstance(e, ArgDim):  # {self.obs_dim}: a size the caller states
                if e.path not in bound:
                    key = _arg_dim_key(e, dims)
                    bound[e.path] = draw(_dim_strategy(dims[key], key, False))
                continue
            if not isinstance(e, (NamedDim, RunDim)) or e.name in bound:
                continue
            variadic = isinstance(e, RunDim)
            if e.name in dims:
                bound[e.name] = draw(_dim_strategy(dims[e.name], e.name, variadic))
            elif variadic:
                bound[e.name] = tuple(draw(st.lists(st.integers(min_side, max_side), max_size=2)))
            else:
                bound[e.name] = draw(st.integers(min_side, max_side))
    return bound


def _draw_shape(
    draw: st.DrawFn, t: _Template, bound: Mapping[str, Any], min_side: int, max_side: int
) -> Shape:
    out: list[int] = []
    for e in t.entries:
        if isinstance(e, FixedDim):
            size = e.size
        elif isinstance(e, NamedDim):
            size = bound[e.name]
        elif isinstance(e, ArgDim):
            size = bound[e.path]
        elif isinstance(e, SymbolicDim):
            value = _eval_symbolic(e, bound)
            assume(value is not None and value >= 0)
            assert value is not None
            size = value
        elif isinstance(e, AnonDim):
            size = draw(st.integers(min_side, max_side))
        elif isinstance(e, RunDim):
            out.extend(bound[e.name])
            continue
        else:  # AnyRunDim
            out.extend(draw(st.lists(st.integers(min_side, max_side), max_size=2)))
            continue
        if not isinstance(e, AnonDim) and e.broadcastable and draw(st.booleans()):
            size = 1
        out.append(int(size))
    return tuple(out)


def _arg_dim_key(e: ArgDim, dims: Mapping[str, DimValue], function: str = "from_annotation") -> str:
    """The ``dims`` key that sizes a ``{self.obs_dim}`` axis: its path, or its alias
    (``obs`` in ``obs={self.obs_dim}``)."""
    if e.path in dims:
        return e.path
    if e.alias is not None and e.alias in dims:
        return e.alias
    raise AnnotationError(
        f"{function}(): the axis {{{e.path}}} takes its size from the call's arguments, "
        f"which a strategy cannot see; give it with dims={{{e.path!r}: N}}"
        + (f" (or {e.alias!r})" if e.alias else "")
    )


@st.composite
def _shapes_for(
    draw: st.DrawFn, t: _Template, dims: Mapping[str, DimValue], min_side: int, max_side: int
) -> Shape:
    bound = _draw_bindings(draw, [t], dims, min_side, max_side)
    return _draw_shape(draw, t, bound, min_side, max_side)


# --------------------------------------------------------------------------------------
# from_annotation / from_signature


def _value_strategy(
    t: _Template,
    shape: Shape,
    dtype: torch.dtype | None,
    elements: st.SearchStrategy[Any] | None,
    device: str | torch.device,
    function: str,
) -> st.SearchStrategy[Any]:
    dt = dtype if dtype is not None else _pick_dtype(t, function)
    if t.array_type is np.ndarray:
        return _tensors(dt, st.just(shape), elements, device, True)
    if t.array_type not in (None, torch.Tensor, typing.Any) and not (
        isinstance(t.array_type, type) and issubclass(t.array_type, torch.Tensor)
    ):
        raise AnnotationError(
            f"{function}(): can only draw torch tensors and numpy arrays, not {t.array_type!r}"
        )
    return _tensors(dt, st.just(shape), elements, device, False)


@st.composite
def _from_templates(
    draw: st.DrawFn,
    structure: Any,
    templates: Mapping[Any, _Template],
    dims: Mapping[str, DimValue],
    dtype: torch.dtype | None,
    elements: st.SearchStrategy[Any] | None,
    min_side: int,
    max_side: int,
    device: str | torch.device,
) -> Any:
    bound = _draw_bindings(draw, list(templates.values()), dims, min_side, max_side)
    values = {}
    for key, t in templates.items():
        shape = _draw_shape(draw, t, bound, min_side, max_side)
        values[key] = draw(_value_strategy(t, shape, dtype, elements, device, "from_annotation"))
    if structure is None:
        return values[0]
    if structure is dict:
        return values
    return structure(values[i] for i in range(len(values)))


def from_annotation(
    annotation: Any,
    *,
    dims: Mapping[str, DimValue] | None = None,
    dtype: torch.dtype | None = None,
    elements: st.SearchStrategy[Any] | None = None,
    min_side: int = 1,
    max_side: int = 8,
    device: str | torch.device = "cpu",
) -> st.SearchStrategy[Any]:
    """Strategy for tensors (or numpy arrays) that satisfy a jaxtyping annotation.

    ``annotation`` is one annotation (draws one tensor), or a dict / tuple / list of them
    (draws the same container, all tensors sharing one set of dim bindings).
    ``dims`` fixes named dims: ``{"batch": 4}``, ``{"batch": st.integers(1, 3)}``, or a
    tuple for a variadic ``*name``. Other names get sizes in ``min_side..max_side``;
    ``#name`` axes are sometimes 1. The dtype is the annotation's most common one
    (float32 for ``Float``, int64 for ``Int``, ...) unless ``dtype`` is given. A
    ``numpy.ndarray`` annotation draws numpy arrays.

    Examples:
        >>> from hypothesis import given
        >>> from jaxtyping import Float, Int
        >>> from torch import Tensor
        >>> batch = {"q": Float[Tensor, "batch act"], "a": Int[Tensor, "batch"]}
        >>> @given(from_annotation(batch, dims={"act": 3}))
        ... def test_batch(b):
        ...     assert b["q"].shape == (b["a"].shape[0], 3)
        >>> test_batch()
    """
    dims = dict(dims or {})
    structure: Any
    if isinstance(annotation, Mapping):
        structure, items = dict, dict(annotation)
    elif isinstance(annotation, (tuple, list)):
        structure, items = type(annotation), dict(enumerate(annotation))
    else:
        structure, items = None, {0: annotation}
    templates = {k: _template(a, "from_annotation") for k, a in items.items()}
    for t in templates.values():  # fail at construction, not inside a test
        if dtype is None:
            _pick_dtype(t, "from_annotation")
        for e in t.entries:
            if isinstance(e, ArgDim):
                _arg_dim_key(e, dims)
    return _from_templates(structure, templates, dims, dtype, elements, min_side, max_side, device)


def from_signature(
    func: Callable[..., Any],
    *,
    dims: Mapping[str, DimValue] | None = None,
    elements: st.SearchStrategy[Any] | None = None,
    min_side: int = 1,
    max_side: int = 8,
    device: str | torch.device = "cpu",
) -> st.SearchStrategy[dict[str, Any]]:
    """Strategy for keyword arguments of ``func`` drawn from its jaxtyping annotations.

    Parameters annotated with jaxtyping arrays share dim bindings, so the drawn arguments
    fit together; parameters without such an annotation must have defaults (they are
    left out). Call ``func(**kwargs)`` with the draw.

    Examples:
        >>> from hypothesis import given
        >>> from jaxtyping import Float
        >>> from torch import Tensor
        >>> def td(r: Float[Tensor, "b"], q: Float[Tensor, "b"]) -> Float[Tensor, "b"]:
        ...     return r + 0.99 * q
        >>> @given(from_signature(td))
        ... def test_td(kwargs):
        ...     assert td(**kwargs).shape == kwargs["r"].shape
        >>> test_td()
    """
    hints = typing.get_type_hints(func, include_extras=True)
    params = inspect.signature(func).parameters
    annotations: dict[str, Any] = {}
    for name, p in params.items():
        hint = hints.get(name)
        if isinstance(hint, type) and issubclass(hint, AbstractArray):
            annotations[name] = hint
        elif p.default is inspect.Parameter.empty and p.kind not in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            raise AnnotationError(
                f"from_signature(): parameter `{name}` of {func.__qualname__} has no "
                "jaxtyping array annotation and no default"
            )
    return from_annotation(
        annotations,
        dims=dims,
        elements=elements,
        min_side=min_side,
        max_side=max_side,
        device=device,
    )
