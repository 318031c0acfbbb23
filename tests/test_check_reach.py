"""The checker's reach and ergonomics in RL code (issue 18): ``@check`` on a whole agent
class, ``check_shape`` sharing dims through ``dims=``, ``float`` / ``int`` annotations
and numpy scalars, hints that stay right for every size, and a wrong return value's
traceback ending at the ``return`` line."""

from __future__ import annotations

import inspect
import traceback

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from jaxtyping import Float, Int
from torch import Tensor, nn

import shapesafe
from shapesafe import AnnotationError, DtypeError, ShapeError

sizes = st.integers(1, 5)

# --------------------------------------------------------------------------------------
# @check on a class: every annotated method


@shapesafe.check
class Agent(nn.Module):
    """cleanrl's PPO agent, reduced: no forward, two annotated entry points."""

    def __init__(self, obs_dim: int, n_actions: int) -> None:
        super().__init__()
        self.critic = nn.Linear(obs_dim, 1)
        self.actor = nn.Linear(obs_dim, n_actions)

    def get_value(self, x: Float[Tensor, "batch obs"]) -> Float[Tensor, "batch 1"]:
        return self.critic(x)

    def get_action_and_value(
        self, x: Float[Tensor, "batch obs"], action: Int[Tensor, "batch"] | None = None
    ) -> tuple[Int[Tensor, "batch"], Float[Tensor, "batch"], Float[Tensor, "batch 1"]]:
        probs = torch.distributions.Categorical(logits=self.actor(x))
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), self.critic(x)

    @staticmethod
    def flat(v: Float[Tensor, "batch 1"]) -> Float[Tensor, "batch"]:
        return v.squeeze(-1)

    @classmethod
    def make(cls, obs_dim: int) -> Agent:
        return cls(obs_dim, 2)

    def unannotated(self, x):  # type: ignore[no-untyped-def]
        return x


class Wider(Agent):
    def get_value(self, x: Float[Tensor, "batch obs"]) -> Float[Tensor, "batch 1"]:
        return self.critic(x).squeeze(-1)  # wrong, but this class was not decorated


@given(batch=sizes, obs=sizes)
def test_every_annotated_method_of_a_decorated_class_is_checked(batch: int, obs: int) -> None:
    agent = Agent.make(obs)
    x = torch.zeros(batch, obs)
    assert agent.get_value(x).shape == (batch, 1)
    action, logp, value = agent.get_action_and_value(x)
    assert (action.shape, logp.shape, value.shape) == ((batch,), (batch,), (batch, 1))
    assert Agent.flat(value).shape == (batch,)
    assert agent.unannotated("anything") == "anything"
    with pytest.raises(ShapeError) as info:
        agent.get_action_and_value(x, torch.zeros(batch + 1, dtype=torch.long))
    err = info.value
    assert (err.function, err.argument, err.axis) == ("Agent.get_action_and_value", "action", 0)
    with pytest.raises(ShapeError) as info:
        agent.get_value(torch.zeros(batch, obs, 1))
    assert (info.value.function, info.value.argument) == ("Agent.get_value", "x")
    with pytest.raises(ShapeError) as info:
        Agent.flat(torch.zeros(batch, 2))
    assert (info.value.function, info.value.argument) == ("Agent.flat", "v")
    with pytest.raises(shapesafe.ShapesafeError) as type_info:
        Agent("3", 2)  # type: ignore[arg-type]
    assert (type_info.value.function, type_info.value.argument) == ("Agent.__init__", "obs_dim")


def test_the_class_wrappers_are_the_ones_check_builds_on_each_method() -> None:
    """Same generated source as decorating the method alone: the per-call cost is the
    cost of @check on that method, unchanged."""

    method = Agent.get_value
    alone = shapesafe.check(method.__wrapped__)  # type: ignore[attr-defined]
    assert method.__shapesafe_source__ == alone.__shapesafe_source__  # type: ignore[attr-defined]


def test_inherited_and_overridden_methods() -> None:
    w = Wider(3, 2)
    # the subclass was not decorated: its override is not checked, the inherited one is
    assert w.get_value(torch.zeros(4, 3)).shape == (4,)
    with pytest.raises(ShapeError, match=r"Agent\.get_action_and_value\(\)"):
        w.get_action_and_value(torch.zeros(4, 3, 1))


def test_a_class_without_annotated_methods_is_refused() -> None:
    with pytest.raises(AnnotationError) as info:

        @shapesafe.check
        class Bare:
            def act(self, x):  # type: ignore[no-untyped-def]
                return x

    assert (info.value.function, info.value.argument) == ("check", "fn")
    assert "defines none" in str(info.value)


# --------------------------------------------------------------------------------------
# check_shape(dims=...)


@given(batch=sizes, obs=sizes, act=sizes)
def test_check_shape_fills_dims_and_shares_them(batch: int, obs: int, act: int) -> None:
    dims: dict[str, object] = {}
    shapesafe.check_shape(torch.zeros(batch, obs), "batch obs", dims=dims)
    assert dims == {"batch": batch, "obs": obs}
    shapesafe.check_shape(torch.zeros(batch, act), "batch act", dims=dims)
    assert dims == {"batch": batch, "obs": obs, "act": act}
    shapesafe.check_shape(np.zeros((batch, 2, 3)), "batch *rest", dims=dims)
    assert dims["rest"] == (2, 3)
    before = dict(dims)
    with pytest.raises(ShapeError) as info:
        shapesafe.check_shape(torch.zeros(batch + 1, 1), "batch one", dims=dims)
    assert (info.value.argument, info.value.axis) == ("value", 0)
    assert dims == before  # a failed check binds nothing
    with shapesafe.enabled(False):
        shapesafe.check_shape(torch.zeros(7, 7), "other more", dims=dims)
    assert dims == before


# --------------------------------------------------------------------------------------
# float / int annotations


@shapesafe.check
def discount(rewards: Float[Tensor, "batch"], gamma: float, n: int) -> Float[Tensor, "batch"]:
    return rewards * gamma**n


@shapesafe.check
def scaled(x: Float[Tensor, "batch"], alpha: float | Float[Tensor, ""]) -> Float[Tensor, "batch"]:
    return x * alpha


@pytest.mark.parametrize(
    "gamma", [0.99, 1, np.float32(0.99), np.float64(0.99), np.float16(0.5), np.int64(1)]
)
@pytest.mark.parametrize("n", [2, np.int64(2), np.int32(2)])
def test_float_and_int_accept_python_and_numpy_scalars(gamma: object, n: object) -> None:
    rewards = torch.ones(3)
    expected = rewards * float(gamma) ** int(n)  # type: ignore[arg-type, call-overload]
    assert torch.allclose(discount(rewards, gamma, n), expected)  # type: ignore[arg-type]


def test_a_0d_tensor_where_float_is_annotated_says_so() -> None:
    with pytest.raises(DtypeError) as info:
        discount(torch.ones(3), torch.tensor(0.99), 1)  # type: ignore[arg-type]
    err = info.value
    assert (err.function, err.argument) == ("discount", "gamma")
    assert err.hint is not None and err.hint.startswith("`gamma` is a 0-d tensor")
    assert "gamma.item()" in err.hint
    # the documented alternative: annotate both
    assert torch.equal(scaled(torch.ones(2), torch.tensor(2.0)), torch.full((2,), 2.0))
    assert torch.equal(scaled(torch.ones(2), np.float32(2.0)), torch.full((2,), 2.0))


# --------------------------------------------------------------------------------------
# hints that are right for every size


@shapesafe.check
def log_prob_per_coordinate(
    mean: Float[Tensor, "batch act"], actions: Float[Tensor, "batch act"]
) -> Float[Tensor, "batch"]:
    return torch.distributions.Normal(mean, 1.0).log_prob(actions)  # bug: per coordinate


@given(batch=st.integers(2, 5), act=sizes)
def test_per_coordinate_log_prob_hint_names_sum_for_every_act(batch: int, act: int) -> None:
    mean, actions = torch.zeros(batch, act), torch.randn(batch, act)
    with pytest.raises(ShapeError) as info:
        log_prob_per_coordinate(mean, actions)
    hint = info.value.hint
    assert hint is not None and ".sum(-1) on return value" in hint
    assert "result" not in str(info.value)
    if act == 1:  # a (batch, 1) column looks the same: both fixes are named
        assert "act=1 in this call" in hint and ".squeeze(-1) on return value" in hint
    # the named fix, applied, agrees with torch's Independent reference at every size
    reference = torch.distributions.Independent(torch.distributions.Normal(mean, 1.0), 1)
    got = torch.distributions.Normal(mean, 1.0).log_prob(actions).sum(-1)
    assert torch.allclose(got, reference.log_prob(actions))


@shapesafe.check
def summed_over_batch(
    obs: Float[Tensor, "batch obs"], logp: Float[Tensor, "batch"]
) -> Float[Tensor, "batch"]:
    return logp.sum(0)  # bug: summed over the batch


@given(batch=sizes)
def test_a_value_reduced_over_the_batch_is_not_told_to_unsqueeze(batch: int) -> None:
    with pytest.raises(ShapeError) as info:
        summed_over_batch(torch.zeros(batch, 3), torch.zeros(batch))
    hint = info.value.hint
    assert hint is not None and hint.startswith("return value is a scalar: it looks reduced")
    assert "unsqueeze" not in hint
    assert ("note: batch=1 (by `obs`)" in hint) == (batch == 1)


def test_a_trailing_one_at_batch_one_says_it_is_ambiguous() -> None:
    @shapesafe.check
    def v(obs: Float[Tensor, "batch obs"], q: Float[Tensor, "batch"]) -> None:
        return None

    with pytest.raises(ShapeError) as info:
        v(torch.zeros(1, 3), torch.zeros(1, 1))
    assert info.value.hint == (
        "`q` has a trailing axis of size 1; did you mean q.squeeze(-1)?; note: batch=1 "
        "(by `obs`) in this call, so a size-1 axis could be that dim or a stray one: check "
        "the fix against a call with larger sizes"
    )
    with pytest.raises(ShapeError) as info:
        v(torch.zeros(4, 3), torch.zeros(4, 1))
    assert info.value.hint == "`q` has a trailing axis of size 1; did you mean q.squeeze(-1)?"


# --------------------------------------------------------------------------------------
# the traceback of a wrong return value


@shapesafe.check
def one_return(obs: Float[Tensor, "batch obs"]) -> Float[Tensor, "batch"]:
    value = obs.sum(0)
    return value  # the line the traceback must end at


@shapesafe.check
def two_returns(obs: Float[Tensor, "batch obs"], flag: bool) -> Float[Tensor, "batch"]:
    if flag:
        return obs.sum(0)
    return obs.sum(1)


def _last_frame(fn: object, *args: object) -> traceback.FrameSummary:
    with pytest.raises(ShapeError) as info:
        fn(*args)  # type: ignore[operator]
    return traceback.extract_tb(info.value.__traceback__)[-1]


def test_a_wrong_return_value_traceback_ends_at_the_return_line() -> None:
    last = _last_frame(one_return, torch.zeros(4, 3))
    source, start = inspect.getsourcelines(one_return.__wrapped__)  # type: ignore[attr-defined]
    expected = start + next(i for i, ln in enumerate(source) if "return value" in ln)
    assert (last.filename, last.lineno, last.name) == (__file__, expected, "one_return")
    assert last.line == "return value  # the line the traceback must end at"
    # several returns: which one ran is unknown, so the def line
    last = _last_frame(two_returns, torch.zeros(4, 3), True)
    _, start = inspect.getsourcelines(two_returns.__wrapped__)  # type: ignore[attr-defined]
    assert (last.filename, last.lineno) == (__file__, start)  # where the definition starts
    # argument errors still end in the wrapper the caller called
    with pytest.raises(ShapeError) as info:
        one_return(torch.zeros(4))
    assert traceback.extract_tb(info.value.__traceback__)[-1].name != "one_return"
