"""A diffusion policy: DDPM over actions, conditioned on the observation.

Training corrupts a demonstrated action with Gaussian noise at a random step ``t`` of a
``train_steps`` chain and teaches an MLP to undo it: to predict the clean action
(``prediction="sample"``, the default: for low-dimensional actions it learns the
state-to-action map much faster) or the noise ``eps_θ(x_t, t, s)`` (``"epsilon"``, the
DDPM "simple" loss). Either way :meth:`DiffusionPolicy.denoise` gives the noise, which
is what the sampler steps with. Acting runs the chain backwards from pure noise with a
few strided steps (DDIM, or strided DDPM); a bimodal expert gives a bimodal policy,
because each noise draw flows to one of the modes. The formulas live in
:mod:`._schedules`; actions are normalised to ``[-1, 1]`` by the data bounds, so the
sampler can clip its clean-action estimate to the data range.
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
from shapesafe._format import add_context, fmt_value
from shapesafe.bc._batch import Batch
from shapesafe.bc._data import Demonstrations
from shapesafe.bc.policies._generative import densest
from shapesafe.bc.policies._schedules import (
    SCHEDULES,
    betas_for,
    ddim_step,
    q_sample,
    strided_timesteps,
    timestep_embedding,
)
from shapesafe.bc.policies.base import LossOutput
from shapesafe.bc.policies.mlp import FlatPolicy, mlp, positive_int
from shapesafe.errors import UsageError

__all__ = ["PREDICTIONS", "SAMPLERS", "DiffusionPolicy"]

#: what the network outputs: the noise (DDPM's parameterisation), the clean action, or
#: the "velocity" v = sqrt(ab) eps - sqrt(1 - ab) x0 (Salimans & Ho 2022)
PREDICTIONS = ("epsilon", "sample", "v")
#: sampler name -> eta of the generalised DDIM step (0: deterministic, 1: DDPM posterior)
SAMPLERS = {"ddim": 0.0, "ddpm": 1.0}


def _choice(value: Any, name: str, options: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in options:
        raise UsageError(
            f"`{name}` must be one of {', '.join(map(repr, options))}, got {fmt_value(value)}",
            argument=name,
            expected=", ".join(options),
            got=fmt_value(value),
        )
    return value


def _bound(value: Any, name: str, act_dim: int) -> Tensor | None:
    """``low``/``high``: ``None``, one number for every action dimension, or one per
    dimension."""
    if value is None:
        return None
    try:
        t = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        t = torch.tensor(float("nan"))
    if t.ndim == 0:
        t = t.expand(act_dim)
    if t.shape != (act_dim,) or not bool(torch.isfinite(t).all()):
        raise UsageError(
            f"`{name}` must be a finite number or {act_dim} of them (one per action "
            f"dimension), got {fmt_value(value)}",
            argument=name,
            expected=f"a number or {act_dim} numbers",
            got=fmt_value(value),
        )
    return t.to(torch.float32)


class DiffusionPolicy(FlatPolicy, kind="diffusion"):
    """A denoising-diffusion policy over continuous actions (see the module docstring).

    ``act()`` runs the configured ``sampler`` from fresh noise (stochastic: a bimodal
    expert's modes are both visited). ``predict()`` is deterministic: it runs DDIM from
    ``candidates`` fixed noise draws (the same every call) and returns the result in
    the densest region, i.e. an action of the most populated mode -- DDIM from the
    single zero-noise point would flow to the boundary between two symmetric modes.
    ``inference_steps`` and ``sampler`` can be changed after training (plain
    attributes), e.g. to measure success as the number of steps shrinks.

    Actions are normalised to ``[-1, 1]`` by ``low``/``high`` and every sample is
    clipped to that range. Without ``low``/``high`` the bounds are learned from the data:
    the minimum and maximum of the training actions (``fit`` hands the data to
    :meth:`prepare_data` before the first step; a training batch beyond them widens
    them), kept in buffers saved in checkpoints. Pass ``low``/``high`` (e.g. the
    environment's action-space bounds) to fix them instead.

    Args:
        obs_dim: size of a (flat) observation.
        act_dim: size of an action.
        hidden: hidden layer sizes of the denoiser MLP.
        activation: one of :data:`~shapesafe.bc.ACTIVATIONS`.
        train_steps: length ``T`` of the noising chain.
        inference_steps: reverse steps per sample (``1 <= inference_steps <= T``).
        sampler: ``"ddpm"`` (strided ancestral sampling, eta = 1, the default) or
            ``"ddim"`` (deterministic given the noise, eta = 0). On the Obstacle task
            the ancestral sampler's fresh noise per step left fewer samples between the
            two modes: 84% / 74% success against DDIM's 78% / 63% (two seeds).
        schedule: ``"cosine"`` (default) or ``"linear"`` betas (see :func:`betas_for`).
        embed_dim: size of the sinusoidal timestep embedding.
        low: lower action bound (a number or one per dimension), or ``None``.
        high: upper action bound, or ``None``.
        candidates: how many fixed noise draws :meth:`predict` denoises.
        prediction: what the network predicts: ``"sample"``, the clean action;
            ``"epsilon"``, the noise (DDPM); or ``"v"``, ``sqrt(ab) eps - sqrt(1 - ab)
            x0`` (Salimans & Ho); the loss is the MSE of that prediction.
        goal_dim: size of a goal for a goal-conditioned policy (0: none); the denoiser
            then reads ``cat(obs, goal)`` beside the noisy action.

    Examples:
        >>> import torch
        >>> from shapesafe.bc import DiffusionPolicy
        >>> policy = DiffusionPolicy(obs_dim=3, act_dim=2, low=-1.0, high=1.0)
        >>> policy.sample(torch.zeros(5, 3)).shape
        torch.Size([5, 2])
        >>> policy.inference_steps = 5  # fewer steps after training
    """

    loss_name = "noise MSE"
    alpha_bar: Tensor
    time_table: Tensor
    act_low: Tensor
    act_high: Tensor
    _predict_noise: Tensor

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        hidden: Sequence[int] = (256, 256),
        activation: str = "relu",
        train_steps: int = 100,
        inference_steps: int = 10,
        sampler: str = "ddpm",
        schedule: str = "cosine",
        embed_dim: int = 32,
        low: float | Sequence[float] | None = None,
        high: float | Sequence[float] | None = None,
        candidates: int = 16,
        prediction: str = "sample",
        goal_dim: int = 0,
    ) -> None:
        super().__init__(obs_dim, act_dim, hidden, activation, goal_dim)
        with add_context("DiffusionPolicy"):
            self.train_steps = positive_int(train_steps, "train_steps")
            self.schedule = _choice(schedule, "schedule", SCHEDULES)
            self.embed_dim = positive_int(embed_dim, "embed_dim")
            self.candidates = positive_int(candidates, "candidates")
            self.prediction = _choice(prediction, "prediction", PREDICTIONS)
            lo, hi = _bound(low, "low", self.act_dim), _bound(high, "high", self.act_dim)
            if (lo is None) != (hi is None):
                raise UsageError(
                    "give both `low` and `high` (or neither, to learn them from the data)",
                    argument="low" if lo is None else "high",
                )
            if lo is not None and hi is not None and not bool((lo < hi).all()):
                raise UsageError(
                    f"`low` must be below `high` in every dimension, got low={low!r}, "
                    f"high={high!r}",
                    argument="high",
                    got=f"low={low!r}, high={high!r}",
                )
        self.inference_steps = inference_steps  # validated by the property
        self.sampler = sampler
        self._fixed_bounds = lo is not None
        self._low, self._high = low, high  # as given, for get_config
        self.denoiser = mlp(
            self.in_dim + self.act_dim + self.embed_dim, self.act_dim, self._hidden, activation
        )
        alpha_bar = torch.cumprod(1 - betas_for(self.schedule, self.train_steps), 0)
        self.register_buffer("alpha_bar", alpha_bar.to(torch.float32), persistent=False)
        # the sampler's copy, as Python floats: its per-step coefficients are host math
        self._alpha_bar_host: list[float] = alpha_bar.tolist()
        # every step's embedding, computed once: a step of the sampler indexes one row
        steps = torch.arange(self.train_steps)
        table = timestep_embedding(steps, self.embed_dim, self.train_steps)
        self.register_buffer("time_table", table, persistent=False)
        # +inf / -inf: no data seen yet (the bounds then default to [-1, 1])
        self.register_buffer("act_low", lo if lo is not None else torch.full((act_dim,), torch.inf))
        self.register_buffer(
            "act_high", hi if hi is not None else torch.full((act_dim,), -torch.inf)
        )
        g = torch.Generator().manual_seed(0)
        fixed = torch.randn(self.candidates, self.act_dim, generator=g)
        self.register_buffer("_predict_noise", fixed, persistent=False)

    # ------------------------------------------------------------- changeable after training

    @property
    def inference_steps(self) -> int:
        """Reverse steps per sample; set it to trade quality for speed."""
        return self._inference_steps

    @inference_steps.setter
    def inference_steps(self, value: int) -> None:
        with add_context("DiffusionPolicy", "inference_steps"):
            steps = positive_int(value, "inference_steps")
            if steps > self.train_steps:
                raise UsageError(
                    f"`inference_steps` must be at most train_steps={self.train_steps}, "
                    f"got {steps}",
                    argument="inference_steps",
                    expected=f"1..{self.train_steps}",
                    got=str(steps),
                )
        self._inference_steps = steps

    @property
    def sampler(self) -> str:
        """``"ddim"`` or ``"ddpm"``: what :meth:`act` and :meth:`sample` run."""
        return self._sampler

    @sampler.setter
    def sampler(self, value: str) -> None:
        with add_context("DiffusionPolicy", "sampler"):
            self._sampler = _choice(value, "sampler", tuple(SAMPLERS))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "train_steps": self.train_steps,
            "inference_steps": self.inference_steps,
            "sampler": self.sampler,
            "schedule": self.schedule,
            "embed_dim": self.embed_dim,
            "low": self._low,
            "high": self._high,
            "candidates": self.candidates,
            "prediction": self.prediction,
        }

    # ------------------------------------------------------------- normalisation

    def bounds(self) -> tuple[Tensor, Tensor]:
        """``(low, high)`` of the actions, each ``(act,)``: the fixed bounds, the data's
        so far, or ``[-1, 1]`` before any data."""
        unseen = self.act_low > self.act_high
        low = torch.where(unseen, -1.0, self.act_low)
        high = torch.where(unseen, 1.0, self.act_high)
        return low, high

    def _scale(self) -> tuple[Tensor, Tensor]:
        low, high = self.bounds()
        # a constant action dimension has zero width: keep it finite (it maps to -1)
        return low, ((high - low) / 2).clamp(min=1e-6)

    @check
    def normalize(self, actions: Float[Tensor, "batch act"]) -> Float[Tensor, "batch act"]:
        """Actions mapped to ``[-1, 1]`` by the bounds."""
        low, half = self._scale()
        return (actions - low) / half - 1

    @check
    def unnormalize(self, x: Float[Tensor, "batch act"]) -> Float[Tensor, "batch act"]:
        """The inverse of :meth:`normalize`."""
        low, half = self._scale()
        return (x + 1) * half + low

    # ------------------------------------------------------------- the denoiser and sampler

    @check
    def _network(
        self,
        x_t: Float[Tensor, "batch act"],
        t: Int[Tensor, " batch"],
        cond: Float[Tensor, "batch cond"],
    ) -> Float[Tensor, "batch act"]:
        """The MLP's raw output: the noise, or the clean action (``prediction``), given
        what it is conditioned on (the observation, and the goal: ``_inputs``)."""
        emb = self.time_table[t].to(x_t.dtype)
        out: Tensor = self.denoiser(torch.cat([cond, x_t, emb], dim=-1))
        return out

    @check
    def denoise(
        self,
        x_t: Float[Tensor, "batch act"],
        t: Int[Tensor, " batch"],
        obs: Float[Tensor, "batch obs"],
        goals: Float[Tensor, "batch goal"] | None = None,
    ) -> Float[Tensor, "batch act"]:
        """The predicted noise ``eps_θ(x_t, t, s)`` of normalised noisy actions ``x_t``
        (derived from the predicted clean action when ``prediction="sample"``)."""
        if STATE.enabled:
            self.check_obs(obs, "denoise")
        return self._noise(x_t, t, self._inputs(obs, goals, "denoise"))

    @check
    def _noise(
        self,
        x_t: Float[Tensor, "batch act"],
        t: Int[Tensor, " batch"],
        cond: Float[Tensor, "batch cond"],
    ) -> Float[Tensor, "batch act"]:
        out = self._network(x_t, t, cond)
        if self.prediction == "epsilon":
            return out
        ab = self.alpha_bar[t].unsqueeze(-1)
        if self.prediction == "v":
            return (1 - ab).sqrt() * x_t + ab.sqrt() * out
        return (x_t - ab.sqrt() * out) / (1 - ab).sqrt()

    @check
    def sample(
        self,
        obs: Float[Tensor, "batch obs"],
        goals: Float[Tensor, "batch goal"] | None = None,
        *,
        noise: Float[Tensor, "batch act"] | None = None,
        eta: float | None = None,
        generator: torch.Generator | None = None,
    ) -> Float[Tensor, "batch act"]:
        """Actions drawn by running ``inference_steps`` reverse steps from ``noise``
        (default: fresh standard normal noise), with the sampler's ``eta`` unless one is
        given; clipped to the bounds."""
        if STATE.enabled:
            self.check_obs(obs, "sample")
        goals = self._check_goals(goals, "sample")
        n = obs.shape[0]
        eta = SAMPLERS[self.sampler] if eta is None else eta
        if noise is None:
            noise = torch.randn(n, self.act_dim, generator=generator, device=obs.device)
        x = noise.to(obs.dtype)
        steps = strided_timesteps(self.train_steps, self.inference_steps)
        for i, t in enumerate(steps):
            last = i + 1 == len(steps)
            ab_prev = 1.0 if last else self._alpha_bar_host[steps[i + 1]]
            t_rows = torch.full((n,), t, dtype=torch.long, device=obs.device)
            eps = (
                self.denoise(x, t_rows, obs)
                if goals is None
                else self.denoise(x, t_rows, obs, goals)
            )
            z = None
            if eta > 0 and not last:
                z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = ddim_step(x, eps, self._alpha_bar_host[t], ab_prev, eta, z)
        low, high = self.bounds()
        # clamp again after the affine map: its rounding may step just outside
        return self.unnormalize(x.clamp(-1, 1)).clamp(low, high)

    # ------------------------------------------------------------- the policy interface

    def prepare_data(self, demos: Demonstrations) -> Demonstrations:
        """Learn the action bounds from the training data (``fit`` calls this once,
        before the first step), unless they are fixed or already learned (a trained or
        loaded policy keeps its own)."""
        if not self._fixed_bounds and bool((self.act_low > self.act_high).all()):
            act = demos.actions.to(self.act_low)
            with torch.no_grad():
                self.act_low.copy_(act.amin(0))
                self.act_high.copy_(act.amax(0))
        return demos

    def compute_loss(self, batch: Batch) -> LossOutput:
        """MSE of the network's prediction (noise, clean action or v, see
        ``prediction``) at uniformly drawn steps; metric
        ``x0_mse``: the error of the implied clean action (normalised units, clipped to
        ``[-1, 1]``), which unlike the noise MSE says how good the actions are."""
        obs, act = batch.observations, batch.actions
        if self.training and not self._fixed_bounds and torch.is_grad_enabled():
            # widen the bounds to a training batch outside them: a training loop of the
            # user's own, which never called prepare_data, still learns the data range
            with torch.no_grad():
                torch.minimum(self.act_low, act.amin(0), out=self.act_low)
                torch.maximum(self.act_high, act.amax(0), out=self.act_high)
        x0 = self.normalize(act)
        n = x0.shape[0]
        t = torch.randint(0, self.train_steps, (n,), device=x0.device)
        noise = torch.randn_like(x0)
        ab = self.alpha_bar[t]
        x_t = q_sample(x0, ab, noise)
        out = self._network(x_t, t, self._inputs(obs, self._batch_goals(batch), "loss"))
        if self.prediction == "epsilon":
            loss = F.mse_loss(out, noise)
            with torch.no_grad():
                ab1 = ab.unsqueeze(-1)
                x0_hat = ((x_t - (1 - ab1).sqrt() * out) / ab1.sqrt()).clamp(-1, 1)
        elif self.prediction == "v":
            ab1 = ab.unsqueeze(-1)
            loss = F.mse_loss(out, ab1.sqrt() * noise - (1 - ab1).sqrt() * x0)
            x0_hat = (ab1.sqrt() * x_t - (1 - ab1).sqrt() * out.detach()).clamp(-1, 1)
        else:
            loss = F.mse_loss(out, x0)
            x0_hat = out.detach().clamp(-1, 1)
        x0_mse = F.mse_loss(x0_hat, x0)
        return LossOutput(loss, {"x0_mse": x0_mse})

    def forward(
        self, obs: Float[Tensor, "batch obs"], goals: Float[Tensor, "batch goal"] | None = None
    ) -> Float[Tensor, "batch act"]:
        """Same as :meth:`predict`."""
        return self.predict(obs, goals)

    def predict(
        self, obs: Float[Tensor, "batch obs"], goals: Float[Tensor, "batch goal"] | None = None
    ) -> Float[Tensor, "batch act"]:
        """One deterministic action per observation: DDIM from ``candidates`` fixed
        noise draws, the densest result."""
        if STATE.enabled:
            self.check_obs(obs, "predict")
        goals = self._check_goals(goals, "predict")
        n, k = obs.shape[0], self.candidates
        noise = self._predict_noise.to(obs.dtype).repeat(n, 1)  # (n·K, act), row-major
        flat_obs = obs.repeat_interleave(k, dim=0)
        flat_goals = None if goals is None else goals.repeat_interleave(k, dim=0)
        acts = self.sample(flat_obs, flat_goals, noise=noise, eta=0.0)
        if k == 1:
            return acts
        return densest(acts.reshape(n, k, self.act_dim))

    def _sample(self, obs: Tensor, goals: Tensor | None) -> Tensor:
        return self.sample(obs, goals)
