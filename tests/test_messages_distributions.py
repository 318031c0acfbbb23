"""The full wording of every shapesafe.distributions message, in one place.

Other tests assert the structured fields and one fragment; rewording a message means
editing its text here (and nowhere else)."""

from __future__ import annotations

import math
import typing

import pytest
import torch
import torch.distributions as td

from shapesafe.distributions import (
    Bernoulli,
    Categorical,
    DiagNormal,
    Dist,
    GaussianMixture,
    MultivariateNormal,
    Normal,
    TanhNormal,
)
from shapesafe.errors import ShapesafeError
from shapesafe.testing import covariance_matrices, probability_vectors, scales

E = torch.zeros

MESSAGES = [
    (
        "strategy_range",
        lambda: scales(3, min_value=0.0, max_value=1.0),
        "scales(): argument `min_value`: need 0 < min_value <= max_value, got 0.0 and 1.0\n"
        "  expected: 0 < min_value <= max_value\n"
        "  got: 0.0 and 1.0",
    ),
    (
        "strategy_jitter",
        lambda: covariance_matrices((), 2, jitter=0),
        "covariance_matrices(): argument `jitter`: jitter must be > 0, got 0\n"
        "  expected: > 0\n"
        "  got: 0",
    ),
    (
        "strategy_categories",
        lambda: probability_vectors(()),
        "probability_vectors(): argument `shape`: shape () needs a last axis (the categories) "
        "of size >= 1\n  expected: (*batch, K) with K >= 1\n  got: ()",
    ),
    (
        "normal_trailing_one",
        lambda: Normal(E(64), torch.ones(64)).log_prob(E((64, 1))),
        "Normal.log_prob(): argument `value` axis 1: expected size 64 (batch axis 0), got 1\n  expected: (*sample_shape, 64)\n  got: (64, 1)\n  = sample_shape + batch_shape (64,) + event_shape ()\n  (plain torch.distributions would not raise: it would broadcast and return a log_prob of shape (64, 64))\n  hint: `value` has a trailing axis of size 1: actions of shape (B, 1) for a scalar-event distribution? Use value.squeeze(-1).",
    ),
    (
        "categorical_trailing_one",
        lambda: Categorical(logits=E((64, 4))).log_prob(torch.zeros(64, 1, dtype=torch.long)),
        "Categorical.log_prob(): argument `value` axis 1: expected size 64 (batch axis 0), got 1\n  expected: (*sample_shape, 64)\n  got: (64, 1)\n  = sample_shape + batch_shape (64,) + event_shape ()\n  (plain torch.distributions would not raise: it would broadcast and return a log_prob of shape (64, 64))\n  hint: `value` has a trailing axis of size 1: actions of shape (B, 1) for a scalar-event distribution? Use value.squeeze(-1).",
    ),
    (
        "diag_missing_event",
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E(64)),
        "DiagNormal.log_prob(): argument `value`: has 1 axis (64,), but this DiagNormal needs at least 2 (batch_shape + event_shape)\n  expected: (*sample_shape, 64, 6)\n  got: (64,)\n  = sample_shape + batch_shape (64,) + event_shape (6,)\n  hint: `value` lacks the event axes (6,): a DiagNormal scores whole vectors of shape (6,), one per batch element. For independent per-coordinate log-probs use shapesafe.distributions.Normal instead.",
    ),
    (
        "diag_extra_one",
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E((64, 6, 1))),
        "DiagNormal.log_prob(): argument `value` axis 2: expected size 6 (event axis 0), got 1\n  expected: (*sample_shape, 64, 6)\n  got: (64, 6, 1)\n  = sample_shape + batch_shape (64,) + event_shape (6,)\n  hint: `value` has an extra trailing axis of size 1; use value.squeeze(-1).",
    ),
    (
        "diag_event_only",
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E(6)),
        "DiagNormal.log_prob(): argument `value`: has 1 axis (6,), but this DiagNormal needs at least 2 (batch_shape + event_shape)\n  expected: (*sample_shape, 64, 6)\n  got: (6,)\n  = sample_shape + batch_shape (64,) + event_shape (6,)\n  (plain torch.distributions would not raise: it would broadcast and return a log_prob of shape (64,))\n  hint: `value` has only the event shape (6,): to score the same value under every distribution in the batch, use value.expand(64, 6).",
    ),
    (
        "diag_transposed",
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E((6, 64))),
        "DiagNormal.log_prob(): argument `value` axis 1: expected size 6 (event axis 0), got 64\n  expected: (*sample_shape, 64, 6)\n  got: (6, 64)\n  = sample_shape + batch_shape (64,) + event_shape (6,)\n  hint: the trailing axes of `value` have the right sizes in a different order: transposed? (value.mT, value.permute(...))",
    ),
    (
        "diag_sample_axis",
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E((64, 5, 6))),
        "DiagNormal.log_prob(): argument `value` axis 1: expected size 64 (batch axis 0), got 5\n  expected: (*sample_shape, 64, 6)\n  got: (64, 5, 6)\n  = sample_shape + batch_shape (64,) + event_shape (6,)\n  hint: axis 1 of `value` looks like a sample axis, but sample axes must come first: value.movedim(1, 0).",
    ),
    (
        "diag_batch_differs",
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E((32, 6))),
        "DiagNormal.log_prob(): argument `value` axis 0: expected size 64 (batch axis 0), got 32\n  expected: (*sample_shape, 64, 6)\n  got: (32, 6)\n  = sample_shape + batch_shape (64,) + event_shape (6,)\n  hint: the batch sizes differ: the distribution has batch_shape (64,), `value` has (32,) there. Were the parameters and the value taken from different minibatches (e.g. a smaller last minibatch)?",
    ),
    (
        "diag_event_differs",
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E((64, 4))),
        "DiagNormal.log_prob(): argument `value` axis 1: expected size 6 (event axis 0), got 4\n  expected: (*sample_shape, 64, 6)\n  got: (64, 4)\n  = sample_shape + batch_shape (64,) + event_shape (6,)\n  hint: the event sizes differ: one draw of this DiagNormal has shape (6,), `value` ends in (4,); check the action dimension (env.action_space.shape).",
    ),
    (
        "diag_no_hint",
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E((32, 4))),
        "DiagNormal.log_prob(): argument `value` axis 1: expected size 6 (event axis 0), got 4\n  expected: (*sample_shape, 64, 6)\n  got: (32, 4)\n  = sample_shape + batch_shape (64,) + event_shape (6,)",
    ),
    (
        "diag_event_one_missing",
        lambda: DiagNormal(E((8, 1)), torch.ones(8, 1)).log_prob(E(8)),
        "DiagNormal.log_prob(): argument `value`: has 1 axis (8,), but this DiagNormal needs at least 2 (batch_shape + event_shape)\n  expected: (*sample_shape, 8, 1)\n  got: (8,)\n  = sample_shape + batch_shape (8,) + event_shape (1,)\n  (plain torch.distributions would not raise: it would broadcast and return a log_prob of shape (8,))\n  hint: `value` lacks the event axis of size 1; use value.unsqueeze(-1).",
    ),
    (
        "categorical_one_hot",
        lambda: Categorical(logits=E((64, 4))).log_prob(torch.zeros(64, 4, dtype=torch.long)),
        "Categorical.log_prob(): argument `value` axis 1: expected size 64 (batch axis 0), got 4\n  expected: (*sample_shape, 64)\n  got: (64, 4)\n  = sample_shape + batch_shape (64,) + event_shape ()\n  hint: `value` looks one-hot (its last axis has size 4, the number of categories); Categorical scores class indices: value.argmax(-1)",
    ),
    (
        "categorical_float_value",
        lambda: Categorical(logits=E((64, 4))).log_prob(E(64)),
        "Categorical.log_prob(): argument `value`: has dtype float32; expected integer class indices\n  expected: integer class indices\n  got: float32\n  hint: value.long() (torch would truncate floats silently: 0.999 -> 0)",
    ),
    (
        "categorical_out_of_support",
        lambda: Categorical(logits=E((64, 4))).log_prob(torch.full((64,), 5)),
        "Categorical.log_prob(): argument `value`: has 64 of 64 entries outside the support IntegerInterval(lower_bound=0, upper_bound=3) of the distribution\n  expected: IntegerInterval(lower_bound=0, upper_bound=3)\n  got: value[0] = 5\n  hint: class indices must lie in [0, 3]",
    ),
    (
        "bernoulli_int_value",
        lambda: Bernoulli(logits=E(8)).log_prob(torch.zeros(8, dtype=torch.long)),
        "Bernoulli.log_prob(): argument `value`: has dtype int64; expected floats 0.0/1.0\n  expected: floats 0.0/1.0\n  got: int64\n  hint: value.float()",
    ),
    (
        "bernoulli_half",
        lambda: Bernoulli(logits=E(8)).log_prob(torch.full((8,), 0.5)),
        "Bernoulli.log_prob(): argument `value`: has 8 of 8 entries outside the support Boolean() of the distribution\n  expected: Boolean()\n  got: value[0] = 0.5\n  hint: Bernoulli values are 0.0 or 1.0",
    ),
    (
        "diag_nan_value",
        lambda: DiagNormal(E((2, 2)), torch.ones(2, 2)).log_prob(
            torch.tensor([[0.0, 0.0], [math.nan, 0.0]])
        ),
        "DiagNormal.log_prob(): argument `value`: has 1 of 2 entries outside the support IndependentConstraint(Real(), 1) of the distribution\n  expected: IndependentConstraint(Real(), 1)\n  got: value[1] = [nan, 0.0]\n  hint: NaN usually comes from upstream: check the network output and the loss for NaN/inf (torch.autograd.set_detect_anomaly(True) shows where it starts)",
    ),
    (
        "tanh_outside",
        lambda: TanhNormal(E(2), torch.ones(2)).log_prob(torch.tensor([0.5, 2.0])),
        "TanhNormal.log_prob(): argument `value`: has 1 of 1 entries outside the support IndependentConstraint(Interval(lower_bound=-1.0, upper_bound=1.0), 1) of the distribution\n  expected: IndependentConstraint(Interval(lower_bound=-1.0, upper_bound=1.0), 1)\n  got: value = [0.5, 2.0]\n  hint: a TanhNormal's values lie in [-1, 1]; rescale actions from the environment's bounds first: a = 2 * (a - low) / (high - low) - 1",
    ),
    (
        "value_not_tensor",
        lambda: Normal(0.0, 1.0).log_prob(0.5),
        "Normal.log_prob(): argument `value`: must be a torch.Tensor, got the float 0.5\n  expected: torch.Tensor\n  got: float\n  hint: torch.as_tensor(value)",
    ),
    (
        "cdf",
        lambda: Normal(E(5), torch.ones(5)).cdf(E((5, 1))),
        "Normal.cdf(): argument `value` axis 1: expected size 5 (batch axis 0), got 1\n  expected: (*sample_shape, 5)\n  got: (5, 1)\n  = sample_shape + batch_shape (5,) + event_shape ()\n  hint: `value` has a trailing axis of size 1: actions of shape (B, 1) for a scalar-event distribution? Use value.squeeze(-1).",
    ),
    (
        "icdf",
        lambda: Normal(E(5), torch.ones(5)).icdf(torch.full((4,), 0.5)),
        "Normal.icdf(): argument `value` axis 0: expected size 5 (batch axis 0), got 4\n  expected: (*sample_shape, 5)\n  got: (4,)\n  = sample_shape + batch_shape (5,) + event_shape ()\n  hint: the batch sizes differ: the distribution has batch_shape (5,), `value` has (4,) there. Were the parameters and the value taken from different minibatches (e.g. a smaller last minibatch)?",
    ),
    (
        "expanded",
        lambda: DiagNormal(E((3, 2)), torch.ones(3, 2)).expand((4, 3)).log_prob(E((3, 2))),
        "DiagNormal.log_prob(): argument `value`: has 2 axes (3, 2), but this DiagNormal needs at least 3 (batch_shape + event_shape)\n  expected: (*sample_shape, 4, 3, 2)\n  got: (3, 2)\n  = sample_shape + batch_shape (4, 3) + event_shape (2,)\n  (plain torch.distributions would not raise: it would broadcast and return a log_prob of shape (4, 3))",
    ),
    (
        "scale_shared",
        lambda: DiagNormal(E((64, 6)), torch.ones(6)),
        "DiagNormal(): argument `scale`: has shape (6,) but `loc` has shape (64, 6); they must be equal (shapesafe does not broadcast parameters unless asked)\n  expected: (64, 6)\n  got: (6,)\n  hint: one `scale` shared across the leading axes? pass broadcast=True (or scale.expand(64, 6) yourself)",
    ),
    (
        "tanh_scale_shared",
        lambda: TanhNormal(E((64, 6)), torch.ones(6)),
        "TanhNormal(): argument `scale`: has shape (6,) but `loc` has shape (64, 6); they must be equal (shapesafe does not broadcast parameters unless asked)\n  expected: (64, 6)\n  got: (6,)\n  hint: one `scale` shared across the leading axes? pass broadcast=True (or scale.expand(64, 6) yourself)",
    ),
    (
        "stray_axis",
        lambda: DiagNormal(E((64, 1)), torch.ones(64)),
        "DiagNormal(): argument `scale`: has shape (64,) but `loc` has shape (64, 1); they must be equal (shapesafe does not broadcast parameters unless asked)\n  expected: (64, 1)\n  got: (64,)\n  hint: together they would broadcast to (64, 64), larger than either, which is almost never intended: look for a stray axis of size 1 (e.g. .squeeze(-1))",
    ),
    (
        "scale_would_broadcast",
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 1)),
        "DiagNormal(): argument `scale`: has shape (64, 1) but `loc` has shape (64, 6); they must be equal (shapesafe does not broadcast parameters unless asked)\n  expected: (64, 6)\n  got: (64, 1)\n  hint: `scale` would be broadcast to (64, 6); if that is intended pass broadcast=True (or scale.expand(64, 6))",
    ),
    (
        "loc_would_broadcast",
        lambda: DiagNormal(E(6), torch.ones(64, 6)),
        "DiagNormal(): argument `scale`: has shape (64, 6) but `loc` has shape (6,); they must be equal (shapesafe does not broadcast parameters unless asked)\n  expected: (6,)\n  got: (64, 6)\n  hint: `loc` would be broadcast to (64, 6); if that is intended pass broadcast=True (or loc.expand(64, 6))",
    ),
    (
        "cannot_broadcast",
        lambda: DiagNormal(E(3), torch.ones(4)),
        "DiagNormal(): argument `scale`: has shape (4,) but `loc` has shape (3,); they must be equal (shapesafe does not broadcast parameters unless asked)\n  expected: (3,)\n  got: (4,)\n  hint: these shapes cannot be broadcast together either; check which tensor `scale` was computed from",
    ),
    (
        "diag_scalars",
        lambda: DiagNormal(0.0, 1.0),
        "DiagNormal(): argument `loc`: `loc` and `scale` have shape (), but a DiagNormal needs at least 1 axis: the event axis, last\n  expected: (*batch, dim)\n  got: ()\n  hint: for a distribution over single numbers use shapesafe.distributions.Normal; for vectors pass loc of shape (*batch, dim)",
    ),
    (
        "int_loc",
        lambda: Normal(torch.zeros(3, dtype=torch.long), torch.ones(3)),
        "Normal(): argument `loc`: has dtype int64; expected a floating-point tensor\n  expected: a floating-point tensor\n  got: int64\n  hint: convert it with loc.float()",
    ),
    (
        "list_loc",
        lambda: Normal([0.0], 1.0),
        "Normal(): argument `loc`: must be a torch.Tensor or a Python number, got a list of 1 item\n  expected: a torch.Tensor or a Python number\n  got: list\n  hint: torch.as_tensor(loc, dtype=torch.float32)",
    ),
    (
        "negative_scale",
        lambda: Normal(E(3), torch.tensor([1.0, -2.0, 1.0])),
        "Normal(): argument `scale`: (a standard deviation) must be positive, but 1 of 3 entries are <= 0\n  expected: > 0\n  got: scale[1] = -2\n  hint: keep it positive by construction, e.g. scale=log_std.exp() or scale=F.softplus(raw) + 1e-5",
    ),
    (
        "nan_scale",
        lambda: Normal(E(3), torch.tensor([1.0, math.nan, 1.0])),
        "Normal(): argument `scale`: (a standard deviation) contains NaN: 1 of 3 entries, first at scale[1]\n  expected: no NaN\n  got: NaN at scale[1]\n  hint: NaN usually comes from upstream: check the network output and the loss for NaN/inf (torch.autograd.set_detect_anomaly(True) shows where it starts)",
    ),
    (
        "nan_loc",
        lambda: DiagNormal(torch.tensor([[0.0, math.nan]]), torch.ones(1, 2)),
        "DiagNormal(): argument `loc`: contains NaN: 1 of 2 entries, first at loc[0, 1]\n  expected: no NaN\n  got: NaN at loc[0, 1]\n  hint: NaN usually comes from upstream: check the network output and the loss for NaN/inf (torch.autograd.set_detect_anomaly(True) shows where it starts)",
    ),
    (
        "mvn_loc_shared",
        lambda: MultivariateNormal(E(2), torch.eye(2).expand(3, 2, 2)),
        "MultivariateNormal(): argument `covariance_matrix`: has batch shape (3,) but `loc` has batch shape (); they must be equal (shapesafe does not broadcast parameters unless asked)\n  expected: ()\n  got: (3,)\n  hint: `loc` would be broadcast to (3,); if that is intended pass broadcast=True (or loc.expand(3, 2))",
    ),
    (
        "mvn_none",
        lambda: MultivariateNormal(E(2)),
        "MultivariateNormal(): argument `covariance_matrix`: pass exactly one of covariance_matrix=, precision_matrix=, scale_tril= (got neither)\n  expected: exactly one of covariance_matrix=, precision_matrix=, scale_tril=\n  got: neither",
    ),
    (
        "mvn_two",
        lambda: MultivariateNormal(E(2), torch.eye(2), scale_tril=torch.eye(2)),
        "MultivariateNormal(): argument `scale_tril`: pass exactly one of covariance_matrix=, precision_matrix=, scale_tril= (got covariance_matrix, scale_tril)\n  expected: exactly one of covariance_matrix=, precision_matrix=, scale_tril=\n  got: covariance_matrix, scale_tril",
    ),
    (
        "mvn_scalar_loc",
        lambda: MultivariateNormal(torch.tensor(0.0), torch.eye(1)),
        "MultivariateNormal(): argument `loc`: has shape (); expected (*batch, D)\n  expected: (*batch, D)\n  got: ()\n  hint: for a Gaussian over single numbers use shapesafe.distributions.Normal",
    ),
    (
        "mvn_not_square",
        lambda: MultivariateNormal(E(2), torch.ones(2, 3)),
        "MultivariateNormal(): argument `covariance_matrix` axis 1 ('D'): expected D=2 (from `loc` axis 0, shape (2,)), got 3 in shape (2, 3)\n  expected: D=2\n  got: D=3\n  hint: `loc` is (*batch, D) and `covariance_matrix` is (*batch, D, D)",
    ),
    (
        "mvn_vector_cov",
        lambda: MultivariateNormal(E(2), torch.ones(2)),
        "MultivariateNormal(): argument `covariance_matrix`: has shape (2,); expected (*batch, D, D)\n  expected: (*batch, D, D)\n  got: (2,)\n  hint: for a diagonal covariance use torch.diag_embed(covariance_matrix)",
    ),
    (
        "mvn_wrong_size",
        lambda: MultivariateNormal(E(2), scale_tril=torch.eye(3)),
        "MultivariateNormal(): argument `scale_tril` axis 0 ('D'): expected D=2 (from `loc` axis 0, shape (2,)), got 3 in shape (3, 3)\n  expected: D=2\n  got: D=3\n  hint: `loc` is (*batch, D) and `scale_tril` is (*batch, D, D)",
    ),
    (
        "mvn_list",
        lambda: MultivariateNormal([0.0, 0.0], torch.eye(2)),
        "MultivariateNormal(): argument `loc`: must be a torch.Tensor, got a list of 2 items\n  expected: a torch.Tensor\n  got: list\n  hint: torch.as_tensor(loc, dtype=torch.float32)",
    ),
    (
        "mvn_not_symmetric",
        lambda: MultivariateNormal(
            E((2, 2)), torch.stack([torch.eye(2), torch.tensor([[1.0, 0.5], [0.0, 1.0]])])
        ),
        "MultivariateNormal(): argument `covariance_matrix`: covariance_matrix[1] is not symmetric (max |M - M.T| = 0.5)\n  expected: symmetric matrices\n  got: max |M - M.T| = 0.5\n  hint: symmetrize it with (covariance_matrix + covariance_matrix.mT) / 2",
    ),
    (
        "mvn_not_pd",
        lambda: MultivariateNormal(E(2), precision_matrix=torch.tensor([[1.0, 0.0], [0.0, -1.0]])),
        "MultivariateNormal(): argument `precision_matrix`: precision_matrix is not positive definite\n  expected: eigenvalues > 0\n  got: smallest eigenvalue -1\n  hint: build it as L @ L.mT + eps * I, or pass scale_tril= (a lower-triangular L with positive diagonal) instead",
    ),
    (
        "mvn_tril_upper",
        lambda: MultivariateNormal(E((1, 2)), scale_tril=torch.ones(1, 2, 2)),
        "MultivariateNormal(): argument `scale_tril`: scale_tril[0] has nonzero entries above the diagonal\n  expected: lower-triangular matrices\n  got: nonzero entries above the diagonal\n  hint: use torch.tril(...), or torch.linalg.cholesky(cov) of a covariance",
    ),
    (
        "mvn_tril_diag",
        lambda: MultivariateNormal(E(2), scale_tril=torch.tensor([[1.0, 0.0], [0.5, -1.0]])),
        "MultivariateNormal(): argument `scale_tril`: scale_tril has a diagonal entry <= 0\n  expected: a positive diagonal\n  got: diagonal [1.0, -1.0]\n  hint: make it positive by construction, e.g. exp() or softplus() of the raw diagonal",
    ),
    (
        "mvn_nan_loc",
        lambda: MultivariateNormal(torch.tensor([math.nan, 0.0]), torch.eye(2)),
        "MultivariateNormal(): argument `loc`: contains NaN: 1 of 2 entries, first at loc[0]\n  expected: no NaN\n  got: NaN at loc[0]\n  hint: NaN usually comes from upstream: check the network output and the loss for NaN/inf (torch.autograd.set_detect_anomaly(True) shows where it starts)",
    ),
    (
        "cat_both",
        lambda: Categorical(torch.ones(3), torch.ones(3)),
        "Categorical(): argument `logits`: pass exactly one of probs= or logits= (got both)\n  expected: exactly one of probs= or logits=\n  got: both\n  hint: a network's raw output is logits: Categorical(logits=net(obs))",
    ),
    (
        "cat_neither",
        lambda: Categorical(),
        "Categorical(): argument `probs`: pass exactly one of probs= or logits= (got neither)\n  expected: exactly one of probs= or logits=\n  got: neither\n  hint: a network's raw output is logits: Categorical(logits=net(obs))",
    ),
    (
        "cat_scalar",
        lambda: Categorical(logits=torch.tensor(0.0)),
        "Categorical(): argument `logits`: has shape (); expected (*batch, K)\n  expected: (*batch, K)\n  got: ()\n  hint: for a yes/no variable use Bernoulli",
    ),
    (
        "cat_int_logits",
        lambda: Categorical(logits=torch.zeros(3, dtype=torch.long)),
        "Categorical(): argument `logits`: has dtype int64; expected a floating-point tensor\n  expected: a floating-point tensor\n  got: int64\n  hint: convert it with logits.float()",
    ),
    (
        "cat_negative_probs",
        lambda: Categorical(torch.tensor([[0.5, -0.5, 1.0]])),
        "Categorical(): argument `probs`: has negative entries; probabilities must be >= 0\n  expected: >= 0\n  got: probs[0, 1] = -0.5\n  hint: is this a network output? Those are logits: pass logits=... instead",
    ),
    (
        "cat_nan_probs",
        lambda: Categorical(torch.tensor([0.5, math.nan])),
        "Categorical(): argument `probs`: contains NaN: 1 of 2 entries, first at probs[1]\n  expected: no NaN\n  got: NaN at probs[1]\n  hint: NaN usually comes from upstream: check the network output and the loss for NaN/inf (torch.autograd.set_detect_anomaly(True) shows where it starts)",
    ),
    (
        "cat_zero_row",
        lambda: Categorical(torch.tensor([[0.5, 0.5], [0.0, 0.0]])),
        "Categorical(): argument `probs`: row probs[1] cannot be normalized\n  expected: a positive, finite sum per row\n  got: sum 0\n  hint: every row needs some positive, finite mass; masked rows need at least one allowed category",
    ),
    (
        "cat_nan_logits",
        lambda: Categorical(logits=torch.tensor([math.nan, 0.0])),
        "Categorical(): argument `logits`: contains NaN: 1 of 2 entries, first at logits[0]\n  expected: no NaN\n  got: NaN at logits[0]\n  hint: NaN usually comes from upstream: check the network output and the loss for NaN/inf (torch.autograd.set_detect_anomaly(True) shows where it starts)",
    ),
    (
        "cat_inf_logits",
        lambda: Categorical(logits=torch.tensor([[math.inf, 0.0]])),
        "Categorical(): argument `logits`: row logits[0] contains +inf\n  expected: no +inf\n  got: +inf\n  hint: clamp the logits, or mask with -inf (not +inf)",
    ),
    (
        "cat_all_masked",
        lambda: Categorical(logits=torch.tensor([[0.0, 1.0], [-math.inf, -math.inf]])),
        "Categorical(): argument `logits`: every entry of row logits[1] is -inf, so no category has any probability\n  expected: at least one finite logit per row\n  got: all -inf\n  hint: an action mask must leave at least one action allowed in every row",
    ),
    (
        "bern_neither",
        lambda: Bernoulli(),
        "Bernoulli(): argument `probs`: pass exactly one of probs= or logits= (got neither)\n  expected: exactly one of probs= or logits=\n  got: neither\n  hint: a network's raw output is logits: Bernoulli(logits=net(obs))",
    ),
    (
        "bern_probs_range",
        lambda: Bernoulli(torch.tensor([0.5, 1.5])),
        "Bernoulli(): argument `probs`: must lie in [0, 1], but 1 of 2 entries do not\n  expected: 0 <= p <= 1\n  got: probs[1] = 1.5\n  hint: is this a network output? Those are logits: pass logits=... instead",
    ),
    (
        "bern_number",
        lambda: Bernoulli(-1.0),
        "Bernoulli(): argument `probs`: must lie in [0, 1], but 1 of 1 entries do not\n  expected: 0 <= p <= 1\n  got: probs = -1\n  hint: is this a network output? Those are logits: pass logits=... instead",
    ),
    (
        "bern_nan_logits",
        lambda: Bernoulli(logits=torch.tensor([math.nan])),
        "Bernoulli(): argument `logits`: contains NaN: 1 of 1 entries, first at logits[0]\n  expected: no NaN\n  got: NaN at logits[0]\n  hint: NaN usually comes from upstream: check the network output and the loss for NaN/inf (torch.autograd.set_detect_anomaly(True) shows where it starts)",
    ),
    (
        "bern_str",
        lambda: Bernoulli("0.5"),
        "Bernoulli(): argument `probs`: must be a torch.Tensor or a Python number, got the str '0.5'\n  expected: a torch.Tensor or a Python number\n  got: str\n  hint: torch.as_tensor(probs, dtype=torch.float32)",
    ),
    (
        "mix_scalar_logits",
        lambda: GaussianMixture(torch.tensor(0.0), E((1, 2)), torch.ones(1, 2)),
        "GaussianMixture(): argument `logits`: has shape (); expected (*batch, K)\n  expected: (*batch, K)\n  got: ()",
    ),
    (
        "mix_vector_locs",
        lambda: GaussianMixture(E(3), E(3), torch.ones(3)),
        "GaussianMixture(): argument `locs`: has shape (3,); expected (*batch, K, D)\n  expected: (*batch, K, D)\n  got: (3,)\n  hint: for a mixture of 1-D Gaussians use locs.unsqueeze(-1) (D = 1)",
    ),
    (
        "mix_components",
        lambda: GaussianMixture(E((16, 3)), E((16, 4, 2)), torch.ones(16, 4, 2)),
        "GaussianMixture(): argument `locs` axis 1 ('K'): expected K=3 (from `logits` axis 1, shape (16, 3)), got 4 in shape (16, 4, 2)\n  expected: K=3\n  got: K=4\n  hint: `logits` is (*batch, K) and `locs` is (*batch, K, D); a transposed head?",
    ),
    (
        "mix_logits_shared",
        lambda: GaussianMixture(E(3), E((8, 3, 2)), torch.ones(8, 3, 2)),
        "GaussianMixture(): argument `locs`: has batch shape (8,) but `logits` has batch shape (); they must be equal (shapesafe does not broadcast parameters unless asked)\n  expected: ()\n  got: (8,)\n  hint: `logits` would be broadcast to (8,); if that is intended pass broadcast=True (or logits.expand(8, 3))",
    ),
    (
        "mix_scales_shared",
        lambda: GaussianMixture(E((8, 3)), E((8, 3, 2)), torch.ones(3, 2)),
        "GaussianMixture(): argument `scales`: has batch shape () but `logits` has batch shape (8,); they must be equal (shapesafe does not broadcast parameters unless asked)\n  expected: (8,)\n  got: ()\n  hint: one `scales` shared across the leading axes? pass broadcast=True (or scales.expand(8, 3, 2) yourself)",
    ),
    (
        "mix_zero_scales",
        lambda: GaussianMixture(E(3), E((3, 2)), torch.zeros(3, 2)),
        "GaussianMixture(): argument `scales`: (standard deviations) must be positive, but 6 of 6 entries are <= 0\n  expected: > 0\n  got: scales[0, 0] = 0\n  hint: keep it positive by construction, e.g. scales=log_std.exp() or scales=F.softplus(raw) + 1e-5",
    ),
    (
        "mix_cannot_broadcast",
        lambda: GaussianMixture(E((4, 3)), E((5, 3, 2)), 1.0, broadcast=True),
        "GaussianMixture(): argument `locs`: cannot broadcast `logits` (4,), `locs` (5,) together (broadcast=True was given)\n  expected: shapes that broadcast\n  got: `logits` (4,), `locs` (5,)\n  hint: sizes must be equal or 1 in each axis, aligned from the right",
    ),
    (
        "mix_rsample",
        lambda: GaussianMixture(E(3), E((3, 2)), torch.ones(3, 2)).rsample(),
        "GaussianMixture.rsample(): has no reparameterized sample: drawing it involves a discrete choice, which has no gradient\n  expected: a distribution with has_rsample=True\n  got: GaussianMixture\n  hint: use sample() (no gradient through the draw), a score-function (REINFORCE) estimator with log_prob(), or a relaxation such as Gumbel-softmax",
    ),
    (
        "mix_entropy",
        lambda: GaussianMixture(E(3), E((3, 2)), torch.ones(3, 2)).entropy(),
        "GaussianMixture.entropy(): has no closed form for a GaussianMixture\n  expected: a distribution with a closed-form entropy\n  got: GaussianMixture\n  hint: use a Monte Carlo estimate: entropy_estimate(n), i.e. -log_prob(sample((n,))).mean(0)",
    ),
    (
        "tanh_entropy",
        lambda: TanhNormal(E(2), torch.ones(2)).entropy(),
        "TanhNormal.entropy(): has no closed form for a TanhNormal\n  expected: a distribution with a closed-form entropy\n  got: TanhNormal\n  hint: use a Monte Carlo estimate: entropy_estimate(n), i.e. -log_prob(rsample((n,))).mean(0)",
    ),
    (
        "tanh_mean",
        lambda: TanhNormal(E(2), torch.ones(2)).mean,
        "TanhNormal.mean: has no closed form for a TanhNormal\n  expected: a distribution with a closed-form mean\n  got: TanhNormal\n  hint: use .mode (tanh(loc)) for the deterministic action, or a Monte Carlo estimate rsample((n,)).mean(0)",
    ),
    (
        "kl_trailing_q",
        lambda: td.kl_divergence(Normal(E(4), torch.ones(4)), Normal(E((4, 1)), torch.ones(4, 1))),
        "kl_divergence(): argument `q`: `p` has batch_shape (4,) but `q` has batch_shape (4, 1); they must be equal (plain torch would broadcast them to a KL of shape (4, 4))\n  expected: (4,)\n  got: (4, 1)\n  hint: `q`'s parameters have a trailing axis of size 1; squeeze them (.squeeze(-1))",
    ),
    (
        "kl_trailing_p",
        lambda: td.kl_divergence(Normal(E((4, 1)), torch.ones(4, 1)), Normal(E(4), torch.ones(4))),
        "kl_divergence(): argument `q`: `p` has batch_shape (4, 1) but `q` has batch_shape (4,); they must be equal (plain torch would broadcast them to a KL of shape (4, 4))\n  expected: (4, 1)\n  got: (4,)\n  hint: `p`'s parameters have a trailing axis of size 1; squeeze them (.squeeze(-1))",
    ),
    (
        "kl_batch",
        lambda: td.kl_divergence(
            DiagNormal(E((3, 2)), torch.ones(3, 2)), DiagNormal(E((4, 2)), torch.ones(4, 2))
        ),
        "kl_divergence(): argument `q`: `p` has batch_shape (3,) but `q` has batch_shape (4,); they must be equal\n  expected: (3,)\n  got: (4,)\n  hint: build both from the same minibatch, or broadcast on purpose with q.expand((3,))",
    ),
    (
        "kl_event",
        lambda: td.kl_divergence(
            DiagNormal(E((4, 2)), torch.ones(4, 2)), DiagNormal(E((4, 3)), torch.ones(4, 3))
        ),
        "kl_divergence(): argument `q`: `p` has event_shape (2,) but `q` has event_shape (3,); they must be equal\n  expected: (2,)\n  got: (3,)\n  hint: both distributions must be over the same space (check the action dimension)",
    ),
    (
        "kl_categories",
        lambda: td.kl_divergence(Categorical(logits=E((4, 4))), Categorical(logits=E((4, 1)))),
        "kl_divergence(): argument `q`: `p` has 4 categories but `q` has 1; they must be equal (plain torch would broadcast the probabilities and return a meaningless KL)\n  expected: 4 categories\n  got: 1 category\n  hint: both distributions must be over the same set of actions: check the size of the logits' last axis (e.g. a head built for another action space)",
    ),
    (
        "ann_no_event",
        lambda: DiagNormal["batch"],
        "DiagNormal['batch']: give the event dims too, e.g. DiagNormal['batch', 'act'] (only scalar-event distributions such as Normal, Categorical and Bernoulli may leave them out)",
    ),
    (
        "ann_event_count",
        lambda: DiagNormal["b", "x y"],
        "DiagNormal['b', 'x y']: a DiagNormal has 1 event dim(s), but 'x y' names 2",
    ),
    (
        "ann_cat_event",
        lambda: Categorical["b", "k"],
        "Categorical['b', 'k']: a Categorical has 0 event dim(s), but 'k' names 1",
    ),
    (
        "ann_three",
        lambda: DiagNormal["b", "a", "c"],
        "DiagNormal[...]: takes one or two dim strings: DiagNormal[batch_dims, event_dims], e.g. DiagNormal['batch', 'act']; got ('b', 'a', 'c')",
    ),
    (
        "ann_int",
        lambda: DiagNormal[3],
        "DiagNormal[...]: takes one or two dim strings: DiagNormal[batch_dims, event_dims], e.g. DiagNormal['batch', 'act']; got (3,)",
    ),
    (
        "dist_int",
        lambda: Dist[int, "b", ""],
        "Dist[...]: the first item must be a torch.distributions.Distribution subclass, got <class 'int'>",
    ),
    (
        "dist_one",
        lambda: Dist[DiagNormal],
        "Dist[...]: takes a distribution class and dim strings, e.g. Dist[DiagNormal, 'batch', 'act']; got Dist[<class 'shapesafe.distributions.DiagNormal'>]",
    ),
    (
        "entropy_estimate_n",
        lambda: Normal(0.0, 1.0).entropy_estimate(0),
        "Normal.entropy_estimate(): argument `n`: must be a positive int, got 0\n  expected: a positive int\n  got: 0",
    ),
]


@pytest.mark.parametrize(("case", "call", "text"), MESSAGES, ids=[row[0] for row in MESSAGES])
def test_message_wording(case: str, call: typing.Callable[[], object], text: str) -> None:
    with pytest.raises(ShapesafeError) as info:
        call()
    assert str(info.value) == text
