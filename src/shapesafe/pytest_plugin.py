"""The pytest plugin: run a test suite with shapesafe reaching a whole codebase.

``pytest --shapesafe=my_package`` (or ``shapesafe_packages = my_package`` in the ini file)
installs :func:`shapesafe.install_import_hook` for the named packages *before* any
conftest or test module is imported, and runs every test inside
:func:`shapesafe.strict_broadcasting` (``--shapesafe-no-strict`` or
``shapesafe_strict = false`` to leave it off). The terminal summary says what was
checked; under pytest-xdist each worker installs its own hook and the controller adds
up what the workers report.

The plugin is registered through the ``pytest11`` entry point, so it is active as soon
as shapesafe is installed, and does nothing unless asked.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from shapesafe._hook import ImportHook, install_import_hook
from shapesafe._strict_report import strict_report

_HOOK = pytest.StashKey[ImportHook]()
_STRICT_TESTS = pytest.StashKey[list[int]]()
_WORKERS = pytest.StashKey[list[dict[str, Any]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("shapesafe", "shapesafe shape checks")
    group.addoption(
        "--shapesafe",
        action="append",
        default=[],
        metavar="PACKAGE",
        help="check every jaxtyping-annotated function of PACKAGE (repeat, or "
        "comma-separate, for several) and run tests under strict broadcasting",
    )
    group.addoption(
        "--shapesafe-no-strict",
        action="store_true",
        default=False,
        help="with --shapesafe: leave strict broadcasting off",
    )
    group.addoption(
        "--shapesafe-strict",
        choices=("raise", "warn", "log"),
        default="raise",
        help="with --shapesafe: what strict broadcasting does on a violation (raise: the "
        "test fails; warn / log: each offending line is reported once, see the summary)",
    )
    parser.addini("shapesafe_packages", "packages to check (like --shapesafe)", type="linelist")
    parser.addini(
        "shapesafe_strict",
        "run tests under strict broadcasting (default true)",
        type="bool",
        default=True,
    )


def _packages(config: pytest.Config) -> list[str]:
    # during pytest_load_initial_conftests the options are parsed only into
    # known_args_namespace; config.option is filled later
    known = getattr(config, "known_args_namespace", None)
    given = getattr(known, "shapesafe", None) or config.getoption("shapesafe", default=[]) or []
    names: list[str] = []
    for item in [*given, *config.getini("shapesafe_packages")]:
        names.extend(n.strip() for n in str(item).split(",") if n.strip())
    return list(dict.fromkeys(names))


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    # before any conftest imports the user's package: the hook must come first
    _install(early_config)


def pytest_configure(config: pytest.Config) -> None:
    _install(config)  # when the plugin is loaded with -p after the conftests
    config.stash[_STRICT_TESTS] = [0]
    config.stash[_WORKERS] = []


def _install(config: pytest.Config) -> None:
    if _HOOK in config.stash:
        return
    packages = _packages(config)
    if packages:
        config.stash[_HOOK] = install_import_hook(packages)


def _strict_on(config: pytest.Config) -> bool:
    return (
        _HOOK in config.stash
        and not config.getoption("shapesafe_no_strict")
        and bool(config.getini("shapesafe_strict"))
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, Any]:
    if not _strict_on(item.config):
        return (yield)
    from shapesafe.strict import strict_broadcasting

    item.config.stash[_STRICT_TESTS][0] += 1
    with strict_broadcasting(on_violation=item.config.getoption("shapesafe_strict")):
        return (yield)


def _report(config: pytest.Config) -> dict[str, Any]:
    hook = config.stash[_HOOK]
    return {
        "packages": list(hook.packages),
        "modules": len(hook.stats.modules),
        "functions": len(hook.stats.functions),
        "skipped": list(hook.stats.skipped),
        "seconds": hook.stats.seconds,
        "strict_tests": config.stash.get(_STRICT_TESTS, [0])[0],
        "strict_lines": [f"{v.location}: {v.op} {v.shapes}" for v in strict_report().violations],
    }


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None and _HOOK in config.stash:  # an xdist worker
        workeroutput["shapesafe"] = _report(config)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:  # xdist controller
    report = getattr(node, "workeroutput", {}).get("shapesafe")
    if report is not None:
        node.config.stash[_WORKERS].append(report)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if _HOOK not in config.stash:
        return
    workers = config.stash.get(_WORKERS, [])
    reports = workers or [_report(config)]
    functions = max(r["functions"] for r in reports)
    modules = max(r["modules"] for r in reports)
    strict = sum(r["strict_tests"] for r in reports)
    skipped = sorted({s for r in reports for s in r["skipped"]})
    packages = ", ".join(reports[0]["packages"])
    where = f" (per worker, {len(workers)} workers)" if workers else ""
    terminalreporter.write_sep("-", "shapesafe")
    terminalreporter.write_line(
        f"shapesafe: {functions} annotated function(s) checked in {modules} module(s) of "
        f"{packages}{where}; strict broadcasting "
        + (f"on for {strict} test(s)" if _strict_on(config) else "off")
    )
    for line in skipped:
        terminalreporter.write_line(f"  not checked (unreadable annotation): {line}")
    # the audit modes (--shapesafe-strict=warn|log): every offending line, once
    lines = list(dict.fromkeys(line for r in reports for line in r.get("strict_lines", [])))
    if lines:
        terminalreporter.write_line(f"strict broadcasting would raise on {len(lines)} line(s):")
        for line in lines:
            terminalreporter.write_line(f"  {line}")
