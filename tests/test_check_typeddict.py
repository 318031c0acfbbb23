"""TypedDict annotations: a dict batch is checked key by key, dims bound across keys."""

from __future__ import annotations

import sys
from typing import TypedDict

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from jaxtyping import Float
from torch import Tensor

import shapesafe
from shapesafe import DtypeError, ShapeError

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # pragma: no cover - Python 3.10
    from typing_extensions import NotRequired


class Transition(TypedDict):
    obs: Float[Tensor, "batch obs"]
    act: Float[Tensor, "batch act"]
    weight: NotRequired[Float[Tensor, "batch"]]


@shapesafe.check
def weighted_obs(b: Transition) -> Float[Tensor, "batch"]:
    w = b.get("weight")
    total = b["obs"].sum(-1) + b["act"].sum(-1)
    return total if w is None else total * w


dims = st.integers(1, 5)


@given(batch=dims, obs=dims, act=dims, act_batch=dims, with_weight=st.booleans())
def test_dims_bind_across_keys_like_a_plain_reference(
    batch: int, obs: int, act: int, act_batch: int, with_weight: bool
) -> None:
    b: dict[str, Tensor] = {"obs": torch.ones(batch, obs), "act": torch.ones(act_batch, act)}
    if with_weight:
        b["weight"] = torch.full((batch,), 2.0)
    if act_batch == batch:
        out = weighted_obs(b)  # type: ignore[arg-type]
        expected = torch.full((batch,), float(obs + act) * (2.0 if with_weight else 1.0))
        torch.testing.assert_close(out, expected)
    else:
        with pytest.raises(ShapeError) as info:
            weighted_obs(b)  # type: ignore[arg-type]
        assert info.value.function == "weighted_obs"
        assert info.value.argument == "b['act']"
        assert "expected batch=" in str(info.value)


def test_a_not_required_key_is_checked_when_present() -> None:
    b = {"obs": torch.ones(3, 2), "act": torch.ones(3, 1), "weight": torch.ones(4)}
    with pytest.raises(ShapeError, match=r"`b`\['weight'\] axis 0 \('batch'\)"):
        weighted_obs(b)  # type: ignore[arg-type]


def test_a_missing_required_key_and_a_non_dict_are_named() -> None:
    with pytest.raises(DtypeError) as info:
        weighted_obs({"obs": torch.ones(3, 2)})  # type: ignore[typeddict-item]
    assert "a dict without 'act'" in str(info.value)
    assert info.value.argument == "b"
    with pytest.raises(DtypeError, match="expected a dict: Transition, got list"):
        weighted_obs([torch.ones(3, 2)])  # type: ignore[arg-type]


def test_typeddict_under_compile_with_changing_batch() -> None:
    compiled = torch.compile(weighted_obs, backend="eager", dynamic=True, fullgraph=True)
    for batch in (2, 3, 5):
        b = {"obs": torch.ones(batch, 2), "act": torch.ones(batch, 1)}
        torch.testing.assert_close(compiled(b), torch.full((batch,), 3.0))
