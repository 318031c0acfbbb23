"""Autograd-graph tools from lecture 3, done right.

- :func:`autograd_graph`: walk ``loss.grad_fn.next_functions`` once per node (shared nodes
  are not repeated), name leaves from a module's ``named_parameters()``, show shapes where
  autograd knows them; print it as a tree or export Graphviz ``.dot``. It also lists the
  module's trainable parameters the loss does not reach.
- :func:`params_without_grad` / :func:`check_grads`: after ``backward()``, the
  trainable parameters that got no gradient (a frozen or disconnected head), and
  gradients holding NaN/inf.
- :func:`explain_autograd_errors`: turns torch's terse autograd ``RuntimeError``\\ s (in-place
  on a leaf, saved tensor modified, numpy() on a tensor that requires grad, ...) into
  :class:`AutogradError` with the likely fix.
- :func:`detached_copy`: ``t.detach().clone()``, the copy you may mutate.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from shapesafe.errors import AutogradError, ShapeError

__all__ = [
    "AutogradError",
    "AutogradGraph",
    "GraphNode",
    "autograd_graph",
    "check_grads",
    "detached_copy",
    "explain_autograd_error",
    "explain_autograd_errors",
    "params_without_grad",
]


def _shape_text(shape: Iterable[int]) -> str:
    s = tuple(int(d) for d in shape)
    return f"({s[0]},)" if len(s) == 1 else str(s)


def _dtype_text(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


# --------------------------------------------------------------------------------------
# the graph
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphNode:
    """One node of an :class:`AutogradGraph`.

    Attributes:
        index: position in depth-first order from the root (``#index`` in the printout).
        kind: ``"op"`` for a backward function, ``"param"`` for a leaf that is one of the
            module's parameters, ``"leaf"`` for any other leaf tensor.
        label: the backward function's name (``"AddmmBackward0"``) or the leaf's name
            (``"fc1.weight"``; ``"x"`` when given via ``inputs``; ``"(leaf)"`` otherwise).
        shapes: the output shape(s) of the node, where autograd records them.
        dtype: the leaf's dtype (``None`` for ops).
        inputs: indices of the nodes this one takes gradients back to.
    """

    index: int
    kind: Literal["op", "param", "leaf"]
    label: str
    shapes: tuple[tuple[int, ...], ...]
    dtype: str | None
    inputs: tuple[int, ...]

    def describe(self) -> str:
        shapes = ", ".join(_shape_text(s) for s in self.shapes)
        if self.kind == "op":
            return f"{self.label} -> {shapes}" if shapes else self.label
        extra = f" {self.dtype}" if self.dtype else ""
        what = "param" if self.kind == "param" else "leaf"
        return f"{self.label}: {what} {shapes}{extra}"


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
        return [n.label for n in self.nodes if n.kind == "op"]

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
            shapes = ", ".join(_shape_text(s) for s in n.shapes)
            if n.kind == "op":
                label = f"{esc(n.label)}\\n{shapes}" if shapes else esc(n.label)
                style = "shape=box"
            else:
                label = f"{esc(n.label)}\\n{shapes} {n.dtype or ''}".rstrip()
                color = "lightblue" if n.kind == "param" else "lightgrey"
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
    """The backward graph of ``loss`` (the seed's ``grad_fn.next_functions`` loop, done
    right): each node visited once, leaves named, shapes shown.

    ``module`` names the parameters (``fc1.weight``) and fills ``graph.unused`` with its
    trainable parameters this loss never reaches. ``inputs`` names other leaf tensors
    (``{"obs": obs}``).

    Examples:
        >>> import torch
        >>> from shapesafe._autograd import autograd_graph
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
    fn_name = "autograd_graph"
    if not isinstance(loss, torch.Tensor):
        raise ShapeError(
            f"{fn_name}(): argument `loss` must be a tensor, got {type(loss).__name__}\n"
            "  hint: pass the loss tensor itself, not loss.item()",
            function=fn_name,
            argument="loss",
        )
    names: dict[int, tuple[str, bool]] = {}
    for n, t in (inputs or {}).items():
        names[id(t)] = (n, False)
    if module is not None:
        for n, p in module.named_parameters():
            names[id(p)] = (n, True)

    if loss.grad_fn is None:
        if not loss.requires_grad:
            raise AutogradError(
                f"{fn_name}(): `loss` {_shape_text(loss.shape)} has no grad_fn and does not "
                "require grad: nothing connects it to any parameter\n  hint: was it computed "
                "under torch.no_grad() / evaluating(), from .detach()ed tensors, or through "
                ".item() / numpy?",
                function=fn_name,
                argument="loss",
            )
        label, is_param = names.get(id(loss), ("(leaf)", False))
        nodes = [
            GraphNode(
                0,
                "param" if is_param else "leaf",
                label,
                (tuple(loss.shape),),
                _dtype_text(loss.dtype),
                (),
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
                GraphNode(
                    i,
                    "param" if is_param else "leaf",
                    label,
                    (tuple(var.shape),),
                    _dtype_text(var.dtype),
                    kids,
                )
            )
        else:
            nodes.append(GraphNode(i, "op", fn.name(), _node_shapes(fn), None, kids))
    return nodes, reached


# --------------------------------------------------------------------------------------
# parameters without gradients
# --------------------------------------------------------------------------------------


def params_without_grad(module: nn.Module, *, ignore: Iterable[str] = ()) -> list[str]:
    """Names of ``module``'s trainable parameters whose ``.grad`` is ``None`` (call after
    ``backward()``). Names matching a glob in ``ignore`` (``"value_head.*"``) are skipped.

    Examples:
        >>> import torch
        >>> from shapesafe._autograd import params_without_grad
        >>> net = torch.nn.ModuleDict({"a": torch.nn.Linear(2, 1), "b": torch.nn.Linear(2, 1)})
        >>> net["a"](torch.ones(1, 2)).sum().backward()
        >>> params_without_grad(net)
        ['b.weight', 'b.bias']
    """
    patterns = list(ignore)
    return [
        n
        for n, p in module.named_parameters()
        if p.requires_grad
        and p.grad is None
        and not any(fnmatch.fnmatchcase(n, pat) for pat in patterns)
    ]


def check_grads(module: nn.Module, *, ignore: Iterable[str] = (), finite: bool = True) -> None:
    """Raise :class:`AutogradError` if, after ``backward()``, a trainable parameter got no
    gradient (a frozen or disconnected head: a classic silent bug) or, with
    ``finite=True``, holds NaN/inf in its gradient. Every offending parameter is listed.

    Parameters the model does not use on purpose can be skipped with ``ignore`` globs, or
    frozen with ``requires_grad_(False)``. Note: ``optimizer.zero_grad(set_to_none=False)``
    leaves zero tensors (not ``None``) behind, which hides unused parameters; the default
    ``set_to_none=True`` does not.

    Examples:
        >>> import torch
        >>> from shapesafe._autograd import check_grads
        >>> net = torch.nn.Linear(2, 1)
        >>> net(torch.ones(1, 2)).sum().backward()
        >>> check_grads(net)
    """
    fn = "check_grads"
    patterns = list(ignore)
    missing = params_without_grad(module, ignore=patterns)
    shapes = dict((n, p) for n, p in module.named_parameters())
    lines: list[str] = []
    if missing:
        n_train = sum(1 for _, p in module.named_parameters() if p.requires_grad)
        lines.append(
            f"{fn}(): {len(missing)} of {n_train} trainable parameters of "
            f"{type(module).__name__} received no gradient:"
        )
        lines += [f"  {n} {_shape_text(shapes[n].shape)}" for n in missing]
    bad: list[str] = []
    if finite:
        for n, p in module.named_parameters():
            g = p.grad
            if g is None or any(fnmatch.fnmatchcase(n, pat) for pat in patterns):
                continue
            if not bool(torch.isfinite(g).all()):
                n_nan = int(torch.isnan(g).sum())
                n_inf = int(torch.isinf(g).sum())
                bad.append(f"  {n} {_shape_text(g.shape)}: {n_nan} NaN, {n_inf} inf")
    if bad:
        lines.append(
            f"{fn}(): {len(bad)} parameter{'s' if len(bad) != 1 else ''} of "
            f"{type(module).__name__} got non-finite gradients:"
        )
        lines += bad
    if not lines:
        return
    hints = []
    if missing:
        hints.append(
            "a parameter with no gradient is not used by the loss: check that forward() "
            "uses it, that no .detach() / .item() / numpy round trip cuts the graph, and "
            "that backward() ran (autograd_graph(loss, model).unused names them before "
            "backward); freeze it on purpose with requires_grad_(False) or pass ignore=[...]"
        )
    if bad:
        hints.append("non-finite gradients come from the loss's inputs (log(0), 1/0, overflow)")
    lines.append("  hint: " + "; ".join(hints))
    raise AutogradError(
        "\n".join(lines),
        function=fn,
        argument="module",
        got=", ".join(missing) if missing else None,
    )


# --------------------------------------------------------------------------------------
# explaining torch's autograd errors
# --------------------------------------------------------------------------------------

_EXPLANATIONS: list[tuple[re.Pattern[str], str, str]] = [
    (
        re.compile(r"a leaf Variable that requires grad is being used in an in-place operation"),
        "an in-place operation (`w += ...`, `w.zero_()`, `w[0] = ...`, `w.add_()`) was "
        "applied to a leaf tensor that requires grad (a parameter) while autograd was "
        "recording; autograd refuses because the update itself would become part of the graph",
        "to update parameters by hand, do it under `with torch.no_grad():` (what optimizers "
        "and sgd_step() do); to experiment with the values, work on detached_copy(w)",
    ),
    (
        re.compile(r"one of the variables needed for gradient computation has been modified"),
        "a tensor that autograd saved for backward was modified in place afterwards (e.g. "
        "`x.relu_()`, `x += 1`, `x[idx] = 0` after `x` was used), so its gradient can no "
        "longer be computed",
        "use the out-of-place form (`x = x + 1`, `x = x.relu()`), or clone before modifying "
        "(`x = x.clone(); x[idx] = 0`)",
    ),
    (
        re.compile(r"Can't call numpy\(\) on Tensor that requires grad"),
        "numpy() was called on a tensor that requires grad; numpy cannot track gradients",
        "use to_numpy(t) (a safe copy), or t.detach().cpu().numpy().copy(); plain "
        "t.detach().numpy() shares memory with t, so mutating it changes t",
    ),
    (
        re.compile(r"element 0 of tensors does not require grad and does not have a grad_fn"),
        "backward() was called on a tensor that is not connected to any parameter",
        "was the loss computed under torch.no_grad() / evaluating(), from .detach()ed "
        "tensors, through .item() / numpy, or are all parameters frozen?",
    ),
    (
        re.compile(r"Trying to backward through the graph a second time"),
        "backward() ran twice through the same graph, whose saved tensors were freed after "
        "the first backward",
        "recompute the forward pass for each backward; for recurrent state carried across "
        "steps, detach it (`h = h.detach()`); use retain_graph=True only if you really need "
        "two backward passes",
    ),
    (
        re.compile(r"Inference tensors cannot be saved for backward"),
        "a tensor created under torch.inference_mode() (e.g. `evaluating(net, "
        "grad='inference')`) was used in a computation that records gradients",
        "use evaluating(net) (no_grad, the default) for outputs you keep, or .clone() the "
        "inference tensor outside inference mode",
    ),
    (
        re.compile(r"grad can be implicitly created only for scalar outputs"),
        "backward() was called on a non-scalar tensor",
        "reduce the loss to a scalar first: loss.mean() (or .sum())",
    ),
]


def explain_autograd_error(error: BaseException) -> AutogradError | None:
    """An :class:`AutogradError` explaining ``error`` if it is one of torch's known
    autograd errors, else ``None``."""
    if not isinstance(error, RuntimeError) or isinstance(error, AutogradError):
        return None
    text = str(error)
    for pattern, what, hint in _EXPLANATIONS:
        if pattern.search(text):
            first = text.strip().splitlines()[0] if text.strip() else ""
            return AutogradError(
                f"autograd: {what}\n  torch said: {first}\n  hint: {hint}",
                function="autograd",
            )
    return None


@contextmanager
def explain_autograd_errors() -> Iterator[None]:
    """Re-raise torch's terse autograd ``RuntimeError``\\ s inside the block as
    :class:`AutogradError` (still a ``RuntimeError``) with what went wrong and the fix.
    Other exceptions pass through untouched. Also usable as a decorator.

    Examples:
        >>> import torch
        >>> from shapesafe._autograd import explain_autograd_errors
        >>> w = torch.zeros(2, requires_grad=True)
        >>> try:
        ...     with explain_autograd_errors():
        ...         w += 1
        ... except RuntimeError as e:
        ...     print(str(e).splitlines()[0])
        autograd: an in-place operation (`w += ...`, `w.zero_()`, `w[0] = ...`, `w.add_()`) was applied to a leaf tensor that requires grad (a parameter) while autograd was recording; autograd refuses because the update itself would become part of the graph
    """  # noqa: E501
    try:
        yield
    except RuntimeError as e:
        better = explain_autograd_error(e)
        if better is None:
            raise
        raise better from None


def detached_copy(t: torch.Tensor) -> torch.Tensor:
    """``t.detach().clone()``: a copy outside the graph, in new memory, safe to mutate.

    ``t.detach()`` alone returns a tensor that *shares memory* with ``t``: writing to it
    (or to ``t.detach().numpy()``) silently changes ``t``.

    Examples:
        >>> import torch
        >>> from shapesafe._autograd import detached_copy
        >>> y = torch.ones(2, requires_grad=True)
        >>> z = detached_copy(y); z[0] = 5.0
        >>> y
        tensor([1., 1.], requires_grad=True)
    """
    if not isinstance(t, torch.Tensor):
        raise ShapeError(
            f"detached_copy(): argument `t` must be a tensor, got {type(t).__name__}\n"
            "  hint: for numpy arrays use a.copy(); for nested data, copy each tensor",
            function="detached_copy",
            argument="t",
        )
    return t.detach().clone()
