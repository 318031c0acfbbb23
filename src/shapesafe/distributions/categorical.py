"""Distributions over classes and yes/no outcomes: :class:`Categorical`, :class:`Bernoulli`.

A Categorical may carry a legal-action mask (``True`` = legal). Masking is done once, in
the parameters: masked logits become ``-inf`` (masked probabilities ``0``), so every
torch method -- ``log_prob``, ``sample``, ``entropy``, ``mode``, ``kl_divergence`` --
sees a distribution whose illegal actions have probability exactly zero. torch derives
``logits`` from ``probs`` by clamping at the dtype's epsilon (``log(eps)``, not
``-inf``), so with ``probs=`` the masked logits are set explicitly.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.distributions import Bernoulli as _TorchBernoulli
from torch.distributions import Categorical as _TorchCategorical

from shapesafe.distributions._base import Checked, ValueDtype
from shapesafe.distributions._constraints import (
    LegalRows,
    LogitRows,
    ProbabilityRows,
    Real,
    UnitInterval,
    check_legal_mass,
)
from shapesafe.distributions._params import Param, Table
from shapesafe.distributions._shapes import ends_with
from shapesafe.distributions._values import Shape

_YES_NO = "for a yes/no variable use Bernoulli"


class Categorical(Checked, _TorchCategorical):
    """A distribution over ``K`` classes: ``probs``/``logits`` of shape ``(*batch, K)``,
    ``batch_shape == (*batch,)``, ``event_shape == ()``.

    ``log_prob`` takes **integer class indices** of shape ``sample_shape + batch_shape``
    (not one-hot vectors, not floats, not ``(B, 1)``).

    ``mask`` (optional, bool, the shape of ``probs``/``logits``, ``True`` = legal) is an
    action mask: illegal actions get probability exactly 0 (``log_prob`` ``-inf``), are
    never sampled nor chosen by ``mode``, and add nothing to ``entropy()`` (finite).
    ``probs`` and ``logits`` show the masked distribution. A row with no legal action is
    refused (with ``validate_args``). ``broadcast=True`` lets the mask and the parameter
    broadcast against each other (a mask shared by the whole batch).

    >>> import torch
    >>> from shapesafe.distributions import Categorical
    >>> pi = Categorical(logits=torch.zeros(64, 4))
    >>> pi.log_prob(torch.zeros(64, dtype=torch.long)).shape
    torch.Size([64])
    >>> legal = Categorical(logits=torch.zeros(1, 3), mask=torch.tensor([[True, False, True]]))
    >>> legal.probs
    tensor([[0.5000, 0.0000, 0.5000]])
    """

    _table: ClassVar[Table] = (
        Param("probs", ("K",), ProbabilityRows(), one_of="param", rank_hint=_YES_NO),
        Param("logits", ("K",), LogitRows(), one_of="param", rank_hint=_YES_NO),
        Param("mask", ("K",), LegalRows(), boolean=True, optional=True),
    )
    #: the legal-action mask as given (``None``: every action is legal)
    mask: Tensor | None
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
        *,
        mask: Tensor | None = None,
        broadcast: bool = False,
    ) -> None:
        values = {"probs": probs, "logits": logits, "mask": mask}
        self._init_checked(values, validate_args, broadcast)

    def _check_more_values(self, values: dict[str, Any]) -> None:
        mask = values["mask"]
        if mask is None:
            return
        fn = type(self).__name__
        if values["logits"] is not None:
            masked = torch.where(mask, values["logits"], -math.inf)
            check_legal_mass(fn, "logits", masked, logits=True)
        else:
            check_legal_mass(fn, "probs", torch.where(mask, values["probs"], 0.0), logits=False)

    def _build(self, values: dict[str, Any], validate_args: bool | None, broadcast: bool) -> None:
        probs, logits, mask = values["probs"], values["logits"], values["mask"]
        if mask is not None:
            if logits is not None:
                logits = torch.where(mask, logits, -math.inf)
            else:
                probs = torch.where(mask, probs, 0.0)
        _TorchCategorical.__init__(self, probs, logits, validate_args=validate_args)
        if mask is not None and probs is not None:
            # torch's logits from probs are log(clamp(probs, eps)): finite where masked
            self.logits = torch.where(mask, self.logits, -math.inf)
        self.mask = mask

    def expand(self, batch_shape: Any, _instance: Any = None) -> Any:
        new = super().expand(batch_shape, _instance)
        mask = self.mask
        new.mask = None if mask is None else mask.expand(*batch_shape, self._num_events)
        return new

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
