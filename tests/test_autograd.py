from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import shapesafe
from shapesafe import (
    AutogradError,
    autograd_graph,
    check_grads,
    detached_copy,
    explain_autograd_error,
    explain_autograd_errors,
    params_without_grad,
)
from shapesafe.errors import DtypeError, NonFiniteError, ShapesafeError, UsageError
from shapesafe.testing import shapes, tensors


def assert_fields(err: ShapesafeError, **fields: Any) -> None:
    """The structured fields of ``err`` (the wording is pinned in test_messages)."""
    for name, value in fields.items():
        assert getattr(err, name) == value, (name, getattr(err, name), value)


def reference_unique_fns(root: Any) -> set[Any]:
    """A hand-written grad_fn loop, with a visited set: every grad_fn reachable from root, once."""
    seen: set[Any] = set()
    stack = [root]
    while stack:
        fn = stack.pop()
        if fn in seen:
            continue
        seen.add(fn)
        stack.extend(nf for nf, _ in fn.next_functions if nf is not None)
    return seen


class Heads(nn.Module):
    def __init__(self, n_heads: int) -> None:
        super().__init__()
        self.body = nn.Linear(3, 4)
        self.heads = nn.ModuleList(nn.Linear(4, 2) for _ in range(n_heads))

    def forward(self, x: torch.Tensor, use: list[int]) -> torch.Tensor:
        h = torch.tanh(self.body(x))
        return sum((self.heads[i](h) for i in use), torch.zeros(()))  # type: ignore[return-value]


# ---------------------------------------------------------------- graph


def test_graph_tree_is_exact_and_names_parameters() -> None:
    net = nn.Linear(3, 1)
    loss = net(torch.ones(4, 3)).pow(2).mean()
    graph = autograd_graph(loss, net)
    assert str(graph) == (
        "#0 MeanBackward0 -> ()\n"
        "└── #1 PowBackward0 -> (4, 1)\n"
        "    └── #2 AddmmBackward0 -> (4, 1)\n"
        "        ├── #3 bias: param (1,) float32\n"
        "        └── #4 TBackward0 -> (3, 1)\n"
        "            └── #5 weight: param (1, 3) float32"
    )
    assert graph.params == ("weight", "bias") and graph.unused == ()
    assert graph.op_names() == ["MeanBackward0", "PowBackward0", "AddmmBackward0", "TBackward0"]
    assert repr(graph) == "<AutogradGraph: 6 nodes, 2 parameters>"


def test_shared_nodes_are_printed_once() -> None:
    x = torch.ones(2, requires_grad=True)
    h = x * 2
    loss = (h + h.exp()).sum()
    graph = autograd_graph(loss, inputs={"x": x})
    text = str(graph)
    assert text.count("MulBackward0 -> (2,)") == 1
    assert "MulBackward0 (shared, see above)" in text
    assert text.count("x: leaf (2,) float32") == 1
    assert len(graph) == len(reference_unique_fns(loss.grad_fn))


@given(
    n_heads=st.integers(1, 4),
    data=st.data(),
    frozen_body=st.booleans(),
)
@settings(max_examples=30)
def test_unused_matches_params_without_grad_after_backward(
    n_heads: int, data: Any, frozen_body: bool
) -> None:
    net = Heads(n_heads)
    if frozen_body:
        net.body.requires_grad_(False)
    use = data.draw(st.lists(st.integers(0, n_heads - 1), min_size=1, max_size=n_heads))
    out = net(data.draw(tensors(torch.float32, (5, 3))), use).pow(2).mean()
    graph = autograd_graph(out, net)
    # every grad_fn exactly once, like a visited-set traversal
    assert len(graph) == len(reference_unique_fns(out.grad_fn))
    assert sorted(graph.op_names()) == sorted(
        fn.name() for fn in reference_unique_fns(out.grad_fn) if not hasattr(fn, "variable")
    )
    out.backward()
    # the reference: what autograd actually left without a gradient
    assert list(graph.unused) == params_without_grad(net)
    assert set(graph.params) == {n for n, p in net.named_parameters() if p.grad is not None}
    # edges in the dot output = edges in the graph
    dot = graph.to_dot()
    assert dot.count(" -> n") == sum(len(n.inputs) for n in graph)
    assert dot.startswith("digraph autograd {") and dot.endswith("}\n")


def test_dot_file_and_labels(tmp_path: Path) -> None:
    net = nn.Linear(2, 1)
    graph = autograd_graph(net(torch.ones(1, 2)).sum(), net)
    graph.save_dot(tmp_path / "g.dot")
    dot = (tmp_path / "g.dot").read_text()
    assert 'label="weight\\n(1, 2) float32", shape=ellipse' in dot
    assert 'label="SumBackward0\\n()", shape=box' in dot
    assert "n1 -> n0;" in dot


def test_deep_graphs_do_not_recurse() -> None:
    x = torch.ones(1, requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0
    graph = autograd_graph(y.sum())
    assert len(graph) == 3000 + 2  # 3000 muls, the sum, the leaf
    assert str(graph).count("\n") == 3001


def test_graph_of_a_leaf_and_errors() -> None:
    w = nn.Parameter(torch.ones(3))
    holder = nn.Module()
    holder.w = w
    graph = autograd_graph(w, holder)
    assert str(graph) == "#0 w: param (3,) float32"
    with pytest.raises(AutogradError, match="has no grad_fn") as info, torch.no_grad():
        autograd_graph((w * 2)[:2])
    assert_fields(info.value, function="autograd_graph", argument="loss")
    assert "torch.no_grad()" in (info.value.hint or "")
    with pytest.raises(DtypeError, match=r"must be a torch\.Tensor") as dinfo:
        autograd_graph(1.0)  # type: ignore[arg-type]
    assert_fields(dinfo.value, function="autograd_graph", argument="loss", got="the float 1.0")


# ---------------------------------------------------------------- check_grads


def test_check_grads_lists_disconnected_parameters() -> None:
    net = Heads(3)
    net(torch.randn(2, 3), [0]).sum().backward()
    assert params_without_grad(net) == [
        "heads.1.weight",
        "heads.1.bias",
        "heads.2.weight",
        "heads.2.bias",
    ]
    with pytest.raises(AutogradError, match="received no gradient") as info:
        check_grads(net)
    assert_fields(
        info.value,
        function="check_grads",
        argument="module",
        got="heads.1.weight, heads.1.bias, heads.2.weight, heads.2.bias",
    )
    check_grads(net, ignore=["heads.1.*", "heads.2.*"])
    assert params_without_grad(net, ignore=["heads.[12].weight"]) == [
        "heads.1.bias",
        "heads.2.bias",
    ]


def test_check_grads_non_finite() -> None:
    """A NaN gradient raises NonFiniteError, the class every NaN in shapesafe raises."""
    net = nn.Linear(2, 1)
    (net(torch.tensor([[0.0, 1.0]])) * torch.tensor(float("inf"))).sum().backward()
    with pytest.raises(NonFiniteError, match="got non-finite gradients") as info:
        check_grads(net)
    assert_fields(
        info.value, function="check_grads", argument="module", got="2 non-finite gradients"
    )
    check_grads(net, finite=False)


# ---------------------------------------------------------------- explaining errors


def _leaf_inplace() -> None:
    w = torch.zeros(2, requires_grad=True)
    w += 1


def _saved_modified() -> None:
    x = torch.ones(2, requires_grad=True)
    y = x.exp()
    y.add_(1)
    y.sum().backward()


def _numpy_requires_grad() -> None:
    torch.ones(2, requires_grad=True).numpy()


def _no_grad_fn() -> None:
    torch.ones(2).sum().backward()


def _twice() -> None:
    x = torch.ones(2, requires_grad=True)
    y = x.exp().sum()
    y.backward()
    y.backward()


def _inference() -> None:
    with torch.inference_mode():
        t = torch.ones(2)
    w = torch.ones(2, requires_grad=True)
    (w * t).sum().backward()


def _non_scalar() -> None:
    (torch.ones(2, requires_grad=True) * 2).backward()


@pytest.mark.parametrize(
    ("trigger", "what", "hint"),
    [
        (_leaf_inplace, r"an in-place operation .* leaf tensor", r"torch\.no_grad\(\)"),
        (_saved_modified, r"saved for backward was modified in place", r"out-of-place form"),
        (_numpy_requires_grad, r"numpy\(\) was called on a tensor", r"to_numpy\(t\)"),
        (_no_grad_fn, r"not connected to any parameter", r"evaluating\(\)"),
        (_twice, r"backward\(\) ran twice", r"h = h\.detach\(\)"),
        (_inference, r"torch\.inference_mode\(\)", r"evaluating\(net\) \(no_grad"),
        (_non_scalar, r"non-scalar tensor", r"loss\.mean\(\)"),
    ],
)
def test_explain_autograd_errors(trigger: Any, what: str, hint: str) -> None:
    with (
        pytest.raises(
            AutogradError, match=rf"^autograd: .*{what}(?s:.*)torch said: .*\n  hint: .*{hint}"
        ),
        explain_autograd_errors(),
    ):
        trigger()
    # still a RuntimeError, as torch's was, and in the shapesafe family
    with pytest.raises(RuntimeError), explain_autograd_errors():
        trigger()
    assert (
        issubclass(AutogradError, shapesafe.ShapesafeError)
        and AutogradError.__module__ == "shapesafe"
    )


def test_other_errors_pass_through_and_decorator_form() -> None:
    with pytest.raises(RuntimeError, match=r"^something else$"), explain_autograd_errors():
        raise RuntimeError("something else")
    with pytest.raises(KeyError), explain_autograd_errors():
        raise KeyError("k")
    assert explain_autograd_error(ValueError("a leaf Variable")) is None

    @explain_autograd_errors()
    def step() -> None:
        _leaf_inplace()

    with pytest.raises(AutogradError, match=r"in-place operation"):
        step()


# ---------------------------------------------------------------- detached_copy


@pytest.mark.values
@given(tensors(torch.float32, shapes(max_dims=3, max_side=4), elements=st.floats(-5, 5, width=32)))
def test_detached_copy_never_aliases(x: torch.Tensor) -> None:
    y = x.clone().requires_grad_(True)
    c = detached_copy(y)
    assert torch.equal(c, y.detach()) and c.dtype == y.dtype and not c.requires_grad
    first = (0,) * y.dim()
    c[first] = 123.0  # outside the drawn range, so a shared write would show
    assert torch.equal(y.detach(), x)
    # ... whereas plain y.detach() shares memory: the trap
    d = y.detach()
    d[first] = 123.0
    assert y[first].item() == 123.0
    assert np.shares_memory(y.detach().numpy(), d.numpy())


def test_detached_copy_error() -> None:
    with pytest.raises(DtypeError, match=r"must be a torch\.Tensor") as info:
        detached_copy(np.zeros(2))  # type: ignore[arg-type]
    assert_fields(info.value, function="detached_copy", argument="t", got="array (2,) float64")


# ---------------------------------------------------------------- issue 11: hardening


@pytest.mark.parametrize("module", [None, "net", torch.zeros(2), [nn.Linear(1, 1)]])
def test_params_without_grad_and_check_grads_refuse_a_non_module(module: Any) -> None:
    """Issue 11: params_without_grad(None) leaked "'NoneType' object has no attribute"."""
    for fn in (params_without_grad, check_grads):
        with pytest.raises(UsageError, match=r"must be a torch.nn.Module") as info:
            fn(module)
        assert_fields(info.value, function=fn.__name__, argument="module")


@pytest.mark.parametrize("ignore", [None, 3, [1], ["ok", None]])
def test_ignore_must_be_name_globs(ignore: Any) -> None:
    with pytest.raises(UsageError, match="must be a list of name globs") as info:
        params_without_grad(nn.Linear(1, 1), ignore=ignore)
    assert_fields(info.value, function="params_without_grad", argument="ignore")
    # a single glob string is accepted as one pattern, not split into characters
    assert params_without_grad(nn.Linear(1, 1), ignore="*") == []


@pytest.mark.parametrize(
    ("module", "inputs", "argument"),
    [("net", None, "module"), (None, [torch.ones(1)], "inputs"), (None, {1: 2}, "inputs")],
)
def test_autograd_graph_refuses_bad_module_and_inputs(
    module: Any, inputs: Any, argument: str
) -> None:
    loss = (torch.ones(2, requires_grad=True) * 2).sum()
    with pytest.raises(UsageError) as info:
        autograd_graph(loss, module, inputs=inputs)
    assert_fields(info.value, function="autograd_graph", argument=argument)


def test_graph_nodes_are_one_class_per_variant() -> None:
    from shapesafe.torch_safety.autograd_graph import LeafNode, OpNode, ParamNode

    net = nn.Linear(3, 1)
    x = torch.ones(4, 3, requires_grad=True)
    graph = autograd_graph(net(x).pow(2).mean(), net, inputs={"x": x})
    variants = {type(n): n.kind for n in graph}
    assert variants == {OpNode: "op", ParamNode: "param", LeafNode: "leaf"}
    assert all(isinstance(n, shapesafe.GraphNode) for n in graph)
    assert {n.dtype for n in graph if isinstance(n, OpNode)} == {None}
    assert {n.label: n.dtype for n in graph if isinstance(n, LeafNode)} == {
        "bias": "float32",
        "x": "float32",
        "weight": "float32",
    }
