"""A latent-variable policy: a conditional VAE over actions given the observation.

An expert that passes an obstacle left or right at random is two modes in one state; a
Gaussian policy averages them. The CVAE gives the decoder a latent ``z`` that carries
*which* mode, so each decoded action is a clean one:

    encoder  q(z | s, a) = N(mu_q, diag sigma_q²)      (training only)
    prior    p(z | s)    = N(0, I), or a learned N(mu_p, diag sigma_p²)
    decoder  p(a | s, z) = N(f(s, z), diag sigma²)     (sigma learned, or fixed)
    loss     = E_q[-log p(a | s, z)] + kl_weight · KL(q(z|s,a) || p(z|s))   (-ELBO, β-VAE)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor, nn

from shapesafe import check
from shapesafe._config import STATE
from shapesafe._format import add_context, fmt_value
from shapesafe.bc._batch import Batch
from shapesafe.bc.policies._generative import densest, real_number
from shapesafe.bc.policies.base import LossOutput
from shapesafe.bc.policies.mlp import FlatPolicy, mlp, positive_int
from shapesafe.distributions import DiagNormal, Dist
from shapesafe.errors import UsageError

__all__ = ["CVAEPolicy", "diag_gaussian_kl"]

_LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))
# The latent log-std is clamped like the Gaussian policy's, so that neither the KL nor
# the reparameterised sample can overflow early in training.
_LOG_STD_MIN, _LOG_STD_MAX = -10.0, 2.0
PREDICT_WITH = ("mode", "prior_mean")


@check
def diag_gaussian_kl(
    mu_q: Float[Tensor, "batch latent"],
    log_std_q: Float[Tensor, "batch latent"],
    mu_p: Float[Tensor, "batch latent"],
    log_std_p: Float[Tensor, "batch latent"],
) -> Float[Tensor, " batch"]:
    """``KL(N(mu_q, σ_q²) || N(mu_p, σ_p²))`` summed over the latent axis, in closed form:
    ``Σ log σ_p/σ_q + (σ_q² + (mu_q - mu_p)²) / (2σ_p²) - 1/2`` (what
    ``kl_divergence`` of two ``DiagNormal`` gives, without building them per step)."""
    var_ratio = (2 * (log_std_q - log_std_p)).exp()
    mean_term = (mu_q - mu_p).pow(2) * (-2 * log_std_p).exp()
    return (0.5 * (var_ratio + mean_term - 1) - (log_std_q - log_std_p)).sum(-1)


class CVAEPolicy(FlatPolicy, kind="cvae"):
    """A conditional-VAE policy for multimodal experts (see the module docstring).

    ``act()`` samples ``z`` from the prior and returns the decoder's mean action for it
    (the decoder's own noise is left out: it models the expert's jitter, not a choice).
    ``predict()`` must return *one* good action, and the action decoded at the prior
    mean is one only when the latent space happens to put a mode there -- on a 50/50
    expert a well-trained latent space puts the boundary between the modes there
    instead. So by default (``predict_with="mode"``) it decodes ``candidates`` latents
    (fixed quasi-random draws from the prior, the same every call) and returns the
    decoded action in the densest region; ``predict_with="prior_mean"`` decodes the
    prior mean, the textbook choice.

    Args:
        obs_dim: size of a (flat) observation.
        act_dim: size of an action.
        latent_dim: size of ``z``.
        hidden: hidden layer sizes of the encoder, prior and decoder MLPs.
        activation: one of :data:`~shapesafe.bc.ACTIVATIONS`.
        kl_weight: β, the weight of the KL term (1 is the ELBO).
        learned_prior: learn ``p(z|s)`` (an MLP, the default) or use the fixed
            ``N(0, I)``. With the fixed prior, nothing stops the encoder from putting the
            whole action into ``z`` and the decoder from ignoring the state; acting then
            samples actions from the wrong states (0% success on the Obstacle task after
            2000 steps, against 90% with the learned prior).
        decoder_std: ``None`` (default) learns one decoder std per action dimension (the
            reconstruction term is then a Gaussian NLL that balances itself against the
            KL); a number fixes it (the term is then MSE / (2 std²), the classic β-VAE).
        init_decoder_std: the learned std's initial value. Keep it small against the
            spread between the expert's modes: a decoder that starts wide explains two
            modes as noise, and the latent is never used ("posterior collapse").
        predict_with: ``"mode"`` or ``"prior_mean"`` (see above).
        candidates: how many latents ``predict_with="mode"`` decodes.
        goal_dim: size of a goal for a goal-conditioned policy (0: none); the encoder,
            prior and decoder then read ``cat(obs, goal)`` where they read ``obs``.

    Examples:
        >>> import torch
        >>> from shapesafe.bc import CVAEPolicy
        >>> policy = CVAEPolicy(obs_dim=3, act_dim=2, latent_dim=4)
        >>> policy.encode(torch.zeros(5, 3), torch.zeros(5, 2)).event_shape
        torch.Size([4])
        >>> policy.act(torch.zeros(5, 3)).shape
        (5, 2)
    """

    loss_name = "-ELBO"
    _predict_noise: Tensor

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        latent_dim: int = 2,
        hidden: Sequence[int] = (128, 128),
        activation: str = "relu",
        kl_weight: float = 1.0,
        learned_prior: bool = True,
        decoder_std: float | None = None,
        init_decoder_std: float = 0.1,
        predict_with: str = "mode",
        candidates: int = 32,
        goal_dim: int = 0,
    ) -> None:
        super().__init__(obs_dim, act_dim, hidden, activation, goal_dim)
        with add_context("CVAEPolicy"):
            self.latent_dim = positive_int(latent_dim, "latent_dim")
            self.kl_weight = real_number(kl_weight, "kl_weight", low=0.0, strict=False)
            self.decoder_std = (
                None if decoder_std is None else real_number(decoder_std, "decoder_std", low=0.0)
            )
            if predict_with not in PREDICT_WITH:
                raise UsageError(
                    f"`predict_with` must be one of {', '.join(map(repr, PREDICT_WITH))}, "
                    f"got {fmt_value(predict_with)}",
                    argument="predict_with",
                    expected=", ".join(PREDICT_WITH),
                    got=fmt_value(predict_with),
                )
            self.candidates = positive_int(candidates, "candidates")
            self.init_decoder_std = real_number(init_decoder_std, "init_decoder_std", low=0.0)
        self.learned_prior = bool(learned_prior)
        self.predict_with = predict_with
        latent, cond = self.latent_dim, self.in_dim  # cond: obs (+ goal)
        self.encoder = mlp(cond + self.act_dim, 2 * latent, self._hidden, activation)
        self.prior_net = (
            mlp(cond, 2 * latent, self._hidden, activation) if self.learned_prior else None
        )
        self.decoder = mlp(cond + latent, self.act_dim, self._hidden, activation)
        if self.decoder_std is None:
            self.log_std: nn.Parameter | None = nn.Parameter(
                torch.full((self.act_dim,), math.log(self.init_decoder_std))
            )
        else:
            self.register_parameter("log_std", None)
        # Fixed prior draws for predict_with="mode": a scrambled Sobol sequence mapped
        # through the normal quantile covers the prior evenly with few points.
        sobol = torch.quasirandom.SobolEngine(latent, scramble=True, seed=0)  # type: ignore[no-untyped-call]
        grid = sobol.draw(self.candidates).clamp(1e-4, 1 - 1e-4)
        self.register_buffer("_predict_noise", torch.special.ndtri(grid), persistent=False)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "kl_weight": self.kl_weight,
            "learned_prior": self.learned_prior,
            "decoder_std": self.decoder_std,
            "init_decoder_std": self.init_decoder_std,
            "predict_with": self.predict_with,
            "candidates": self.candidates,
        }

    # ---------------------------------------------------------------- the three networks

    def _check_obs_size(self, obs: Tensor, method: str) -> None:
        if STATE.enabled:
            self.check_obs(obs, method)

    # The private networks take ``cond``: the observation, or observation and goal side
    # by side for a goal-conditioned policy (``FlatPolicy._inputs``); the public methods
    # take ``obs`` (and ``goals``) and build it.

    @check
    def _posterior(
        self, cond: Float[Tensor, "batch cond"], act: Float[Tensor, "batch act"]
    ) -> tuple[Float[Tensor, "batch latent"], Float[Tensor, "batch latent"]]:
        out = self.encoder(torch.cat([cond, act], dim=-1))
        mu, log_std = out.chunk(2, dim=-1)
        return mu, log_std.clamp(_LOG_STD_MIN, _LOG_STD_MAX)

    @check
    def _prior(
        self, cond: Float[Tensor, "batch cond"]
    ) -> tuple[Float[Tensor, "batch latent"], Float[Tensor, "batch latent"]]:
        if self.prior_net is None:
            zeros = cond.new_zeros(cond.shape[0], self.latent_dim)
            return zeros, zeros
        mu, log_std = self.prior_net(cond).chunk(2, dim=-1)
        return mu, log_std.clamp(_LOG_STD_MIN, _LOG_STD_MAX)

    @check
    def _decode(
        self, cond: Float[Tensor, "batch cond"], z: Float[Tensor, "batch latent"]
    ) -> Float[Tensor, "batch act"]:
        out: Tensor = self.decoder(torch.cat([cond, z], dim=-1))
        return out

    @check
    def encode(
        self,
        obs: Float[Tensor, "batch obs"],
        act: Float[Tensor, "batch act"],
        goals: Float[Tensor, "batch goal"] | None = None,
    ) -> Dist[DiagNormal, "batch", "latent"]:
        """The approximate posterior ``q(z | s, a)``: batch ``(batch,)``, event ``(latent,)``."""
        self._check_obs_size(obs, "encode")
        mu, log_std = self._posterior(self._inputs(obs, goals, "encode"), act)
        return DiagNormal(mu, log_std.exp())

    @check
    def prior(
        self, obs: Float[Tensor, "batch obs"], goals: Float[Tensor, "batch goal"] | None = None
    ) -> Dist[DiagNormal, "batch", "latent"]:
        """The prior ``p(z | s)``: ``N(0, I)`` per row, or the learned one."""
        self._check_obs_size(obs, "prior")
        mu, log_std = self._prior(self._inputs(obs, goals, "prior"))
        return DiagNormal(mu, log_std.exp())

    @check
    def decode(
        self,
        obs: Float[Tensor, "batch obs"],
        z: Float[Tensor, "batch latent"],
        goals: Float[Tensor, "batch goal"] | None = None,
    ) -> Float[Tensor, "batch act"]:
        """The decoder's mean action ``f(s, z)``."""
        self._check_obs_size(obs, "decode")
        return self._decode(self._inputs(obs, goals, "decode"), z)

    def _decoder_log_std(self) -> Tensor:
        if self.log_std is None:
            assert self.decoder_std is not None
            return torch.full((self.act_dim,), math.log(self.decoder_std))
        return self.log_std.clamp(_LOG_STD_MIN, _LOG_STD_MAX)

    # ---------------------------------------------------------------- the policy interface

    def compute_loss(self, batch: Batch) -> LossOutput:
        """The negative β-ELBO with one reparameterised latent per row; metrics
        ``recon`` (the decoder's NLL of the action, summed over ``act``) and ``kl``
        (``KL(q || p)`` summed over ``latent``), both averaged over the batch."""
        cond, act = (
            self._inputs(batch.observations, self._batch_goals(batch), "loss"),
            batch.actions,
        )
        mu_q, log_std_q = self._posterior(cond, act)
        mu_p, log_std_p = self._prior(cond)
        z = mu_q + log_std_q.exp() * torch.randn_like(mu_q)
        mean = self._decode(cond, z)
        log_std = self._decoder_log_std().to(mean)
        # -log N(a; mean, σ²) = (a - mean)² / (2σ²) + log σ + log √(2π), summed over act
        nll = (act - mean).pow(2) / (2 * (2 * log_std).exp()) + log_std + _LOG_SQRT_2PI
        recon = nll.sum(-1).mean()
        kl = diag_gaussian_kl(mu_q, log_std_q, mu_p, log_std_p).mean()
        return LossOutput(recon + self.kl_weight * kl, {"recon": recon.detach(), "kl": kl.detach()})

    def forward(
        self, obs: Float[Tensor, "batch obs"], goals: Float[Tensor, "batch goal"] | None = None
    ) -> Float[Tensor, "batch act"]:
        """Same as :meth:`predict`."""
        return self.predict(obs, goals)

    def predict(
        self, obs: Float[Tensor, "batch obs"], goals: Float[Tensor, "batch goal"] | None = None
    ) -> Float[Tensor, "batch act"]:
        """One action per observation: the densest of ``candidates`` decoded prior draws
        (``predict_with="mode"``) or the action decoded at the prior mean."""
        self._check_obs_size(obs, "predict")
        cond = self._inputs(obs, goals, "predict")
        mu, log_std = self._prior(cond)
        if self.predict_with == "prior_mean":
            return self._decode(cond, mu)
        n, k, width = obs.shape[0], self.candidates, self.in_dim
        noise = self._predict_noise.to(mu)  # (K, latent)
        z = mu.unsqueeze(1) + log_std.exp().unsqueeze(1) * noise  # (batch, K, latent)
        flat_cond = cond.unsqueeze(1).expand(n, k, width).reshape(n * k, width)
        acts = self._decode(flat_cond, z.reshape(n * k, self.latent_dim))
        return densest(acts.reshape(n, k, self.act_dim))

    def _sample(self, obs: Tensor, goals: Tensor | None) -> Tensor:
        self._check_obs_size(obs, "act")
        cond = self._inputs(obs, goals, "act")
        mu, log_std = self._prior(cond)
        return self._decode(cond, mu + log_std.exp() * torch.randn_like(mu))

    def diagnostics(self) -> dict[str, float]:
        """``decoder_std_<i>`` per action dimension."""
        with torch.no_grad():
            std = self._decoder_log_std().exp().tolist()
        return {f"decoder_std_{i}": float(s) for i, s in enumerate(std)}
