"""The one base class of the checked distributions.

A family module states *what* its distribution takes -- a table of :class:`Param` rows
(``_table``), the event rank, how to build the torch object (``_build``) -- and this
class does the rest the same way for all of them: the parameter checks of the table,
``log_prob`` / ``cdf`` / ``icdf`` taking exactly ``sample_shape + batch_shape +
event_shape``, checked ``sample`` / ``rsample`` results, ``describe()``, ``repr`` and the
``DiagNormal["batch", "act"]`` annotation.

Three modes, chosen per call:

* checks off (:func:`shapesafe.enabled`): the torch code path itself behind one flag
  read, with torch's own validation as the user asked for it;
* eager, checks on: the table is checked, torch is built with ``validate_args=False``
  and *our* value checks run instead (once; torch's composite classes would otherwise
  validate twice, in the outer and the inner distribution), with messages that name the
  first bad entry;
* under torch.compile: message formatting and our exception constructors cannot be
  traced (dynamo fails with "Attempted to call a super() attribute"), and value checks
  need data. So every shape check runs twice in a sense: once **at trace time** on meta
  stand-ins of the traced tensors (``trace_time_check``), where a failure raises our
  error, catchable as itself around the compiled call; and once traced, where its size
  comparisons produce only guards, so that a later call whose shapes differ recompiles
  and meets the trace-time check again. Value checks are skipped, as torch skips its
  own validation under compile. Error *paths* in traced code go through :func:`raise_`,
  which builds the error at trace time from constants and stand-ins only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints
from torch.types import _size

from shapesafe._compile import is_compiling, trace_time_check
from shapesafe._config import STATE
from shapesafe._format import error, fmt_index, fmt_sample, fmt_shape, message
from shapesafe.distributions._annotation import annotation
from shapesafe.distributions._constraints import NAN_HINT
from shapesafe.distributions._params import Table, check_params, check_values, names
from shapesafe.distributions._shapes import first_bad, ints
from shapesafe.distributions._values import (
    Shape,
    dtype_error,
    not_a_tensor,
    result_error,
    value_error,
)
from shapesafe.errors import NonFiniteError, ShapesafeError, UsageError

_EMPTY = torch.Size()


def _is_real(support: Any) -> bool:
    """``constraints.real``, or ``independent(real, n)``: the support of every Gaussian."""
    while isinstance(support, constraints.independent):
        support = support.base_constraint
    return support is constraints.real


def resolve_validate(validate_args: bool | None) -> bool:
    """torch's rule: an explicit flag wins, else the process-wide default."""
    if validate_args is None:
        return bool(Distribution._validate_args)
    return bool(validate_args)


# --------------------------------------------------------------------------------------
# trace-time replays
#
# Under torch.compile these run inside dynamo's ``comptime`` hook (``trace_time_check``),
# on stand-ins: traced tensors arrive as meta tensors of their traced sizes, constants
# (classes, strings, ints, None) as themselves. A distribution object or a torch.Size of
# SymInts would arrive as an opaque marker, so what a message needs travels as tensors:
# the parameters themselves for a constructor, and for a ``log_prob`` value the sizes
# ``batch_shape + event_shape (+ class extras)`` as the shape of a throwaway
# ``value.new_empty(...)``. That tensor is created only on the failure path, whose
# tracing ends with the error: no compiled graph ever contains it.


def _raise_now(factory: Any, *args: Any) -> None:
    raise factory(*args)


def raise_(factory: Any, *args: Any) -> None:
    """``raise factory(*args)``, also from traced code: under torch.compile the error is
    built and raised at trace time (the arguments must be constants or tensors)."""
    if is_compiling():
        trace_time_check(_raise_now, 1 + len(args), False, factory, *args)
    raise factory(*args)


def _number_stand_in(value: Any) -> Any:
    """A Python number that dynamo traces as a symbol (``dynamic=True`` turns float
    arguments into SymFloats) arrives as an opaque marker of its type: a number again."""
    kind = getattr(value, "python_type", None)
    if (
        not isinstance(value, Tensor)
        and isinstance(kind, type)
        and issubclass(kind, (int, float))
        and not issubclass(kind, bool)
    ):
        return kind(1)
    return value


def _check_at_trace_time(cls: Any, broadcast: bool, *values: Any) -> None:
    named = dict(zip(names(cls._table), map(_number_stand_in, values)))
    check_params(cls.__name__, cls._table, cls._event_rank, named, broadcast)


def _value_error_at_trace_time(
    cls: Any, method: str, value: Tensor, carrier: Tensor, nb: int, ne: int
) -> None:
    full = ints(carrier.shape)
    batch, event, extra = full[:nb], full[nb : nb + ne], full[nb + ne :]
    shape = ints(value.shape)
    raise value_error(
        cls.__name__, method, shape, batch, event, cls._class_hint(shape, batch, extra)
    )


def _dtype_error_at_trace_time(cls: Any, method: str, value: Tensor) -> None:
    raise cls._value_dtype.error(cls.__name__, method, value.dtype)


def no_closed_form(name: str, what: str, hint: str, *, prop: bool = False) -> UsageError:
    """``what`` (a method, or a property with ``prop``) has no closed form for ``name``."""
    fields: dict[str, Any] = {
        "function": f"{name}.{what}",
        "expected": "a distribution with a closed-form " + what,
        "got": name,
        "hint": hint,
    }
    if not prop:
        return error(UsageError, f"has no closed form for a {name}", **fields)
    # a property is not called: no "()" in the head (error() would add it)
    text = message(f"has no closed form for a {name}", **fields).replace(
        f"{name}.{what}()", f"{name}.{what}", 1
    )
    return UsageError(text, **fields)


@dataclass(frozen=True)
class ValueDtype:
    """Which dtypes ``log_prob``'s ``value`` may have (complex never)."""

    floats: bool
    integers: bool
    bools: bool
    expected: str
    hint: str

    def accepts(self, dtype: torch.dtype) -> bool:
        if dtype.is_floating_point:
            return self.floats
        if dtype == torch.bool:
            return self.bools
        return self.integers and not dtype.is_complex

    def error(self, name: str, method: str, dtype: torch.dtype) -> ShapesafeError:
        return dtype_error(name, method, dtype, self.expected, self.hint)


#: the values of a distribution over real numbers (the Gaussians)
REAL_VALUES = ValueDtype(
    floats=True,
    integers=True,
    bools=False,
    expected="real numbers (a floating-point tensor)",
    hint="value.float()",
)


def no_entropy(name: str, draw: str) -> UsageError:
    return no_closed_form(
        name,
        "entropy",
        f"use a Monte Carlo estimate: entropy_estimate(n), i.e. -log_prob({draw}((n,))).mean(0)",
    )


class Checked(Distribution):
    """Base of the checked distributions (placed before the torch class in the MRO)."""

    #: the constructor's parameters, checked in one loop (see ``_params``)
    _table: ClassVar[Table] = ()
    #: number of event axes (0: Normal, Categorical, Bernoulli; 1: the vector ones)
    _event_rank: ClassVar[int] = 0
    #: the dtype ``log_prob``'s value must have (``None``: any)
    _value_dtype: ClassVar[ValueDtype | None] = None
    #: torch's own log_prob calls ``_validate_sample`` (not Independent's)
    _torch_validates: ClassVar[bool] = True

    _be: torch.Size  # batch_shape + event_shape
    _nbe: int
    _nev: int
    _given: tuple[str, ...]

    # -- construction ----------------------------------------------------------------
    def _build(self, values: dict[str, Any], validate_args: bool | None, broadcast: bool) -> None:
        """Build the torch distribution from the parameters (the checks-off path)."""
        raise NotImplementedError

    def _init_checked(
        self, values: dict[str, Any], validate_args: bool | None, broadcast: bool
    ) -> None:
        cls = type(self)
        name = cls.__name__
        if not STATE.enabled:  # torch itself, with torch's own validation
            self._build(values, validate_args, broadcast)
        elif is_compiling():
            # the table checked once at trace time (raising our error), then traced for
            # its guards; built without validation, which would need the data
            trace_time_check(
                _check_at_trace_time, 2 + len(values), False, cls, broadcast, *values.values()
            )
            check_params(name, cls._table, cls._event_rank, values, broadcast)  # guards
            self._check_more_shapes(values)
            self._build(values, False, broadcast)
        else:
            # our checks first (shapes, then values when torch would validate); torch is
            # then built without its own validation, which would repeat the value checks
            # with worse messages (and, in composite classes, once per inner object)
            check_params(name, cls._table, cls._event_rank, values, broadcast)
            self._check_more_shapes(values)
            validate = resolve_validate(validate_args)
            if validate:
                check_values(name, cls._table, values)
                self._check_more_values(values)
            self._build(values, False, broadcast)
            self._validate_args = validate
        self._given = tuple(k for k, v in values.items() if v is not None)
        self._finish()

    def _finish(self) -> None:
        self._be = torch.Size(self._batch_shape) + torch.Size(self._event_shape)
        self._nbe = len(self._be)
        self._nev = len(self._event_shape)

    # -- class-specific hooks ----------------------------------------------------------
    def _check_more_shapes(self, values: dict[str, Any]) -> None:
        """Shape checks the table cannot state (they involve more than one parameter or
        a non-tensor argument: a mask's legal actions per sub-action, action bounds).
        Runs after the table's checks, eagerly and traced; errors go through
        :func:`raise_` so that they also stop a compilation with our message."""

    def _check_more_values(self, values: dict[str, Any]) -> None:
        """Value checks the table cannot state (eager, ``validate_args`` on)."""

    @classmethod
    def _class_hint(cls, shape: Shape, batch: Shape, extra: Shape) -> str | None:
        """A hint for a wrong ``value`` shape that only this class can give."""
        return None

    def _hint_dims(self) -> tuple[Any, ...]:
        """Sizes ``_class_hint`` needs beyond batch and event (``extra``)."""
        return ()

    def _support_hint(self) -> str:
        return NAN_HINT

    # -- value checks ----------------------------------------------------------------
    def _check_value(self, value: Any, method: str) -> None:
        cls = type(self)
        if not isinstance(value, Tensor):
            raise_(not_a_tensor, cls.__name__, method, value)
        shape = value.shape
        k = len(shape) - self._nbe
        if k < 0 or shape[k:] != self._be:
            if is_compiling():
                carrier = value.new_empty((*self._be, *self._hint_dims()))
                nb = len(self._batch_shape)
                trace_time_check(
                    _value_error_at_trace_time, 6, False, cls, method, value, carrier, nb, self._nev
                )
            s, b, e = ints(shape), ints(self._batch_shape), ints(self._event_shape)
            hint = cls._class_hint(s, b, ints(self._hint_dims()))
            raise value_error(cls.__name__, method, s, b, e, hint)
        kind = cls._value_dtype
        if kind is not None and not kind.accepts(value.dtype):
            if is_compiling():
                trace_time_check(_dtype_error_at_trace_time, 3, False, cls, method, value)
            raise kind.error(cls.__name__, method, value.dtype)

    def _empty_result(self, value: Tensor) -> Tensor:
        """The result for a value whose ``sample_shape + batch_shape`` has a size-0 axis:
        torch's sum over event axes fails there (it reshapes to ``(0, -1)``)."""
        dtype = getattr(self, self._given[0]).dtype
        if value.is_floating_point():
            dtype = torch.promote_types(dtype, value.dtype)
        return torch.zeros(value.shape[: value.dim() - self._nev], dtype=dtype)

    def _checked_call(self, method: str, impl: Any, value: Any) -> Tensor:
        self._check_value(value, method)
        if self._nev and 0 in value.shape[: value.dim() - self._nev]:
            return self._empty_result(value)
        if self._validate_args and not self._torch_validates:
            self._validate_sample(value)
        out: Tensor = impl(value)
        expected = value.shape[: len(value.shape) - self._nev]
        if out.shape != expected:
            raise result_error(
                type(self).__name__, method, out.shape, expected, "sample_shape + batch_shape"
            )
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
        # the common case (Gaussians): "no NaN", proved by one reduction and one sync
        # (a NaN sum is NaN; inf - inf is NaN too and takes the exact check below)
        if (
            _is_real(support)
            and value.is_floating_point()
            and (value.numel() == 0 or not math.isnan(value.detach().sum().item()))
        ):
            return
        valid: Tensor = support.check(value)  # type: ignore[no-untyped-call]
        if bool(valid.all()):
            return
        bad = ~valid
        idx = first_bad(bad)
        first = value[idx] if idx else value
        shown = first.tolist() if isinstance(first, Tensor) else first
        nan = bool(torch.isnan(value).any()) if value.is_floating_point() else False
        raise error(
            NonFiniteError if nan else UsageError,
            f"has {int(bad.sum())} of {bad.numel()} entries outside the support {support!r} of "
            f"the distribution",
            function=f"{type(self).__name__}.log_prob",
            argument="value",
            expected=repr(support),
            got=f"{fmt_index('value', idx)} = {shown}",
            hint=self._support_hint(),
        )

    # -- samples ---------------------------------------------------------------------
    def _check_sample(self, out: Tensor, sample_shape: _size, method: str) -> Tensor:
        expected = self._extended_shape(sample_shape)
        if out.shape != expected:
            raise result_error(
                type(self).__name__,
                method,
                out.shape,
                expected,
                "sample_shape + batch_shape + event_shape",
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
        if not self.has_rsample and STATE.enabled:
            raise_(_no_rsample, type(self).__name__)
        out = super().rsample(sample_shape)
        if STATE.enabled:
            self._check_sample(out, sample_shape, "rsample")
        return out

    def entropy_estimate(self, n: int = 1000) -> Tensor:
        """Monte Carlo entropy, ``-log_prob(x).mean(0)`` over ``n`` draws (``rsample``
        where it exists, so it carries gradients): shape ``batch_shape``. For classes
        whose ``entropy()`` has no closed form (``TanhNormal``, ``GaussianMixture``)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise error(
                UsageError,
                f"must be a positive int, got {n!r}",
                function=f"{type(self).__name__}.entropy_estimate",
                argument="n",
                expected="a positive int",
                got=repr(n),
            )
        x = self.rsample((n,)) if self.has_rsample else self.sample((n,))
        return -self.log_prob(x).mean(0)

    # -- expand, describe, repr ------------------------------------------------------
    def expand(self, batch_shape: _size, _instance: Any = None) -> Any:
        """Same distribution with batch dims expanded to ``batch_shape`` (no copy)."""
        new = self.__new__(type(self)) if _instance is None else _instance
        super().expand(batch_shape, _instance=new)
        new._given = self._given
        new._finish()
        return new

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
        batch, event = ints(self.batch_shape), ints(self.event_shape)
        params = ", ".join(f"{k} {fmt_shape(getattr(self, k).shape)}" for k in self._given)
        lines = [
            f"{type(self).__name__}: batch_shape {fmt_shape(batch)}, event_shape {fmt_shape(event)}"
        ]
        if params:
            lines.append(f"  parameters: {params}")
        lines.append(f"  sample(sample_shape) -> {fmt_sample(batch + event)}")
        lines.append(f"  log_prob(value {fmt_sample(batch + event)}) -> {fmt_sample(batch)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(batch_shape={fmt_shape(ints(self.batch_shape))}, "
            f"event_shape={fmt_shape(ints(self.event_shape))})"
        )

    # -- annotations -----------------------------------------------------------------
    def __class_getitem__(cls, item: Any) -> Any:
        """``DiagNormal["batch", "act"]``: an annotation for :func:`shapesafe.check`."""
        return annotation(cls, item if isinstance(item, tuple) else (item,))


def _no_rsample(name: str) -> UsageError:
    return error(
        UsageError,
        "has no reparameterized sample: drawing it involves a discrete choice, which has no "
        "gradient",
        function=f"{name}.rsample",
        expected="a distribution with has_rsample=True",
        got=name,
        hint="use sample() (no gradient through the draw), a score-function (REINFORCE) "
        "estimator with log_prob(), or a relaxation such as Gumbel-softmax",
    )
