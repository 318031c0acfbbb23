"""install_import_hook: reaches every annotated function and method of the named
packages (and nothing else), leaves the bytecode cache alone, and uninstalls cleanly."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import shapesafe
from shapesafe import ShapeError, UsageError

MODULE_A = """
from __future__ import annotations
from typing import NamedTuple, Optional
import torch
from jaxtyping import Float, Int
from torch import Tensor, nn
import shapesafe
from OTHER_PACKAGE.helpers import foreign

def double(x: Float[Tensor, "batch obs"]) -> Float[Tensor, "batch obs"]:
    return 2 * x

def plain(x, y=1):
    return x

def scalar_only(x: int) -> int:
    return x

def optional(x: Optional[Float[Tensor, "n"]] = None) -> int:
    return 0

@shapesafe.check
def already(x: Float[Tensor, "n"]) -> Float[Tensor, "n"]:
    return x

class Batch(NamedTuple):
    obs: Float[Tensor, "batch obs"]
    act: Int[Tensor, "batch"]

def takes_batch(b: Batch) -> int:
    return 0

class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 2)

    def forward(self, obs: Float[Tensor, "batch 3"]) -> Float[Tensor, "batch 2"]:
        return self.lin(obs)

    def get_value(self, obs: Float[Tensor, "batch 3"]) -> Float[Tensor, "batch"]:
        return self.lin(obs).sum(-1)

    @staticmethod
    def stat(x: Float[Tensor, "n"]) -> Float[Tensor, "n"]:
        return x

    @classmethod
    def klass(cls, x: Float[Tensor, "n"]) -> Float[Tensor, "n"]:
        return x

REGISTRY = {"double": double}  # a reference kept while the module ran: stays unchecked
"""

SUB_B = """
from jaxtyping import Float
from torch import Tensor

def td(r: Float[Tensor, "batch"], v: Float[Tensor, "batch"]) -> Float[Tensor, "batch"]:
    return r + v
"""

OTHER = """
from jaxtyping import Float
from torch import Tensor

def foreign(x: Float[Tensor, "n"]) -> Float[Tensor, "n"]:
    return x
"""


@pytest.fixture
def packages(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A fresh package pair per test (unique names: sys.modules caches by name)."""
    tag = request.node.name.replace("[", "_").replace("]", "_").replace("-", "_")
    pkg, other = f"hooked_{tag}", f"unhooked_{tag}"
    (tmp_path / pkg / "sub").mkdir(parents=True)
    (tmp_path / other).mkdir()
    (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / pkg / "a.py").write_text(MODULE_A.replace("OTHER_PACKAGE", other))
    (tmp_path / pkg / "sub" / "__init__.py").write_text("")
    (tmp_path / pkg / "sub" / "b.py").write_text(SUB_B)
    (tmp_path / other / "__init__.py").write_text("")
    (tmp_path / other / "helpers.py").write_text(OTHER)
    sys.path.insert(0, str(tmp_path))
    try:
        yield pkg, other
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith((pkg, other))]:
            del sys.modules[name]


def test_annotated_functions_and_methods_are_checked(packages: tuple[str, str]) -> None:
    pkg, _ = packages
    with shapesafe.install_import_hook(pkg) as hook:
        a = importlib.import_module(f"{pkg}.a")
        b = importlib.import_module(f"{pkg}.sub.b")
    with pytest.raises(ShapeError) as info:
        a.double(torch.zeros(3))
    assert info.value.function.endswith("double")
    with pytest.raises(ShapeError):
        b.td(torch.zeros(4), torch.zeros(4, 1))
    net = a.Net()
    with pytest.raises(ShapeError):
        net(torch.zeros(5, 4))
    with pytest.raises(ShapeError):
        net.get_value(torch.zeros(5, 4))
    with pytest.raises(ShapeError):
        a.Net.stat(torch.zeros(2, 2))
    with pytest.raises(ShapeError):
        a.Net.klass(torch.zeros(2, 2))
    with pytest.raises(ShapeError):  # a NamedTuple of arrays counts as annotated
        a.takes_batch(a.Batch(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long)))
    # correct calls pass and compute the same values
    assert torch.equal(a.double(torch.ones(2, 3)), 2 * torch.ones(2, 3))
    names = set(hook.stats.functions)
    assert f"{pkg}.a.double" in names and f"{pkg}.sub.b.td" in names
    assert f"{pkg}.a.Net.get_value" in names and f"{pkg}.a.optional" in names


def test_unannotated_code_other_packages_and_checked_functions_are_untouched(
    packages: tuple[str, str],
) -> None:
    pkg, other = packages
    with shapesafe.install_import_hook(pkg) as hook:
        a = importlib.import_module(f"{pkg}.a")
    helpers = importlib.import_module(f"{other}.helpers")
    assert a.plain.__code__.co_name == "plain" and not hasattr(a.plain, "__wrapped__")
    assert not hasattr(a.scalar_only, "__wrapped__")
    assert a.foreign is helpers.foreign  # imported from another package: not checked
    helpers.foreign(torch.zeros(2, 2))  # wrong for its annotation, but not ours to check
    assert f"{pkg}.a.already" not in hook.stats.functions  # no second layer
    a.REGISTRY["double"](torch.zeros(3))  # a reference kept at import: the original
    assert not hasattr(a.Batch, "__wrapped__")


def test_uninstall_stops_checking_new_imports(packages: tuple[str, str]) -> None:
    pkg, _ = packages
    hook = shapesafe.install_import_hook(pkg)
    assert hook in sys.meta_path
    hook.uninstall()
    assert hook not in sys.meta_path
    a = importlib.import_module(f"{pkg}.a")
    assert torch.equal(a.double(torch.ones(3)), 2 * torch.ones(3))  # unchecked now


def test_modules_imported_before_the_hook_are_named_in_a_warning(
    packages: tuple[str, str],
) -> None:
    pkg, _ = packages
    importlib.import_module(f"{pkg}.a")
    with pytest.warns(UserWarning, match="imported before the hook"):
        shapesafe.install_import_hook(pkg).uninstall()


@pytest.mark.parametrize("bad", ["", ".pkg", None, 3, [], ["ok", 1], "shapesafe"])
def test_bad_package_names_are_refused(bad: object) -> None:
    with pytest.raises(UsageError) as info:
        shapesafe.install_import_hook(bad)  # type: ignore[arg-type]
    assert info.value.argument == "packages"


def test_a_hooked_function_compiles_with_its_checks(packages: tuple[str, str]) -> None:
    pkg, _ = packages
    with shapesafe.install_import_hook(pkg):
        b = importlib.import_module(f"{pkg}.sub.b")
    compiled = torch.compile(b.td, fullgraph=True, backend="eager")
    assert torch.equal(compiled(torch.ones(4), torch.ones(4)), 2 * torch.ones(4))
    with pytest.raises(ShapeError):
        compiled(torch.ones(4), torch.ones(4, 1))


RUN = """
import sys, torch
sys.path.insert(0, {root!r})
import shapesafe
if {hook}:
    shapesafe.install_import_hook("cachepkg")
import cachepkg.mod as m
try:
    m.f(torch.zeros(3, 1))
    print("unchecked")
except shapesafe.ShapeError:
    print("checked")
"""


def test_the_bytecode_cache_is_not_poisoned(tmp_path: Path) -> None:
    """The same .pyc serves runs with and without the hook; each gets its own behaviour."""
    (tmp_path / "cachepkg").mkdir()
    (tmp_path / "cachepkg" / "__init__.py").write_text("")
    (tmp_path / "cachepkg" / "mod.py").write_text(
        textwrap.dedent(
            """
            from jaxtyping import Float
            from torch import Tensor
            def f(x: Float[Tensor, "n"]) -> Float[Tensor, "n"]:
                return x
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.pop("SHAPESAFE_DISABLE", None)

    def run(hook: bool) -> str:
        code = RUN.format(root=str(tmp_path), hook=hook)
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        return out.stdout.strip()

    assert run(True) == "checked"
    assert list((tmp_path / "cachepkg" / "__pycache__").glob("mod*.pyc"))
    assert run(False) == "unchecked"
    assert run(True) == "checked"
