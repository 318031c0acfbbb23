"""Returns over rollouts: discounted (Monte Carlo with bootstrapping at cut-offs),
n-step, and generalized advantage estimation (GAE).

One convention, time-major: every argument is ``(time, *batch)`` -- ``time`` steps of
``*batch`` parallel environments (``(T,)`` for one environment, ``(T, N)`` for N), as
vectorised environments produce them. Per step ``t`` of environment ``i``:

* ``rewards[t]``: the reward of the transition ``s_t -> s_{t+1}``;
* ``next_values[t]``: ``V(s_{t+1})``, the value of the state the transition reached --
  for a truncated step this is the value of the *final* observation (gymnasium's
  ``final_obs``), not of the reset observation a vector env already moved on to;
* ``terminated[t]``: the episode ended at ``s_{t+1}`` for good (no bootstrapping);
* ``truncated[t]``: the episode was cut there (time limit): it bootstraps from
  ``next_values[t]`` but the next row belongs to a new episode, so nothing flows back
  across it.

The last row of the rollout bootstraps from ``next_values[-1]`` (unless terminated).
``next_values`` from a ``(T, N)`` table of ``V(s_t)`` and the value of the state after
the rollout: ``torch.cat([values[1:], last_value[None]])``, then replace the rows of
truncated steps by the final observations' values.
"""

from __future__ import annotations

import torch
from jaxtyping import Float, Shaped
from torch import Tensor

from shapesafe._checker.decorator import check
from shapesafe._format import error
from shapesafe.errors import UsageError
from shapesafe.rl._args import episode_flags, in_unit_interval

__all__ = ["discounted_returns", "gae", "n_step_returns"]


def _ends(terminated: Tensor, truncated: Tensor | None, function: str) -> tuple[Tensor, Tensor]:
    """(terminated, episode ended) as bools."""
    term = episode_flags(terminated, function, "terminated")
    if truncated is None:
        return term, term
    trunc = episode_flags(truncated, function, "truncated")
    return term, term | trunc


@check
def discounted_returns(
    rewards: Float[Tensor, "time *batch"],
    terminated: Shaped[Tensor, "time *batch"],
    truncated: Shaped[Tensor, "time *batch"] | None = None,
    next_values: Float[Tensor, "time *batch"] | None = None,
    gamma: float = 0.99,
) -> Float[Tensor, "time *batch"]:
    """Discounted return of every step (detached), ``G_t = r_t + γ G_{t+1}``, restarted at each
    episode end and bootstrapped from ``next_values`` where the rollout or a truncated
    episode was cut (without ``next_values``: zero there, the Monte Carlo return).

    Examples:
        >>> import torch
        >>> from shapesafe.rl import discounted_returns
        >>> r = torch.tensor([1.0, 1.0, 1.0, 1.0])
        >>> term = torch.tensor([False, True, False, False])   # an episode ends at t=1
        >>> discounted_returns(r, term, gamma=0.5)
        tensor([1.5000, 1.0000, 1.5000, 1.0000])
    """
    g = in_unit_interval(gamma, "discounted_returns", "gamma")
    term, end = _ends(terminated, truncated, "discounted_returns")
    rewards = rewards.detach()
    boot = rewards.new_zeros(()) if next_values is None else next_values.detach() * (~term)
    out = rewards.new_empty(rewards.shape)
    following = boot[-1] if next_values is not None else rewards.new_zeros(rewards.shape[1:])
    for t in range(rewards.shape[0] - 1, -1, -1):
        if t < rewards.shape[0] - 1:
            cut = boot[t] if next_values is not None else rewards.new_zeros(())
            following = torch.where(end[t], cut, following)
        out[t] = rewards[t] + g * following
        following = out[t]
    return out


@check
def n_step_returns(
    rewards: Float[Tensor, "time *batch"],
    next_values: Float[Tensor, "time *batch"],
    terminated: Shaped[Tensor, "time *batch"],
    truncated: Shaped[Tensor, "time *batch"] | None = None,
    gamma: float = 0.99,
    n: int = 3,
) -> Float[Tensor, "time *batch"]:
    """The n-step return of every step (detached): ``Σ_{k<m} γ^k r_{t+k} + γ^m V(s_{t+m})``, where
    ``m ≤ n`` stops early at an episode end (bootstrapping from ``next_values`` of that
    step unless it terminated) and at the end of the rollout. ``n=1`` is the TD target.

    Examples:
        >>> import torch
        >>> from shapesafe.rl import n_step_returns
        >>> r = torch.tensor([1.0, 1.0, 1.0])
        >>> v = torch.tensor([10.0, 10.0, 10.0])
        >>> n_step_returns(r, v, torch.tensor([False, False, False]), gamma=0.5, n=2)
        tensor([4., 4., 6.])
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise error(
            UsageError,
            f"must be a positive int, got {n!r}",
            function="n_step_returns",
            argument="n",
            expected="a positive int",
            got=repr(n),
        )
    g = in_unit_interval(gamma, "n_step_returns", "gamma")
    term, end = _ends(terminated, truncated, "n_step_returns")
    rewards = rewards.detach()
    boot = next_values.detach() * (~term)
    steps = rewards.shape[0]
    out = rewards.new_zeros(rewards.shape)
    alive = end.new_ones(rewards.shape)  # rows still accumulating rewards
    for k in range(min(n, steps)):
        # row t reads step t + k; rows with t + k past the rollout have stopped already
        span = steps - k
        r_k, b_k, end_k = rewards[k:], boot[k:], end[k:]
        live = alive[:span]
        out[:span] += r_k * (g**k) * live
        # a row stops at an episode end, after n rewards, or at the rollout's last step
        stop = live.clone() if k == n - 1 else live & end_k
        stop[-1] = live[-1]
        out[:span] += b_k * (g ** (k + 1)) * stop
        alive[:span] = live & ~stop
    return out


@check
def gae(
    rewards: Float[Tensor, "time *batch"],
    values: Float[Tensor, "time *batch"],
    next_values: Float[Tensor, "time *batch"],
    terminated: Shaped[Tensor, "time *batch"],
    truncated: Shaped[Tensor, "time *batch"] | None = None,
    gamma: float = 0.99,
    lam: float = 0.95,
) -> Float[Tensor, "time *batch"]:
    """Generalized advantage estimates (Schulman et al. 2016), detached.

    ``δ_t = r_t + γ V(s_{t+1}) (1 - terminated_t) - V(s_t)`` and
    ``A_t = δ_t + γ λ (1 - ended_t) A_{t+1}``, where ``ended = terminated | truncated``:
    a truncated step still bootstraps in ``δ`` but no advantage flows back across it.
    The value targets of PPO are ``advantages + values``.

    Examples:
        >>> import torch
        >>> from shapesafe.rl import gae
        >>> r, v, nv = torch.ones(3), torch.zeros(3), torch.zeros(3)
        >>> gae(r, v, nv, torch.tensor([False, False, True]), gamma=1.0, lam=0.5)
        tensor([1.7500, 1.5000, 1.0000])
    """
    g = in_unit_interval(gamma, "gae", "gamma")
    lam_ = in_unit_interval(lam, "gae", "lam")
    term, end = _ends(terminated, truncated, "gae")
    delta = (rewards + g * next_values * (~term) - values).detach()
    carry = (~end).to(delta.dtype) * (g * lam_)
    out = delta.new_empty(delta.shape)
    running = delta.new_zeros(delta.shape[1:])
    for t in range(delta.shape[0] - 1, -1, -1):
        running = delta[t] + carry[t] * running
        out[t] = running
    return out
