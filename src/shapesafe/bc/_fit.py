"""``fit``: the behaviour-cloning loop, readable top to bottom.

sampler -> step -> log -> checkpoint. The sampler (``EpochSampler``) says which rows to
train on and can be saved and restored; the step is the library's own ``train_step``
(zero_grad, loss, checks, backward, clip, step); logging averages the losses and the
policy's metrics at log points; checkpoints go through ``_resume``, which also validates
a resume before anything is loaded. Setup and argument checks live in ``_fit_setup``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from shapesafe import train_step
from shapesafe._format import add_context
from shapesafe.bc._compiled import compile_backend, compiled_loss, compiled_optimizer
from shapesafe.bc._data import Demonstrations
from shapesafe.bc._distributed import (
    DistContext,
    LossModule,
    gather_names,
    rank_loss,
    setup_distributed,
)
from shapesafe.bc._evaluate import mean_metrics
from shapesafe.bc._fit_setup import OptimizerArg, Run, fit_context, prepare, resume_into
from shapesafe.bc._resume import FitState, save_fit_state
from shapesafe.bc.policies.base import Policy
from shapesafe.errors import NonFiniteError, UsageError

__all__ = ["FitResult", "NonFiniteLossError", "fit"]


class NonFiniteLossError(NonFiniteError, FloatingPointError):
    """The training loss became NaN or infinite; training stopped.

    A :class:`shapesafe.NonFiniteError` (and, as before, a ``FloatingPointError``).

    Attributes:
        step: the (1-based) step whose loss was not finite.
        last_checkpoint: the last checkpoint written with finite losses, or ``None``.
    """

    def __init__(
        self, message: str, *, step: int, last_checkpoint: Path | None, **fields: Any
    ) -> None:
        super().__init__(message, **fields)
        self.step = step
        self.last_checkpoint = last_checkpoint


NonFiniteLossError.__module__ = "shapesafe.bc"


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        policy: the trained policy (the same object that was passed in).
        steps: the step number (1-based, cumulative over resumes) of each log point.
        train_loss: at each log point, the mean training loss since the previous one.
        val_loss: at each log point, the loss on the validation data (empty without).
        metrics: the policy's own metrics (from ``compute_loss``), averaged like
            ``train_loss``, by name.
        total_steps: steps trained in all, including those before a resume.
        seconds: wall time of this call.
        checkpoint: the last checkpoint written (or resumed from), or ``None``.
        checkpoint_step: the step of that checkpoint.
        resumed_from: the step this call resumed from, or ``None``.
    """

    policy: Policy
    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    total_steps: int = 0
    seconds: float = 0.0
    checkpoint: Path | None = None
    checkpoint_step: int | None = None
    resumed_from: int | None = None

    @property
    def final_train_loss(self) -> float:
        """The last logged training loss (``nan`` before any log point)."""
        return self.train_loss[-1] if self.train_loss else math.nan

    @property
    def final_val_loss(self) -> float | None:
        """The last validation loss, or ``None`` without validation data."""
        return self.val_loss[-1] if self.val_loss else None

    def __repr__(self) -> str:
        val = self.final_val_loss
        return (
            f"FitResult(steps={self.total_steps}, train_loss={self.final_train_loss:.4g}"
            + (f", val_loss={val:.4g}" if val is not None else "")
            + f", seconds={self.seconds:.2f})"
        )


def fit(
    policy: Policy,
    demos: Demonstrations,
    *,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int = 64,
    optimizer: OptimizerArg = "adam",
    lr: float | None = None,
    max_grad_norm: float | None = None,
    val_fraction: float = 0.0,
    val_demos: Demonstrations | None = None,
    seed: int = 0,
    progress: bool = True,
    log_every: int | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 1000,
    resume: bool | str | os.PathLike[str] = False,
    resume_on_new_data: bool = False,
    checks: bool | None = None,
    threads: int | None = None,
    distributed: bool = False,
    compile: bool | str = False,
    device: str | torch.device | None = None,
) -> FitResult:
    """Train ``policy`` on ``demos`` by behaviour cloning (minimise ``policy.loss``).

    Each epoch is one random permutation of the rows (seeded with ``seed``) cut into
    batches of ``batch_size`` (the last may be smaller), indexed straight out of the
    data tensors; every batch is a :class:`Batch` with the goals and extras of its rows.
    Same seed, same data and same initial policy give bit-identical parameters, also
    across an interruption and ``resume``.

    Args:
        policy: a :class:`Policy` (built-in or registered in your own code).
        demos: the training data; it must match the policy's specs.
        steps: number of optimizer steps (give ``steps`` or ``epochs``).
        epochs: number of passes over the training data.
        batch_size: minibatch size.
        optimizer: ``"adam"`` (default), ``"adamw"``, ``"sgd"``, ``"rmsprop"``, an
            optimizer over ``policy.parameters()``, or a factory ``params -> optimizer``.
        lr: learning rate for a named optimizer (default 1e-3).
        max_grad_norm: clip the gradient norm to this value (off by default).
        val_fraction: hold out this fraction of ``demos`` (whole episodes when the data
            has episode ids) for validation.
        val_demos: validation data given explicitly (instead of ``val_fraction``).
        seed: seeds the batch order and the validation split.
        progress: show a tqdm progress bar with the running loss.
        log_every: log the mean training loss (and validation loss) every this many
            steps; default: once per epoch.
        checkpoint_dir: write ``last.pt`` there every ``checkpoint_every`` steps and at
            the end (atomically, weights-only, with optimizer, sampler and RNG state).
        checkpoint_every: steps between checkpoints.
        resume: ``True``: continue from ``checkpoint_dir/last.pt`` if it exists (else
            start fresh); a path: continue from that checkpoint. The run's settings and
            the data (by content fingerprint) must be the same; nothing is loaded
            unless they are.
        resume_on_new_data: accept a resume on data that changed since the checkpoint
            (e.g. a DAgger set that grew); training continues with a fresh epoch.
        checks: ``False`` turns shapesafe's checks off inside the loop; ``True`` on;
            ``None`` (default) keeps the global setting.
        threads: torch CPU threads while training (restored afterwards). ``None``: one
            thread for a policy under a million parameters (small models run fastest on
            one thread and share the machine), else ``min(4, cpu count)`` -- unless you
            set torch's thread count yourself (or ``OMP_NUM_THREADS``), which is kept.
        distributed: data-parallel training with ``DistributedDataParallel``, one
            process per rank (launch with ``torchrun``; the process group is the one
            you initialised, or one built from torchrun's environment: gloo on CPU,
            nccl on GPU). Each rank trains on its shard of every global batch of
            ``batch_size`` rows, so the parameters match a one-process run on the same
            batches; checkpoints are written by rank 0; resume works on any world size.
            A failure on one rank raises on every rank.
        compile: compile the training step with ``torch.compile`` (the policy's loss,
            forward and backward, and the optimizer's step): ``True`` for inductor, or
            a backend name. Shape checks stay live (they run at trace time: a
            wrong-shape batch still raises at the first step); the first step and the
            ragged last batch of the first epoch pay the compilation, once. Results
            equal eager training within floating-point tolerance.
        device: move the policy there first (e.g. ``"cuda"``); the data follows the
            policy's device. ``None`` keeps the policy where it is.

    Returns:
        A :class:`FitResult` with the loss history.

    Raises:
        ShapeError: the data does not fit the policy.
        CheckpointError: a resume that does not match this run.
        NonFiniteLossError: the loss became NaN or infinite (the last good checkpoint
            is kept).

    Examples:
        >>> from shapesafe.bc import GaussianPolicy, cubic_demonstrations, fit
        >>> result = fit(GaussianPolicy(2, 2), cubic_demonstrations(200), epochs=2,
        ...              progress=False)
        >>> result.total_steps
        8
    """
    with add_context("fit"):
        backend = compile_backend(compile)
        if device is not None:
            policy.to(_device(device))
        ctx = setup_distributed(policy) if _flag(distributed, "distributed") else None
        if ctx is not None and backend is not None:
            raise UsageError(
                "fit(): `compile` and `distributed` together are not supported yet; "
                "train distributed eagerly, or compiled in one process",
                function="fit",
                argument="compile",
            )
        run = prepare(policy, demos, **_settings(locals()))
        state = resume_into(run)
    if ctx is not None:
        run = dataclasses.replace(run, progress=run.progress and ctx.is_main)
    t0 = time.perf_counter()
    sums = state.metric_sums
    model = policy if ctx is None else DistributedDataParallel(LossModule(policy))
    rows = [0, 0]  # this rank's rows, the global batch's rows (distributed only)
    compute = policy.compute_loss if backend is None else compiled_loss(policy, backend)
    faster = nullcontext() if backend is None else compiled_optimizer(run.optimizer, backend)

    def loss_fn(model: Any, batch: Any) -> Tensor:
        if ctx is not None:
            return rank_loss(ctx, model, policy, batch, rows, sums)
        out = compute(batch)
        for k, v in out.metrics.items():  # summed lazily: no sync per step
            sums[k] = sums[k] + v.detach() if k in sums else v.detach()
        loss: Tensor = out.loss
        return loss

    with fit_context(run, state) as bar, faster:
        while state.step < run.total:
            idx = run.sampler.next_indices()
            if ctx is not None:
                rows[1] = len(idx)
                idx = ctx.shard(idx)
                rows[0] = len(idx)
            batch = run.train.batch_at(idx) if len(idx) else None
            try:
                stats = train_step(
                    model, loss_fn, batch, run.optimizer, max_grad_norm=run.max_grad_norm
                )
            except NonFiniteError as exc:  # train_step refused the step before updating
                what = "gradient norm" if exc.argument == "gradients" else "training loss"
                raise non_finite(state, state.step + 1, exc.got, applied=False, what=what) from None
            if not math.isfinite(stats.loss):  # checks off: found one step late
                raise non_finite(state, state.step + 1, str(stats.loss), applied=True)
            state.pending.append(stats.loss)
            state.step += 1
            if bar is not None:
                bar.update(1)
            if state.step % run.log_every == 0 or state.step == run.total:
                _log(run, state, bar, ctx)
            if run.checkpoint is not None and (
                state.step % run.checkpoint_every == 0 or state.step == run.total
            ):
                if ctx is None or ctx.is_main:
                    save_fit_state(
                        run.checkpoint,
                        policy,
                        run.optimizer,
                        state,
                        signature=run.signature,
                        data=run.fingerprint,
                        sampler=run.sampler.state_dict(),
                    )
                if ctx is not None:  # the others continue once the file is complete
                    state.checkpoint, state.checkpoint_step = run.checkpoint, state.step
                    ctx.barrier()
    return _result(policy, state, time.perf_counter() - t0)


def non_finite(
    state: FitState, bad_step: int, value: Any, *, applied: bool, what: str = "training loss"
) -> NonFiniteLossError:
    """The error for a NaN/inf loss at ``bad_step``, naming the last good checkpoint."""
    kept = "" if applied else f" before its update (the policy holds step {bad_step - 1})"
    where = (
        f"the last good checkpoint (step {state.checkpoint_step}) is kept at "
        f"{str(state.checkpoint)!r}"
        if state.checkpoint is not None
        else "no checkpoint was written (pass checkpoint_dir= to keep one)"
    )
    hint = "lower the learning rate, set max_grad_norm=, or look for extreme values in the data"
    return NonFiniteLossError(
        f"fit(): the {what} became {value} at step {bad_step}; training "
        f"stopped{kept}; {where}\n  hint: {hint}",
        step=bad_step,
        last_checkpoint=state.checkpoint,
        function="fit",
        argument="loss",
        got=str(value),
        hint=hint,
    )


def _settings(args: Mapping[str, Any]) -> dict[str, Any]:
    skip = ("policy", "demos", "distributed", "ctx", "compile", "device", "backend")
    return {k: v for k, v in args.items() if k not in skip}


def _device(value: Any) -> torch.device:
    try:
        return torch.device(value)
    except (RuntimeError, TypeError):
        raise UsageError(
            f"fit(): `device` must name a torch device such as 'cpu' or 'cuda', got {value!r}",
            function="fit",
            argument="device",
            got=repr(value),
        ) from None


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise UsageError(
            f"fit(): `{name}` must be True or False, got {value!r}",
            function="fit",
            argument=name,
            expected="True or False",
            got=repr(value),
        )
    return value


def _log(run: Run, state: FitState, bar: Any, ctx: DistContext | None = None) -> None:
    """Average the losses and metrics since the last log point (one sync per log; under
    ``distributed``, one all-reduce: the mean over ranks)."""
    n = len(state.pending)
    state.steps.append(state.step)
    names = sorted(state.metric_sums)
    if ctx is not None:
        names = gather_names(ctx, names)
    values = [sum(state.pending) / n, *(float(state.metric_sums.get(k, 0.0)) / n for k in names)]
    if ctx is not None:
        # each rank's loss is scaled so that the mean over ranks is the global mean
        values = (ctx.sum_(torch.tensor(values, dtype=torch.float64)) / ctx.world).tolist()
    state.train_loss.append(values[0])
    state.pending.clear()
    for k, v in zip(names, values[1:]):
        state.metrics.setdefault(k, []).append(v)
    state.metric_sums.clear()
    if run.val is not None:
        state.val_loss.append(float(mean_metrics(run.policy, run.val, errors=False)["loss"]))
    if bar is not None:
        post = {"loss": f"{state.train_loss[-1]:.4g}"}
        if run.val is not None:
            post["val"] = f"{state.val_loss[-1]:.4g}"
        bar.set_postfix(post, refresh=False)


def _result(policy: Policy, state: FitState, seconds: float) -> FitResult:
    return FitResult(
        policy,
        steps=state.steps,
        train_loss=state.train_loss,
        val_loss=state.val_loss,
        metrics=state.metrics,
        total_steps=state.step,
        seconds=seconds,
        checkpoint=state.checkpoint,
        checkpoint_step=state.checkpoint_step,
        resumed_from=state.resumed_from,
    )
