"""Small shape helpers shared by the distribution modules (plain Python on purpose)."""

from __future__ import annotations

import typing
from typing import Any

from torch import Tensor


def broadcast_shapes(*shapes: typing.Sequence[Any]) -> tuple[Any, ...]:
    """``torch.broadcast_shapes`` in plain Python.

    Plain Python because it also runs while torch.compile traces a constructor: the sizes
    are then SymInts, and every ``!=`` below becomes a guard instead of a graph break.
    No ``int(size)`` either, which would specialize a dynamic size. Raises the same
    ``RuntimeError`` as torch when the shapes do not broadcast.
    """
    ndim = max([0, *(len(s) for s in shapes)])
    out: list[Any] = [1] * ndim
    for s in shapes:
        for i, size in enumerate(s, start=ndim - len(s)):
            if size != 1:
                if out[i] != 1 and out[i] != size:
                    raise RuntimeError(f"shapes {shapes} cannot be broadcast together")
                out[i] = size
    return tuple(out)


def ends_with(shape: tuple[int, ...], suffix: tuple[int, ...]) -> bool:
    return len(shape) >= len(suffix) and shape[len(shape) - len(suffix) :] == suffix


def first_bad(bad: Tensor) -> tuple[int, ...]:
    """The index of the first ``True`` entry of ``bad`` (which has one)."""
    return tuple(int(i) for i in bad.nonzero()[0].tolist())


def ints(shape: typing.Iterable[Any]) -> tuple[int, ...]:
    return tuple(int(s) for s in shape)
