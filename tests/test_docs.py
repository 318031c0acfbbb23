"""Every ```python block in README.md and docs/*.md is executed, in order, one namespace
per page, so a page's examples may build on each other. Blocks fenced as ```text or
```pycon are not run. A block may expect an error by catching it itself."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
import sys
import textwrap
import types
import warnings
from pathlib import Path

import pytest
from hypothesis.errors import NonInteractiveExampleWarning

import shapesafe

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# also fences indented inside admonitions (``!!! note``); the indentation is removed
FENCE = re.compile(r"^([ \t]*)```python[^\n]*\n(.*?)^\1```", re.S | re.M)


def _blocks(page: Path) -> list[str]:
    return [textwrap.dedent(body) for _, body in FENCE.findall(page.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # a real module, so that dataclasses and pickling inside examples work
    module = types.ModuleType(f"docs_{page.stem.replace('-', '_')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for i, block in enumerate(_blocks(page)):
        code = compile(block, f"{page.name}[block {i}]", "exec")
        exec(code, module.__dict__)


def test_every_page_has_runnable_examples() -> None:
    for page in PAGES:
        if page.name in {"README.md"} or page.parent.name == "reference":
            continue
        assert _blocks(page), f"{page} has no ```python examples"


PUBLIC_MODULES = (
    "shapesafe",
    "shapesafe.ops",
    "shapesafe.strict",
    "shapesafe.distributions",
    "shapesafe.bc",
    "shapesafe.bc.experts",
    "shapesafe.bc.tasks",
    "shapesafe.rl",
    "shapesafe.testing",
)
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(shapesafe.__path__, "shapesafe.")
    if info.name != "shapesafe.__main__"
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ``>>>`` examples in docstrings are rendered into the API reference: they run too."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    with warnings.catch_warnings():
        # ``strategy.example()`` in shapesafe.testing's docstrings is meant for the REPL
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        for test in finder.find(module, name):
            runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, capsys.readouterr().out


def test_the_api_reference_lists_every_public_name() -> None:
    reference = (ROOT / "docs" / "reference" / "api.md").read_text(encoding="utf-8")
    listed = set()
    for path in re.findall(r"^::: ([\w.]+)$", reference, re.M):
        module, _, attr = path.rpartition(".")
        listed.add(id(getattr(importlib.import_module(module), attr)))
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        for public in module.__all__:
            if not public.startswith("__"):
                obj = getattr(module, public)
                assert id(obj) in listed, f"{name}.{public} is missing from docs/reference/api.md"
