"""Target networks: Polyak averaging of one module's parameters into another's."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from shapesafe._format import error, fmt_shape
from shapesafe.errors import ShapeError
from shapesafe.rl._args import in_unit_interval
from shapesafe.torch_safety._arguments import require_module

__all__ = ["polyak_update"]


@torch.no_grad()
def polyak_update(target: nn.Module, source: nn.Module, tau: Any = 0.005) -> None:
    """Move ``target``'s parameters towards ``source``'s: ``θ' ← (1 - τ) θ' + τ θ``
    (``tau=1`` copies). Buffers (e.g. batch-norm statistics) are copied as they are.

    The two modules must have the same parameters by name and shape -- a target built
    from another config would otherwise be averaged with whatever zip() pairs up. Every
    check happens before anything is written.

    Examples:
        >>> import torch
        >>> from shapesafe.rl import polyak_update
        >>> q, q_target = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
        >>> polyak_update(q_target, q, tau=1.0)
        >>> torch.equal(q.weight, q_target.weight)
        True
    """
    require_module(target, "polyak_update", argument="target")
    require_module(source, "polyak_update", argument="source")
    t = in_unit_interval(tau, "polyak_update", "tau", open_low=True)
    pairs = []
    for kind, mine, theirs in (
        ("parameter", dict(target.named_parameters()), dict(source.named_parameters())),
        ("buffer", dict(target.named_buffers()), dict(source.named_buffers())),
    ):
        if mine.keys() != theirs.keys():
            extra = sorted(mine.keys() - theirs.keys())
            missing = sorted(theirs.keys() - mine.keys())
            raise error(
                ShapeError,
                f"target and source have different {kind}s: only in target "
                f"{extra or 'none'}, only in source {missing or 'none'}",
                function="polyak_update",
                argument="target",
                expected=f"the source's {kind} names",
                got=f"{len(extra)} extra, {len(missing)} missing",
                hint="build the target network with the same constructor arguments",
            )
        for name, p in mine.items():
            q = theirs[name]
            if p.shape != q.shape:
                raise error(
                    ShapeError,
                    f"{kind} `{name}` has shape {fmt_shape(p.shape)} in target and "
                    f"{fmt_shape(q.shape)} in source",
                    function="polyak_update",
                    argument="target",
                    expected=fmt_shape(q.shape),
                    got=fmt_shape(p.shape),
                )
            pairs.append((kind, p, q))
    for kind, p, q in pairs:
        if kind == "parameter" and t < 1.0 and p.is_floating_point():
            p.lerp_(q.to(p.dtype), t)
        else:
            p.copy_(q)
