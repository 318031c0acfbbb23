"""fit(compile=...): the same training as eager, checks still live, one extra graph for
the ragged last batch, every policy family."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from jaxtyping import Float
from torch import Tensor

import shapesafe
from shapesafe import ShapeError, UsageError
from shapesafe.bc import (
    ActSpec,
    Batch,
    GaussianPolicy,
    LossOutput,
    ObsSpec,
    cubic_demonstrations,
    fit,
    policy_kinds,
)
from shapesafe.bc.policies.registry import _REGISTRY
from shapesafe.bc.tasks import obstacle_demonstrations


def _gaussian() -> GaussianPolicy:
    torch.manual_seed(0)
    return GaussianPolicy(2, 2, hidden=(16, 16))


def _train(policy: Any, demos: Any, compile: Any, steps: int = 14) -> Any:
    torch.manual_seed(1)
    return fit(
        policy,
        demos,
        steps=steps,
        batch_size=32,
        seed=0,
        progress=False,
        compile=compile,
        log_every=7,
    )


def _same(a: torch.nn.Module, b: torch.nn.Module, **tol: float) -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(x, y, msg=name, **tol)


def test_compiled_training_equals_eager_with_inductor() -> None:
    """203 rows at batch 32: the 7th batch of each epoch has 11 rows (a second graph)."""
    demos = cubic_demonstrations(203, seed=0)
    eager, compiled = _gaussian(), _gaussian()
    r1 = _train(eager, demos, False)
    r2 = _train(compiled, demos, True)
    _same(eager, compiled, rtol=1e-4, atol=1e-5)
    assert r2.train_loss == pytest.approx(r1.train_loss, rel=1e-4)


def test_the_ragged_last_batch_costs_one_more_graph() -> None:
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    _train(_gaussian(), cubic_demonstrations(192, seed=0), "aot_eager", steps=12)  # 6 x 32
    even = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    _train(_gaussian(), cubic_demonstrations(203, seed=0), "aot_eager", steps=21)  # 3 epochs
    ragged = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert ragged == even + 1


class CheckedLoss(GaussianPolicy, kind="test-compiled-checked-loss"):
    """A policy whose loss goes through an annotated helper, with a bug on purpose."""

    def compute_loss(self, batch: Batch) -> LossOutput:
        mean = self.net(batch.observations)
        return LossOutput(_mse(mean, batch.actions[:, :1]))  # wrong: keeps one column


@shapesafe.check
def _mse(pred: Float[Tensor, "batch act"], target: Float[Tensor, "batch act"]) -> Float[Tensor, ""]:
    return ((pred - target) ** 2).mean()


def test_shape_checks_stay_live_under_compile() -> None:
    torch.manual_seed(0)
    policy = CheckedLoss(2, 2, hidden=(8,))
    before = [p.detach().clone() for p in policy.parameters()]
    with pytest.raises(ShapeError) as info:
        _train(policy, cubic_demonstrations(64, seed=0), "aot_eager", steps=2)
    assert info.value.argument == "target"
    assert all(torch.equal(a, b) for a, b in zip(before, policy.parameters()))


def _kinds() -> list[str]:
    return [k for k in policy_kinds() if not k.startswith("test-") and k != "categorical"]


@pytest.mark.parametrize("kind", _kinds())
def test_every_continuous_policy_family_trains_compiled_like_eager(kind: str) -> None:
    demos = obstacle_demonstrations(6, seed=0)
    cls = _REGISTRY[kind]

    def build() -> Any:
        torch.manual_seed(0)
        return cls.from_specs(ObsSpec((2,)), ActSpec((2,)))

    eager, compiled = build(), build()
    _train(eager, demos, False, steps=4)
    _train(compiled, demos, "aot_eager", steps=4)
    _same(eager, compiled, rtol=1e-4, atol=1e-5)


def test_the_categorical_policy_trains_compiled_like_eager() -> None:
    from shapesafe.bc import CategoricalPolicy, Demonstrations

    g = torch.Generator().manual_seed(0)
    obs = torch.randn(100, 3, generator=g)
    demos = Demonstrations(obs, (obs[:, 0] > 0).long())

    def build() -> Any:
        torch.manual_seed(0)
        return CategoricalPolicy.from_specs(ObsSpec((3,)), ActSpec((), torch.int64, discrete=2))

    eager, compiled = build(), build()
    _train(eager, demos, False, steps=5)
    _train(compiled, demos, "aot_eager", steps=5)
    _same(eager, compiled, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bad", ["no-such-backend", 1, "yes"])
def test_a_bad_compile_value_is_refused(bad: Any) -> None:
    with pytest.raises(UsageError) as info:
        _train(_gaussian(), cubic_demonstrations(64, seed=0), bad)
    assert info.value.argument == "compile"


def test_device_moves_the_policy_and_a_bad_device_is_refused() -> None:
    policy = _gaussian()
    fit(policy, cubic_demonstrations(64, seed=0), steps=2, progress=False, device="cpu")
    assert next(policy.parameters()).device.type == "cpu"
    with pytest.raises(UsageError) as info:
        fit(policy, cubic_demonstrations(64, seed=0), steps=2, progress=False, device="gpu:x")
    assert info.value.argument == "device"


@pytest.mark.parametrize("kind", ["gaussian", "mixture", "diffusion", "chunk"])
def test_compiled_act_gives_the_eager_actions(kind: str) -> None:
    import numpy as np

    cls = _REGISTRY[kind]
    torch.manual_seed(0)
    policy = cls.from_specs(ObsSpec((2,)), ActSpec((2,)))
    fit(policy, obstacle_demonstrations(4, seed=0), steps=2, progress=False)
    obs = np.zeros((3, 2), np.float32)
    policy.reset()
    eager = policy.act(obs, deterministic=True)
    policy.compile_act("aot_eager")
    policy.reset()
    compiled = policy.act(obs, deterministic=True)
    np.testing.assert_allclose(compiled, eager, rtol=1e-5, atol=1e-6)
    with pytest.raises(ShapeError):
        policy.act(np.zeros((3, 5), np.float32))
    policy.compile_act(False)
    assert "_compiled_act" not in policy.__dict__
    with pytest.raises(UsageError) as info:
        policy.compile_act("warp-speed")
    assert info.value.argument == "backend"


def test_compiled_checkpoints_resume_like_an_uninterrupted_run(tmp_path: Any) -> None:
    demos = cubic_demonstrations(203, seed=0)
    straight = _gaussian()
    fit(straight, demos, steps=12, batch_size=32, progress=False, compile="aot_eager")
    first = _gaussian()
    fit(
        first,
        demos,
        steps=6,
        batch_size=32,
        progress=False,
        compile="aot_eager",
        checkpoint_dir=tmp_path,
        checkpoint_every=6,
    )
    resumed = _gaussian()
    result = fit(
        resumed,
        demos,
        steps=12,
        batch_size=32,
        progress=False,
        compile="aot_eager",
        checkpoint_dir=tmp_path,
        resume=True,
    )
    assert result.resumed_from == 6
    _same(straight, resumed, rtol=1e-5, atol=1e-6)
