"""Distributions over classes and yes/no outcomes: :class:`Categorical`, :class:`Bernoulli`."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor
from torch.distributions import Bernoulli as _TorchBernoulli
from torch.distributions import Categorical as _TorchCategorical

from shapesafe.distributions._base import Checked, ValueDtype
from shapesafe.distributions._constraints import LogitRows, ProbabilityRows, Real, UnitInterval
from shapesafe.distributions._params import Param, Table
from shapesafe.distributions._shapes import ends_with
from shapesafe.distributions._values import Shape

_YES_NO = "for a yes/no variable use Bernoulli"


class Categorical(Checked, _TorchCategorical):
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

    _table: ClassVar[Table] = (
        Param("probs", ("K",), ProbabilityRows(), one_of="param", rank_hint=_YES_NO),
        Param("logits", ("K",), LogitRows(), one_of="param", rank_hint=_YES_NO),
    )
    _event_rank: ClassVar[int] = 0
    _value_dtype: ClassVar[ValueDtype | None] = ValueDtype(
        floats=False,
        integers=True,
        bools=True,
        expected="integer class indices",
        hint="value.long() (torch would truncate floats silently: 0.999 -> 0)",
    )

    def __init__(
        self,
        probs: Tensor | None = None,
        logits: Tensor | None = None,
        validate_args: bool | None = None,
    ) -> None:
        self._init_checked({"probs": probs, "logits": logits}, validate_args, False)

    def _build(self, values: dict[str, Any], validate_args: bool | None, broadcast: bool) -> None:
        _TorchCategorical.__init__(
            self, values["probs"], values["logits"], validate_args=validate_args
        )

    def _hint_dims(self) -> tuple[Any, ...]:
        return (self._num_events,)

    @classmethod
    def _class_hint(cls, shape: Shape, batch: Shape, extra: Shape) -> str | None:
        (k,) = extra
        if k != 1 and ends_with(shape, (*batch, k)):
            return (
                f"`value` looks one-hot (its last axis has size {k}, the number of "
                f"categories); Categorical scores class indices: value.argmax(-1)"
            )
        return None

    def _support_hint(self) -> str:
        return f"class indices must lie in [0, {self._num_events - 1}]"


class Bernoulli(Checked, _TorchBernoulli):
    """A yes/no variable: ``probs``/``logits`` of any shape, ``batch_shape`` that shape,
    ``event_shape == ()``; ``log_prob`` takes floats 0.0/1.0 of shape
    ``sample_shape + batch_shape``.

    >>> import torch
    >>> from shapesafe.distributions import Bernoulli
    >>> Bernoulli(logits=torch.zeros(32)).log_prob(torch.ones(32)).shape
    torch.Size([32])
    """

    _table: ClassVar[Table] = (
        Param("probs", (), UnitInterval(), scalar_ok=True, one_of="param"),
        Param("logits", (), Real(), scalar_ok=True, one_of="param"),
    )
    _event_rank: ClassVar[int] = 0
    _value_dtype: ClassVar[ValueDtype | None] = ValueDtype(
        floats=True,
        integers=False,
        bools=False,
        expected="floats 0.0/1.0",
        hint="value.float()",
    )

    def __init__(
        self,
        probs: Tensor | float | None = None,
        logits: Tensor | float | None = None,
        validate_args: bool | None = None,
    ) -> None:
        self._init_checked({"probs": probs, "logits": logits}, validate_args, False)

    def _build(self, values: dict[str, Any], validate_args: bool | None, broadcast: bool) -> None:
        _TorchBernoulli.__init__(
            self, values["probs"], values["logits"], validate_args=validate_args
        )

    def _support_hint(self) -> str:
        return "Bernoulli values are 0.0 or 1.0"
