"""A deterministic policy ``a = f_θ(s)`` trained with mean squared error."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

from shapesafe import check
from shapesafe._config import STATE
from shapesafe.bc._batch import Batch
from shapesafe.bc.policies.base import LossOutput
from shapesafe.bc.policies.mlp import FlatPolicy, mlp

__all__ = ["DeterministicPolicy"]


class DeterministicPolicy(FlatPolicy, kind="deterministic"):
    """A deterministic MLP policy ``a = f_θ(s)`` trained with mean squared error.

    Examples:
        >>> import torch
        >>> from shapesafe.bc import DeterministicPolicy
        >>> DeterministicPolicy(obs_dim=3, act_dim=2)(torch.zeros(5, 3)).shape
        torch.Size([5, 2])
    """

    loss_name = "MSE"

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        hidden: Sequence[int] = (64, 64),
        activation: str = "relu",
        goal_dim: int = 0,
    ) -> None:
        super().__init__(obs_dim, act_dim, hidden, activation, goal_dim)
        self.net = mlp(self.in_dim, self.act_dim, self._hidden, activation)

    @check
    def forward(
        self, obs: Float[Tensor, "batch obs"], goals: Float[Tensor, "batch goal"] | None = None
    ) -> Float[Tensor, "batch act"]:
        """The actions (``goals`` required exactly when the policy has a ``goal_dim``)."""
        if STATE.enabled and obs.shape[1] != self.obs_dim:
            raise self._obs_size_error(obs) from None
        return self._run_net(self._inputs(obs, goals, "forward"), "forward", "obs")

    def predict(
        self, obs: Float[Tensor, "batch obs"], goals: Float[Tensor, "batch goal"] | None = None
    ) -> Float[Tensor, "batch act"]:
        """The actions (same as calling the policy)."""
        if STATE.enabled:
            self.check_obs(obs, "predict")
        # without goals, call forward(obs) alone: subclasses may override forward(obs)
        goals = self._check_goals(goals, "predict")
        out: Tensor = self(obs) if goals is None else self(obs, goals)
        return out

    def compute_loss(self, batch: Batch) -> LossOutput:
        """Mean squared error between predicted and demonstrated actions."""
        obs, goals = batch.observations, self._batch_goals(batch)
        pred = self(obs) if goals is None else self(obs, goals)
        return LossOutput(F.mse_loss(pred, batch.actions))
