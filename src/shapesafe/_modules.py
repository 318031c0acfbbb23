"""Module-level traps from lecture 3, made loud.

- :func:`evaluating`: ``eval()`` + no-grad (or inference mode) for a block, restoring
  every submodule's own train/eval flag on exit, also when the block raises.
- :func:`audit`: submodules hidden in plain lists/dicts (never registered), tensors that
  should have been parameters, parameters the optimizer misses or holds twice, frozen
  parameters in the optimizer, modules left in train mode at evaluation.
- :func:`sgd_step`: the seed's manual update, done without ``.data``, matching
  :class:`torch.optim.SGD` exactly.
- :func:`train_step`: zero grads, forward, refuse a non-scalar or non-finite loss,
  backward, (clip), step, in that order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch
from torch import nn

from shapesafe._autograd import AutogradError
from shapesafe._config import STATE
from shapesafe._numpy import NonFiniteError
from shapesafe.errors import AuditError, ShapeError

__all__ = [
    "AuditError",
    "AuditReport",
    "Finding",
    "StepStats",
    "audit",
    "evaluating",
    "sgd_step",
    "train_step",
]


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
        >>> from shapesafe._modules import evaluating
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
        >>> with evaluating(net):
        ...     y = net(torch.ones(1, 2))
        >>> net.training, y.requires_grad
        (True, False)
    """
    if grad not in ("no_grad", "inference", "enabled"):
        raise ShapeError(
            f"evaluating(): argument `grad` must be 'no_grad', 'inference' or 'enabled', "
            f"got {grad!r}",
            function="evaluating",
            argument="grad",
        )
    for i, m in enumerate(modules):
        if not isinstance(m, nn.Module):
            raise ShapeError(
                f"evaluating(): argument {i} must be a torch.nn.Module, got "
                f"{type(m).__name__}\n  hint: pass the model(s): with evaluating(policy): ...",
                function="evaluating",
                argument=f"modules[{i}]",
            )
    flags: list[tuple[nn.Module, bool]] = [
        (sub, sub.training) for m in modules for sub in m.modules()
    ]
    with ExitStack() as stack:
        try:
            for m in modules:
                m.eval()
            if grad == "no_grad":
                stack.enter_context(torch.no_grad())
            elif grad == "inference":
                stack.enter_context(torch.inference_mode())
            yield
        finally:
            for sub, flag in flags:
                sub.training = flag


# --------------------------------------------------------------------------------------
# audit
# --------------------------------------------------------------------------------------

FindingKind = Literal[
    "unregistered_module",
    "unregistered_parameter",
    "tensor_not_parameter",
    "missing_from_optimizer",
    "duplicate_in_optimizer",
    "frozen_in_optimizer",
    "foreign_in_optimizer",
    "train_mode_at_eval",
]


@dataclass(frozen=True)
class Finding:
    """One problem :func:`audit` found.

    Attributes:
        kind: a stable machine-readable tag (see :data:`FindingKind`).
        where: the dotted attribute path (``"heads"``, ``"encoder.fc1.weight"``), or
            ``"optimizer param_groups[0]['params'][3]"`` for optimizer entries.
        message: one line saying what is wrong and why it matters.
        hint: the likely fix.
    """

    kind: FindingKind
    where: str
    message: str
    hint: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.where}: {self.message}\n    hint: {self.hint}"


@dataclass(frozen=True)
class AuditReport:
    """The findings of :func:`audit`; iterable, ``len()``-able, printable.

    ``report.ok`` is ``True`` when nothing was found; ``report.raise_if_any()`` raises
    :class:`AuditError` listing everything.
    """

    findings: tuple[Finding, ...]
    module_name: str = "module"

    @property
    def ok(self) -> bool:
        return not self.findings

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    def kinds(self) -> list[str]:
        """The ``kind`` of each finding, in order (handy in tests)."""
        return [f.kind for f in self.findings]

    def __str__(self) -> str:
        if not self.findings:
            return f"audit({self.module_name}): no problems found"
        n = len(self.findings)
        head = f"audit({self.module_name}): {n} problem{'s' if n != 1 else ''}"
        return "\n".join([head, *(f"  {f}" for f in self.findings)])

    def raise_if_any(self) -> None:
        """Raise :class:`AuditError` if there are findings."""
        if self.findings:
            raise AuditError(str(self), function="audit", argument="module")


_CONTAINER_FIX: dict[type, str] = {
    list: "nn.ModuleList",
    tuple: "nn.ModuleList",
    dict: "nn.ModuleDict",
}
_PARAM_FIX: dict[type, str] = {
    list: "nn.ParameterList",
    tuple: "nn.ParameterList",
    dict: "nn.ParameterDict",
}


def _scan_container(
    x: object, path: str, depth: int, out: list[tuple[str, object, type]], root_type: type
) -> None:
    if depth > 3:
        return
    if isinstance(x, dict):
        for k, v in x.items():
            _scan_container(v, f"{path}[{k!r}]", depth + 1, out, root_type)
    elif isinstance(x, list | tuple | set | frozenset):
        for i, v in enumerate(x):
            _scan_container(v, f"{path}[{i}]", depth + 1, out, root_type)
    elif isinstance(x, nn.Module | torch.Tensor):
        out.append((path, x, root_type))


def _param_owner_ids(module: nn.Module) -> set[int]:
    return {id(p) for p in module.parameters()} | {id(b) for b in module.buffers()}


def audit(
    module: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    evaluation: bool = False,
    strict: bool = False,
) -> AuditReport:
    """Look for the silent module/optimizer bugs of lecture 3 and report them.

    Finds:

    - ``unregistered_module`` / ``unregistered_parameter``: a submodule or
      ``nn.Parameter`` held in a plain ``list``/``tuple``/``dict`` attribute. PyTorch never
      sees it: it is missing from ``parameters()``, ``state_dict()``, ``.to(device)`` and
      hence from the optimizer. (Plain lists that only *alias* registered modules are fine
      and not reported.)
    - ``tensor_not_parameter``: a plain tensor attribute with ``requires_grad=True``
      (``self.log_std = torch.zeros(2, requires_grad=True)``); it is not a parameter.
    - with ``optimizer``: ``missing_from_optimizer`` (a trainable parameter the optimizer
      will never update), ``duplicate_in_optimizer`` (updated twice per step),
      ``frozen_in_optimizer`` (``requires_grad=False`` yet held), ``foreign_in_optimizer``
      (the optimizer holds tensors that are not this module's, e.g. it was built for an
      earlier instance of the model).
    - with ``evaluation=True``: ``train_mode_at_eval``, every submodule still in train
      mode (dropout and batch norm then behave as in training).

    Returns an :class:`AuditReport`; with ``strict=True`` raises :class:`AuditError` if
    anything was found.

    Examples:
        >>> import torch
        >>> from shapesafe._modules import audit
        >>> class Net(torch.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.heads = [torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)]
        >>> audit(Net()).kinds()
        ['unregistered_module', 'unregistered_module']
    """
    if not isinstance(module, nn.Module):
        raise ShapeError(
            f"audit(): argument `module` must be a torch.nn.Module, got {type(module).__name__}"
            "\n  hint: to audit several modules together, wrap them: nn.ModuleList([a, b])",
            function="audit",
            argument="module",
        )
    findings: list[Finding] = []
    registered_modules = {id(m) for m in module.modules()}
    owned = _param_owner_ids(module)
    names = {id(p): n for n, p in module.named_parameters(remove_duplicate=False)}

    for mod_name, sub in module.named_modules():
        prefix = f"{mod_name}." if mod_name else ""
        for attr, value in vars(sub).items():
            if attr.startswith("__") or attr in ("_parameters", "_buffers", "_modules"):
                continue
            where = f"{prefix}{attr}"
            if isinstance(value, torch.Tensor):
                if (
                    value.requires_grad
                    and not isinstance(value, nn.Parameter)
                    and id(value) not in owned
                    and value.is_leaf
                ):
                    findings.append(
                        Finding(
                            "tensor_not_parameter",
                            where,
                            f"plain tensor {tuple(value.shape)} with requires_grad=True is not "
                            "a parameter: parameters(), state_dict() and the optimizer skip it",
                            f"self.{attr} = nn.Parameter(...) (or register_buffer if it is "
                            "not trained)",
                        )
                    )
                continue
            if not isinstance(value, list | tuple | dict | set | frozenset):
                continue
            hits: list[tuple[str, object, type]] = []
            _scan_container(value, where, 0, hits, type(value))
            for path, obj, ctype in hits:
                if isinstance(obj, nn.Module):
                    if id(obj) in registered_modules:
                        continue
                    fix = _CONTAINER_FIX.get(ctype, "nn.ModuleList")
                    findings.append(
                        Finding(
                            "unregistered_module",
                            path,
                            f"{type(obj).__name__} held in a plain {ctype.__name__} is not "
                            "registered: its parameters are missing from parameters(), "
                            "state_dict(), .to(device) and the optimizer",
                            f"self.{attr} = {fix}(...)",
                        )
                    )
                elif isinstance(obj, nn.Parameter) and id(obj) not in owned:
                    fix = _PARAM_FIX.get(ctype, "nn.ParameterList")
                    findings.append(
                        Finding(
                            "unregistered_parameter",
                            path,
                            f"Parameter {tuple(obj.shape)} held in a plain {ctype.__name__} is "
                            "not registered: parameters(), state_dict() and the optimizer skip it",
                            f"self.{attr} = {fix}(...)",
                        )
                    )

    if optimizer is not None:
        seen: dict[int, str] = {}
        for gi, group in enumerate(optimizer.param_groups):
            for pi, p in enumerate(group["params"]):
                where = f"optimizer param_groups[{gi}]['params'][{pi}]"
                label = names.get(id(p))
                if id(p) in seen:
                    findings.append(
                        Finding(
                            "duplicate_in_optimizer",
                            label or where,
                            f"held by the optimizer twice ({seen[id(p)]} and {where}): it is "
                            "updated twice per step",
                            "pass each parameter once, e.g. list(dict.fromkeys(params)) or "
                            "module.parameters()",
                        )
                    )
                    continue
                seen[id(p)] = where
                if label is None:
                    findings.append(
                        Finding(
                            "foreign_in_optimizer",
                            where,
                            f"tensor {tuple(p.shape)} in the optimizer is not a parameter of "
                            "this module (an optimizer built for an earlier instance?)",
                            "build the optimizer after the final model: "
                            "optim.Adam(model.parameters()); to audit several modules "
                            "sharing one optimizer, pass nn.ModuleList([a, b])",
                        )
                    )
                elif not p.requires_grad:
                    findings.append(
                        Finding(
                            "frozen_in_optimizer",
                            label,
                            "has requires_grad=False but the optimizer holds it (it is "
                            "frozen, so it never gets a gradient; weight decay state is kept "
                            "for nothing)",
                            "build the optimizer from [p for p in model.parameters() if "
                            "p.requires_grad]",
                        )
                    )
        for n, p in module.named_parameters():
            if p.requires_grad and id(p) not in seen:
                findings.append(
                    Finding(
                        "missing_from_optimizer",
                        n,
                        f"trainable parameter {tuple(p.shape)} is not in the optimizer: it "
                        "will never be updated",
                        "build the optimizer from model.parameters() after every submodule "
                        "exists (or add it with optimizer.add_param_group)",
                    )
                )

    if evaluation:
        for n, sub in module.named_modules():
            if sub.training:
                findings.append(
                    Finding(
                        "train_mode_at_eval",
                        n or "(root)",
                        f"{type(sub).__name__} is in train mode at evaluation (dropout is "
                        "active, batch norm uses and updates batch statistics)",
                        "evaluate inside `with evaluating(model):` (or call model.eval())",
                    )
                )
    report = AuditReport(tuple(findings), type(module).__name__)
    if strict:
        report.raise_if_any()
    return report


# --------------------------------------------------------------------------------------
# manual SGD
# --------------------------------------------------------------------------------------


def _params_list(params: nn.Module | Iterable[torch.Tensor]) -> list[torch.Tensor]:
    if isinstance(params, nn.Module):
        return list(params.parameters())
    if isinstance(params, torch.Tensor):
        return [params]
    return list(params)


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

    The seed's manual loop (``p.data.add_(-lr * p.grad)``) goes through ``.data``, which
    hides the update from autograd's version counter. This does the same update under
    :func:`torch.no_grad` instead. Parameters whose ``.grad`` is ``None`` are skipped, as
    ``SGD`` does. Gradients are **not** zeroed (``SGD.step`` does not either); call
    ``model.zero_grad()`` before the next ``backward()``.

    With ``momentum != 0`` pass ``buffers``, a list (one slot per parameter, initially
    ``[None] * n``) that holds the momentum buffers between steps.

    Examples:
        >>> import torch
        >>> from shapesafe._modules import sgd_step
        >>> w = torch.ones(2, requires_grad=True)
        >>> (w * 3).sum().backward()
        >>> sgd_step([w], lr=0.1)
        >>> w
        tensor([0.7000, 0.7000], requires_grad=True)
    """
    ps = _params_list(params)
    if not (lr >= 0.0):
        raise ValueError(f"sgd_step(): invalid learning rate {lr}")
    if not (momentum >= 0.0):
        raise ValueError(f"sgd_step(): invalid momentum {momentum}")
    if not (weight_decay >= 0.0):
        raise ValueError(f"sgd_step(): invalid weight_decay {weight_decay}")
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("sgd_step(): Nesterov momentum requires a momentum and zero dampening")
    if momentum != 0:
        if buffers is None:
            raise ValueError(
                "sgd_step(): momentum needs `buffers` to carry state between steps\n"
                "  hint: bufs = [None] * len(params) once, then sgd_step(..., buffers=bufs)"
            )
        if len(buffers) != len(ps):
            raise ShapeError(
                f"sgd_step(): argument `buffers` has {len(buffers)} slots for {len(ps)} "
                "parameters\n  hint: create it once as [None] * len(params)",
                function="sgd_step",
                argument="buffers",
                expected=str(len(ps)),
                got=str(len(buffers)),
            )
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

    The loss must be a 0-d floating tensor that requires grad; a loss of shape ``(64,)``
    (a forgotten ``.mean()``) or ``(1,)`` raises :class:`ShapeError`, a NaN/inf loss raises
    :class:`NonFiniteError` *before* ``backward``, and a non-finite gradient norm (with
    ``max_grad_norm``) raises before ``step``: the parameters are never updated from a
    broken step. The model's train/eval mode is not changed.

    ``loss_fn(model, batch)`` computes the loss, e.g.
    ``lambda m, b: F.mse_loss(m(b[0]), b[1])``.

    Examples:
        >>> import torch
        >>> from shapesafe._modules import train_step
        >>> net = torch.nn.Linear(1, 1)
        >>> opt = torch.optim.SGD(net.parameters(), lr=0.1)
        >>> x = torch.ones(4, 1)
        >>> stats = train_step(net, lambda m, b: (m(b) ** 2).mean(), x, opt)
        >>> isinstance(stats.loss, float)
        True
    """
    fn = "train_step"
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ShapeError(
            f"{fn}(): argument `optimizer` must be a torch.optim.Optimizer, got "
            f"{type(optimizer).__name__}\n  hint: train_step(model, loss_fn, batch, "
            "torch.optim.Adam(model.parameters()))",
            function=fn,
            argument="optimizer",
            got=type(optimizer).__name__,
        )
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model, batch)
    checking = STATE.enabled
    if checking:
        if not isinstance(loss, torch.Tensor):
            raise ShapeError(
                f"{fn}(): loss_fn returned {type(loss).__name__}, expected a 0-d tensor\n"
                "  hint: return the loss tensor itself, not loss.item()",
                function=fn,
                argument="return value of loss_fn",
            )
        if loss.dim() != 0:
            shape = tuple(loss.shape)
            hint = (
                "reduce it: .mean() over the batch (or .sum())"
                if loss.numel() != 1
                else "it has one element but is not 0-d; use .squeeze() or reduce with .sum()"
            )
            raise ShapeError(
                f"{fn}(): loss must be a scalar (shape ()), got shape {shape}\n  hint: {hint}",
                function=fn,
                argument="return value of loss_fn",
                expected="()",
                got=str(shape),
            )
        if not loss.requires_grad:
            raise AutogradError(
                f"{fn}(): loss does not require grad, so backward() cannot reach the "
                "parameters\n  hint: was it computed under torch.no_grad() / evaluating(), "
                "detached, or are all parameters frozen (requires_grad=False)?",
                function=fn,
                argument="return value of loss_fn",
            )
    value = float(loss.detach())
    if checking and not math.isfinite(value):
        raise NonFiniteError(
            f"{fn}(): loss is {value}; the parameters were not updated\n  hint: look for "
            "log(0), division by a zero std, exp overflow, or a too-large learning rate "
            "(check the inputs with from_numpy(..., check_finite=True))",
            function=fn,
            argument="return value of loss_fn",
            got=str(value),
        )
    loss.backward()  # type: ignore[no-untyped-call]
    norm: float | None = None
    if max_grad_norm is not None:
        params = [p for g in optimizer.param_groups for p in g["params"]]
        norm = float(torch.nn.utils.clip_grad_norm_(params, max_grad_norm))
        if checking and not math.isfinite(norm):
            optimizer.zero_grad(set_to_none=True)
            raise NonFiniteError(
                f"{fn}(): gradient norm is {norm}; the parameters were not updated\n"
                "  hint: a NaN/inf gradient usually comes from the loss's inputs; "
                "check_grads(model) names the parameters",
                function=fn,
                argument="gradients",
                got=str(norm),
            )
    optimizer.step()
    return StepStats(value, norm)
