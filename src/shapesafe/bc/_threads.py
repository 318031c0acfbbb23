"""How many CPU threads ``fit`` trains with.

torch defaults to one intra-op thread per core. For the small MLPs of behaviour cloning
that is slower than one thread (each op is too small to split, and the threads contend
for the cores with everything else): on a busy 2-core machine the same training took
21.7 s with torch's default and 0.6 s with one thread. So ``fit`` picks one thread for
small policies -- but only when nobody chose: a thread count set through
``torch.set_num_threads`` (different from torch's startup value) or ``OMP_NUM_THREADS`` /
``MKL_NUM_THREADS`` is kept. The previous count is restored when training ends.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
from torch import nn

from shapesafe.bc._validate import whole_number

__all__ = ["SMALL_MODEL_PARAMS", "default_threads", "training_threads"]

#: below this many parameters a policy trains on one thread by default
SMALL_MODEL_PARAMS = 1_000_000
# torch's own choice, read when shapesafe.bc is imported
_TORCH_DEFAULT = torch.get_num_threads()


def _user_chose() -> bool:
    env = any(os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"))
    return env or torch.get_num_threads() != _TORCH_DEFAULT


def default_threads(policy: nn.Module) -> int | None:
    """The thread count ``fit(threads=None)`` uses for ``policy`` (``None``: keep the
    current one, because the user chose it)."""
    if _user_chose():
        return None
    n_params = sum(p.numel() for p in policy.parameters())
    if n_params < SMALL_MODEL_PARAMS:
        return 1
    return min(4, os.cpu_count() or 1)


@contextlib.contextmanager
def training_threads(
    threads: int | None, policy: nn.Module, device: torch.device
) -> Iterator[None]:
    """Run the body with ``threads`` torch threads (see the module docstring)."""
    if threads is not None:
        whole_number(threads, "threads", "fit")
    wanted = threads if threads is not None else default_threads(policy)
    before = torch.get_num_threads()
    if device.type != "cpu" or wanted is None or wanted == before:
        yield
        return
    torch.set_num_threads(wanted)
    try:
        yield
    finally:
        torch.set_num_threads(before)
