"""What the distribution test modules share: shape strategies and bit-identity (the
``checks_off`` fixture is in conftest.py)."""

from __future__ import annotations

import torch
from hypothesis import strategies as st
from torch import Tensor

batch_shapes = st.lists(st.integers(1, 4), max_size=2).map(tuple)
sample_shapes = st.lists(st.integers(1, 3), max_size=2).map(tuple)
sizes = st.integers(1, 4)


def same(a: Tensor, b: Tensor) -> None:
    """Bit-identical (same torch ops in the same order), NaN-aware."""
    assert a.shape == b.shape
    assert a.dtype == b.dtype
    torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)
