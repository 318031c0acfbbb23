"""Value constraints of distribution parameters, checked with messages that say where.

torch.distributions checks parameter values through ``arg_constraints`` and answers
"Expected parameter scale (Tensor of shape (64, 6)) ... to satisfy the constraint
GreaterThan(lower_bound=0.0), but found invalid values: tensor(...)" -- the whole tensor,
no index, no idea why. Each constraint here mirrors one of torch's (so the same values
pass and fail) and, when it fails, names the first bad entry and the likely cause.

Every check has a fast path of one reduction and one host sync, the same as torch's
``constraint.check(value).all()``: the slower search for the first bad entry runs only
once a check has failed. They are skipped while torch.compile traces (they need data),
exactly as torch skips its own validation under compile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from shapesafe._format import error, fmt_index
from shapesafe.distributions._shapes import first_bad
from shapesafe.errors import NonFiniteError, UsageError

NAN_HINT = (
    "NaN usually comes from upstream: check the network output and the loss for NaN/inf "
    "(torch.autograd.set_detect_anomaly(True) shows where it starts)"
)


def nan_error(fn: str, name: str, x: Tensor, nan: Tensor, what: str = "") -> NonFiniteError:
    where_ = f"{fmt_index(name, first_bad(nan))}"
    return error(
        NonFiniteError,
        f"{what}contains NaN: {int(nan.sum())} of {x.numel()} entries, first at {where_}",
        function=fn,
        argument=name,
        expected="no NaN",
        got=f"NaN at {where_}",
        hint=NAN_HINT,
    )


def _usage(fn: str, name: str, summary: str, expected: str, got: str, hint: str) -> UsageError:
    return error(
        UsageError, summary, function=fn, argument=name, expected=expected, got=got, hint=hint
    )


def bad_entries(
    fn: str, name: str, x: Tensor, bad: Tensor, summary: str, expected: str, hint: str
) -> UsageError:
    """``summary`` (with ``{count}``) about the ``bad`` entries of ``x``, naming the first
    one and its value."""
    idx = first_bad(bad)
    got = f"{fmt_index(name, idx)} = {float(x[idx]):.4g}"
    return _usage(
        fn,
        name,
        summary.format(count=f"{int(bad.sum())} of {x.numel()} entries"),
        expected,
        got,
        hint,
    )


@dataclass(frozen=True)
class Real:
    """torch's ``constraints.real``: no NaN (infinities are allowed)."""

    def check(self, fn: str, name: str, x: Tensor) -> None:
        # a sum without NaN proves there is none (one reduction, one sync)
        if x.numel() == 0 or not math.isnan(x.detach().sum().item()):
            return
        nan = torch.isnan(x)
        if bool(nan.any()):  # else the sum was inf - inf
            raise nan_error(fn, name, x, nan)


@dataclass(frozen=True)
class Positive:
    """torch's ``constraints.positive``: ``x > 0`` (NaN fails). ``what`` names the role."""

    what: str

    def check(self, fn: str, name: str, x: Tensor) -> None:
        # min() is NaN if any entry is, and NaN > 0 is False: one reduction covers both
        if x.numel() == 0 or x.detach().min().item() > 0:
            return
        nan = torch.isnan(x)
        if bool(nan.any()):
            raise nan_error(fn, name, x, nan, f"({self.what}) ")
        bad = ~(x > 0)
        idx = first_bad(bad)
        raise _usage(
            fn,
            name,
            f"({self.what}) must be positive, but {int(bad.sum())} of {x.numel()} entries are <= 0",
            "> 0",
            f"{fmt_index(name, idx)} = {float(x[idx]):.4g}",
            f"keep it positive by construction, e.g. {name}=log_std.exp() or "
            f"{name}=F.softplus(raw) + 1e-5",
        )


_LOGITS_HINT = "is this a network output? Those are logits: pass logits=... instead"


@dataclass(frozen=True)
class UnitInterval:
    """torch's ``constraints.unit_interval`` (Bernoulli ``probs``): ``0 <= p <= 1``."""

    def check(self, fn: str, name: str, x: Tensor) -> None:
        bad = ~((x >= 0) & (x <= 1))
        if bool(bad.any()):
            raise bad_entries(
                fn,
                name,
                x,
                bad,
                "must lie in [0, 1], but {count} do not",
                "0 <= p <= 1",
                _LOGITS_HINT,
            )


@dataclass(frozen=True)
class ProbabilityRows:
    """torch's ``constraints.simplex`` after normalization (Categorical ``probs``): every
    last-axis row non-negative with a positive, finite sum."""

    def check(self, fn: str, name: str, x: Tensor) -> None:
        total = x.sum(-1)
        ok = (x >= 0).all(-1) & (total > 0) & torch.isfinite(total)
        if bool(ok.all()):
            return
        nan = torch.isnan(x)
        if bool(nan.any()):
            raise nan_error(fn, name, x, nan)
        if bool((x < 0).any()):
            idx = first_bad(x < 0)
            raise _usage(
                fn,
                name,
                "has negative entries; probabilities must be >= 0",
                ">= 0",
                f"{fmt_index(name, idx)} = {float(x[idx]):.4g}",
                _LOGITS_HINT,
            )
        row = first_bad(~ok.reshape(x.shape[:-1]))
        raise _usage(
            fn,
            name,
            f"row {fmt_index(name, row)} cannot be normalized",
            "a positive, finite sum per row",
            f"sum {float(x[row].sum()):.4g}",
            "every row needs some positive, finite mass; masked rows need at least "
            "one allowed category",
        )


@dataclass(frozen=True)
class LogitRows:
    """torch's check of normalized logits (``logits - logsumexp``): no NaN, no ``+inf``,
    and not every entry of a row ``-inf`` (masking *some* actions with ``-inf`` is fine)."""

    def check(self, fn: str, name: str, x: Tensor) -> None:
        # logsumexp is finite exactly when a row normalizes to something without NaN
        if x.numel() == 0 or bool(torch.isfinite(x.detach().logsumexp(-1)).all()):
            return
        nan = torch.isnan(x)
        if bool(nan.any()):
            raise nan_error(fn, name, x, nan)
        lse = x.logsumexp(-1)
        row = first_bad(~torch.isfinite(lse).reshape(x.shape[:-1]))
        if bool((x[row] == math.inf).any()):
            raise _usage(
                fn,
                name,
                f"row {fmt_index(name, row)} contains +inf",
                "no +inf",
                "+inf",
                "clamp the logits, or mask with -inf (not +inf)",
            )
        raise _usage(
            fn,
            name,
            f"every entry of row {fmt_index(name, row)} is -inf, so no category has any "
            f"probability",
            "at least one finite logit per row",
            "all -inf",
            "an action mask must leave at least one action allowed in every row",
        )


@dataclass(frozen=True)
class LegalRows:
    """An action mask (``True`` = legal): every last-axis row allows at least one action.
    A row of all ``False`` would leave no probability anywhere (NaN after normalizing)."""

    def check(self, fn: str, name: str, x: Tensor) -> None:
        if x.numel() == 0 or bool(x.any(-1).all()):
            return
        row = first_bad(~x.any(-1))
        raise _usage(
            fn,
            name,
            f"row {fmt_index(name, row)} allows no action (every entry is False)",
            "at least one True (legal action) per row",
            "all False",
            "every state needs at least one legal action: check how the mask is built "
            "(True = legal, False = illegal)",
        )


def check_legal_mass(
    fn: str, name: str, masked: Tensor, *, logits: bool, mask_name: str = "mask"
) -> None:
    """Every row of ``masked`` (logits with masked entries at -inf, or probabilities with
    them at 0) keeps some mass on a legal action: a mask may allow only actions that the
    parameter itself rules out."""
    if masked.numel() == 0:
        return
    ok = masked.logsumexp(-1) > -math.inf if logits else masked.sum(-1) > 0
    if bool(ok.all()):
        return
    row = first_bad(~ok.reshape(masked.shape[:-1]))
    raise _usage(
        fn,
        name,
        f"row {fmt_index(name, row)} gives no probability to any legal action "
        f"(those where {fmt_index(mask_name, row)} is True)",
        "some probability on a legal action in every row",
        f"every legal entry of {fmt_index(name, row)} is {'-inf' if logits else '0'}",
        f"`{name}` and `{mask_name}` disagree: build both from the same state (True = legal)",
    )


@dataclass(frozen=True)
class PositiveDefinite:
    """torch's ``constraints.positive_definite`` (covariance and precision matrices)."""

    def check(self, fn: str, name: str, m: Tensor) -> None:
        batch = m.shape[:-2]
        sym = torch.isclose(m, m.mT, atol=1e-6).all(-2).all(-1)
        info = torch.linalg.cholesky_ex(m).info
        if bool(sym.all()) and not bool((info != 0).any()):
            return
        if not bool(sym.all()):
            idx = first_bad((~sym).reshape(batch))
            gap = float((m[idx] - m[idx].mT).abs().max())
            raise _usage(
                fn,
                name,
                f"{fmt_index(name, idx)} is not symmetric (max |M - M.T| = {gap:.3g})",
                "symmetric matrices",
                f"max |M - M.T| = {gap:.3g}",
                f"symmetrize it with ({name} + {name}.mT) / 2",
            )
        idx = first_bad((info != 0).reshape(batch))
        low = float(torch.linalg.eigvalsh(m[idx]).min())
        raise _usage(
            fn,
            name,
            f"{fmt_index(name, idx)} is not positive definite",
            "eigenvalues > 0",
            f"smallest eigenvalue {low:.4g}",
            "build it as L @ L.mT + eps * I, or pass scale_tril= (a lower-triangular "
            "L with positive diagonal) instead",
        )


@dataclass(frozen=True)
class LowerCholesky:
    """torch's ``constraints.lower_cholesky`` (``scale_tril``)."""

    def check(self, fn: str, name: str, m: Tensor) -> None:
        batch = m.shape[:-2]
        upper = (m.triu(1) != 0).flatten(-2).any(-1)
        diag = m.diagonal(dim1=-2, dim2=-1)
        bad_diag = ~(diag > 0).all(-1)
        if not bool((upper | bad_diag).any()):
            return
        if bool(upper.any()):
            idx = first_bad(upper.reshape(batch))
            raise _usage(
                fn,
                name,
                f"{fmt_index(name, idx)} has nonzero entries above the diagonal",
                "lower-triangular matrices",
                "nonzero entries above the diagonal",
                "use torch.tril(...), or torch.linalg.cholesky(cov) of a covariance",
            )
        idx = first_bad(bad_diag.reshape(batch))
        shown = [round(float(v), 4) for v in diag[idx]]
        raise _usage(
            fn,
            name,
            f"{fmt_index(name, idx)} has a diagonal entry <= 0",
            "a positive diagonal",
            f"diagonal {shown}",
            "make it positive by construction, e.g. exp() or softplus() of the raw diagonal",
        )


Constraint = (
    Real
    | Positive
    | UnitInterval
    | ProbabilityRows
    | LogitRows
    | LegalRows
    | PositiveDefinite
    | LowerCholesky
)
