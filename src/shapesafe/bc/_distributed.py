"""Data-parallel ``fit`` with torch.distributed: one process per rank (torchrun).

What each rank does, and why:

* **The same global batches as one process.** Every rank draws the *same* permutation
  from the same seeded sampler (so the sampler state, and therefore a checkpoint, does
  not depend on the world size) and trains on its shard ``idx[rank::world]`` of each
  global batch: disjoint, together exactly the global batch.
* **The same gradient as one process.** ``DistributedDataParallel`` averages gradients
  over ranks. Each rank's loss is the mean over its shard, scaled by
  ``world * shard / global``, so the average of the ranks' gradients is the gradient of
  the global batch's mean loss -- also for a ragged last batch whose shards differ in
  size, and for a rank whose shard is empty (it contributes a zero loss that still
  touches every parameter, so DDP's reducer is satisfied).
* **One verdict per step.** A shape error or a NaN loss on one rank must not leave the
  others waiting in the gradient all-reduce. Before ``backward`` every rank joins a
  one-element all-reduce of "my loss is fine"; if any rank failed, every rank raises --
  the failing rank its own error, the others a :class:`~shapesafe.ShapesafeError`
  naming that rank and its message. A rank that dies outright is caught by the process
  group's timeout (``SHAPESAFE_DIST_TIMEOUT`` seconds, default 300), after which the
  others raise instead of hanging.
* **Rank 0 writes.** Checkpoints are written by rank 0 only, followed by a barrier; every
  rank reads the same file to resume (a shared filesystem across nodes), on any world
  size. Logged losses and metrics are averaged over ranks (weighted by shard size).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from shapesafe._format import error
from shapesafe.bc._batch import Batch
from shapesafe.errors import ShapesafeError, UsageError

__all__ = ["DistContext", "LossModule", "setup_distributed"]

_DEFAULT_TIMEOUT = 300.0


def _timeout() -> datetime.timedelta:
    try:
        seconds = float(os.environ.get("SHAPESAFE_DIST_TIMEOUT", _DEFAULT_TIMEOUT))
    except ValueError:
        seconds = _DEFAULT_TIMEOUT
    return datetime.timedelta(seconds=max(1.0, seconds))


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job."""

    rank: int
    world: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, idx: Tensor) -> Tensor:
        """This rank's rows of a global batch: ``idx[rank::world]``."""
        return idx[self.rank :: self.world]

    def scale(self, shard: int, total: int) -> float:
        """The factor that makes DDP's gradient average the global batch's gradient."""
        return self.world * shard / total

    def barrier(self) -> None:
        dist.barrier()

    def sum_(self, values: Tensor) -> Tensor:
        """All-reduce (sum) in place; returns ``values``."""
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values

    def agree(self, ok: bool, failure: BaseException | None) -> None:
        """Raise on every rank if any rank failed this step (see the module notes)."""
        flag = torch.tensor([1 if ok else 0], dtype=torch.int64)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        if int(flag) == 1:
            return
        messages: list[Any] = [None] * self.world
        mine = None if ok else f"{type(failure).__name__}: {failure}" if failure else "a NaN loss"
        dist.all_gather_object(messages, mine)
        if failure is not None:
            raise failure
        if not ok:
            return  # a NaN loss: train_step raises its own error on this rank
        rank = next(i for i, m in enumerate(messages) if m is not None)
        raise ShapesafeError(
            f"fit(): rank {rank} of {self.world} failed at this step, so rank {self.rank} "
            f"stops too: {messages[rank]}",
            function="fit",
            argument="distributed",
            got=f"rank {rank} failed",
        )


def setup_distributed(policy: nn.Module) -> DistContext:
    """The process group of this job: the one the caller initialised, or one built from
    torchrun's environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...), with the
    ``gloo`` backend on CPU and ``nccl`` when the policy lives on a GPU."""
    if not dist.is_available():
        raise error(
            UsageError,
            "this torch build has no torch.distributed",
            function="fit",
            argument="distributed",
        )
    param = next(policy.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    if not dist.is_initialized():
        if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
            raise error(
                UsageError,
                "distributed=True needs a process group: launch with torchrun "
                "(torchrun --nproc-per-node 2 train.py) or call "
                "torch.distributed.init_process_group() first",
                function="fit",
                argument="distributed",
                hint="torchrun --nproc-per-node 2 your_script.py",
            )
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=_timeout())
    return DistContext(dist.get_rank(), dist.get_world_size(), device)


class LossModule(nn.Module):
    """``forward(batch) -> LossOutput`` of a policy: the module DDP wraps, so that the
    loss is computed through DDP's forward (which prepares its gradient reducer)."""

    def __init__(self, policy: nn.Module) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, batch: Batch) -> Any:
        return self.policy.compute_loss(batch)  # type: ignore[operator]


def zero_loss(policy: nn.Module) -> Tensor:
    """A zero that depends on every parameter: the loss of a rank with no rows."""
    total = torch.zeros((), device=next(policy.parameters()).device)
    for p in policy.parameters():
        if p.requires_grad:
            total = total + p.sum() * 0.0
    return total


def rank_loss(
    ctx: DistContext,
    model: nn.Module,
    policy: nn.Module,
    batch: Batch | None,
    rows: list[int],
    sums: dict[str, Tensor],
) -> Tensor:
    """This rank's scaled loss for ``fit``'s step, after every rank agreed that its own
    loss is fine (``rows``: this rank's rows and the global batch's)."""
    failure: BaseException | None = None
    loss = zero_loss(policy)
    try:
        if batch is not None:
            out = model(batch)
            loss = out.loss * ctx.scale(rows[0], rows[1])
            for k, v in out.metrics.items():
                sums[k] = sums[k] + v.detach() if k in sums else v.detach()
        ok = bool(torch.isfinite(loss.detach()).all())
    except Exception as exc:  # any failure: the other ranks must not wait for it
        failure, ok = exc, False
    ctx.agree(ok, failure)
    return loss


def gather_names(ctx: DistContext, names: list[str]) -> list[str]:
    """The union of metric names over ranks (a rank with no rows since the last log
    has none), so that the log all-reduce has the same length everywhere."""
    everyone: list[Any] = [None] * ctx.world
    dist.all_gather_object(everyone, names)
    return sorted({n for names_ in everyone for n in names_})
