"""DAgger's data: the initial demonstrations made part of the aggregate, and the
aggregate grown by one iteration's rows.

The aggregate's invariants (checked by the property tests): rows are never lost,
duplicated or reordered; each episode keeps one id, ids are ``0..E-1`` and never reused
across iterations; every row carries the ``iteration`` that collected it and whether
the expert's action was executed there (``expert_acted``).
"""

from __future__ import annotations

import torch
from jaxtyping import Int
from torch import Tensor

from shapesafe import check
from shapesafe._format import error
from shapesafe.bc._data import Demonstrations
from shapesafe.errors import DataError

__all__ = ["concat", "episode_count", "initial_data", "renumber"]


def episode_count(demos: Demonstrations | None) -> int:
    if demos is None:
        return 0
    assert demos.episode_ids is not None
    return int(demos.episode_ids.max()) + 1


def initial_data(demos: Demonstrations) -> Demonstrations:
    """The initial demonstrations with episodes renumbered 0..E-1 and the extras of
    the aggregate (iteration 0, executed by the expert)."""
    n = len(demos)
    ids = torch.zeros(n, dtype=torch.int64)
    if demos.episode_ids is not None:
        ids = renumber(demos.episode_ids)
    extras = {
        "iteration": torch.zeros(n, dtype=torch.int64),
        "expert_acted": torch.ones(n, dtype=torch.int64),
    }
    return Demonstrations._from_validated(demos.observations, demos.actions, ids, None, extras)


@check
def renumber(ids: Int[Tensor, " N"]) -> Int[Tensor, " N"]:
    """Episode ids as ``0..E-1`` in order of first appearance (rows keep their order,
    rows of one episode keep one id)."""
    _, inverse = torch.unique(ids, return_inverse=True)  # (N,) index of each row's id
    first: Int[Tensor, " E"] = torch.full((int(inverse.max()) + 1,), len(ids), dtype=torch.int64)
    first.scatter_reduce_(0, inverse, torch.arange(len(ids)), reduce="amin")  # first row
    rank = torch.empty_like(first)
    rank[torch.argsort(first)] = torch.arange(len(first))
    out: Int[Tensor, " N"] = rank[inverse]
    return out


def concat(old: Demonstrations, new: Demonstrations, fn: str) -> Demonstrations:
    for what in ("observations", "actions"):
        a, b = getattr(old, what), getattr(new, what)
        if a.shape[1:] != b.shape[1:] or a.dtype != b.dtype:
            raise error(
                DataError,
                f"the collected {what} do not match those of the initial demonstrations",
                function=fn,
                argument="demos",
                expected=f"{what} of shape (N, {', '.join(map(str, a.shape[1:]))}) {a.dtype}",
                got=f"(N, {', '.join(map(str, b.shape[1:]))}) {b.dtype} from the env",
                hint="pass demonstrations recorded in this env (e.g. with rollout())",
            )
    assert old.episode_ids is not None and new.episode_ids is not None
    return Demonstrations._from_validated(
        torch.cat([old.observations, new.observations]),
        torch.cat([old.actions, new.actions]),
        torch.cat([old.episode_ids, new.episode_ids]),
        None,
        {k: torch.cat([old.extras[k], new.extras[k]]) for k in old.extras},
    )
