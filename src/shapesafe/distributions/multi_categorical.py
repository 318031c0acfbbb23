"""Independent categorical sub-actions: :class:`MultiCategorical`, for gymnasium's
``MultiDiscrete([n1, n2, ...])``.

One network head outputs the logits of every sub-action side by side, ``(*batch,
sum(nvec))``; the class splits them into ``len(nvec)`` torch Categoricals and scores a
whole action vector at once. Splitting by hand is where RL code goes wrong: a ``(B, D)``
action scored against a list of Categoricals one column at a time is fine, but summing
the per-dimension log-probs over the wrong axis, or feeding ``(B, 1)`` columns (which
broadcast to ``(B, B)``), gives numbers of the right magnitude and the wrong meaning.
Here ``log_prob`` takes the ``(…, D)`` action exactly and returns one number per action.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.distributions import Categorical as _TorchCategorical
from torch.distributions import Distribution, constraints
from torch.types import _size

from shapesafe._config import STATE
from shapesafe._format import error, fmt_index, fmt_shape, fmt_value
from shapesafe.distributions._base import Checked, ValueDtype, raise_
from shapesafe.distributions._constraints import Real
from shapesafe.distributions._params import Param, Table
from shapesafe.distributions._shapes import ends_with, first_bad, ints
from shapesafe.distributions._values import Shape
from shapesafe.errors import DtypeError, ShapeError, ShapesafeError, UsageError

_EMPTY = torch.Size()


def _nvec_error(fn: str, summary: str, got: str) -> UsageError:
    return error(
        UsageError,
        summary,
        function=fn,
        argument="nvec",
        expected="a non-empty sequence of positive ints (action_space.nvec)",
        got=got,
        hint="pass the sizes of the sub-actions: nvec=env.action_space.nvec",
    )


def _as_nvec(fn: str, nvec: Any) -> tuple[int, ...]:
    """``nvec`` (a list, tuple, 1-D array or tensor of positive ints) as a tuple."""
    if isinstance(nvec, Tensor) or hasattr(nvec, "tolist"):
        nvec = nvec.tolist()
    if not isinstance(nvec, Sequence) or isinstance(nvec, str) or not nvec:
        summary = f"must be a non-empty sequence of ints, got {fmt_value(nvec)}"
        raise _nvec_error(fn, summary, repr(nvec))
    for i, n in enumerate(nvec):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise _nvec_error(fn, f"nvec[{i}] = {n!r} is not a positive int", repr(list(nvec)))
    return tuple(nvec)


def _sum_error(fn: str, nvec: tuple[int, ...], logits: Tensor) -> ShapeError:
    shape = ints(logits.shape)
    total = sum(nvec)
    return error(
        ShapeError,
        f"has {shape[-1]} entries in its last axis, but nvec {list(nvec)} needs "
        f"sum(nvec) = {total}",
        function=fn,
        argument="logits",
        axis=len(shape) - 1,
        expected=f"(*batch, {total})",
        got=fmt_shape(shape),
        hint="one logit per choice of every sub-action, side by side: the head's output "
        "size must be sum(action_space.nvec)",
    )


def _part_error(fn: str, i: int, part: Any, first: Any) -> ShapesafeError:
    if not isinstance(part, Tensor):
        return error(
            DtypeError,
            f"logits[{i}] must be a torch.Tensor, got {fmt_value(part)}",
            function=fn,
            argument="logits",
            expected="a list of tensors (*batch, n_i)",
            got=type(part).__name__,
            hint="pass the per-sub-action logits as tensors, or one tensor with nvec=",
        )
    return error(
        ShapeError,
        f"logits[{i}] has shape {fmt_shape(ints(part.shape))}, but logits[0] has "
        f"{fmt_shape(ints(first.shape))}: every sub-action's logits need the same batch "
        f"axes, (*batch, n_i)",
        function=fn,
        argument="logits",
        expected="(" + ", ".join([*map(str, ints(first.shape[:-1])), f"n_{i}"]) + ")",
        got=fmt_shape(ints(part.shape)),
        hint="build every head from the same observation batch",
    )


class MultiCategorical(Checked, Distribution):
    """Independent categorical sub-actions (gymnasium ``MultiDiscrete(nvec)``).

    ``logits`` has shape ``(*batch, sum(nvec))``: the logits of sub-action ``i`` are the
    ``nvec[i]`` entries after those of the sub-actions before it. Or pass a list of
    per-sub-action logits ``[(*batch, n_0), (*batch, n_1), ...]`` and leave ``nvec``
    out. ``batch_shape == (*batch,)``, ``event_shape == (len(nvec),)``.

    ``log_prob`` takes integer actions ``(*sample, *batch, len(nvec))`` and returns the
    sum over sub-actions of their log-probabilities; ``entropy()`` is the sum of theirs;
    ``sample`` draws int64 actions of that shape; ``mode`` picks each sub-action's most
    likely choice. ``mask`` (optional, bool, ``(*batch, sum(nvec))``, ``True`` = legal)
    masks choices of every sub-action, as in :class:`Categorical`; every sub-action
    needs a legal choice in every row.

    >>> import torch
    >>> from shapesafe.distributions import MultiCategorical
    >>> pi = MultiCategorical(torch.zeros(8, 5), nvec=[3, 2])
    >>> pi.batch_shape, pi.event_shape
    (torch.Size([8]), torch.Size([2]))
    >>> a = pi.sample()
    >>> a.shape, pi.log_prob(a).shape
    (torch.Size([8, 2]), torch.Size([8]))
    >>> round(float(pi.entropy()[0]), 4)  # log 3 + log 2
    1.7918
    """

    _table: ClassVar[Table] = (
        Param("logits", ("N",), Real(), rank_hint="logits are (*batch, sum(nvec))"),
        Param("mask", ("N",), boolean=True, optional=True),  # checked per sub-action
    )
    _event_rank: ClassVar[int] = 1
    _value_dtype: ClassVar[ValueDtype | None] = ValueDtype(
        floats=False,
        integers=True,
        bools=False,
        expected="integer sub-action indices",
        hint="value.long() (torch would truncate floats silently: 0.999 -> 0)",
    )
    _torch_validates: ClassVar[bool] = False
    arg_constraints: ClassVar[dict[str, Any]] = {}
    has_enumerate_support = False

    #: the number of choices of each sub-action
    nvec: tuple[int, ...]
    #: the legal-action mask as given (``None``: every choice is legal)
    mask: Tensor | None
    _parts: list[_TorchCategorical]

    def __init__(
        self,
        logits: Tensor | Sequence[Tensor],
        nvec: Sequence[int] | Any = None,
        validate_args: bool | None = None,
        *,
        mask: Tensor | None = None,
    ) -> None:
        fn = type(self).__name__
        if isinstance(logits, (list, tuple)):
            given = None if nvec is None else _as_nvec(fn, nvec)
            logits = self._join(fn, list(logits))
            nvec = tuple(int(p) for p in self._widths)
            if given is not None and given != nvec:
                raise _nvec_error(
                    fn,
                    f"nvec {list(given)} disagrees with the logits' sizes {list(nvec)}",
                    repr(list(given)),
                )
        elif nvec is None:
            raise _nvec_error(fn, "is needed with a single logits tensor", "None")
        self.nvec = _as_nvec(fn, nvec)
        self._init_checked({"logits": logits, "mask": mask}, validate_args, False)

    def _join(self, fn: str, parts: list[Any]) -> Any:
        """Per-sub-action logits as one ``(*batch, sum(n))`` tensor."""
        if not parts:
            raise _nvec_error(fn, "logits is an empty list", "[]")
        for i, part in enumerate(parts):
            if not isinstance(part, Tensor) or part.dim() < 1:
                raise _part_error(fn, i, part, parts[0])
            if i and part.shape[:-1] != parts[0].shape[:-1]:
                raise_(_part_error, fn, i, part, parts[0])
        self._widths = [p.shape[-1] for p in parts]
        return torch.cat(parts, -1)

    # -- construction ----------------------------------------------------------------
    def _check_more_shapes(self, values: dict[str, Any]) -> None:
        logits = values["logits"]
        if logits.shape[-1] != sum(self.nvec):
            raise_(_sum_error, type(self).__name__, self.nvec, logits)

    def _check_more_values(self, values: dict[str, Any]) -> None:
        # every sub-action of every row needs a legal choice with a finite logit
        fn = type(self).__name__
        for i, (part, legal) in enumerate(self._split(values["logits"], values["mask"])):
            if part.numel() == 0:
                continue
            masked = part if legal is None else torch.where(legal, part, -math.inf)
            lse = masked.logsumexp(-1)
            if bool(torch.isfinite(lse).all()):
                continue
            row = first_bad(~torch.isfinite(lse).reshape(part.shape[:-1]))
            head = f"sub-action {i} (nvec[{i}] = {self.nvec[i]}) of row"
            if legal is not None and not bool(legal[row].any()):
                arg, got, hint = "mask", "all False", "every sub-action needs a legal choice"
                summary = f"{head} {fmt_index('mask', row)} has no legal choice: all False"
            elif bool((part[row] == math.inf).any()):
                arg, got, hint = "logits", "+inf", "clamp the logits (mask with mask=, not +inf)"
                summary = f"{head} {fmt_index('logits', row)} contains +inf"
            else:
                arg, got = "logits", "every legal logit -inf"
                hint = "mask with mask=; the logits of a sub-action must not all be -inf"
                summary = (
                    f"{head} {fmt_index('logits', row)} gives no probability to any legal choice"
                )
            raise error(
                UsageError,
                summary,
                function=fn,
                argument=arg,
                expected="a legal choice with a finite logit for every sub-action",
                got=got,
                hint=hint,
            )

    def _split(self, x: Tensor, mask: Tensor | None) -> list[tuple[Tensor, Tensor | None]]:
        parts = x.split(self.nvec, -1)  # type: ignore[no-untyped-call]
        masks = [None] * len(parts) if mask is None else list(mask.split(self.nvec, -1))  # type: ignore[no-untyped-call]
        return list(zip(parts, masks, strict=True))

    def _build(self, values: dict[str, Any], validate_args: bool | None, broadcast: bool) -> None:
        logits, mask = values["logits"], values["mask"]
        self.mask = mask
        self._parts = [
            _TorchCategorical(
                logits=part if legal is None else torch.where(legal, part, -math.inf),
                validate_args=False,  # checked above (eager) or by the torch checks below
            )
            for part, legal in self._split(logits, mask)
        ]
        Distribution.__init__(
            self, logits.shape[:-1], torch.Size((len(self.nvec),)), validate_args=validate_args
        )

    # -- the distribution ------------------------------------------------------------
    @property
    def logits(self) -> Tensor:
        """Normalized log-probabilities of every choice, ``(*batch, sum(nvec))``
        (``-inf`` where masked)."""
        return torch.cat([p.logits for p in self._parts], -1)

    @property
    def probs(self) -> Tensor:
        """Probabilities of every choice, ``(*batch, sum(nvec))``; each sub-action's
        ``nvec[i]`` entries sum to 1."""
        return torch.cat([p.probs for p in self._parts], -1)

    @property
    def support(self) -> Any:
        """Sub-action ``i`` in ``[0, nvec[i] - 1]``."""
        upper = torch.tensor(self.nvec) - 1
        inner = constraints.integer_interval(0, upper)  # type: ignore[no-untyped-call]
        return constraints.independent(inner, 1)  # type: ignore[no-untyped-call]

    @property
    def mode(self) -> Tensor:
        """Each sub-action's most likely choice, ``(*batch, len(nvec))`` int64."""
        return torch.stack([p.probs.argmax(-1) for p in self._parts], -1)

    def _log_prob(self, value: Tensor) -> Tensor:
        terms = [p.log_prob(value[..., i]) for i, p in enumerate(self._parts)]  # type: ignore[no-untyped-call]
        return torch.stack(terms, -1).sum(-1)

    def log_prob(self, value: Tensor) -> Tensor:
        """Log-probability of whole actions ``(*sample, *batch, len(nvec))`` (integers):
        the sum over sub-actions; returns ``(*sample, *batch)``."""
        if not STATE.enabled:
            return self._log_prob(value)
        return self._checked_call("log_prob", self._log_prob, value)

    def entropy(self) -> Tensor:
        """The sum of the sub-actions' entropies, ``batch_shape`` (masked choices add 0)."""
        return torch.stack([p.entropy() for p in self._parts], -1).sum(-1)  # type: ignore[no-untyped-call]

    def sample(self, sample_shape: _size = _EMPTY) -> Tensor:
        """Draw int64 actions ``sample_shape + batch_shape + (len(nvec),)``."""
        with torch.no_grad():
            out = torch.stack([p.sample(sample_shape) for p in self._parts], -1)  # type: ignore[no-untyped-call]
        if STATE.enabled:
            self._check_sample(out, sample_shape, "sample")
        return out

    def expand(self, batch_shape: _size, _instance: Any = None) -> Any:
        """Same distribution with batch dims expanded to ``batch_shape`` (no copy)."""
        new = self.__new__(type(self)) if _instance is None else _instance
        shape = torch.Size(batch_shape)
        new.nvec = self.nvec
        new._parts = [p.expand(shape) for p in self._parts]  # type: ignore[no-untyped-call]
        new.mask = None if self.mask is None else self.mask.expand(*shape, sum(self.nvec))
        Distribution.__init__(new, shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        new._given = self._given
        new._finish()
        return new

    def _hint_dims(self) -> tuple[Any, ...]:
        return (len(self.nvec),)

    @classmethod
    def _class_hint(cls, shape: Shape, batch: Shape, extra: Shape) -> str | None:
        (d,) = extra
        if shape and ends_with(shape, batch) and d != 1:
            return (
                f"`value` lacks the sub-action axis: a MultiCategorical scores whole actions, "
                f"one index per sub-action, shape (*batch, {d}) (what env.step takes)"
            )
        return None

    def _support_hint(self) -> str:
        return f"sub-action i takes values in [0, nvec[i] - 1], nvec = {list(self.nvec)}"
