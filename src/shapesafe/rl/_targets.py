"""Bootstrapped targets for value learning: TD, double-DQN, SAC's soft twin-Q target,
and ``q_select`` (the Q-value of the action taken).

The trap every one of these guards against is the same: a ``(B, 1)`` network output
meeting ``(B,)`` rewards, which broadcasts to ``(B, B)`` and trains on garbage without an
error. Every argument here shares one ``*batch`` shape, exactly -- no broadcasting -- so
that mix-up is refused at the call with the argument's name.

Termination vs truncation: a target bootstraps from the next state's value unless the
episode *terminated* there (the MDP ended: there is no future to value). An episode that
was *truncated* (a time limit) still has a future, so it bootstraps too. These functions
therefore take ``terminated``, not ``dones = terminated | truncated`` -- passing the
latter silently zeroes the value of every time-limited state (a bias that gymnasium's
split of the two flags exists to remove). Targets are constants for the loss that uses
them: the result is detached.
"""

from __future__ import annotations

from jaxtyping import Float, Int, Shaped
from torch import Tensor

from shapesafe._checker.decorator import check
from shapesafe.ops import take_along
from shapesafe.rl._args import coefficient, episode_flags, in_unit_interval

__all__ = ["double_dqn_target", "q_select", "soft_q_target", "td_target"]


@check
def q_select(
    q: Float[Tensor, "*batch actions"], actions: Int[Tensor, "*batch"]
) -> Float[Tensor, "*batch"]:
    """The Q-value of the action taken in each row: ``q[b, actions[b]]``.

    ``actions`` must have exactly ``q``'s batch shape -- the ``(B, 1)`` actions that
    replay buffers hand out are refused with a hint, instead of gathering a ``(B, 1)``
    column that then broadcasts against ``(B,)`` targets.

    Examples:
        >>> import torch
        >>> from shapesafe.rl import q_select
        >>> q_select(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([1, 0]))
        tensor([2., 3.])
    """
    return take_along(q, actions, dim=-1)


@check
def td_target(
    rewards: Float[Tensor, "*batch"],
    next_values: Float[Tensor, "*batch"],
    terminated: Shaped[Tensor, "*batch"],
    gamma: float = 0.99,
) -> Float[Tensor, "*batch"]:
    """The one-step TD target ``r + γ · V(s') · (1 - terminated)``, detached.

    Args:
        rewards: reward of each transition.
        next_values: value (or max Q) of the next state, same shape as ``rewards``.
        terminated: True where the episode *terminated* (not where it was only
            truncated by a time limit: those states still bootstrap). Bools, or 0/1
            numbers as replay buffers store them.
        gamma: discount factor in [0, 1].

    Examples:
        >>> import torch
        >>> from shapesafe.rl import td_target
        >>> td_target(torch.tensor([1.0, 1.0]), torch.tensor([10.0, 10.0]),
        ...           torch.tensor([False, True]), gamma=0.9)
        tensor([10.,  1.])
    """
    g = in_unit_interval(gamma, "td_target", "gamma")
    done = episode_flags(terminated, "td_target", "terminated")
    return (rewards + g * next_values * (~done)).detach()


@check
def double_dqn_target(
    rewards: Float[Tensor, "*batch"],
    next_q_online: Float[Tensor, "*batch actions"],
    next_q_target: Float[Tensor, "*batch actions"],
    terminated: Shaped[Tensor, "*batch"],
    gamma: float = 0.99,
) -> Float[Tensor, "*batch"]:
    """Double-DQN target: the online network picks the next action, the target network
    values it -- ``r + γ · Q_target(s', argmax_a Q_online(s', a)) · (1 - terminated)``,
    detached. This removes the max operator's overestimation (van Hasselt et al. 2016).

    Examples:
        >>> import torch
        >>> from shapesafe.rl import double_dqn_target
        >>> online = torch.tensor([[0.0, 1.0]])   # picks action 1
        >>> target = torch.tensor([[5.0, 2.0]])   # values it at 2
        >>> double_dqn_target(torch.tensor([1.0]), online, target, torch.tensor([False]), 0.5)
        tensor([2.])
    """
    g = in_unit_interval(gamma, "double_dqn_target", "gamma")
    done = episode_flags(terminated, "double_dqn_target", "terminated")
    best = next_q_online.argmax(dim=-1)
    value = take_along(next_q_target, best, dim=-1)
    return (rewards + g * value * (~done)).detach()


@check
def soft_q_target(
    rewards: Float[Tensor, "*batch"],
    next_q1: Float[Tensor, "*batch"],
    next_q2: Float[Tensor, "*batch"],
    next_log_prob: Float[Tensor, "*batch"],
    terminated: Shaped[Tensor, "*batch"],
    gamma: float = 0.99,
    alpha: float | Float[Tensor, ""] = 0.2,
) -> Float[Tensor, "*batch"]:
    """SAC's soft twin-Q target, detached:
    ``r + γ · (1 - terminated) · (min(Q1', Q2') - α · log π(a'|s'))``.

    ``next_log_prob`` is the log-probability of the *whole* next action, one number per
    row: a per-coordinate ``(batch, act)`` log-prob must be summed over its last axis
    first (``.sum(-1)``), which the shape check enforces. ``alpha`` may be a number or a
    0-d tensor (a learned temperature, e.g. ``log_alpha.exp()``).

    Examples:
        >>> import torch
        >>> from shapesafe.rl import soft_q_target
        >>> soft_q_target(torch.tensor([0.0]), torch.tensor([3.0]), torch.tensor([2.0]),
        ...               torch.tensor([-1.0]), torch.tensor([False]), gamma=1.0, alpha=0.5)
        tensor([2.5000])
    """
    g = in_unit_interval(gamma, "soft_q_target", "gamma")
    a = coefficient(alpha, "soft_q_target", "alpha")
    done = episode_flags(terminated, "soft_q_target", "terminated")
    soft_value = next_q1.minimum(next_q2) - a * next_log_prob
    return (rewards + g * (~done) * soft_value).detach()
