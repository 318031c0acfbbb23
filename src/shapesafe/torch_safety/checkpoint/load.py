"""Loading a verified checkpoint into a module and optimizer, all or nothing.

:func:`load_checkpoint` never leaves a model half-loaded. The file is verified first
(:mod:`.read`); then the saved entries are compared with the module's (every missing,
unexpected or mismatched key reported in one error) and the optimizer state with the
optimizer (group sizes, per-parameter state shapes). Only then are values copied, and
even that step is guarded: the module's and optimizer's previous state is kept aside and
put back if copying fails for a reason no check foresaw, so on any error the caller's
objects are exactly as they were. A half-loaded policy that keeps training is the worst
outcome of a bad file, because nothing looks wrong.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from shapesafe._format import error, fmt_dtype, fmt_shape, plural
from shapesafe.errors import CheckpointError
from shapesafe.torch_safety._arguments import require_flags, require_module, require_optimizer
from shapesafe.torch_safety.checkpoint._payload import _type_name
from shapesafe.torch_safety.checkpoint.read import Metadata, PathLike, as_path, read_verified

__all__ = ["load_checkpoint"]


def load_checkpoint(
    path: PathLike,
    module: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    strict: bool = True,
    verify: bool = True,
    map_location: Any = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` into ``module`` (and
    ``optimizer``) and return its metadata.

    The file is read with ``torch.load(weights_only=True)``: pickled code is refused, never
    run. With ``verify=True`` (default) the SHA-256 recorded at save time is checked.
    With ``strict=True`` (default), any key missing from the checkpoint, any key the module
    does not have, and any shape or dtype mismatch is reported together in one
    :class:`~shapesafe.CheckpointError` that lists every offending key with both shapes.
    With ``strict=False`` only the keys present on both sides are loaded (dtypes are cast,
    as ``load_state_dict`` does), but shape mismatches are still errors.

    Nothing is modified unless everything fits: on any error the module and optimizer
    keep their previous state.

    ``map_location`` (default ``"cpu"``) places tensors in the returned metadata; the
    weights are copied into the module's existing tensors, on the module's device. The
    metadata is a ``dict`` whose printout summarises big values such as an RNG state.

    Examples:
        >>> import torch, tempfile, os
        >>> from shapesafe import save_checkpoint, load_checkpoint
        >>> p = os.path.join(tempfile.mkdtemp(), "net.pt")
        >>> _ = save_checkpoint(p, torch.nn.Linear(2, 1), step=10)
        >>> load_checkpoint(p, torch.nn.Linear(2, 1))
        {'step': 10}
    """
    fn = "load_checkpoint"
    target = as_path(path, fn)
    require_module(
        module,
        fn,
        cls=CheckpointError,
        hint="build the model first (same constructor arguments), then load into it",
    )
    require_optimizer(optimizer, fn, optional=True, cls=CheckpointError)
    require_flags(fn, CheckpointError, strict=strict, verify=verify)
    obj = read_verified(target, fn, map_location, verify)
    _refuse_misfit(obj, module, strict, target, fn)
    opt_state = obj["optimizer"]
    if optimizer is not None:
        if opt_state is None:
            raise error(
                CheckpointError,
                f"checkpoint {str(target)!r} holds no optimizer state, but an optimizer was passed",
                function=fn,
                argument="optimizer",
                expected="a checkpoint saved with optimizer=",
                got="no optimizer state",
                hint="load without `optimizer`, or re-save with save_checkpoint(path, "
                "net, optimizer)",
            )
        _check_optimizer_fits(opt_state, optimizer, target, fn)
    state = obj["state_dict"]
    if not strict:
        own_keys = set(module.state_dict())
        state = OrderedDict((k, v) for k, v in state.items() if k in own_keys)
    _copy_all_or_nothing(module, state, strict, optimizer, opt_state, target, fn)
    return Metadata(obj["metadata"])


def _copy_all_or_nothing(
    module: nn.Module,
    state: Mapping[str, Any],
    strict: bool,
    optimizer: torch.optim.Optimizer | None,
    opt_state: Any,
    target: Path,
    fn: str,
) -> None:
    """Copy ``state`` (and ``opt_state``) in; on failure put the module's previous
    values back.

    The checks above should make a failure here impossible; the backup makes "the module
    is untouched on error" true even for a case they miss (an exotic optimizer whose
    ``load_state_dict`` refuses what ours accepted). It costs one copy of the weights,
    small next to reading the file. The optimizer needs no backup: it is loaded last, and
    ``Optimizer.load_state_dict`` builds the new state completely before assigning it,
    so a failure there leaves the optimizer as it was.
    """
    backup = {
        k: v.detach().clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v)
        for k, v in module.state_dict().items()
    }
    try:
        module.load_state_dict(state, strict=strict)
        if optimizer is not None:
            optimizer.load_state_dict(opt_state)
    except Exception as e:
        with torch.no_grad():
            module.load_state_dict(backup, strict=False)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise error(
            CheckpointError,
            f"checkpoint {str(target)!r} could not be copied in ({first[:200]}); the "
            "module and optimizer were left as they were",
            function=fn,
            got=type(e).__name__,
            hint="inspect_checkpoint(path) shows what the file holds",
        ) from None


def _common_prefix_hint(missing: list[str], unexpected: list[str]) -> str | None:
    if not missing or not unexpected or len(missing) != len(unexpected):
        return None
    m, u = sorted(missing), sorted(unexpected)
    if u[0].endswith(m[0]) and len(u[0]) > len(m[0]):
        p = u[0][: len(u[0]) - len(m[0])]
        if sorted(p + k for k in m) == u:
            return (
                f"every checkpoint key has an extra prefix {p!r} (saved from a wrapper such "
                f"as DataParallel or a parent module?); save the inner module, or load into "
                f"the module at that attribute"
            )
    if m[0].endswith(u[0]) and len(m[0]) > len(u[0]):
        p = m[0][: len(m[0]) - len(u[0])]
        if sorted(p + k for k in u) == m:
            return (
                f"every module key has an extra prefix {p!r}: the checkpoint was saved from "
                f"the inner module; load it into module.{p.rstrip('.')}"
            )
    return None


def _entry_text(v: object) -> str:
    if isinstance(v, torch.Tensor):
        return f"{fmt_shape(v.shape)} {fmt_dtype(v.dtype)}"
    return f"extra state ({_type_name(v)})"  # get_extra_state(): not a tensor


def _fit_problems(
    saved: Mapping[str, Any], own: Mapping[str, Any], strict: bool
) -> tuple[list[str], list[str], list[str], list[str]]:
    # Compared with the saved tensors themselves (the reader has checked that the
    # manifest agrees with them); keys come from the saved state_dict, since a module's
    # get_extra_state() entry may be plain data that the manifest does not list.
    missing = [k for k in own if k not in saved]
    unexpected = [k for k in saved if k not in own]
    shape_bad: list[str] = []
    dtype_bad: list[str] = []
    for k, v in saved.items():
        t = own.get(k)
        if not (isinstance(v, torch.Tensor) and isinstance(t, torch.Tensor)):
            continue
        if tuple(v.shape) != tuple(t.shape):
            shape_bad.append(k)
        elif v.dtype != t.dtype:
            dtype_bad.append(k)
    if not strict:
        missing, unexpected, dtype_bad = [], [], []
    return missing, unexpected, shape_bad, dtype_bad


def _refuse_misfit(
    obj: Mapping[str, Any], module: nn.Module, strict: bool, target: Path, fn: str
) -> None:
    saved, own = obj["state_dict"], module.state_dict()
    missing, unexpected, shape_bad, dtype_bad = _fit_problems(saved, own, strict)
    n = len(missing) + len(unexpected) + len(shape_bad) + len(dtype_bad)
    if not n:
        return
    saved_class = str(obj["module_class"])
    lines = [
        f"shape mismatch  {k}: checkpoint {fmt_shape(saved[k].shape)}, module "
        f"{fmt_shape(own[k].shape)}"
        for k in shape_bad
    ]
    lines += [
        f"dtype mismatch  {k}: checkpoint {fmt_dtype(saved[k].dtype)}, module "
        f"{fmt_dtype(own[k].dtype)}"
        for k in dtype_bad
    ]
    lines += [f"missing from checkpoint  {k}: module {_entry_text(own[k])}" for k in missing]
    lines += [
        f"unexpected in checkpoint  {k}: checkpoint {_entry_text(saved[k])}" for k in unexpected
    ]
    hint = _common_prefix_hint(missing, unexpected)
    if hint is None and shape_bad:
        hint = (
            "the module was built with different sizes than the saved one; build it with "
            "the same constructor arguments (inspect_checkpoint(path) shows the saved shapes)"
        )
    if hint is None and dtype_bad and not (missing or unexpected):
        hint = "convert the module first (e.g. module.float() / .double()), or strict=False"
    if hint is None:
        hint = (
            "the architectures differ; build the same module class that was saved, or pass "
            "strict=False to load only the keys both sides have"
        )
    err = error(
        CheckpointError,
        f"checkpoint {str(target)!r} (saved from {saved_class.rsplit('.', 1)[-1]}) does not "
        f"fit {type(module).__qualname__}: {plural(n, 'problem')}",
        function=fn,
        hint=hint,
        extra=lines,
    )
    # the per-key lines carry the detail; the fields name the two classes
    err.argument, err.expected = "module", saved_class
    err.got = f"{type(module).__module__}.{type(module).__qualname__}"
    raise err


def _optimizer_misfit(path: Path, fn: str, summary: str, **fields: Any) -> CheckpointError:
    return error(
        CheckpointError,
        f"checkpoint {str(path)!r}: {summary}",
        function=fn,
        argument="optimizer",
        hint="build the optimizer over the same parameters, in the same order and groups, "
        "as when saving",
        **fields,
    )


def _check_optimizer_fits(
    saved: Mapping[str, Any], optimizer: torch.optim.Optimizer, path: Path, fn: str
) -> None:
    saved_groups = saved.get("param_groups")
    saved_state = saved.get("state", {})
    if not (
        isinstance(saved_groups, list)
        and all(isinstance(g, Mapping) and isinstance(g.get("params"), list) for g in saved_groups)
        and isinstance(saved_state, Mapping)
    ):
        raise _optimizer_misfit(
            path,
            fn,
            "the saved optimizer state is malformed (no param_groups with params lists)",
            got="malformed optimizer state",
        )
    saved_sizes = [len(g["params"]) for g in saved_groups]
    own_sizes = [len(g["params"]) for g in optimizer.param_groups]
    if saved_sizes != own_sizes:
        raise _optimizer_misfit(
            path,
            fn,
            f"optimizer state does not fit the optimizer: saved parameter groups hold "
            f"{saved_sizes} parameters, the optimizer's hold {own_sizes}",
            expected=str(saved_sizes),
            got=str(own_sizes),
        )
    # per-parameter state tensors (momentum buffers, Adam moments) must match the params
    params = [p for g in optimizer.param_groups for p in g["params"]]
    index = {pid: i for i, pid in enumerate(pid for g in saved_groups for pid in g["params"])}
    bad: list[str] = []
    for pid, st in saved_state.items():
        i = index.get(pid)
        if i is None or not isinstance(st, Mapping):
            continue
        p = params[i]
        for name, v in st.items():
            if isinstance(v, torch.Tensor) and v.dim() > 0 and tuple(v.shape) != tuple(p.shape):
                bad.append(
                    f"parameter {i} state {name!r}: checkpoint {fmt_shape(v.shape)}, "
                    f"parameter {fmt_shape(p.shape)}"
                )
    if bad:
        raise _optimizer_misfit(
            path,
            fn,
            "optimizer state does not fit the optimizer's parameters:",
            extra=bad,
        )
