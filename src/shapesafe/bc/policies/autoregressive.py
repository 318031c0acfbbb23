"""An autoregressive policy over discretised continuous actions.

Each action dimension is cut into ``bins`` uniform bins between its bounds and predicted
as a categorical, conditioned on the observation and on the dimensions decoded before
it: ``π(a|s) = Π_i π(a_i | s, a_<i)``. A categorical has no trouble with several modes
(two peaks are two high bins), and conditioning on the earlier dimensions ties the
dimensions of one mode together (``a_1`` follows the side ``a_0`` chose), so samples
never mix the left half of one mode with the right half of another.

The cost is linear in the number of action dimensions: one shared MLP scores one
dimension at a time, taking the observation, the earlier dimensions' values (normalised
to ``[-1, 1]``, later ones zeroed) and a one-hot of which dimension it is scoring --
not a joint categorical over ``bins ** act`` outcomes. Training scores every dimension
in one batched pass (teacher forcing); decoding runs the net once per dimension.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from shapesafe import check
from shapesafe._config import STATE
from shapesafe._format import add_context, error
from shapesafe.bc._batch import Batch
from shapesafe.bc._data import Demonstrations
from shapesafe.bc.policies.base import LossOutput
from shapesafe.bc.policies.mlp import FlatPolicy, mlp, positive_int
from shapesafe.errors import UsageError

__all__ = ["AutoregressivePolicy"]


def _bound(value: Any, name: str, act_dim: int) -> Tensor | None:
    """``low``/``high``: ``None``, one number for every dimension, or one per dimension."""
    if value is None:
        return None
    try:
        t = torch.as_tensor(value, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        t = None
    if t is None or t.ndim > 1 or (t.ndim == 1 and len(t) != act_dim) or not t.isfinite().all():
        raise error(
            UsageError,
            f"`{name}` must be a finite number or {act_dim} of them (one per action "
            f"dimension), got {value!r}",
            argument=name,
            expected=f"a number or a list of {act_dim}",
            got=repr(value),
        )
    return t.expand(act_dim).clone()


#: greedy decoding sums each bin with its neighbours from this many bins on (below it a
#: 3-bin window spans most of the range: with 3 bins the middle one would always win)
_WINDOW_FROM = 5


@check
def _smoothed(probs: Float[Tensor, "batch bins"]) -> Float[Tensor, "batch bins"]:
    """Each bin's probability plus its two neighbours' (the probability of the 3-bin
    window centred on it): greedy decoding takes the argmax of this. A plain argmax
    over a wide, noisy mode jumps between nearly equal bins and prefers a narrow spike
    to a broad mode of more mass; at a discontinuity of the expert (where the
    demonstrations mix two actions) that choice flips from step to step and the greedy
    policy stalls (on the Obstacle task: 48-53% success with a plain argmax, 100% with
    the window, same weights). Fewer than ``_WINDOW_FROM`` bins: the probabilities as
    they are."""
    if probs.shape[-1] < _WINDOW_FROM:
        return probs
    padded = F.pad(probs, (1, 1))
    return padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]


def _temperature(value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 < value < float("inf")
    ):
        raise error(
            UsageError,
            f"`temperature` must be a number > 0, got {value!r}",
            argument="temperature",
            expected="a number > 0",
            got=repr(value),
        )
    return float(value)


def _plain(given: Any, bound: Tensor | None) -> float | list[float] | None:
    if bound is None:
        return None
    if isinstance(given, (int, float)):
        return float(given)
    values: list[float] = bound.tolist()
    return values


class AutoregressivePolicy(FlatPolicy, kind="autoregressive"):
    """Discretised actions decoded one dimension at a time.

    Every action dimension ``i`` is cut into ``bins`` equal bins over ``[low_i,
    high_i]``; the loss is the sum over dimensions of the cross-entropy of the
    demonstrated bin given the observation and the earlier dimensions. Demonstrated
    values outside the bounds are **clipped** into the first or last bin.

    Bounds: pass ``low``/``high`` (a number, or one per dimension -- e.g. the
    environment's action-space bounds) to fix them. Without them they are learned from
    the data: ``fit`` (and ``evaluate``) hand the training data to :meth:`prepare_data`,
    which takes the minimum and maximum of the actions; they are buffers, saved in
    checkpoints. A training loop of your own that never calls ``prepare_data`` learns
    them from the first training batch and widens them to any later batch beyond them.

    ``predict`` decodes greedily: the most likely bin of dimension 0, its centre fed to
    dimension 1, and so on; it returns bin centres. "Most likely" is the centre of the
    most probable window of three neighbouring bins (with 5 bins or more), which keeps
    the choice steady on a wide, noisy mode (see ``_smoothed``). ``act()`` (not deterministic)
    samples each dimension's bin in turn; with ``jitter=True`` the returned value is
    drawn uniformly inside the sampled bin instead of its centre (the next dimension is
    still conditioned on the centre, as in training), so sampled actions are continuous.
    ``temperature`` divides the logits when sampling: below 1 it sharpens each
    dimension's distribution towards its likely bins (two equally likely modes stay
    equally likely), trading the expert's spread for reliability; it can be changed
    after training (a plain attribute).

    Args:
        obs_dim: size of a (flat) observation.
        act_dim: size of an action.
        bins: bins per action dimension.
        hidden: hidden layer sizes of the shared MLP.
        activation: one of ``relu``, ``tanh``, ``elu``, ``gelu``, ``silu``, ``leaky_relu``.
        low: lower action bound (a number or one per dimension), or ``None`` to learn it.
        high: upper action bound, or ``None``.
        jitter: sample uniformly within the chosen bin when acting stochastically.
        temperature: divides the logits when sampling (``act()``); 1 samples the
            learned distribution.
        goal_dim: size of a goal for goal-conditioned BC (0: none); every dimension's
            scores then read ``cat(obs, goal)``.

    Examples:
        >>> import torch
        >>> from shapesafe.bc import AutoregressivePolicy
        >>> policy = AutoregressivePolicy(obs_dim=3, act_dim=2, bins=16, low=-1.0, high=1.0)
        >>> policy.predict(torch.zeros(5, 3)).shape
        torch.Size([5, 2])
        >>> policy.bin_logits(torch.zeros(5, 3), torch.zeros(5, 2)).shape
        torch.Size([5, 2, 16])
    """

    loss_name = "cross-entropy"
    act_low: Tensor
    act_high: Tensor
    _dim_onehot: Tensor

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        bins: int = 32,
        hidden: Sequence[int] = (128, 128),
        activation: str = "relu",
        low: float | Sequence[float] | None = None,
        high: float | Sequence[float] | None = None,
        jitter: bool = False,
        temperature: float = 1.0,
        goal_dim: int = 0,
    ) -> None:
        super().__init__(obs_dim, act_dim, hidden, activation, goal_dim)
        with add_context("AutoregressivePolicy"):
            self.bins = positive_int(bins, "bins")
            if self.bins < 2:
                raise error(UsageError, f"`bins` must be at least 2, got {bins}", argument="bins")
            lo, hi = _bound(low, "low", self.act_dim), _bound(high, "high", self.act_dim)
            if (lo is None) != (hi is None):
                raise error(
                    UsageError,
                    "give both `low` and `high` (or neither, to learn them from the data)",
                    argument="low" if lo is None else "high",
                )
            if lo is not None and hi is not None and not bool((lo < hi).all()):
                raise error(
                    UsageError,
                    f"`low` must be below `high` in every dimension, got low={low!r}, "
                    f"high={high!r}",
                    argument="high",
                    got=f"low={low!r}, high={high!r}",
                )
        # plain values for get_config: a number stays a number, anything else a list
        self._low = _plain(low, lo)
        self._high = _plain(high, hi)
        self._fixed_bounds = lo is not None
        self.jitter = bool(jitter)
        with add_context("AutoregressivePolicy"):
            self.temperature = _temperature(temperature)
        # low > high marks "not learned yet" (inf, -inf): the first data sets them
        self.register_buffer("act_low", lo if lo is not None else torch.full((act_dim,), torch.inf))
        self.register_buffer(
            "act_high", hi if hi is not None else torch.full((act_dim,), -torch.inf)
        )
        self.register_buffer("_dim_onehot", torch.eye(self.act_dim), persistent=False)
        # input: observation (and goal), earlier dims' values, which dim is being scored
        self.net = mlp(self.in_dim + 2 * self.act_dim, self.bins, self._hidden, activation)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "bins": self.bins,
            "low": self._low,
            "high": self._high,
            "jitter": self.jitter,
            "temperature": self.temperature,
        }

    # ------------------------------------------------------------- bins

    def bounds(self) -> tuple[Tensor, Tensor]:
        """``(low, high)``, each ``(act,)``: the fixed bounds, the data's, or ``[-1, 1]``
        before any data."""
        unseen = self.act_low > self.act_high
        return torch.where(unseen, -1.0, self.act_low), torch.where(unseen, 1.0, self.act_high)

    def _width(self) -> tuple[Tensor, Tensor]:
        low, high = self.bounds()
        # a constant action dimension has zero width: keep it finite (all in bin 0)
        return low, ((high - low) / self.bins).clamp(min=1e-6)

    @check
    def to_bins(self, actions: Float[Tensor, "batch act"]) -> Int[Tensor, "batch act"]:
        """The bin of each action value (values outside the bounds clipped)."""
        low, width = self._width()
        index = torch.floor((actions - low) / width)
        return index.clamp(0, self.bins - 1).long()

    @check
    def centres(self, index: Int[Tensor, "batch act"]) -> Float[Tensor, "batch act"]:
        """The centre of each bin, in action units."""
        low, width = self._width()
        return low + (index.to(low.dtype) + 0.5) * width

    def _unit(self, index: Tensor) -> Tensor:
        """Bin centres mapped to ``[-1, 1]``: what the net sees of earlier dims."""
        return (index.to(self._dim_onehot.dtype) + 0.5) * (2.0 / self.bins) - 1.0

    # ------------------------------------------------------------- the model

    @check
    def bin_logits(
        self,
        obs: Float[Tensor, "batch obs"],
        actions: Float[Tensor, "batch act"],
        goals: Float[Tensor, "batch goal"] | None = None,
    ) -> Float[Tensor, "batch act bins"]:
        """Teacher-forced logits: for every dimension ``i``, the bin scores given the
        observation (and goal) and the demonstrated (binned) dimensions before ``i``."""
        if STATE.enabled and obs.shape[1] != self.obs_dim:
            raise self._obs_size_error(obs) from None
        context = self._inputs(obs, goals, "bin_logits")
        return self._score_all(context, self._unit(self.to_bins(actions)))

    @check
    def _score_all(
        self, context: Float[Tensor, "batch ctx"], unit: Float[Tensor, "batch act"]
    ) -> Float[Tensor, "batch act bins"]:
        # context: the observation, or cat(obs, goal) for a goal-conditioned policy
        n, a = context.shape[0], self.act_dim
        # row (b, i) sees a_<i: a lower-triangular mask zeroes dims i..act-1
        before = torch.ones(a, a, device=context.device, dtype=context.dtype).tril(-1)
        prev = unit.unsqueeze(1) * before  # (batch, act, act)
        x = torch.cat(
            [
                context.unsqueeze(1).expand(n, a, context.shape[1]),
                prev,
                self._dim_onehot.expand(n, a, a),
            ],
            dim=-1,
        )
        out = self._run_net(x.reshape(n * a, -1), "bin_logits", "obs")
        return out.reshape(n, a, self.bins)

    @check
    def _score_dim(
        self, context: Float[Tensor, "batch ctx"], unit: Float[Tensor, "batch act"], i: int
    ) -> Float[Tensor, "batch bins"]:
        """The bin logits of dimension ``i`` (``unit`` holds the decoded dims < i)."""
        n = context.shape[0]
        prev = unit.clone()
        prev[:, i:] = 0.0
        x = torch.cat([context, prev, self._dim_onehot[i].expand(n, self.act_dim)], dim=-1)
        return self._run_net(x, "predict", "obs")

    def _decode(self, context: Tensor, greedy: bool) -> Tensor:
        n = context.shape[0]
        unit = context.new_zeros(n, self.act_dim)
        index = torch.zeros(n, self.act_dim, dtype=torch.long, device=context.device)
        for i in range(self.act_dim):
            logits = self._score_dim(context, unit, i)
            if greedy:
                index[:, i] = _smoothed(torch.softmax(logits, -1)).argmax(-1)
            else:
                probs = torch.softmax(logits / _temperature(self.temperature), -1)
                index[:, i] = torch.multinomial(probs, 1).squeeze(-1)
            unit[:, i] = self._unit(index[:, i])
        return index

    def forward(self, obs: Float[Tensor, "batch obs"]) -> Float[Tensor, "batch act"]:
        """Same as :meth:`predict`."""
        return self.predict(obs)

    def predict(
        self, obs: Float[Tensor, "batch obs"], goals: Float[Tensor, "batch goal"] | None = None
    ) -> Float[Tensor, "batch act"]:
        """Greedy decoding: dimension by dimension, the centre of the most probable
        3-bin window (with 5 bins or more; else of the most probable bin). ``goals``
        exactly when the policy has a ``goal_dim``."""
        if STATE.enabled:
            self.check_obs(obs, "predict")
        return self.centres(self._decode(self._inputs(obs, goals, "predict"), greedy=True))

    def _sample(self, obs: Tensor, goals: Tensor | None) -> Tensor:
        index = self._decode(self._inputs(obs, goals, "act"), greedy=False)
        if not self.jitter:
            return self.centres(index)
        low, width = self._width()
        return low + (index.to(low.dtype) + torch.rand_like(low.expand_as(index))) * width

    def prepare_data(self, demos: Demonstrations) -> Demonstrations:
        """Learn the bounds from the training actions (``fit`` calls this once, before
        the first step), unless they are fixed or already learned (a trained or loaded
        policy keeps its own)."""
        if not self._fixed_bounds and bool((self.act_low > self.act_high).all()):
            act = demos.actions.to(self.act_low)
            with torch.no_grad():
                self.act_low.copy_(act.amin(0))
                self.act_high.copy_(act.amax(0))
        return demos

    def compute_loss(self, batch: Batch) -> LossOutput:
        """Sum over action dimensions of the cross-entropy of the demonstrated bin (mean
        over the batch); metrics ``bin_accuracy_<i>``: how often the most likely bin of
        dimension ``i`` (given the true earlier dimensions) is the demonstrated one."""
        obs, act = batch.observations, batch.actions
        if self.training and not self._fixed_bounds and torch.is_grad_enabled():
            with torch.no_grad():
                torch.minimum(self.act_low, act.amin(0), out=self.act_low)
                torch.maximum(self.act_high, act.amax(0), out=self.act_high)
        target = self.to_bins(act)
        logits = self.bin_logits(obs, act, self._batch_goals(batch))
        ce = F.cross_entropy(logits.reshape(-1, self.bins), target.reshape(-1), reduction="none")
        loss = ce.reshape(target.shape).sum(-1).mean()
        with torch.no_grad():
            hits = (logits.argmax(-1) == target).float().mean(0)
        metrics = {f"bin_accuracy_{i}": hits[i] for i in range(self.act_dim)}
        return LossOutput(loss, metrics)

    def diagnostics(self) -> dict[str, float]:
        """``low_<i>``/``high_<i>``: the bounds the bins span."""
        low, high = self.bounds()
        out = {f"low_{i}": float(v) for i, v in enumerate(low.tolist())}
        out.update({f"high_{i}": float(v) for i, v in enumerate(high.tolist())})
        return out
