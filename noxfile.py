"""Single entry point for contributors and CI: ``nox -s tests lint typecheck docs bench``.

Every session installs with ``constraints.txt`` so that torch comes from the CPU wheel
pinned there (2.13.0) and never from a multi-GB CUDA build.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True

CONSTRAINTS = ("-c", "constraints.txt")


def _install(session: nox.Session, *extras: str) -> None:
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install(*CONSTRAINTS, "-e", spec)


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """The whole test suite with checks on, then the value tests with checks disabled."""
    _install(session, "bc", "test", "docs")
    session.run("pytest", *session.posargs)
    if not session.posargs:
        session.run("pytest", "-m", "values", "-q", env={"SHAPESAFE_DISABLE": "1"})


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    _install(session, "bc", "test")
    session.install("mypy>=1.10")
    session.run("mypy")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    _install(session, "docs", "bc")
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"}
    )


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    _install(session, "bc")
    session.install(*CONSTRAINTS, "jaxtyping", "beartype")
    for script in sorted(__import__("glob").glob("benchmarks/bench_*.py")):
        session.run("python", script, *session.posargs)
