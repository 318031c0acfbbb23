"""A categorical policy for discrete actions (gymnasium ``Discrete``), with action masks.

Many discrete tasks forbid some actions in some states (a wall, an empty slot, an
illegal move). A mask of legal actions, ``(batch, n)`` booleans, sets the logits of
the illegal ones to ``-inf`` before the softmax: their probability is exactly zero, so
they are never sampled, never predicted, and carry no gradient. Masks reach the loss
through the batch, as the extra field ``"action_mask"`` (``CategoricalPolicy.mask_key``), and
reach acting through ``act(obs, action_mask=...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int
from torch import Tensor

from shapesafe import check, evaluating
from shapesafe._config import STATE
from shapesafe._format import add_context, error, fmt_shape
from shapesafe.bc._batch import Batch
from shapesafe.bc._data import Demonstrations
from shapesafe.bc.policies.base import ActSpec, LossOutput, ObsSpec, Policy
from shapesafe.bc.policies.mlp import FlatPolicy, mlp, positive_int
from shapesafe.distributions import Categorical, Dist
from shapesafe.errors import DataError, DtypeError, ShapeError, UsageError

__all__ = ["CategoricalPolicy"]

#: the name of the legal-action mask in ``Demonstrations(extras=...)`` and ``batch.extras``
ACTION_MASK = "action_mask"


class CategoricalPolicy(FlatPolicy, kind="categorical"):
    """A policy over ``n_actions`` discrete actions: an MLP gives the logits, the loss is
    the cross-entropy of the demonstrated actions, ``predict`` takes the most likely
    legal action and ``act()`` samples one.

    Action masks: demonstrations may carry ``extras={"action_mask": mask}`` with
    ``mask`` of shape ``(N, n_actions)`` (booleans or 0/1; ``True`` = legal). The loss
    then normalises over the legal actions only, and a demonstrated action that its own
    mask forbids is an error. When acting, pass the environment's mask:
    ``policy.act(obs, action_mask=mask)`` (``(n_actions,)`` for one observation,
    ``(batch, n_actions)`` for a batch). A row with no legal action is an error.

    Args:
        obs_dim: size of a (flat) observation.
        n_actions: number of discrete actions (gymnasium ``Discrete(n).n``).
        hidden: hidden layer sizes of the MLP.
        activation: one of ``relu``, ``tanh``, ``elu``, ``gelu``, ``silu``, ``leaky_relu``.

    Examples:
        >>> import numpy as np
        >>> from shapesafe.bc import CategoricalPolicy
        >>> policy = CategoricalPolicy(obs_dim=4, n_actions=3)
        >>> int(policy.act(np.zeros(4), action_mask=np.array([False, True, False])))
        1
    """

    loss_name = "cross-entropy"
    #: the name of the legal-action mask in ``Demonstrations(extras=...)``/``batch.extras``
    mask_key: ClassVar[str] = ACTION_MASK

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        *,
        hidden: Sequence[int] = (64, 64),
        activation: str = "relu",
        goal_dim: int = 0,
    ) -> None:
        with add_context("CategoricalPolicy"):
            n_actions = positive_int(n_actions, "n_actions")  # named as the user wrote it
        super().__init__(obs_dim, n_actions, hidden, activation, goal_dim)
        self.n_actions = self.act_dim
        self.act_spec = ActSpec((), torch.int64, discrete=self.n_actions)
        self.net = mlp(self.in_dim, self.n_actions, self._hidden, activation)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["n_actions"] = config.pop("act_dim")
        return config

    def spec_hint(self, what: str, shape: tuple[int, ...]) -> str | None:
        if what in ("observations", "goals") and len(shape) == 1:
            name = "obs_dim" if what == "observations" else "goal_dim"
            return f"build the policy with {name}={shape[0]}"
        return None

    @classmethod
    def from_specs(cls, obs_spec: ObsSpec, act_spec: ActSpec, **options: Any) -> Policy:
        """A policy for flat observations ``(obs,)`` and discrete actions
        (``ActSpec((), torch.int64, discrete=n)``)."""
        fn = f"{cls.__name__}.from_specs"
        cls._require_flat_obs(obs_spec, fn)
        if act_spec.discrete is None or act_spec.shape != ():
            raise error(
                DtypeError if act_spec.discrete is None else ShapeError,
                f"{cls.__name__} takes one discrete action per step (an ActSpec with "
                f"discrete=n and shape ()), got {act_spec}",
                function=fn,
                argument="act_spec",
                expected="ActSpec((), torch.int64, discrete=n)",
                got=str(act_spec),
                hint="for continuous actions use the 'gaussian', 'mixture' or "
                "'autoregressive' policy",
            )
        # the command line infers n from the largest action in the data; a mask (or the
        # env) may know of more actions, so the option n_actions may raise it
        n = options.pop("n_actions", act_spec.discrete)
        try:
            return cls(obs_spec.shape[0], n, **options)
        except TypeError as exc:
            raise error(
                UsageError, f"unknown option for {cls.__name__}: {exc}", function=fn
            ) from None

    # ------------------------------------------------------------- the model

    @check
    def logits(
        self,
        obs: Float[Tensor, "batch obs"],
        action_mask: Bool[Tensor, "batch n_actions"] | None = None,
        goals: Float[Tensor, "batch goal"] | None = None,
    ) -> Float[Tensor, "batch n_actions"]:
        """The action logits; masked (illegal) actions get ``-inf``. ``goals`` are
        required exactly when the policy has a ``goal_dim``."""
        if STATE.enabled and obs.shape[1] != self.obs_dim:
            raise self._obs_size_error(obs) from None
        out = self._run_net(self._inputs(obs, goals, "logits"), "logits", "obs")
        if action_mask is None:
            return out
        return out.masked_fill(~action_mask, -torch.inf)

    @check
    def forward(
        self,
        obs: Float[Tensor, "batch obs"],
        action_mask: Tensor | None = None,
        goals: Float[Tensor, "batch goal"] | None = None,
    ) -> Dist[Categorical, "batch", ""]:
        """The action distribution, a checked :class:`~shapesafe.distributions.Categorical`
        (``probs`` exactly 0 where ``action_mask`` is False)."""
        mask = None if action_mask is None else self._mask(action_mask, len(obs), "forward")
        return Categorical(logits=self.logits(obs, mask, self._check_goals(goals, "forward")))

    def predict(
        self,
        obs: Float[Tensor, "batch obs"],
        goals: Float[Tensor, "batch goal"] | None = None,
        *,
        action_mask: Tensor | None = None,
    ) -> Int[Tensor, " batch"]:
        """The most likely (legal) action of each row."""
        if STATE.enabled:
            self.check_obs(obs, "predict")
        goals = self._check_goals(goals, "predict")
        mask = None if action_mask is None else self._mask(action_mask, len(obs), "predict")
        return self.logits(obs, mask, goals).argmax(-1)

    def predict_batch(self, batch: Batch) -> Tensor:
        """:meth:`predict` on a batch's observations (and goals), under its
        ``action_mask`` extra if it has one (so ``evaluate``'s accuracy counts legal
        choices only)."""
        mask = batch.extras.get(ACTION_MASK)
        goals = batch.goals if self.goal_spec is not None else None
        return self.predict(batch.observations, goals, action_mask=mask)

    def _sample(
        self, obs: Tensor, goals: Tensor | None, action_mask: Tensor | None = None
    ) -> Tensor:
        probs = torch.softmax(self.logits(obs, action_mask, goals), -1)
        return torch.multinomial(probs, 1).squeeze(-1)

    def act(
        self,
        obs: Any,
        *,
        deterministic: bool = False,
        goal: Any = None,
        action_mask: Any = None,
    ) -> np.ndarray[Any, Any]:
        """Actions for an environment (numpy in, numpy out; see :meth:`Policy.act`).

        ``action_mask``: the legal actions, ``(n_actions,)`` for one observation or
        ``(batch, n_actions)`` for a batch (booleans or 0/1, numpy or torch); masked
        actions are never chosen."""
        if action_mask is None:
            return super().act(obs, deterministic=deterministic, goal=goal)
        x, single = self._as_input(obs, self.obs_spec, "obs")
        if (self.goal_spec is None) != (goal is None):
            raise self._goal_usage_error(goal)
        g = None
        if self.goal_spec is not None:
            g, _ = self._as_input(goal, self.goal_spec, "goal", single)
        m = torch.as_tensor(
            np.asarray(action_mask) if not isinstance(action_mask, Tensor) else action_mask
        )
        m = self._mask(m.unsqueeze(0) if single and m.ndim == 1 else m, len(x), "act")
        with evaluating(self):
            a = (
                self.predict(x, g, action_mask=m)
                if deterministic
                else self._sample(x, g, m.to(x.device))
            )
        out = a.cpu().numpy()
        return out[0] if single else out

    def compute_loss(self, batch: Batch) -> LossOutput:
        """Mean cross-entropy of the demonstrated actions (over the legal actions when the
        batch has an ``action_mask`` extra) and the metric ``accuracy``: how often the
        most likely legal action is the demonstrated one."""
        obs, actions = batch.observations, batch.actions
        raw = batch.extras.get(ACTION_MASK)
        mask = None if raw is None else self._mask(raw, len(obs), "loss", batch=True)
        if STATE.enabled:
            _check_range(actions, self.n_actions, f"{type(self).__name__}.loss", "batch")
            if mask is not None:
                _check_legal(mask, actions, f"{type(self).__name__}.loss")
        logits = self.logits(obs, mask, self._batch_goals(batch))
        loss = F.cross_entropy(logits, actions)
        with torch.no_grad():
            accuracy = (logits.argmax(-1) == actions).float().mean()
        return LossOutput(loss, {"accuracy": accuracy})

    def prepare_data(self, demos: Demonstrations) -> Demonstrations:
        """Refuse, once before training, actions outside ``[0, n_actions)`` and masks of
        the wrong shape or that forbid the demonstrated action (``fit`` and ``evaluate``
        call this)."""
        fn = f"{type(self).__name__}.prepare_data"
        _check_range(demos.actions, self.n_actions, fn, "demos")
        raw = demos.extras.get(ACTION_MASK)
        if raw is not None:
            mask = self._mask(raw, len(demos), "prepare_data", batch=True)
            _check_legal(mask, demos.actions.to(mask.device), fn)
        return demos

    # ------------------------------------------------------------- masks

    def _mask(self, mask: Any, n: int, method: str, *, batch: bool = False) -> Tensor:
        """``mask`` as a ``(n, n_actions)`` bool tensor on the policy's device, or a clear
        error: wrong dtype, wrong shape, or a row that allows no action."""
        name = f"{type(self).__name__}.{method}"
        argument = f"batch.extras[{ACTION_MASK!r}]" if batch else "action_mask"
        if not isinstance(mask, Tensor) or mask.is_floating_point() or mask.is_complex():
            got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
            raise error(
                DtypeError,
                f"the action mask must hold booleans (True = legal), got {got}",
                function=name,
                argument=argument,
                expected="bool (or 0/1 integer) tensor",
                got=str(got),
                hint="True marks a legal action: mask.astype(bool) (numpy) or mask.bool() (torch)",
            )
        want = (n, self.n_actions)
        if tuple(mask.shape) != want:
            hint, more = None, ""
            if tuple(mask.shape) == (self.n_actions,):
                hint = "one mask for a batch of observations: give one row per observation"
            elif mask.ndim == 2 and mask.shape[0] == n and mask.shape[1] > self.n_actions:
                # said in the summary line, which is all the command line prints
                k = mask.shape[1]
                more = f" (the mask knows of {k} actions)"
                hint = (
                    f"build the policy with n_actions={k} (shapesafe train: --option n_actions={k})"
                )
            raise error(
                ShapeError,
                f"the action mask must have shape {fmt_shape(('batch', 'n_actions'))} = "
                f"{fmt_shape(want)}, got {fmt_shape(mask.shape)}{more}",
                function=name,
                argument=argument,
                expected=fmt_shape(want),
                got=fmt_shape(mask.shape),
                bindings={"batch": n, "n_actions": self.n_actions},
                hint=hint,
            )
        param = next(self.parameters())
        m = mask.to(device=param.device, dtype=torch.bool)
        if STATE.enabled:
            empty = ~m.any(-1)
            if bool(empty.any()):
                row = int(empty.nonzero()[0])
                raise error(
                    DataError,
                    f"row {row} of the action mask allows no action "
                    f"({int(empty.sum())} such row(s)); a policy must choose something",
                    function=name,
                    argument=argument,
                    expected="at least one True per row",
                    got=f"all False in row {row}",
                    hint="end the episode when no action is legal, or add a no-op action",
                )
        return m


def _check_range(actions: Tensor, n: int, function: str, argument: str) -> None:
    bad = (actions < 0) | (actions >= n)
    if not bool(bad.any()):
        return
    row = int(bad.nonzero()[0])
    raise error(
        DataError,
        f"action {int(actions[row])} in row {row} lies outside the {n} actions "
        f"[0, {n - 1}] of this policy ({int(bad.sum())} such row(s))",
        function=function,
        argument=argument,
        expected=f"actions in [0, {n - 1}]",
        got=f"{int(actions[row])} in row {row}",
        hint=f"build the policy with n_actions={int(actions.max()) + 1}"
        if int(actions.min()) >= 0
        else "discrete actions are indices 0..n-1",
    )


def _check_legal(mask: Tensor, actions: Tensor, function: str) -> None:
    legal = mask.gather(1, actions.clamp(0, mask.shape[1] - 1).unsqueeze(1)).squeeze(1)
    if bool(legal.all()):
        return
    row = int((~legal).nonzero()[0])
    raise error(
        DataError,
        f"the demonstrated action {int(actions[row])} in row {row} is illegal under its "
        f"own action mask ({int((~legal).sum())} such row(s))",
        function=function,
        argument=f"batch.extras[{ACTION_MASK!r}]",
        expected="the demonstrated action legal in every row",
        got=f"action {int(actions[row])} masked in row {row}",
        hint="check that the mask was recorded for the same step as the action",
    )
