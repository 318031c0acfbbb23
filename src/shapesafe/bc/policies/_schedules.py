"""The arithmetic of denoising diffusion (DDPM / DDIM) over action vectors.

Kept apart from the policy so that every formula can be tested against its textbook
form on its own: the beta schedules, the forward noising ``q(x_t | x_0)``, the
sinusoidal timestep embedding and one reverse step of the generalised DDIM sampler.

Notation (Ho et al. 2020; Song et al. 2021): ``beta_t`` is the noise added at step
``t``, ``alpha_bar_t = prod_{s<=t} (1 - beta_s)``, and

    x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps,   eps ~ N(0, I).

One reverse step from ``t`` to an earlier ``s`` (not necessarily ``t - 1``: strided
sampling skips steps) with the predicted noise ``eps``:

    x0_hat = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)
    x_s    = sqrt(ab_s) x0_hat + sqrt(1 - ab_s - sigma^2) eps + sigma z,
    sigma  = eta sqrt((1 - ab_s) / (1 - ab_t)) sqrt(1 - ab_t / ab_s).

``eta = 0`` is DDIM (deterministic); ``eta = 1`` is the DDPM posterior (for ``s = t-1``
exactly the ancestral DDPM step), which is what strided DDPM sampling uses. Every
helper is shape-checked per call and free of Python-side loops over dimensions, so the
sampling loop stays a short sequence of tensor ops (compileable).
"""

from __future__ import annotations

import math

import torch
from jaxtyping import Float, Int
from torch import Tensor

from shapesafe import check
from shapesafe._format import fmt_value
from shapesafe.errors import UsageError

__all__ = [
    "SCHEDULES",
    "betas_for",
    "ddim_step",
    "q_sample",
    "strided_timesteps",
    "timestep_embedding",
]

#: the beta schedules :func:`betas_for` knows
SCHEDULES = ("cosine", "linear")


def betas_for(schedule: str, steps: int) -> Float[Tensor, " steps"]:
    """The ``steps`` noise levels ``beta_t`` of a schedule, in float64.

    * ``"cosine"`` (Nichol & Dhariwal 2021): ``alpha_bar(t) = cos²((t/T + s)/(1 + s) ·
      π/2)`` with ``s = 0.008``, betas clipped at 0.999. It destroys information
      gradually, which suits few diffusion steps (the default).
    * ``"linear"`` (Ho et al. 2020): betas from ``1e-4`` to ``0.02``, rescaled by
      ``1000 / steps`` so that a short chain still ends near pure noise.
    """
    if schedule == "cosine":
        s = 0.008
        t = torch.arange(steps + 1, dtype=torch.float64) / steps
        f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        alpha_bar = f / f[0]
        return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)
    if schedule == "linear":
        scale = 1000 / steps
        return torch.linspace(1e-4 * scale, min(0.02 * scale, 0.999), steps, dtype=torch.float64)
    raise UsageError(
        f"unknown schedule {fmt_value(schedule)}; choose one of {', '.join(SCHEDULES)}",
        argument="schedule",
        expected=", ".join(SCHEDULES),
        got=fmt_value(schedule),
    )


def strided_timesteps(train_steps: int, inference_steps: int) -> list[int]:
    """The ``inference_steps`` timesteps a sampler visits, descending from
    ``train_steps - 1`` to ``0``, evenly spaced (the "trailing"/linspace spacing, which
    always starts at the noisiest step and ends at the cleanest)."""
    if inference_steps == 1:
        return [train_steps - 1]
    grid = torch.linspace(train_steps - 1, 0, inference_steps, dtype=torch.float64)
    return [round(float(v)) for v in grid]


@check
def q_sample(
    x0: Float[Tensor, "batch act"],
    alpha_bar: Float[Tensor, " batch"],
    noise: Float[Tensor, "batch act"],
) -> Float[Tensor, "batch act"]:
    """Forward noising: ``sqrt(ab) x0 + sqrt(1 - ab) noise``, one ``ab`` per row."""
    ab = alpha_bar.unsqueeze(-1)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


@check
def timestep_embedding(
    t: Int[Tensor, " batch"], dim: int, train_steps: int
) -> Float[Tensor, "batch embed"]:
    """The sinusoidal embedding of integer timesteps (Transformer positions, as in
    DDPM): ``[sin(τ ω_i), cos(τ ω_i)]`` with ``τ = 1000 t / train_steps`` (so chains of
    any length cover the same frequency band) and ``ω_i = 10000^(-i / (dim/2))``. An odd
    ``dim`` gets one zero column."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / max(half, 1))
    tau = t.to(torch.float32) * (1000.0 / train_steps)
    angles = tau.unsqueeze(-1) * freqs
    emb = torch.cat([angles.sin(), angles.cos()], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, emb.new_zeros(emb.shape[0], 1)], dim=-1)
    return emb


@check
def ddim_step(
    x_t: Float[Tensor, "batch act"],
    eps: Float[Tensor, "batch act"],
    ab_t: float,
    ab_prev: float,
    eta: float,
    noise: Float[Tensor, "batch act"] | None = None,
    clip: float | None = 1.0,
) -> Float[Tensor, "batch act"]:
    """One reverse step ``x_t -> x_s`` (see the module docstring). ``ab_prev = 1`` for
    the last step. With ``clip``, the predicted clean sample is clamped to
    ``[-clip, clip]`` (the data range after normalisation) and the noise re-derived from
    it, so the step stays consistent. The schedule values are Python floats: the
    coefficients are computed once on the host instead of as a dozen 0-d tensor ops
    per step (which dominated the time per action)."""
    a_t, s_t = math.sqrt(ab_t), math.sqrt(1 - ab_t)
    x0 = (x_t - s_t * eps) / a_t
    if clip is not None:
        x0 = x0.clamp(-clip, clip)
        eps = (x_t - a_t * x0) / s_t
    sigma = eta * math.sqrt(max(0.0, (1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)))
    out = math.sqrt(ab_prev) * x0 + math.sqrt(max(0.0, 1 - ab_prev - sigma**2)) * eps
    if noise is not None and sigma > 0:
        out = out + sigma * noise
    return out
