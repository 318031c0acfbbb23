"""A recurrent (GRU) policy for experts that act on history.

Trained on the past ``seq_len`` steps of every row (windows that never cross an episode
start, see :func:`~shapesafe.bc.history_windows`); at execution the hidden state is
carried from one ``act`` call to the next and zeroed by ``reset(which)`` at episode
starts.

Training starts each window from a zero hidden state at its first *valid* step. Windows
near an episode start are padded in front; the padded steps are moved behind the valid
ones before the GRU runs (a per-row rotation), so the GRU reads an episode's first
observation from a zero state, exactly as ``act`` does after ``reset()``, and the padding
never touches a prediction that counts. Windows further into an episode start from zero
mid-episode: the policy learns to act from at most ``seq_len`` steps of context (pick
``seq_len`` longer than the history the expert needs).

The head is deterministic (an MLP on the GRU's output and the current observation,
trained with mean squared error over the valid steps of each window): history policies
target experts that are non-Markov, not multimodal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float
from torch import Tensor, nn

from shapesafe import check
from shapesafe._config import STATE
from shapesafe._format import add_context, error, fmt_shape, fmt_value
from shapesafe.bc._batch import Batch
from shapesafe.bc._data import Demonstrations
from shapesafe.bc._windows import past_windows, with_extras
from shapesafe.bc.policies._stateful import check_envs, need_extra, which_rows
from shapesafe.bc.policies.base import LossOutput
from shapesafe.bc.policies.mlp import FlatPolicy, mlp, positive_int
from shapesafe.errors import ShapeError

__all__ = ["RecurrentPolicy"]

#: extras that ``prepare_data`` adds: the past ``seq_len`` observations and actions
OBS_SEQ_KEY, ACT_SEQ_KEY, SEQ_MASK_KEY = "obs_seq", "act_seq", "seq_mask"


class RecurrentPolicy(FlatPolicy, kind="gru"):
    """A GRU over the observations of an episode, with an MLP head from its output
    (and the current observation) to the action.

    Args:
        obs_dim: size of a (flat) observation.
        act_dim: size of an action.
        seq_len: length of the training windows (steps of context).
        hidden_size: size of the GRU's hidden state.
        num_layers: stacked GRU layers.
        hidden: hidden layer sizes of the head ``GRU output -> action``.
        activation: activation of the head.

    Examples:
        >>> import torch
        >>> from shapesafe.bc import RecurrentPolicy
        >>> policy = RecurrentPolicy(obs_dim=3, act_dim=2, hidden_size=16)
        >>> actions, state = policy(torch.zeros(4, 10, 3))
        >>> actions.shape, state.shape
        (torch.Size([4, 10, 2]), torch.Size([1, 4, 16]))
    """

    loss_name = "MSE"

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        seq_len: int = 16,
        hidden_size: int = 64,
        num_layers: int = 1,
        hidden: Sequence[int] = (64,),
        activation: str = "relu",
    ) -> None:
        super().__init__(obs_dim, act_dim, hidden, activation)
        with add_context("RecurrentPolicy"):
            self.seq_len = positive_int(seq_len, "seq_len")
            self.hidden_size = positive_int(hidden_size, "hidden_size")
            self.num_layers = positive_int(num_layers, "num_layers")
        self.gru = nn.GRU(self.obs_dim, self.hidden_size, self.num_layers, batch_first=True)
        # the head reads the GRU's output and the current observation: the recurrent
        # state then only has to carry what the observation lacks (a velocity, say)
        self.net = mlp(self.hidden_size + self.obs_dim, self.act_dim, self._hidden, activation)
        self._state: Tensor | None = None  # (layers, envs, hidden_size) while acting

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "seq_len": self.seq_len,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
        }

    # ----------------------------------------------------------------- the network

    @check
    def forward(
        self,
        obs: Float[Tensor, "batch time obs"],
        state: Float[Tensor, "layers batch hidden"] | None = None,
    ) -> tuple[Float[Tensor, "batch time act"], Float[Tensor, "layers batch hidden"]]:
        """Actions for every step of the sequences ``obs`` (oldest first), from the
        hidden ``state`` (zero when ``None``: an episode start), and the final state."""
        if STATE.enabled and obs.shape[2] != self.obs_dim:
            raise self._seq_error(obs, "forward")
        out, final = self.gru(obs, state)
        actions: Tensor = self.net(torch.cat([out, obs], dim=-1))
        return actions, final

    def predict(
        self, obs: Float[Tensor, "batch time obs"], goals: Tensor | None = None
    ) -> Float[Tensor, "batch act"]:
        """The action after reading each sequence ``obs`` (batch, time, obs) from an
        episode start (:meth:`act` carries the state between calls instead)."""
        if STATE.enabled and (
            not isinstance(obs, Tensor) or obs.ndim != 3 or obs.shape[2] != self.obs_dim
        ):
            raise self._seq_error(obs, "predict")
        actions, _ = self(obs)
        last: Tensor = actions[:, -1]
        return last

    def _seq_error(self, obs: Any, method: str) -> ShapeError:
        got = tuple(obs.shape) if isinstance(obs, Tensor) else fmt_value(obs)
        want = ("batch", "time", self.obs_dim)
        return error(
            ShapeError,
            f"expected observation sequences {fmt_shape(want)}, got {got}",
            function=f"{type(self).__name__}.{method}",
            argument="obs",
            expected=fmt_shape(want),
            got=str(got),
            hint="act() carries the hidden state itself; predict() takes whole sequences",
        )

    # ----------------------------------------------------------------- training

    def prepare_data(self, demos: Demonstrations) -> Demonstrations:
        """``demos`` with the past ``seq_len`` observations and actions of every row
        (extras ``obs_seq``, ``act_seq`` and their mask ``seq_mask`` (N, seq_len))."""
        obs, mask = past_windows(demos, self.seq_len)
        act, _ = past_windows(demos, self.seq_len, demos.actions)
        return with_extras(demos, **{OBS_SEQ_KEY: obs, ACT_SEQ_KEY: act, SEQ_MASK_KEY: mask})

    def check_batch(self, batch: Batch, method: str = "loss") -> None:
        super().check_batch(batch, method)
        name = f"{type(self).__name__}.{method}"
        n, L = batch.size, self.seq_len
        need_extra(batch, OBS_SEQ_KEY, (n, L, self.obs_dim), name)
        need_extra(batch, ACT_SEQ_KEY, (n, L, self.act_dim), name)
        need_extra(batch, SEQ_MASK_KEY, (n, L), name)

    @check
    def _left_align(
        self, values: Float[Tensor, "batch time ..."], mask: Bool[Tensor, "batch time"]
    ) -> Float[Tensor, "batch time ..."]:
        # rotate each row left by its number of padded steps: the valid steps first
        # (in order), the padding after them, where a causal GRU cannot see it
        time = mask.shape[1]
        pad = time - mask.sum(1)
        idx = (torch.arange(time, device=mask.device)[None, :] + pad[:, None]) % time
        idx = idx.view(*idx.shape, *([1] * (values.ndim - 2))).expand_as(values)
        return values.gather(1, idx)

    def _aligned(self, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
        """Predicted and demonstrated actions (batch, time, act), valid steps first,
        and the (batch, time) float mask of the valid steps."""
        mask = batch.extras[SEQ_MASK_KEY]
        obs = self._left_align(batch.extras[OBS_SEQ_KEY], mask)
        target = self._left_align(batch.extras[ACT_SEQ_KEY], mask)
        pred, _ = self(obs)
        valid = self._left_align(mask[..., None].to(pred.dtype), mask)[..., 0]
        return pred, target, valid

    def compute_loss(self, batch: Batch) -> LossOutput:
        """Mean squared error over the valid steps of each window; metric
        ``last_step_mse``: the same for each row's own step (the last of its window)."""
        pred, target, valid = self._aligned(batch)
        sq = ((pred - target) ** 2).mean(-1)
        loss = (sq * valid).sum() / valid.sum()
        last = (valid.sum(1) - 1).long()
        rows = torch.arange(pred.shape[0], device=pred.device)
        last_mse = F.mse_loss(pred[rows, last], target[rows, last])
        return LossOutput(loss, {"last_step_mse": last_mse.detach()})

    def predict_batch(self, batch: Batch) -> Tensor:
        """The action of each row's own step, predicted from its window."""
        pred, _, valid = self._aligned(batch)
        last = (valid.sum(1) - 1).long()
        return pred[torch.arange(pred.shape[0], device=pred.device), last]

    # ----------------------------------------------------------------- acting

    def reset(self, which: Any = None) -> None:
        """Zero the hidden state: of every environment (``which=None``), or of those
        where ``which`` is True."""
        if which is None or self._state is None:
            self._state = None
            return
        rows = which_rows(which, int(self._state.shape[1]), type(self).__name__)
        self._state[:, rows.to(self._state.device)] = 0.0

    def _act_tensor(self, obs: Tensor, goals: Tensor | None, deterministic: bool) -> Tensor:
        if self._state is not None:
            check_envs(int(self._state.shape[1]), int(obs.shape[0]), type(self).__name__)
        if STATE.enabled:
            self.check_obs(obs, "act")
        actions, self._state = self(obs.unsqueeze(1), self._state)
        step: Tensor = actions[:, 0]
        return step
