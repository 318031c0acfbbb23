"""A mixture-of-Gaussians policy: several modes per state, each with its own weight.

An expert that passes an obstacle left or right at random has two good actions in the
same state. A unimodal Gaussian fitted by maximum likelihood puts its mean between them
-- straight into the obstacle. A mixture of ``K`` Gaussians gives each mode its own
component, so sampling picks one of them, and ``predict`` returns the mean of the most
likely component (a real mode, not their average).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from shapesafe import check
from shapesafe._config import STATE
from shapesafe._format import add_context, error
from shapesafe.bc._batch import Batch
from shapesafe.bc.policies.base import LossOutput
from shapesafe.bc.policies.mlp import FlatPolicy, mlp, positive_int
from shapesafe.distributions import Dist, GaussianMixture
from shapesafe.errors import UsageError

__all__ = ["MixturePolicy"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


@check
def mixture_log_prob(
    logits: Float[Tensor, "batch K"],
    means: Float[Tensor, "batch K act"],
    log_scales: Float[Tensor, "batch K act"],
    actions: Float[Tensor, "batch act"],
) -> Float[Tensor, " batch"]:
    """``log p(a)`` under the mixture ``Σ_k softmax(logits)_k N(a; means_k, exp(log_scales_k)²)``,
    computed directly (no distribution objects), as ``GaussianMixture.log_prob`` would."""
    diff = (actions.unsqueeze(1) - means) * torch.exp(-log_scales)
    # log N(a; μ_k, σ_k²) summed over the action dims: one number per component
    comp = (-0.5 * diff**2 - log_scales - _LOG_SQRT_2PI).sum(-1)
    return torch.logsumexp(torch.log_softmax(logits, -1) + comp, -1)


def _bounds(value: Any) -> tuple[float, float]:
    ok = (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        and value[0] < value[1]
        and all(math.isfinite(v) for v in value)
    )
    if not ok:
        raise error(
            UsageError,
            f"`log_std_bounds` must be (min, max) with min < max, got {value!r}",
            argument="log_std_bounds",
            expected="(min, max) with min < max",
            got=repr(value),
        )
    return float(value[0]), float(value[1])


class MixturePolicy(FlatPolicy, kind="mixture"):
    """A mixture of ``K`` diagonal Gaussians ``π(a|s) = Σ_k w_k(s) N(μ_k(s), σ_k(s)²)``.

    One MLP predicts the mixing logits ``(batch, K)``, the means ``(batch, K, act)`` and
    the log-scales ``(batch, K, act)`` (clamped to ``log_std_bounds``). The loss is the
    negative log-likelihood of the demonstrated actions under the mixture.

    ``predict`` returns the mean of the most likely component, *not* the mean of the
    mixture: with two equally good modes at ``-1`` and ``+1`` the mixture mean is ``0``,
    which is exactly the averaged action a unimodal policy would take and what this
    policy exists to avoid. ``act()`` (not deterministic) samples a component by its
    weight, then an action from that component.

    Args:
        obs_dim: size of a (flat) observation.
        act_dim: size of an action.
        components: number of mixture components ``K``.
        hidden: hidden layer sizes of the MLP.
        activation: one of ``relu``, ``tanh``, ``elu``, ``gelu``, ``silu``, ``leaky_relu``.
        log_std_bounds: ``(min, max)`` clamp for the per-component log-scales.
        goal_dim: size of a goal for a goal-conditioned policy (0: none); the MLP then
            reads ``cat(obs, goal)``.

    Examples:
        >>> import torch
        >>> from shapesafe.bc import MixturePolicy
        >>> policy = MixturePolicy(obs_dim=3, act_dim=2, components=4)
        >>> dist = policy(torch.zeros(8, 3))
        >>> tuple(dist.batch_shape), tuple(dist.event_shape), tuple(dist.logits.shape)
        ((8,), (2,), (8, 4))
        >>> policy.predict(torch.zeros(8, 3)).shape
        torch.Size([8, 2])
    """

    loss_name = "NLL"

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        components: int = 5,
        hidden: Sequence[int] = (128, 128),
        activation: str = "relu",
        log_std_bounds: Sequence[float] = (-5.0, 2.0),
        goal_dim: int = 0,
    ) -> None:
        super().__init__(obs_dim, act_dim, hidden, activation, goal_dim)
        with add_context("MixturePolicy"):
            self.components = positive_int(components, "components")
            self.log_std_min, self.log_std_max = _bounds(log_std_bounds)
        k, a = self.components, self.act_dim
        self.net = mlp(self.in_dim, k + 2 * k * a, self._hidden, activation)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "components": self.components,
            "log_std_bounds": [self.log_std_min, self.log_std_max],
        }

    @check
    def heads(
        self, obs: Float[Tensor, "batch obs"], goals: Float[Tensor, "batch goal"] | None = None
    ) -> tuple[
        Float[Tensor, "batch K"], Float[Tensor, "batch K act"], Float[Tensor, "batch K act"]
    ]:
        """The mixing logits, the component means and the clamped log-scales."""
        if STATE.enabled and obs.shape[1] != self.obs_dim:
            raise self._obs_size_error(obs) from None
        out = self._run_net(self._inputs(obs, goals, "heads"), "heads", "obs")
        k, a = self.components, self.act_dim
        logits = out[:, :k]
        means = out[:, k : k + k * a].reshape(-1, k, a)
        log_scales = out[:, k + k * a :].reshape(-1, k, a)
        return logits, means, log_scales.clamp(self.log_std_min, self.log_std_max)

    @check
    def forward(
        self, obs: Float[Tensor, "batch obs"], goals: Float[Tensor, "batch goal"] | None = None
    ) -> Dist[GaussianMixture, "batch", "act"]:
        """The action distribution, a checked :class:`~shapesafe.distributions.GaussianMixture`:
        batch ``(batch,)``, event ``(act,)``."""
        logits, means, log_scales = self.heads(obs, goals)
        return GaussianMixture(logits, means, log_scales.exp())

    def predict(
        self, obs: Float[Tensor, "batch obs"], goals: Float[Tensor, "batch goal"] | None = None
    ) -> Float[Tensor, "batch act"]:
        """The mean of each row's most likely component (a mode, not the mixture mean)."""
        if STATE.enabled:
            self.check_obs(obs, "predict")
        logits, means, _ = self.heads(obs, self._check_goals(goals, "predict"))
        return _pick(means, logits.argmax(-1))

    def _sample(self, obs: Tensor, goals: Tensor | None) -> Tensor:
        logits, means, log_scales = self.heads(obs, goals)
        k = torch.multinomial(torch.softmax(logits, -1), 1).squeeze(-1)
        loc, log_scale = _pick(means, k), _pick(log_scales, k)
        return loc + log_scale.exp() * torch.randn_like(loc)

    def compute_loss(self, batch: Batch) -> LossOutput:
        """Mean NLL of the actions under the mixture (the formula of
        ``GaussianMixture.log_prob``, computed without building the distribution), and
        metrics ``mixing_entropy`` (mean entropy of the mixing weights, in nats: ``log K``
        when every component is used equally, ``0`` when one takes all) and
        ``mean_scale`` (the average component standard deviation)."""
        logits, means, log_scales = self.heads(batch.observations, self._batch_goals(batch))
        nll = -mixture_log_prob(logits, means, log_scales, batch.actions).mean()
        with torch.no_grad():
            logp = torch.log_softmax(logits, -1)
            entropy = -(logp.exp() * logp).sum(-1).mean()
            scale = log_scales.exp().mean()
        return LossOutput(nll, {"mixing_entropy": entropy, "mean_scale": scale})


@check
def _pick(
    values: Float[Tensor, "batch K act"], index: Int[Tensor, " batch"]
) -> Float[Tensor, "batch act"]:
    """``values[i, index[i]]`` for every row ``i``."""
    rows = torch.arange(values.shape[0], device=values.device)
    return values[rows, index]
