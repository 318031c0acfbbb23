"""A Beta distribution over bounded action vectors: :class:`Beta`.

A Beta policy puts no mass outside the action bounds and, unlike a clipped Gaussian,
does not pile probability onto them. Here it is a *vector* distribution like
:class:`DiagNormal` -- independent Betas per action coordinate, ``log_prob`` summed over
the action axis -- optionally mapped affinely from ``(0, 1)`` onto the environment's
``[low, high]``.

Values at the bounds (a replay buffer of clipped actions, or a float32 draw that rounded
to 0 or 1) have density 0 or infinity under a Beta with concentrations unlike 1, and
torch returns ``-inf``, ``+inf`` or NaN there. :meth:`Beta.log_prob` clamps the unit
value to ``[eps, 1 - eps]`` first (like :class:`TanhNormal`), so it is finite on the
closed interval and equal to torch's inside it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.distributions import Beta as _TorchBeta
from torch.distributions import Gamma as _TorchGamma
from torch.distributions import Independent, TransformedDistribution
from torch.distributions.transforms import AffineTransform
from torch.types import _size

from shapesafe._compile import is_compiling
from shapesafe._config import STATE
from shapesafe.distributions._base import REAL_VALUES, Checked, ValueDtype
from shapesafe.distributions._bounds import (
    bounded_support,
    check_bound_shapes,
    check_bound_values,
    to_bounds,
)
from shapesafe.distributions._constraints import Positive
from shapesafe.distributions._params import Param, Table
from shapesafe.distributions._shapes import ends_with
from shapesafe.distributions._values import Shape

_PARAMS = ("concentration1", "concentration0")
_EMPTY = torch.Size()


class Beta(Checked, TransformedDistribution):
    """Independent Betas over an action vector, in ``[0, 1]`` or ``[low, high]``.

    ``concentration1`` (alpha, the weight towards ``high``) and ``concentration0`` (beta,
    towards ``low``) have shape ``(*batch, act)``: ``batch_shape == (*batch,)``,
    ``event_shape == (act,)``, and ``log_prob(a)`` sums over the action axis (as
    :class:`DiagNormal` does). With ``low`` / ``high`` (numbers, or arrays/tensors of shape
    ``(act,)`` or the full shape, e.g. ``env.action_space.low``) a draw ``u`` in
    ``(0, 1)`` becomes ``low + (high - low) * u``; ``log_prob`` then includes the
    log-Jacobian ``-sum(log(high - low))``. Actions exactly at the bounds get a finite
    ``log_prob`` (clamped to :attr:`eps` inside). ``rsample`` is reparameterized;
    ``mean``, ``mode``, ``variance`` and ``entropy()`` are in action units.

    ``mode`` is the density's maximum ``(alpha - 1) / (alpha + beta - 2)`` when both
    concentrations exceed 1; otherwise the density peaks at an end: ``low`` if ``alpha <
    beta``, ``high`` if ``alpha > beta``, and the midpoint when they are equal (uniform,
    or symmetric U-shaped). Policies often act with ``mean`` instead.

    Args:
        concentration1: alpha, ``> 0``: a tensor ``(*batch, act)`` or a Python number.
        concentration0: beta, ``> 0``: same shape.
        validate_args: torch's flag: check parameter values (and ``log_prob`` support).
        low: the lower action bounds (with ``high``; default 0): a number, or an
            array/tensor of shape ``(act,)`` or ``(*batch, act)``.
        high: the upper action bounds (with ``low``; default 1), shaped like ``low``.
        broadcast: allow the concentrations to broadcast against each other.

    >>> import torch
    >>> from shapesafe.distributions import Beta
    >>> pi = Beta(torch.full((8, 2), 2.0), torch.full((8, 2), 2.0), low=-2.0, high=2.0)
    >>> pi.batch_shape, pi.event_shape
    (torch.Size([8]), torch.Size([2]))
    >>> pi.mean[0], pi.mode[0]
    (tensor([0., 0.]), tensor([0., 0.]))
    >>> bool(pi.log_prob(torch.full((8, 2), 2.0)).isfinite().all())
    True
    """

    _table: ClassVar[Table] = (
        Param("concentration1", constraint=Positive("a concentration"), scalar_ok=True),
        Param("concentration0", constraint=Positive("a concentration"), scalar_ok=True),
    )
    _event_rank: ClassVar[int] = 1
    _value_dtype: ClassVar[ValueDtype | None] = REAL_VALUES

    #: unit values are clamped to ``[eps, 1 - eps]`` (or the dtype's epsilon, if larger)
    eps: ClassVar[float] = 1e-6
    #: the action bounds as tensors (``None``: ``[0, 1]``)
    low: Tensor | None = None
    high: Tensor | None = None
    base_dist: Independent[_TorchBeta]
    _log_width: Tensor  # sum(log(high - low)) over the event axis, batch_shape

    def __init__(
        self,
        concentration1: Tensor | float,
        concentration0: Tensor | float,
        validate_args: bool | None = None,
        *,
        low: Any = None,
        high: Any = None,
        broadcast: bool = False,
    ) -> None:
        low, high = to_bounds(type(self).__name__, low, high, (concentration1, concentration0))
        values = {
            "concentration1": concentration1,
            "concentration0": concentration0,
            "low": low,
            "high": high,
        }
        self._init_checked(values, validate_args, broadcast)

    def _check_more_shapes(self, values: dict[str, Any]) -> None:
        check_bound_shapes(type(self).__name__, values, _PARAMS)

    def _check_more_values(self, values: dict[str, Any]) -> None:
        check_bound_values(type(self).__name__, values["low"], values["high"])

    def _build(self, values: dict[str, Any], validate_args: bool | None, broadcast: bool) -> None:
        c1, c0 = values["concentration1"], values["concentration0"]
        # torch's Beta broadcasts its two parameters itself (Python numbers included)
        beta = _TorchBeta(c1, c0, validate_args=validate_args)
        base = Independent(beta, 1, validate_args=validate_args)
        transforms: list[Any] = []
        low, high = self.low, self.high = values["low"], values["high"]
        if low is not None and high is not None:
            width = high - low
            transforms.append(AffineTransform(low, width, event_dim=1))
            self._log_width = torch.log(width).expand(beta.batch_shape).sum(-1)
        TransformedDistribution.__init__(self, base, transforms, validate_args=validate_args)

    # -- parameters ------------------------------------------------------------------
    @property
    def _beta(self) -> _TorchBeta:
        return self.base_dist.base_dist

    @property
    def concentration1(self) -> Tensor:
        """alpha, ``batch_shape + event_shape``."""
        return self._beta.concentration1

    @property
    def concentration0(self) -> Tensor:
        """beta, ``batch_shape + event_shape``."""
        return self._beta.concentration0

    def _to_action(self, unit: Tensor) -> Tensor:
        if self.low is None or self.high is None:
            return unit
        return self.low + (self.high - self.low) * unit

    # -- scoring ---------------------------------------------------------------------
    def _log_prob(self, value: Tensor) -> Tensor:
        low, high = self.low, self.high
        unit = value if low is None or high is None else (value - low) / (high - low)
        eps = max(self.eps, torch.finfo(unit.dtype).eps)
        out: Tensor = self.base_dist.log_prob(unit.clamp(eps, 1.0 - eps))  # type: ignore[no-untyped-call]
        if self.low is not None:
            out = out - self._log_width
        return out

    def log_prob(self, value: Tensor) -> Tensor:
        """Log-density of actions ``value`` (``sample_shape + batch_shape +
        event_shape``) in ``[low, high]``; returns ``sample_shape + batch_shape``,
        finite at the bounds."""
        if STATE.enabled:
            self._check_value(value, "log_prob")
            if 0 in value.shape[: value.dim() - 1]:
                return self._empty_result(value)
        if self._validate_args:
            self._validate_sample(value)
        return self._log_prob(value)

    @property
    def support(self) -> Any:
        """``[0, 1]`` (or ``[low, high]``, up to rounding) per coordinate."""
        if self.low is None or self.high is None:
            return self.base_dist.support
        return bounded_support(self.low, self.high)

    # -- draws -----------------------------------------------------------------------
    def _gamma_draw(self, sample_shape: _size) -> Tensor:
        """``X / (X + Y)`` with ``X ~ Gamma(alpha)``, ``Y ~ Gamma(beta)``: a Beta draw
        (reparameterized) that traces, unlike torch's Dirichlet sampler."""
        shape = self._extended_shape(sample_shape)
        c1, c0 = self.concentration1.expand(shape), self.concentration0.expand(shape)
        x = _TorchGamma(c1, torch.ones_like(c1), validate_args=False).rsample()
        y = _TorchGamma(c0, torch.ones_like(c0), validate_args=False).rsample()
        total = (x + y).clamp(min=torch.finfo(x.dtype).tiny)
        return self._to_action(x / total)

    def rsample(self, sample_shape: _size = _EMPTY) -> Tensor:
        """Reparameterized draw ``sample_shape + batch_shape + event_shape`` in
        ``[low, high]``. Under torch.compile it is drawn from two Gammas, because
        torch's Dirichlet sampler (what ``torch.distributions.Beta`` uses) has no
        compile support: the same distribution, a different random stream."""
        if not is_compiling():
            return super().rsample(sample_shape)
        out = self._gamma_draw(sample_shape)
        if STATE.enabled:
            self._check_sample(out, sample_shape, "rsample")
        return out

    def sample(self, sample_shape: _size = _EMPTY) -> Tensor:
        """Draw ``sample_shape + batch_shape + event_shape`` actions (no gradient)."""
        if not is_compiling():
            return super().sample(sample_shape)
        with torch.no_grad():
            out = self._gamma_draw(sample_shape)
        if STATE.enabled:
            self._check_sample(out, sample_shape, "sample")
        return out

    # -- summaries -------------------------------------------------------------------
    @property
    def mean(self) -> Tensor:
        """``low + (high - low) * alpha / (alpha + beta)``."""
        return self._to_action(self._beta.mean)

    @property
    def mode(self) -> Tensor:
        """The most likely action (see the class docstring for the U-shaped cases)."""
        c1, c0 = self.concentration1, self.concentration0
        inside = (c1 - 1) / (c1 + c0 - 2)
        end = torch.where(c1 > c0, 1.0, torch.where(c1 < c0, 0.0, 0.5)).to(c1.dtype)
        unit = torch.where((c1 > 1) & (c0 > 1), inside, end)
        return self._to_action(unit)

    @property
    def variance(self) -> Tensor:
        """``(high - low)^2`` times the Beta's variance."""
        var = self._beta.variance
        if self.low is None or self.high is None:
            return var
        return (self.high - self.low) ** 2 * var

    def entropy(self) -> Tensor:
        """The Betas' entropy summed over the action axis, plus ``sum(log(high - low))``
        (the differential entropy of the scaled action): shape ``batch_shape``."""
        # summed here: Independent.entropy() cannot reshape a batch with a 0-size axis
        out: Tensor = self._beta.entropy().sum(-1)  # type: ignore[no-untyped-call]
        if self.low is not None:
            out = out + self._log_width
        return out

    def expand(self, batch_shape: Any, _instance: Any = None) -> Any:
        new = super().expand(batch_shape, _instance)
        new.low, new.high = self.low, self.high
        if self.low is not None:
            new._log_width = self._log_width.expand(batch_shape)
        return new

    def _hint_dims(self) -> tuple[Any, ...]:
        return (self.event_shape[-1],)

    @classmethod
    def _class_hint(cls, shape: Shape, batch: Shape, extra: Shape) -> str | None:
        (act,) = extra
        if shape and ends_with(shape, batch) and act != 1:
            return (
                f"`value` lacks the action axis ({act},): a Beta scores whole action vectors, "
                f"one per batch element (log_prob sums over the action axis)"
            )
        return None

    def _support_hint(self) -> str:
        if self.low is None:
            return "a Beta's values lie in [0, 1]; pass low= and high= for other bounds"
        return "actions lie in [low, high] of this Beta: pass actions in the environment's units"
