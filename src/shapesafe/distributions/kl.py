"""``kl_divergence(p, q)`` between two checked distributions of one class.

torch's KL functions broadcast: ``p`` with batch ``(B,)`` against ``q`` with batch
``(B, 1)`` gives a ``(B, B)`` table, and two Categoricals with 4 and 1 categories give a
KL of the right shape and a meaningless value (the single probability column is
broadcast against four). The registered functions here check first -- equal event
shapes, equal event *sizes* (categories), and equal batch shapes unless one of them is
``()`` (a fixed prior shared by the whole batch) -- and then call torch's own KL.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.distributions import Bernoulli as _TorchBernoulli
from torch.distributions import Categorical as _TorchCategorical
from torch.distributions import Distribution, Independent
from torch.distributions import MultivariateNormal as _TorchMultivariateNormal
from torch.distributions import Normal as _TorchNormal

from shapesafe._config import STATE
from shapesafe._format import error, fmt_shape, plural
from shapesafe.distributions._shapes import broadcast_shapes, ints
from shapesafe.distributions.categorical import Bernoulli, Categorical
from shapesafe.distributions.multi_categorical import MultiCategorical
from shapesafe.distributions.mvn import MultivariateNormal
from shapesafe.distributions.normal import DiagNormal, Normal
from shapesafe.errors import ShapeError


def _event_size_error(p: Distribution, q: Distribution) -> ShapeError | None:
    """Categoricals: the category axis is not part of the event shape, check it here."""
    if isinstance(p, _TorchCategorical) and isinstance(q, _TorchCategorical):
        kp, kq = int(p._num_events), int(q._num_events)
        if kp != kq:
            return error(
                ShapeError,
                f"`p` has {plural(kp, 'category', 'categories')} but `q` has {kq}; they must "
                f"be equal (plain torch would broadcast the probabilities and return a "
                f"meaningless KL)",
                function="kl_divergence",
                argument="q",
                expected=plural(kp, "category", "categories"),
                got=plural(kq, "category", "categories"),
                hint="both distributions must be over the same set of actions: check the "
                "size of the logits' last axis (e.g. a head built for another action space)",
            )
    return None


def _shape_error(p: Distribution, q: Distribution) -> ShapeError | None:
    pb, qb = ints(p.batch_shape), ints(q.batch_shape)
    pe, qe = ints(p.event_shape), ints(q.event_shape)
    if pe != qe:
        return error(
            ShapeError,
            f"`p` has event_shape {fmt_shape(pe)} but `q` has event_shape {fmt_shape(qe)}; "
            f"they must be equal",
            function="kl_divergence",
            argument="q",
            expected=fmt_shape(pe),
            got=fmt_shape(qe),
            hint="both distributions must be over the same space (check the action dimension)",
        )
    if pb == qb or not pb or not qb:
        return _event_size_error(p, q)  # equal, or one shared by the whole batch (a prior)
    summary = (
        f"`p` has batch_shape {fmt_shape(pb)} but `q` has batch_shape {fmt_shape(qb)}; they "
        f"must be equal"
    )
    try:
        joint = broadcast_shapes(pb, qb)
        summary += f" (plain torch would broadcast them to a KL of shape {fmt_shape(joint)})"
    except RuntimeError:
        pass
    if len(qb) == len(pb) + 1 and qb[-1] == 1 and qb[:-1] == pb:
        hint = "`q`'s parameters have a trailing axis of size 1; squeeze them (.squeeze(-1))"
    elif len(pb) == len(qb) + 1 and pb[-1] == 1 and pb[:-1] == qb:
        hint = "`p`'s parameters have a trailing axis of size 1; squeeze them (.squeeze(-1))"
    else:
        hint = f"build both from the same minibatch, or broadcast on purpose with q.expand({pb})"
    return error(
        ShapeError,
        summary,
        function="kl_divergence",
        argument="q",
        expected=fmt_shape(pb),
        got=fmt_shape(qb),
        hint=hint,
    )


def _register(cls: type[Distribution], torch_cls: type[Distribution]) -> None:
    torch_kl: Any = torch.distributions.kl._dispatch_kl(torch_cls, torch_cls)  # type: ignore[no-untyped-call]

    def checked_kl(p: Distribution, q: Distribution) -> Tensor:
        if STATE.enabled:
            err = _shape_error(p, q)
            if err is not None:
                raise err
        out: Tensor = torch_kl(p, q)
        return out

    torch.distributions.kl.register_kl(cls, cls)(checked_kl)  # type: ignore[no-untyped-call]


for _cls, _torch_cls in (
    (Normal, _TorchNormal),
    (DiagNormal, Independent),
    (MultivariateNormal, _TorchMultivariateNormal),
    (Categorical, _TorchCategorical),
    (Bernoulli, _TorchBernoulli),
):
    _register(_cls, _torch_cls)


def _nvec_error(p: MultiCategorical, q: MultiCategorical) -> ShapeError | None:
    if p.nvec == q.nvec:
        return None
    return error(
        ShapeError,
        f"`p` has sub-actions nvec {list(p.nvec)} but `q` has nvec {list(q.nvec)}; they must "
        f"be equal",
        function="kl_divergence",
        argument="q",
        expected=f"nvec {list(p.nvec)}",
        got=f"nvec {list(q.nvec)}",
        hint="both distributions must be over the same MultiDiscrete action space",
    )


@torch.distributions.kl.register_kl(MultiCategorical, MultiCategorical)  # type: ignore[untyped-decorator,no-untyped-call]
def _kl_multi_categorical(p: MultiCategorical, q: MultiCategorical) -> Tensor:
    """The sum over sub-actions of their Categoricals' KL (masks respected: +inf where
    ``p`` allows a choice that ``q`` forbids)."""
    if STATE.enabled:
        err = _shape_error(p, q) or _nvec_error(p, q)
        if err is not None:
            raise err
    terms = [
        torch.distributions.kl_divergence(a, b)  # type: ignore[no-untyped-call]
        for a, b in zip(p._parts, q._parts, strict=True)
    ]
    return torch.stack(terms, -1).sum(-1)
