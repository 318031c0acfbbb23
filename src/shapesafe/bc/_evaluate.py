"""Held-out metrics and loss curves, both taken from the policy itself: its loss and
metrics (``compute_loss``), an action error that follows from its action spec (RMS
error for continuous actions, accuracy for discrete ones), its ``diagnostics()`` and
the name of its loss (``loss_name``) -- never from a list of known policy kinds."""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from shapesafe import evaluating
from shapesafe._format import add_context
from shapesafe.bc._batch import Batch
from shapesafe.bc._compat import check_compatible
from shapesafe.bc._data import Demonstrations
from shapesafe.bc.policies.base import Policy
from shapesafe.errors import DataError, UsageError

if TYPE_CHECKING:
    from shapesafe.bc._fit import FitResult

__all__ = ["evaluate", "mean_metrics", "on_device_of", "plot_losses", "require"]

_CHUNK = 8192


def require(package: str, what: str) -> None:
    """Import-check an optional dependency of the ``bc`` extra, with an actionable message."""
    if importlib.util.find_spec(package) is None:
        raise ImportError(
            f"{what} needs {package}, which is not installed: "
            f"pip install 'shapesafe[bc]' (or pip install {package})"
        )


def on_device_of(policy: Policy, demos: Demonstrations) -> Demonstrations:
    """``demos`` on the policy's device, float fields in the policy's float dtype."""
    param = next(policy.parameters(), None)
    if param is None:
        return demos

    def conv(t: Tensor) -> Tensor:
        dtype = param.dtype if t.is_floating_point() and param.is_floating_point() else t.dtype
        return t.to(device=param.device, dtype=dtype)

    obs, act = demos.observations, demos.actions
    if all(conv(t) is t for t in (obs, act)):
        return demos
    return Demonstrations._from_validated(
        conv(obs),
        conv(act),
        demos.episode_ids,
        None if demos.goals is None else conv(demos.goals),
        {k: conv(v) for k, v in demos.extras.items()},
    )


def _chunks(demos: Demonstrations) -> Iterator[Batch]:
    for start in range(0, len(demos), _CHUNK):
        yield demos.batch_at(torch.arange(start, min(start + _CHUNK, len(demos))))


@torch.no_grad()
def mean_metrics(policy: Policy, demos: Demonstrations, *, errors: bool = True) -> dict[str, float]:
    """Row-weighted means over ``demos`` of the loss, the policy's metrics and (with
    ``errors``) the action error, in eval mode."""
    sums: dict[str, float] = {}
    with evaluating(policy):
        for batch in _chunks(demos):
            out = policy.compute_loss(batch)
            values = {"loss": out.loss, **out.metrics}
            if errors:
                values.update(_action_error(policy, batch))
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + float(v) * batch.size
    means = {k: v / len(demos) for k, v in sums.items()}
    if "_sq_error" in means:
        means["mean_error"] = math.sqrt(means.pop("_sq_error"))
    return means


def _action_error(policy: Policy, batch: Batch) -> dict[str, Tensor]:
    pred = policy.predict_batch(batch)
    if policy.act_spec.discrete is not None:
        return {"accuracy": (pred == batch.actions).float().mean()}
    return {"_sq_error": ((pred - batch.actions) ** 2).mean()}


def evaluate(policy: Policy, demos: Demonstrations) -> dict[str, float]:
    """Held-out metrics of ``policy`` on ``demos`` (eval mode, no grad).

    Returns ``loss`` (the policy's own loss, e.g. NLL or MSE), the metrics its
    ``compute_loss`` reports, ``mean_error`` (RMS distance between the predicted and the
    demonstrated action) for continuous actions or ``accuracy`` for discrete ones, and
    the policy's ``diagnostics()`` (e.g. ``std_<i>`` of a Gaussian policy).

    Examples:
        >>> from shapesafe.bc import DeterministicPolicy, cubic_demonstrations, evaluate
        >>> sorted(evaluate(DeterministicPolicy(2, 2), cubic_demonstrations(100)))
        ['loss', 'mean_error']
    """
    if not isinstance(policy, Policy):
        raise UsageError(
            f"evaluate(): `policy` must be a shapesafe.bc.Policy, got {type(policy).__name__}",
            function="evaluate",
            argument="policy",
        )
    if not isinstance(demos, Demonstrations):
        raise DataError(
            f"evaluate(): `demos` must be a Demonstrations, got {type(demos).__name__}",
            function="evaluate",
            argument="demos",
        )
    check_compatible(policy, demos, "evaluate")
    with add_context("evaluate"):
        prepared = policy.prepare_data(demos)
    return {**mean_metrics(policy, on_device_of(policy, prepared)), **policy.diagnostics()}


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
    require("matplotlib", "plot_losses()")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not getattr(result, "steps", None):
        raise UsageError(
            "plot_losses(): the result has no logged losses to plot",
            function="plot_losses",
            argument="result",
        )
    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(result.steps, result.train_loss, label="train")
    if result.val_loss:
        ax.plot(result.steps, result.val_loss, label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss ({result.policy.loss_name})")
    ax.set_title(title or f"{type(result.policy).__name__}: behaviour cloning")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out
