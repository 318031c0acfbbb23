"""hypothesis strategies for what an annotation must reject: :func:`wrong_shapes` and
:func:`wrong_dtypes`. "Wrong" is decided by the checker's own matcher, so a drawn shape
is exactly one that ``@shapesafe.check`` refuses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from hypothesis import assume
from hypothesis import strategies as st

from shapesafe._checker.dims import (
    AnonDim,
    AnyRunDim,
    FixedDim,
    NamedDim,
    RunDim,
    SymbolicDim,
)
from shapesafe._checker.match import Bindings, match_shape
from shapesafe._checker.plan import ArraySpec
from shapesafe.errors import AnnotationError
from shapesafe.testing._tensors import (
    _PREFERRED,
    Shape,
    _draw_bindings,
    _draw_shape,
    _dtype_name,
    _Template,
    _template,
)

__all__ = ["wrong_dtypes", "wrong_shapes"]


def _accepts(t: _Template, shape: Shape, dims: Mapping[str, Any]) -> bool:
    """Does ``shape`` satisfy ``t`` given the bindings ``dims``? Asked of the checker's
    own matcher, so "wrong" means exactly what ``@check`` rejects."""
    b = Bindings()
    for name, value in dims.items():
        key = "*" + name if isinstance(value, tuple) else name
        b.values[key] = value
        b.sources[key] = "dims="
    spec = ArraySpec(t.text, (), None, None, "", t.entries, t.variadic)
    deferred: list[Any] = []
    if match_shape(spec, shape, b, "value", deferred) is not None:
        return False
    # a symbolic axis whose names no axis binds cannot be satisfied
    return not deferred


def _constrained_axes(t: _Template, dims: Mapping[str, Any]) -> list[int]:
    """Entry indices whose size is pinned (so changing it must be rejected)."""
    names = [e.name for e in t.entries if isinstance(e, NamedDim)]
    out = []
    for i, e in enumerate(t.entries):
        if isinstance(e, (FixedDim, SymbolicDim)) or (
            isinstance(e, NamedDim) and (e.name in dims or names.count(e.name) > 1)
        ):
            out.append(i)
    return out


@st.composite
def _wrong_shapes(
    draw: st.DrawFn,
    t: _Template,
    dims: Mapping[str, Any],
    options: tuple[str, ...],
    min_side: int,
    max_side: int,
) -> Shape:
    bound = _draw_bindings(draw, [t], dims, min_side, max_side)
    # draw a valid shape entry by entry, remembering which axes came from which entry
    axes: list[tuple[int | None, int]] = []  # (entry index or None for variadic, size)
    for i, e in enumerate(t.entries):
        sub = _Template((e,), None, None, None, "")
        part = _draw_shape(draw, sub, bound, min_side, max_side)
        is_var = isinstance(e, (RunDim, AnyRunDim))
        axes.extend((None if is_var else i, s) for s in part)
    kind = draw(st.sampled_from(options))
    sizes = [s for _, s in axes]
    if kind == "insert":
        pos = draw(st.integers(0, len(sizes)))
        sizes.insert(pos, draw(st.integers(min_side, max_side)))
    elif kind == "delete":
        candidates = [k for k, (i, _) in enumerate(axes) if i is not None]
        del sizes[draw(st.sampled_from(candidates))]
    elif kind == "resize":
        pinned = set(_constrained_axes(t, dims))
        candidates = [k for k, (i, _) in enumerate(axes) if i in pinned]
        k = draw(st.sampled_from(candidates))
        entry = t.entries[axes[k][0]]  # type: ignore[index]
        old = sizes[k]
        new = draw(st.integers(max(min_side, 0), max(max_side, old + 1)))
        broadcastable = not isinstance(entry, (AnonDim, AnyRunDim, RunDim)) and entry.broadcastable
        if new == old or (broadcastable and new == 1):
            new = old + 1
        sizes[k] = new
    else:  # "variadic": change the bound variadic dims
        e = t.entries[t.variadic]  # type: ignore[index]
        assert isinstance(e, RunDim)
        old_v = tuple(bound[e.name])
        new_v = tuple(draw(st.lists(st.integers(min_side, max_side), max_size=3)))
        assume(new_v != old_v)
        start = next(k for k, (i, _) in enumerate(axes) if i is None) if old_v else None
        if start is None:
            v = t.variadic or 0
            start = sum(1 for i, _ in axes if i is not None and i < v)
        sizes[start : start + len(old_v)] = list(new_v)
    shape = tuple(sizes)
    assume(not _accepts(t, shape, dims))
    return shape


def wrong_shapes(
    annotation: Any,
    *,
    dims: Mapping[str, int | Sequence[int]] | None = None,
    min_side: int = 1,
    max_side: int = 8,
) -> st.SearchStrategy[Shape]:
    """Strategy for shapes that ``annotation`` must reject, given the bindings ``dims``.

    Mutates a valid shape: an axis too many or too few, a fixed size changed, or the size
    of a dim that is pinned (by ``dims``, or by appearing twice) changed. Without ``dims``
    a plain name like ``batch`` can take any size, so only rank and fixed sizes go wrong.
    Every drawn shape is verified to be rejected. Use it to test that your checks fire.

    Examples:
        >>> from hypothesis import given
        >>> from jaxtyping import Float
        >>> from torch import Tensor
        >>> import shapesafe
        >>> Q = Float[Tensor, "batch act"]
        >>> @given(wrong_shapes(Q, dims={"act": 3}))
        ... def test_rejects(shape):
        ...     try:
        ...         shapesafe.check_shape(torch.zeros(shape), Q, dims={"act": 3})
        ...     except shapesafe.ShapeError:
        ...         return
        ...     raise AssertionError(shape)
        >>> test_rejects()
    """
    t = _template(annotation, "wrong_shapes")
    fixed: dict[str, Any] = {}
    for name, value in (dims or {}).items():
        if isinstance(value, st.SearchStrategy):
            raise AnnotationError(
                f"wrong_shapes(): dims[{name!r}] must be a concrete size (an int, or a "
                "tuple for *name), not a strategy: a shape is only wrong for known sizes"
            )
        fixed[name] = value if isinstance(value, int) else tuple(int(v) for v in value)
    options: list[str] = []
    if t.variadic is None:
        options.append("insert")
    if any(not isinstance(e, (RunDim, AnyRunDim)) for e in t.entries):
        options.append("delete")
    if _constrained_axes(t, fixed):
        options.append("resize")
    v = t.variadic
    run = t.entries[v] if v is not None else None
    if isinstance(run, RunDim) and run.name in fixed:
        options.append("variadic")
    if not options:
        raise AnnotationError(
            f"wrong_shapes(): every shape satisfies {t.text!r}"
            + (f" with dims={dict(fixed)}" if fixed else "")
            + "; pin some dims with dims= to get shapes that must be rejected"
        )
    return _wrong_shapes(t, fixed, tuple(options), min_side, max_side)


def wrong_dtypes(annotation: Any) -> st.SearchStrategy[torch.dtype]:
    """Strategy for torch dtypes that ``annotation`` must reject.

    Examples:
        >>> from hypothesis import given
        >>> from jaxtyping import Float
        >>> from torch import Tensor
        >>> @given(wrong_dtypes(Float[Tensor, "b"]))
        ... def test_not_float(dtype):
        ...     assert not dtype.is_floating_point
        >>> test_not_float()
    """
    t = _template(annotation, "wrong_dtypes")
    if t.dtypes is None:
        raise AnnotationError(f"wrong_dtypes(): {annotation!r} accepts every dtype")
    accepted = set(t.dtypes)
    wrong = [dt for dt in _PREFERRED if _dtype_name(dt) not in accepted]
    if not wrong:  # pragma: no cover - an annotation listing every torch dtype
        raise AnnotationError(f"wrong_dtypes(): {annotation!r} accepts every torch dtype")
    return st.sampled_from(wrong)
