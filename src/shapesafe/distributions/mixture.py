"""A mixture of diagonal Gaussians over vectors."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor
from torch.distributions import Categorical as _TorchCategorical
from torch.distributions import Independent, MixtureSameFamily
from torch.distributions import Normal as _TorchNormal

from shapesafe._config import STATE
from shapesafe.distributions._base import REAL_VALUES, Checked, ValueDtype, no_entropy, raise_
from shapesafe.distributions._constraints import LogitRows, Positive, Real
from shapesafe.distributions._params import Param, Table
from shapesafe.distributions._shapes import broadcast_shapes


class GaussianMixture(Checked, MixtureSameFamily):
    """A mixture of ``K`` diagonal Gaussians over vectors (torch's ``MixtureSameFamily``).

    ``logits`` has shape ``(*batch, K)`` (mixture weights, unnormalized log-probs),
    ``locs`` and ``scales`` have shape ``(*batch, K, D)``: ``batch_shape == (*batch,)``,
    ``event_shape == (D,)``. Shapes must agree unless ``broadcast=True``. Sampling picks
    a component, a discrete choice: there is no ``rsample``, and ``entropy()`` has no
    closed form (use :meth:`entropy_estimate`); both say so.

    >>> import torch
    >>> from shapesafe.distributions import GaussianMixture
    >>> m = GaussianMixture(torch.zeros(16, 3), torch.randn(16, 3, 2), torch.ones(16, 3, 2))
    >>> m.batch_shape, m.event_shape, m.log_prob(m.sample()).shape
    (torch.Size([16]), torch.Size([2]), torch.Size([16]))
    """

    _table: ClassVar[Table] = (
        Param("logits", ("K",), LogitRows()),
        Param(
            "locs",
            ("K", "D"),
            Real(),
            rank_hint="for a mixture of 1-D Gaussians use locs.unsqueeze(-1) (D = 1)",
        ),
        Param("scales", ("K", "D"), Positive("standard deviations"), scalar_ok=True),
    )
    _event_rank: ClassVar[int] = 1
    _value_dtype: ClassVar[ValueDtype | None] = REAL_VALUES

    def __init__(
        self,
        logits: Tensor,
        locs: Tensor,
        scales: Tensor | float,
        validate_args: bool | None = None,
        *,
        broadcast: bool = False,
    ) -> None:
        values = {"logits": logits, "locs": locs, "scales": scales}
        self._init_checked(values, validate_args, broadcast)

    def _build(self, values: dict[str, Any], validate_args: bool | None, broadcast: bool) -> None:
        logits, locs, scales = values["logits"], values["locs"], values["scales"]
        if broadcast:  # the batch is broadcast up front, so that every part agrees
            batch = broadcast_shapes(logits.shape[:-1], locs.shape[:-2])
            if isinstance(scales, Tensor):
                batch = broadcast_shapes(batch, scales.shape[:-2])
            inner = broadcast_shapes(
                locs.shape[-2:], scales.shape[-2:] if isinstance(scales, Tensor) else ()
            )
            logits = logits.expand(*batch, logits.shape[-1])
            locs = locs.expand(*batch, *inner)
            if isinstance(scales, Tensor) and scales.dim() > 0:
                scales = scales.expand(*batch, *inner)
        mix = _TorchCategorical(logits=logits, validate_args=validate_args)
        normal = _TorchNormal(locs, scales, validate_args=validate_args)
        comp = Independent(normal, 1, validate_args=validate_args)
        MixtureSameFamily.__init__(self, mix, comp, validate_args=validate_args)

    @property
    def logits(self) -> Tensor:
        """Normalized mixture log-weights, shape ``batch_shape + (K,)``."""
        return self.mixture_distribution.logits

    @property
    def _normal(self) -> _TorchNormal:
        comp = self.component_distribution
        assert isinstance(comp, Independent)
        normal: _TorchNormal = comp.base_dist
        return normal

    @property
    def locs(self) -> Tensor:
        """Component means, shape ``batch_shape + (K, D)``."""
        return self._normal.loc

    @property
    def scales(self) -> Tensor:
        """Component standard deviations, shape ``batch_shape + (K, D)``."""
        return self._normal.scale

    def entropy(self) -> Tensor:
        """No closed form: raises :class:`~shapesafe.UsageError`; use
        :meth:`entropy_estimate`."""
        if not STATE.enabled:
            return super().entropy()  # torch's NotImplementedError
        raise_(no_entropy, type(self).__name__, "sample")
        raise AssertionError  # unreachable: raise_ raises
