"""A Gaussian over vectors with a full covariance."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor
from torch.distributions import MultivariateNormal as _TorchMultivariateNormal

from shapesafe._config import STATE
from shapesafe.distributions._base import REAL_VALUES, Checked, ValueDtype
from shapesafe.distributions._constraints import LowerCholesky, PositiveDefinite, Real
from shapesafe.distributions._params import Param, Table


def _matrix(name: str, constraint: Any) -> Param:
    return Param(
        name,
        ("D", "D"),
        constraint,
        one_of="matrix",
        rank_hint=f"for a diagonal covariance use torch.diag_embed({name})",
        linalg=True,
    )


class MultivariateNormal(Checked, _TorchMultivariateNormal):
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

    _table: ClassVar[Table] = (
        Param(
            "loc",
            ("D",),
            Real(),
            rank_hint="for a Gaussian over single numbers use shapesafe.distributions.Normal",
        ),
        _matrix("covariance_matrix", PositiveDefinite()),
        _matrix("precision_matrix", PositiveDefinite()),
        _matrix("scale_tril", LowerCholesky()),
    )
    _event_rank: ClassVar[int] = 1
    _value_dtype: ClassVar[ValueDtype | None] = REAL_VALUES

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
        values = {
            "loc": loc,
            "covariance_matrix": covariance_matrix,
            "precision_matrix": precision_matrix,
            "scale_tril": scale_tril,
        }
        self._init_checked(values, validate_args, broadcast)

    def _build(self, values: dict[str, Any], validate_args: bool | None, broadcast: bool) -> None:
        try:
            _TorchMultivariateNormal.__init__(
                self,
                values["loc"],
                values["covariance_matrix"],
                values["precision_matrix"],
                values["scale_tril"],
                validate_args=validate_args,
            )
        except RuntimeError:  # torch.linalg.LinAlgError
            if not STATE.enabled:
                raise
            # validate_args=False skipped the value check, but torch factorizes the matrix
            # anyway: explain which one failed (the check finds it), as with validation on
            for name in ("covariance_matrix", "precision_matrix"):
                if values[name] is not None:
                    PositiveDefinite().check(type(self).__name__, name, values[name])
            raise
