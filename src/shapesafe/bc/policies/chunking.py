"""Action chunking with temporal ensembling (ACT, Zhao et al. 2023).

The policy predicts the next ``chunk`` actions from one observation. At execution it
queries the network at every step and keeps the chunks predicted at the previous
``chunk - 1`` steps: each of them holds a prediction for the current step, made ``a``
steps ago (``a`` = 0 … n - 1, with n = min(steps since reset + 1, chunk)). The action
executed is their weighted average with weights

    w_i = exp(-m * i) / sum_j exp(-m * j),   i = 0 for the OLDEST prediction,

exactly as in the ACT reference code (``exp_weights = np.exp(-k * np.arange(n))`` over
``all_time_actions[:, t]``, whose rows run oldest first). With ``m > 0`` the older
predictions weigh more: the average changes slowly, which is what smooths the motion.
Three details have gone wrong in open-source re-implementations, and are pinned down by
the tests against a plain-Python transcription of ACT's loop:

* the direction of the weights (``i = 0`` is the oldest prediction, not the newest);
* the first steps of an episode, where fewer than ``chunk`` predictions exist: only
  those are averaged (the weights are renormalised over them; nothing is padded);
* episode starts: ``reset(which)`` drops the predictions of those environments only, so
  a new episode never averages in actions meant for the previous one.

``temporal_ensemble=False`` executes each chunk open loop instead: query every ``chunk``
steps, play the actions in order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from shapesafe import check
from shapesafe._config import STATE
from shapesafe._format import add_context, error
from shapesafe.bc._batch import Batch
from shapesafe.bc._data import Demonstrations
from shapesafe.bc._windows import future_windows, with_extras
from shapesafe.bc.policies._stateful import check_envs, need_extra, which_rows
from shapesafe.bc.policies.base import LossOutput
from shapesafe.bc.policies.mlp import FlatPolicy, mlp, positive_int
from shapesafe.errors import UsageError

__all__ = ["ChunkingPolicy"]

#: extras that ``prepare_data`` adds: the next ``chunk`` actions and their mask
CHUNK_KEY, CHUNK_MASK_KEY = "action_chunk", "chunk_mask"


class ChunkingPolicy(FlatPolicy, kind="chunk"):
    """Predicts the next ``chunk`` actions (ACT-style), trained with an L1 loss masked
    past each episode's end; acts with temporal ensembling.

    Args:
        obs_dim: size of a (flat) observation.
        act_dim: size of an action.
        chunk: number of future actions predicted at once.
        hidden: hidden layer sizes of the MLP ``obs -> chunk * act``.
        activation: activation between layers (see :data:`ACTIVATIONS`).
        temporal_ensemble: average the overlapping predictions at execution (ACT's
            temporal ensembling); ``False``: execute each chunk open loop.
        ensemble_decay: ``m`` in the weights ``exp(-m * i)``, ``i = 0`` the oldest
            prediction (ACT uses 0.01). ``0`` averages uniformly; a negative value
            favours the newest predictions.
        goal_dim: size of a goal for goal-conditioned BC (0: none); the network then
            reads ``cat(obs, goal)``.

    Training needs episode ids (a chunk never reaches into the next episode);
    :meth:`prepare_data`, called by ``fit`` and ``evaluate``, adds the chunks.

    Examples:
        >>> import torch
        >>> from shapesafe.bc import ChunkingPolicy
        >>> policy = ChunkingPolicy(obs_dim=3, act_dim=2, chunk=5)
        >>> policy(torch.zeros(4, 3)).shape
        torch.Size([4, 5, 2])
    """

    loss_name = "L1"

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        chunk: int = 10,
        hidden: Sequence[int] = (256, 256),
        activation: str = "relu",
        temporal_ensemble: bool = True,
        ensemble_decay: float = 0.01,
        goal_dim: int = 0,
    ) -> None:
        super().__init__(obs_dim, act_dim, hidden, activation, goal_dim)
        with add_context("ChunkingPolicy"):
            self.chunk = positive_int(chunk, "chunk")
            self.ensemble_decay = _finite(ensemble_decay, "ensemble_decay")
        self.temporal_ensemble = bool(temporal_ensemble)
        self.net = mlp(self.in_dim, self.chunk * self.act_dim, self._hidden, activation)
        self._clear()

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "chunk": self.chunk,
            "temporal_ensemble": self.temporal_ensemble,
            "ensemble_decay": self.ensemble_decay,
        }

    # ----------------------------------------------------------------- the network

    @check
    def forward(
        self, obs: Float[Tensor, "batch obs"], goals: Float[Tensor, "batch goal"] | None = None
    ) -> Float[Tensor, "batch chunk act"]:
        """The predicted chunk: the actions of this step and the ``chunk - 1`` next
        (``goals`` exactly when the policy has a ``goal_dim``)."""
        if STATE.enabled and obs.shape[1] != self.obs_dim:
            raise self._obs_size_error(obs) from None
        out = self._run_net(self._inputs(obs, goals, "forward"), "forward", "obs")
        return out.reshape(obs.shape[0], self.chunk, self.act_dim)

    def _plan(self, obs: Tensor, goals: Tensor | None) -> Tensor:
        # forward(obs) alone without goals: subclasses may override forward(obs)
        plan: Tensor = self(obs) if goals is None else self(obs, goals)
        return plan

    def predict(
        self, obs: Float[Tensor, "batch obs"], goals: Float[Tensor, "batch goal"] | None = None
    ) -> Float[Tensor, "batch act"]:
        """The first action of the predicted chunk (stateless; :meth:`act` ensembles)."""
        if STATE.enabled:
            self.check_obs(obs, "predict")
        return self._plan(obs, self._check_goals(goals, "predict"))[:, 0]

    # ----------------------------------------------------------------- training

    def prepare_data(self, demos: Demonstrations) -> Demonstrations:
        """``demos`` with the next ``chunk`` actions of every row (extras
        ``action_chunk`` (N, chunk, act) and ``chunk_mask`` (N, chunk))."""
        actions, mask = future_windows(demos, self.chunk)
        return with_extras(demos, **{CHUNK_KEY: actions, CHUNK_MASK_KEY: mask})

    def check_batch(self, batch: Batch, method: str = "loss") -> None:
        super().check_batch(batch, method)
        name = f"{type(self).__name__}.{method}"
        n = batch.size
        need_extra(batch, CHUNK_KEY, (n, self.chunk, self.act_dim), name)
        need_extra(batch, CHUNK_MASK_KEY, (n, self.chunk), name)

    @check
    def _masked_l1(
        self,
        pred: Float[Tensor, "batch chunk act"],
        target: Float[Tensor, "batch chunk act"],
        mask: Float[Tensor, "batch chunk"],
    ) -> Float[Tensor, ""]:
        # the mean over the valid (step, action) entries only: padding past an
        # episode's end neither counts nor dilutes the mean
        err = (pred - target).abs().sum(-1) * mask
        return err.sum() / (mask.sum() * self.act_dim).clamp(min=1)

    def compute_loss(self, batch: Batch) -> LossOutput:
        """Mean absolute error over the valid steps of each chunk; metric
        ``first_step_l1``: the same for the current step's action alone."""
        pred = self._plan(batch.observations, self._batch_goals(batch))
        target = batch.extras[CHUNK_KEY]
        mask = batch.extras[CHUNK_MASK_KEY].to(pred.dtype)
        loss = self._masked_l1(pred, target, mask)
        first = (pred[:, 0] - target[:, 0]).abs().mean()
        return LossOutput(loss, {"first_step_l1": first.detach()})

    # ----------------------------------------------------------------- acting

    def _clear(self) -> None:
        # _preds[e, a]: the chunk predicted a steps ago in environment e (a = 0 newest);
        # _count[e]: how many of them belong to the running episode (at most chunk);
        # _step[e]: steps since the episode start (for open-loop execution).
        self._preds: Tensor | None = None
        self._count: Tensor | None = None
        self._step: Tensor | None = None

    def reset(self, which: Any = None) -> None:
        """Forget the predicted chunks: of every environment (``which=None``), or of the
        environments where ``which`` is True (one bool per environment)."""
        if which is None or self._count is None or self._step is None:
            self._clear()  # everything, or nothing was held yet
            return
        rows = which_rows(which, int(self._count.shape[0]), type(self).__name__)
        rows = rows.to(self._count.device)
        self._count[rows] = 0
        self._step[rows] = 0

    def _act_tensor(self, obs: Tensor, goals: Tensor | None, deterministic: bool) -> Tensor:
        plan = self._plan(obs, goals)
        n = int(obs.shape[0])
        if self._preds is None or self._count is None or self._step is None:
            self._preds = torch.zeros_like(plan).unsqueeze(1).repeat(1, self.chunk, 1, 1)
            self._count = torch.zeros(n, dtype=torch.int64, device=obs.device)
            self._step = torch.zeros(n, dtype=torch.int64, device=obs.device)
        check_envs(int(self._count.shape[0]), n, type(self).__name__)
        if self.temporal_ensemble:
            return self._ensemble(plan)
        return self._open_loop(plan)

    def _ensemble(self, plan: Tensor) -> Tensor:
        assert self._preds is not None and self._count is not None
        # age every stored chunk by one step, store the new one at age 0
        self._preds = torch.roll(self._preds, 1, dims=1)
        self._preds[:, 0] = plan
        self._count = (self._count + 1).clamp(max=self.chunk)
        ages = torch.arange(self.chunk, device=plan.device)
        # the chunk predicted `a` steps ago holds this step's action at its index a
        candidates = self._preds[:, ages, ages]  # (envs, age, act)
        valid = ages[None, :] < self._count[:, None]
        # i = 0 for the oldest prediction (age count - 1): ACT's weighting direction
        i = (self._count[:, None] - 1 - ages[None, :]).to(plan.dtype)
        logits = torch.where(valid, -self.ensemble_decay * i, -math.inf)
        weights = torch.softmax(logits, dim=1)  # exp(-m i) / sum_j exp(-m j), stable
        return (weights[..., None] * candidates).sum(1)

    def _open_loop(self, plan: Tensor) -> Tensor:
        assert self._preds is not None and self._step is not None
        pos = self._step % self.chunk
        fresh = pos == 0
        self._preds[fresh, 0] = plan[fresh]
        action = self._preds[torch.arange(plan.shape[0], device=plan.device), 0, pos]
        self._step = self._step + 1
        return action


def _finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise error(UsageError, f"`{name}` must be a finite number, got {value!r}", argument=name)
    return float(value)
