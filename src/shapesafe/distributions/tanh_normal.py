"""The squashed Gaussian of SAC: ``tanh`` of a diagonal Gaussian sample.

Actions stored in a replay buffer are often clipped to exactly +-1, where
``atanh`` is infinite and torch's ``TransformedDistribution.log_prob`` returns NaN
(``-inf - -inf``). :meth:`TanhNormal.log_prob` clamps the value to ``+-(1 - eps)``
first (:attr:`TanhNormal.eps`, at least the dtype's own epsilon) and uses the stable
``log(1 - tanh(x)^2) = 2 * (log 2 - x - softplus(-2x))``, so the result is finite
everywhere on ``[-1, 1]`` and bit-identical to torch's inside ``(-1 + eps, 1 - eps)``.

With ``low=`` / ``high=`` (the environment's action bounds) the squashed sample is mapped
affinely onto ``[low, high]``: ``a = c + s * tanh(x)`` with ``c = (high + low) / 2``,
``s = (high - low) / 2``. ``log_prob`` maps a value back the same way before the clamp
(so actions exactly at the bounds stay finite) and subtracts ``sum(log s)``, the
log-Jacobian of the affine map; inside the bounds it equals torch's
``TransformedDistribution(Normal, [TanhTransform, AffineTransform])``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.distributions import Independent, TransformedDistribution
from torch.distributions import Normal as _TorchNormal
from torch.distributions.transforms import AffineTransform, TanhTransform

from shapesafe._config import STATE
from shapesafe.distributions._base import ValueDtype, no_closed_form, no_entropy, raise_
from shapesafe.distributions._bounds import (
    bounded_support,
    check_bound_shapes,
    check_bound_values,
    to_bounds,
)
from shapesafe.distributions.normal import VectorLocScale


def _no_mean(name: str) -> Any:
    return no_closed_form(
        name,
        "mean",
        "use .mode (tanh(loc)) for the deterministic action, or a Monte Carlo estimate "
        "rsample((n,)).mean(0)",
        prop=True,
    )


class TanhNormal(VectorLocScale, TransformedDistribution):
    """A squashed Gaussian (SAC's policy): ``tanh`` of a :class:`DiagNormal` sample.

    ``batch_shape == loc.shape[:-1]``, ``event_shape == (dim,)``, values in ``[-1, 1]``.
    ``log_prob`` includes the log-det-Jacobian of ``tanh`` (the stable
    ``2 * (log 2 - x - softplus(-2x))``), summed over the event axis, and is finite for
    actions exactly at +-1 (they are clamped to ``+-(1 - eps)``, see :attr:`eps`). The
    transform caches its last input, so ``log_prob(a)`` of an ``a`` just drawn by
    ``rsample`` uses the pre-tanh value instead of ``atanh(a)``. ``mode`` is
    ``tanh(loc)``; ``mean`` and ``entropy()`` have no closed form and say so (use
    :meth:`entropy_estimate`).

    ``low`` / ``high`` (numbers, or arrays/tensors of shape ``(dim,)`` or the full
    ``batch_shape + event_shape``, e.g. ``env.action_space.low``): actions in
    ``[low, high]`` instead of ``[-1, 1]``; ``mode`` is then ``c + s * tanh(loc)`` and
    ``log_prob`` includes the affine map's log-Jacobian ``-sum(log s)``, finite at the
    bounds (see the module docstring).

    >>> import torch
    >>> from shapesafe.distributions import TanhNormal
    >>> pi = TanhNormal(torch.zeros(8, 2), torch.ones(8, 2))
    >>> a = pi.rsample()
    >>> pi.log_prob(a).shape, bool(a.abs().max() < 1)
    (torch.Size([8]), True)
    >>> bool(pi.log_prob(torch.ones(8, 2)).isfinite().all())
    True
    >>> low, high = torch.tensor([-2.0, -2.0]), torch.tensor([2.0, 4.0])
    >>> env_pi = TanhNormal(torch.zeros(8, 2), torch.ones(8, 2), low=low, high=high)
    >>> env_pi.mode[0], bool(env_pi.log_prob(high.expand(8, 2)).isfinite().all())
    (tensor([0., 1.]), True)
    """

    #: values are clamped to ``+-(1 - eps)`` before ``atanh`` (or the dtype's epsilon,
    #: if larger: float16 cannot hold ``1 - 1e-6``)
    eps: ClassVar[float] = 1e-6
    _value_dtype: ClassVar[ValueDtype | None] = ValueDtype(
        floats=True,
        integers=False,
        bools=False,
        expected="floats in [-1, 1]",
        hint="value.float() (integer actions for a squashed Gaussian are usually a discrete "
        "action passed to a continuous policy)",
    )
    base_dist: Independent[_TorchNormal]
    #: the action bounds as tensors (``None``: ``[-1, 1]``)
    low: Tensor | None = None
    high: Tensor | None = None
    _log_half: Tensor  # sum(log s) over the event axis, batch_shape
    _affine: AffineTransform  # [-1, 1] -> [low, high], when bounded

    def __init__(
        self,
        loc: Tensor | float,
        scale: Tensor | float,
        validate_args: bool | None = None,
        *,
        low: Any = None,
        high: Any = None,
        broadcast: bool = False,
    ) -> None:
        low, high = to_bounds(type(self).__name__, low, high, (loc, scale))
        values = {"loc": loc, "scale": scale, "low": low, "high": high}
        self._init_checked(values, validate_args, broadcast)

    def _check_more_shapes(self, values: dict[str, Any]) -> None:
        check_bound_shapes(type(self).__name__, values, ("loc", "scale"))

    def _check_more_values(self, values: dict[str, Any]) -> None:
        check_bound_values(type(self).__name__, values["low"], values["high"])

    def _build(self, values: dict[str, Any], validate_args: bool | None, broadcast: bool) -> None:
        normal = _TorchNormal(values["loc"], values["scale"], validate_args=validate_args)
        base = Independent(normal, 1, validate_args=validate_args)
        transforms: list[Any] = [TanhTransform(cache_size=1)]
        low, high = self.low, self.high = values["low"], values["high"]
        if low is not None and high is not None:
            center, half = (high + low) / 2, (high - low) / 2
            self._affine = AffineTransform(center, half, event_dim=1, cache_size=1)
            transforms.append(self._affine)
            full = normal.loc.shape  # batch_shape + event_shape
            self._log_half = torch.log(half).expand(full).sum(-1)
        TransformedDistribution.__init__(self, base, transforms, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Any:
        new = super().expand(batch_shape, _instance)
        new.low, new.high = self.low, self.high
        if self.low is not None:
            new._affine = new.transforms[1]
            new._log_half = self._log_half.expand(batch_shape)
        return new

    def _pre_tanh(self, y: Tensor) -> Tensor:
        """``atanh(y)``: the cached pre-tanh value if ``y`` was just drawn, else
        ``atanh`` of ``y`` clamped to ``+-(1 - eps)``."""
        transform = self.transforms[0]
        x_cached, y_cached = transform._cached_x_y
        if y is y_cached:
            return x_cached  # type: ignore[no-any-return]
        bound = 1.0 - max(self.eps, torch.finfo(y.dtype).eps)
        return torch.atanh(y.clamp(-bound, bound))

    def _unit(self, value: Tensor) -> Tensor:
        """An action in ``[low, high]`` mapped back to ``[-1, 1]`` (the cached
        pre-image if ``value`` was just drawn)."""
        u_cached, a_cached = self._affine._cached_x_y
        if value is a_cached:
            return u_cached  # type: ignore[no-any-return]
        out: Tensor = (value - self._affine.loc) / self._affine.scale
        return out

    def log_prob(self, value: Tensor) -> Tensor:
        """Log-density of actions ``value`` in ``[-1, 1]`` of shape
        ``sample_shape + batch_shape + event_shape``; returns ``sample_shape +
        batch_shape``, finite at +-1."""
        if STATE.enabled:
            self._check_value(value, "log_prob")
            if 0 in value.shape[: value.dim() - 1]:
                return self._empty_result(value)
        if self._validate_args:
            self._validate_sample(value)
        unit = value if self.low is None else self._unit(value)
        x = self._pre_tanh(unit)
        jacobian = self.transforms[0].log_abs_det_jacobian(x, unit).sum(-1)  # type: ignore[no-untyped-call]
        out: Tensor = self.base_dist.log_prob(x) - jacobian  # type: ignore[no-untyped-call]
        if self.low is not None:
            out = out - self._log_half
        return out

    @property
    def support(self) -> Any:
        """``[-1, 1]`` per coordinate, or ``[low, high]`` (up to rounding) with bounds."""
        if self.low is None or self.high is None:
            return super().support
        return bounded_support(self.low, self.high)

    @property
    def _normal(self) -> _TorchNormal:
        return self.base_dist.base_dist

    @property
    def mode(self) -> Tensor:
        """``tanh(loc)`` (mapped onto ``[low, high]`` with bounds): the deterministic
        action, the image of the Gaussian's mode."""
        if self.low is None:
            return torch.tanh(self.loc)
        # not self._affine(...): a call would overwrite the cache that rsample left
        out: Tensor = self._affine.loc + self._affine.scale * torch.tanh(self.loc)
        return out

    @property
    def mean(self) -> Tensor:
        """No closed form: raises :class:`~shapesafe.UsageError` naming the alternatives."""
        if not STATE.enabled:
            return super().mean  # torch's NotImplementedError
        raise_(_no_mean, type(self).__name__)
        raise AssertionError  # unreachable: raise_ raises

    def entropy(self) -> Tensor:
        """No closed form: raises :class:`~shapesafe.UsageError`; use
        :meth:`entropy_estimate`."""
        if not STATE.enabled:
            return super().entropy()  # torch's NotImplementedError
        raise_(no_entropy, type(self).__name__, "rsample")
        raise AssertionError  # unreachable: raise_ raises

    def _support_hint(self) -> str:
        if self.low is not None:
            return (
                "actions lie in [low, high] of this TanhNormal: pass actions in the "
                "environment's units (not rescaled to [-1, 1])"
            )
        return (
            "a TanhNormal's values lie in [-1, 1]; rescale actions from the environment's "
            "bounds first: a = 2 * (a - low) / (high - low) - 1"
        )
