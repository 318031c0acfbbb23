from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "dev",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _torch_distribution_validation() -> Iterator[None]:
    """Undo torch.compile's global side effect on distribution validation.

    The first ``torch.compile`` call in a process runs
    ``torch.distributions.Distribution.set_default_validate_args(False)`` (torch 2.13,
    ``torch/_dynamo/eval_frame.py``), so a compile test would silently switch off torch's
    own parameter/support validation for every later test.  Each test starts from torch's
    import-time default and gives it back afterwards.
    """
    before = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(True)
    yield
    torch.distributions.Distribution.set_default_validate_args(before)


@pytest.fixture
def checks_off() -> Iterator[None]:
    """Every shapesafe check off for the test (as SHAPESAFE_DISABLE=1 would)."""
    from shapesafe import _config

    with _config.enabled(False):
        yield
