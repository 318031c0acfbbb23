"""Gradients after ``backward()``: who got none, who got NaN, and torch's autograd errors
explained.

- :func:`params_without_grad` / :func:`check_grads`: the trainable parameters that got no
  gradient (a frozen or disconnected head: training "works", that head never learns),
  and gradients holding NaN/inf.
- :func:`explain_autograd_errors`: turns torch's terse autograd ``RuntimeError``\\ s
  (in-place on a leaf, saved tensor modified, numpy() on a tensor that requires grad, ...)
  into :class:`~shapesafe.AutogradError` with the likely fix.
- :func:`detached_copy`: ``t.detach().clone()``, the copy you may mutate.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from shapesafe import _format
from shapesafe._format import error, fmt_shape, fmt_value, plural
from shapesafe.errors import AutogradError, NonFiniteError, UsageError
from shapesafe.torch_safety._arguments import require_module, require_tensor

__all__ = [
    "check_grads",
    "detached_copy",
    "explain_autograd_error",
    "explain_autograd_errors",
    "params_without_grad",
]

# --------------------------------------------------------------------------------------
# parameters without gradients
# --------------------------------------------------------------------------------------


def _check_module(module: Any, ignore: Any, fn: str) -> list[str]:
    """The argument checks both functions share; returns ``ignore`` as a list of globs."""
    require_module(
        module,
        fn,
        hint="pass the model after loss.backward(); for several models, wrap them: "
        "nn.ModuleList([actor, critic])",
    )
    patterns = [ignore] if isinstance(ignore, str) else ignore
    try:
        patterns = list(patterns)
    except TypeError:
        patterns = None
    if patterns is None or not all(isinstance(p, str) for p in patterns):
        raise error(
            UsageError,
            f"must be a list of name globs, got {fmt_value(ignore)}",
            argument="ignore",
            got=fmt_value(ignore),
            hint="e.g. ignore=['value_head.*']",
            function=fn,
        )
    return patterns


def _ignored(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pat) for pat in patterns)


def params_without_grad(module: nn.Module, *, ignore: Iterable[str] = ()) -> list[str]:
    """Names of ``module``'s trainable parameters whose ``.grad`` is ``None`` (call after
    ``backward()``). Names matching a glob in ``ignore`` (``"value_head.*"``) are skipped.

    Examples:
        >>> import torch
        >>> from shapesafe import params_without_grad
        >>> net = torch.nn.ModuleDict({"a": torch.nn.Linear(2, 1), "b": torch.nn.Linear(2, 1)})
        >>> net["a"](torch.ones(1, 2)).sum().backward()
        >>> params_without_grad(net)
        ['b.weight', 'b.bias']
    """
    patterns = _check_module(module, ignore, "params_without_grad")
    return [
        n
        for n, p in module.named_parameters()
        if p.requires_grad and p.grad is None and not _ignored(n, patterns)
    ]


def check_grads(module: nn.Module, *, ignore: Iterable[str] = (), finite: bool = True) -> None:
    """Raise if, after ``backward()``, a trainable parameter got no gradient (a frozen or
    disconnected head: a classic silent bug) or, with ``finite=True``, holds NaN/inf in
    its gradient. Every offending parameter is listed.

    Missing gradients raise :class:`~shapesafe.AutogradError` (listing non-finite ones
    too); non-finite gradients alone raise :class:`~shapesafe.NonFiniteError`, the error
    every NaN in shapesafe raises.

    Parameters the model does not use on purpose can be skipped with ``ignore`` globs, or
    frozen with ``requires_grad_(False)``. Note: ``optimizer.zero_grad(set_to_none=False)``
    leaves zero tensors (not ``None``) behind, which hides unused parameters; the default
    ``set_to_none=True`` does not.

    Examples:
        >>> import torch
        >>> from shapesafe import check_grads
        >>> net = torch.nn.Linear(2, 1)
        >>> net(torch.ones(1, 2)).sum().backward()
        >>> check_grads(net)
    """
    fn = "check_grads"
    patterns = _check_module(module, ignore, fn)
    missing = params_without_grad(module, ignore=patterns)
    params = dict(module.named_parameters())
    lines: list[str] = []
    if missing:
        n_train = sum(1 for p in params.values() if p.requires_grad)
        lines.append(
            f"{len(missing)} of {plural(n_train, 'trainable parameter')} of "
            f"{type(module).__name__} received no gradient:"
        )
        lines += [f"{n} {fmt_shape(params[n].shape)}" for n in missing]
    bad: list[str] = []
    if finite:
        for n, p in params.items():
            g = p.grad
            if g is None or _ignored(n, patterns) or bool(torch.isfinite(g).all()):
                continue
            n_nan, n_inf = int(torch.isnan(g).sum()), int(torch.isinf(g).sum())
            bad.append(f"{n} {fmt_shape(g.shape)}: {n_nan} NaN, {n_inf} inf")
    if bad:
        lines.append(
            f"{plural(len(bad), 'parameter')} of {type(module).__name__} got non-finite gradients:"
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
    # The first line is the summary; the per-parameter lines follow as extra lines.
    err = error(
        AutogradError if missing else NonFiniteError,
        lines[0].removesuffix(":"),
        function=fn,
        hint="; ".join(hints),
        extra=lines[1:],
    )
    # the per-parameter lines carry the detail; `got` names the offending parameters
    err.argument = "module"
    err.got = ", ".join(missing) if missing else f"{plural(len(bad), 'non-finite gradient')}"
    raise err


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
            return _format.error(
                AutogradError,
                f"autograd: {what}",
                hint=hint,
                extra=[f"torch said: {first}"],
            )
    return None


@contextmanager
def explain_autograd_errors() -> Iterator[None]:
    """Re-raise torch's terse autograd ``RuntimeError``\\ s inside the block as
    :class:`AutogradError` (still a ``RuntimeError``) with what went wrong and the fix.
    Other exceptions pass through untouched. Also usable as a decorator.

    Examples:
        >>> import torch
        >>> from shapesafe import explain_autograd_errors
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
        >>> from shapesafe import detached_copy
        >>> y = torch.ones(2, requires_grad=True)
        >>> z = detached_copy(y); z[0] = 5.0
        >>> y
        tensor([1., 1.], requires_grad=True)
    """
    require_tensor(
        t,
        "detached_copy",
        "t",
        hint="for numpy arrays use a.copy(); for nested data, copy each tensor",
    )
    return t.detach().clone()
