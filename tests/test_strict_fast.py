"""strict_broadcasting(fast=True): the wrapped-ops mechanism gives the same verdicts and
the same messages as the TorchFunctionMode, only in the thread that opened the block,
and leaves torch exactly as it was when the last block closes."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from shapesafe import BroadcastError
from shapesafe.distributions import Normal
from shapesafe.strict import allow_broadcasting, strict_broadcasting

B = 8
CASES: dict[str, Callable[[], object]] = {
    "add (B,) + (B, 1)": lambda: torch.zeros(B) + torch.zeros(B, 1),
    "rsub scalar then trap": lambda: (1 - torch.zeros(B, 1)) * torch.zeros(B),
    "rdiv": lambda: (2 / torch.ones(B)) + torch.zeros(B, 1),
    "in-place (passes)": lambda: torch.zeros(B, B).add_(torch.zeros(B, 1)),
    "torch.mul": lambda: torch.mul(torch.zeros(B, 1), torch.zeros(B)),
    "torch.where": lambda: torch.where(torch.zeros(B, 1) > 0, torch.zeros(B), 0.0),
    "comparison": lambda: torch.zeros(B) < torch.zeros(B, 1),
    "mse_loss": lambda: F.mse_loss(torch.zeros(B, 1), torch.zeros(B)),
    "MSELoss module": lambda: nn.MSELoss()(torch.zeros(B, 1), torch.zeros(B)),
    "batch total (rule 4)": lambda: (
        -(torch.zeros(B, 2, requires_grad=True).sum(0) * torch.zeros(B, 1)).mean()
    ),
    "per-feature (passes)": lambda: torch.zeros(B, 3) * torch.ones(3),
    "row vs (1, N) (passes)": lambda: torch.zeros(1, B) + torch.zeros(B),
    "keepdim (passes)": lambda: torch.zeros(B, 3) - torch.zeros(B, 3).mean(-1, keepdim=True),
    "scalar tensor (passes)": lambda: torch.zeros(B, 1) * torch.tensor(2.0),
    "explicit expand (passes)": lambda: torch.zeros(B).expand(B, B) + torch.zeros(B, 1),
}


@pytest.mark.parametrize("name", list(CASES))
def test_same_verdict_and_message_as_the_mode(name: str) -> None:
    case = CASES[name]
    warnings.simplefilter("ignore", UserWarning)  # torch's own mse_loss warning
    try:
        with strict_broadcasting():
            case()
        slow: str | None = None
    except BroadcastError as e:
        slow = str(e)
    try:
        with strict_broadcasting(fast=True):
            case()
        fast: str | None = None
    except BroadcastError as e:
        fast = str(e)
    assert fast == slow
    assert (slow is None) == name.endswith("(passes)")


def test_distribution_log_prob_trap_is_caught_inside_log_prob() -> None:
    dist = torch.distributions.Normal(torch.zeros(B), torch.ones(B))
    trap = r"inside Normal\.log_prob\(\)"
    with pytest.raises(BroadcastError, match=trap), strict_broadcasting(fast=True):
        dist.log_prob(torch.zeros(B, 1))


def test_library_internals_pass_and_training_runs() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x, y = torch.randn(32, 3), torch.randn(32, 2)
    losses = []
    with strict_broadcasting(fast=True):
        for _ in range(5):
            dist = Normal(net(x), torch.ones(2), broadcast=True)
            loss = -dist.log_prob(y).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_torch_is_restored_when_the_last_block_closes() -> None:
    before = (torch.Tensor.__add__, torch.add, F.mse_loss, torch.Tensor.sum, "__add__")
    with strict_broadcasting(fast=True):
        assert torch.Tensor.__add__ is not before[0] and torch.add is not before[1]
        with strict_broadcasting(fast=True):
            pass
        assert torch.add is not before[1]  # the outer block is still open
    after = (torch.Tensor.__add__, torch.add, F.mse_loss, torch.Tensor.sum, "__add__")
    assert after == before
    assert "__add__" not in vars(torch.Tensor)  # inherited again from TensorBase


def test_other_threads_are_not_checked_and_blocks_nest_across_threads() -> None:
    started, release = threading.Event(), threading.Event()
    results: list[object] = []

    def other() -> None:
        started.set()
        release.wait(10)
        results.append((torch.zeros(3) + torch.zeros(3, 1)).shape)  # no block here

    t = threading.Thread(target=other)
    t.start()
    with strict_broadcasting(fast=True):
        started.wait(10)
        release.set()
        t.join()
        with pytest.raises(BroadcastError):
            torch.zeros(3) + torch.zeros(3, 1)
    assert results == [torch.Size([3, 3])]


def test_allow_broadcasting_and_errors_leave_no_state() -> None:
    with strict_broadcasting(fast=True), allow_broadcasting():
        assert (torch.zeros(3) + torch.zeros(3, 1)).shape == (3, 3)
    with pytest.raises(BroadcastError), strict_broadcasting(fast=True):
        torch.zeros(3) + torch.zeros(3, 1)
    assert (torch.zeros(3) + torch.zeros(3, 1)).shape == (3, 3)  # off again


def test_audit_level_with_fast() -> None:
    with strict_broadcasting(fast=True, on_violation="log") as report:
        for _ in range(3):
            torch.zeros(2) * torch.zeros(2, 1)
    assert [(v.op, v.count) for v in report.violations] == [("`*` (mul)", 3)]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 4), min_size=0, max_size=3),
    st.lists(st.integers(1, 4), min_size=0, max_size=3),
)
def test_property_fast_agrees_with_the_mode(a: list[int], b: list[int]) -> None:
    x, y = torch.zeros(a), torch.zeros(b)
    verdicts = []
    for fast in (False, True):
        try:
            with strict_broadcasting(fast=fast):
                x * y
            verdicts.append("ok")
        except BroadcastError as e:
            verdicts.append(str(e).splitlines()[0])
        except RuntimeError:  # not broadcastable at all: torch's own error, both ways
            verdicts.append("torch")
    assert verdicts[0] == verdicts[1]


@pytest.mark.values
def test_values_same_with_fast() -> None:
    r, q = torch.arange(3.0), torch.arange(3.0)
    with strict_broadcasting(fast=True):
        out = r + 0.5 * q
    assert out.tolist() == [0.0, 1.5, 3.0]
