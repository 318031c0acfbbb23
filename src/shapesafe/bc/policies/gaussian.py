"""A Gaussian policy ``π(a|s) = N(f_θ(s), diag(σ²))`` trained by maximum likelihood."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor, nn

from shapesafe import check
from shapesafe._config import STATE
from shapesafe._format import add_context
from shapesafe.bc._batch import Batch
from shapesafe.bc.policies.base import LossOutput
from shapesafe.bc.policies.mlp import FlatPolicy, mlp
from shapesafe.distributions import DiagNormal, Dist
from shapesafe.errors import UsageError

__all__ = ["GaussianPolicy"]

_LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))


def _std_bounds(log_std_bounds: Any, init_log_std: Any) -> tuple[float, float, float]:
    """``(min, max, init)`` of the log-std, checked."""
    try:
        lo, hi = (float(b) for b in log_std_bounds)
        init = float(init_log_std)
    except (TypeError, ValueError):
        raise UsageError(
            f"`log_std_bounds` must be (min, max) and `init_log_std` a number, got "
            f"{log_std_bounds!r} and {init_log_std!r}",
            argument="log_std_bounds",
        ) from None
    if not lo < hi:
        raise UsageError(
            f"`log_std_bounds` must be (min, max) with min < max, got {log_std_bounds!r}",
            argument="log_std_bounds",
            got=repr(log_std_bounds),
        )
    if not lo <= init <= hi:
        raise UsageError(
            f"`init_log_std`={init_log_std} lies outside log_std_bounds=({lo}, {hi})",
            argument="init_log_std",
            got=repr(init_log_std),
        )
    return lo, hi, init


class GaussianPolicy(FlatPolicy, kind="gaussian"):
    """A Gaussian policy ``π(a|s) = N(f_θ(s), diag(σ²))`` with an MLP mean.

    The log-std is either one learned parameter per action dimension (the default), or
    predicted from the observation (``state_dependent_std=True``, a second output head
    of the same MLP). Either way it is clamped to ``log_std_bounds`` so the NLL cannot
    blow up.

    Args:
        obs_dim: size of a (flat) observation.
        act_dim: size of an action.
        hidden: hidden layer sizes of the MLP.
        activation: one of ``relu``, ``tanh``, ``elu``, ``gelu``, ``silu``, ``leaky_relu``.
        state_dependent_std: predict the log-std from the observation.
        init_log_std: initial log-std (``0.0``: σ = 1).
        log_std_bounds: ``(min, max)`` clamp for the log-std.
        goal_dim: size of a goal for a goal-conditioned policy (0: none); the MLP then
            reads ``cat(obs, goal)``.

    Examples:
        >>> import torch
        >>> from shapesafe.bc import GaussianPolicy
        >>> policy = GaussianPolicy(obs_dim=2, act_dim=2, hidden=(32, 32))
        >>> dist = policy(torch.zeros(64, 2))
        >>> tuple(dist.batch_shape), tuple(dist.event_shape)
        ((64,), (2,))
    """

    loss_name = "NLL"

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        hidden: Sequence[int] = (64, 64),
        activation: str = "relu",
        state_dependent_std: bool = False,
        init_log_std: float = 0.0,
        log_std_bounds: Sequence[float] = (-10.0, 2.0),
        goal_dim: int = 0,
    ) -> None:
        super().__init__(obs_dim, act_dim, hidden, activation, goal_dim)
        with add_context("GaussianPolicy"):
            lo, hi, init = _std_bounds(log_std_bounds, init_log_std)
        self.state_dependent_std = bool(state_dependent_std)
        self._init_log_std = init
        self.log_std_min, self.log_std_max = lo, hi
        out = 2 * self.act_dim if self.state_dependent_std else self.act_dim
        self.net = mlp(self.in_dim, out, self._hidden, activation)
        if self.state_dependent_std:
            last = self.net[-1]
            assert isinstance(last, nn.Linear)
            with torch.no_grad():
                last.bias[self.act_dim :].fill_(self._init_log_std)
            self.register_parameter("log_std", None)
        else:
            self.log_std = nn.Parameter(torch.full((self.act_dim,), self._init_log_std))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "state_dependent_std": self.state_dependent_std,
            "init_log_std": self._init_log_std,
            "log_std_bounds": [self.log_std_min, self.log_std_max],
        }

    def _loc_log_std(
        self, obs: Tensor, goals: Tensor | None, function: str = "forward"
    ) -> tuple[Tensor, Tensor]:
        """``loc`` (batch, act) and the clamped log-std: (batch, act), or (act,) when it
        is a learned parameter."""
        x = self._inputs(obs, goals, function)
        out = self._run_net(x, function, "obs" if function == "forward" else "batch")
        if self.state_dependent_std:
            loc, log_std = out[..., : self.act_dim], out[..., self.act_dim :]
        else:
            loc, log_std = out, self.log_std
        return loc, log_std.clamp(self.log_std_min, self.log_std_max)

    @check
    def forward(
        self, obs: Float[Tensor, "batch obs"], goals: Float[Tensor, "batch goal"] | None = None
    ) -> Dist[DiagNormal, "batch", "act"]:
        """The action distribution: batch ``(batch,)``, event ``(act,)`` (``goals``
        required exactly when the policy has a ``goal_dim``)."""
        if STATE.enabled and obs.shape[1] != self.obs_dim:
            raise self._obs_size_error(obs) from None
        loc, log_std = self._loc_log_std(obs, goals)
        return DiagNormal(loc, log_std.exp().expand_as(loc))

    def predict(
        self, obs: Float[Tensor, "batch obs"], goals: Float[Tensor, "batch goal"] | None = None
    ) -> Float[Tensor, "batch act"]:
        """The mean action."""
        if STATE.enabled:
            self.check_obs(obs, "predict")
        # without goals, call forward(obs) alone: subclasses may override forward(obs)
        goals = self._check_goals(goals, "predict")
        dist: DiagNormal = self(obs) if goals is None else self(obs, goals)
        return dist.mean

    def _sample(self, obs: Tensor, goals: Tensor | None) -> Tensor:
        dist: DiagNormal = self(obs) if goals is None else self(obs, goals)
        return dist.sample()

    def std(
        self,
        obs: Float[Tensor, "batch obs"] | None = None,
        goals: Float[Tensor, "batch goal"] | None = None,
    ) -> Tensor:
        """The standard deviation: ``(act,)`` for a learned parameter, or ``(batch, act)``
        for the observations ``obs`` (and ``goals``) when the std is state-dependent."""
        if not self.state_dependent_std:
            return self.log_std.clamp(self.log_std_min, self.log_std_max).exp()
        if obs is None:
            raise UsageError(
                "GaussianPolicy.std(): a state-dependent std needs `obs`",
                function="GaussianPolicy.std",
                argument="obs",
            )
        return self._loc_log_std(obs, goals, "std")[1].exp()

    def diagnostics(self) -> dict[str, float]:
        """``std_<i>`` per action dimension, for a state-independent std."""
        if self.state_dependent_std:
            return {}
        with torch.no_grad():
            return {f"std_{i}": float(s) for i, s in enumerate(self.std().tolist())}

    def compute_loss(self, batch: Batch) -> LossOutput:
        """Mean negative log-likelihood of the actions under the policy:
        ``-self(obs).log_prob(actions).mean()``, computed in closed form (the formula of
        ``torch.distributions.Normal.log_prob``) without building a distribution object
        per step."""
        loc, log_std = self._loc_log_std(batch.observations, self._batch_goals(batch), "loss")
        # log N(a; loc, σ²) = -(a - loc)² / (2σ²) - log σ - log √(2π), summed over act
        var2 = 2 * (2 * log_std).exp()
        log_prob = -((batch.actions - loc) ** 2) / var2 - log_std - _LOG_SQRT_2PI
        return LossOutput(-log_prob.sum(-1).mean())
