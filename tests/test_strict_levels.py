"""strict_broadcasting(on_violation="warn" | "log"): the audit modes record each distinct
offending line once, report it at the exit of the block, and never raise."""

from __future__ import annotations

import logging
import sys
import threading
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import shapesafe
from shapesafe import BroadcastError, BroadcastWarning, UsageError
from shapesafe.strict import allow_broadcasting, strict_broadcasting, strict_report


def _line() -> int:
    return sys._getframe(1).f_lineno


def test_log_records_each_line_once_with_count_and_shapes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="shapesafe.strict"),
        strict_broadcasting(on_violation="log") as report,
    ):
        for n in (3, 5, 7):
            td = torch.zeros(n) + torch.zeros(n, 1)
            add_line = _line() - 1
            assert td.shape == (n, n)  # ran through: nothing raised
        with pytest.warns(UserWarning, match="target size"):  # torch's own warning
            F.mse_loss(torch.zeros(4, 1), torch.zeros(4))
            loss_line = _line() - 1
        ok = torch.zeros(4, 3) * torch.ones(3)  # a per-feature vector: not a violation
    assert ok.shape == (4, 3)
    found = report.violations
    assert [(v.lineno, v.op, v.count) for v in found] == [
        (add_line, "`+` (add)", 3),
        (loss_line, "mse_loss", 1),
    ]
    assert found[0].filename == __file__ and found[0].shapes == "(3,) and (3, 1)"
    assert found[1].shapes == "input (4, 1), target (4,)"
    assert found[0].message.startswith("strict_broadcasting: `+` (add) would broadcast")
    # one log record at the exit, listing both lines
    records = [r for r in caplog.records if r.name == "shapesafe.strict"]
    assert len(records) == 1
    assert records[0].getMessage() == report.summary()
    assert report.summary().splitlines() == [
        "strict_broadcasting: 2 lines would raise",
        f"  {__file__}:{add_line}: `+` (add) (3,) and (3, 1) (3 times)",
        f"  {__file__}:{loss_line}: mse_loss input (4, 1), target (4,)",
    ]


def test_warn_gives_one_warning_per_line_at_that_line() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with strict_broadcasting(on_violation="warn"):
            for _ in range(4):
                torch.zeros(2) * torch.zeros(2, 1)
                line = _line() - 1
            assert not [w for w in caught if w.category is BroadcastWarning]  # at exit only
    ours = [w for w in caught if w.category is BroadcastWarning]
    assert len(ours) == 1
    assert (ours[0].filename, ours[0].lineno) == (__file__, line)
    assert str(ours[0].message).endswith("(ran 4 times)")
    assert issubclass(BroadcastWarning, UserWarning)


def test_warn_under_pytest_error_filter_raises_at_exit() -> None:
    """A suite run with -W error::shapesafe.BroadcastWarning fails at the block's end."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", BroadcastWarning)
        with pytest.raises(BroadcastWarning), strict_broadcasting(on_violation="warn"):
            torch.zeros(2) - torch.zeros(2, 1)


def test_clean_block_reports_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="shapesafe.strict"),
        strict_broadcasting(on_violation="log") as report,
    ):
        torch.zeros(4, 3) * torch.ones(3)
        with allow_broadcasting():
            torch.zeros(4) + torch.zeros(4, 1)
    assert len(report) == 0 and report.summary() == "strict_broadcasting: no line would raise"
    assert not [r for r in caplog.records if r.name == "shapesafe.strict"]


def test_nested_raise_block_still_raises_and_report_is_process_wide() -> None:
    strict_report(clear=True)
    with strict_broadcasting(on_violation="log") as outer:
        torch.zeros(3) + torch.zeros(3, 1)
        with pytest.raises(BroadcastError), strict_broadcasting():
            torch.zeros(3) + torch.zeros(3, 1)
    assert len(outer) == 1
    with strict_broadcasting(on_violation="log"):
        torch.zeros(5) * torch.zeros(5, 1)
    total = strict_report(clear=True)
    assert len(total) == 2 and len(strict_report()) == 0


def test_threads_record_into_one_report() -> None:
    with strict_broadcasting(on_violation="log") as report:
        pass
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with strict_broadcasting(on_violation="log") as mine:
                for _ in range(50):
                    torch.zeros(3) + torch.zeros(3, 1)
            report.merge(mine)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [v.count for v in report.violations] == [200]


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 6), st.integers(1, 5))
def test_audit_records_exactly_what_raise_refuses(n: int, repeats: int) -> None:
    """Property: for drawn shapes, the audit mode records a line iff raise mode raises."""
    pairs = [((n,), (n, 1)), ((n, 1), (n, 1)), ((n, 3), (3,)), ((1, n), (n,)), ((n,), (1,))]
    for a, b in pairs:
        try:
            with strict_broadcasting():
                torch.zeros(a) * torch.zeros(b)
            refused = False
        except BroadcastError:
            refused = True
        with strict_broadcasting(on_violation="log") as report:
            for _ in range(repeats):
                torch.zeros(a) * torch.zeros(b)
        assert len(report) == refused
        if refused:
            assert report.violations[0].count == repeats


def test_compiled_code_is_audited_at_trace_time() -> None:
    torch._dynamo.reset()

    def td(r: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return r + 0.99 * q

    compiled = torch.compile(td, fullgraph=True, backend="eager")
    with strict_broadcasting(on_violation="log") as report:
        out = compiled(torch.zeros(4), torch.zeros(4, 1))
    assert out.shape == (4, 4)
    assert [v.op for v in report.violations] == ["`+` (add)"]


def test_bad_level_is_refused() -> None:
    with pytest.raises(UsageError) as info:
        strict_broadcasting(on_violation="ignore")
    assert info.value.argument == "on_violation"
    assert info.value.expected == "'raise', 'warn' or 'log'"
    assert "`on_violation` must be 'raise', 'warn' or 'log', got 'ignore'" in str(info.value)


@pytest.mark.values
def test_values_audit_does_not_change_results() -> None:
    r, q = torch.arange(3.0), torch.arange(3.0).reshape(3, 1)
    with strict_broadcasting(on_violation="log"):
        out = r + q
    assert out.tolist() == [[0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [2.0, 3.0, 4.0]]


def test_disabled_checks_leave_the_report_empty() -> None:
    shapesafe.disable()
    try:
        with strict_broadcasting(on_violation="log") as report:
            torch.zeros(3) + torch.zeros(3, 1)
    finally:
        shapesafe.enable()
    assert len(report) == 0
