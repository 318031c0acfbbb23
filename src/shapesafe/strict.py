"""Strict broadcasting: make the implicit broadcasts that hide shape bugs raise.

``rewards + gamma * q_next`` with ``rewards`` of shape ``(B,)`` and ``q_next`` of shape
``(B, 1)`` silently gives a ``(B, B)`` matrix; ``F.mse_loss(pred (B, 1), target (B,))``
only warns. Inside :func:`strict_broadcasting` both raise a
:class:`~shapesafe.BroadcastError` naming the op, the shapes and your source line, while
the broadcasts every RL codebase relies on (per-feature parameters and buffers against a
batch, a ``(1, N)`` row against ``(N,)``, a one-element temperature against ``(B, 1)``)
pass.

How it works: a :class:`torch.overrides.TorchFunctionMode` sees every torch call made
while it is active. For elementwise ops (``+ - * / ** == < ...``, ``torch.where``,
``lerp``, ``addcmul``, ``masked_fill``, ``clamp`` with tensor bounds, ``isclose`` /
``allclose``, the two-tensor forms of ``torch.max`` / ``torch.min``, their in-place
forms) it applies the rule below to the operands' shapes; elementwise losses
(``mse_loss``, ``l1_loss``, ``binary_cross_entropy``, ...) need exactly equal input and
target shapes.

The rule (default, ``allow_size_one=True``); operands are the tensor arguments, right-aligned
as torch aligns them:

1. Python scalars, 0-d tensors and one-element tensors (``(1,)``, ``(1, 1)``) pass: they
   act as scalars (``-log_alpha.exp() * (log_pi + target_entropy)``, ``(1,)`` against
   ``(B, 1)``).
2. Operands of the highest rank may expand their size-1 axes against each other
   (``x - x.mean(-1, keepdim=True)``, ``(B, A)`` with ``(B, 1)``).
3. A lower-rank operand passes when it *fits inside* the highest-rank shape ``T``:
   broadcasting it against ``T``'s trailing axes leaves ``T`` unchanged. That is a
   per-feature vector (``(A,)`` against ``(B, A)``: SAC's ``y * action_scale +
   action_bias``) or a row against a leading size-1 axis (``(N,)`` against ``(1, N)``:
   PPO's GAE step). It raises when it would *grow* ``T``: ``(B,)`` against ``(B, 1)``
   becomes ``(B, B)`` -- the trap, in every rank (``(T, B)`` against ``(T, B, 1)``...).
4. A one-element total over the batch (``log_prob.sum(0)`` or ``.sum()`` of a tensor that
   requires grad and has a batch axis of size ``B > 1``) raises when it meets a different
   tensor whose leading axis has size ``B`` (``log_prob.sum(0) * advantages``): rule 1
   would let it pass as a scalar, and it is almost always a sum over the wrong axis.
   ``w / w.sum()`` (the total of the same tensor) passes; ``w * adv / w.sum()`` with a
   gradient-carrying ``w`` does not (write ``(w / w.sum()) * adv``).

``allow_size_one=False`` is stricter: no size-1 axis may expand (``(B, A)`` with
``(B, 1)``, ``(1,)`` with ``(B,)`` raise), and a lower-rank operand must equal the
trailing axes exactly; 0-d tensors and scalars still pass.

Only *your* code is checked: an op called from inside torch itself (optimizers,
autograd, ``nn`` layers) or from shapesafe is let through, so whole training loops run
unchanged when their shapes are right. One exception: the arithmetic directly inside a
``torch.distributions`` ``log_prob`` / ``cdf`` / ``icdf`` called from your code is
checked too, so ``Normal(mean (B,), std).log_prob(actions (B, 1))`` -- a ``(B, B)``
log-prob -- raises at your ``log_prob`` line. Explicit broadcasting (``expand``,
``expand_as``, ``broadcast_to``, ``torch.broadcast_tensors``, indexing with ``None``)
produces equal ranks and so passes; :func:`allow_broadcasting` switches the check off
for a block or a function.

What no shape rule can see: a square ``(B, B)`` against ``(B,)`` when the per-feature
size happens to equal the batch size, and any bug where the wrong shape is *also* a
consistent one (a reduction over the wrong axis that keeps a batch axis). Annotations
(:func:`shapesafe.check`) name the intended dims and catch those.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar, overload

import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode

from shapesafe import _strict_fast
from shapesafe._compile import is_compiling, trace_time_check
from shapesafe._config import STATE
from shapesafe._format import error as _error
from shapesafe._format import fmt_shape, fmt_value
from shapesafe._strict_errors import _LOCAL
from shapesafe._strict_errors import elementwise_error as _elementwise_error
from shapesafe._strict_errors import loss_error as _loss_error
from shapesafe._strict_errors import total_error as _total_error
from shapesafe._strict_ops import LOSS_FNS_BY_NAME as _LOSS_FNS_BY_NAME
from shapesafe._strict_ops import OPS_BY_NAME as _OPS_BY_NAME
from shapesafe._strict_report import MODES as _MODES
from shapesafe._strict_report import BroadcastWarning, StrictReport, strict_report
from shapesafe._strict_report import give_report as _give_report
from shapesafe._strict_rule import BATCH_SUMS as _BATCH_SUMS
from shapesafe._strict_rule import TOTALS as _TOTALS
from shapesafe._strict_rule import remember_total as _remember_total
from shapesafe._strict_rule import total_of as _total_of
from shapesafe._strict_where import trace_where as _trace_where
from shapesafe.errors import BroadcastError, UsageError

__all__ = [
    "BroadcastWarning",
    "StrictReport",
    "allow_broadcasting",
    "strict_broadcasting",
    "strict_report",
]

F = TypeVar("F", bound=Callable[..., Any])

# --------------------------------------------------------------------------------------
# the mode


def _refuse(error: BroadcastError, shapes: Sequence[torch.Size], names: Sequence[str] = ()) -> None:
    """Raise, or in an audit block (``on_violation="warn"/"log"``) record the line."""
    report = getattr(_LOCAL, "report", None)
    if report is None:
        raise error from None
    report.record(error, _shapes_text(shapes, names))


def _shapes_text(shapes: Sequence[torch.Size], names: Sequence[str] = ()) -> str:
    if names:
        return ", ".join(f"{n} {fmt_shape(s)}" for n, s in zip(names, shapes))
    return " and ".join(fmt_shape(s) for s in shapes)


class _StrictBroadcastMode(TorchFunctionMode):
    def __init__(self, allow_size_one: bool) -> None:
        super().__init__()
        self.allow_size_one = allow_size_one

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        if kwargs is None:
            kwargs = {}
        try:
            key = func.__qualname__  # not the function object: see _OPS_BY_NAME
        except AttributeError:
            return func(*args, **kwargs)
        label = _OPS_BY_NAME.get(key)
        if label is not None:
            # Fast path for the common binary call: a scalar operand or equal shapes;
            # batch totals (rule 4) are looked up by id only while one is alive.
            if len(args) != 2 or kwargs:
                if _TOTALS:
                    self._check_totals(label, args, kwargs)
                self._check_elementwise(label, args, kwargs)
            else:
                a, b = args
                if _TOTALS and (id(a) in _TOTALS or id(b) in _TOTALS):
                    self._check_totals(label, args, kwargs)
                if (
                    isinstance(a, Tensor)
                    and isinstance(b, Tensor)
                    and a.shape != b.shape
                    and a.ndim
                    and b.ndim
                ):
                    self._check_elementwise(label, args, kwargs)
        elif key in _LOSS_FNS_BY_NAME:
            self._check_loss(key, args, kwargs)
        elif key in _BATCH_SUMS:
            out = func(*args, **kwargs)
            _remember_total(args, out)
            return out
        return func(*args, **kwargs)

    def _check_totals(self, label: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)]
        for t in tensors:
            total = _total_of(t)
            if total is None:
                continue
            n, source = total
            for u in tensors:
                if u is not t and u is not source and u.ndim and u.shape[0] == n:
                    error = _total_error(label, t.shape, n, u.shape, sys._getframe)
                    if error is not None:
                        _refuse(error, [t.shape, u.shape], ["total", "per-sample"])
                        return

    def _check_elementwise(
        self, label: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> None:
        tensors = [a for a in args if isinstance(a, torch.Tensor) and a.ndim]
        for k, v in kwargs.items():
            if k != "out" and isinstance(v, torch.Tensor) and v.ndim:
                tensors.append(v)
        if len(tensors) < 2:
            return
        if is_compiling():
            operands = tensors[:4]  # trace_time_check takes 6 values: label, flag, tensors
            trace_time_check(
                _explain_at_trace_time,
                2 + len(operands),
                True,
                label,
                self.allow_size_one,
                *operands,
            )
            return
        error = _elementwise_error(
            label, [t.shape for t in tensors], self.allow_size_one, sys._getframe
        )
        if error is not None:
            _refuse(error, [t.shape for t in tensors])

    def _check_loss(self, key: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        name, argnames = _LOSS_FNS_BY_NAME[key]
        values = []
        for i, argname in enumerate(argnames):
            v = args[i] if i < len(args) else kwargs.get(argname)
            if not isinstance(v, torch.Tensor):
                return
            values.append(v)
        if is_compiling():
            trace_time_check(_explain_at_trace_time, 2 + len(values), True, key, None, *values)
            return
        error = _loss_error(name, argnames, [v.shape for v in values], sys._getframe)
        if error is not None:
            _refuse(error, [v.shape for v in values], argnames)


def _explain_at_trace_time(
    ctx: Any, label: str, allow_size_one: bool | None, *operands: Any
) -> None:
    """The eager checks, at trace time (``trace_time_check``); ``label`` is an op label,
    or a loss function's name when ``allow_size_one`` is None."""
    where = _trace_where(ctx)
    if where is None:
        return
    shapes = [t.shape for t in operands]
    names: Sequence[str] = ()
    if allow_size_one is None:
        name, names = _LOSS_FNS_BY_NAME[label]
        error = _loss_error(name, names, shapes, where)
    else:
        error = _elementwise_error(label, shapes, allow_size_one, where)
    if error is not None:
        # under torch.compile an audit block records the line once per compilation
        # (the check runs at trace time), not once per call
        report = getattr(_LOCAL, "report", None)
        if report is None:
            raise error
        report.record(error, _shapes_text(shapes, names))


# --------------------------------------------------------------------------------------
# public API


@contextmanager
def _fast_mode(allow_size_one: bool) -> Iterator[None]:
    """The fast mechanism (:mod:`shapesafe._strict_fast`): the checked ops are wrapped
    while a block is open, and run the mode's checks without the mode being pushed."""
    _strict_fast.install()
    outer = getattr(_strict_fast.ACTIVE, "mode", None)
    _strict_fast.ACTIVE.mode = _StrictBroadcastMode(allow_size_one)
    try:
        yield
    finally:
        _strict_fast.ACTIVE.mode = outer
        _strict_fast.uninstall()


@contextmanager
def _strict(allow_size_one: bool, on_violation: str, fast: bool = False) -> Iterator[StrictReport]:
    report = StrictReport()
    if not STATE.enabled:
        yield report
        return
    audit = on_violation != "raise"
    outer = getattr(_LOCAL, "report", None)
    # this thread's sink for refusals: a nested raise block raises again inside an
    # audit block, and an audit block nested in a raise block records
    _LOCAL.report = report if audit else None
    try:
        with _fast_mode(allow_size_one) if fast else _StrictBroadcastMode(allow_size_one):
            yield report
    finally:
        _LOCAL.report = outer
        if audit:
            _give_report(report, on_violation)


@overload
def strict_broadcasting(func: F, /) -> F: ...
@overload
def strict_broadcasting(
    func: None = None,
    /,
    *,
    allow_size_one: bool = True,
    on_violation: str = "raise",
    fast: bool = False,
) -> AbstractContextManager[StrictReport]: ...
def strict_broadcasting(
    func: Any = None,
    /,
    *,
    allow_size_one: bool = True,
    on_violation: str = "raise",
    fast: bool = False,
) -> Any:
    """Refuse implicit broadcasting in torch ops, as a context manager or decorator.

    Inside the block (or decorated function), an elementwise torch op whose operands
    broadcast in a way that hides shape bugs raises :class:`~shapesafe.BroadcastError`
    naming the op, the shapes and your source line; losses need equal shapes. By
    default scalars, 0-d and one-element tensors pass, equal-rank size-1 expansion
    (``(B, A)`` with ``(B, 1)``) passes, and a lower-rank operand passes when it fits
    inside the other's trailing axes (``(A,)`` against ``(B, A)``, ``(N,)`` against
    ``(1, N)``); one that would grow it (``(B,)`` against ``(B, 1)``: ``(B, B)``)
    raises, and so does a gradient-carrying total over the batch
    (``log_prob.sum(0)``) meeting a per-sample tensor. ``allow_size_one=False`` also
    refuses every size-1 expansion. Ops inside torch and shapesafe are not checked,
    except the arithmetic directly inside a ``torch.distributions`` ``log_prob`` /
    ``cdf`` / ``icdf`` you call. The full rule, with examples: the module docstring
    and the docs' strict-mode page.

        >>> import torch
        >>> with strict_broadcasting():  # a per-action buffer against a batch: fine
        ...     (torch.zeros(64, 6) * torch.ones(6)).shape
        torch.Size([64, 6])

    ``on_violation="warn"`` or ``"log"`` is the audit mode: nothing raises; each
    distinct offending source line is recorded once (file:line, op, shapes, how often
    it ran) and reported at the exit of the block, as one
    :class:`~shapesafe.BroadcastWarning` per line (``"warn"``, attributed to that line)
    or one record on the ``shapesafe.strict`` logger (``"log"``). The ``with``
    statement binds the block's :class:`~shapesafe.StrictReport`;
    :func:`~shapesafe.strict_report` returns everything recorded in the process.

        >>> with strict_broadcasting(on_violation="log") as report:
        ...     _ = torch.zeros(4) + torch.zeros(4, 1)
        >>> [(v.op, v.shapes) for v in report.violations]
        [('`+` (add)', '(4,) and (4, 1)')]

    ``fast=True`` uses a cheaper mechanism: instead of a ``TorchFunctionMode`` that
    sees every torch call (~1.6x on a small training loop by itself), only the checked
    functions are wrapped while the block is open (same rule, same messages). It does
    not see a function bound to a name before the block (``from torch import where``)
    nor compiled code; see the docs' strict-mode page, section "Cost".

    Does nothing when shapesafe checks are disabled (:func:`shapesafe.disable`) at entry
    (the report stays empty).

    Examples:
        >>> import torch
        >>> rewards, q_next = torch.zeros(4), torch.zeros(4, 1)
        >>> with strict_broadcasting():
        ...     td = rewards + 0.99 * q_next  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        shapesafe.BroadcastError: strict_broadcasting: `+` (add) would broadcast ...
    """
    if func is not None:
        if not callable(func):
            raise UsageError(
                "strict_broadcasting() takes a function or keyword options only, got "
                + fmt_value(func),
                function="strict_broadcasting",
                argument="func",
                expected="a function, or no positional argument",
                got=fmt_value(func),
            )
        return _strict(allow_size_one, "raise")(func)
    if on_violation not in _MODES:
        raise _error(
            UsageError,
            f"`on_violation` must be 'raise', 'warn' or 'log', got {on_violation!r}",
            function="strict_broadcasting",
            argument="on_violation",
            expected="'raise', 'warn' or 'log'",
            got=repr(on_violation),
        )
    return _strict(allow_size_one, on_violation, fast)


@contextmanager
def _allow() -> Iterator[None]:
    _LOCAL.allow = getattr(_LOCAL, "allow", 0) + 1
    try:
        yield
    finally:
        _LOCAL.allow -= 1


@overload
def allow_broadcasting(func: F, /) -> F: ...
@overload
def allow_broadcasting(func: None = None, /) -> AbstractContextManager[None]: ...
def allow_broadcasting(func: Any = None, /) -> Any:
    """Let implicit broadcasting through inside :func:`strict_broadcasting` (this thread).

    Use it as a context manager around a line that broadcasts on purpose, or as a
    decorator on a function that does.

    Examples:
        >>> import torch
        >>> with strict_broadcasting(), allow_broadcasting():
        ...     (torch.zeros(4) + torch.zeros(4, 1)).shape
        torch.Size([4, 4])
    """
    if func is not None:
        return _allow()(func)
    return _allow()
