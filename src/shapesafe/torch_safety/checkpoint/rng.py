"""The state of Python's, numpy's and torch's random generators, for an exact resume.

A resumed run that restores the weights but not the generators draws different
minibatches and different exploration noise than the run it continues, so "resume" and
"never stopped" diverge from the first step. :func:`capture_rng_state` returns the three
generators' states as plain data that :func:`save_checkpoint` can store (numpy's key
array becomes a tensor, since ``weights_only`` loading refuses numpy arrays);
:func:`restore_rng_state` puts them back, checking the whole state first so that a
malformed one changes no generator.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from shapesafe._format import error, fmt_value
from shapesafe.errors import UsageError

__all__ = ["capture_rng_state", "restore_rng_state"]

_KEYS = ("python", "numpy", "torch")


def capture_rng_state() -> dict[str, Any]:
    """The state of Python's, numpy's (global) and torch's random generators, as plain
    data that :func:`save_checkpoint` can store, for an exactly reproducible resume.

    Examples:
        >>> import torch
        >>> from shapesafe import capture_rng_state, restore_rng_state
        >>> s = capture_rng_state(); a = torch.rand(2)
        >>> restore_rng_state(s); torch.equal(a, torch.rand(2))
        True
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64).copy()),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():  # pragma: no cover - no GPU in CI
        state["torch_cuda"] = torch.cuda.get_rng_state_all()
    return state


def _bad(summary: str, got: Any) -> UsageError:
    return error(
        UsageError,
        summary,
        function="restore_rng_state",
        argument="state",
        expected="a dict from capture_rng_state() (keys python, numpy, torch)",
        got=fmt_value(got),
        hint="pass what capture_rng_state() returned, e.g. load_checkpoint(...)['rng']",
    )


def _parse(state: Any) -> tuple[Any, tuple[Any, ...], torch.Tensor]:
    """The three generator states in the form their setters take, or a UsageError.

    Everything is converted before any generator is set: a state that fails half-way
    would leave Python's generator restored and torch's not, a mix no run ever had.
    """
    if not isinstance(state, Mapping):
        raise _bad(f"must be a dict, got {fmt_value(state)}", state)
    missing = [k for k in _KEYS if k not in state]
    if missing:
        raise _bad(f"has no {', '.join(repr(k) for k in missing)} entry", state)
    try:
        py = state["python"]
        py_state = (int(py[0]), tuple(int(v) for v in py[1]), py[2])
        n = state["numpy"]
        keys = n["keys"]
        keys = keys.numpy() if isinstance(keys, torch.Tensor) else np.asarray(keys)
        np_state = (
            str(n["kind"]),
            keys.astype(np.uint32),
            int(n["pos"]),
            int(n["has_gauss"]),
            float(n["cached_gaussian"]),
        )
        torch_state = state["torch"]
        if not (isinstance(torch_state, torch.Tensor) and torch_state.dtype == torch.uint8):
            raise TypeError(f"'torch' is {fmt_value(torch_state)}, not a uint8 tensor")
        # dry runs on throwaway generators: they validate lengths and contents exactly
        random.Random().setstate(py_state)
        np.random.RandomState().set_state(np_state)
        torch.Generator().set_state(torch_state.cpu())
    except UsageError:
        raise
    except Exception as e:  # any malformed entry: say which part, not where numpy choked
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise _bad(f"is not a generator state capture_rng_state() wrote ({first})", state) from None
    return py_state, np_state, torch_state.cpu()


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Restore generators captured by :func:`capture_rng_state` (e.g. from checkpoint
    metadata). A malformed state raises :class:`~shapesafe.UsageError` and changes no
    generator."""
    py_state, np_state, torch_state = _parse(state)
    random.setstate(py_state)
    np.random.set_state(np_state)
    torch.set_rng_state(torch_state)
    if "torch_cuda" in state and torch.cuda.is_available():  # pragma: no cover
        torch.cuda.set_rng_state_all(state["torch_cuda"])
