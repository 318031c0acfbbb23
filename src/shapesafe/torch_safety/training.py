"""The training step, the manual SGD update and evaluation mode, each done in the one
order that cannot corrupt a model.

- :func:`train_step`: zero grads, forward, refuse a non-scalar, non-float or non-finite
  loss *before* ``backward``, backward, (clip; refuse a non-finite norm *before* the
  update), step. A NaN loss that reaches ``optimizer.step()`` writes NaN into every
  weight, and the run is lost from then on; refusing it one line earlier keeps the model
  as it was.
- :func:`sgd_step`: the hand-written ``p.data.add_(-lr * p.grad)`` update, done under
  ``torch.no_grad()`` instead of through ``.data`` (which hides the write from autograd's
  version counter), matching :class:`torch.optim.SGD` bit for bit.
- :func:`evaluating`: ``eval()`` + no-grad (or inference mode) for a block, restoring
  every submodule's own train/eval flag on exit, also when the block raises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, Literal, NamedTuple

import torch
from torch import nn

from shapesafe._config import STATE
from shapesafe._format import error, fmt_dtype, fmt_shape, fmt_value, plural
from shapesafe.errors import (
    AutogradError,
    DtypeError,
    NonFiniteError,
    ShapeError,
    ShapesafeError,
    UsageError,
)
from shapesafe.torch_safety._arguments import require_module, require_number, require_optimizer

__all__ = ["GradMode", "StepStats", "evaluating", "sgd_step", "train_step"]


# --------------------------------------------------------------------------------------
# evaluation mode
# --------------------------------------------------------------------------------------

GradMode = Literal["no_grad", "inference", "enabled"]


@contextmanager
def evaluating(*modules: nn.Module, grad: GradMode = "no_grad") -> Iterator[None]:
    """Put ``modules`` in evaluation mode and turn gradients off for the block; restore
    each submodule's previous ``training`` flag exactly on exit, also on exceptions.

    ``module.eval()`` flips *every* submodule to eval, and ``module.train()`` afterwards
    would flip every one back to train, including ones you had frozen in eval (a
    BatchNorm kept in eval while fine-tuning). This context records each submodule's own
    flag and puts it back.

    ``grad`` chooses the autograd mode inside the block:

    - ``"no_grad"`` (default): :func:`torch.no_grad`. Outputs are ordinary tensors that you
      can keep and later use in training.
    - ``"inference"``: :func:`torch.inference_mode`, slightly faster, but its outputs are
      *inference tensors*: using one later in an autograd-recorded computation raises
      ``RuntimeError: Inference tensors cannot be saved for backward``. Pick it for pure
      rollouts whose outputs go straight to numpy.
    - ``"enabled"``: gradients stay on (eval-mode behaviour with gradients, e.g. for
      saliency maps).

    Examples:
        >>> import torch
        >>> from shapesafe import evaluating
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
        >>> with evaluating(net):
        ...     y = net(torch.ones(1, 2))
        >>> net.training, y.requires_grad
        (True, False)
    """
    # Checked before the generator's first yield, so a bad call raises at `with`, and
    # before any module is touched.
    if grad not in ("no_grad", "inference", "enabled"):
        raise error(
            UsageError,
            f"must be 'no_grad', 'inference' or 'enabled', got {fmt_value(grad)}",
            function="evaluating",
            argument="grad",
            expected="'no_grad', 'inference' or 'enabled'",
            got=fmt_value(grad),
        )
    for i, m in enumerate(modules):
        require_module(
            m,
            "evaluating",
            argument=f"modules[{i}]",
            hint="pass the model(s): with evaluating(policy): ...",
        )
    flags: list[tuple[nn.Module, bool]] = [
        (sub, sub.training) for m in modules for sub in m.modules()
    ]
    # Already all in eval mode (a policy acting step after step): nothing to flip or
    # restore. This is the hot path of Policy.act, where module.eval() and restoring
    # every flag through nn.Module.__setattr__ cost more than a small MLP's forward.
    training = any(flag for _, flag in flags)
    with ExitStack() as stack:
        try:
            if training:
                for m in modules:
                    m.eval()
            if grad == "no_grad":
                stack.enter_context(torch.no_grad())
            elif grad == "inference":
                stack.enter_context(torch.inference_mode())
            yield
        finally:
            if training or any(sub.training for sub, _ in flags):
                for sub, flag in flags:
                    # a plain attribute: object.__setattr__ skips nn.Module's slow
                    # parameter/buffer/submodule dispatch
                    object.__setattr__(sub, "training", flag)


# --------------------------------------------------------------------------------------
# manual SGD
# --------------------------------------------------------------------------------------


def _params_list(params: Any) -> list[torch.Tensor]:
    if isinstance(params, nn.Module):
        return list(params.parameters())
    if isinstance(params, torch.Tensor):
        return [params]
    if isinstance(params, (str, bytes, dict)) or not isinstance(params, Iterable):
        raise error(
            UsageError,
            f"must be a module or an iterable of tensors, got {fmt_value(params)}",
            argument="params",
            expected="an nn.Module or an iterable of tensors",
            got=fmt_value(params),
            hint="sgd_step(model, lr=...) or sgd_step(model.parameters(), lr=...)",
            function="sgd_step",
        )
    ps = list(params)
    for i, p in enumerate(ps):
        if not isinstance(p, torch.Tensor):
            raise error(
                UsageError,
                f"element {i} is {fmt_value(p)}, not a tensor",
                argument="params",
                expected="tensors",
                got=fmt_value(p),
                function="sgd_step",
            )
    return ps


def sgd_step(
    params: nn.Module | Iterable[torch.Tensor],
    lr: float,
    *,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    maximize: bool = False,
    buffers: list[torch.Tensor | None] | None = None,
) -> None:
    """One SGD update, written out, matching :class:`torch.optim.SGD` bit for bit.

    A hand-written loop (``p.data.add_(-lr * p.grad)``) goes through ``.data``, which
    hides the update from autograd's version counter. This does the same update under
    :func:`torch.no_grad` instead. Parameters whose ``.grad`` is ``None`` are skipped, as
    ``SGD`` does. Gradients are **not** zeroed (``SGD.step`` does not either); call
    ``model.zero_grad()`` before the next ``backward()``.

    With ``momentum != 0`` pass ``buffers``, a list (one slot per parameter, initially
    ``[None] * n``) that holds the momentum buffers between steps. A negative or
    non-finite ``lr``, ``momentum``, ``dampening`` or ``weight_decay`` raises
    :class:`~shapesafe.UsageError`.

    Examples:
        >>> import torch
        >>> from shapesafe import sgd_step
        >>> w = torch.ones(2, requires_grad=True)
        >>> (w * 3).sum().backward()
        >>> sgd_step([w], lr=0.1)
        >>> w
        tensor([0.7000, 0.7000], requires_grad=True)
    """
    fn = "sgd_step"
    ps = _params_list(params)
    lr = require_number(lr, fn, "lr")
    momentum = require_number(momentum, fn, "momentum")
    dampening = require_number(dampening, fn, "dampening")
    weight_decay = require_number(weight_decay, fn, "weight_decay")
    if nesterov and (momentum <= 0 or dampening != 0):
        raise error(
            UsageError,
            "Nesterov momentum requires a momentum > 0 and zero dampening",
            function=fn,
            argument="nesterov",
            got=f"momentum={momentum}, dampening={dampening}",
        )
    if momentum != 0:
        _check_buffers(buffers, len(ps))
    with torch.no_grad():
        for i, p in enumerate(ps):
            if p.grad is None:
                continue
            grad = p.grad if not maximize else -p.grad
            if weight_decay != 0:
                grad = grad.add(p, alpha=weight_decay)
            if momentum != 0:
                assert buffers is not None
                buf = buffers[i]
                if buf is None:
                    buf = torch.clone(grad).detach()
                    buffers[i] = buf
                else:
                    buf.mul_(momentum).add_(grad, alpha=1 - dampening)
                grad = grad.add(buf, alpha=momentum) if nesterov else buf
            p.add_(grad, alpha=-lr)


def _check_buffers(buffers: Any, n: int) -> None:
    if not isinstance(buffers, list):
        raise error(
            UsageError,
            "momentum needs a list of buffers to carry state between steps, got "
            f"{fmt_value(buffers)}",
            argument="buffers",
            expected=f"a list of {plural(n, 'slot')}",
            got=fmt_value(buffers),
            hint="bufs = [None] * len(params) once, then sgd_step(..., buffers=bufs)",
            function="sgd_step",
        )
    if len(buffers) != n:
        raise error(
            UsageError,
            f"has {len(buffers)} slots for {n} parameters",
            argument="buffers",
            expected=str(n),
            got=str(len(buffers)),
            hint="create it once as [None] * len(params)",
            function="sgd_step",
        )


# --------------------------------------------------------------------------------------
# train_step
# --------------------------------------------------------------------------------------


class StepStats(NamedTuple):
    """What :func:`train_step` returns: the loss value and, when clipping, the gradient
    norm before clipping."""

    loss: float
    grad_norm: float | None


def train_step(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, Any], torch.Tensor],
    batch: Any,
    optimizer: torch.optim.Optimizer,
    *,
    max_grad_norm: float | None = None,
) -> StepStats:
    """One optimisation step in the right order, refusing a bad loss before it does harm.

    Order: ``optimizer.zero_grad()`` → ``loss = loss_fn(model, batch)`` → check the loss →
    ``loss.backward()`` → (``clip_grad_norm_``) → ``optimizer.step()``.

    The loss must be a 0-d real floating tensor that requires grad; a loss of shape
    ``(64,)`` (a forgotten ``.mean()``) or ``(1,)`` raises :class:`~shapesafe.ShapeError`,
    a complex or integer loss :class:`~shapesafe.DtypeError`, a NaN/inf loss
    :class:`~shapesafe.NonFiniteError` *before* ``backward``, and a non-finite gradient
    norm (with ``max_grad_norm``) raises before ``step``: the parameters are never updated
    from a broken step. The model's train/eval mode is not changed.

    ``max_grad_norm=None`` (the default) means no clipping; otherwise it must be a finite
    number > 0 (a negative value would flip every gradient, 0 would zero them, NaN would
    write NaN weights), else :class:`~shapesafe.UsageError` before anything runs.

    ``loss_fn(model, batch)`` computes the loss, e.g.
    ``lambda m, b: F.mse_loss(m(b[0]), b[1])``.

    Examples:
        >>> import torch
        >>> from shapesafe import train_step
        >>> net = torch.nn.Linear(1, 1)
        >>> opt = torch.optim.SGD(net.parameters(), lr=0.1)
        >>> x = torch.ones(4, 1)
        >>> stats = train_step(net, lambda m, b: (m(b) ** 2).mean(), x, opt)
        >>> isinstance(stats.loss, float)
        True
    """
    # Every argument is checked before zero_grad(): a refused call changes nothing.
    clip = _check_step_arguments(model, loss_fn, optimizer, max_grad_norm)
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model, batch)
    checking = STATE.enabled
    if checking or not isinstance(loss, torch.Tensor):
        _check_loss(loss, checking)
    value = float(loss.detach())
    if checking and not math.isfinite(value):
        raise _about(
            "return value of loss_fn",
            NonFiniteError,
            f"loss is {value}; the parameters were not updated",
            expected="a finite loss",
            got=str(value),
            hint="look for log(0), division by a zero std, exp overflow, or a too-large "
            "learning rate (check the inputs with from_numpy(..., check_finite=True))",
        )
    loss.backward()  # type: ignore[no-untyped-call]
    norm: float | None = None
    if clip is not None:
        params = [p for g in optimizer.param_groups for p in g["params"]]
        norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
        if checking and not math.isfinite(norm):
            optimizer.zero_grad(set_to_none=True)
            raise _about(
                "gradients",
                NonFiniteError,
                f"gradient norm is {norm}; the parameters were not updated",
                expected="a finite gradient norm",
                got=str(norm),
                hint="a NaN/inf gradient usually comes from the loss's inputs; "
                "check_grads(model) names the parameters",
            )
    optimizer.step()
    return StepStats(value, norm)


def _check_step_arguments(
    model: Any, loss_fn: Any, optimizer: Any, max_grad_norm: Any
) -> float | None:
    """Refuse arguments that would fail deep inside torch, or silently do harm; returns
    the clipping norm (``None``: no clipping)."""
    require_optimizer(
        optimizer,
        "train_step",
        optional=False,
        hint="train_step(model, loss_fn, batch, torch.optim.Adam(model.parameters()))",
    )
    require_module(model, "train_step", argument="model")
    if not callable(loss_fn):
        raise error(
            UsageError,
            f"must be a function loss_fn(model, batch) -> loss, got {fmt_value(loss_fn)}",
            argument="loss_fn",
            expected="a callable",
            got=fmt_value(loss_fn),
            hint="e.g. lambda m, b: F.mse_loss(m(b[0]), b[1])",
            function="train_step",
        )
    if max_grad_norm is None:
        return None
    return require_number(max_grad_norm, "train_step", "max_grad_norm", positive=True)


def _about(argument: str, cls: type[ShapesafeError], summary: str, **fields: Any) -> ShapesafeError:
    """An error whose ``argument`` field names something that is not a parameter (the
    loss function's return value, the gradients): the message reads "loss is nan", not
    "argument `return value of loss_fn`"."""
    err = error(cls, summary, function="train_step", **fields)
    err.argument = argument
    return err


def _check_loss(loss: Any, checking: bool) -> None:
    """What ``loss_fn`` returned must be a real, 0-d, differentiable tensor."""
    where = "return value of loss_fn"  # the field; messages say "loss" / "loss_fn"
    if not isinstance(loss, torch.Tensor):
        raise _about(
            where,
            DtypeError,
            f"loss_fn returned {fmt_value(loss)}, expected a 0-d tensor",
            expected="a 0-d float tensor",
            got=fmt_value(loss),
            hint="return the loss tensor itself, not loss.item()",
        )
    if not checking:
        return
    if not loss.is_floating_point():
        raise _about(
            where,
            DtypeError,
            f"loss has dtype {fmt_dtype(loss.dtype)}; backward() needs a real floating loss",
            expected="a real floating dtype",
            got=fmt_dtype(loss.dtype),
            hint="for a complex value, minimise loss.abs() or loss.real; an integer loss "
            "came through argmax / a comparison, which has no gradient",
        )
    if loss.dim() != 0:
        raise _about(
            where,
            ShapeError,
            f"loss must be a scalar (shape ()), got shape {fmt_shape(loss.shape)}",
            expected="()",
            got=fmt_shape(loss.shape),
            hint="reduce it: .mean() over the batch (or .sum())"
            if loss.numel() != 1
            else "it has one element but is not 0-d; use .squeeze() or reduce with .sum()",
        )
    if not loss.requires_grad:
        raise _about(
            where,
            AutogradError,
            "loss does not require grad, so backward() cannot reach the parameters",
            expected="a loss that requires grad",
            got="requires_grad=False",
            hint="was it computed under torch.no_grad() / evaluating(), detached, or are "
            "all parameters frozen (requires_grad=False)?",
        )
