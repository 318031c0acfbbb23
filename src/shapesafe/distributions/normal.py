"""Gaussians with a (loc, scale) pair: :class:`Normal` over scalars, :class:`DiagNormal`
over vectors. Both take the same parameter table (:data:`LOC_SCALE`); they differ in how
many trailing axes form one event."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor
from torch.distributions import Independent
from torch.distributions import Normal as _TorchNormal

from shapesafe._config import STATE
from shapesafe.distributions._base import REAL_VALUES, Checked, ValueDtype
from shapesafe.distributions._constraints import Positive, Real
from shapesafe.distributions._params import Param, Table

#: ``loc`` and ``scale``, elementwise, each a tensor or a Python number
LOC_SCALE: Table = (
    Param("loc", constraint=Real(), scalar_ok=True),
    Param("scale", constraint=Positive("a standard deviation"), scalar_ok=True),
)


class LocScale(Checked):
    """The constructor shared by the Gaussians parameterized by ``(loc, scale)``."""

    _table: ClassVar[Table] = LOC_SCALE
    _value_dtype: ClassVar[ValueDtype | None] = REAL_VALUES

    def __init__(
        self,
        loc: Tensor | float,
        scale: Tensor | float,
        validate_args: bool | None = None,
        *,
        broadcast: bool = False,
    ) -> None:
        self._init_checked({"loc": loc, "scale": scale}, validate_args, broadcast)


class VectorLocScale(LocScale):
    """A ``(loc, scale)`` Gaussian over vectors, built around a torch ``Normal``."""

    _event_rank: ClassVar[int] = 1

    @property
    def _normal(self) -> _TorchNormal:
        raise NotImplementedError

    @property
    def loc(self) -> Tensor:
        """Mean of the Gaussian (before any squashing), ``batch_shape + event_shape``."""
        return self._normal.loc

    @property
    def scale(self) -> Tensor:
        """Standard deviation per coordinate (before any squashing)."""
        return self._normal.scale


class Normal(LocScale, _TorchNormal):
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
    shapesafe.ShapeError: Normal.log_prob(): argument `value` axis 1: expected size 4 ...
    """

    _event_rank: ClassVar[int] = 0

    def _build(self, values: dict[str, Any], validate_args: bool | None, broadcast: bool) -> None:
        _TorchNormal.__init__(self, values["loc"], values["scale"], validate_args=validate_args)

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


class DiagNormal(VectorLocScale, Independent[_TorchNormal]):
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

    # Independent.log_prob leaves validation to its base, which is built without it
    # (validating there too would cost a second pass): the base class validates once.
    _torch_validates: ClassVar[bool] = False

    def _build(self, values: dict[str, Any], validate_args: bool | None, broadcast: bool) -> None:
        base = _TorchNormal(values["loc"], values["scale"], validate_args=validate_args)
        Independent.__init__(self, base, 1, validate_args=validate_args)

    @property
    def _normal(self) -> _TorchNormal:
        return self.base_dist

    @property
    def stddev(self) -> Tensor:
        return self.base_dist.stddev
