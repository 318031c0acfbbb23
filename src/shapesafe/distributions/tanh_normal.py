"""The squashed Gaussian of SAC: ``tanh`` of a diagonal Gaussian sample.

Actions stored in a replay buffer are often clipped to exactly +-1, where
``atanh`` is infinite and torch's ``TransformedDistribution.log_prob`` returns NaN
(``-inf - -inf``). :meth:`TanhNormal.log_prob` clamps the value to ``+-(1 - eps)``
first (:attr:`TanhNormal.eps`, at least the dtype's own epsilon) and uses the stable
``log(1 - tanh(x)^2) = 2 * (log 2 - x - softplus(-2x))``, so the result is finite
everywhere on ``[-1, 1]`` and bit-identical to torch's inside ``(-1 + eps, 1 - eps)``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.distributions import Independent, TransformedDistribution
from torch.distributions import Normal as _TorchNormal
from torch.distributions.transforms import TanhTransform

from shapesafe._config import STATE
from shapesafe.distributions._base import ValueDtype, no_closed_form, no_entropy, raise_
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

    >>> import torch
    >>> from shapesafe.distributions import TanhNormal
    >>> pi = TanhNormal(torch.zeros(8, 2), torch.ones(8, 2))
    >>> a = pi.rsample()
    >>> pi.log_prob(a).shape, bool(a.abs().max() < 1)
    (torch.Size([8]), True)
    >>> bool(pi.log_prob(torch.ones(8, 2)).isfinite().all())
    True
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

    def _build(self, values: dict[str, Any], validate_args: bool | None, broadcast: bool) -> None:
        normal = _TorchNormal(values["loc"], values["scale"], validate_args=validate_args)
        base = Independent(normal, 1, validate_args=validate_args)
        transform = TanhTransform(cache_size=1)
        TransformedDistribution.__init__(self, base, [transform], validate_args=validate_args)

    def _pre_tanh(self, y: Tensor) -> Tensor:
        """``atanh(y)``: the cached pre-tanh value if ``y`` was just drawn, else
        ``atanh`` of ``y`` clamped to ``+-(1 - eps)``."""
        transform = self.transforms[0]
        x_cached, y_cached = transform._cached_x_y
        if y is y_cached:
            return x_cached  # type: ignore[no-any-return]
        bound = 1.0 - max(self.eps, torch.finfo(y.dtype).eps)
        return torch.atanh(y.clamp(-bound, bound))

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
        x = self._pre_tanh(value)
        jacobian = self.transforms[0].log_abs_det_jacobian(x, value).sum(-1)  # type: ignore[no-untyped-call]
        out: Tensor = self.base_dist.log_prob(x) - jacobian  # type: ignore[no-untyped-call]
        return out

    @property
    def _normal(self) -> _TorchNormal:
        return self.base_dist.base_dist

    @property
    def mode(self) -> Tensor:
        """``tanh(loc)``: the deterministic action (the image of the Gaussian's mode)."""
        return torch.tanh(self.loc)

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
        return (
            "a TanhNormal's values lie in [-1, 1]; rescale actions from the environment's "
            "bounds first: a = 2 * (a - low) / (high - low) - 1"
        )
