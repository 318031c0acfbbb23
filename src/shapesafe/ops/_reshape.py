"""``reshape`` (a pattern, or sizes plus ``keep=``) and ``flatten``: reshapes that can
never mix the batch axis into the feature axes.

Under torch.compile the size arithmetic below runs on symbolic sizes: ``%`` and ``==``
on them become guards, so a later batch whose sizes break a divisibility the trace
relied on recompiles, and the recompilation's trace-time check raises our error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import torch

from shapesafe._compile import is_compiling, trace_time_check
from shapesafe._config import STATE
from shapesafe._format import error, fmt_shape, fmt_value, plural
from shapesafe.errors import DtypeError, ShapeError, UsageError
from shapesafe.ops._common import A, array_kind, is_int
from shapesafe.ops._pattern import ELLIPSIS, Side, parse_pattern

# A size keyword or shape entry above this is no size any array can have (torch's sizes
# are int64); refusing it early keeps torch's overflow errors out of the user's way.
_MAX_SIZE = 2**62


def _prod(sizes: Any) -> Any:
    # math.prod, written out: dynamo cannot trace math.prod over symbolic sizes
    out = 1
    for s in sizes:
        out = out * s
    return out


def _check_sizes(pattern: str, sizes: Mapping[str, object]) -> dict[str, int]:
    """The size keywords of a pattern reshape: plain non-negative ints only."""
    if all(type(v) is int and 0 <= v <= _MAX_SIZE for v in sizes.values()):
        return cast(dict[str, int], sizes)  # the common case: plain ints (a fresh **kwargs dict)
    for name, value in sizes.items():
        if not is_int(value):
            raise error(
                DtypeError,
                f"size keyword {name}= must be an int",
                function="reshape",
                argument=name,
                expected="an int >= 0",
                got=fmt_value(value),
                hint=f"pass the size of axis {name!r} in pattern {pattern!r}, e.g. {name}=4",
            )
        if not 0 <= int(value) <= _MAX_SIZE:  # type: ignore[call-overload]
            raise error(
                UsageError,
                f"size keyword {name}= must be a size",
                function="reshape",
                argument=name,
                expected="an int >= 0",
                got=str(value),
            )
    return {name: int(value) for name, value in sizes.items()}  # type: ignore[call-overload]


def _bind_left(
    pattern: str, left: Side, shape: tuple[Any, ...], sizes: dict[str, int]
) -> tuple[dict[str, Any], tuple[Any, ...]]:
    fn = "reshape"
    n_fixed = sum(1 for g, _ in left if g != (ELLIPSIS,))
    has_ellipsis = any(g == (ELLIPSIS,) for g, _ in left)
    if (has_ellipsis and len(shape) < n_fixed) or (not has_ellipsis and len(shape) != n_fixed):
        want = f"at least {n_fixed}" if has_ellipsis else str(n_fixed)
        raise error(
            ShapeError,
            f"pattern {pattern!r} needs {want} axes",
            function=fn,
            argument="x",
            expected=f"{want} axes",
            got=fmt_shape(shape),
        )
    unknown = sorted(set(sizes) - {n for g, _ in left for n in g})
    if unknown:
        raise error(
            UsageError,
            f"size keyword {unknown[0]}= is not an axis of pattern {pattern!r}",
            function=fn,
            argument=unknown[0],
            expected="an axis name of the left side",
            got=", ".join(unknown),
        )
    bound: dict[str, Any] = {}
    ell: tuple[Any, ...] = ()
    axis = 0
    for g, _ in left:
        if g == (ELLIPSIS,):
            n_ell = len(shape) - n_fixed
            ell = shape[axis : axis + n_ell]
            axis += n_ell
            continue
        size = shape[axis]
        known = [n for n in g if n in sizes]
        missing = [n for n in g if n not in sizes]
        prod = _prod([sizes[n] for n in known])
        if len(missing) > 1:
            raise error(
                UsageError,
                f"pattern {pattern!r}: cannot infer {' and '.join(missing)} from one axis",
                function=fn,
                argument="x",
                axis=axis,
                expected=f"all but one of {', '.join(missing)} as size keywords",
                got=f"size {size}",
                hint=f"pass all but one of them, e.g. {missing[0]}=...",
            )
        if missing:
            if prod <= 0 or size % prod != 0:  # under compile: a guard
                raise error(
                    ShapeError,
                    f"pattern {pattern!r}: axis {axis} ({' '.join(g)}) must be divisible by "
                    + " * ".join(f"{n}={sizes[n]}" for n in known),
                    function=fn,
                    argument="x",
                    axis=axis,
                    expected=f"a multiple of {prod}",
                    got=f"size {size} (shape {fmt_shape(shape)})",
                )
            bound[missing[0]] = size // prod
        elif prod != size:
            raise error(
                ShapeError,
                f"pattern {pattern!r}: axis {axis} ({' '.join(g)}) must have size "
                + " * ".join(f"{n}={sizes[n]}" for n in known),
                function=fn,
                argument="x",
                axis=axis,
                expected=f"size {prod}",
                got=f"size {size} (shape {fmt_shape(shape)})",
            )
        for n in known:
            bound[n] = sizes[n]
        axis += 1
    return bound, ell


def _pattern_target(x: Any, pattern: str, sizes: Mapping[str, object]) -> tuple[Any, ...]:
    # dynamo warns about (and traces through) lru_cache wrappers: call the function itself
    parse = parse_pattern.__wrapped__ if is_compiling() else parse_pattern
    left, right = parse(pattern)
    shape = tuple(x.shape)
    bound, ell = _bind_left(pattern, left, shape, _check_sizes(pattern, sizes))
    out: list[Any] = []
    for g, grouped in right:
        if g == (ELLIPSIS,) and not grouped:
            out.extend(ell)
            continue
        out.append(_prod(_prod(ell) if n == ELLIPSIS else bound[n] for n in g))
    return tuple(out)


def _keep_target(x: Any, shape: tuple[object, ...], keep: object) -> tuple[Any, ...]:
    fn = "reshape"
    xshape = tuple(x.shape)
    if not is_int(keep):
        raise error(
            DtypeError,
            "must be an int",
            function=fn,
            argument="keep",
            expected="an int",
            got=fmt_value(keep),
        )
    k = int(keep)  # type: ignore[call-overload]
    if not 0 <= k <= len(xshape):
        raise error(
            ShapeError,
            f"keeps {k} leading axes but `x` has shape {fmt_shape(xshape)}",
            function=fn,
            argument="keep",
            expected=f"an int in 0..{len(xshape)}",
            got=str(k),
        )
    target: list[int] = []
    for s in shape:
        if not is_int(s):
            raise error(
                DtypeError,
                "entries must be ints",
                function=fn,
                argument="shape",
                expected="ints >= -1",
                got=fmt_value(s),
            )
        if not -1 <= int(s) <= _MAX_SIZE:  # type: ignore[call-overload]
            raise error(
                UsageError,
                "entries must be sizes (or one -1)",
                function=fn,
                argument="shape",
                expected="ints >= -1",
                got=str(s),
            )
        target.append(int(s))  # type: ignore[call-overload]
    if target.count(-1) > 1:
        raise error(
            UsageError,
            "has more than one -1",
            function=fn,
            argument="shape",
            expected="at most one -1",
            got=str(tuple(target)),
        )
    lead, rest = xshape[:k], xshape[k:]
    n = _prod(rest)
    known = _prod(t for t in target if t != -1)
    ok = (known > 0 and n % known == 0) if -1 in target else known == n  # a guard
    if not ok:
        hint = f"keep={k} preserves {fmt_shape(lead)}; the rest {fmt_shape(rest)} has {n} elements"
        total = _prod(xshape)
        if known and total % known == 0 and -1 not in target and k:
            hint += (
                f"; x.reshape(-1, {', '.join(map(str, target))}) would have silently "
                "mixed items across the kept axes"
            )
        raise error(
            ShapeError,
            f"cannot reshape axes {k}.. of `x` into {tuple(target)}: "
            f"{plural(n, 'element')} per item, {known} in the target",
            function=fn,
            argument="x",
            expected=f"{known} elements per item" if -1 not in target else f"a multiple of {known}",
            got=f"shape {fmt_shape(xshape)}",
            hint=hint,
        )
    if -1 in target:
        return (*lead, *[n // known if t == -1 else t for t in target])
    return (*lead, *target)


def _reshape_to(x: A, shape: tuple[Any, ...]) -> A:
    if isinstance(x, torch.Tensor):
        return x.reshape(shape)
    return np.reshape(x, shape)


def _reshape_target(
    x: Any, shape: tuple[object, ...], keep: object, sizes: Mapping[str, object]
) -> tuple[Any, ...]:
    array_kind("reshape", "x", x)
    if len(shape) == 1 and isinstance(shape[0], str):
        if keep is not None:
            raise error(
                UsageError,
                "is not used with a pattern",
                function="reshape",
                argument="keep",
                expected="no keep=",
                got=f"keep={keep!r}",
            )
        return _pattern_target(x, shape[0], sizes)
    if sizes:
        raise error(
            UsageError,
            f"size keywords ({', '.join(sizes)}) only go with a pattern string",
            function="reshape",
            argument=next(iter(sizes)),
            hint="e.g. reshape(x, 'b (h w) -> b h w', h=84)",
        )
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if keep is None:
        raise error(
            UsageError,
            "is required with explicit sizes",
            function="reshape",
            argument="keep",
            expected="keep=<number of leading axes to preserve>",
            got="None",
            hint="usually keep=1 for the batch axis; or pass a pattern such as "
            "'batch h w -> batch (h w)'",
        )
    return _keep_target(x, shape, keep)


def reshape(x: A, *shape: int | str, keep: int | None = None, **sizes: int) -> A:
    """Reshape without ever mixing the batch axis into the feature axes.

    Two small forms:

    * a pattern in the spirit of einops, naming every axis, where axes may be grouped
      (merged) or split but never reordered::

          reshape(x, "batch h w -> batch (h w)")
          reshape(x, "batch (h w) -> batch h w", h=84)
          reshape(x, "batch ... -> batch (...)")

    * ``reshape(x, *shape, keep=k)``: keep the first ``k`` axes as they are and reshape
      only the rest to ``shape`` (one ``-1`` allowed). ``x.reshape(-1, 84, 84)`` would
      happily split a wrong-sized batch across items; this refuses.

    Size keywords must be plain ints (``h=True``, ``h=2.0`` or ``h="2"`` raise).

    Examples:
        >>> import torch
        >>> reshape(torch.zeros(32, 84, 84), "batch h w -> batch (h w)").shape
        torch.Size([32, 7056])
        >>> reshape(torch.zeros(32, 7056), 84, 84, keep=1).shape
        torch.Size([32, 84, 84])
    """
    if not STATE.enabled:
        if len(shape) == 1 and isinstance(shape[0], str):
            target = _pattern_target(x, shape[0], sizes)
        else:
            dims: tuple[Any, ...] = shape
            if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
                dims = tuple(shape[0])
            target = (*tuple(x.shape)[: keep or 0], *dims)
        return _reshape_to(x, target)
    if is_compiling():
        trace_time_check(_reshape_target, 4, False, x, shape, keep, sizes)
    return _reshape_to(x, _reshape_target(x, shape, keep, sizes))


def flatten(x: A, keep: int = 1) -> A:
    """Flatten all axes after the first ``keep`` into one (``nn.Flatten``'s default).

    Raises when ``x`` has no axes left to flatten (e.g. an already flat ``(batch,)``
    vector), instead of inventing a size-1 feature axis.

    Examples:
        >>> import torch
        >>> flatten(torch.zeros(32, 4, 84, 84)).shape
        torch.Size([32, 28224])
    """
    if STATE.enabled:
        if is_compiling():
            trace_time_check(_check_flatten, 2, False, x, keep)
        _check_flatten(x, keep)
    xshape: tuple[Any, ...] = tuple(x.shape)
    return _reshape_to(x, (*xshape[:keep], _prod(xshape[keep:])))


def _check_flatten(x: Any, keep: object) -> None:
    fn = "flatten"
    array_kind(fn, "x", x)
    if not is_int(keep):
        raise error(
            DtypeError, "must be an int", function=fn, argument="keep", expected="an int >= 0",
            got=fmt_value(keep),
        )  # fmt: skip
    if int(keep) < 0:  # type: ignore[call-overload]
        raise error(
            UsageError, "must be >= 0", function=fn, argument="keep", expected="an int >= 0",
            got=str(keep),
        )  # fmt: skip
    k = int(keep)  # type: ignore[call-overload]
    if x.ndim <= k:
        raise error(
            ShapeError,
            f"no axes left to flatten after keeping {plural(k, 'leading axis', 'leading axes')}",
            function=fn,
            argument="x",
            expected=f"more than {plural(k, 'axis')}",
            got=f"shape {fmt_shape(x.shape)}",
            hint="`x` may already be flat; use unsqueeze(x, -1) if you need a "
            "trailing feature axis of size 1",
        )
