"""Checked structured batches: @checked_batch (NamedTuple, dataclass) and check_batch
(mappings against a TypedDict / NamedTuple / dataclass spec)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from typing import NamedTuple, TypedDict

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from jaxtyping import Float, Int
from torch import Tensor

import shapesafe
from shapesafe import AnnotationError, DtypeError, ShapeError


@shapesafe.checked_batch
class Transition(NamedTuple):
    obs: Float[Tensor, "batch obs"]
    actions: Int[Tensor, "batch"]
    rewards: Float[Tensor, "batch"]


@shapesafe.checked_batch
@dataclasses.dataclass(frozen=True)
class Rollout:
    obs: Float[Tensor, "time env obs"]
    values: Float[Tensor, "time env"]
    horizon: int = 0


class Sample(TypedDict):
    obs: Float[Tensor, "batch obs"]
    next_obs: Float[Tensor, "batch obs"]
    actions: Int[Tensor, "batch"]


class PartialSample(TypedDict, total=False):
    obs: Float[Tensor, "batch obs"]
    goals: Float[Tensor, "batch obs"]


def _transition(batch: int, obs: int, act_batch: int | None = None) -> Transition:
    return Transition(
        torch.randn(batch, obs),
        torch.zeros(batch if act_batch is None else act_batch, dtype=torch.long),
        torch.randn(batch),
    )


def _sample(batch: int, obs: int, next_batch: int | None = None) -> dict[str, Tensor]:
    return {
        "obs": torch.randn(batch, obs),
        "next_obs": torch.randn(batch if next_batch is None else next_batch, obs),
        "actions": torch.zeros(batch, dtype=torch.long),
    }


# --------------------------------------------------------------------------------------
# @checked_batch on a NamedTuple


@given(batch=st.integers(1, 6), obs=st.integers(1, 5))
def test_namedtuple_builds_and_keeps_the_values(batch: int, obs: int) -> None:
    o, a, r = torch.randn(batch, obs), torch.arange(batch), torch.randn(batch)
    t = Transition(o, a, r)
    assert type(t) is Transition and isinstance(t, tuple)
    assert t.obs is o and t.actions is a and t.rewards is r
    assert Transition(obs=o, actions=a, rewards=r) == t  # keywords too


@given(batch=st.integers(1, 6), obs=st.integers(1, 5), delta=st.integers(1, 3))
def test_namedtuple_fields_share_dims(batch: int, obs: int, delta: int) -> None:
    with pytest.raises(ShapeError) as info:
        _transition(batch, obs, act_batch=batch + delta)
    err = info.value
    assert (err.function, err.argument, err.axis) == ("Transition", "actions", 0)
    assert err.bindings["batch"] == batch
    assert f"expected batch={batch} (bound by `obs`)" in str(err)


def test_namedtuple_dtype_and_rank() -> None:
    with pytest.raises(DtypeError) as info:
        Transition(torch.randn(4, 3), torch.zeros(4), torch.randn(4))  # float actions
    assert (info.value.function, info.value.argument) == ("Transition", "actions")
    with pytest.raises(ShapeError) as info2:
        Transition(torch.randn(4, 3), torch.zeros(4, 1, dtype=torch.long), torch.randn(4))
    assert info2.value.argument == "actions"
    assert "(4, 1)" in str(info2.value)


def test_namedtuple_make_and_replace_are_checked() -> None:
    t = _transition(4, 3)
    assert Transition._make(list(t)) == t
    with pytest.raises(ShapeError) as info:
        t._replace(rewards=torch.randn(5))
    assert info.value.argument == "rewards"
    with pytest.raises(ShapeError):
        Transition._make([torch.randn(4, 3), torch.zeros(3, dtype=torch.long), torch.randn(4)])


def test_passing_an_unchecked_batch_to_a_checked_function_checks_it() -> None:
    @shapesafe.check
    def td_loss(b: Transition) -> Float[Tensor, ""]:
        return b.rewards.mean()

    with shapesafe.enabled(False):  # built while checks were off: not checked then
        bad = _transition(4, 3, act_batch=5)
    with pytest.raises(ShapeError) as info:
        td_loss(bad)
    assert info.value.function == "td_loss"
    assert info.value.argument == "b.actions"
    assert "`b`.actions axis 0 ('batch')" in str(info.value)
    assert td_loss(_transition(4, 3)).shape == ()


# --------------------------------------------------------------------------------------
# @checked_batch on a dataclass


@given(time=st.integers(1, 4), env=st.integers(1, 3), obs=st.integers(1, 3))
def test_dataclass_checks_init_and_replace(time: int, env: int, obs: int) -> None:
    r = Rollout(torch.randn(time, env, obs), torch.randn(time, env), horizon=time)
    assert r.horizon == time
    with pytest.raises(ShapeError) as info:
        Rollout(torch.randn(time, env, obs), torch.randn(time, env + 1))
    assert (info.value.function, info.value.argument, info.value.axis) == ("Rollout", "values", 1)
    with pytest.raises(ShapeError):
        dataclasses.replace(r, values=torch.randn(time + 1, env))
    with pytest.raises(ShapeError) as info2:
        Rollout(torch.randn(time, env, obs), torch.randn(time, env), horizon="long")  # type: ignore[arg-type]
    assert info2.value.argument == "horizon"


def test_local_class_with_string_annotations() -> None:
    # `from __future__ import annotations` here: the names resolve in this function
    Obs = Float[Tensor, "batch obs"]

    @shapesafe.checked_batch
    class Local(NamedTuple):
        obs: Obs
        mask: Float[Tensor, "batch"]

    Local(torch.zeros(2, 3), torch.zeros(2))
    with pytest.raises(ShapeError):
        Local(torch.zeros(2, 3), torch.zeros(3))


def test_refuses_what_it_cannot_hook() -> None:
    with pytest.raises(AnnotationError) as info:
        shapesafe.checked_batch(Sample)
    assert info.value.function == "checked_batch"
    assert "shapesafe.check_batch(d, Sample)" in str(info.value.hint)

    class Plain:
        obs: Float[Tensor, "batch obs"]

    with pytest.raises(AnnotationError, match="not a NamedTuple, a dataclass or a TypedDict"):
        shapesafe.checked_batch(Plain)
    with pytest.raises(AnnotationError, match="decorates a class"):
        shapesafe.checked_batch(len)  # type: ignore[type-var]


def test_disabled_at_run_time_builds_the_same_objects() -> None:
    with shapesafe.enabled(False):
        t = _transition(4, 3, act_batch=7)
        r = Rollout(torch.randn(2, 1, 3), torch.randn(5, 5))
    assert type(t) is Transition and t.actions.shape == (7,)
    assert type(r) is Rollout and r.values.shape == (5, 5)


def test_disabled_by_env_leaves_the_class_untouched() -> None:
    code = (
        "import typing, torch, shapesafe\n"
        "from jaxtyping import Float\n"
        "class T(typing.NamedTuple):\n"
        "    x: Float[torch.Tensor, 'n']\n"
        "    y: Float[torch.Tensor, 'n']\n"
        "new = T.__new__\n"
        "assert shapesafe.checked_batch(T) is T and T.__new__ is new\n"
        "print(T(torch.zeros(2), torch.zeros(3)).y.shape[0])\n"
    )
    env = {**os.environ, "SHAPESAFE_DISABLE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "3"


# --------------------------------------------------------------------------------------
# check_batch on mappings


@given(batch=st.integers(1, 6), obs=st.integers(1, 5))
def test_check_batch_returns_the_mapping(batch: int, obs: int) -> None:
    d = _sample(batch, obs)
    assert shapesafe.check_batch(d, Sample) is d


@given(batch=st.integers(1, 6), obs=st.integers(1, 5), delta=st.integers(1, 2))
def test_check_batch_shares_dims_across_keys(batch: int, obs: int, delta: int) -> None:
    with pytest.raises(ShapeError) as info:
        shapesafe.check_batch(_sample(batch, obs, next_batch=batch + delta), Sample)
    err = info.value
    assert (err.function, err.argument, err.axis) == ("Sample", "next_obs", 0)
    assert "key `next_obs` axis 0 ('batch')" in str(err)


def test_check_batch_missing_and_extra_keys() -> None:
    d = _sample(4, 3)
    del d["actions"]
    with pytest.raises(ShapeError) as info:
        shapesafe.check_batch(d, Sample)
    err = info.value
    assert (err.function, err.argument) == ("check_batch", "batch")
    assert err.expected == "keys 'obs', 'next_obs', 'actions'"
    assert err.got == "keys 'obs', 'next_obs'"
    assert "needs key 'actions', missing" in str(err)

    extra = {**_sample(4, 3), "infos": [{}] * 4}
    with pytest.raises(ShapeError, match="does not declare 'infos'"):
        shapesafe.check_batch(extra, Sample)
    assert shapesafe.check_batch(extra, Sample, allow_extra=True) is extra
    with pytest.raises(ShapeError, match="expected a mapping"):
        shapesafe.check_batch([1, 2], Sample)  # type: ignore[type-var]


def test_check_batch_optional_keys() -> None:
    assert shapesafe.check_batch({"obs": torch.zeros(2, 3)}, PartialSample)
    assert shapesafe.check_batch({}, PartialSample) == {}
    with pytest.raises(ShapeError) as info:
        shapesafe.check_batch({"obs": torch.zeros(2, 3), "goals": torch.zeros(2, 4)}, PartialSample)
    assert (info.value.argument, info.value.axis) == ("goals", 1)


def test_check_batch_against_namedtuple_and_dataclass_specs() -> None:
    good = {"obs": torch.zeros(4, 2), "actions": torch.zeros(4, dtype=torch.long)}
    with pytest.raises(ShapeError, match="needs key 'rewards'"):
        shapesafe.check_batch(good, Transition)
    good["rewards"] = torch.zeros(4)
    assert shapesafe.check_batch(good, Transition) is good
    # a field with a default is optional in the mapping
    r = {"obs": torch.zeros(3, 2, 1), "values": torch.zeros(3, 2)}
    assert shapesafe.check_batch(r, Rollout) is r
    with pytest.raises(ShapeError):
        shapesafe.check_batch({**r, "values": torch.zeros(2, 2)}, Rollout)
    with pytest.raises(AnnotationError, match="is a TypedDict, NamedTuple or dataclass"):
        shapesafe.check_batch(good, "Sample")  # type: ignore[arg-type]


def test_check_batch_disabled_checks_nothing() -> None:
    with shapesafe.enabled(False):
        d = {"anything": 1}
        assert shapesafe.check_batch(d, Sample) is d


# --------------------------------------------------------------------------------------
# under torch.compile, and the numbers


def _td_target(o: Tensor, a: Tensor, r: Tensor) -> Tensor:
    t = Transition(o * 2, a, r)
    return t.obs.sum(1) + t.rewards * t.actions


def _rollout_sum(o: Tensor, v: Tensor) -> Tensor:
    ro = Rollout(o, v)
    return ro.obs.mean(-1) + ro.values


def test_under_torch_compile_fullgraph() -> None:
    torch._dynamo.reset()
    td = torch.compile(_td_target, backend="eager", fullgraph=True)
    ro = torch.compile(_rollout_sum, backend="eager", fullgraph=True)
    o, a, r = torch.randn(4, 3), torch.arange(4), torch.randn(4)
    torch.testing.assert_close(td(o, a, r), _td_target(o, a, r))
    torch.testing.assert_close(ro(torch.ones(2, 3, 4), torch.ones(2, 3)), torch.full((2, 3), 2.0))
    with pytest.raises(ShapeError) as info:
        td(o, torch.arange(5), r)
    assert (info.value.function, info.value.argument) == ("Transition", "actions")
    with pytest.raises(ShapeError) as info2:
        ro(torch.ones(2, 3, 4), torch.ones(2, 4))
    assert info2.value.argument == "values"


@pytest.mark.values
def test_values_same_with_and_without_checks() -> None:
    torch.manual_seed(0)
    o, a, r = torch.randn(8, 3), torch.arange(8) % 2, torch.randn(8)
    expected = (o * 2).sum(1) + r * a  # plain torch
    torch.testing.assert_close(_td_target(o, a, r), expected)
    d = shapesafe.check_batch(_sample(8, 3), Sample)
    assert sorted(d) == ["actions", "next_obs", "obs"]
