"""What the generative policies (CVAE, diffusion) share: picking one mode out of samples
(what their ``predict`` returns) and the checks of their numeric options.

A multimodal policy has no single "most likely action" that a formula gives: the mean
of two modes is the bad action between them, and the decoder's output at the prior mean
(CVAE) or at zero noise (diffusion) lands between the modes exactly when the latent
space splits them symmetrically -- which a well-trained model on a 50/50 expert does.
The standard remedy is to draw a handful of candidates and return the one in the
densest region (a kernel density estimate over the candidates themselves): it is an
action the model actually produces, from its most populated mode.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from shapesafe import check
from shapesafe._format import fmt_value
from shapesafe.errors import UsageError

__all__ = ["densest", "real_number"]


def real_number(value: Any, name: str, *, low: float | None = None, strict: bool = True) -> float:
    """``value`` as a finite float above ``low`` (strictly unless ``strict=False``), or a
    :class:`UsageError` naming the argument (the caller adds the function)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    number = float(value) if ok else math.nan
    if (
        ok
        and math.isfinite(number)
        and (low is None or number > low or (not strict and number == low))
    ):
        return number
    kind = "a finite number" if low is None else f"a number {'>' if strict else '>='} {low:g}"
    raise UsageError(
        f"`{name}` must be {kind}, got {fmt_value(value)}",
        argument=name,
        expected=kind,
        got=fmt_value(value),
    )


@check
def densest(
    candidates: Float[Tensor, "batch K act"], bandwidth: float = 0.25
) -> Float[Tensor, "batch act"]:
    """The candidate of each row with the highest Gaussian-kernel density among that
    row's ``K`` candidates. The kernel width is ``bandwidth`` times the row's spread
    (root mean variance over the action axes), so the choice does not depend on the
    action units; rows whose candidates all agree return any of them."""
    spread = candidates.var(dim=1, unbiased=False).mean(-1).clamp(min=1e-12)  # (batch,)
    d2 = (candidates.unsqueeze(2) - candidates.unsqueeze(1)).pow(2).sum(-1)  # (batch, K, K)
    width2 = 2 * bandwidth**2 * spread.view(-1, 1, 1)
    score = (-d2 / width2).exp().sum(-1)  # (batch, K)
    best = score.argmax(-1)
    rows = torch.arange(candidates.shape[0], device=candidates.device)
    return candidates[rows, best]
