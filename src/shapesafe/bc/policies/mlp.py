"""The MLP builder and the base of the policies on flat vectors (``(batch, obs)`` in,
``(batch, act)`` out): the Gaussian and the deterministic policy share their argument
checks, their error for observations of another dtype and their construction from data.

Goal conditioning lives here too, once for every flat family: a policy built with
``goal_dim=G`` declares a goal spec ``(G,)`` and its networks read the observation and
the goal side by side, ``cat(obs, goal)`` of width ``obs + goal`` (the usual GCBC input;
see ``docs/goal-conditioned.md``). The families call :meth:`FlatPolicy._inputs` where
they used to pass the observation, so ``goals`` are checked in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor, nn

from shapesafe import check
from shapesafe._config import STATE
from shapesafe._format import add_context, error, fmt_shape, fmt_value
from shapesafe.bc._batch import Batch
from shapesafe.bc._validate import whole_number
from shapesafe.bc.policies.base import ActSpec, ObsSpec, Policy
from shapesafe.errors import DtypeError, ShapeError, UsageError

__all__ = ["ACTIVATIONS", "FlatPolicy", "mlp"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
}


def _activation(name: Any) -> type[nn.Module]:
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise UsageError(
            f"unknown activation {name!r}; choose one of {', '.join(sorted(ACTIVATIONS))}",
            argument="activation",
            expected=", ".join(sorted(ACTIVATIONS)),
            got=repr(name),
        ) from None


def positive_int(value: Any, name: str) -> int:
    """``value`` as an int, or a :class:`UsageError` naming the argument."""
    return whole_number(value, name)


def _hidden(hidden: Any) -> tuple[int, ...]:
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise error(
            UsageError,
            f"`hidden` must be a sequence of layer sizes, got {fmt_value(hidden)}",
            argument="hidden",
        )
    return tuple(positive_int(h, "hidden") for h in hidden)


def mlp(
    in_dim: int,
    out_dim: int,
    hidden: Sequence[int] = (64, 64),
    activation: str = "relu",
) -> nn.Sequential:
    """A multilayer perceptron ``in_dim → hidden… → out_dim`` with ``activation`` between
    layers and a linear output.

    Examples:
        >>> from shapesafe.bc import mlp
        >>> mlp(2, 2, hidden=(32, 32))
        Sequential(
          (0): Linear(in_features=2, out_features=32, bias=True)
          (1): ReLU()
          (2): Linear(in_features=32, out_features=32, bias=True)
          (3): ReLU()
          (4): Linear(in_features=32, out_features=2, bias=True)
        )
    """
    with add_context("mlp"):
        act = _activation(activation)
        sizes = [positive_int(in_dim, "in_dim"), *_hidden(hidden), positive_int(out_dim, "out_dim")]
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


@check
def _concat_goals(
    obs: Float[Tensor, "batch obs"], goals: Float[Tensor, "batch goal"]
) -> Float[Tensor, "batch obs+goal"]:
    """The goal-conditioned network input: observation and goal side by side."""
    return torch.cat([obs, goals], dim=-1)


class FlatPolicy(Policy):
    """A policy on flat float vectors with an MLP ``net`` (not registered itself).

    ``goal_dim`` (default 0: not goal-conditioned) makes it goal-conditioned: it then
    declares ``goal_spec = ObsSpec((goal_dim,))``, its networks take ``obs_dim +
    goal_dim`` inputs (:attr:`in_dim`), and ``predict``/``act``/the loss need goals.
    """

    obs_dim: int
    act_dim: int
    goal_dim: int
    net: nn.Module

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: Any, activation: str, goal_dim: int = 0
    ) -> None:
        super().__init__()
        with add_context(type(self).__name__):
            self.obs_dim = positive_int(obs_dim, "obs_dim")
            self.act_dim = positive_int(act_dim, "act_dim")
            self.goal_dim = 0 if goal_dim == 0 else positive_int(goal_dim, "goal_dim")
            self._hidden = _hidden(hidden)
            _activation(activation)
        self._activation = activation
        self.obs_spec = ObsSpec((self.obs_dim,))
        self.act_spec = ActSpec((self.act_dim,))
        if self.goal_dim:
            self.goal_spec = ObsSpec((self.goal_dim,))

    @property
    def in_dim(self) -> int:
        """Width of what the networks read: ``obs_dim``, plus ``goal_dim`` when
        goal-conditioned."""
        return self.obs_dim + self.goal_dim

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "hidden": list(self._hidden),
            "activation": self._activation,
        }
        if self.goal_dim:  # only when set: older checkpoints and configs stay the same
            config["goal_dim"] = self.goal_dim
        return config

    def spec_hint(self, what: str, shape: tuple[int, ...]) -> str | None:
        if what in ("observations", "actions", "goals") and len(shape) == 1:
            return f"build the policy with {what[:3] if what != 'goals' else 'goal'}_dim={shape[0]}"
        return None

    def _batch_goals(self, batch: Batch) -> Tensor | None:
        """The goals of a training batch, if this policy takes goals: a policy without
        ``goal_dim`` trained on data with goals ignores them (a goal-blind baseline)."""
        return batch.goals if self.goal_dim else None

    def _inputs(self, obs: Tensor, goals: Tensor | None, function: str) -> Tensor:
        """What the networks read for ``obs`` (and ``goals``): ``obs`` itself, or
        ``cat(obs, goals)`` (batch, obs+goal) for a goal-conditioned policy, after
        :meth:`_check_goals`."""
        goals = self._check_goals(goals, function)
        if goals is None:
            return obs
        with add_context(f"{type(self).__name__}.{function}", "goals"):
            return _concat_goals(obs, goals)

    def _check_goals(self, goals: Tensor | None, function: str) -> Tensor | None:
        """``goals``, after refusing goals given to a policy without a goal spec,
        missing goals, and goals of the wrong width, naming ``function`` (the method
        the user called)."""
        name = f"{type(self).__name__}.{function}"
        if self.goal_dim == 0:
            if goals is not None:
                shape = tuple(getattr(goals, "shape", ()))
                raise error(
                    UsageError,
                    "this policy is not goal-conditioned, but goals were given",
                    function=name,
                    argument="goals",
                    expected="goals=None",
                    got=f"goals of shape {fmt_shape(shape)}",
                    hint=f"build the policy with goal_dim={shape[-1] if shape else 1} to "
                    "condition it on goals",
                )
            return None
        if goals is None:
            raise error(
                ShapeError,
                f"this policy is goal-conditioned (goal_dim={self.goal_dim}) but no goals "
                "were given",
                function=name,
                argument="goals",
                expected=fmt_shape(("batch", self.goal_dim)),
                got="goals=None",
                hint="pass the goals: predict(obs, goals), act(obs, goal=goal)",
            )
        if STATE.enabled and (goals.ndim != 2 or goals.shape[-1] != self.goal_dim):
            got = tuple(goals.shape)
            raise error(
                ShapeError,
                f"expected goals of shape {fmt_shape(('batch', self.goal_dim))} (the "
                f"policy's goal_dim), got {fmt_shape(got)}",
                function=name,
                argument="goals",
                axis=goals.ndim - 1 if goals.ndim else None,
                expected=fmt_shape(("batch", self.goal_dim)),
                got=fmt_shape(got),
                hint=f"this policy was built with goal_dim={self.goal_dim}",
            )
        return goals

    @classmethod
    def _require_flat_obs(cls, obs_spec: ObsSpec, fn: str) -> None:
        """Refuse observations that are not flat vectors ``(obs,)`` (for ``from_specs``)."""
        if len(obs_spec.shape) != 1:
            raise error(
                ShapeError,
                f"{cls.__name__} takes flat observations (obs,), got {fmt_shape(obs_spec.shape)}",
                function=fn,
                argument="obs_spec",
                expected="(obs,)",
                got=fmt_shape(obs_spec.shape),
                hint="flatten the observations, or use a policy for this observation shape",
            )

    @classmethod
    def from_specs(cls, obs_spec: ObsSpec, act_spec: ActSpec, **options: Any) -> Policy:
        """A policy for flat float observations ``(obs,)`` and actions ``(act,)``."""
        fn = f"{cls.__name__}.from_specs"
        cls._require_flat_obs(obs_spec, fn)
        if act_spec.discrete is not None or len(act_spec.shape) != 1:
            raise error(
                DtypeError if act_spec.discrete is not None else ShapeError,
                f"{cls.__name__} predicts continuous actions (act,), got "
                f"{fmt_shape(act_spec.shape)} {'discrete' if act_spec.discrete else ''}".rstrip(),
                function=fn,
                argument="act_spec",
                expected="continuous float actions (act,)",
                got=fmt_shape(act_spec.shape),
            )
        try:
            return cls(obs_spec.shape[0], act_spec.shape[0], **options)
        except TypeError as exc:
            raise error(
                UsageError, f"unknown option for {cls.__name__}: {exc}", function=fn
            ) from None

    def _run_net(self, obs: Tensor, function: str, argument: str) -> Tensor:
        """``self.net(obs)``; when torch fails on observations whose dtype differs from
        the parameters', a :class:`DtypeError` naming ``function`` and ``argument``
        instead (any other failure is torch's own error, re-raised)."""
        try:
            out: Tensor = self.net(obs)
        except RuntimeError:
            param = next(self.parameters())
            if obs.dtype == param.dtype:
                raise
            name = f"{type(self).__name__}.{function}"
            raise DtypeError(
                f"{name}(): argument `{argument}`: observations have dtype {obs.dtype}, but "
                f"the policy's parameters are {param.dtype}\n  hint: convert the "
                f"observations, obs.to({param.dtype}), or the policy, policy.to({obs.dtype})",
                function=name,
                argument=argument,
                expected=str(param.dtype),
                got=str(obs.dtype),
            ) from None
        return out

    def _obs_size_error(self, obs: Tensor) -> ShapeError:
        name = f"{type(self).__name__}.forward"
        got = tuple(obs.shape)
        if obs.shape[0] == self.obs_dim:
            hint = "the axes look swapped; did you mean obs.T?"
        else:
            hint = (
                f"this policy was built with obs_dim={self.obs_dim}; check where the "
                f"observations come from, or build the policy with obs_dim={obs.shape[-1]}"
            )
        return ShapeError(
            f"{name}(): argument `obs` axis 1 ('obs'): expected obs={self.obs_dim} (the "
            f"policy's obs_dim), got shape {got}\n  hint: {hint}",
            function=name,
            argument="obs",
            axis=1,
            expected=f"obs={self.obs_dim}",
            got=str(got),
            bindings={"batch": got[0], "obs": self.obs_dim},
            hint=hint,
        )
