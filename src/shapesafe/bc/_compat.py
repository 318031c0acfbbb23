"""TEMPORARY: stand-ins while shapesafe.check / distributions / _modules are being written."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

try:
    from shapesafe._check import check
except ImportError:  # pragma: no cover

    def check(fn: Any) -> Any:  # type: ignore[no-redef]
        return fn


try:
    from shapesafe.distributions import DiagNormal
except ImportError:  # pragma: no cover

    def DiagNormal(loc: Any, scale: Any) -> Any:  # type: ignore[no-redef]  # noqa: N802
        return torch.distributions.Independent(torch.distributions.Normal(loc, scale), 1)


try:
    from shapesafe._modules import evaluating
except ImportError:  # pragma: no cover

    @contextmanager  # type: ignore[no-redef]
    def evaluating(module: nn.Module) -> Iterator[nn.Module]:
        was = module.training
        module.eval()
        try:
            yield module
        finally:
            module.train(was)
