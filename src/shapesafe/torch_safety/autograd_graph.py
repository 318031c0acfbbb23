"""The backward graph of a loss, walked once per node and printed with names and shapes.

The usual way to look at an autograd graph is a recursive loop over
``loss.grad_fn.next_functions``. It prints a shared node once per path (exponentially many
times in a deep network with skip connections), recurses past Python's limit on a long
rollout, and shows leaves as anonymous ``AccumulateGrad`` nodes. :func:`autograd_graph`
walks the graph iteratively, visits each node once, names leaves from a module's
``named_parameters()``, shows shapes where autograd records them, and lists the
module's trainable parameters the loss never reaches: the head you forgot to connect.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from shapesafe._format import error, fmt_dtype, fmt_shape, fmt_value
from shapesafe.errors import AutogradError, UsageError
from shapesafe.torch_safety._arguments import require_tensor

__all__ = ["AutogradGraph", "GraphNode", "autograd_graph"]

# --------------------------------------------------------------------------------------
# the graph
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphNode:
    """One node of an :class:`AutogradGraph`: an :class:`OpNode` (a backward function),
    a :class:`LeafNode` (a leaf tensor) or a :class:`ParamNode` (a leaf that is one of
    the module's parameters).

    Attributes:
        index: position in depth-first order from the root (``#index`` in the printout).
        kind: ``"op"``, ``"param"`` or ``"leaf"``: the variant, as a tag (a class
            attribute; ``type(node)`` says the same).
        label: the backward function's name (``"AddmmBackward0"``) or the leaf's name
            (``"fc1.weight"``; ``"x"`` when given via ``inputs``; ``"(leaf)"`` otherwise).
        shapes: the output shape(s) of the node, where autograd records them.
        dtype: the leaf's dtype (``None`` for ops).
        inputs: indices of the nodes this one takes gradients back to.
    """

    index: int
    label: str
    shapes: tuple[tuple[int, ...], ...]
    inputs: tuple[int, ...]
    kind: ClassVar[Literal["op", "param", "leaf"]]
    dtype: ClassVar[str | None] = None

    def _shapes_text(self) -> str:
        return ", ".join(fmt_shape(s) for s in self.shapes)

    def describe(self) -> str:
        """The node's line in the printout, without the ``#index``."""
        raise NotImplementedError  # pragma: no cover - every variant overrides it


@dataclass(frozen=True)
class OpNode(GraphNode):
    """A backward function (``AddmmBackward0``): what autograd runs for one operation."""

    kind: ClassVar[Literal["op", "param", "leaf"]] = "op"

    def describe(self) -> str:
        shapes = self._shapes_text()
        return f"{self.label} -> {shapes}" if shapes else self.label


@dataclass(frozen=True)
class LeafNode(GraphNode):
    """A leaf tensor that is not one of the module's parameters (an input, a loose
    tensor with ``requires_grad=True``)."""

    dtype: str  # type: ignore[misc]  # a field here, where the base has a None default
    kind: ClassVar[Literal["op", "param", "leaf"]] = "leaf"

    def describe(self) -> str:
        return f"{self.label}: {self.kind} {self._shapes_text()} {self.dtype}"


@dataclass(frozen=True)
class ParamNode(LeafNode):
    """A leaf tensor that is one of the module's parameters (named ``fc1.weight``)."""

    kind: ClassVar[Literal["op", "param", "leaf"]] = "param"


class AutogradGraph:
    """The backward graph of a tensor, as returned by :func:`autograd_graph`.

    ``str(graph)`` is an indented tree (a node reached a second time is shown once, then
    referred to as ``#k (shared, see above)``); :meth:`to_dot` gives Graphviz source.

    Attributes:
        nodes: every node, in depth-first order; ``nodes[0]`` is the root.
        params: names of the module's parameters the graph reaches.
        unused: names of the module's trainable parameters it does **not** reach (only
            when a ``module`` was given): they will get no gradient from this loss.
    """

    def __init__(
        self, nodes: list[GraphNode], params: tuple[str, ...], unused: tuple[str, ...]
    ) -> None:
        self.nodes = nodes
        self.params = params
        self.unused = unused

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[GraphNode]:
        return iter(self.nodes)

    def op_names(self) -> list[str]:
        """The names of the backward functions, in depth-first order, each node once."""
        return [n.label for n in self.nodes if isinstance(n, OpNode)]

    def __str__(self) -> str:
        lines: list[str] = []
        printed: set[int] = set()
        # (node index, prefix for this line, prefix for its children, is_root)
        stack: list[tuple[int, str, str]] = [(0, "", "")]
        while stack:
            i, here, below = stack.pop()
            node = self.nodes[i]
            if i in printed:
                lines.append(f"{here}#{i} {node.label} (shared, see above)")
                continue
            printed.add(i)
            lines.append(f"{here}#{i} {node.describe()}")
            kids = node.inputs
            for j in reversed(range(len(kids))):
                last = j == len(kids) - 1
                stack.append(
                    (
                        kids[j],
                        below + ("└── " if last else "├── "),
                        below + ("    " if last else "│   "),
                    )
                )
        if self.unused:
            lines.append(f"not reached (no gradient from this loss): {', '.join(self.unused)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<AutogradGraph: {len(self.nodes)} nodes, {len(self.params)} parameters>"

    def to_dot(self) -> str:
        """Graphviz source (``dot -Tsvg graph.dot``); edges point the way data flowed."""

        def esc(s: str) -> str:
            return s.replace("\\", "\\\\").replace('"', '\\"')

        out = ["digraph autograd {", "  rankdir=BT;", '  node [fontname="monospace"];']
        for n in self.nodes:
            shapes = ", ".join(fmt_shape(s) for s in n.shapes)
            if isinstance(n, OpNode):
                label = f"{esc(n.label)}\\n{shapes}" if shapes else esc(n.label)
                style = "shape=box"
            else:
                label = f"{esc(n.label)}\\n{shapes} {n.dtype}".rstrip()
                color = "lightblue" if isinstance(n, ParamNode) else "lightgrey"
                style = f"shape=ellipse, style=filled, fillcolor={color}"
            out.append(f'  n{n.index} [label="{label}", {style}];')
        for n in self.nodes:
            for j in n.inputs:
                out.append(f"  n{j} -> n{n.index};")
        out.append("}")
        return "\n".join(out) + "\n"

    def save_dot(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_dot` to ``path``."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_dot())


def _node_shapes(fn: Any) -> tuple[tuple[int, ...], ...]:
    try:  # a private but long-standing attribute; degrade to "unknown" if it goes away
        return tuple(tuple(int(d) for d in m.shape) for m in fn._input_metadata)
    except Exception:  # pragma: no cover - depends on the torch version
        return ()


def autograd_graph(
    loss: torch.Tensor,
    module: nn.Module | None = None,
    *,
    inputs: Mapping[str, torch.Tensor] | None = None,
) -> AutogradGraph:
    """The backward graph of ``loss`` (what a hand-written ``grad_fn.next_functions`` loop
    shows, done right): each node visited once, leaves named, shapes shown.

    ``module`` names the parameters (``fc1.weight``) and fills ``graph.unused`` with its
    trainable parameters this loss never reaches. ``inputs`` names other leaf tensors
    (``{"obs": obs}``).

    Examples:
        >>> import torch
        >>> from shapesafe import autograd_graph
        >>> net = torch.nn.Linear(3, 1)
        >>> loss = net(torch.ones(4, 3)).pow(2).mean()
        >>> print(autograd_graph(loss, net))
        #0 MeanBackward0 -> ()
        └── #1 PowBackward0 -> (4, 1)
            └── #2 AddmmBackward0 -> (4, 1)
                ├── #3 bias: param (1,) float32
                └── #4 TBackward0 -> (3, 1)
                    └── #5 weight: param (1, 3) float32
    """
    _check_arguments(loss, module, inputs)
    names: dict[int, tuple[str, bool]] = {}
    for n, t in (inputs or {}).items():
        names[id(t)] = (n, False)
    if module is not None:
        for n, p in module.named_parameters():
            names[id(p)] = (n, True)

    if loss.grad_fn is None:
        if not loss.requires_grad:
            raise error(
                AutogradError,
                f"{fmt_value(loss)} has no grad_fn and does not require grad: nothing "
                "connects it to any parameter",
                function="autograd_graph",
                argument="loss",
                expected="a tensor computed from parameters (with a grad_fn)",
                got="a tensor without grad_fn",
                hint="was it computed under torch.no_grad() / evaluating(), from "
                ".detach()ed tensors, or through .item() / numpy?",
            )
        label, is_param = names.get(id(loss), ("(leaf)", False))
        nodes: list[GraphNode] = [
            (ParamNode if is_param else LeafNode)(
                0, label, (tuple(loss.shape),), (), fmt_dtype(loss.dtype)
            )
        ]
        reached = {id(loss)}
    else:
        nodes, reached = _walk(loss.grad_fn, names)

    params: tuple[str, ...] = ()
    unused: tuple[str, ...] = ()
    if module is not None:
        named = list(module.named_parameters())
        params = tuple(n for n, p in named if id(p) in reached)
        unused = tuple(n for n, p in named if p.requires_grad and id(p) not in reached)
    return AutogradGraph(nodes, params, unused)


def _check_arguments(loss: Any, module: Any, inputs: Any) -> None:
    require_tensor(
        loss, "autograd_graph", "loss", hint="pass the loss tensor itself, not loss.item()"
    )
    if module is not None and not isinstance(module, nn.Module):
        raise error(
            UsageError,
            f"must be a torch.nn.Module or None, got {fmt_value(module)}",
            argument="module",
            got=fmt_value(module),
            hint="pass the model whose parameters should be named",
            function="autograd_graph",
        )
    if inputs is not None and not (
        isinstance(inputs, Mapping) and all(isinstance(k, str) for k in inputs)
    ):
        raise error(
            UsageError,
            f"must be a dict of named tensors, got {fmt_value(inputs)}",
            argument="inputs",
            got=fmt_value(inputs),
            hint="e.g. inputs={'obs': obs}",
            function="autograd_graph",
        )


def _walk(root: Any, names: Mapping[int, tuple[str, bool]]) -> tuple[list[GraphNode], set[int]]:
    index: dict[Any, int] = {}
    order: list[Any] = []
    stack = [root]
    while stack:  # iterative pre-order DFS: deep graphs (long rollouts) do not recurse
        fn = stack.pop()
        if fn in index:
            continue
        index[fn] = len(order)
        order.append(fn)
        stack.extend(reversed([nf for nf, _ in fn.next_functions if nf is not None]))
    nodes: list[GraphNode] = []
    reached: set[int] = set()
    for i, fn in enumerate(order):
        kids = tuple(index[nf] for nf, _ in fn.next_functions if nf is not None)
        var = getattr(fn, "variable", None)
        if isinstance(var, torch.Tensor):  # AccumulateGrad: a leaf tensor
            reached.add(id(var))
            label, is_param = names.get(id(var), ("(leaf)", False))
            nodes.append(
                (ParamNode if is_param else LeafNode)(
                    i, label, (tuple(var.shape),), kids, fmt_dtype(var.dtype)
                )
            )
        else:
            nodes.append(OpNode(i, fn.name(), _node_shapes(fn), kids))
    return nodes, reached
