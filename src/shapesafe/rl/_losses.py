"""Policy-gradient losses: PPO's clipped surrogate and the (optionally clipped) value
loss.

Both are means over a flat minibatch, so their inputs are ``(batch,)``: one number per
sample, all of the same length (flatten ``(time, envs)`` rollouts first, as PPO's
minibatching does). The bug these signatures exist to stop: a per-coordinate log-probability
``(B, A)`` (``Normal(...).log_prob(actions)`` without ``.sum(-1)``) against ``(B,)``
advantages, or ``(B, 1)`` values against ``(B,)`` returns -- both broadcast in plain
torch and train on a ``(B, B)`` or ``(B, A)`` mess without a word.
"""

from __future__ import annotations

from jaxtyping import Float
from torch import Tensor

from shapesafe._checker.decorator import check
from shapesafe._format import error
from shapesafe.errors import UsageError
from shapesafe.rl._args import nonnegative

__all__ = ["clipped_surrogate_loss", "value_loss"]


@check
def clipped_surrogate_loss(
    log_prob: Float[Tensor, "batch"],
    old_log_prob: Float[Tensor, "batch"],
    advantages: Float[Tensor, "batch"],
    clip: float = 0.2,
) -> Float[Tensor, ""]:
    """PPO's clipped surrogate objective, as a loss to minimise:
    ``-mean(min(ρ A, clip(ρ, 1-ε, 1+ε) A))`` with ``ρ = exp(log_prob - old_log_prob)``.

    ``log_prob`` is of the whole action (sum per-coordinate log-probs over the action
    axis first); ``old_log_prob`` and ``advantages`` are treated as constants.

    Examples:
        >>> import torch
        >>> from shapesafe.rl import clipped_surrogate_loss
        >>> lp = torch.log(torch.tensor([1.5, 0.5]))
        >>> clipped_surrogate_loss(lp, torch.zeros(2), torch.tensor([1.0, 1.0]), clip=0.2)
        tensor(-0.8500)
    """
    eps = nonnegative(clip, "clipped_surrogate_loss", "clip")
    ratio = (log_prob - old_log_prob.detach()).exp()
    adv = advantages.detach()
    unclipped = ratio * adv
    clipped = ratio.clamp(1 - eps, 1 + eps) * adv
    return -unclipped.minimum(clipped).mean()


@check
def value_loss(
    values: Float[Tensor, "batch"],
    returns: Float[Tensor, "batch"],
    old_values: Float[Tensor, "batch"] | None = None,
    clip: float | None = None,
) -> Float[Tensor, ""]:
    """``0.5 · mean((V - R)²)``; with ``old_values`` and ``clip``, PPO's clipped form
    ``0.5 · mean(max((V - R)², (V_old + clip(V - V_old, ±ε) - R)²))``.

    Examples:
        >>> import torch
        >>> from shapesafe.rl import value_loss
        >>> value_loss(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0]))
        tensor(2.5000)
    """
    target = returns.detach()
    plain = (values - target) ** 2
    if clip is None:
        return 0.5 * plain.mean()
    eps = nonnegative(clip, "value_loss", "clip")
    if old_values is None:
        raise error(
            UsageError,
            "a clipped value loss needs the values before the update",
            function="value_loss",
            argument="old_values",
            expected="a tensor like `values`",
            got="None",
            hint="pass old_values=the values stored with the rollout, or clip=None",
        )
    old = old_values.detach()
    clipped = old + (values - old).clamp(-eps, eps)
    return 0.5 * plain.maximum((clipped - target) ** 2).mean()
