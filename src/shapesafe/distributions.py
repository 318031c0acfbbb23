"""Checked distributions: batch, event and sample shapes that cannot silently broadcast.

Every class here *is* a :class:`torch.distributions.Distribution` (a subclass of the
matching torch class), so ``kl_divergence``, ``rsample``, ``entropy``, ``expand`` and any
code written for ``torch.distributions`` keep working. What changes while checks are on
(see :func:`shapesafe.disable`):

* ``log_prob(value)`` (and ``cdf``/``icdf`` where they exist) takes a ``value`` of shape
  exactly ``sample_shape + batch_shape + event_shape``: sample axes only in front, no
  broadcasting. A value of shape ``(B, 1)`` scored by a distribution with batch ``(B,)``
  raises a :class:`~shapesafe.ShapeError` instead of returning a ``(B, B)`` table. The
  result, of shape ``sample_shape + batch_shape``, is checked too.
* ``sample(sample_shape)`` / ``rsample`` results are checked to be
  ``sample_shape + batch_shape + event_shape``.
* Constructors require parameter shapes to agree (scalars excepted); pass
  ``broadcast=True`` to get torch's broadcasting on purpose. Parameter *values* (positive
  scales, positive-definite covariances, probabilities) are checked whenever torch would
  check them (``validate_args``, on by default), with messages that say what is wrong
  where and how to fix it.
* ``describe()`` prints the three shapes; ``repr`` shows batch and event shapes.
* ``kl_divergence(p, q)`` between two instances of one class needs equal event shapes
  and equal batch shapes (or one of them ``()``, e.g. a fixed prior), where torch would
  broadcast ``(B,)`` against ``(B, 1)`` into a ``(B, B)`` table.

With checks off, every method is the torch method itself behind one flag read.

Annotations: ``DiagNormal["batch", "act"]`` (or the mypy-friendly
``Dist[DiagNormal, "batch", "act"]``) declares a distribution's batch and event dims for
:func:`shapesafe.check`.
"""

from __future__ import annotations

import functools
import math
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor
from torch.distributions import Bernoulli as _TorchBernoulli
from torch.distributions import Categorical as _TorchCategorical
from torch.distributions import (
    Distribution,
    Independent,
    MixtureSameFamily,
    TransformedDistribution,
)
from torch.distributions import MultivariateNormal as _TorchMultivariateNormal
from torch.distributions import Normal as _TorchNormal
from torch.distributions.transforms import TanhTransform
from torch.types import _size

from shapesafe._config import STATE
from shapesafe.errors import AnnotationError, DtypeError, ShapeError

__all__ = [
    "Bernoulli",
    "Categorical",
    "DiagNormal",
    "Dist",
    "DistSpec",
    "GaussianMixture",
    "MultivariateNormal",
    "Normal",
    "TanhNormal",
]

_EMPTY = torch.Size()
_Number = (int, float)


def _broadcast_shapes(*shapes: typing.Sequence[int]) -> tuple[int, ...]:
    """``torch.broadcast_shapes`` in plain Python (so that it also runs, and raises the
    same RuntimeError, while torch.compile traces an error path)."""
    ndim = max([0, *(len(s) for s in shapes)])
    out = [1] * ndim
    for s in shapes:
        for i, size in enumerate(s, start=ndim - len(s)):
            if size != 1:
                if out[i] not in (1, size):
                    raise RuntimeError(f"shapes {shapes} cannot be broadcast together")
                out[i] = int(size)
    return tuple(out)


# --------------------------------------------------------------------------------------
# formatting helpers


def _fmt(shape: typing.Sequence[int]) -> str:
    """``(64, 6)``, ``(5,)``, ``()``."""
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _fmt_sample(shape: typing.Sequence[int]) -> str:
    """``(*sample_shape, 64, 6)``."""
    return "(" + ", ".join(["*sample_shape", *(str(int(s)) for s in shape)]) + ")"


def _fmt_index(name: str, idx: typing.Sequence[int]) -> str:
    return f"{name}[{', '.join(str(int(i)) for i in idx)}]" if len(idx) else name


def _ends_with(shape: tuple[int, ...], suffix: tuple[int, ...]) -> bool:
    return len(shape) >= len(suffix) and shape[len(shape) - len(suffix) :] == suffix


def _resolve_validate(validate_args: bool | None) -> bool:
    """torch's rule: an explicit flag wins, else the process-wide default."""
    if validate_args is None:
        return bool(Distribution._validate_args)
    return bool(validate_args)


def _first_bad(bad: Tensor) -> tuple[int, ...]:
    return tuple(int(i) for i in bad.nonzero()[0].tolist())


# --------------------------------------------------------------------------------------
# constructor checks (only run while checks are enabled)


def _float_param(fn: str, name: str, x: Any, *, allow_number: bool) -> Tensor | float:
    if isinstance(x, Tensor):
        if not x.is_floating_point():
            raise DtypeError(
                f"{fn}: argument `{name}` has dtype {x.dtype}; expected a floating-point tensor\n"
                f"  hint: convert it with {name}.float()",
                function=fn.rstrip("()"),
                argument=name,
                expected="a floating-point tensor",
                got=str(x.dtype),
            )
        return x
    if allow_number and isinstance(x, _Number) and not isinstance(x, bool):
        return x
    what = "a torch.Tensor or a Python number" if allow_number else "a torch.Tensor"
    raise DtypeError(
        f"{fn}: argument `{name}` must be {what}, got {type(x).__name__}\n"
        f"  hint: torch.as_tensor({name}, dtype=torch.float32)",
        function=fn.rstrip("()"),
        argument=name,
        expected=what,
        got=type(x).__name__,
    )


def _shape_of(x: Tensor | float) -> tuple[int, ...]:
    return tuple(x.shape) if isinstance(x, Tensor) else ()


def _mismatch(
    fn: str,
    ref_name: str,
    ref: tuple[int, ...],
    name: str,
    got: tuple[int, ...],
    *,
    what: str = "shape",
    fix_ref: str | None = None,
    suffix: tuple[int, ...] = (),
    ref_suffix: tuple[int, ...] = (),
) -> ShapeError:
    """Two parameters whose (batch) shapes differ while broadcast=False."""
    try:
        joint: tuple[int, ...] | None = tuple(_broadcast_shapes(ref, got))
    except RuntimeError:
        joint = None
    fix_ref = fix_ref or ref_name
    if joint is None:
        hint = (
            f"these shapes cannot be broadcast together either; check which tensor "
            f"`{name}` was computed from"
        )
    elif joint == ref:
        if _ends_with(ref, got) and len(got) < len(ref):
            hint = (
                f"one `{name}` shared across the leading axes? pass broadcast=True "
                f"(or {name}.expand({', '.join(map(str, ref + suffix))}) yourself)"
            )
        else:
            hint = (
                f"`{name}` would be broadcast to {_fmt(ref)}; if that is intended pass "
                f"broadcast=True (or {name}.expand({', '.join(map(str, ref + suffix))}))"
            )
    elif joint == got:
        hint = (
            f"`{fix_ref}` would be broadcast to {_fmt(got)}; if that is intended pass "
            f"broadcast=True (or {fix_ref}.expand({', '.join(map(str, got + ref_suffix))}))"
        )
    else:
        hint = (
            f"together they would broadcast to {_fmt(joint)}, larger than either, which is "
            f"almost never intended: look for a stray axis of size 1 (e.g. .squeeze(-1))"
        )
    return ShapeError(
        f"{fn}: argument `{name}` has {what} {_fmt(got)} but `{ref_name}` has {what} "
        f"{_fmt(ref)}; they must be equal (shapesafe does not broadcast parameters unless "
        f"asked)\n  hint: {hint}",
        function=fn.rstrip("()"),
        argument=name,
        expected=_fmt(ref),
        got=_fmt(got),
    )


def _broadcast_or_raise(fn: str, named: list[tuple[str, tuple[int, ...]]]) -> tuple[int, ...]:
    try:
        return tuple(_broadcast_shapes(*(s for _, s in named)))
    except RuntimeError:
        listing = ", ".join(f"`{n}` {_fmt(s)}" for n, s in named)
        raise ShapeError(
            f"{fn}: cannot broadcast {listing} together (broadcast=True was given)\n"
            f"  hint: sizes must be equal or 1 in each axis, aligned from the right",
            function=fn.rstrip("()"),
            argument=named[-1][0],
        ) from None


def _agree(fn: str, params: list[tuple[str, Tensor | float]], broadcast: bool) -> tuple[int, ...]:
    """Elementwise parameters (loc, scale, ...): one shape, scalars excepted."""
    shaped = [(n, _shape_of(p)) for n, p in params if isinstance(p, Tensor) and p.dim() > 0]
    if not shaped:
        return ()
    if broadcast:
        return _broadcast_or_raise(fn, shaped)
    ref_name, ref = shaped[0]
    for name, shape in shaped[1:]:
        if shape != ref:
            raise _mismatch(fn, ref_name, ref, name, shape)
    return ref


_NAN_HINT = (
    "NaN usually comes from upstream: check the network output and the loss for NaN/inf "
    "(torch.autograd.set_detect_anomaly(True) shows where it starts)"
)


def _check_not_nan(fn: str, name: str, x: Tensor) -> None:
    """torch's ``constraints.real``: no NaN (inf is allowed)."""
    # fast path: a sum without NaN proves there is none (one reduction, one sync)
    if x.numel() == 0 or not math.isnan(x.detach().sum().item()):
        return
    nan = torch.isnan(x)
    if not bool(nan.any()):
        return  # the sum was inf - inf
    raise ValueError(
        f"{fn}: argument `{name}` contains NaN: {int(nan.sum())} of {x.numel()} entries, "
        f"first at {_fmt_index(name, _first_bad(nan))}\n  hint: {_NAN_HINT}"
    )


def _check_positive(fn: str, name: str, x: Tensor, what: str) -> None:
    """torch's ``constraints.positive``: ``x > 0`` (NaN fails)."""
    # fast path: min() is NaN if any entry is, and NaN > 0 is False
    if x.numel() == 0 or x.detach().min().item() > 0:
        return
    bad = ~(x > 0)
    nan = torch.isnan(x)
    if bool(nan.any()):
        raise ValueError(
            f"{fn}: argument `{name}` ({what}) contains NaN: {int(nan.sum())} of {x.numel()} "
            f"entries, first at {_fmt_index(name, _first_bad(nan))}\n  hint: {_NAN_HINT}"
        )
    idx = _first_bad(bad)
    raise ValueError(
        f"{fn}: argument `{name}` ({what}) must be positive, but {int(bad.sum())} of "
        f"{x.numel()} entries are <= 0 (first: {_fmt_index(name, idx)} = "
        f"{float(x[idx]) if idx else float(x):.4g})\n"
        f"  hint: keep it positive by construction, e.g. {name}=log_std.exp() or "
        f"{name}=F.softplus(raw) + 1e-5"
    )


# --------------------------------------------------------------------------------------
# log_prob / sample checks


def _value_hint(
    dist: _Checked, shape: tuple[int, ...], batch: tuple[int, ...], event: tuple[int, ...]
) -> str | None:
    name = type(dist).__name__
    be = batch + event
    n = len(be)
    extra = dist._shape_hint(shape)
    if extra is not None:
        return extra
    if shape and shape[-1] == 1 and _ends_with(shape[:-1], be):
        if not event:
            return (
                "`value` has a trailing axis of size 1: actions of shape (B, 1) for a "
                "scalar-event distribution? Use value.squeeze(-1)."
            )
        return "`value` has an extra trailing axis of size 1; use value.squeeze(-1)."
    if len(shape) >= n >= 2 and sorted(shape[-n:]) == sorted(be):
        return (
            "the trailing axes of `value` have the right sizes in a different order: "
            "transposed? (value.mT, value.permute(...))"
        )
    if event and batch and _ends_with(shape, batch):
        if event == (1,):
            return "`value` lacks the event axis of size 1; use value.unsqueeze(-1)."
        return (
            f"`value` lacks the event axes {_fmt(event)}: a {name} scores whole vectors of "
            f"shape {_fmt(event)}, one per batch element. For independent per-coordinate "
            f"log-probs use shapesafe.distributions.Normal instead."
        )
    if batch and shape == event:
        return (
            f"`value` has only the event shape {_fmt(event)}: to score the same value under "
            f"every distribution in the batch, use value.expand({', '.join(map(str, be))})."
        )
    for i in range(max(0, len(shape) - n), len(shape)):
        rest = shape[:i] + shape[i + 1 :]
        if len(rest) >= n and _ends_with(rest, be):
            return (
                f"axis {i} of `value` looks like a sample axis, but sample axes must come "
                f"first: value.movedim({i}, 0)."
            )
    if len(shape) >= n:
        vb = shape[len(shape) - n : len(shape) - len(event)]
        ve = shape[len(shape) - len(event) :]
        if ve == event and vb != batch:
            return (
                f"the batch sizes differ: the distribution has batch_shape {_fmt(batch)}, "
                f"`value` has {_fmt(vb)} there. Were the parameters and the value taken from "
                f"different minibatches (e.g. a smaller last minibatch)?"
            )
        if vb == batch and ve != event:
            return (
                f"the event sizes differ: one draw of this {name} has shape {_fmt(event)}, "
                f"`value` ends in {_fmt(ve)}; check the action dimension "
                f"(env.action_space.shape)."
            )
    return None


def _value_error(dist: _Checked, value: Tensor, method: str) -> ShapeError:
    name = type(dist).__name__
    fn = f"{name}.{method}"
    shape = tuple(value.shape)
    batch = tuple(dist.batch_shape)
    event = tuple(dist.event_shape)
    be = batch + event
    n = len(be)
    axis: int | None = None
    if len(shape) < n:
        head = (
            f"{fn}(): argument `value` has {len(shape)} {'axis' if len(shape) == 1 else 'axes'} "
            f"{_fmt(shape)}, but this {name} "
            f"needs at least {n} (batch_shape + event_shape)"
        )
    else:
        i = next(i for i in range(1, n + 1) if shape[-i] != be[-i])
        axis = len(shape) - i
        role = f"event axis {len(event) - i}" if i <= len(event) else f"batch axis {n - i}"
        head = (
            f"{fn}(): argument `value` axis {axis} ({role}): expected size {be[-i]}, "
            f"got {shape[-i]}"
        )
    lines = [
        head,
        f"  expected shape {_fmt_sample(be)} = sample_shape + batch_shape {_fmt(batch)}"
        f" + event_shape {_fmt(event)}",
        f"  got shape {_fmt(shape)}",
    ]
    try:
        joint = tuple(_broadcast_shapes(shape, be))
    except RuntimeError:
        joint = None
    if joint is not None and method == "log_prob":
        lines.append(
            f"  (plain torch.distributions would not raise: it would broadcast and return a "
            f"log_prob of shape {_fmt(joint[: len(joint) - len(event)])})"
        )
    hint = _value_hint(dist, shape, batch, event)
    if hint:
        lines.append(f"  hint: {hint}")
    return ShapeError(
        "\n".join(lines),
        function=fn,
        argument="value",
        axis=axis,
        expected=_fmt_sample(be),
        got=_fmt(shape),
    )


def _not_a_tensor(dist: Distribution, value: Any, method: str) -> DtypeError:
    fn = f"{type(dist).__name__}.{method}"
    return DtypeError(
        f"{fn}(): argument `value` must be a torch.Tensor, got {type(value).__name__}\n"
        f"  hint: torch.as_tensor(value)",
        function=fn,
        argument="value",
        expected="torch.Tensor",
        got=type(value).__name__,
    )


def _result_error(
    dist: Distribution, method: str, got: Any, expected: Any, what: str
) -> ShapeError:
    fn = f"{type(dist).__name__}.{method}"
    return ShapeError(
        f"{fn}(): return value has shape {_fmt(got)}, expected {_fmt(expected)} ({what})\n"
        f"  hint: this is a bug in the distribution class, not in your code; please report it",
        function=fn,
        argument="return value",
        expected=_fmt(expected),
        got=_fmt(got),
    )


class _Checked(Distribution):
    """Mixin placed before the torch class: checked log_prob/sample/rsample, describe()."""

    _be: torch.Size  # batch_shape + event_shape
    _nbe: int
    _nev: int
    # event rank fixed by the class (0 for Normal/Categorical/Bernoulli, 1 for DiagNormal)
    _event_rank: ClassVar[int | None] = None

    def _finish(self) -> None:
        self._be = torch.Size(self._batch_shape) + torch.Size(self._event_shape)
        self._nbe = len(self._be)
        self._nev = len(self._event_shape)

    # -- value checks ----------------------------------------------------------------
    def _shape_hint(self, shape: tuple[int, ...]) -> str | None:
        return None

    def _check_dtype(self, value: Tensor, method: str) -> None:
        return None

    def _check_value(self, value: Any, method: str) -> None:
        if not isinstance(value, Tensor):
            raise _not_a_tensor(self, value, method)
        shape = value.shape
        k = len(shape) - self._nbe
        if k < 0 or shape[k:] != self._be:
            raise _value_error(self, value, method)
        self._check_dtype(value, method)

    def _checked_call(self, method: str, impl: Any, value: Any) -> Tensor:
        self._check_value(value, method)
        out: Tensor = impl(value)
        expected = value.shape[: len(value.shape) - self._nev]
        if out.shape != expected:
            raise _result_error(self, method, out.shape, expected, "sample_shape + batch_shape")
        return out

    def log_prob(self, value: Tensor) -> Tensor:
        """Log-density of ``value``, shape ``sample_shape + batch_shape + event_shape``
        exactly; returns ``sample_shape + batch_shape``. Raises :class:`ShapeError` on
        anything that would broadcast."""
        if not STATE.enabled:
            return super().log_prob(value)
        return self._checked_call("log_prob", super().log_prob, value)

    def _validate_sample(self, value: Tensor) -> None:
        # torch calls this from log_prob when validate_args is on; the shape part is
        # already done (exactly), so only the support check is left, with a clearer message.
        if not STATE.enabled:
            super()._validate_sample(value)
            return
        support = self.support
        assert support is not None
        valid: Tensor = support.check(value)  # type: ignore[no-untyped-call]
        if bool(valid.all()):
            return
        bad = ~valid
        idx = _first_bad(bad)
        fn = f"{type(self).__name__}.log_prob"
        first = value[idx] if idx else value
        shown = first.tolist() if isinstance(first, Tensor) else first
        raise ValueError(
            f"{fn}(): argument `value` has {int(bad.sum())} of {bad.numel()} entries outside "
            f"the support {support!r} of the distribution (first: "
            f"{_fmt_index('value', idx)} = {shown})\n  hint: {self._support_hint()}"
        )

    def _support_hint(self) -> str:
        return "check where these values come from (dataset, preprocessing, dtype)"

    # -- sample checks ---------------------------------------------------------------
    def _check_sample(self, out: Tensor, sample_shape: _size, method: str) -> Tensor:
        expected = self._extended_shape(sample_shape)
        if out.shape != expected:
            raise _result_error(
                self, method, out.shape, expected, "sample_shape + batch_shape + event_shape"
            )
        return out

    def sample(self, sample_shape: _size = _EMPTY) -> Tensor:
        """Draw ``sample_shape + batch_shape + event_shape`` values (no gradient)."""
        out = super().sample(sample_shape)
        if STATE.enabled:
            self._check_sample(out, sample_shape, "sample")
        return out

    def rsample(self, sample_shape: _size = _EMPTY) -> Tensor:
        """Reparameterized draw of ``sample_shape + batch_shape + event_shape`` values."""
        out = super().rsample(sample_shape)
        if STATE.enabled:
            self._check_sample(out, sample_shape, "rsample")
        return out

    # -- expand, describe, repr ------------------------------------------------------
    def expand(self, batch_shape: _size, _instance: Any = None) -> Any:
        """Same distribution with batch dims expanded to ``batch_shape`` (no copy)."""
        new = self.__new__(type(self)) if _instance is None else _instance
        super().expand(batch_shape, _instance=new)
        new._finish()
        return new

    def _param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {}

    def describe(self) -> str:
        """The batch, event and sample shapes of this distribution, in words.

        >>> import torch
        >>> from shapesafe.distributions import DiagNormal
        >>> print(DiagNormal(torch.zeros(3, 2), torch.ones(3, 2)).describe())
        DiagNormal: batch_shape (3,), event_shape (2,)
          parameters: loc (3, 2), scale (3, 2)
          sample(sample_shape) -> (*sample_shape, 3, 2)
          log_prob(value (*sample_shape, 3, 2)) -> (*sample_shape, 3)
        """
        batch = tuple(self.batch_shape)
        event = tuple(self.event_shape)
        params = ", ".join(f"{k} {_fmt(v)}" for k, v in self._param_shapes().items())
        lines = [f"{type(self).__name__}: batch_shape {_fmt(batch)}, event_shape {_fmt(event)}"]
        if params:
            lines.append(f"  parameters: {params}")
        lines.append(f"  sample(sample_shape) -> {_fmt_sample(batch + event)}")
        lines.append(f"  log_prob(value {_fmt_sample(batch + event)}) -> {_fmt_sample(batch)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(batch_shape={_fmt(self.batch_shape)}, "
            f"event_shape={_fmt(self.event_shape)})"
        )

    # -- annotations -----------------------------------------------------------------
    def __class_getitem__(cls, item: Any) -> Any:
        """``DiagNormal["batch", "act"]``: an annotation for :func:`shapesafe.check`."""
        return _annotation(cls, item if isinstance(item, tuple) else (item,))


# --------------------------------------------------------------------------------------
# annotations


@dataclass(frozen=True)
class DistSpec:
    """What ``DiagNormal["batch", "act"]`` carries: the class and the dims of its batch
    and event shapes, read by :func:`shapesafe.check` through ``__shapesafe_spec__``.

    >>> from shapesafe.distributions import DiagNormal, DistSpec
    >>> DistSpec(DiagNormal, "batch", "act").__shapesafe_spec__()[1]
    (('batch_shape', 'batch'), ('event_shape', 'act'))
    """

    cls: type
    batch: str
    event: str

    def __shapesafe_spec__(self) -> tuple[type, tuple[tuple[str, str], ...]]:
        return (self.cls, (("batch_shape", self.batch), ("event_shape", self.event)))

    def __repr__(self) -> str:
        return f"{self.cls.__name__}[{self.batch!r}, {self.event!r}]"


def _count_dims(dim_str: str) -> int | None:
    tokens = dim_str.split()
    if any(t.startswith(("*", "...", "#")) or t == "..." for t in tokens):
        return None
    return len(tokens)


def _annotation(cls: Any, items: tuple[Any, ...]) -> Any:
    if not (isinstance(cls, type) and issubclass(cls, Distribution)):
        raise AnnotationError(
            f"Dist[...]: the first item must be a torch.distributions.Distribution subclass, "
            f"got {cls!r}"
        )
    name = cls.__name__
    if not all(isinstance(s, str) for s in items) or not 1 <= len(items) <= 2:
        raise AnnotationError(
            f"{name}[...] takes one or two dim strings: {name}[batch_dims, event_dims], e.g. "
            f"{name}['batch', 'act']; got {items!r}"
        )
    rank = getattr(cls, "_event_rank", None)
    if len(items) == 1:
        if rank != 0:
            raise AnnotationError(
                f"{name}[{items[0]!r}]: give the event dims too, e.g. "
                f"{name}[{items[0]!r}, 'act'] (only scalar-event distributions such as "
                f"Normal, Categorical and Bernoulli may leave them out)"
            )
        items = (items[0], "")
    count = _count_dims(items[1])
    if rank is not None and count is not None and count != rank:
        raise AnnotationError(
            f"{name}[{items[0]!r}, {items[1]!r}]: a {name} has {rank} event dim(s), but "
            f"{items[1]!r} names {count}"
        )
    key: Any = cls
    return _cached_annotation(key, items[0], items[1])


@functools.cache
def _cached_annotation(cls: type, batch: str, event: str) -> Any:
    return typing.Annotated[cls, DistSpec(cls, batch, event)]


if TYPE_CHECKING:
    from typing import Annotated as Dist
else:

    class Dist:
        """``Dist[DiagNormal, "batch", "act"]``: the mypy-friendly spelling of
        ``DiagNormal["batch", "act"]``.

        Type checkers read it as ``Annotated[DiagNormal, "batch", "act"]``, i.e. plain
        ``DiagNormal``; at run time it is ``Annotated[DiagNormal, DistSpec(...)]``, which
        :func:`shapesafe.check` reads. Works for any ``torch.distributions`` class:
        ``Dist[torch.distributions.Normal, "batch", ""]``.
        """

        __slots__ = ()

        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            raise TypeError("Dist is used in annotations only: Dist[DiagNormal, 'batch', 'act']")

        def __class_getitem__(cls, item: Any) -> Any:
            if not isinstance(item, tuple) or len(item) < 2:
                raise AnnotationError(
                    "Dist[...] takes a distribution class and dim strings, e.g. "
                    f"Dist[DiagNormal, 'batch', 'act']; got Dist[{item!r}]"
                )
            return _annotation(item[0], tuple(item[1:]))


# --------------------------------------------------------------------------------------
# the distributions


def _check_loc_scale(fn: str, loc: Any, scale: Any, broadcast: bool, *, min_rank: int) -> None:
    """Dtypes and shapes of a (loc, scale) pair (checks enabled only)."""
    loc = _float_param(fn, "loc", loc, allow_number=True)
    scale = _float_param(fn, "scale", scale, allow_number=True)
    shape = _agree(fn, [("loc", loc), ("scale", scale)], broadcast)
    if len(shape) < min_rank:
        name = fn[:-2]
        raise ShapeError(
            f"{fn}: `loc` and `scale` have shape {_fmt(shape)}, but a {name} needs at least "
            f"one axis: the event axis, last\n"
            f"  hint: for a distribution over single numbers use "
            f"shapesafe.distributions.Normal; for vectors pass loc of shape (*batch, dim)",
            function=name,
            argument="loc",
            expected="(*batch, dim)",
            got=_fmt(shape),
        )


def _check_normal_values(fn: str, normal: _TorchNormal, validate: bool) -> None:
    """Values of a constructed torch Normal, as torch would check them; sets its flag."""
    if validate:
        _check_not_nan(fn, "loc", normal.loc)
        _check_positive(fn, "scale", normal.scale, "a standard deviation")
    normal._validate_args = validate


class Normal(_Checked, _TorchNormal):
    """A Gaussian over **scalars**: ``batch_shape == loc.shape``, ``event_shape == ()``.

    ``Normal(loc (B, A), scale (B, A)).log_prob(a)`` returns one log-density per
    *coordinate*, shape ``(B, A)``; for one per action vector use :class:`DiagNormal`.

    Args:
        loc: a tensor (or a Python number): the mean.
        scale: a tensor of ``loc``'s shape (or a Python number): the standard
            deviation, ``scale > 0``.
        validate_args: torch's flag: check parameter values (and ``log_prob`` support).
        broadcast: allow ``loc`` and ``scale`` to broadcast against each other.

    >>> import torch
    >>> from shapesafe.distributions import Normal
    >>> d = Normal(torch.zeros(4), torch.ones(4))
    >>> d.log_prob(torch.zeros(4)).shape
    torch.Size([4])
    >>> d.log_prob(torch.zeros(4, 1))  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    shapesafe.ShapeError: Normal.log_prob(): argument `value` axis 1 (batch axis 0) ...
    """

    _event_rank: ClassVar[int | None] = 0

    def __init__(
        self,
        loc: Tensor | float,
        scale: Tensor | float,
        validate_args: bool | None = None,
        *,
        broadcast: bool = False,
    ) -> None:
        if not STATE.enabled:
            super().__init__(loc, scale, validate_args=validate_args)
        else:
            _check_loc_scale("Normal()", loc, scale, broadcast, min_rank=0)
            super().__init__(loc, scale, validate_args=False)
            _check_normal_values("Normal()", self, _resolve_validate(validate_args))
        self._finish()

    def cdf(self, value: Tensor) -> Tensor:
        """Cumulative distribution function; ``value`` shaped like ``log_prob``'s."""
        if not STATE.enabled:
            out: Tensor = super().cdf(value)  # type: ignore[no-untyped-call]
            return out
        return self._checked_call("cdf", super().cdf, value)

    def icdf(self, value: Tensor) -> Tensor:
        """Inverse cdf of probabilities ``value`` (shaped like ``log_prob``'s)."""
        if not STATE.enabled:
            out: Tensor = super().icdf(value)  # type: ignore[no-untyped-call]
            return out
        return self._checked_call("icdf", super().icdf, value)

    def _param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"loc": tuple(self.loc.shape), "scale": tuple(self.scale.shape)}

    def _support_hint(self) -> str:
        return _NAN_HINT


_independent_log_prob: typing.Callable[[Any, Tensor], Tensor] = Independent.log_prob


class DiagNormal(_Checked, Independent[_TorchNormal]):
    """A Gaussian over **vectors** with a diagonal covariance, the common policy head.

    ``loc`` and ``scale`` have shape ``(*batch, dim)``: ``batch_shape == loc.shape[:-1]``,
    ``event_shape == (dim,)``, and ``log_prob(a)`` sums over the event axis, returning one
    number per action vector. It is ``Independent(Normal(loc, scale), 1)``, so
    ``kl_divergence`` between two ``DiagNormal`` works.

    Args:
        loc: a tensor of shape ``(*batch, dim)`` (or a Python number): the mean.
        scale: a tensor of shape ``(*batch, dim)`` (or a Python number): the standard
            deviations, ``scale > 0``.
        validate_args: torch's flag: check parameter values (and ``log_prob`` support).
        broadcast: allow ``loc`` and ``scale`` to broadcast, e.g. a state-independent
            ``scale`` of shape ``(dim,)`` with ``loc`` of shape ``(B, dim)``.

    >>> import torch
    >>> from shapesafe.distributions import DiagNormal
    >>> pi = DiagNormal(torch.zeros(64, 6), torch.ones(6), broadcast=True)
    >>> pi.batch_shape, pi.event_shape
    (torch.Size([64]), torch.Size([6]))
    >>> pi.log_prob(pi.sample()).shape
    torch.Size([64])
    """

    _event_rank: ClassVar[int | None] = 1

    def __init__(
        self,
        loc: Tensor | float,
        scale: Tensor | float,
        validate_args: bool | None = None,
        *,
        broadcast: bool = False,
    ) -> None:
        if not STATE.enabled:
            base = _TorchNormal(loc, scale, validate_args=validate_args)
            super().__init__(base, 1, validate_args=validate_args)
        else:
            _check_loc_scale("DiagNormal()", loc, scale, broadcast, min_rank=1)
            validate = _resolve_validate(validate_args)
            base = _TorchNormal(loc, scale, validate_args=False)
            _check_normal_values("DiagNormal()", base, validate)
            super().__init__(base, 1, validate_args=False)
            self._validate_args = validate
        self._finish()

    def log_prob(self, value: Tensor) -> Tensor:
        """Log-density of action vectors ``value`` of shape
        ``sample_shape + batch_shape + event_shape``, summed over the event axis: returns
        ``sample_shape + batch_shape``."""
        if not STATE.enabled:
            return _independent_log_prob(self, value)
        self._check_value(value, "log_prob")
        if self._validate_args:
            # Independent leaves validation to its base; do it here for a clear message
            self._validate_sample(value)
        out = _independent_log_prob(self, value)
        if out.shape != value.shape[: len(value.shape) - 1]:
            raise _result_error(
                self, "log_prob", out.shape, value.shape[:-1], "sample_shape + batch_shape"
            )
        return out

    @property
    def loc(self) -> Tensor:
        """Mean, shape ``batch_shape + event_shape``."""
        return self.base_dist.loc

    @property
    def scale(self) -> Tensor:
        """Standard deviation per coordinate, shape ``batch_shape + event_shape``."""
        return self.base_dist.scale

    @property
    def stddev(self) -> Tensor:
        return self.base_dist.stddev

    def _param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"loc": tuple(self.loc.shape), "scale": tuple(self.scale.shape)}

    def _support_hint(self) -> str:
        return _NAN_HINT


class TanhNormal(_Checked, TransformedDistribution):
    """A squashed Gaussian (SAC's policy): ``tanh`` of a :class:`DiagNormal` sample.

    ``batch_shape == loc.shape[:-1]``, ``event_shape == (dim,)``, values in ``(-1, 1)``.
    ``log_prob`` includes the log-det-Jacobian of ``tanh`` (torch's numerically stable
    ``2 * (log 2 - x - softplus(-2x))``), summed over the event axis. The transform caches
    its last input, so ``log_prob(a)`` of an ``a`` just drawn by ``rsample`` uses the
    pre-tanh value instead of ``atanh(a)`` (which loses precision near +-1).

    >>> import torch
    >>> from shapesafe.distributions import TanhNormal
    >>> pi = TanhNormal(torch.zeros(8, 2), torch.ones(8, 2))
    >>> a = pi.rsample()
    >>> pi.log_prob(a).shape, bool(a.abs().max() < 1)
    (torch.Size([8]), True)
    """

    _event_rank: ClassVar[int | None] = 1
    base_dist: Independent[_TorchNormal]

    def __init__(
        self,
        loc: Tensor | float,
        scale: Tensor | float,
        validate_args: bool | None = None,
        *,
        broadcast: bool = False,
    ) -> None:
        transform = TanhTransform(cache_size=1)
        if not STATE.enabled:
            normal = _TorchNormal(loc, scale, validate_args=validate_args)
            base = Independent(normal, 1, validate_args=validate_args)
            super().__init__(base, [transform], validate_args=validate_args)
        else:
            _check_loc_scale("TanhNormal()", loc, scale, broadcast, min_rank=1)
            validate = _resolve_validate(validate_args)
            normal = _TorchNormal(loc, scale, validate_args=False)
            _check_normal_values("TanhNormal()", normal, validate)
            base = Independent(normal, 1, validate_args=False)
            base._validate_args = validate
            super().__init__(base, [transform], validate_args=False)
            self._validate_args = validate
        self._finish()

    @property
    def loc(self) -> Tensor:
        """Mean of the Gaussian *before* ``tanh``."""
        return self.base_dist.base_dist.loc

    @property
    def scale(self) -> Tensor:
        """Standard deviation of the Gaussian *before* ``tanh``."""
        return self.base_dist.base_dist.scale

    @property
    def mode(self) -> Tensor:
        """``tanh(loc)``: the deterministic action (the image of the Gaussian's mode)."""
        return torch.tanh(self.loc)

    def _param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"loc": tuple(self.loc.shape), "scale": tuple(self.scale.shape)}

    def _support_hint(self) -> str:
        return (
            "a TanhNormal's values lie in (-1, 1); rescale actions from the environment's "
            "bounds first: a = 2 * (a - low) / (high - low) - 1"
        )


def _check_matrix_values(fn: str, name: str, m: Tensor) -> None:
    """torch's ``positive_definite`` / ``lower_cholesky`` constraints, explained."""
    batch = m.shape[:-2]
    if name == "scale_tril":
        upper = (m.triu(1) != 0).flatten(-2).any(-1)
        if bool(upper.any()):
            idx = _first_bad(upper.reshape(batch))
            raise ValueError(
                f"{fn}: argument `scale_tril`: {_fmt_index('scale_tril', idx)} has nonzero "
                f"entries above the diagonal; it must be lower triangular\n"
                f"  hint: use torch.tril(...), or torch.linalg.cholesky(cov) of a covariance"
            )
        diag = m.diagonal(dim1=-2, dim2=-1)
        bad = ~(diag > 0).all(-1)
        if bool(bad.any()):
            idx = _first_bad(bad.reshape(batch))
            raise ValueError(
                f"{fn}: argument `scale_tril`: {_fmt_index('scale_tril', idx)} has diagonal "
                f"{[round(float(v), 4) for v in diag[idx]]}; the diagonal must be positive\n"
                f"  hint: make it positive by construction, e.g. exp() or softplus() of the "
                f"raw diagonal"
            )
        return
    sym = torch.isclose(m, m.mT, atol=1e-6).all(-2).all(-1)
    if not bool(sym.all()):
        idx = _first_bad((~sym).reshape(batch))
        gap = float((m[idx] - m[idx].mT).abs().max())
        raise ValueError(
            f"{fn}: argument `{name}`: {_fmt_index(name, idx)} is not symmetric "
            f"(max |M - M.T| = {gap:.3g})\n"
            f"  hint: symmetrize it with ({name} + {name}.mT) / 2"
        )
    info = torch.linalg.cholesky_ex(m).info
    if bool((info != 0).any()):
        idx = _first_bad((info != 0).reshape(batch))
        low = float(torch.linalg.eigvalsh(m[idx]).min())
        raise ValueError(
            f"{fn}: argument `{name}`: {_fmt_index(name, idx)} is not positive definite "
            f"(smallest eigenvalue {low:.4g})\n"
            f"  hint: build it as L @ L.mT + eps * I, or pass scale_tril= (a lower-triangular "
            f"L with positive diagonal) instead"
        )


class MultivariateNormal(_Checked, _TorchMultivariateNormal):
    """A Gaussian over vectors with a full covariance (torch's, checked).

    ``loc`` has shape ``(*batch, D)``; exactly one of ``covariance_matrix``,
    ``precision_matrix`` or ``scale_tril`` has shape ``(*batch, D, D)``. The batch parts
    must be equal unless ``broadcast=True`` (then torch's broadcasting applies, e.g. one
    ``loc`` shared by several covariances).

    >>> import torch
    >>> from shapesafe.distributions import MultivariateNormal
    >>> cov = torch.eye(2).expand(3, 2, 2)
    >>> g = MultivariateNormal(torch.zeros(2), cov, broadcast=True)
    >>> g.batch_shape, g.event_shape, g.sample((5,)).shape
    (torch.Size([3]), torch.Size([2]), torch.Size([5, 3, 2]))
    """

    _event_rank: ClassVar[int | None] = 1

    def __init__(
        self,
        loc: Tensor,
        covariance_matrix: Tensor | None = None,
        precision_matrix: Tensor | None = None,
        scale_tril: Tensor | None = None,
        validate_args: bool | None = None,
        *,
        broadcast: bool = False,
    ) -> None:
        if STATE.enabled:
            validate = self._check_args(
                loc, covariance_matrix, precision_matrix, scale_tril, validate_args, broadcast
            )
            super().__init__(
                loc, covariance_matrix, precision_matrix, scale_tril, validate_args=False
            )
            self._validate_args = validate
        else:
            super().__init__(
                loc, covariance_matrix, precision_matrix, scale_tril, validate_args=validate_args
            )
        self._finish()

    @staticmethod
    def _check_args(
        loc: Any,
        covariance_matrix: Any,
        precision_matrix: Any,
        scale_tril: Any,
        validate_args: bool | None,
        broadcast: bool,
    ) -> bool:
        fn = "MultivariateNormal()"
        given = [
            (n, m)
            for n, m in (
                ("covariance_matrix", covariance_matrix),
                ("precision_matrix", precision_matrix),
                ("scale_tril", scale_tril),
            )
            if m is not None
        ]
        if len(given) != 1:
            got = ", ".join(n for n, _ in given) or "none"
            raise ValueError(
                f"{fn}: pass exactly one of covariance_matrix=, precision_matrix=, "
                f"scale_tril= (got: {got})"
            )
        name, mat = given[0]
        loc = _float_param(fn, "loc", loc, allow_number=False)
        mat = _float_param(fn, name, mat, allow_number=False)
        assert isinstance(loc, Tensor) and isinstance(mat, Tensor)
        if loc.dim() < 1:
            raise ShapeError(
                f"{fn}: argument `loc` has shape (), but needs at least one axis: the event "
                f"axis, last\n  hint: for a Gaussian over single numbers use "
                f"shapesafe.distributions.Normal",
                function="MultivariateNormal",
                argument="loc",
                expected="(*batch, D)",
                got="()",
            )
        d = loc.shape[-1]
        if mat.dim() < 2 or mat.shape[-1] != mat.shape[-2]:
            raise ShapeError(
                f"{fn}: argument `{name}` has shape {_fmt(mat.shape)}; expected (*batch, D, D) "
                f"with square D x D matrices in the last two axes"
                + (
                    f"\n  hint: for a diagonal covariance use torch.diag_embed({name})"
                    if mat.dim() >= 1
                    else ""
                ),
                function="MultivariateNormal",
                argument=name,
                axis=mat.dim() - 1 if mat.dim() >= 2 else None,
                expected=f"(*batch, {d}, {d})",
                got=_fmt(mat.shape),
            )
        if mat.shape[-1] != d:
            raise ShapeError(
                f"{fn}: argument `{name}` holds {mat.shape[-1]}x{mat.shape[-1]} matrices, but "
                f"`loc` has event size {d} (its last axis, shape {_fmt(loc.shape)})\n"
                f"  hint: the matrices must be {d}x{d}; check which tensor is the mean",
                function="MultivariateNormal",
                argument=name,
                axis=mat.dim() - 1,
                expected=f"(*batch, {d}, {d})",
                got=_fmt(mat.shape),
            )
        lb, mb = tuple(loc.shape[:-1]), tuple(mat.shape[:-2])
        if broadcast:
            _broadcast_or_raise(fn, [("loc", lb), (name, mb)])
        elif lb != mb:
            raise _mismatch(
                fn, name, mb, "loc", lb, what="batch shape", suffix=(d,), ref_suffix=(d, d)
            )
        validate = _resolve_validate(validate_args)
        if validate:
            _check_not_nan(fn, "loc", loc)
            _check_matrix_values(fn, name, mat)
        return validate

    def _param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {"loc": tuple(self.loc.shape)}
        for name in ("covariance_matrix", "precision_matrix", "scale_tril"):
            if name in self.__dict__:
                shapes[name] = tuple(self.__dict__[name].shape)
        return shapes

    def _support_hint(self) -> str:
        return _NAN_HINT


def _check_categorical_params(fn: str, name: str, raw: Tensor, normalized: Tensor) -> None:
    """Mirror torch's checks (on the normalized parameter) and explain failures."""
    if name == "probs":
        ok = torch.all(normalized >= 0, dim=-1) & ((normalized.sum(-1) - 1).abs() < 1e-6)
        if bool(ok.all()):
            return
        if bool(torch.isnan(raw).any()):
            idx = _first_bad(torch.isnan(raw))
            raise ValueError(
                f"{fn}: argument `probs` contains NaN (first at {_fmt_index('probs', idx)})\n"
                f"  hint: {_NAN_HINT}"
            )
        if bool((raw < 0).any()):
            idx = _first_bad(raw < 0)
            raise ValueError(
                f"{fn}: argument `probs` has negative entries (first: {_fmt_index('probs', idx)}"
                f" = {float(raw[idx]):.4g}); probabilities must be >= 0\n"
                f"  hint: is this a network output? Those are logits: pass logits=... instead"
            )
        row = _first_bad(~ok.reshape(raw.shape[:-1]))
        total = float(raw[row].sum()) if row else float(raw.sum())
        raise ValueError(
            f"{fn}: argument `probs`: row {_fmt_index('probs', row)} sums to {total:.4g}, so "
            f"it cannot be normalized\n"
            f"  hint: every row needs some positive, finite mass; masked rows need at least "
            f"one allowed category"
        )
    ok = (normalized == normalized).all(-1)
    if bool(ok.all()):
        return
    if bool(torch.isnan(raw).any()):
        idx = _first_bad(torch.isnan(raw))
        raise ValueError(
            f"{fn}: argument `{name}` contains NaN (first at {_fmt_index(name, idx)})\n"
            f"  hint: {_NAN_HINT}"
        )
    row = _first_bad(~ok.reshape(raw.shape[:-1]))
    if bool((raw[row] == math.inf).any()):
        raise ValueError(
            f"{fn}: argument `{name}`: row {_fmt_index(name, row)} contains +inf\n"
            f"  hint: clamp the logits, or mask with -inf (not +inf)"
        )
    raise ValueError(
        f"{fn}: argument `{name}`: every entry of row {_fmt_index(name, row)} is -inf, so no "
        f"category has any probability\n"
        f"  hint: an action mask must leave at least one action allowed in every row"
    )


def _check_one_of(fn: str, probs: Any, logits: Any) -> tuple[str, Any]:
    if (probs is None) == (logits is None):
        got = "both" if probs is not None else "neither"
        raise ValueError(
            f"{fn}: pass exactly one of probs= or logits= (got {got})\n"
            f"  hint: a network's raw output is logits: {fn[:-2]}(logits=net(obs))"
        )
    return ("probs", probs) if probs is not None else ("logits", logits)


class Categorical(_Checked, _TorchCategorical):
    """A distribution over ``K`` classes: ``probs``/``logits`` of shape ``(*batch, K)``,
    ``batch_shape == (*batch,)``, ``event_shape == ()``.

    ``log_prob`` takes **integer class indices** of shape ``sample_shape + batch_shape``
    (not one-hot vectors, not floats, not ``(B, 1)``).

    >>> import torch
    >>> from shapesafe.distributions import Categorical
    >>> pi = Categorical(logits=torch.zeros(64, 4))
    >>> pi.log_prob(torch.zeros(64, dtype=torch.long)).shape
    torch.Size([64])
    """

    _event_rank: ClassVar[int | None] = 0

    def __init__(
        self,
        probs: Tensor | None = None,
        logits: Tensor | None = None,
        validate_args: bool | None = None,
    ) -> None:
        if not STATE.enabled:
            super().__init__(probs, logits, validate_args=validate_args)
        else:
            fn = "Categorical()"
            name, raw = _check_one_of(fn, probs, logits)
            raw = _float_param(fn, name, raw, allow_number=False)
            assert isinstance(raw, Tensor)
            if raw.dim() < 1:
                raise ShapeError(
                    f"{fn}: argument `{name}` has shape (); expected (*batch, K) with the "
                    f"category axis last\n  hint: for a yes/no variable use Bernoulli",
                    function="Categorical",
                    argument=name,
                    expected="(*batch, K)",
                    got="()",
                )
            validate = _resolve_validate(validate_args)
            super().__init__(probs, logits, validate_args=False)
            if validate:
                _check_categorical_params(fn, name, raw, self._param)
            self._validate_args = validate
        self._finish()

    def _check_dtype(self, value: Tensor, method: str) -> None:
        if value.is_floating_point() or value.is_complex():
            fn = f"Categorical.{method}"
            raise DtypeError(
                f"{fn}(): argument `value` has dtype {value.dtype}; expected integer class "
                f"indices\n  hint: value.long() (torch would truncate floats silently: "
                f"0.999 -> 0)",
                function=fn,
                argument="value",
                expected="an integer dtype",
                got=str(value.dtype),
            )

    def _shape_hint(self, shape: tuple[int, ...]) -> str | None:
        if _ends_with(shape, (*self.batch_shape, self._num_events)) and (self._num_events != 1):
            return (
                f"`value` looks one-hot (its last axis has size {self._num_events}, the number "
                f"of categories); Categorical scores class indices: value.argmax(-1)"
            )
        return None

    def _param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"probs" if "probs" in self.__dict__ else "logits": tuple(self._param.shape)}

    def _support_hint(self) -> str:
        return f"class indices must lie in [0, {self._num_events - 1}]"


class Bernoulli(_Checked, _TorchBernoulli):
    """A yes/no variable: ``probs``/``logits`` of any shape, ``batch_shape`` that shape,
    ``event_shape == ()``; ``log_prob`` takes floats 0.0/1.0 of shape
    ``sample_shape + batch_shape``.

    >>> import torch
    >>> from shapesafe.distributions import Bernoulli
    >>> Bernoulli(logits=torch.zeros(32)).log_prob(torch.ones(32)).shape
    torch.Size([32])
    """

    _event_rank: ClassVar[int | None] = 0

    def __init__(
        self,
        probs: Tensor | float | None = None,
        logits: Tensor | float | None = None,
        validate_args: bool | None = None,
    ) -> None:
        if not STATE.enabled:
            super().__init__(probs, logits, validate_args=validate_args)
        else:
            fn = "Bernoulli()"
            name, raw = _check_one_of(fn, probs, logits)
            _float_param(fn, name, raw, allow_number=True)
            validate = _resolve_validate(validate_args)
            super().__init__(probs, logits, validate_args=False)
            if validate:
                param = self._param
                if name == "logits":
                    _check_not_nan(fn, "logits", param)
                else:
                    bad = ~((param >= 0) & (param <= 1))
                    if bool(bad.any()):
                        idx = _first_bad(bad)
                        v = float(param[idx]) if idx else float(param)
                        raise ValueError(
                            f"{fn}: argument `probs` must lie in [0, 1], but "
                            f"{int(bad.sum())} of {param.numel()} entries do not (first: "
                            f"{_fmt_index('probs', idx)} = {v:.4g})\n"
                            f"  hint: is this a network output? Those are logits: pass "
                            f"logits=... instead"
                        )
            self._validate_args = validate
        self._finish()

    def _check_dtype(self, value: Tensor, method: str) -> None:
        if not value.is_floating_point():
            fn = f"Bernoulli.{method}"
            raise DtypeError(
                f"{fn}(): argument `value` has dtype {value.dtype}; expected floats 0.0/1.0\n"
                f"  hint: value.float()",
                function=fn,
                argument="value",
                expected="a floating dtype",
                got=str(value.dtype),
            )

    def _param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"probs" if "probs" in self.__dict__ else "logits": tuple(self._param.shape)}

    def _support_hint(self) -> str:
        return "Bernoulli values are 0.0 or 1.0"


class GaussianMixture(_Checked, MixtureSameFamily):
    """A mixture of ``K`` diagonal Gaussians over vectors (torch's ``MixtureSameFamily``).

    ``logits`` has shape ``(*batch, K)`` (mixture weights, unnormalized log-probs),
    ``locs`` and ``scales`` have shape ``(*batch, K, D)``: ``batch_shape == (*batch,)``,
    ``event_shape == (D,)``. Shapes must agree unless ``broadcast=True``.

    >>> import torch
    >>> from shapesafe.distributions import GaussianMixture
    >>> m = GaussianMixture(torch.zeros(16, 3), torch.randn(16, 3, 2), torch.ones(16, 3, 2))
    >>> m.batch_shape, m.event_shape, m.log_prob(m.sample()).shape
    (torch.Size([16]), torch.Size([2]), torch.Size([16]))
    """

    _event_rank: ClassVar[int | None] = 1

    def __init__(
        self,
        logits: Tensor,
        locs: Tensor,
        scales: Tensor | float,
        validate_args: bool | None = None,
        *,
        broadcast: bool = False,
    ) -> None:
        if not STATE.enabled:
            if broadcast:  # same shapes as with checks on: the batch is broadcast up front
                batch = _broadcast_shapes(logits.shape[:-1], locs.shape[:-2])
                if isinstance(scales, Tensor):
                    batch = _broadcast_shapes(batch, scales.shape[:-2])
                inner = _broadcast_shapes(locs.shape[-2:], _shape_of(scales)[-2:])
                logits = logits.expand(*batch, logits.shape[-1])
                locs = locs.expand(*batch, *inner)
                if isinstance(scales, Tensor):
                    scales = scales.expand(*batch, *inner)
            mix = _TorchCategorical(logits=logits, validate_args=validate_args)
            comp = Independent(
                _TorchNormal(locs, scales, validate_args=validate_args),
                1,
                validate_args=validate_args,
            )
            super().__init__(mix, comp, validate_args=validate_args)
        else:
            fn = "GaussianMixture()"
            logits_t = _float_param(fn, "logits", logits, allow_number=False)
            locs_t = _float_param(fn, "locs", locs, allow_number=False)
            scales_t = _float_param(fn, "scales", scales, allow_number=True)
            assert isinstance(logits_t, Tensor) and isinstance(locs_t, Tensor)
            if logits_t.dim() < 1:
                raise ShapeError(
                    f"{fn}: argument `logits` has shape (); expected (*batch, K), one weight "
                    f"per component",
                    function="GaussianMixture",
                    argument="logits",
                    expected="(*batch, K)",
                    got="()",
                )
            if locs_t.dim() < 2:
                raise ShapeError(
                    f"{fn}: argument `locs` has shape {_fmt(locs_t.shape)}; expected "
                    f"(*batch, K, D): the component axis, then the event axis\n"
                    f"  hint: for a mixture of 1-D Gaussians use locs.unsqueeze(-1) (D = 1)",
                    function="GaussianMixture",
                    argument="locs",
                    expected="(*batch, K, D)",
                    got=_fmt(locs_t.shape),
                )
            comp_shape = _agree(fn, [("locs", locs_t), ("scales", scales_t)], broadcast)
            if len(comp_shape) < 2:
                raise ShapeError(
                    f"{fn}: `locs` and `scales` broadcast to {_fmt(comp_shape)}; expected "
                    f"(*batch, K, D)",
                    function="GaussianMixture",
                    argument="scales",
                    expected="(*batch, K, D)",
                    got=_fmt(comp_shape),
                )
            k = logits_t.shape[-1]
            if comp_shape[-2] != k:
                raise ShapeError(
                    f"{fn}: `logits` has {k} components (its last axis, shape "
                    f"{_fmt(logits_t.shape)}) but `locs` has {comp_shape[-2]} (axis -2 of "
                    f"{_fmt(comp_shape)})\n  hint: locs and scales are (*batch, K, D), logits "
                    f"is (*batch, K); a transposed (*batch, D, K) head?",
                    function="GaussianMixture",
                    argument="locs",
                    axis=len(comp_shape) - 2,
                    expected=f"(*batch, {k}, D)",
                    got=_fmt(comp_shape),
                )
            lb, cb = tuple(logits_t.shape[:-1]), comp_shape[:-2]
            if broadcast:
                batch = _broadcast_or_raise(fn, [("logits", lb), ("locs", cb)])
                logits_t = logits_t.expand(*batch, k)
                locs_t = locs_t.expand(*batch, *comp_shape[-2:])
                if isinstance(scales_t, Tensor):
                    scales_t = scales_t.expand(*batch, *comp_shape[-2:])
            elif lb != cb:
                raise _mismatch(
                    fn,
                    "logits",
                    lb,
                    "locs",
                    cb,
                    what="batch shape",
                    suffix=comp_shape[-2:],
                    ref_suffix=(k,),
                )
            validate = _resolve_validate(validate_args)
            mix = _TorchCategorical(logits=logits_t, validate_args=False)
            normal = _TorchNormal(locs_t, scales_t, validate_args=False)
            if validate:
                _check_categorical_params(fn, "logits", logits_t, mix.logits)
                _check_not_nan(fn, "locs", normal.loc)
                _check_positive(fn, "scales", normal.scale, "standard deviations")
            for d in (mix, normal):
                d._validate_args = validate
            comp = Independent(normal, 1, validate_args=False)
            comp._validate_args = validate
            super().__init__(mix, comp, validate_args=False)
            self._validate_args = validate
        self._finish()

    @property
    def logits(self) -> Tensor:
        """Normalized mixture log-weights, shape ``batch_shape + (K,)``."""
        return self.mixture_distribution.logits

    @property
    def locs(self) -> Tensor:
        """Component means, shape ``batch_shape + (K, D)``."""
        comp = self.component_distribution
        assert isinstance(comp, Independent)
        loc: Tensor = comp.base_dist.loc
        return loc

    @property
    def scales(self) -> Tensor:
        """Component standard deviations, shape ``batch_shape + (K, D)``."""
        comp = self.component_distribution
        assert isinstance(comp, Independent)
        scale: Tensor = comp.base_dist.scale
        return scale

    def _param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {
            "logits": tuple(self.logits.shape),
            "locs": tuple(self.locs.shape),
            "scales": tuple(self.scales.shape),
        }

    def _support_hint(self) -> str:
        return _NAN_HINT


# --------------------------------------------------------------------------------------
# kl_divergence: same batch and event shapes, no silent broadcasting


def _kl_shape_error(p: Distribution, q: Distribution) -> ShapeError | None:
    pb, qb = tuple(p.batch_shape), tuple(q.batch_shape)
    pe, qe = tuple(p.event_shape), tuple(q.event_shape)
    if (pb == qb or not pb or not qb) and pe == qe:
        return None  # equal, or one distribution shared by the whole batch (a prior)
    if pe != qe:
        head = (
            f"kl_divergence(): `p` has event_shape {_fmt(pe)} but `q` has event_shape "
            f"{_fmt(qe)}; they must be equal"
        )
        hint = "both distributions must be over the same space (check the action dimension)"
        expected, got = _fmt(pe), _fmt(qe)
    else:
        head = (
            f"kl_divergence(): `p` has batch_shape {_fmt(pb)} but `q` has batch_shape "
            f"{_fmt(qb)}; they must be equal"
        )
        try:
            joint = _broadcast_shapes(pb, qb)
            head += f" (plain torch would broadcast them to a KL of shape {_fmt(joint)})"
        except RuntimeError:
            pass
        if len(qb) == len(pb) + 1 and qb[-1] == 1 and qb[:-1] == pb:
            hint = "`q`'s parameters have a trailing axis of size 1; squeeze them (.squeeze(-1))"
        elif len(pb) == len(qb) + 1 and pb[-1] == 1 and pb[:-1] == qb:
            hint = "`p`'s parameters have a trailing axis of size 1; squeeze them (.squeeze(-1))"
        else:
            hint = (
                "build both from the same minibatch, or broadcast on purpose with "
                f"q.expand({_fmt(pb)})"
            )
        expected, got = _fmt(pb), _fmt(qb)
    return ShapeError(
        f"{head}\n  hint: {hint}",
        function="kl_divergence",
        argument="q",
        expected=expected,
        got=got,
    )


def _register_checked_kl(cls: type[Distribution], torch_cls: type[Distribution]) -> None:
    """``kl_divergence(p, q)`` for two ``cls`` instances: torch's KL for ``torch_cls``,
    after checking that the event shapes are equal and the batch shapes too, unless one
    of them is ``()`` (torch would broadcast them)."""
    torch_kl = torch.distributions.kl._dispatch_kl(torch_cls, torch_cls)  # type: ignore[no-untyped-call]

    def _kl(p: Distribution, q: Distribution) -> Tensor:
        if STATE.enabled:
            error = _kl_shape_error(p, q)
            if error is not None:
                raise error
        out: Tensor = torch_kl(p, q)
        return out

    torch.distributions.kl.register_kl(cls, cls)(_kl)  # type: ignore[no-untyped-call]


for _cls, _torch_cls in (
    (Normal, _TorchNormal),
    (DiagNormal, Independent),
    (MultivariateNormal, _TorchMultivariateNormal),
    (Categorical, _TorchCategorical),
    (Bernoulli, _TorchBernoulli),
):
    _register_checked_kl(_cls, _torch_cls)
