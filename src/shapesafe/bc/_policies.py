"""Typed policies: an interface, a shared MLP builder, a Gaussian and a deterministic policy."""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from shapesafe._check import check
from shapesafe._config import STATE
from shapesafe._modules import evaluating
from shapesafe.distributions import DiagNormal, Dist
from shapesafe.errors import DtypeError, ShapeError

__all__ = [
    "ACTIVATIONS",
    "DeterministicPolicy",
    "GaussianPolicy",
    "Policy",
    "build_policy",
    "mlp",
]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
}


def _activation(name: str) -> type[nn.Module]:
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {name!r}; choose one of {', '.join(sorted(ACTIVATIONS))}"
        ) from None


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
    return int(value)


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
    act = _activation(activation)
    sizes = [
        _positive_int(in_dim, "in_dim"),
        *(_positive_int(h, "hidden") for h in hidden),
        _positive_int(out_dim, "out_dim"),
    ]
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class Policy(nn.Module, abc.ABC):
    """The policy interface behaviour cloning trains.

    A policy maps a batch of flat observations ``(batch, obs)`` to actions ``(batch, act)``:

    * ``forward(obs)``: for stochastic policies, a distribution over actions with
      ``batch_shape == (batch,)`` and ``event_shape == (act,)``, checked by
      :func:`shapesafe.check`; for deterministic ones, the actions.
    * :meth:`predict`: the most likely action, as a tensor ``(batch, act)``.
    * :meth:`loss`: the training loss of a minibatch (NLL or MSE), a scalar.
    * :meth:`act`: for environments: numpy in, numpy out, eval mode, no grad, one
      observation ``(obs,)`` or a batch ``(batch, obs)``.
    * :attr:`config`: the constructor arguments, so checkpoints can rebuild the policy.
    """

    kind: ClassVar[str]
    obs_dim: int
    act_dim: int
    net: nn.Module  # the network from observations to the distribution's parameters

    @abc.abstractmethod
    def predict(self, obs: Float[Tensor, "batch obs"]) -> Float[Tensor, "batch act"]:
        """The most likely action for each observation (differentiable)."""

    @abc.abstractmethod
    def loss(self, batch: tuple[Tensor, Tensor]) -> Float[Tensor, ""]:
        """The scalar training loss of a minibatch ``(observations, actions)``."""

    @property
    @abc.abstractmethod
    def config(self) -> dict[str, Any]:
        """Constructor arguments (plain Python values) that rebuild this policy."""

    def _sample(self, obs: Tensor) -> Tensor:
        return self.predict(obs)

    def _check_batch(self, obs: Any, actions: Any) -> None:
        """The shape checks of :meth:`loss` (run only while checks are on)."""
        name = f"{type(self).__name__}.loss"
        for what, value in (("observations", obs), ("actions", actions)):
            if not isinstance(value, Tensor) or not value.is_floating_point():
                kind = value.dtype if isinstance(value, Tensor) else type(value).__name__
                raise DtypeError(
                    f"{name}(): argument `batch` ({what}): expected a float tensor, got {kind}",
                    function=name,
                    argument="batch",
                    expected="float tensor",
                    got=str(kind),
                )
        if obs.ndim != 2 or obs.shape[1] != self.obs_dim:
            raise ShapeError(
                f"{name}(): argument `batch` (observations): expected shape "
                f"(batch, obs={self.obs_dim}), got {tuple(obs.shape)}",
                function=name,
                argument="batch",
                expected=f"(batch, {self.obs_dim})",
                got=str(tuple(obs.shape)),
                bindings={"obs": self.obs_dim},
            )
        expected = (obs.shape[0], self.act_dim)
        if actions.shape != expected:
            got = tuple(actions.shape)
            hint = ""
            if got == (*expected, 1):
                hint = "\n  hint: the actions have a trailing axis of size 1; actions.squeeze(-1)?"
            elif got == expected[:1] and self.act_dim == 1:
                hint = "\n  hint: the actions lack the act axis; actions.unsqueeze(-1)?"
            elif len(got) == 2 and got[0] != expected[0]:
                hint = (
                    f"\n  hint: {got[0]} actions for {expected[0]} observations; were they "
                    "drawn with the same batch indices?"
                )
            elif len(got) == 2:
                hint = (
                    f"\n  hint: this policy was built with act_dim={self.act_dim} but the "
                    f"actions have {got[1]}; check the data, or build the policy with "
                    f"act_dim={got[1]}"
                )
            raise ShapeError(
                f"{name}(): argument `batch` (actions): expected shape (batch, act) = "
                f"{expected} to match the observations and the policy's act_dim, got {got}"
                f"{hint}",
                function=name,
                argument="batch",
                expected=str(expected),
                got=str(got),
                bindings={"batch": expected[0], "act": self.act_dim},
            )

    def _run_net(self, obs: Tensor, function: str, argument: str) -> Tensor:
        """``self.net(obs)``; when torch fails on observations whose dtype differs from the
        parameters', a :class:`DtypeError` naming ``function`` and ``argument`` instead
        (any other failure is torch's own error, re-raised)."""
        try:
            out: Tensor = self.net(obs)
        except RuntimeError:
            error = self._dtype_error(obs, function, argument)
            if error is not None:
                raise error from None
            raise
        return out

    def _dtype_error(self, obs: Tensor, function: str, argument: str) -> DtypeError | None:
        """The error for observations whose dtype differs from the parameters' (``None``
        when they agree, so the caller re-raises torch's own error)."""
        param = next(self.parameters())
        if obs.dtype == param.dtype:
            return None
        name = f"{type(self).__name__}.{function}"
        return DtypeError(
            f"{name}(): argument `{argument}`: observations have dtype {obs.dtype}, but the "
            f"policy's parameters are {param.dtype}\n  hint: convert the observations, "
            f"obs.to({param.dtype}), or the policy, policy.to({obs.dtype})",
            function=name,
            argument=argument,
            expected=str(param.dtype),
            got=str(obs.dtype),
        )

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
        )

    def act(self, obs: Any, *, deterministic: bool = False) -> np.ndarray[Any, Any]:
        """Actions for an environment: numpy (or tensor) in, numpy out.

        Runs in eval mode and without gradients (the previous mode is restored).
        ``obs`` is one observation ``(obs,)`` or a batch ``(batch, obs)``; the result is
        ``(act,)`` or ``(batch, act)`` to match. Stochastic policies sample unless
        ``deterministic=True``.

        Examples:
            >>> import numpy as np
            >>> from shapesafe.bc import DeterministicPolicy
            >>> DeterministicPolicy(3, 2).act(np.zeros(3)).shape
            (2,)
        """
        param = next(self.parameters())
        if isinstance(obs, Tensor):
            x = obs.detach().to(device=param.device, dtype=param.dtype)
        else:
            arr = np.asarray(obs)
            if arr.dtype.kind not in "biuf":
                raise DtypeError(
                    f"{type(self).__name__}.act(): argument `obs` must hold numbers, got "
                    f"{arr.dtype}",
                    function=f"{type(self).__name__}.act",
                    argument="obs",
                )
            x = torch.as_tensor(arr, dtype=param.dtype, device=param.device)
        single = x.ndim == 1
        if single:
            x = x.unsqueeze(0)
        if x.ndim != 2 or x.shape[1] != self.obs_dim:
            got = tuple(x.shape[1:] if single else x.shape)
            hint = ""
            if x.ndim > 2 and math.prod(x.shape[1:]) == self.obs_dim:
                hint = "\n  hint: flatten each observation first, e.g. obs.reshape(len(obs), -1)"
            elif x.ndim == 2 and x.shape[0] == self.obs_dim and not single:
                hint = "\n  hint: the axes look swapped; did you mean obs.T?"
            raise ShapeError(
                f"{type(self).__name__}.act(): argument `obs`: expected shape "
                f"({self.obs_dim},) or (batch, {self.obs_dim}), got {got}{hint}",
                function=f"{type(self).__name__}.act",
                argument="obs",
                expected=f"(obs={self.obs_dim},) or (batch, obs={self.obs_dim})",
                got=str(got),
                bindings={"obs": self.obs_dim},
            )
        with evaluating(self):
            a = self.predict(x) if deterministic else self._sample(x)
        out = a.cpu().numpy()
        return out[0] if single else out


_LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))


def _unpack(batch: Any, policy: str) -> tuple[Tensor, Tensor]:
    try:
        obs, actions = batch
    except (TypeError, ValueError):
        got = (
            f"a tensor of shape {tuple(batch.shape)}"
            if isinstance(batch, Tensor)
            else type(batch).__name__
        )
        raise ShapeError(
            f"{policy}.loss(): argument `batch` must be a pair (observations, actions), "
            f"got {got}\n  hint: pass demos.sample(batch_size) or (obs, actions)",
            function=f"{policy}.loss",
            argument="batch",
            expected="(observations, actions)",
            got=got,
        ) from None
    return obs, actions


def _diag_normal(loc: Tensor, scale: Tensor) -> DiagNormal:
    # The one place the policy builds its action distribution.
    return DiagNormal(loc, scale)


class GaussianPolicy(Policy):
    """A Gaussian policy ``π(a|s) = N(f_θ(s), diag(σ²))`` with an MLP mean.

    The log-std is either one learned parameter per action dimension (the default, as in
    the CS 285 lecture-3 example), or predicted from the observation
    (``state_dependent_std=True``, a second output head of the same MLP). Either way it is
    clamped to ``log_std_bounds`` so the NLL cannot blow up.

    Args:
        obs_dim: size of a (flat) observation.
        act_dim: size of an action.
        hidden: hidden layer sizes of the MLP.
        activation: one of ``relu``, ``tanh``, ``elu``, ``gelu``, ``silu``, ``leaky_relu``.
        state_dependent_std: predict the log-std from the observation.
        init_log_std: initial log-std (``0.0``: σ = 1).
        log_std_bounds: ``(min, max)`` clamp for the log-std.

    Examples:
        >>> import torch
        >>> from shapesafe.bc import GaussianPolicy
        >>> policy = GaussianPolicy(obs_dim=2, act_dim=2, hidden=(32, 32))
        >>> dist = policy(torch.zeros(64, 2))
        >>> tuple(dist.batch_shape), tuple(dist.event_shape)
        ((64,), (2,))
    """

    kind: ClassVar[str] = "gaussian"

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        hidden: Sequence[int] = (64, 64),
        activation: str = "relu",
        state_dependent_std: bool = False,
        init_log_std: float = 0.0,
        log_std_bounds: tuple[float, float] = (-10.0, 2.0),
    ) -> None:
        super().__init__()
        self.obs_dim = _positive_int(obs_dim, "obs_dim")
        self.act_dim = _positive_int(act_dim, "act_dim")
        lo, hi = (float(b) for b in log_std_bounds)
        if not lo < hi:
            raise ValueError(
                f"`log_std_bounds` must be (min, max) with min < max, got {log_std_bounds!r}"
            )
        if not lo <= init_log_std <= hi:
            raise ValueError(
                f"`init_log_std`={init_log_std} lies outside log_std_bounds=({lo}, {hi})"
            )
        self._hidden = tuple(int(h) for h in hidden)
        self._activation = activation
        self.state_dependent_std = bool(state_dependent_std)
        self._init_log_std = float(init_log_std)
        self.log_std_min, self.log_std_max = lo, hi
        out = 2 * self.act_dim if self.state_dependent_std else self.act_dim
        self.net = mlp(self.obs_dim, out, self._hidden, activation)
        if self.state_dependent_std:
            last = self.net[-1]
            assert isinstance(last, nn.Linear)
            with torch.no_grad():
                last.bias[self.act_dim :].fill_(self._init_log_std)
            self.register_parameter("log_std", None)
        else:
            self.log_std = nn.Parameter(torch.full((self.act_dim,), self._init_log_std))

    @property
    def config(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "hidden": list(self._hidden),
            "activation": self._activation,
            "state_dependent_std": self.state_dependent_std,
            "init_log_std": self._init_log_std,
            "log_std_bounds": [self.log_std_min, self.log_std_max],
        }

    def _loc_log_std(self, obs: Tensor, function: str = "forward") -> tuple[Tensor, Tensor]:
        """``loc`` (batch, act) and the clamped log-std: (batch, act), or (act,) when it is
        a learned parameter."""
        out = self._run_net(obs, function, "obs" if function == "forward" else "batch")
        if self.state_dependent_std:
            loc, log_std = out[..., : self.act_dim], out[..., self.act_dim :]
        else:
            loc, log_std = out, self.log_std
        return loc, log_std.clamp(self.log_std_min, self.log_std_max)

    @check
    def forward(self, obs: Float[Tensor, "batch obs"]) -> Dist[DiagNormal, "batch", "act"]:
        """The action distribution: batch ``(batch,)``, event ``(act,)``."""
        if STATE.enabled and obs.shape[1] != self.obs_dim:
            raise self._obs_size_error(obs) from None
        loc, log_std = self._loc_log_std(obs)
        return _diag_normal(loc, log_std.exp().expand_as(loc))

    def predict(self, obs: Float[Tensor, "batch obs"]) -> Float[Tensor, "batch act"]:
        """The mean action."""
        dist: DiagNormal = self(obs)
        return dist.mean

    def _sample(self, obs: Tensor) -> Tensor:
        dist: DiagNormal = self(obs)
        return dist.sample()

    def std(self, obs: Float[Tensor, "batch obs"] | None = None) -> Tensor:
        """The standard deviation: ``(act,)`` for a learned parameter, or ``(batch, act)``
        for the observations ``obs`` when the std is state-dependent."""
        if not self.state_dependent_std:
            return self.log_std.clamp(self.log_std_min, self.log_std_max).exp()
        if obs is None:
            raise ValueError("GaussianPolicy.std(): a state-dependent std needs `obs`")
        return self._loc_log_std(obs)[1].exp()

    def loss(self, batch: tuple[Tensor, Tensor]) -> Float[Tensor, ""]:
        """Mean negative log-likelihood of the actions under the policy:
        ``-self(obs).log_prob(actions).mean()``, computed in closed form (the formula of
        ``torch.distributions.Normal.log_prob``) without building a distribution object
        per step. ``batch`` is ``(observations (batch, obs), actions (batch, act))``."""
        obs, actions = _unpack(batch, type(self).__name__)
        if STATE.enabled:
            self._check_batch(obs, actions)
        loc, log_std = self._loc_log_std(obs, "loss")
        # log N(a; loc, σ²) = -(a - loc)² / (2σ²) - log σ - log √(2π), summed over act
        log_prob = -((actions - loc) ** 2) / (2 * (2 * log_std).exp()) - log_std - _LOG_SQRT_2PI
        return -log_prob.sum(-1).mean()


class DeterministicPolicy(Policy):
    """A deterministic MLP policy ``a = f_θ(s)`` trained with mean squared error.

    Examples:
        >>> import torch
        >>> from shapesafe.bc import DeterministicPolicy
        >>> DeterministicPolicy(obs_dim=3, act_dim=2)(torch.zeros(5, 3)).shape
        torch.Size([5, 2])
    """

    kind: ClassVar[str] = "deterministic"

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        hidden: Sequence[int] = (64, 64),
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.obs_dim = _positive_int(obs_dim, "obs_dim")
        self.act_dim = _positive_int(act_dim, "act_dim")
        self._hidden = tuple(int(h) for h in hidden)
        self._activation = activation
        self.net = mlp(self.obs_dim, self.act_dim, self._hidden, activation)

    @property
    def config(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "hidden": list(self._hidden),
            "activation": self._activation,
        }

    @check
    def forward(self, obs: Float[Tensor, "batch obs"]) -> Float[Tensor, "batch act"]:
        """The actions."""
        if STATE.enabled and obs.shape[1] != self.obs_dim:
            raise self._obs_size_error(obs) from None
        return self._run_net(obs, "forward", "obs")

    def predict(self, obs: Float[Tensor, "batch obs"]) -> Float[Tensor, "batch act"]:
        """The actions (same as calling the policy)."""
        out: Tensor = self(obs)
        return out

    def loss(self, batch: tuple[Tensor, Tensor]) -> Float[Tensor, ""]:
        """Mean squared error between predicted and demonstrated actions.
        ``batch`` is ``(observations (batch, obs), actions (batch, act))``."""
        obs, actions = _unpack(batch, type(self).__name__)
        if STATE.enabled:
            self._check_batch(obs, actions)
        return F.mse_loss(self(obs), actions)


_POLICIES: dict[str, type[Policy]] = {
    GaussianPolicy.kind: GaussianPolicy,
    DeterministicPolicy.kind: DeterministicPolicy,
}


def build_policy(config: dict[str, Any]) -> Policy:
    """Rebuild a policy from its :attr:`Policy.config` (as stored in checkpoints).

    Examples:
        >>> from shapesafe.bc import GaussianPolicy, build_policy
        >>> build_policy(GaussianPolicy(2, 2).config).act_dim
        2
    """
    cfg = dict(config)
    kind = cfg.pop("kind", None)
    cls = _POLICIES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(
            f"unknown policy kind {kind!r}; known kinds: {', '.join(sorted(_POLICIES))}"
        )
    obs_dim = cfg.pop("obs_dim", None)
    act_dim = cfg.pop("act_dim", None)
    if "hidden" in cfg:
        cfg["hidden"] = tuple(cfg["hidden"])
    if "log_std_bounds" in cfg:
        cfg["log_std_bounds"] = tuple(cfg["log_std_bounds"])
    try:
        return cls(obs_dim, act_dim, **cfg)  # type: ignore[call-arg]
    except TypeError as exc:
        raise ValueError(f"cannot build a {kind} policy from {config!r}: {exc}") from None
