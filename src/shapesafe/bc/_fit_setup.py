"""Everything ``fit`` settles before its first step: argument checks, the train /
validation split, the sampler, the optimizer, the checkpoint path, a validated resume,
and the context the loop runs in (threads, checks, train mode, progress bar)."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from shapesafe import enabled
from shapesafe.bc._compat import check_compatible
from shapesafe.bc._data import Demonstrations
from shapesafe.bc._evaluate import on_device_of, require
from shapesafe.bc._resume import CHECKPOINT_NAME, FitState, read_fit_state
from shapesafe.bc._sampler import EpochSampler
from shapesafe.bc._threads import training_threads
from shapesafe.bc._validate import whole_number
from shapesafe.bc.policies.base import Policy
from shapesafe.errors import CheckpointError, DataError, UsageError

__all__ = ["OptimizerArg", "Run", "fit_context", "prepare", "resume_into"]

_OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}

OptimizerArg = (
    str | torch.optim.Optimizer | Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
)


@dataclass
class Run:
    """The fixed settings of one ``fit`` call, after checking."""

    policy: Policy
    train: Demonstrations
    val: Demonstrations | None
    sampler: EpochSampler
    optimizer: torch.optim.Optimizer
    total: int
    log_every: int
    max_grad_norm: float | None
    checkpoint: Path | None
    checkpoint_every: int
    signature: dict[str, Any]
    fingerprint: str
    resume_from: Path | None
    resume_on_new_data: bool
    progress: bool
    checks: bool | None
    threads: int | None


def _usage(message: str, argument: str, got: Any = None) -> UsageError:
    return UsageError(
        f"fit(): {message}",
        function="fit",
        argument=argument,
        got=None if got is None else repr(got),
    )


def _positive(value: Any, name: str) -> int:
    return whole_number(value, name, "fit")


def _check_types(policy: Any, demos: Any) -> None:
    if not isinstance(policy, Policy):
        raise _usage(
            "`policy` must be a shapesafe.bc.Policy (e.g. GaussianPolicy), got "
            f"{type(policy).__name__}",
            "policy",
        )
    if not isinstance(demos, Demonstrations):
        raise DataError(
            f"fit(): `demos` must be a Demonstrations, got {type(demos).__name__}\n"
            "  hint: wrap your arrays: Demonstrations(observations, actions)",
            function="fit",
            argument="demos",
            hint="wrap your arrays: Demonstrations(observations, actions)",
        )


def make_optimizer(optimizer: OptimizerArg, policy: Policy, lr: Any) -> torch.optim.Optimizer:
    if isinstance(optimizer, torch.optim.Optimizer):
        if lr is not None:
            raise _usage(
                "pass `lr` only with an optimizer name; an optimizer instance already has "
                "its learning rate",
                "lr",
            )
        return optimizer
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0):
        raise _usage(f"`lr` must be a positive number, got {lr!r}", "lr", lr)
    if isinstance(optimizer, str):
        cls = _OPTIMIZERS.get(optimizer.lower())
        if cls is None:
            raise _usage(
                f"unknown optimizer {optimizer!r}; choose one of "
                f"{', '.join(sorted(_OPTIMIZERS))}, or pass a torch.optim.Optimizer",
                "optimizer",
                optimizer,
            )
        return cls(policy.parameters(), lr=1e-3 if lr is None else float(lr))
    if callable(optimizer):
        opt = optimizer(policy.parameters())
        if not isinstance(opt, torch.optim.Optimizer):
            raise _usage("the `optimizer` factory must return a torch.optim.Optimizer", "optimizer")
        return opt
    raise _usage(f"`optimizer` must be a name or an optimizer, got {optimizer!r}", "optimizer")


def _split(
    policy: Policy, demos: Demonstrations, val_fraction: Any, val_demos: Any, seed: int
) -> tuple[Demonstrations, Demonstrations | None]:
    if val_demos is not None:
        if val_fraction:
            raise _usage("pass `val_fraction` or `val_demos`, not both", "val_demos")
        if not isinstance(val_demos, Demonstrations):
            raise DataError(
                f"fit(): `val_demos` must be a Demonstrations, got {type(val_demos).__name__}",
                function="fit",
                argument="val_demos",
            )
        check_compatible(policy, val_demos, argument="val_demos")
        return demos, val_demos
    if val_fraction:
        return demos.split(val_fraction, seed=seed)
    return demos, None


def _resume_source(resume: Any, checkpoint: Path | None) -> Path | None:
    if resume is True:
        if checkpoint is None:
            raise _usage("`resume=True` needs `checkpoint_dir`", "resume")
        return checkpoint if checkpoint.exists() else None
    if resume is False or resume is None:
        return None
    if not isinstance(resume, (str, os.PathLike)):
        raise _usage(f"`resume` must be True, False or a path, got {resume!r}", "resume")
    path = Path(resume)
    if not path.exists():
        raise CheckpointError(
            f"fit(): no checkpoint to resume from at {str(path)!r}",
            function="fit",
            argument="resume",
        )
    return path


def prepare(policy: Any, demos: Any, **s: Any) -> Run:
    """Check every argument and build the :class:`Run` (nothing is trained or loaded)."""
    _check_types(policy, demos)
    if (s["steps"] is None) == (s["epochs"] is None):
        raise _usage("pass exactly one of `steps` and `epochs`", "steps")
    batch_size = _positive(s["batch_size"], "batch_size")
    every = _positive(s["checkpoint_every"], "checkpoint_every")
    grad = s["max_grad_norm"]
    if grad is not None and (
        isinstance(grad, bool) or not isinstance(grad, (int, float)) or not 0 < grad < math.inf
    ):
        raise _usage(
            f"`max_grad_norm` must be positive and finite, got {grad!r}", "max_grad_norm", grad
        )
    if s["threads"] is not None:
        _positive(s["threads"], "threads")
    check_compatible(policy, demos)
    train, val = _split(policy, demos, s["val_fraction"], s["val_demos"], s["seed"])
    # windowed policies add their windows here, after the split, so that no window
    # reaches across the train/validation boundary
    train = on_device_of(policy, policy.prepare_data(train))
    val = None if val is None else policy.prepare_data(val)
    sampler = EpochSampler(len(train), batch_size, seed=s["seed"], device=train.observations.device)
    per_epoch = sampler.steps_per_epoch
    total = (
        _positive(s["steps"], "steps")
        if s["steps"] is not None
        else _positive(s["epochs"], "epochs") * per_epoch
    )
    log_every = per_epoch if s["log_every"] is None else _positive(s["log_every"], "log_every")
    ckpt_dir = s["checkpoint_dir"]
    checkpoint = Path(ckpt_dir) / CHECKPOINT_NAME if ckpt_dir is not None else None
    opt = make_optimizer(s["optimizer"], policy, s["lr"])
    signature = {
        "policy": policy.config,
        "batch_size": batch_size,
        "seed": s["seed"],
        "val_fraction": float(s["val_fraction"]),
    }
    return Run(
        policy=policy,
        train=train,
        val=None if val is None else on_device_of(policy, val),
        sampler=sampler,
        optimizer=opt,
        total=total,
        log_every=log_every,
        max_grad_norm=None if grad is None else float(grad),
        checkpoint=checkpoint,
        checkpoint_every=every,
        signature=signature,
        fingerprint=train.fingerprint(),
        resume_from=_resume_source(s["resume"], checkpoint),
        resume_on_new_data=bool(s["resume_on_new_data"]),
        progress=bool(s["progress"]),
        checks=s["checks"],
        threads=s["threads"],
    )


def resume_into(run: Run) -> FitState:
    """A fresh :class:`FitState`, or the one of ``run.resume_from``: validated first,
    then the weights, optimizer, sampler and RNG state are loaded."""
    from shapesafe import load_checkpoint, restore_rng_state

    if run.checkpoint is not None:
        run.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    if run.resume_from is None:
        return FitState()
    saved = read_fit_state(
        run.resume_from,
        signature=run.signature,
        data=run.fingerprint,
        new_data_ok=run.resume_on_new_data,
    )
    step = int(saved["step"])
    if step > run.total:
        raise UsageError(
            f"fit(): the run in {str(run.resume_from)!r} already finished {step} steps; "
            f"asked for {run.total} in all, so there is nothing to train\n  hint: pass "
            f"more steps (or epochs) than the checkpoint holds to train longer",
            function="fit",
            argument="steps",
            expected=f"more than {step} steps",
            got=str(run.total),
        )
    load_checkpoint(run.resume_from, run.policy, run.optimizer)
    if saved["data"] == run.fingerprint:
        run.sampler.load_state_dict(saved["sampler"])
    restore_rng_state(saved["rng"])
    history = saved["history"]
    pending = saved["pending"]
    return FitState(
        step=step,
        pending=[float(x) for x in pending.tolist()] if pending.numel() else [],
        steps=list(history["steps"]),
        train_loss=list(history["train_loss"]),
        val_loss=list(history["val_loss"]),
        metrics={k: list(v) for k, v in history.get("metrics", {}).items()},
        metric_sums=dict(saved.get("metric_sums", {})),
        checkpoint=run.resume_from,
        checkpoint_step=step,
        resumed_from=step,
    )


@contextlib.contextmanager
def fit_context(run: Run, state: FitState) -> Iterator[Any]:
    """Threads, the checks switch, train mode (each submodule's flag restored after, as
    ``evaluating()`` does) and the progress bar, around the loop."""
    policy = run.policy
    modes = [(m, m.training) for m in policy.modules()]
    check_ctx = enabled(run.checks) if run.checks is not None else contextlib.nullcontext()
    device = run.train.observations.device
    policy.train()
    try:
        with (
            training_threads(run.threads, policy, device),
            check_ctx,
            _progress(run.progress, run.total, min(state.step, run.total)) as bar,
        ):
            yield bar
    finally:
        for m, flag in modes:
            m.training = flag


@contextlib.contextmanager
def _progress(enabled_: bool, total: int, initial: int) -> Iterator[Any]:
    if not enabled_:
        yield None
        return
    require("tqdm", "fit(progress=True)")
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=initial, unit="step", desc="fit", dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()
