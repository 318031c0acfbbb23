"""Decoration cost: what depends only on the annotation is computed once (parsed specs,
dtype sets), wrappers with the same body share one compiled code object, and
torch._dynamo is not imported until a check fails while compiling."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from jaxtyping import Float, Int
from torch import Tensor

import shapesafe
from shapesafe import ShapeError
from shapesafe._checker.plan import parse_array


def test_parsed_spec_is_memoized_per_annotation() -> None:
    hint = Float[Tensor, "batch obs"]
    assert parse_array(hint) is parse_array(hint)
    assert (
        parse_array(Int[Tensor, "batch"]).torch_dtypes == parse_array(Int[Tensor, "n"]).torch_dtypes
    )


def _make(name: str) -> object:
    ns: dict[str, object] = {"Float": Float, "Tensor": Tensor}
    exec(
        f"def {name}(x: Float[Tensor, 'batch obs']) -> Float[Tensor, 'batch']:\n"
        "    return x.sum(-1)\n",
        ns,
    )
    return ns[name]


def test_same_body_shares_code_but_keeps_its_own_name_and_function() -> None:
    f, g = shapesafe.check(_make("first")), shapesafe.check(_make("second"))
    assert f.__code__.co_code == g.__code__.co_code  # type: ignore[attr-defined]
    assert (f.__name__, g.__name__) == ("first", "second")  # type: ignore[attr-defined]
    assert f.__code__.co_name == "first" and g.__code__.co_name == "second"  # type: ignore[attr-defined]
    assert f(torch.ones(2, 3)).tolist() == [3.0, 3.0]  # type: ignore[operator]
    with pytest.raises(ShapeError) as info:
        g(torch.ones(2))  # type: ignore[operator]
    assert info.value.function == "second"
    assert "def second(x)" in g.__shapesafe_source__  # type: ignore[attr-defined]


def test_decorating_and_calling_does_not_import_dynamo() -> None:
    code = textwrap.dedent(
        """
        import sys, torch, shapesafe
        from jaxtyping import Float
        from torch import Tensor

        @shapesafe.check
        def f(x: Float[Tensor, "n"]) -> Float[Tensor, "n"]:
            return x

        f(torch.zeros(3))
        try:
            f(torch.zeros(3, 1))
        except shapesafe.ShapeError:
            pass
        print("torch._dynamo" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
