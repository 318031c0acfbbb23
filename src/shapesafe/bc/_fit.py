"""``fit``: the behaviour-cloning training loop (index sampling, checkpoints, exact resume)."""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from shapesafe._checkpoint import (
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from shapesafe._config import enabled
from shapesafe._modules import evaluating
from shapesafe.bc._data import Demonstrations
from shapesafe.bc._policies import Policy
from shapesafe.errors import DtypeError, ShapeError

__all__ = ["FitResult", "NonFiniteLossError", "evaluate", "fit", "plot_losses"]

CHECKPOINT_NAME = "last.pt"
_CHECK_EACH_STEP_ON_CPU = True  # tests turn this off to exercise the accelerator path

_OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}

OptimizerArg = (
    str | torch.optim.Optimizer | Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
)


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; training stopped.

    Attributes:
        step: the (1-based) step whose loss was not finite.
        last_checkpoint: the last checkpoint written with finite losses, or ``None``.
    """

    def __init__(self, message: str, *, step: int, last_checkpoint: Path | None) -> None:
        super().__init__(message)
        self.step = step
        self.last_checkpoint = last_checkpoint


NonFiniteLossError.__module__ = "shapesafe.bc"


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        policy: the trained policy (the same object that was passed in).
        steps: the step number (1-based, cumulative over resumes) of each log point.
        train_loss: at each log point, the mean training loss over the steps since the
            previous log point.
        val_loss: at each log point, the loss on the validation data (empty when there is
            none).
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


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"fit(): `{name}` must be a positive integer, got {value!r}")
    return value


def _rows(shape: tuple[int, ...]) -> str:
    """``(N, 4, 4)`` for a per-row shape ``(4, 4)``; ``(N,)`` for ``()``."""
    return f"(N, {', '.join(map(str, shape))})" if shape else "(N,)"


def _check_compatible(
    policy: Policy, demos: Demonstrations, function: str = "fit", argument: str = "demos"
) -> None:
    name = type(policy).__name__
    obs_shape, act_shape = demos.obs_shape, demos.act_shape
    if obs_shape != (policy.obs_dim,):
        hint = ""
        if len(obs_shape) > 1 and math.prod(obs_shape) == policy.obs_dim:
            hint = (
                "\n  hint: the observations are not flat; flatten them first: "
                "Demonstrations(demos.observations.flatten(1), demos.actions)"
            )
        elif len(obs_shape) == 1:
            hint = f"\n  hint: build the policy with obs_dim={obs_shape[0]}"
        raise ShapeError(
            f"{function}(): argument `{argument}`: observations have shape "
            f"{_rows(obs_shape)} but {name} expects (N, obs={policy.obs_dim}){hint}",
            function=function,
            argument=argument,
            axis=1,
            expected=f"obs={policy.obs_dim}",
            got=str(obs_shape),
            bindings={"obs": policy.obs_dim, "act": policy.act_dim},
        )
    if not demos.actions.is_floating_point():
        raise DtypeError(
            f"{function}(): argument `{argument}`: actions have dtype {demos.actions.dtype}, "
            f"but {name} predicts continuous (float) actions\n  hint: discrete actions need a "
            "categorical policy; continuous ones should be stored as floats",
            function=function,
            argument=argument,
            expected="float actions",
            got=str(demos.actions.dtype),
        )
    if act_shape != (policy.act_dim,):
        hint = ""
        if len(act_shape) == 1:
            hint = f"\n  hint: build the policy with act_dim={act_shape[0]}"
        raise ShapeError(
            f"{function}(): argument `{argument}`: actions have shape {_rows(act_shape)}"
            f" but {name} predicts (N, act={policy.act_dim}){hint}",
            function=function,
            argument=argument,
            axis=1,
            expected=f"act={policy.act_dim}",
            got=str(act_shape),
            bindings={"obs": policy.obs_dim, "act": policy.act_dim},
        )


def _make_optimizer(
    optimizer: OptimizerArg, policy: Policy, lr: float | None
) -> torch.optim.Optimizer:
    if isinstance(optimizer, torch.optim.Optimizer):
        if lr is not None:
            raise ValueError(
                "fit(): pass `lr` only with an optimizer name; an optimizer instance "
                "already has its learning rate"
            )
        return optimizer
    if isinstance(optimizer, str):
        cls = _OPTIMIZERS.get(optimizer.lower())
        if cls is None:
            raise ValueError(
                f"fit(): unknown optimizer {optimizer!r}; choose one of "
                f"{', '.join(sorted(_OPTIMIZERS))}, or pass a torch.optim.Optimizer"
            )
        return cls(policy.parameters(), lr=1e-3 if lr is None else float(lr))
    if callable(optimizer):
        opt = optimizer(policy.parameters())
        if not isinstance(opt, torch.optim.Optimizer):
            raise ValueError("fit(): the `optimizer` factory must return a torch.optim.Optimizer")
        return opt
    raise ValueError(f"fit(): `optimizer` must be a name or an optimizer, got {optimizer!r}")


@torch.no_grad()
def _mean_loss(policy: Policy, demos: Demonstrations, chunk: int = 8192) -> float:
    total = 0.0
    n = len(demos)
    with evaluating(policy):
        for start in range(0, n, chunk):
            obs = demos.observations[start : start + chunk]
            act = demos.actions[start : start + chunk]
            total += float(policy.loss((obs, act))) * len(obs)
    return total / n


def evaluate(policy: Policy, demos: Demonstrations) -> dict[str, float]:
    """Held-out metrics of ``policy`` on ``demos`` (eval mode, no grad).

    Returns ``loss`` (the policy's own loss: NLL or MSE) and ``mean_error`` (the RMS
    distance between the policy's most likely action and the demonstrated one); for a
    Gaussian policy with a state-independent std also ``std_<i>`` for each action
    dimension.

    Examples:
        >>> from shapesafe.bc import DeterministicPolicy, cubic_demonstrations, evaluate
        >>> sorted(evaluate(DeterministicPolicy(2, 2), cubic_demonstrations(100)))
        ['loss', 'mean_error']
    """
    _check_compatible(policy, demos, "evaluate")
    param = next(policy.parameters())
    demos = _on(demos, param)
    out = {"loss": _mean_loss(policy, demos)}
    with torch.no_grad(), evaluating(policy):
        sq = 0.0
        for start in range(0, len(demos), 8192):
            obs = demos.observations[start : start + 8192]
            act = demos.actions[start : start + 8192]
            sq += float(((policy.predict(obs) - act) ** 2).sum())
        out["mean_error"] = math.sqrt(sq / (len(demos) * policy.act_dim))
        std_fn = getattr(policy, "std", None)
        if callable(std_fn) and not getattr(policy, "state_dependent_std", True):
            for i, s in enumerate(std_fn().tolist()):
                out[f"std_{i}"] = float(s)
    return out


def _on(demos: Demonstrations, param: Tensor) -> Demonstrations:
    obs, act = demos.observations, demos.actions
    if obs.device == param.device and obs.dtype == param.dtype and act.dtype == param.dtype:
        return demos
    return Demonstrations._from_validated(
        obs.to(device=param.device, dtype=param.dtype),
        act.to(device=param.device, dtype=param.dtype),
        demos.episode_ids,
        demos.goals,
        demos.extras,
    )


def _require(package: str, what: str) -> None:
    """Import-check an optional dependency of the ``bc`` extra, with an actionable message."""
    if importlib.util.find_spec(package) is None:
        raise ImportError(
            f"{what} needs {package}, which is not installed: "
            f"pip install 'shapesafe[bc]' (or pip install {package})"
        )


@contextlib.contextmanager
def _progress(enabled_: bool, total: int, initial: int) -> Iterator[Any]:
    if not enabled_:
        yield None
        return
    _require("tqdm", "fit(progress=True)")
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=initial, unit="step", desc="fit", dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()


def _fit_signature(
    policy: Policy, n_train: int, batch_size: int, seed: int, val_fraction: float
) -> dict[str, Any]:
    return {
        "policy": policy.config,
        "n_train": n_train,
        "batch_size": batch_size,
        "seed": seed,
        "val_fraction": float(val_fraction),
    }


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
    checks: bool | None = None,
) -> FitResult:
    """Train ``policy`` on ``demos`` by behaviour cloning (minimise ``policy.loss``).

    Minibatches are drawn by index sampling on the whole data tensors: each epoch is one
    random permutation (from a generator seeded with ``seed``) cut into batches of
    ``batch_size``; the last batch of an epoch may be smaller. Same seed, same data and
    same initial policy give bit-identical parameters, also across an interruption and
    ``resume``.

    Args:
        policy: a :class:`Policy` (e.g. :class:`GaussianPolicy`); trained in place.
        demos: the training data; its observation and action sizes must match the policy.
        steps: number of optimizer steps (give ``steps`` or ``epochs``).
        epochs: number of passes over the training data.
        batch_size: minibatch size.
        optimizer: ``"adam"`` (default), ``"adamw"``, ``"sgd"``, ``"rmsprop"``, an
            optimizer built over ``policy.parameters()``, or a factory ``params -> optimizer``.
        lr: learning rate for a named optimizer (default 1e-3).
        max_grad_norm: clip the gradient norm to this value (off by default).
        val_fraction: hold out this fraction of ``demos`` (whole episodes when the data
            has episode ids) for validation; ``0`` (default) trains on everything.
        val_demos: validation data given explicitly (instead of ``val_fraction``).
        seed: seeds the batch order and the validation split.
        progress: show a tqdm progress bar with the running loss.
        log_every: record the mean training loss (and the validation loss) every this many
            steps; default: once per epoch.
        checkpoint_dir: write ``last.pt`` there every ``checkpoint_every`` steps and at the
            end (atomically, weights-only, with optimizer and RNG state).
        checkpoint_every: steps between checkpoints.
        resume: ``True``: continue from ``checkpoint_dir/last.pt`` if it exists (else start
            fresh); a path: continue from that checkpoint.
        checks: ``False`` turns shapesafe's checks off inside the loop (for speed, once
            the code is trusted); ``True`` turns them on; ``None`` (default) keeps the
            global setting (on unless disabled).

    Returns:
        A :class:`FitResult` with the loss history.

    Raises:
        ShapeError: the data does not fit the policy.
        NonFiniteLossError: the loss became NaN or infinite (the last good checkpoint is
            kept).

    Examples:
        >>> from shapesafe.bc import GaussianPolicy, cubic_demonstrations, fit
        >>> result = fit(GaussianPolicy(2, 2), cubic_demonstrations(200), epochs=2,
        ...              progress=False)
        >>> result.total_steps
        8
    """
    if not isinstance(policy, Policy):
        raise ValueError(
            f"fit(): `policy` must be a shapesafe.bc.Policy (e.g. GaussianPolicy), got "
            f"{type(policy).__name__}"
        )
    if not isinstance(demos, Demonstrations):
        raise ValueError(
            f"fit(): `demos` must be a Demonstrations, got {type(demos).__name__}\n"
            "  hint: wrap your arrays: Demonstrations(observations, actions)"
        )
    if (steps is None) == (epochs is None):
        raise ValueError("fit(): pass exactly one of `steps` and `epochs`")
    batch_size = _positive(batch_size, "batch_size")
    checkpoint_every = _positive(checkpoint_every, "checkpoint_every")
    if max_grad_norm is not None and not max_grad_norm > 0:
        raise ValueError(f"fit(): `max_grad_norm` must be positive, got {max_grad_norm!r}")
    _check_compatible(policy, demos)

    if val_demos is not None:
        if val_fraction:
            raise ValueError("fit(): pass `val_fraction` or `val_demos`, not both")
        _check_compatible(policy, val_demos, argument="val_demos")
        train, val = demos, val_demos
    elif val_fraction:
        train, val = demos.split(val_fraction, seed=seed)
    else:
        train, val = demos, None
    param = next(policy.parameters())
    train = _on(train, param)
    val = _on(val, param) if val is not None else None
    n = len(train)
    per_epoch = math.ceil(n / batch_size)
    total = (
        _positive(steps, "steps") if steps is not None else _positive(epochs, "epochs") * per_epoch
    )
    log_every = per_epoch if log_every is None else _positive(log_every, "log_every")

    opt = _make_optimizer(optimizer, policy, lr)
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    ckpt_path = ckpt_dir / CHECKPOINT_NAME if ckpt_dir is not None else None
    if ckpt_dir is not None:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
    signature = _fit_signature(policy, n, batch_size, seed, val_fraction)

    gen = torch.Generator(device=train.observations.device).manual_seed(int(seed))
    result = FitResult(policy)
    step = 0
    pending: list[Tensor] = []

    resume_from: Path | None = None
    if resume is True:
        if ckpt_path is None:
            raise ValueError("fit(): `resume=True` needs `checkpoint_dir`")
        resume_from = ckpt_path if ckpt_path.exists() else None
    elif resume is not False:
        resume_from = Path(resume)
        if not resume_from.exists():
            raise FileNotFoundError(f"fit(): no checkpoint to resume from at {str(resume_from)!r}")
    if resume_from is not None:
        meta = load_checkpoint(resume_from, policy, opt)
        state = meta.get("fit")
        if not isinstance(state, dict):
            raise ValueError(
                f"fit(): {str(resume_from)!r} is not a fit() checkpoint (no training state)"
            )
        if state["signature"] != signature:
            diff = [
                f"{k}: checkpoint {state['signature'].get(k)!r}, now {v!r}"
                for k, v in signature.items()
                if state["signature"].get(k) != v
            ]
            raise ValueError(
                f"fit(): cannot resume from {str(resume_from)!r}: the run differs ("
                + "; ".join(diff)
                + ")\n  hint: resume with the same data, policy, batch_size, seed and "
                "val_fraction, or start fresh with resume=False"
            )
        step = int(state["step"])
        gen.set_state(state["epoch_rng"])
        restore_rng_state(state["rng"])
        pending = list(state["pending"].unbind(0)) if state["pending"].numel() else []
        result.steps = list(state["steps"])
        result.train_loss = list(state["train_loss"])
        result.val_loss = list(state["val_loss"])
        result.resumed_from = step
        result.checkpoint = resume_from
        result.checkpoint_step = step
    epoch_rng = gen.get_state()

    def non_finite(bad_step: int, value: float, applied: bool) -> NonFiniteLossError:
        kept = "" if applied else f" before its update (the policy holds step {bad_step - 1})"
        where = (
            f"the last good checkpoint (step {result.checkpoint_step}) is kept at "
            f"{str(result.checkpoint)!r}"
            if result.checkpoint is not None
            else "no checkpoint was written (pass checkpoint_dir= to keep one)"
        )
        return NonFiniteLossError(
            f"fit(): the training loss became {value} at step {bad_step}; training "
            f"stopped{kept}; {where}\n"
            "  hint: lower the learning rate, set max_grad_norm=, or look for extreme "
            "values in the data",
            step=bad_step,
            last_checkpoint=result.checkpoint,
        )

    def flush(upto: int) -> None:
        # Check the losses of the steps since the last flush; raise on the first bad one.
        if not pending:
            return
        losses = torch.stack(pending)
        finite = torch.isfinite(losses)
        if not bool(finite.all()):
            first = int((~finite).nonzero()[0, 0])
            raise non_finite(upto - len(pending) + first + 1, float(losses[first]), True)

    def save(at: int) -> None:
        assert ckpt_path is not None
        stacked = torch.stack(pending) if pending else torch.zeros(0)
        save_checkpoint(
            ckpt_path,
            policy,
            opt,
            policy_config=policy.config,
            fit={
                "signature": signature,
                "step": at,
                # the batch generator's state at the start of the current epoch
                "epoch_rng": gen.get_state() if at % per_epoch == 0 else epoch_rng,
                "rng": capture_rng_state(),
                "pending": stacked.detach().cpu(),
                "steps": list(result.steps),
                "train_loss": list(result.train_loss),
                "val_loss": list(result.val_loss),
            },
        )
        result.checkpoint = ckpt_path
        result.checkpoint_step = at

    obs_all, act_all = train.observations, train.actions
    loss_fn = policy.loss
    modes = [(m, m.training) for m in policy.modules()]
    policy.train()
    t0 = time.perf_counter()
    check_ctx = enabled(checks) if checks is not None else contextlib.nullcontext()
    # On the CPU, reading the loss each step is cheap: a bad loss stops training before its
    # update. On accelerators that would synchronise every step, so losses are checked at
    # log points and checkpoints (and when a step fails, e.g. on NaN parameters).
    check_each_step = obs_all.device.type == "cpu" and _CHECK_EACH_STEP_ON_CPU
    try:
        with check_ctx, _progress(progress, total, min(step, total)) as bar:
            while step < total:
                # One pass of this loop per epoch. After a mid-epoch resume, `gen` holds
                # the state from the start of that epoch, so this permutation is the same.
                if step % per_epoch == 0:
                    epoch_rng = gen.get_state()
                perm = torch.randperm(n, generator=gen, device=obs_all.device)
                for b in range(step % per_epoch, per_epoch):
                    idx = perm[b * batch_size : (b + 1) * batch_size]
                    loss: Tensor = loss_fn((obs_all[idx], act_all[idx]))
                    if check_each_step and not math.isfinite(loss.item()):
                        raise non_finite(step + 1, loss.item(), False)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()  # type: ignore[no-untyped-call]
                    if max_grad_norm is not None:
                        nn.utils.clip_grad_norm_(policy.parameters(), max_grad_norm)
                    opt.step()
                    pending.append(loss.detach())
                    step += 1
                    if bar is not None:
                        bar.update(1)
                    if step % log_every == 0 or step == total:
                        flush(step)
                        train_loss = float(torch.stack(pending).mean())
                        pending.clear()
                        result.steps.append(step)
                        result.train_loss.append(train_loss)
                        if val is not None:
                            result.val_loss.append(_mean_loss(policy, val))
                        if bar is not None:
                            post = {"loss": f"{train_loss:.4g}"}
                            if val is not None:
                                post["val"] = f"{result.val_loss[-1]:.4g}"
                            bar.set_postfix(post, refresh=False)
                    if ckpt_path is not None and (step % checkpoint_every == 0 or step == total):
                        flush(step)
                        save(step)
                    if step >= total:
                        break
    except (ValueError, RuntimeError) as exc:
        # A step that fails after a non-finite loss (NaN parameters) reports the loss.
        try:
            flush(step)
        except NonFiniteLossError as nan_error:
            raise nan_error from exc
        raise
    finally:
        for m, flag in modes:  # each submodule's own flag, as evaluating() does
            m.training = flag
    result.total_steps = step
    result.seconds = time.perf_counter() - t0
    return result


def plot_losses(
    result: FitResult, path: str | os.PathLike[str], *, title: str | None = None
) -> Path:
    """Save the training (and validation) loss curves of ``result`` as a PNG; returns the
    path. Uses matplotlib without touching pyplot's global state.

    Examples:
        >>> from shapesafe.bc import GaussianPolicy, cubic_demonstrations, fit, plot_losses
        >>> result = fit(GaussianPolicy(2, 2), cubic_demonstrations(200), epochs=3,
        ...              progress=False)
        >>> plot_losses(result, "losses.png").name  # doctest: +SKIP
        'losses.png'
    """
    _require("matplotlib", "plot_losses()")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not result.steps:
        raise ValueError("plot_losses(): the result has no logged losses to plot")
    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(result.steps, result.train_loss, label="train")
    if result.val_loss:
        ax.plot(result.steps, result.val_loss, label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss ({'NLL' if result.policy.kind == 'gaussian' else 'MSE'})")
    ax.set_title(title or f"{type(result.policy).__name__}: behaviour cloning")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out
