"""A frame stack around any one-step policy: the inner policy sees the last ``history``
observations, concatenated along their first axis, oldest first.

For a flat observation ``(obs,)`` the inner policy takes ``(history * obs,)``; for images
``(C, H, W)`` it takes ``(history * C, H, W)`` -- the usual channel stacking. Training
windows never hold two episodes: steps before an episode's start repeat its first
observation (see :func:`~shapesafe.bc.history_windows`), and ``act`` does the same after
``reset()``, so the policy sees at execution exactly what it was trained on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from shapesafe import check
from shapesafe._config import STATE
from shapesafe._format import add_context, error, fmt_shape, fmt_value
from shapesafe.bc._batch import Batch
from shapesafe.bc._data import Demonstrations
from shapesafe.bc._windows import past_windows, with_extras
from shapesafe.bc.policies._stateful import check_envs, need_extra, which_rows
from shapesafe.bc.policies.base import ActSpec, LossOutput, ObsSpec, Policy
from shapesafe.bc.policies.mlp import positive_int
from shapesafe.bc.policies.registry import _REGISTRY, build_policy, policy_kinds
from shapesafe.errors import ShapeError, UsageError

__all__ = ["FrameStackPolicy"]

#: extras that ``prepare_data`` adds: the past ``history`` observations and their mask
HISTORY_KEY, HISTORY_MASK_KEY = "obs_history", "history_mask"


class FrameStackPolicy(Policy, kind="frame-stack"):
    """Wraps a one-step policy so that it acts on the last ``history`` observations.

    Args:
        inner: the wrapped policy, built for stacked observations ``(history * obs0,
            *rest)`` -- a :class:`Policy`, or its config (``policy.config``, what
            checkpoints store).
        history: number of observations stacked, the current one last.

    Build one for data of given specs with :meth:`from_specs` (what ``shapesafe train
    --policy frame-stack --option inner=gaussian --option history=4`` calls), which
    builds the inner policy too. Training needs episode ids.

    Examples:
        >>> import torch
        >>> from shapesafe.bc import FrameStackPolicy, GaussianPolicy
        >>> policy = FrameStackPolicy(GaussianPolicy(obs_dim=4 * 3, act_dim=2), history=4)
        >>> policy.obs_spec.shape
        (3,)
        >>> policy.predict(torch.zeros(5, 4, 3)).shape
        torch.Size([5, 2])
    """

    def __init__(self, inner: Policy | Mapping[str, Any], *, history: int = 4) -> None:
        super().__init__()
        name = "FrameStackPolicy"
        with add_context(name):
            self.history = positive_int(history, "history")
            if isinstance(inner, Mapping):
                inner = build_policy(inner)
            if not isinstance(inner, Policy):
                raise error(
                    UsageError,
                    f"`inner` must be a Policy or a policy config, got {fmt_value(inner)}",
                    argument="inner",
                )
            _check_one_step(inner)
        self.inner = inner
        stacked = inner.obs_spec.shape
        if stacked[0] % self.history:
            raise error(
                ShapeError,
                f"the inner policy takes observations {fmt_shape(stacked)}, whose first "
                f"axis is not a multiple of history={self.history}",
                function=name,
                argument="inner",
                expected=f"({self.history} * obs0, ...)",
                got=fmt_shape(stacked),
                hint="build the inner policy for the stacked observations, or use "
                "FrameStackPolicy.from_specs(obs_spec, act_spec, inner=..., history=...)",
            )
        self.obs_spec = ObsSpec((stacked[0] // self.history, *stacked[1:]), inner.obs_spec.dtype)
        self.act_spec = inner.act_spec
        self.goal_spec = inner.goal_spec
        # the loss is the inner policy's, so plots and reports name it the same way
        self.loss_name = inner.loss_name  # type: ignore[misc]
        self._frames: Tensor | None = None  # (envs, history, *obs) while acting
        self._fresh: Tensor | None = None  # (envs,) True until an episode's first step

    def get_config(self) -> dict[str, Any]:
        return {"inner": self.inner.config, "history": self.history}

    @classmethod
    def from_specs(
        cls,
        obs_spec: ObsSpec,
        act_spec: ActSpec,
        *,
        inner: str = "gaussian",
        history: int = 4,
        inner_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Policy:
        """A frame stack of ``history`` observations around a new policy of kind
        ``inner``, built by that kind's ``from_specs`` for the stacked observations with
        ``inner_options`` (and any other keyword, e.g. ``hidden``)."""
        fn = f"{cls.__name__}.from_specs"
        with add_context(fn):
            history = positive_int(history, "history")
        inner_cls = _REGISTRY.get(inner) if isinstance(inner, str) else None
        if inner_cls is None:
            raise error(
                UsageError,
                f"unknown inner policy kind {inner!r}",
                function=fn,
                argument="inner",
                expected=", ".join(policy_kinds()),
                got=repr(inner),
            )
        stacked = ObsSpec((history * obs_spec.shape[0], *obs_spec.shape[1:]), obs_spec.dtype)
        built = inner_cls.from_specs(stacked, act_spec, **{**(inner_options or {}), **options})
        return cls(built, history=history)

    # ----------------------------------------------------------------- the network

    @check
    def _stack(self, frames: Float[Tensor, "batch history ..."]) -> Tensor:
        # (batch, history, obs0, *rest) -> (batch, history * obs0, *rest), oldest first
        return frames.flatten(1, 2)

    def _frames_in(self, frames: Tensor, method: str) -> Tensor:
        want = (self.history, *self.obs_spec.shape)
        if STATE.enabled and (not isinstance(frames, Tensor) or tuple(frames.shape[1:]) != want):
            got = tuple(frames.shape) if isinstance(frames, Tensor) else fmt_value(frames)
            raise error(
                ShapeError,
                f"expected observation windows {fmt_shape(('batch', *want))} (oldest "
                f"first), got {got}",
                function=f"{type(self).__name__}.{method}",
                argument="obs",
                expected=fmt_shape(("batch", *want)),
                got=str(got),
                hint="act() keeps the history itself; predict() takes whole windows",
            )
        return self._stack(frames)

    def predict(self, obs: Tensor, goals: Tensor | None = None) -> Tensor:
        """The inner policy's most likely action for windows ``obs`` of shape
        ``(batch, history, *obs)``, oldest first (:meth:`act` keeps the window itself)."""
        x = self._frames_in(obs, "predict")
        return self.inner.predict(x) if goals is None else self.inner.predict(x, goals)

    def predict_batch(self, batch: Batch) -> Tensor:
        # goals reach the inner policy only when it is goal-conditioned: a goal-blind
        # policy trains and evaluates on data that carries goals by ignoring them
        goals = batch.goals if self.goal_spec is not None else None
        return self.predict(batch.extras[HISTORY_KEY], goals)

    def diagnostics(self) -> dict[str, float]:
        return self.inner.diagnostics()

    # ----------------------------------------------------------------- training

    def prepare_data(self, demos: Demonstrations) -> Demonstrations:
        """``demos`` with the past ``history`` observations of every row (extras
        ``obs_history`` (N, history, *obs) and ``history_mask`` (N, history))."""
        windows, mask = past_windows(demos, self.history)
        return with_extras(demos, **{HISTORY_KEY: windows, HISTORY_MASK_KEY: mask})

    def check_batch(self, batch: Batch, method: str = "loss") -> None:
        super().check_batch(batch, method)
        name = f"{type(self).__name__}.{method}"
        n = batch.size
        need_extra(batch, HISTORY_KEY, (n, self.history, *self.obs_spec.shape), name)
        need_extra(batch, HISTORY_MASK_KEY, (n, self.history), name)

    def compute_loss(self, batch: Batch) -> LossOutput:
        """The inner policy's loss on the stacked observations."""
        extras = {k: v for k, v in batch.extras.items() if k not in (HISTORY_KEY, HISTORY_MASK_KEY)}
        stacked = Batch(
            self._stack(batch.extras[HISTORY_KEY]), batch.actions, batch.goals, batch.masks, extras
        )
        return self.inner.compute_loss(stacked)

    # ----------------------------------------------------------------- acting

    def reset(self, which: Any = None) -> None:
        """Forget the observation history: of every environment (``which=None``), or of
        those where ``which`` is True. The next observation then fills the whole window,
        as the first step of an episode does in training."""
        if which is None or self._fresh is None:
            self._frames, self._fresh = None, None
        else:
            rows = which_rows(which, int(self._fresh.shape[0]), type(self).__name__)
            self._fresh[rows.to(self._fresh.device)] = True
        self.inner.reset(which)

    def _act_tensor(self, obs: Tensor, goals: Tensor | None, deterministic: bool) -> Tensor:
        n = int(obs.shape[0])
        if self._frames is None or self._fresh is None:
            self._frames = obs.unsqueeze(1).repeat(1, self.history, *([1] * (obs.ndim - 1)))
            self._fresh = torch.zeros(n, dtype=torch.bool, device=obs.device)
        check_envs(int(self._fresh.shape[0]), n, type(self).__name__)
        shifted = torch.cat([self._frames[:, 1:], obs.unsqueeze(1)], dim=1)
        # an episode's first step: the window is its first observation, repeated
        padded = obs.unsqueeze(1).expand_as(shifted)
        fresh = self._fresh.view(n, *([1] * (shifted.ndim - 1)))
        self._frames = torch.where(fresh, padded, shifted)
        self._fresh = torch.zeros_like(self._fresh)
        return self.inner._act_tensor(self._stack(self._frames), goals, deterministic)


def _check_one_step(inner: Policy) -> None:
    """Refuse an inner policy that trains on windows itself (its windows would not be
    built, and its state would be kept twice)."""
    if type(inner).prepare_data is not Policy.prepare_data:
        raise error(
            UsageError,
            f"a frame stack wraps a one-step policy, but {type(inner).__name__} (kind "
            f"{inner.kind!r}) trains on windows itself",
            argument="inner",
            hint="wrap a one-step policy (e.g. 'gaussian', 'deterministic')",
        )
