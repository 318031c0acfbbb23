from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "bc_gaussian.py"


def test_example_runs_end_to_end(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--epochs", "2", "--n-demos", "200", "--out", "o"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={"MPLBACKEND": "Agg", "PATH": "", "PYTHONPATH": str(EXAMPLE.parent.parent / "src")},
    )
    assert proc.returncode == 0, proc.stderr
    assert "learned std" in proc.stdout
    assert (tmp_path / "o" / "policy.pt").exists() and (tmp_path / "o" / "losses.png").exists()
