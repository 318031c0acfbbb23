"""The pytest plugin, run the way users run it: a separate pytest process on a small
project, with and without the option, with the ini option, and under pytest-xdist."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

PKG = """
from jaxtyping import Float
from torch import Tensor

def td(r: Float[Tensor, "batch"], v: Float[Tensor, "batch"]) -> Float[Tensor, "batch"]:
    return r + v

def plain(x):
    return x
"""

TESTS = """
import os
import pytest
import torch
import shapesafe
import mypkg.core as core

CHECKED = os.environ.get("EXPECT_CHECKED") == "1"

def test_wrong_shape():
    if CHECKED:
        with pytest.raises(shapesafe.ShapeError):
            core.td(torch.zeros(4), torch.zeros(4, 1))
    else:
        assert core.td(torch.zeros(4), torch.zeros(4, 1)).shape == (4, 4)

def test_broadcast_in_test_code():
    r, q = torch.zeros(4), torch.zeros(4, 1)
    if CHECKED:
        with pytest.raises(shapesafe.BroadcastError):
            r + q
    else:
        assert (r + q).shape == (4, 4)

def test_plain_untouched():
    assert core.plain(3) == 3
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pkg = pytester.mkpydir("mypkg")
    (pkg / "core.py").write_text(PKG)
    pytester.makepyfile(test_user=TESTS)
    # a conftest that imports the package: the hook must already be in place
    pytester.makeconftest("import mypkg.core  # noqa: F401\n")
    return pytester


def test_option_checks_the_package_and_turns_strict_mode_on(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPECT_CHECKED", "1")
    result = project.runpytest_subprocess("--shapesafe=mypkg", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*shapesafe: 1 annotated function(s) checked in * module(s) of mypkg*strict "
            "broadcasting on for 3 test(s)*"
        ]
    )


def test_without_the_option_the_plugin_does_nothing(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPECT_CHECKED", "0")
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    assert "shapesafe:" not in result.stdout.str()


def test_the_ini_option_works_like_the_flag(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPECT_CHECKED", "1")
    project.makeini("[pytest]\nshapesafe_packages = mypkg\n")
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_no_strict_leaves_broadcasting_alone(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(
        test_user=TESTS.replace(
            "    if CHECKED:\n        with pytest.raises(shapesafe.BroadcastError):",
            "    if False:\n        with pytest.raises(shapesafe.BroadcastError):",
        )
    )
    monkeypatch.setenv("EXPECT_CHECKED", "1")
    result = project.runpytest_subprocess(
        "--shapesafe=mypkg", "--shapesafe-no-strict", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*strict broadcasting off*"])


def test_under_xdist_every_worker_checks_and_the_summary_adds_up(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPECT_CHECKED", "1")
    result = project.runpytest_subprocess("--shapesafe=mypkg", "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*shapesafe: 1 annotated function(s)*2 workers*"])


@pytest.mark.parametrize("level", ["warn", "log"])
def test_strict_audit_level_reports_each_line_once(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, level: str
) -> None:
    """--shapesafe-strict=warn|log: the broadcast does not fail the test; the summary
    lists the offending line once."""
    project.makepyfile(
        test_user=TESTS.replace(
            "    if CHECKED:\n        with pytest.raises(shapesafe.BroadcastError):",
            "    if False:\n        with pytest.raises(shapesafe.BroadcastError):",
        )
    )
    monkeypatch.setenv("EXPECT_CHECKED", "1")
    result = project.runpytest_subprocess(
        "--shapesafe=mypkg", f"--shapesafe-strict={level}", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=3, warnings=1 if level == "warn" else 0)
    result.stdout.fnmatch_lines(
        [
            "*strict broadcasting on for 3 test(s)",
            "strict broadcasting would raise on 1 line(s):",
            "*test_user.py:*: `+` (add) (4,) and (4, 1)",
        ]
    )
