"""Every public callable, fed bad input, either works or raises a ``ShapesafeError``.

This walks the public API (``shapesafe``, ``shapesafe.ops``, ``shapesafe.distributions``,
``shapesafe.bc``) and calls each function and class with odd values for its required
parameters: ``None``, strings, negative and huge numbers, containers, empty and non-finite
tensors, object arrays. Python's own ``TypeError`` for a call that does not fit the
signature is fine (we only call when ``inspect.signature(f).bind`` accepts the arguments);
anything else that escapes -- an ``AttributeError``, an ``IndexError``, a bare
``ValueError`` from deep inside torch -- is a bug: the user gets no idea what to fix.
"""

from __future__ import annotations

import inspect
import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import shapesafe
import shapesafe.bc
import shapesafe.distributions
import shapesafe.ops

# Callables that take no input worth fuzzing, or whose contract is "any object":
_SKIP = {
    "shapesafe.check",  # a decorator: check(None) returns a decorator (tested elsewhere)
    "shapesafe.enabled",
    "shapesafe.strict_broadcasting",  # decorator or context manager factory
    "shapesafe.allow_broadcasting",
    "shapesafe.bc.plot_losses",  # needs matplotlib output dir; covered in bc tests
    "shapesafe.distributions.Dist",  # an annotation, never called
}


def _bad_values(tmp: Path) -> list[Any]:
    return [
        None,
        "bad",
        -1,
        0,
        10**20,
        2.5,
        math.nan,
        True,
        [1, 2],
        {"a": 1},
        (),
        object(),
        torch.zeros(0),
        torch.zeros(3, 0),
        torch.full((2, 3), math.nan),
        torch.zeros((), dtype=torch.int64),
        torch.zeros(2, 3, dtype=torch.complex64),
        np.array(["x", "y"]),
        np.zeros(3, dtype=object),
        tmp / "missing.pt",
        str(tmp / "missing.npz"),
    ]


def _public_callables() -> list[tuple[str, Callable[..., Any]]]:
    out = []
    for module in (shapesafe, shapesafe.ops, shapesafe.distributions, shapesafe.bc):
        for name in module.__all__:
            obj = getattr(module, name)
            qual = f"{module.__name__}.{name}"
            if qual in _SKIP or not callable(obj):
                continue
            if isinstance(obj, type) and (
                issubclass(obj, BaseException) or inspect.isabstract(obj)
            ):
                continue  # exceptions; abstract bases (Python refuses to build them)
            out.append((qual, obj))
    return out


CALLABLES = _public_callables()


def _required(fn: Callable[..., Any]) -> list[inspect.Parameter] | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return [
        p
        for p in sig.parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


def _call(fn: Callable[..., Any], args: list[Any]) -> None:
    try:
        inspect.signature(fn).bind(*args)
    except TypeError:
        return  # does not fit the signature: Python's own TypeError is fine
    except ValueError:
        pass
    cwd = os.getcwd()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fn(*args)
        if inspect.isgenerator(result):
            result.close()
        elif hasattr(result, "__enter__") and hasattr(result, "__exit__"):
            with result:
                pass
    except shapesafe.ShapesafeError:
        pass
    except Exception as err:  # pragma: no cover - the failure we are looking for
        raise AssertionError(
            f"{getattr(fn, '__qualname__', fn)}{tuple(map(_short, args))} raised "
            f"{type(err).__module__}.{type(err).__name__}: {err}"
        ) from err
    finally:
        os.chdir(cwd)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 40 else text[:37] + "..."


@pytest.mark.parametrize("qualname, fn", CALLABLES, ids=[q for q, _ in CALLABLES])
def test_every_required_argument_bad(qualname: str, fn: Callable[..., Any], tmp_path: Path) -> None:
    """All required arguments get the same bad value, one value at a time."""
    required = _required(fn)
    if required is None:
        pytest.fail(f"{qualname} has no inspectable signature")
    for bad in _bad_values(tmp_path):
        _call(fn, [bad] * len(required))


@pytest.mark.parametrize("qualname, fn", CALLABLES, ids=[q for q, _ in CALLABLES])
@given(data=st.data())
def test_mixed_bad_arguments(qualname: str, fn: Callable[..., Any], data: st.DataObject) -> None:
    """Required arguments drawn independently from the bad values (plus a good tensor)."""
    required = _required(fn) or []
    pool = [*_bad_values(Path("/nonexistent-shapesafe")), torch.randn(4, 3), torch.arange(4)]
    args = [data.draw(st.sampled_from(pool), label=p.name) for p in required]
    _call(fn, args)


def test_the_walk_reaches_the_api() -> None:
    names = {q for q, _ in CALLABLES}
    for expected in (
        "shapesafe.from_numpy",
        "shapesafe.load_checkpoint",
        "shapesafe.ops.take_along",
        "shapesafe.distributions.DiagNormal",
        "shapesafe.bc.fit",
        "shapesafe.bc.Demonstrations",
    ):
        assert expected in names
