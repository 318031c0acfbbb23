"""Single entry point for contributors and CI: ``nox -s tests lint typecheck docs bench``.

All sessions share ONE virtual environment (``.nox/shared``), built with the Python that
runs nox (any version the package supports, 3.10+), so torch is installed once, not once
per session: a fresh run needs about 1.5 GB of disk instead of ~5 GB. The environment is
reinstalled only when ``pyproject.toml`` or ``constraints.txt`` change (a stamp file holds
their hash), so a second run starts testing within seconds.

Every install uses ``constraints.txt`` so that torch comes from the CPU wheel pinned there
(2.13.0) and never from a multi-GB CUDA build.
"""

from __future__ import annotations

import glob
import hashlib
import os
import sys
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]

ROOT = Path(__file__).parent
ENV = ROOT / ".nox" / "shared"
BIN = ENV / ("Scripts" if os.name == "nt" else "bin")
CONSTRAINTS = ("-c", str(ROOT / "constraints.txt"))
TOOLS = ("mypy>=1.10", "ruff>=0.5", "jaxtyping", "beartype")


def _stamp() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def _shared_env(session: nox.Session) -> None:
    """Create (once) and update (when the project's requirements change) the shared env."""
    if sys.version_info < (3, 10):  # noqa: UP036 - nox itself may run on an older Python
        session.error("shapesafe needs Python 3.10 or newer to run its checks")
    python = BIN / "python"
    if not python.exists():
        session.run(sys.executable, "-m", "venv", str(ENV), external=True)
    stamp_file = ENV / ".shapesafe-stamp"
    stamp = _stamp()
    if not stamp_file.exists() or stamp_file.read_text() != stamp:
        pip = (str(python), "-m", "pip", "install", "-q", *CONSTRAINTS)
        session.run(*pip, "-e", f"{ROOT}[bc,mujoco,minari,test,docs]", *TOOLS, external=True)
        stamp_file.write_text(stamp)
    session.env["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    session.env["VIRTUAL_ENV"] = str(ENV)


def _run(session: nox.Session, *args: str, env: dict[str, str] | None = None) -> None:
    session.run(str(BIN / args[0]), *args[1:], external=True, env=env)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The whole test suite with checks on, then the value tests with checks disabled."""
    _shared_env(session)
    _run(session, "pytest", *session.posargs)
    if not session.posargs:
        _run(session, "pytest", "-m", "values", "-q", env={"SHAPESAFE_DISABLE": "1"})


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    _shared_env(session)
    _run(session, "ruff", "check", ".")
    _run(session, "ruff", "format", "--check", ".")


@nox.session(venv_backend="none")
def typecheck(session: nox.Session) -> None:
    _shared_env(session)
    _run(session, "mypy")


@nox.session(venv_backend="none")
def docs(session: nox.Session) -> None:
    _shared_env(session)
    _run(
        session,
        "mkdocs",
        "build",
        "--strict",
        "--site-dir",
        "site",
        env={"NO_MKDOCS_2_WARNING": "1"},
    )


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Every benchmark script; each times shapesafe and its baseline in one run."""
    _shared_env(session)
    for script in sorted(glob.glob("benchmarks/bench_*.py")):
        _run(session, "python", script, *session.posargs)
