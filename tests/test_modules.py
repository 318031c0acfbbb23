from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import shapesafe
from shapesafe import (
    AuditError,
    NonFiniteError,
    StepStats,
    audit,
    evaluating,
    sgd_step,
    train_step,
)
from shapesafe.errors import DtypeError, ShapeError, ShapesafeError, UsageError
from shapesafe.testing import tensors


def assert_fields(err: ShapesafeError, **fields: Any) -> None:
    """The structured fields of ``err`` (the wording is pinned in test_messages)."""
    for name, value in fields.items():
        assert getattr(err, name) == value, (name, getattr(err, name), value)


# ---------------------------------------------------------------- module trees


def _leaf(kind: int) -> nn.Module:
    return [lambda: nn.Linear(3, 3), lambda: nn.Dropout(0.5), lambda: nn.BatchNorm1d(3)][kind]()


module_trees = st.recursive(
    st.integers(0, 2).map(_leaf),
    lambda inner: st.lists(inner, min_size=1, max_size=3).map(lambda ms: nn.Sequential(*ms)),
    max_leaves=8,
)


@st.composite
def trees_with_flags(draw: st.DrawFn) -> tuple[nn.Module, list[bool]]:
    tree = draw(module_trees)
    mods = list(tree.modules())
    flags = draw(st.lists(st.booleans(), min_size=len(mods), max_size=len(mods)))
    for m, f in zip(mods, flags):
        m.training = f
    return tree, flags


# ---------------------------------------------------------------- evaluating


@given(trees_with_flags(), st.sampled_from(["no_grad", "inference", "enabled"]), st.booleans())
@settings(max_examples=40)
def test_evaluating_restores_every_flag_exactly(
    tree_flags: tuple[nn.Module, list[bool]], grad: Any, raise_inside: bool
) -> None:
    tree, flags = tree_flags
    grad_before = torch.is_grad_enabled()

    class Boom(Exception):
        pass

    try:
        with evaluating(tree, grad=grad):
            assert all(not m.training for m in tree.modules())
            assert torch.is_grad_enabled() == (grad == "enabled")
            assert torch.is_inference_mode_enabled() == (grad == "inference")
            if raise_inside:
                raise Boom
    except Boom:
        assert raise_inside
    assert [m.training for m in tree.modules()] == flags
    assert torch.is_grad_enabled() == grad_before
    assert not torch.is_inference_mode_enabled()


@pytest.mark.values
@given(module_trees, tensors(torch.float32, (5, 3)), st.integers(0, 2**31 - 1))
@settings(max_examples=30)
def test_evaluating_matches_eval_plus_no_grad(tree: nn.Module, x: torch.Tensor, seed: int) -> None:
    torch.manual_seed(seed)  # the dropout masks
    tree.train()
    tree(x)  # give batch norm some running statistics
    with evaluating(tree):
        got = tree(x)
    tree.eval()
    with torch.no_grad():
        expected = tree(x)
    assert torch.equal(got, expected)
    assert not got.requires_grad


@pytest.mark.values
def test_evaluating_several_modules_and_outputs_usable_later() -> None:
    policy, value = nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 1), nn.Dropout(0.1))
    value[1].eval()  # a frozen-in-eval submodule stays so
    with evaluating(policy, value):
        assert not policy.training and not value.training
        out = policy(torch.ones(1, 2))
    assert policy.training and value.training and not value[1].training
    # no_grad outputs (unlike inference-mode ones) can be used in training later
    (value(out) * 2).sum().backward()
    with evaluating(policy, grad="inference"):
        inf = policy(torch.ones(1, 2))
    assert inf.is_inference()


def test_evaluating_bad_arguments() -> None:
    net = nn.Linear(1, 1)
    bad_grad = evaluating(net, grad="off")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="must be 'no_grad', 'inference' or 'enabled'") as info:
        bad_grad.__enter__()
    assert_fields(info.value, function="evaluating", argument="grad", got="the str 'off'")
    bad_module = evaluating(net, "net")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"must be a torch.nn.Module") as info:
        bad_module.__enter__()
    assert_fields(info.value, function="evaluating", argument="modules[1]", got="the str 'net'")
    assert net.training  # refused before any module was touched


# ---------------------------------------------------------------- audit


class Hidden(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(2, 2)
        self.heads = [nn.Linear(2, 1), nn.Linear(2, 1)]
        self.by_name = {"pi": nn.Linear(2, 1)}
        self.scales = [nn.Parameter(torch.ones(2))]
        self.log_std = torch.zeros(2, requires_grad=True)
        self.alias = [self.body]  # aliases a registered module: fine
        self.const = torch.ones(2)  # a plain constant tensor: fine


def test_audit_finds_unregistered_modules_and_tensors() -> None:
    report = audit(Hidden())
    assert report.kinds() == [
        "unregistered_module",
        "unregistered_module",
        "unregistered_module",
        "unregistered_parameter",
        "tensor_not_parameter",
    ]
    wheres = [f.where for f in report]
    assert wheres == ["heads[0]", "heads[1]", "by_name['pi']", "scales[0]", "log_std"]
    text = str(report)
    assert text.startswith("audit(Hidden): 5 problems")
    assert "[unregistered_module] heads[0]: Linear held in a plain list is not registered" in text
    assert "hint: self.heads = nn.ModuleList(...)" in text
    assert "hint: self.by_name = nn.ModuleDict(...)" in text
    assert "hint: self.scales = nn.ParameterList(...)" in text
    assert "hint: self.log_std = nn.Parameter(...)" in text
    with pytest.raises(AuditError, match="5 problems") as info:
        audit(Hidden(), strict=True)
    assert_fields(info.value, function="audit", argument="module", expected="no problems")


class Clean(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.heads = nn.ModuleList([nn.Linear(2, 1), nn.Linear(2, 1)])
        self.log_std = nn.Parameter(torch.zeros(2))
        self.register_buffer("mean", torch.zeros(2))


def test_audit_clean_module() -> None:
    net = Clean()
    report = audit(net, torch.optim.Adam(net.parameters()), strict=True)
    assert report.ok and len(report) == 0
    assert str(report) == "audit(Clean): no problems found"


def test_audit_optimizer_findings() -> None:
    net = Clean()
    net.heads[1].bias.requires_grad_(False)
    old = nn.Linear(2, 2)
    params = [net.heads[0].weight, net.heads[0].bias, net.heads[1].bias]
    opt = torch.optim.SGD([{"params": params}, {"params": [old.weight]}], lr=0.1)
    opt.param_groups[0]["params"].append(net.heads[0].weight)  # a duplicate slipped in
    report = audit(net, opt)
    assert report.kinds() == [
        "frozen_in_optimizer",
        "duplicate_in_optimizer",
        "foreign_in_optimizer",
        "missing_from_optimizer",
        "missing_from_optimizer",
    ]
    text = str(report)
    assert "[frozen_in_optimizer] heads.1.bias: has requires_grad=False" in text
    assert "[foreign_in_optimizer] optimizer param_groups[1]['params'][0]: tensor (2, 2)" in text
    assert (
        "[duplicate_in_optimizer] heads.0.weight: held by the optimizer twice "
        "(optimizer param_groups[0]['params'][0] and optimizer param_groups[0]['params'][3])"
    ) in text
    assert "[missing_from_optimizer] heads.1.weight: trainable parameter (1, 2)" in text
    assert "[missing_from_optimizer] log_std" in text


@given(module_trees, st.data())
@settings(max_examples=30)
def test_audit_missing_from_optimizer_matches_reference(tree: nn.Module, data: Any) -> None:
    named = list(tree.named_parameters())
    keep = data.draw(st.lists(st.booleans(), min_size=len(named), max_size=len(named)))
    chosen = [p for (_, p), k in zip(named, keep) if k]
    report = audit(tree, torch.optim.SGD(chosen, lr=0.1) if chosen else None)
    if not chosen:
        assert report.ok
        return
    missing = [f.where for f in report if f.kind == "missing_from_optimizer"]
    assert missing == [n for (n, _), k in zip(named, keep) if not k]
    assert report.kinds() == ["missing_from_optimizer"] * len(missing)


def test_audit_train_mode_at_evaluation() -> None:
    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.2))
    report = audit(net, evaluation=True)
    assert report.kinds() == ["train_mode_at_eval"] * 3
    assert [f.where for f in report] == ["(root)", "0", "1"]
    assert "Dropout is in train mode at evaluation" in str(report)
    assert "with evaluating(model):" in str(report)
    with evaluating(net):
        assert audit(net, evaluation=True).ok


def test_audit_bad_argument() -> None:
    with pytest.raises(UsageError, match=r"must be a torch.nn.Module") as info:
        audit([nn.Linear(1, 1)])  # type: ignore[arg-type]
    assert_fields(info.value, function="audit", argument="module", got="a list of 1 item")


# ---------------------------------------------------------------- sgd_step


@pytest.mark.values
@given(
    momentum=st.sampled_from([0.0, 0.5, 0.9]),
    dampening=st.sampled_from([0.0, 0.1]),
    weight_decay=st.sampled_from([0.0, 1e-2]),
    nesterov=st.booleans(),
    maximize=st.booleans(),
    lr=st.floats(1e-4, 1.0),
    xs=tensors(torch.float32, (3, 5, 3)),  # one batch per step
    seed=st.integers(0, 2**31 - 1),
    foreach=st.booleans(),
)
@settings(max_examples=40)
def test_sgd_step_matches_torch_sgd_bit_for_bit(
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    maximize: bool,
    lr: float,
    xs: torch.Tensor,
    seed: int,
    foreach: bool,
) -> None:
    if nesterov and (momentum == 0 or dampening != 0):
        nesterov = False
    torch.manual_seed(seed)
    ref = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    mine = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    mine.load_state_dict(ref.state_dict())
    mine[2].bias.requires_grad_(False)  # a parameter without grad is skipped by both
    ref[2].bias.requires_grad_(False)
    kw = dict(
        momentum=momentum,
        dampening=dampening,
        weight_decay=weight_decay,
        nesterov=nesterov,
        maximize=maximize,
    )
    opt = torch.optim.SGD(ref.parameters(), lr=lr, foreach=foreach, **kw)  # type: ignore[arg-type]
    buffers: list[torch.Tensor | None] = [None] * len(list(mine.parameters()))
    for x in xs:
        for net in (ref, mine):
            net.zero_grad()
            net(x).pow(2).mean().backward()
        opt.step()
        sgd_step(mine, lr, buffers=buffers, **kw)  # type: ignore[arg-type]
        for a, b in zip(ref.parameters(), mine.parameters()):
            assert torch.equal(a, b)


@pytest.mark.values
def test_sgd_step_matches_a_hand_written_loop() -> None:
    torch.manual_seed(0)
    a, b = nn.Linear(2, 1), nn.Linear(2, 1)
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 2)
    for net in (a, b):
        net(x).pow(2).sum().backward()
    for p in a.parameters():  # the hand-written loop
        p.data.add_(-0.001 * p.grad)
    sgd_step(b.parameters(), lr=0.001)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-7)
        assert q.grad is not None  # not zeroed (SGD.step does not either)


def test_sgd_step_bad_arguments() -> None:
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(UsageError, match="must be a finite number >= 0") as info:
        sgd_step([w], lr=-1)
    assert_fields(info.value, function="sgd_step", argument="lr", got="the int -1")
    with pytest.raises(UsageError, match="Nesterov momentum requires") as info:
        sgd_step([w], lr=0.1, nesterov=True)
    assert_fields(info.value, function="sgd_step", argument="nesterov")
    with pytest.raises(UsageError, match="momentum needs a list of buffers") as info:
        sgd_step([w], lr=0.1, momentum=0.9)
    assert_fields(info.value, function="sgd_step", argument="buffers", got="None")
    with pytest.raises(UsageError, match="has 3 slots for 1 parameters") as info:
        sgd_step(w, lr=0.1, momentum=0.9, buffers=[None] * 3)
    assert_fields(info.value, function="sgd_step", argument="buffers", expected="1", got="3")


# ---------------------------------------------------------------- train_step


def mse(m: nn.Module, b: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return nn.functional.mse_loss(m(b[0]), b[1])


@pytest.mark.values
@given(
    obs=tensors(torch.float32, (3, 8, 3)),
    act=tensors(torch.float32, (3, 8, 2)),
    seed=st.integers(0, 2**31 - 1),
    clip=st.sampled_from([None, 0.1, 10.0]),
)
@settings(max_examples=20)
def test_train_step_matches_a_hand_written_loop(
    obs: torch.Tensor, act: torch.Tensor, seed: int, clip: float | None
) -> None:
    torch.manual_seed(seed)  # the weights
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-2)
    opt_b = torch.optim.Adam(b.parameters(), lr=1e-2)
    for batch in zip(obs, act):  # three steps
        loss = mse(a, batch)  # the usual order
        opt_a.zero_grad()
        loss.backward()
        norm = None
        if clip is not None:
            norm = float(nn.utils.clip_grad_norm_(a.parameters(), clip))
        opt_a.step()
        stats = train_step(b, mse, batch, opt_b, max_grad_norm=clip)
        assert isinstance(stats, StepStats)
        assert stats.loss == loss.item() and stats.grad_norm == norm
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_train_step_refuses_non_scalar_losses() -> None:
    net = nn.Linear(3, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x = torch.randn(4, 3)
    before = [p.clone() for p in net.parameters()]
    loss_field = {"function": "train_step", "argument": "return value of loss_fn"}
    with pytest.raises(ShapeError, match="loss must be a scalar") as info:
        train_step(net, lambda m, b: m(b) ** 2, x, opt)
    assert_fields(info.value, **loss_field, expected="()", got="(4, 1)")
    assert (info.value.hint or "").startswith("reduce it: .mean()")
    with pytest.raises(ShapeError, match="loss must be a scalar") as info:
        train_step(net, lambda m, b: (m(b) ** 2).sum().reshape(1), x, opt)
    assert_fields(info.value, **loss_field, expected="()", got="(1,)")
    assert (info.value.hint or "").startswith("it has one element")
    with pytest.raises(DtypeError, match="expected a 0-d tensor") as dinfo:
        train_step(net, lambda m, b: (m(b) ** 2).sum().item(), x, opt)  # type: ignore[arg-type,return-value]
    assert_fields(dinfo.value, **loss_field, expected="a 0-d float tensor")
    assert (dinfo.value.got or "").startswith("the float ")
    with pytest.raises(shapesafe.AutogradError, match="loss does not require grad") as ainfo:
        train_step(net, lambda m, b: (m(b) ** 2).sum().detach(), x, opt)
    assert_fields(ainfo.value, **loss_field, got="requires_grad=False")
    assert all(torch.equal(p, q) for p, q in zip(before, net.parameters()))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_train_step_refuses_non_finite_loss_before_backward(bad: float) -> None:
    net = nn.Linear(3, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    before = [p.clone() for p in net.parameters()]
    with pytest.raises(NonFiniteError, match="the parameters were not updated") as info:
        train_step(net, lambda m, b: m(b).sum() * 0 + bad, torch.ones(2, 3), opt)
    assert_fields(
        info.value, function="train_step", argument="return value of loss_fn", got=str(bad)
    )
    assert all(torch.equal(p, q) for p, q in zip(before, net.parameters()))
    assert all(p.grad is None for p in net.parameters())  # backward never ran


def test_train_step_refuses_non_finite_gradient_norm() -> None:
    net = nn.Linear(1, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    before = [p.clone() for p in net.parameters()]
    x = torch.tensor([[0.0]])
    # finite loss, infinite gradient: d/dw sqrt(|w*0|) at 0
    with pytest.raises(NonFiniteError, match=r"gradient norm is (nan|inf); the parameters were"):
        train_step(net, lambda m, b: (m(b) - m.bias).abs().sqrt().sum(), x, opt, max_grad_norm=1.0)
    assert all(torch.equal(p, q) for p, q in zip(before, net.parameters()))


def test_train_step_zeroes_stale_gradients_first() -> None:
    net = nn.Linear(2, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    for p in net.parameters():
        p.grad = torch.full_like(p, 100.0)  # stale gradient from somewhere else
    x = torch.ones(3, 2)
    train_step(net, lambda m, b: m(b).sum(), x, opt)
    assert torch.equal(net.weight.grad, torch.full((1, 2), 3.0))


def test_train_step_call_order_and_bad_optimizer() -> None:
    order: list[str] = []

    class Recording(torch.optim.SGD):
        def zero_grad(self, set_to_none: bool = True) -> None:
            order.append("zero_grad")
            super().zero_grad(set_to_none)

        def step(self, closure: Any = None) -> Any:
            order.append("step")
            return super().step(closure)

    net = nn.Linear(2, 1)
    opt = Recording(net.parameters(), lr=0.1)

    def loss_fn(m: nn.Module, b: torch.Tensor) -> torch.Tensor:
        order.append("loss_fn")
        loss = m(b).sum()
        loss.register_hook(lambda g: order.append("backward"))
        return loss

    train_step(net, loss_fn, torch.ones(3, 2), opt)
    assert order == ["zero_grad", "loss_fn", "backward", "step"]
    with pytest.raises(UsageError, match=r"must be a torch.optim.Optimizer") as info:
        train_step(net, loss_fn, torch.ones(3, 2), None)  # type: ignore[arg-type]
    assert_fields(info.value, function="train_step", argument="optimizer", got="None")


# ---------------------------------------------------------------- issue 11: hardening


def _net_and_opt() -> tuple[nn.Module, torch.optim.Optimizer, list[torch.Tensor]]:
    torch.manual_seed(0)
    net = nn.Linear(3, 1)
    return net, torch.optim.SGD(net.parameters(), lr=0.1), [p.clone() for p in net.parameters()]


@pytest.mark.parametrize("bad", [-1.0, 0.0, 0, math.nan, math.inf, -math.inf, True, "1.0", [1.0]])
def test_train_step_refuses_a_bad_max_grad_norm_before_doing_anything(bad: Any) -> None:
    """Issue 11: -1.0 flipped every gradient, NaN wrote NaN weights, 0 was a no-op."""
    net, opt, before = _net_and_opt()
    calls: list[int] = []

    def loss_fn(m: nn.Module, b: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return m(b).pow(2).mean()

    with pytest.raises(UsageError, match="must be a finite number > 0") as info:
        train_step(net, loss_fn, torch.ones(4, 3), opt, max_grad_norm=bad)
    assert_fields(
        info.value, function="train_step", argument="max_grad_norm", expected="a finite number > 0"
    )
    assert calls == []  # refused before the forward pass
    assert all(torch.equal(p, q) for p, q in zip(before, net.parameters()))
    assert all(p.grad is None for p in net.parameters())


def test_train_step_max_grad_norm_none_means_no_clipping() -> None:
    net, opt, _ = _net_and_opt()
    ref, ref_opt, _ = _net_and_opt()
    x = torch.full((4, 3), 10.0)
    stats = train_step(net, lambda m, b: m(b).pow(2).mean(), x, opt, max_grad_norm=None)
    ref_opt.zero_grad()
    ref(x).pow(2).mean().backward()
    ref_opt.step()
    assert stats.grad_norm is None
    assert all(torch.equal(p, q) for p, q in zip(ref.parameters(), net.parameters()))


def test_train_step_refuses_a_complex_or_integer_loss() -> None:
    """Issue 11: a complex loss leaked torch's RuntimeError from backward()."""
    net, opt, before = _net_and_opt()
    with pytest.raises(DtypeError, match="backward\\(\\) needs a real floating loss") as info:
        train_step(net, lambda m, b: m(b).sum().to(torch.complex64), torch.ones(2, 3), opt)
    assert_fields(
        info.value, function="train_step", argument="return value of loss_fn", got="complex64"
    )
    with pytest.raises(DtypeError, match="real floating loss") as info:
        train_step(net, lambda m, b: m(b).argmax(), torch.ones(2, 3), opt)
    assert_fields(info.value, got="int64")
    assert all(torch.equal(p, q) for p, q in zip(before, net.parameters()))


@pytest.mark.parametrize("loss_fn", [None, "mse", 3, torch.zeros(())])
def test_train_step_refuses_a_non_callable_loss(loss_fn: Any) -> None:
    """Issue 11: a non-callable loss_fn leaked "'str' object is not callable"."""
    net, opt, before = _net_and_opt()
    with pytest.raises(UsageError, match=r"must be a function loss_fn\(model, batch\)") as info:
        train_step(net, loss_fn, torch.ones(2, 3), opt)
    assert_fields(info.value, function="train_step", argument="loss_fn", expected="a callable")
    assert all(torch.equal(p, q) for p, q in zip(before, net.parameters()))


@pytest.mark.parametrize("params", [None, 3, "w", {"w": torch.ones(1)}, [torch.ones(1), None]])
def test_sgd_step_refuses_what_is_not_parameters(params: Any) -> None:
    """Issue 11: sgd_step(None) leaked "'NoneType' object is not iterable"."""
    with pytest.raises(UsageError) as info:
        sgd_step(params, lr=0.1)
    assert_fields(info.value, function="sgd_step", argument="params")


@pytest.mark.parametrize("lr", [math.nan, math.inf, "0.1", None, True])
def test_sgd_step_refuses_a_non_finite_or_non_numeric_lr(lr: Any) -> None:
    w = torch.ones(2, requires_grad=True)
    w.grad = torch.ones(2)
    with pytest.raises(UsageError, match="must be a finite number >= 0") as info:
        sgd_step([w], lr=lr)
    assert_fields(info.value, function="sgd_step", argument="lr")
    assert torch.equal(w.detach(), torch.ones(2))


@pytest.mark.parametrize("optimizer", ["opt", 1, [], object()])
def test_audit_refuses_what_is_not_an_optimizer(optimizer: Any) -> None:
    """Issue 11: audit(net, "opt") leaked "'str' object has no attribute 'param_groups'"."""
    with pytest.raises(UsageError, match=r"must be a torch.optim.Optimizer or None") as info:
        audit(nn.Linear(1, 1), optimizer)
    assert_fields(info.value, function="audit", argument="optimizer")


def test_audit_strict_error_lists_the_kinds() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.heads = [nn.Linear(2, 1)]

    with pytest.raises(AuditError, match="1 problem") as info:
        audit(Net(), strict=True)
    assert_fields(info.value, function="audit", argument="module")
    assert info.value.got == "1 problem: unregistered_module"


# ---------------------------------------------------------------- fuzz: train_step

_ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
_LOSSES = {
    "mean": lambda m, b: m(b).pow(2).mean(),
    "no_mean": lambda m, b: m(b).pow(2),
    "item": lambda m, b: m(b).pow(2).mean().item(),
    "nan": lambda m, b: m(b).mean() * math.nan,
    "inf_grad": lambda m, b: (m(b) * torch.tensor(math.inf)).mean() * 0.0,
    "detached": lambda m, b: m(b).pow(2).mean().detach(),
    "complex": lambda m, b: m(b).mean().to(torch.complex64),
    "int": lambda m, b: (m(b) > 0).sum(),
    "none": lambda m, b: None,
}


@given(
    max_grad_norm=st.one_of(_ODD, st.floats(1e-3, 1e3)),
    loss=st.sampled_from(sorted(_LOSSES)),
    batch=st.sampled_from([(4, 3), (1, 3), (0, 3)]),
)
def test_train_step_fuzz_either_matches_torch_or_refuses_untouched(
    max_grad_norm: Any, loss: str, batch: tuple[int, ...]
) -> None:
    """Odd max_grad_norm values and loss functions: either the same update as the plain
    torch loop, or a ShapesafeError with the parameters exactly as they were."""
    net, opt, before = _net_and_opt()
    ref, ref_opt, _ = _net_and_opt()
    x = torch.randn(batch)
    try:
        stats = train_step(net, _LOSSES[loss], x, opt, max_grad_norm=max_grad_norm)
    except ShapesafeError:
        assert all(torch.equal(p, q) for p, q in zip(before, net.parameters()))
        return
    ref_opt.zero_grad()
    value = _LOSSES[loss](ref, x)
    value.backward()
    norm = None
    if max_grad_norm is not None:
        norm = float(nn.utils.clip_grad_norm_(list(ref.parameters()), max_grad_norm))
    ref_opt.step()
    assert stats.loss == float(value.detach())
    assert stats.grad_norm == norm
    for p, q in zip(ref.parameters(), net.parameters()):
        assert torch.equal(p, q)
        assert bool(torch.isfinite(q).all())


def test_numpy_scalars_are_accepted_as_numbers() -> None:
    """Hyperparameters read from a numpy config are numbers too."""
    net, opt, _ = _net_and_opt()
    stats = train_step(
        net, lambda m, b: m(b).pow(2).mean(), torch.ones(2, 3), opt, max_grad_norm=np.float32(1)
    )
    assert stats.grad_norm is not None
    w = torch.ones(2, requires_grad=True)
    w.grad = torch.ones(2)
    sgd_step([w], lr=np.float64(0.5))
    assert torch.equal(w.detach(), torch.full((2,), 0.5))


def test_an_int_too_large_for_a_float_is_refused_not_overflowing() -> None:
    with pytest.raises(UsageError, match="must be a finite number >= 0") as info:
        sgd_step([torch.ones(1)], lr=10**400)
    assert_fields(info.value, function="sgd_step", argument="lr")
