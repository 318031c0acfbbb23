"""``shapesafe run``: a whole script under strict broadcasting and the import hook."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from shapesafe.cli import main

BUGGY = """
import sys
import torch

def loss(values, returns):
    return ((values - returns) ** 2).mean()  # (B, 1) - (B,) -> (B, B)

v = torch.zeros(4, 1)
r = torch.ones(4)
print("loss", float(loss(v, r)))
print("argv", sys.argv[1:])
"""


def _script(tmp_path: Path, text: str, name: str = "train.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_strict_warn_runs_the_script_to_the_end_and_reports_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = _script(tmp_path, BUGGY)
    with pytest.warns(UserWarning, match="would broadcast"):
        code = main(["run", "--strict", "warn", str(script), "--lr", "3"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "loss 1.0" in out and "argv ['--lr', '3']" in out  # the script's own argv
    assert "strict_broadcasting: 1 line would raise" in err
    assert f"{script}:6: `-` (sub) (4, 1) and (4,)" in err


def test_strict_raise_stops_at_the_users_line_with_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = _script(tmp_path, BUGGY)
    code = main(["run", "--strict", "raise", str(script)])
    _, err = capsys.readouterr()
    assert code == 1
    assert "Traceback" in err and "BroadcastError" in err
    assert f'File "{script}", line 6, in loss' in err
    assert "cli/run.py" not in err  # the runner's frames are left out


def test_without_strict_the_bug_is_silent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(_script(tmp_path, BUGGY))]) == 0
    out, err = capsys.readouterr()
    assert "loss 1.0" in out and err == ""


def test_check_reaches_a_package_and_exit_codes_pass_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "ss_run_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text(
        textwrap.dedent(
            """
            from jaxtyping import Float
            from torch import Tensor

            def head(x: Float[Tensor, "batch obs"]) -> Float[Tensor, "batch"]:
                return x.sum(-1, keepdim=True)  # bug: (batch, 1)
            """
        )
    )
    (pkg / "main.py").write_text(
        textwrap.dedent(
            """
            import sys
            import torch
            from ss_run_pkg.nets import head
            try:
                head(torch.zeros(3, 2))
            except ValueError as e:
                print(type(e).__name__)
                sys.exit(3)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        code = main(["run", "--check", "ss_run_pkg", "-m", "ss_run_pkg.main"])
    finally:
        for name in [m for m in sys.modules if m.startswith("ss_run_pkg")]:
            del sys.modules[name]
    out, err = capsys.readouterr()
    assert code == 3
    assert "ShapeError" in out
    assert "1 function(s) checked in 2 module(s)" in err


def test_bad_invocations_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "missing.py")]) == 2
    assert "no script" in capsys.readouterr().err
    assert main(["run", "--strict-fast", str(_script(tmp_path, BUGGY))]) == 2
    assert "--strict-fast needs --strict MODE" in capsys.readouterr().err
