"""Module and optimizer bugs that raise nothing: :func:`audit` finds them.

A submodule kept in a plain ``list`` is invisible to ``parameters()``, ``state_dict()``,
``.to(device)`` and the optimizer; a ``torch.zeros(..., requires_grad=True)`` attribute is
not a parameter; an optimizer built before a head was added never updates it; one built
for an earlier instance of the model updates nothing at all. Training runs, the loss may
even fall, and the bug shows up as a policy that never improves. :func:`audit` walks the
module's attributes and the optimizer's parameter groups once and reports each of these
as a :class:`Finding` with the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from shapesafe._format import fmt_shape, plural
from shapesafe.errors import AuditError
from shapesafe.torch_safety._arguments import require_flags, require_module, require_optimizer

__all__ = ["AuditReport", "Finding", "FindingKind", "audit"]

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
        """Raise :class:`~shapesafe.AuditError` if there are findings (its ``got`` field
        lists their kinds)."""
        if self.findings:
            n = len(self.findings)
            raise AuditError(
                str(self),
                function="audit",
                argument="module",
                expected="no problems",
                got=f"{plural(n, 'problem')}: {', '.join(self.kinds())}",
            )


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
    """Look for the module and optimizer bugs that raise nothing, and report them.

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
        >>> from shapesafe import audit
        >>> class Net(torch.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.heads = [torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)]
        >>> audit(Net()).kinds()
        ['unregistered_module', 'unregistered_module']
    """
    require_module(
        module, "audit", hint="to audit several modules together, wrap them: nn.ModuleList([a, b])"
    )
    require_optimizer(
        optimizer,
        "audit",
        optional=True,
        hint="audit(model, torch.optim.Adam(model.parameters()))",
    )
    require_flags("audit", evaluation=evaluation, strict=strict)
    findings = _attribute_findings(module)
    if optimizer is not None:
        findings += _optimizer_findings(module, optimizer)
    if evaluation:
        findings += _evaluation_findings(module)
    report = AuditReport(tuple(findings), type(module).__name__)
    if strict:
        report.raise_if_any()
    return report


def _attribute_findings(module: nn.Module) -> list[Finding]:
    """Submodules and parameters hidden in plain containers, tensors that should be
    parameters."""
    findings: list[Finding] = []
    registered_modules = {id(m) for m in module.modules()}
    owned = _param_owner_ids(module)

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
                            f"plain tensor {fmt_shape(value.shape)} with requires_grad=True is not "
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
                            f"Parameter {fmt_shape(obj.shape)} held in a plain {ctype.__name__} is "
                            "not registered: parameters(), state_dict() and the optimizer skip it",
                            f"self.{attr} = {fix}(...)",
                        )
                    )
    return findings


def _optimizer_findings(module: nn.Module, optimizer: torch.optim.Optimizer) -> list[Finding]:
    """Parameters the optimizer misses, holds twice, holds frozen, or does not own."""
    findings: list[Finding] = []
    names = {id(p): n for n, p in module.named_parameters(remove_duplicate=False)}
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
                        f"tensor {fmt_shape(p.shape)} in the optimizer is not a parameter of "
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
                    f"trainable parameter {fmt_shape(p.shape)} is not in the optimizer: it "
                    "will never be updated",
                    "build the optimizer from model.parameters() after every submodule "
                    "exists (or add it with optimizer.add_param_group)",
                )
            )
    return findings


def _evaluation_findings(module: nn.Module) -> list[Finding]:
    """Submodules still in train mode where evaluation was meant."""
    findings: list[Finding] = []
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
    return findings
