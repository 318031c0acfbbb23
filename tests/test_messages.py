"""The full wording of every shapesafe message, in one place.

Other tests assert an error's class, its structured fields and one fragment; this module
pins the whole text, so rewording a message means editing one expected string here (and
nowhere else). It has one section per area. Most messages are rows of ``CASES``, keyed
``"area: case"``: ``(call, error class or None for any ShapesafeError, exact str(err))``,
where the text may be a function when it depends on state read at run time. One
parametrized test checks every row, each in a fresh temporary directory so file paths print
as short relative names. Messages that take more than one call (the CLI, the source line
strict_broadcasting prints, a printed checkpoint) have their own tests in their section.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributions as td
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

import shapesafe
from shapesafe import (
    AnnotationError,
    AuditError,
    AutogradError,
    CheckpointError,
    DtypeError,
    NonFiniteError,
    ShapeError,
    UsageError,
    explain_autograd_errors,
    load_checkpoint,
    save_checkpoint,
)
from shapesafe.bc import (
    CVAEPolicy,
    Demonstrations,
    DiffusionPolicy,
    GaussianPolicy,
    NonFiniteLossError,
    build_policy,
    cubic_demonstrations,
    fit,
)
from shapesafe.cli import main
from shapesafe.distributions import (
    Bernoulli,
    Beta,
    Categorical,
    DiagNormal,
    Dist,
    GaussianMixture,
    MultiCategorical,
    MultivariateNormal,
    Normal,
    TanhNormal,
)
from shapesafe.errors import ShapesafeError
from shapesafe.ops import flatten, gather, newaxis, reshape, squeeze, take_along, unsqueeze
from shapesafe.strict import strict_broadcasting
from shapesafe.testing import covariance_matrices, probability_vectors, scales

Case = tuple[Callable[[], object], type[ShapesafeError] | None, str | Callable[[], str]]


def _message(call: Callable[[], object], cls: type[ShapesafeError] | None = None) -> str:
    """The message of the ShapesafeError ``call`` raises (of exactly class ``cls``, if given)."""
    with pytest.raises(ShapesafeError) as info:
        call()
    if cls is not None:
        assert type(info.value) is cls
    return str(info.value)


# ---------------- bc: behaviour cloning and the CLI


BC_CASES: dict[str, Case] = {
    "bc: rows": (
        lambda: Demonstrations(torch.zeros(4, 3), torch.zeros(3, 2)),
        None,
        "Demonstrations(): `actions` axis 0 (N): expected 4 rows to match `observations` "
        "(4,...), got shape (3, 2)\n  hint: every field needs one row per step; check that "
        "`actions` and `observations` come from the same rollouts",
    ),
    "bc: non-finite extra": (
        lambda: Demonstrations(
            torch.zeros(4, 3), torch.zeros(4, 2), extras={"rewards": [0.0, float("nan"), 0, 0]}
        ),
        None,
        "Demonstrations(): `rewards` has 1 row(s) with non-finite values (first: row 1 holds "
        "nan)\n  hint: drop or repair those rows before building the demonstrations, e.g. "
        "keep = torch.isfinite(rewards).flatten(1).all(1)",
    ),
    "bc: dict keys": (
        lambda: GaussianPolicy(3, 2).loss({"state": torch.zeros(1)}),
        None,
        "GaussianPolicy.loss(): argument `batch`: a mapping needs an observations key "
        "('observations' / 'obs' / 'states') and an actions key ('actions' / 'acts' / 'act'); "
        "none of 'observations' / 'obs' / 'states' found (keys: 'state')\n"
        "  expected: keys 'obs' and 'act' (or their long names)\n  got: 'state'",
    ),
    "bc: action shape": (
        lambda: GaussianPolicy(3, 2).loss((torch.zeros(5, 3), torch.zeros(5, 1))),
        None,
        "GaussianPolicy.loss(): argument `batch` (actions): expected shape (5, 2) to match "
        "the policy's spec, got (5, 1)\n  hint: this policy was built for actions (2,) but "
        "these are (1,); check the data, or build the policy with act_dim=1",
    ),
    "bc: batch axis": (
        lambda: GaussianPolicy(3, 2).predict(torch.zeros(3)),
        None,
        "GaussianPolicy.predict(): argument `obs`: expected observations of shape (batch, 3), "
        "got (3,)\n  expected: (batch, 3)\n  got: (3,)\n  hint: a single observation lacks "
        "the batch axis: obs.unsqueeze(0), or act(obs)",
    ),
    "bc: fit data": (
        lambda: fit(GaussianPolicy(3, 2), cubic_demonstrations(10), steps=1),
        None,
        "fit(): argument `demos`: observations have shape (N, 2) but GaussianPolicy expects "
        "(N, 3)\n  hint: build the policy with obs_dim=2",
    ),
    "bc: kind": (
        lambda: build_policy({"kind": "no-such-kind"}),
        None,
        # the registry grows as tests define policies: read it when the case runs
        lambda: (
            "build_policy(): unknown policy kind 'no-such-kind'; known kinds: "
            + ", ".join(shapesafe.bc.policy_kinds())
            + "\n  hint: import the module that defines the policy class before rebuilding it"
        ),
    ),
    "bc: batch size": (
        lambda: cubic_demonstrations(3).sample(0),
        None,
        "Demonstrations.sample(): `batch_size` must be a positive integer, got 0",
    ),
}


def test_non_finite_loss_wording() -> None:
    policy = GaussianPolicy(2, 2)
    with pytest.raises(NonFiniteLossError) as info:
        fit(policy, cubic_demonstrations(100), steps=20, lr=1e6, progress=False)
    assert str(info.value) == (
        f"fit(): the training loss became {info.value.got} at step {info.value.step}; "
        f"training stopped before its update (the policy holds step {info.value.step - 1}); "
        "no checkpoint was written (pass checkpoint_dir= to keep one)\n"
        "  hint: lower the learning rate, set max_grad_norm=, or look for extreme values "
        "in the data"
    )


def test_cli_wording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = cubic_demonstrations(64).save(tmp_path / "d.npz")
    out = tmp_path / "run"
    base = ["train", "--data", str(data), "--out", str(out), "--no-progress"]
    assert main([*base, "--steps", "4"]) == 0
    capsys.readouterr()
    main([*base, "--steps", "4"])
    assert capsys.readouterr().err == (
        f"shapesafe train: error: --out {str(out)!r} already holds a run (last.pt); pass "
        "--resume to continue it or --overwrite to start over\n"
    )
    main([*base, "--steps", "2", "--resume"])
    assert capsys.readouterr().err == (
        f"shapesafe train: error: the run in {str(out)!r} already finished 4 steps; "
        "--steps 2 asks for fewer, so there is nothing to train; pass a larger --epochs "
        "or --steps to train longer\n"
    )
    main([*base, "--steps", "4", "--resume", "--batch-size", "32"])
    assert capsys.readouterr().err == (
        f"shapesafe train: error: fit(): argument `resume`: cannot resume from "
        f"{str(out / 'last.pt')!r}: the run differs (batch_size: checkpoint 64, now 32); "
        "hint: resume with the same --policy, --hidden, --batch-size, --seed and "
        "--val-fraction, or start fresh with --overwrite\n"
    )


# ---------------- checker: @check and check_shape


@shapesafe.check
def td_target(
    rewards: Float[Tensor, "batch"], q_next: Float[Tensor, "batch"]
) -> Float[Tensor, "batch"]:
    return rewards + 0.99 * q_next


@shapesafe.check
def predict(obs: Float[Tensor, "batch obs"]) -> Float[Tensor, "batch"]:
    return obs.sum(-1)


@shapesafe.check
def pg_loss(logp: Float[Tensor, "batch"], adv: Float[Tensor, "batch"]) -> Float[Tensor, ""]:
    return -(logp * adv).mean()


@shapesafe.check
def unreduced(x: Float[Tensor, "batch"]) -> Float[Tensor, ""]:
    return x


@shapesafe.check
def rollout(obs: Float[Tensor, "time batch obs"], act: Float[Tensor, "time batch act"]) -> None:
    return None


@shapesafe.check
def head(x: Float[Tensor, "batch 4"]) -> None:
    return None


@shapesafe.check
def returns(r: Float[Tensor, "time batch"], v: Float[Tensor, "time+1 batch"]) -> None:
    return None


@shapesafe.check
def split(x: Float[Tensor, "n"], m: Float[Tensor, "m"], y: Float[Tensor, "n//m"]) -> None:
    return None


@shapesafe.check
def halve(x: Float[Tensor, "n"], y: Float[Tensor, "n/2"]) -> None:
    return None


@shapesafe.check
def stack(*xs: Float[Tensor, "n+1"], ref: Float[Tensor, "n"]) -> None:
    return None


@shapesafe.check
def pol(d: Dist[DiagNormal, "batch", "act"]) -> None:
    return None


@shapesafe.check
def pick(q: Float[Tensor, "b a"], a: Int[Tensor, "b"]) -> Float[Tensor, "b"]:
    return q.gather(1, a[:, None]).squeeze(1)


@shapesafe.check
def f_opt(x: Float[Tensor, "b"], m: Bool[Tensor, "b"] | None = None) -> None:
    return None


@shapesafe.check
def logp_of(
    mean: Float[Tensor, "batch act"], actions: Float[Tensor, "batch act"]
) -> Float[Tensor, "batch"]:
    return torch.distributions.Normal(mean, 1.0).log_prob(actions)


@shapesafe.check
def batch_logp(
    obs: Float[Tensor, "batch obs"], logp: Float[Tensor, "batch"]
) -> Float[Tensor, "batch"]:
    return logp.sum(0)


@shapesafe.check
def discount_by(rewards: Float[Tensor, "batch"], gamma: float) -> Float[Tensor, "batch"]:
    return rewards * gamma


def _bare_class() -> None:
    @shapesafe.check
    class Bare:
        def act(self, x):  # type: ignore[no-untyped-def]
            return x


CHECKER_CASES: dict[str, Case] = {
    "checker: per_coordinate_act_1": (
        lambda: logp_of(torch.zeros(8, 1), torch.zeros(8, 1)),
        ShapeError,
        "logp_of(): return value: expected shape (batch,) = (8,) [1 axis], got shape (8, 1) [2 axes]\n"
        '  annotation: Float[Tensor, "batch"]\n'
        "  bindings: batch=8 (from `mean`), act=1 (from `mean`)\n"
        "  hint: return value has a trailing axis of size 1, and act=1 in this call: if it holds one term per coordinate (e.g. a log-prob per action dimension), sum them with .sum(-1) on return value, which stays right for any number of coordinates; if it is a (batch, 1) column, use .squeeze(-1) on return value",
    ),
    "checker: reduced_at_batch_1": (
        lambda: batch_logp(torch.zeros(1, 3), torch.zeros(1)),
        ShapeError,
        "batch_logp(): return value: expected shape (batch,) = (1,) [1 axis], got shape () [0 axes]\n"
        '  annotation: Float[Tensor, "batch"]\n'
        "  bindings: batch=1 (from `obs`), obs=3 (from `obs`)\n"
        "  hint: return value is a scalar: it looks reduced over the batch (a .sum() / .mean() over every axis, or .sum(0) of a per-sample value); reduce over the axis you meant instead (e.g. .sum(-1) for the action axis) and keep one value per sample; note: batch=1 (by `obs`) in this call, so a size-1 axis could be that dim or a stray one: check the fix against a call with larger sizes",
    ),
    "checker: float_given_0d_tensor": (
        lambda: discount_by(torch.ones(2), torch.tensor(0.99)),  # type: ignore[arg-type]
        DtypeError,
        "discount_by(): argument `gamma`: expected float, got Tensor of dtype float32 and shape ()\n"
        "  bindings: batch=2 (from `rewards`)\n"
        '  hint: `gamma` is a 0-d tensor, not a Python number; use gamma.item(), or annotate it as float | Float[Tensor, ""] if a tensor is meant (one kept on the device or with a gradient, like SAC\'s alpha)',
    ),
    "checker: class_without_annotations": (
        _bare_class,
        AnnotationError,
        "@check on a class checks its annotated methods, and _bare_class.<locals>.Bare defines none (annotate the arguments or return value of forward, get_value, ...)",
    ),
    "checker: readme": (
        lambda: td_target(torch.zeros(64), torch.zeros(64, 1)),
        ShapeError,
        "td_target(): argument `q_next`: expected shape (batch,) = (64,) [1 axis], got shape (64, 1) [2 axes]\n"
        '  annotation: Float[Tensor, "batch"]\n'
        "  bindings: batch=64 (from `rewards`)\n"
        "  hint: `q_next` has a trailing axis of size 1; did you mean q_next.squeeze(-1)?",
    ),
    "checker: size": (
        lambda: td_target(torch.zeros(64), torch.zeros(63)),
        ShapeError,
        "td_target(): argument `q_next` axis 0 ('batch'): expected batch=64 (bound by `rewards`), got 63 in shape (63,)\n"
        '  annotation: Float[Tensor, "batch"]\n'
        "  bindings: batch=64 (from `rewards`)",
    ),
    "checker: dtype": (
        lambda: td_target(torch.zeros(4), torch.zeros(4, dtype=torch.long)),
        DtypeError,
        'td_target(): argument `q_next`: expected dtype Float (Float[Tensor, "batch"]), got dtype int64\n'
        '  annotation: Float[Tensor, "batch"]\n'
        "  bindings: batch=4 (from `rewards`)\n"
        "  hint: convert with q_next.float()",
    ),
    "checker: numpy": (
        lambda: td_target(np.zeros(4), torch.zeros(4)),
        DtypeError,
        'td_target(): argument `rewards`: expected Float[Tensor, "batch"] (a torch.Tensor), got ndarray\n'
        "  bindings: (none yet)\n"
        "  hint: `rewards` is a numpy array; convert it with torch.as_tensor(rewards) (or shapesafe.from_numpy)",
    ),
    "checker: float_index": (
        lambda: pick(torch.zeros(2, 3), torch.zeros(2)),
        DtypeError,
        'pick(): argument `a`: expected dtype Int (Int[Tensor, "b"]), got dtype float32\n'
        '  annotation: Int[Tensor, "b"]\n'
        "  bindings: b=2 (from `q`), a=3 (from `q`)\n"
        "  hint: indices must be integers; convert with a.long()",
    ),
    "checker: missing_batch": (
        lambda: predict(torch.zeros(3)),
        ShapeError,
        "predict(): argument `obs`: expected shape (batch, obs) [2 axes], got shape (3,) [1 axis]\n"
        '  annotation: Float[Tensor, "batch obs"]\n'
        "  bindings: (none yet)\n"
        "  hint: `obs` is missing its leading (batch) axis; for a single sample, add it with obs.unsqueeze(0)",
    ),
    "checker: reduced": (
        lambda: pg_loss(torch.zeros(()), torch.zeros(8)),
        ShapeError,
        "pg_loss(): argument `logp`: expected shape (batch,) [1 axis], got shape () [0 axes]\n"
        '  annotation: Float[Tensor, "batch"]\n'
        "  bindings: (none yet)\n"
        "  hint: `logp` is a scalar: it looks reduced over the batch (a .sum() / .mean() over every axis, or .sum(0) of a per-sample value); reduce over the axis you meant instead (e.g. .sum(-1) for the action axis) and keep one value per sample",
    ),
    "checker: per_coordinate": (
        lambda: pg_loss(torch.zeros(8), torch.zeros(8, 6)),
        ShapeError,
        "pg_loss(): argument `adv`: expected shape (batch,) = (8,) [1 axis], got shape (8, 6) [2 axes]\n"
        '  annotation: Float[Tensor, "batch"]\n'
        "  bindings: batch=8 (from `logp`)\n"
        "  hint: `adv` has an extra trailing axis of size 6; if it holds per-coordinate terms (e.g. a log-prob per action dimension), sum them with adv.sum(-1)",
    ),
    "checker: not_scalar": (
        lambda: unreduced(torch.zeros(8)),
        ShapeError,
        "unreduced(): return value: expected shape () [0 axes], got shape (8,) [1 axis]\n"
        '  annotation: Float[Tensor, ""]\n'
        "  bindings: batch=8 (from `x`)\n"
        "  hint: return value is not a scalar (shape (8,)); reduce it, e.g. with .mean() or .sum()",
    ),
    "checker: time_major": (
        lambda: rollout(torch.zeros(5, 8, 3), torch.zeros(8, 5, 2)),
        ShapeError,
        "rollout(): argument `act` axis 0 ('time'): expected time=5 (bound by `obs`), got 8 in shape (8, 5, 2)\n"
        '  annotation: Float[Tensor, "time batch act"]\n'
        "  bindings: time=5 (from `obs`), batch=8 (from `obs`), obs=3 (from `obs`)\n"
        "  hint: `act` and `obs` disagree on the order of the axes (time-major vs batch-major?): one of them is transposed; if it is `act`, use act.transpose(0, 1), otherwise transpose `obs`",
    ),
    "checker: fixed": (
        lambda: head(torch.zeros(2, 3)),
        ShapeError,
        "head(): argument `x` axis 1: expected 4, got 3 in shape (2, 3)\n"
        '  annotation: Float[Tensor, "batch 4"]\n'
        "  bindings: (none yet)",
    ),
    "checker: symbolic_bound": (
        lambda: returns(torch.zeros(5, 8), torch.zeros(5, 8, 1)),
        ShapeError,
        "returns(): argument `v`: expected shape (time+1, batch) = (6, 8) [2 axes], got shape (5, 8, 1) [3 axes]\n"
        '  annotation: Float[Tensor, "time+1 batch"]\n'
        "  bindings: time=5 (from `r`), batch=8 (from `r`)",
    ),
    "checker: div_zero": (
        lambda: split(torch.zeros(6), torch.zeros(0), torch.zeros(3)),
        ShapeError,
        "split(): argument `y` axis 0 ('n//m'): expected n//m with m=0, n=6, which divides by zero, got 3 in shape (3,)\n"
        '  annotation: Float[Tensor, "n//m"]\n'
        "  bindings: n=6 (from `x`), m=0 (from `m`)",
    ),
    "checker: odd_half": (
        lambda: halve(torch.zeros(5), torch.zeros(2)),
        ShapeError,
        "halve(): argument `y` axis 0 ('n/2'): expected n/2=2.5, got 2 in shape (2,)\n"
        '  annotation: Float[Tensor, "n/2"]\n'
        "  bindings: n=5 (from `x`)",
    ),
    "checker: star_args": (
        lambda: stack(torch.zeros(5), torch.zeros(4), ref=torch.zeros(3)),
        ShapeError,
        "stack(): argument `xs`[0] axis 0 ('n+1'): expected n+1=4, got 5 in shape (5,)\n"
        '  annotation: Float[Tensor, "n+1"]\n'
        "  bindings: n=3 (from `ref`)",
    ),
    "checker: dist_rank": (
        lambda: pol(DiagNormal(torch.zeros(5, 4, 2), torch.ones(5, 4, 2))),
        ShapeError,
        "pol(): argument `d`: expected batch_shape (batch,) [1 axis], got batch_shape (5, 4) [2 axes]\n"
        "  bindings: (none yet)",
    ),
    "checker: none": (
        lambda: f_opt(torch.zeros(2), torch.zeros(3, dtype=torch.bool)),
        ShapeError,
        "f_opt(): argument `m` axis 0 ('b'): expected b=2 (bound by `x`), got 3 in shape (3,)\n"
        '  annotation: Bool[Tensor, "b"] | None\n'
        "  bindings: b=2 (from `x`)",
    ),
    "checker: check_shape": (
        lambda: shapesafe.check_shape(
            np.zeros((2, 3)), "batch obs", function="from_numpy", argument="obs", dims={"obs": 4}
        ),
        ShapeError,
        "from_numpy(): argument `obs` axis 1 ('obs'): expected obs=4 (bound by dims=), got 3 in shape (2, 3)\n"
        "  annotation: 'batch obs'\n"
        "  bindings: obs=4 (from dims=)",
    ),
    "checker: check_shape_spec": (
        lambda: shapesafe.check_shape(torch.zeros(3), ["n"]),
        AnnotationError,
        "check_shape() takes a jaxtyping array annotation or a dim string like 'batch obs', not list ['n']",
    ),
    "checker: check_shape_dims": (
        lambda: shapesafe.check_shape(torch.zeros(3), "n", dims={1: 3}),
        UsageError,
        "check_shape(): `dims` maps dim names (str) to sizes (int >= 0, or a tuple of them for a '*name' run); got 1: 3",
    ),
    "checker: builtin": (
        lambda: shapesafe.check(torch.add),
        AnnotationError,
        "@check cannot read the signature of torch.add (a builtin or C function has no Python signature and no annotations); wrap it in a function with jaxtyping annotations and check that",
    ),
}


# ---------------- distributions


E = torch.zeros

DISTRIBUTIONS_CASES: dict[str, Case] = {
    "distributions: strategy_range": (
        lambda: scales(3, min_value=0.0, max_value=1.0),
        None,
        "scales(): argument `min_value`: need 0 < min_value <= max_value, got 0.0 and 1.0\n"
        "  expected: 0 < min_value <= max_value\n"
        "  got: 0.0 and 1.0",
    ),
    "distributions: strategy_jitter": (
        lambda: covariance_matrices((), 2, jitter=0),
        None,
        "covariance_matrices(): argument `jitter`: jitter must be > 0, got 0\n"
        "  expected: > 0\n"
        "  got: 0",
    ),
    "distributions: strategy_categories": (
        lambda: probability_vectors(()),
        None,
        "probability_vectors(): argument `shape`: shape () needs a last axis (the categories) "
        "of size >= 1\n  expected: (*batch, K) with K >= 1\n  got: ()",
    ),
    "distributions: normal_trailing_one": (
        lambda: Normal(E(64), torch.ones(64)).log_prob(E((64, 1))),
        None,
        "Normal.log_prob(): argument `value` axis 1: expected size 64 (batch axis 0), got 1\n  expected: (*sample_shape, 64)\n  got: (64, 1)\n  = sample_shape + batch_shape (64,) + event_shape ()\n  (plain torch.distributions would not raise: it would broadcast and return a log_prob of shape (64, 64))\n  hint: `value` has a trailing axis of size 1: actions of shape (B, 1) for a scalar-event distribution? Use value.squeeze(-1).",
    ),
    "distributions: categorical_trailing_one": (
        lambda: Categorical(logits=E((64, 4))).log_prob(torch.zeros(64, 1, dtype=torch.long)),
        None,
        "Categorical.log_prob(): argument `value` axis 1: expected size 64 (batch axis 0), got 1\n  expected: (*sample_shape, 64)\n  got: (64, 1)\n  = sample_shape + batch_shape (64,) + event_shape ()\n  (plain torch.distributions would not raise: it would broadcast and return a log_prob of shape (64, 64))\n  hint: `value` has a trailing axis of size 1: actions of shape (B, 1) for a scalar-event distribution? Use value.squeeze(-1).",
    ),
    "distributions: diag_missing_event": (
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E(64)),
        None,
        "DiagNormal.log_prob(): argument `value`: has 1 axis (64,), but this DiagNormal needs at least 2 (batch_shape + event_shape)\n  expected: (*sample_shape, 64, 6)\n  got: (64,)\n  = sample_shape + batch_shape (64,) + event_shape (6,)\n  hint: `value` lacks the event axes (6,): a DiagNormal scores whole vectors of shape (6,), one per batch element. For independent per-coordinate log-probs use shapesafe.distributions.Normal instead.",
    ),
    "distributions: diag_extra_one": (
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E((64, 6, 1))),
        None,
        "DiagNormal.log_prob(): argument `value` axis 2: expected size 6 (event axis 0), got 1\n  expected: (*sample_shape, 64, 6)\n  got: (64, 6, 1)\n  = sample_shape + batch_shape (64,) + event_shape (6,)\n  hint: `value` has an extra trailing axis of size 1; use value.squeeze(-1).",
    ),
    "distributions: diag_event_only": (
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E(6)),
        None,
        "DiagNormal.log_prob(): argument `value`: has 1 axis (6,), but this DiagNormal needs at least 2 (batch_shape + event_shape)\n  expected: (*sample_shape, 64, 6)\n  got: (6,)\n  = sample_shape + batch_shape (64,) + event_shape (6,)\n  (plain torch.distributions would not raise: it would broadcast and return a log_prob of shape (64,))\n  hint: `value` has only the event shape (6,): to score the same value under every distribution in the batch, use value.expand(64, 6).",
    ),
    "distributions: diag_transposed": (
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E((6, 64))),
        None,
        "DiagNormal.log_prob(): argument `value` axis 1: expected size 6 (event axis 0), got 64\n  expected: (*sample_shape, 64, 6)\n  got: (6, 64)\n  = sample_shape + batch_shape (64,) + event_shape (6,)\n  hint: the trailing axes of `value` have the right sizes in a different order: transposed? (value.mT, value.permute(...))",
    ),
    "distributions: diag_sample_axis": (
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E((64, 5, 6))),
        None,
        "DiagNormal.log_prob(): argument `value` axis 1: expected size 64 (batch axis 0), got 5\n  expected: (*sample_shape, 64, 6)\n  got: (64, 5, 6)\n  = sample_shape + batch_shape (64,) + event_shape (6,)\n  hint: axis 1 of `value` looks like a sample axis, but sample axes must come first: value.movedim(1, 0).",
    ),
    "distributions: diag_batch_differs": (
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E((32, 6))),
        None,
        "DiagNormal.log_prob(): argument `value` axis 0: expected size 64 (batch axis 0), got 32\n  expected: (*sample_shape, 64, 6)\n  got: (32, 6)\n  = sample_shape + batch_shape (64,) + event_shape (6,)\n  hint: the batch sizes differ: the distribution has batch_shape (64,), `value` has (32,) there. Were the parameters and the value taken from different minibatches (e.g. a smaller last minibatch)?",
    ),
    "distributions: diag_event_differs": (
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E((64, 4))),
        None,
        "DiagNormal.log_prob(): argument `value` axis 1: expected size 6 (event axis 0), got 4\n  expected: (*sample_shape, 64, 6)\n  got: (64, 4)\n  = sample_shape + batch_shape (64,) + event_shape (6,)\n  hint: the event sizes differ: one draw of this DiagNormal has shape (6,), `value` ends in (4,); check the action dimension (env.action_space.shape).",
    ),
    "distributions: diag_no_hint": (
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 6)).log_prob(E((32, 4))),
        None,
        "DiagNormal.log_prob(): argument `value` axis 1: expected size 6 (event axis 0), got 4\n  expected: (*sample_shape, 64, 6)\n  got: (32, 4)\n  = sample_shape + batch_shape (64,) + event_shape (6,)",
    ),
    "distributions: diag_event_one_missing": (
        lambda: DiagNormal(E((8, 1)), torch.ones(8, 1)).log_prob(E(8)),
        None,
        "DiagNormal.log_prob(): argument `value`: has 1 axis (8,), but this DiagNormal needs at least 2 (batch_shape + event_shape)\n  expected: (*sample_shape, 8, 1)\n  got: (8,)\n  = sample_shape + batch_shape (8,) + event_shape (1,)\n  (plain torch.distributions would not raise: it would broadcast and return a log_prob of shape (8,))\n  hint: `value` lacks the event axis of size 1; use value.unsqueeze(-1).",
    ),
    "distributions: categorical_one_hot": (
        lambda: Categorical(logits=E((64, 4))).log_prob(torch.zeros(64, 4, dtype=torch.long)),
        None,
        "Categorical.log_prob(): argument `value` axis 1: expected size 64 (batch axis 0), got 4\n  expected: (*sample_shape, 64)\n  got: (64, 4)\n  = sample_shape + batch_shape (64,) + event_shape ()\n  hint: `value` looks one-hot (its last axis has size 4, the number of categories); Categorical scores class indices: value.argmax(-1)",
    ),
    "distributions: categorical_float_value": (
        lambda: Categorical(logits=E((64, 4))).log_prob(E(64)),
        None,
        "Categorical.log_prob(): argument `value`: has dtype float32; expected integer class indices\n  expected: integer class indices\n  got: float32\n  hint: value.long() (torch would truncate floats silently: 0.999 -> 0)",
    ),
    "distributions: categorical_out_of_support": (
        lambda: Categorical(logits=E((64, 4))).log_prob(torch.full((64,), 5)),
        None,
        "Categorical.log_prob(): argument `value`: has 64 of 64 entries outside the support IntegerInterval(lower_bound=0, upper_bound=3) of the distribution\n  expected: IntegerInterval(lower_bound=0, upper_bound=3)\n  got: value[0] = 5\n  hint: class indices must lie in [0, 3]",
    ),
    "distributions: bernoulli_int_value": (
        lambda: Bernoulli(logits=E(8)).log_prob(torch.zeros(8, dtype=torch.long)),
        None,
        "Bernoulli.log_prob(): argument `value`: has dtype int64; expected floats 0.0/1.0\n  expected: floats 0.0/1.0\n  got: int64\n  hint: value.float()",
    ),
    "distributions: bernoulli_half": (
        lambda: Bernoulli(logits=E(8)).log_prob(torch.full((8,), 0.5)),
        None,
        "Bernoulli.log_prob(): argument `value`: has 8 of 8 entries outside the support Boolean() of the distribution\n  expected: Boolean()\n  got: value[0] = 0.5\n  hint: Bernoulli values are 0.0 or 1.0",
    ),
    "distributions: diag_nan_value": (
        lambda: DiagNormal(E((2, 2)), torch.ones(2, 2)).log_prob(
            torch.tensor([[0.0, 0.0], [math.nan, 0.0]])
        ),
        None,
        "DiagNormal.log_prob(): argument `value`: has 1 of 2 entries outside the support IndependentConstraint(Real(), 1) of the distribution\n  expected: IndependentConstraint(Real(), 1)\n  got: value[1] = [nan, 0.0]\n  hint: NaN usually comes from upstream: check the network output and the loss for NaN/inf (torch.autograd.set_detect_anomaly(True) shows where it starts)",
    ),
    "distributions: tanh_outside": (
        lambda: TanhNormal(E(2), torch.ones(2)).log_prob(torch.tensor([0.5, 2.0])),
        None,
        "TanhNormal.log_prob(): argument `value`: has 1 of 1 entries outside the support IndependentConstraint(Interval(lower_bound=-1.0, upper_bound=1.0), 1) of the distribution\n  expected: IndependentConstraint(Interval(lower_bound=-1.0, upper_bound=1.0), 1)\n  got: value = [0.5, 2.0]\n  hint: a TanhNormal's values lie in [-1, 1]; rescale actions from the environment's bounds first: a = 2 * (a - low) / (high - low) - 1",
    ),
    "distributions: value_not_tensor": (
        lambda: Normal(0.0, 1.0).log_prob(0.5),
        None,
        "Normal.log_prob(): argument `value`: must be a torch.Tensor, got the float 0.5\n  expected: torch.Tensor\n  got: float\n  hint: torch.as_tensor(value)",
    ),
    "distributions: cdf": (
        lambda: Normal(E(5), torch.ones(5)).cdf(E((5, 1))),
        None,
        "Normal.cdf(): argument `value` axis 1: expected size 5 (batch axis 0), got 1\n  expected: (*sample_shape, 5)\n  got: (5, 1)\n  = sample_shape + batch_shape (5,) + event_shape ()\n  hint: `value` has a trailing axis of size 1: actions of shape (B, 1) for a scalar-event distribution? Use value.squeeze(-1).",
    ),
    "distributions: icdf": (
        lambda: Normal(E(5), torch.ones(5)).icdf(torch.full((4,), 0.5)),
        None,
        "Normal.icdf(): argument `value` axis 0: expected size 5 (batch axis 0), got 4\n  expected: (*sample_shape, 5)\n  got: (4,)\n  = sample_shape + batch_shape (5,) + event_shape ()\n  hint: the batch sizes differ: the distribution has batch_shape (5,), `value` has (4,) there. Were the parameters and the value taken from different minibatches (e.g. a smaller last minibatch)?",
    ),
    "distributions: expanded": (
        lambda: DiagNormal(E((3, 2)), torch.ones(3, 2)).expand((4, 3)).log_prob(E((3, 2))),
        None,
        "DiagNormal.log_prob(): argument `value`: has 2 axes (3, 2), but this DiagNormal needs at least 3 (batch_shape + event_shape)\n  expected: (*sample_shape, 4, 3, 2)\n  got: (3, 2)\n  = sample_shape + batch_shape (4, 3) + event_shape (2,)\n  (plain torch.distributions would not raise: it would broadcast and return a log_prob of shape (4, 3))",
    ),
    "distributions: scale_shared": (
        lambda: DiagNormal(E((64, 6)), torch.ones(6)),
        None,
        "DiagNormal(): argument `scale`: has shape (6,) but `loc` has shape (64, 6); they must be equal (shapesafe does not broadcast parameters unless asked)\n  expected: (64, 6)\n  got: (6,)\n  hint: one `scale` shared across the leading axes? pass broadcast=True (or scale.expand(64, 6) yourself)",
    ),
    "distributions: tanh_scale_shared": (
        lambda: TanhNormal(E((64, 6)), torch.ones(6)),
        None,
        "TanhNormal(): argument `scale`: has shape (6,) but `loc` has shape (64, 6); they must be equal (shapesafe does not broadcast parameters unless asked)\n  expected: (64, 6)\n  got: (6,)\n  hint: one `scale` shared across the leading axes? pass broadcast=True (or scale.expand(64, 6) yourself)",
    ),
    "distributions: stray_axis": (
        lambda: DiagNormal(E((64, 1)), torch.ones(64)),
        None,
        "DiagNormal(): argument `scale`: has shape (64,) but `loc` has shape (64, 1); they must be equal (shapesafe does not broadcast parameters unless asked)\n  expected: (64, 1)\n  got: (64,)\n  hint: together they would broadcast to (64, 64), larger than either, which is almost never intended: look for a stray axis of size 1 (e.g. .squeeze(-1))",
    ),
    "distributions: scale_would_broadcast": (
        lambda: DiagNormal(E((64, 6)), torch.ones(64, 1)),
        None,
        "DiagNormal(): argument `scale`: has shape (64, 1) but `loc` has shape (64, 6); they must be equal (shapesafe does not broadcast parameters unless asked)\n  expected: (64, 6)\n  got: (64, 1)\n  hint: `scale` would be broadcast to (64, 6); if that is intended pass broadcast=True (or scale.expand(64, 6))",
    ),
    "distributions: loc_would_broadcast": (
        lambda: DiagNormal(E(6), torch.ones(64, 6)),
        None,
        "DiagNormal(): argument `scale`: has shape (64, 6) but `loc` has shape (6,); they must be equal (shapesafe does not broadcast parameters unless asked)\n  expected: (6,)\n  got: (64, 6)\n  hint: `loc` would be broadcast to (64, 6); if that is intended pass broadcast=True (or loc.expand(64, 6))",
    ),
    "distributions: cannot_broadcast": (
        lambda: DiagNormal(E(3), torch.ones(4)),
        None,
        "DiagNormal(): argument `scale`: has shape (4,) but `loc` has shape (3,); they must be equal (shapesafe does not broadcast parameters unless asked)\n  expected: (3,)\n  got: (4,)\n  hint: these shapes cannot be broadcast together either; check which tensor `scale` was computed from",
    ),
    "distributions: diag_scalars": (
        lambda: DiagNormal(0.0, 1.0),
        None,
        "DiagNormal(): argument `loc`: `loc` and `scale` have shape (), but a DiagNormal needs at least 1 axis: the event axis, last\n  expected: (*batch, dim)\n  got: ()\n  hint: for a distribution over single numbers use shapesafe.distributions.Normal; for vectors pass loc of shape (*batch, dim)",
    ),
    "distributions: int_loc": (
        lambda: Normal(torch.zeros(3, dtype=torch.long), torch.ones(3)),
        None,
        "Normal(): argument `loc`: has dtype int64; expected a floating-point tensor\n  expected: a floating-point tensor\n  got: int64\n  hint: convert it with loc.float()",
    ),
    "distributions: list_loc": (
        lambda: Normal([0.0], 1.0),
        None,
        "Normal(): argument `loc`: must be a torch.Tensor or a Python number, got a list of 1 item\n  expected: a torch.Tensor or a Python number\n  got: list\n  hint: torch.as_tensor(loc, dtype=torch.float32)",
    ),
    "distributions: negative_scale": (
        lambda: Normal(E(3), torch.tensor([1.0, -2.0, 1.0])),
        None,
        "Normal(): argument `scale`: (a standard deviation) must be positive, but 1 of 3 entries are <= 0\n  expected: > 0\n  got: scale[1] = -2\n  hint: keep it positive by construction, e.g. scale=log_std.exp() or scale=F.softplus(raw) + 1e-5",
    ),
    "distributions: nan_scale": (
        lambda: Normal(E(3), torch.tensor([1.0, math.nan, 1.0])),
        None,
        "Normal(): argument `scale`: (a standard deviation) contains NaN: 1 of 3 entries, first at scale[1]\n  expected: no NaN\n  got: NaN at scale[1]\n  hint: NaN usually comes from upstream: check the network output and the loss for NaN/inf (torch.autograd.set_detect_anomaly(True) shows where it starts)",
    ),
    "distributions: nan_loc": (
        lambda: DiagNormal(torch.tensor([[0.0, math.nan]]), torch.ones(1, 2)),
        None,
        "DiagNormal(): argument `loc`: contains NaN: 1 of 2 entries, first at loc[0, 1]\n  expected: no NaN\n  got: NaN at loc[0, 1]\n  hint: NaN usually comes from upstream: check the network output and the loss for NaN/inf (torch.autograd.set_detect_anomaly(True) shows where it starts)",
    ),
    "distributions: mvn_loc_shared": (
        lambda: MultivariateNormal(E(2), torch.eye(2).expand(3, 2, 2)),
        None,
        "MultivariateNormal(): argument `covariance_matrix`: has batch shape (3,) but `loc` has batch shape (); they must be equal (shapesafe does not broadcast parameters unless asked)\n  expected: ()\n  got: (3,)\n  hint: `loc` would be broadcast to (3,); if that is intended pass broadcast=True (or loc.expand(3, 2))",
    ),
    "distributions: mvn_none": (
        lambda: MultivariateNormal(E(2)),
        None,
        "MultivariateNormal(): argument `covariance_matrix`: pass exactly one of covariance_matrix=, precision_matrix=, scale_tril= (got neither)\n  expected: exactly one of covariance_matrix=, precision_matrix=, scale_tril=\n  got: neither",
    ),
    "distributions: mvn_two": (
        lambda: MultivariateNormal(E(2), torch.eye(2), scale_tril=torch.eye(2)),
        None,
        "MultivariateNormal(): argument `scale_tril`: pass exactly one of covariance_matrix=, precision_matrix=, scale_tril= (got covariance_matrix, scale_tril)\n  expected: exactly one of covariance_matrix=, precision_matrix=, scale_tril=\n  got: covariance_matrix, scale_tril",
    ),
    "distributions: mvn_scalar_loc": (
        lambda: MultivariateNormal(torch.tensor(0.0), torch.eye(1)),
        None,
        "MultivariateNormal(): argument `loc`: has shape (); expected (*batch, D)\n  expected: (*batch, D)\n  got: ()\n  hint: for a Gaussian over single numbers use shapesafe.distributions.Normal",
    ),
    "distributions: mvn_not_square": (
        lambda: MultivariateNormal(E(2), torch.ones(2, 3)),
        None,
        "MultivariateNormal(): argument `covariance_matrix` axis 1 ('D'): expected D=2 (from `loc` axis 0, shape (2,)), got 3 in shape (2, 3)\n  expected: D=2\n  got: D=3\n  hint: `loc` is (*batch, D) and `covariance_matrix` is (*batch, D, D)",
    ),
    "distributions: mvn_vector_cov": (
        lambda: MultivariateNormal(E(2), torch.ones(2)),
        None,
        "MultivariateNormal(): argument `covariance_matrix`: has shape (2,); expected (*batch, D, D)\n  expected: (*batch, D, D)\n  got: (2,)\n  hint: for a diagonal covariance use torch.diag_embed(covariance_matrix)",
    ),
    "distributions: mvn_wrong_size": (
        lambda: MultivariateNormal(E(2), scale_tril=torch.eye(3)),
        None,
        "MultivariateNormal(): argument `scale_tril` axis 0 ('D'): expected D=2 (from `loc` axis 0, shape (2,)), got 3 in shape (3, 3)\n  expected: D=2\n  got: D=3\n  hint: `loc` is (*batch, D) and `scale_tril` is (*batch, D, D)",
    ),
    "distributions: mvn_list": (
        lambda: MultivariateNormal([0.0, 0.0], torch.eye(2)),
        None,
        "MultivariateNormal(): argument `loc`: must be a torch.Tensor, got a list of 2 items\n  expected: a torch.Tensor\n  got: list\n  hint: torch.as_tensor(loc, dtype=torch.float32)",
    ),
    "distributions: mvn_not_symmetric": (
        lambda: MultivariateNormal(
            E((2, 2)), torch.stack([torch.eye(2), torch.tensor([[1.0, 0.5], [0.0, 1.0]])])
        ),
        None,
        "MultivariateNormal(): argument `covariance_matrix`: covariance_matrix[1] is not symmetric (max |M - M.T| = 0.5)\n  expected: symmetric matrices\n  got: max |M - M.T| = 0.5\n  hint: symmetrize it with (covariance_matrix + covariance_matrix.mT) / 2",
    ),
    "distributions: mvn_not_pd": (
        lambda: MultivariateNormal(E(2), precision_matrix=torch.tensor([[1.0, 0.0], [0.0, -1.0]])),
        None,
        "MultivariateNormal(): argument `precision_matrix`: precision_matrix is not positive definite\n  expected: eigenvalues > 0\n  got: smallest eigenvalue -1\n  hint: build it as L @ L.mT + eps * I, or pass scale_tril= (a lower-triangular L with positive diagonal) instead",
    ),
    "distributions: mvn_tril_upper": (
        lambda: MultivariateNormal(E((1, 2)), scale_tril=torch.ones(1, 2, 2)),
        None,
        "MultivariateNormal(): argument `scale_tril`: scale_tril[0] has nonzero entries above the diagonal\n  expected: lower-triangular matrices\n  got: nonzero entries above the diagonal\n  hint: use torch.tril(...), or torch.linalg.cholesky(cov) of a covariance",
    ),
    "distributions: mvn_tril_diag": (
        lambda: MultivariateNormal(E(2), scale_tril=torch.tensor([[1.0, 0.0], [0.5, -1.0]])),
        None,
        "MultivariateNormal(): argument `scale_tril`: scale_tril has a diagonal entry <= 0\n  expected: a positive diagonal\n  got: diagonal [1.0, -1.0]\n  hint: make it positive by construction, e.g. exp() or softplus() of the raw diagonal",
    ),
    "distributions: mvn_nan_loc": (
        lambda: MultivariateNormal(torch.tensor([math.nan, 0.0]), torch.eye(2)),
        None,
        "MultivariateNormal(): argument `loc`: contains NaN: 1 of 2 entries, first at loc[0]\n  expected: no NaN\n  got: NaN at loc[0]\n  hint: NaN usually comes from upstream: check the network output and the loss for NaN/inf (torch.autograd.set_detect_anomaly(True) shows where it starts)",
    ),
    "distributions: cat_both": (
        lambda: Categorical(torch.ones(3), torch.ones(3)),
        None,
        "Categorical(): argument `logits`: pass exactly one of probs= or logits= (got both)\n  expected: exactly one of probs= or logits=\n  got: both\n  hint: a network's raw output is logits: Categorical(logits=net(obs))",
    ),
    "distributions: cat_neither": (
        lambda: Categorical(),
        None,
        "Categorical(): argument `probs`: pass exactly one of probs= or logits= (got neither)\n  expected: exactly one of probs= or logits=\n  got: neither\n  hint: a network's raw output is logits: Categorical(logits=net(obs))",
    ),
    "distributions: cat_scalar": (
        lambda: Categorical(logits=torch.tensor(0.0)),
        None,
        "Categorical(): argument `logits`: has shape (); expected (*batch, K)\n  expected: (*batch, K)\n  got: ()\n  hint: for a yes/no variable use Bernoulli",
    ),
    "distributions: cat_int_logits": (
        lambda: Categorical(logits=torch.zeros(3, dtype=torch.long)),
        None,
        "Categorical(): argument `logits`: has dtype int64; expected a floating-point tensor\n  expected: a floating-point tensor\n  got: int64\n  hint: convert it with logits.float()",
    ),
    "distributions: cat_negative_probs": (
        lambda: Categorical(torch.tensor([[0.5, -0.5, 1.0]])),
        None,
        "Categorical(): argument `probs`: has negative entries; probabilities must be >= 0\n  expected: >= 0\n  got: probs[0, 1] = -0.5\n  hint: is this a network output? Those are logits: pass logits=... instead",
    ),
    "distributions: cat_nan_probs": (
        lambda: Categorical(torch.tensor([0.5, math.nan])),
        None,
        "Categorical(): argument `probs`: contains NaN: 1 of 2 entries, first at probs[1]\n  expected: no NaN\n  got: NaN at probs[1]\n  hint: NaN usually comes from upstream: check the network output and the loss for NaN/inf (torch.autograd.set_detect_anomaly(True) shows where it starts)",
    ),
    "distributions: cat_zero_row": (
        lambda: Categorical(torch.tensor([[0.5, 0.5], [0.0, 0.0]])),
        None,
        "Categorical(): argument `probs`: row probs[1] cannot be normalized\n  expected: a positive, finite sum per row\n  got: sum 0\n  hint: every row needs some positive, finite mass; masked rows need at least one allowed category",
    ),
    "distributions: cat_nan_logits": (
        lambda: Categorical(logits=torch.tensor([math.nan, 0.0])),
        None,
        "Categorical(): argument `logits`: contains NaN: 1 of 2 entries, first at logits[0]\n  expected: no NaN\n  got: NaN at logits[0]\n  hint: NaN usually comes from upstream: check the network output and the loss for NaN/inf (torch.autograd.set_detect_anomaly(True) shows where it starts)",
    ),
    "distributions: cat_inf_logits": (
        lambda: Categorical(logits=torch.tensor([[math.inf, 0.0]])),
        None,
        "Categorical(): argument `logits`: row logits[0] contains +inf\n  expected: no +inf\n  got: +inf\n  hint: clamp the logits, or mask with -inf (not +inf)",
    ),
    "distributions: cat_all_masked": (
        lambda: Categorical(logits=torch.tensor([[0.0, 1.0], [-math.inf, -math.inf]])),
        None,
        "Categorical(): argument `logits`: every entry of row logits[1] is -inf, so no category has any probability\n  expected: at least one finite logit per row\n  got: all -inf\n  hint: an action mask must leave at least one action allowed in every row",
    ),
    "distributions: bern_neither": (
        lambda: Bernoulli(),
        None,
        "Bernoulli(): argument `probs`: pass exactly one of probs= or logits= (got neither)\n  expected: exactly one of probs= or logits=\n  got: neither\n  hint: a network's raw output is logits: Bernoulli(logits=net(obs))",
    ),
    "distributions: bern_probs_range": (
        lambda: Bernoulli(torch.tensor([0.5, 1.5])),
        None,
        "Bernoulli(): argument `probs`: must lie in [0, 1], but 1 of 2 entries do not\n  expected: 0 <= p <= 1\n  got: probs[1] = 1.5\n  hint: is this a network output? Those are logits: pass logits=... instead",
    ),
    "distributions: bern_number": (
        lambda: Bernoulli(-1.0),
        None,
        "Bernoulli(): argument `probs`: must lie in [0, 1], but 1 of 1 entries do not\n  expected: 0 <= p <= 1\n  got: probs = -1\n  hint: is this a network output? Those are logits: pass logits=... instead",
    ),
    "distributions: bern_nan_logits": (
        lambda: Bernoulli(logits=torch.tensor([math.nan])),
        None,
        "Bernoulli(): argument `logits`: contains NaN: 1 of 1 entries, first at logits[0]\n  expected: no NaN\n  got: NaN at logits[0]\n  hint: NaN usually comes from upstream: check the network output and the loss for NaN/inf (torch.autograd.set_detect_anomaly(True) shows where it starts)",
    ),
    "distributions: bern_str": (
        lambda: Bernoulli("0.5"),
        None,
        "Bernoulli(): argument `probs`: must be a torch.Tensor or a Python number, got the str '0.5'\n  expected: a torch.Tensor or a Python number\n  got: str\n  hint: torch.as_tensor(probs, dtype=torch.float32)",
    ),
    "distributions: mix_scalar_logits": (
        lambda: GaussianMixture(torch.tensor(0.0), E((1, 2)), torch.ones(1, 2)),
        None,
        "GaussianMixture(): argument `logits`: has shape (); expected (*batch, K)\n  expected: (*batch, K)\n  got: ()",
    ),
    "distributions: mix_vector_locs": (
        lambda: GaussianMixture(E(3), E(3), torch.ones(3)),
        None,
        "GaussianMixture(): argument `locs`: has shape (3,); expected (*batch, K, D)\n  expected: (*batch, K, D)\n  got: (3,)\n  hint: for a mixture of 1-D Gaussians use locs.unsqueeze(-1) (D = 1)",
    ),
    "distributions: mix_components": (
        lambda: GaussianMixture(E((16, 3)), E((16, 4, 2)), torch.ones(16, 4, 2)),
        None,
        "GaussianMixture(): argument `locs` axis 1 ('K'): expected K=3 (from `logits` axis 1, shape (16, 3)), got 4 in shape (16, 4, 2)\n  expected: K=3\n  got: K=4\n  hint: `logits` is (*batch, K) and `locs` is (*batch, K, D); a transposed head?",
    ),
    "distributions: mix_logits_shared": (
        lambda: GaussianMixture(E(3), E((8, 3, 2)), torch.ones(8, 3, 2)),
        None,
        "GaussianMixture(): argument `locs`: has batch shape (8,) but `logits` has batch shape (); they must be equal (shapesafe does not broadcast parameters unless asked)\n  expected: ()\n  got: (8,)\n  hint: `logits` would be broadcast to (8,); if that is intended pass broadcast=True (or logits.expand(8, 3))",
    ),
    "distributions: mix_scales_shared": (
        lambda: GaussianMixture(E((8, 3)), E((8, 3, 2)), torch.ones(3, 2)),
        None,
        "GaussianMixture(): argument `scales`: has batch shape () but `logits` has batch shape (8,); they must be equal (shapesafe does not broadcast parameters unless asked)\n  expected: (8,)\n  got: ()\n  hint: one `scales` shared across the leading axes? pass broadcast=True (or scales.expand(8, 3, 2) yourself)",
    ),
    "distributions: mix_zero_scales": (
        lambda: GaussianMixture(E(3), E((3, 2)), torch.zeros(3, 2)),
        None,
        "GaussianMixture(): argument `scales`: (standard deviations) must be positive, but 6 of 6 entries are <= 0\n  expected: > 0\n  got: scales[0, 0] = 0\n  hint: keep it positive by construction, e.g. scales=log_std.exp() or scales=F.softplus(raw) + 1e-5",
    ),
    "distributions: mix_cannot_broadcast": (
        lambda: GaussianMixture(E((4, 3)), E((5, 3, 2)), 1.0, broadcast=True),
        None,
        "GaussianMixture(): argument `locs`: cannot broadcast `logits` (4,), `locs` (5,) together (broadcast=True was given)\n  expected: shapes that broadcast\n  got: `logits` (4,), `locs` (5,)\n  hint: sizes must be equal or 1 in each axis, aligned from the right",
    ),
    "distributions: mix_rsample": (
        lambda: GaussianMixture(E(3), E((3, 2)), torch.ones(3, 2)).rsample(),
        None,
        "GaussianMixture.rsample(): has no reparameterized sample: drawing it involves a discrete choice, which has no gradient\n  expected: a distribution with has_rsample=True\n  got: GaussianMixture\n  hint: use sample() (no gradient through the draw), a score-function (REINFORCE) estimator with log_prob(), or a relaxation such as Gumbel-softmax",
    ),
    "distributions: mix_entropy": (
        lambda: GaussianMixture(E(3), E((3, 2)), torch.ones(3, 2)).entropy(),
        None,
        "GaussianMixture.entropy(): has no closed form for a GaussianMixture\n  expected: a distribution with a closed-form entropy\n  got: GaussianMixture\n  hint: use a Monte Carlo estimate: entropy_estimate(n), i.e. -log_prob(sample((n,))).mean(0)",
    ),
    "distributions: tanh_entropy": (
        lambda: TanhNormal(E(2), torch.ones(2)).entropy(),
        None,
        "TanhNormal.entropy(): has no closed form for a TanhNormal\n  expected: a distribution with a closed-form entropy\n  got: TanhNormal\n  hint: use a Monte Carlo estimate: entropy_estimate(n), i.e. -log_prob(rsample((n,))).mean(0)",
    ),
    "distributions: tanh_mean": (
        lambda: TanhNormal(E(2), torch.ones(2)).mean,
        None,
        "TanhNormal.mean: has no closed form for a TanhNormal\n  expected: a distribution with a closed-form mean\n  got: TanhNormal\n  hint: use .mode (tanh(loc)) for the deterministic action, or a Monte Carlo estimate rsample((n,)).mean(0)",
    ),
    "distributions: kl_trailing_q": (
        lambda: td.kl_divergence(Normal(E(4), torch.ones(4)), Normal(E((4, 1)), torch.ones(4, 1))),
        None,
        "kl_divergence(): argument `q`: `p` has batch_shape (4,) but `q` has batch_shape (4, 1); they must be equal (plain torch would broadcast them to a KL of shape (4, 4))\n  expected: (4,)\n  got: (4, 1)\n  hint: `q`'s parameters have a trailing axis of size 1; squeeze them (.squeeze(-1))",
    ),
    "distributions: kl_trailing_p": (
        lambda: td.kl_divergence(Normal(E((4, 1)), torch.ones(4, 1)), Normal(E(4), torch.ones(4))),
        None,
        "kl_divergence(): argument `q`: `p` has batch_shape (4, 1) but `q` has batch_shape (4,); they must be equal (plain torch would broadcast them to a KL of shape (4, 4))\n  expected: (4, 1)\n  got: (4,)\n  hint: `p`'s parameters have a trailing axis of size 1; squeeze them (.squeeze(-1))",
    ),
    "distributions: kl_batch": (
        lambda: td.kl_divergence(
            DiagNormal(E((3, 2)), torch.ones(3, 2)), DiagNormal(E((4, 2)), torch.ones(4, 2))
        ),
        None,
        "kl_divergence(): argument `q`: `p` has batch_shape (3,) but `q` has batch_shape (4,); they must be equal\n  expected: (3,)\n  got: (4,)\n  hint: build both from the same minibatch, or broadcast on purpose with q.expand((3,))",
    ),
    "distributions: kl_event": (
        lambda: td.kl_divergence(
            DiagNormal(E((4, 2)), torch.ones(4, 2)), DiagNormal(E((4, 3)), torch.ones(4, 3))
        ),
        None,
        "kl_divergence(): argument `q`: `p` has event_shape (2,) but `q` has event_shape (3,); they must be equal\n  expected: (2,)\n  got: (3,)\n  hint: both distributions must be over the same space (check the action dimension)",
    ),
    "distributions: kl_categories": (
        lambda: td.kl_divergence(Categorical(logits=E((4, 4))), Categorical(logits=E((4, 1)))),
        None,
        "kl_divergence(): argument `q`: `p` has 4 categories but `q` has 1; they must be equal (plain torch would broadcast the probabilities and return a meaningless KL)\n  expected: 4 categories\n  got: 1 category\n  hint: both distributions must be over the same set of actions: check the size of the logits' last axis (e.g. a head built for another action space)",
    ),
    "distributions: ann_no_event": (
        lambda: DiagNormal["batch"],
        None,
        "DiagNormal['batch']: give the event dims too, e.g. DiagNormal['batch', 'act'] (only scalar-event distributions such as Normal, Categorical and Bernoulli may leave them out)",
    ),
    "distributions: ann_event_count": (
        lambda: DiagNormal["b", "x y"],
        None,
        "DiagNormal['b', 'x y']: a DiagNormal has 1 event dim(s), but 'x y' names 2",
    ),
    "distributions: ann_cat_event": (
        lambda: Categorical["b", "k"],
        None,
        "Categorical['b', 'k']: a Categorical has 0 event dim(s), but 'k' names 1",
    ),
    "distributions: ann_three": (
        lambda: DiagNormal["b", "a", "c"],
        None,
        "DiagNormal[...]: takes one or two dim strings: DiagNormal[batch_dims, event_dims], e.g. DiagNormal['batch', 'act']; got ('b', 'a', 'c')",
    ),
    "distributions: ann_int": (
        lambda: DiagNormal[3],
        None,
        "DiagNormal[...]: takes one or two dim strings: DiagNormal[batch_dims, event_dims], e.g. DiagNormal['batch', 'act']; got (3,)",
    ),
    "distributions: dist_int": (
        lambda: Dist[int, "b", ""],
        None,
        "Dist[...]: the first item must be a torch.distributions.Distribution subclass, got <class 'int'>",
    ),
    "distributions: dist_one": (
        lambda: Dist[DiagNormal],
        None,
        "Dist[...]: takes a distribution class and dim strings, e.g. Dist[DiagNormal, 'batch', 'act']; got Dist[<class 'shapesafe.distributions.DiagNormal'>]",
    ),
    "distributions: entropy_estimate_n": (
        lambda: Normal(0.0, 1.0).entropy_estimate(0),
        None,
        "Normal.entropy_estimate(): argument `n`: must be a positive int, got 0\n  expected: a positive int\n  got: 0",
    ),
    # action-space distributions (masks, MultiDiscrete, Box bounds)
    "distributions: mask_no_legal_action": (
        lambda: Categorical(
            logits=E((4, 3)), mask=torch.tensor([[True, False, False]] * 3 + [[False] * 3])
        ),
        UsageError,
        "Categorical(): argument `mask`: row mask[3] allows no action (every entry is False)\n  expected: at least one True (legal action) per row\n  got: all False\n  hint: every state needs at least one legal action: check how the mask is built (True = legal, False = illegal)",
    ),
    "distributions: mask_disagrees_with_logits": (
        lambda: Categorical(
            logits=torch.tensor([[0.0, -math.inf]]), mask=torch.tensor([[False, True]])
        ),
        UsageError,
        "Categorical(): argument `logits`: row logits[0] gives no probability to any legal action (those where mask[0] is True)\n  expected: some probability on a legal action in every row\n  got: every legal entry of logits[0] is -inf\n  hint: `logits` and `mask` disagree: build both from the same state (True = legal)",
    ),
    "distributions: mask_dtype": (
        lambda: Categorical(logits=E((4, 3)), mask=torch.ones(4, 3)),
        DtypeError,
        "Categorical(): argument `mask`: has dtype float32; expected a bool tensor (True = allowed)\n  expected: a bool tensor (True = allowed)\n  got: float32\n  hint: mask.bool() (or mask != 0)",
    ),
    "distributions: mask_shared_without_broadcast": (
        lambda: Categorical(logits=E((4, 3)), mask=torch.ones(3, dtype=torch.bool)),
        ShapeError,
        "Categorical(): argument `mask`: has batch shape () but `logits` has batch shape (4,); they must be equal (shapesafe does not broadcast parameters unless asked)\n  expected: (4,)\n  got: ()\n  hint: one `mask` shared across the leading axes? pass broadcast=True (or mask.expand(4, 3) yourself)",
    ),
    "distributions: multi_head_size": (
        lambda: MultiCategorical(E((8, 6)), nvec=[3, 2]),
        ShapeError,
        "MultiCategorical(): argument `logits` axis 1: has 6 entries in its last axis, but nvec [3, 2] needs sum(nvec) = 5\n  expected: (*batch, 5)\n  got: (8, 6)\n  hint: one logit per choice of every sub-action, side by side: the head's output size must be sum(action_space.nvec)",
    ),
    "distributions: multi_no_nvec": (
        lambda: MultiCategorical(E((8, 5))),
        UsageError,
        "MultiCategorical(): argument `nvec`: is needed with a single logits tensor\n  expected: a non-empty sequence of positive ints (action_space.nvec)\n  got: None\n  hint: pass the sizes of the sub-actions: nvec=env.action_space.nvec",
    ),
    "distributions: multi_bad_nvec": (
        lambda: MultiCategorical(E((8, 5)), nvec=[5, 0]),
        UsageError,
        "MultiCategorical(): argument `nvec`: nvec[1] = 0 is not a positive int\n  expected: a non-empty sequence of positive ints (action_space.nvec)\n  got: [5, 0]\n  hint: pass the sizes of the sub-actions: nvec=env.action_space.nvec",
    ),
    "distributions: multi_nvec_disagrees": (
        lambda: MultiCategorical([E((8, 3)), E((8, 2))], nvec=[2, 3]),
        UsageError,
        "MultiCategorical(): argument `nvec`: nvec [2, 3] disagrees with the logits' sizes [3, 2]\n  expected: a non-empty sequence of positive ints (action_space.nvec)\n  got: [2, 3]\n  hint: pass the sizes of the sub-actions: nvec=env.action_space.nvec",
    ),
    "distributions: multi_parts_batch": (
        lambda: MultiCategorical([E((8, 3)), E((7, 2))]),
        ShapeError,
        "MultiCategorical(): argument `logits`: logits[1] has shape (7, 2), but logits[0] has (8, 3): every sub-action's logits need the same batch axes, (*batch, n_i)\n  expected: (8, n_1)\n  got: (7, 2)\n  hint: build every head from the same observation batch",
    ),
    "distributions: multi_sub_action_no_choice": (
        lambda: MultiCategorical(
            E((2, 5)),
            nvec=[3, 2],
            mask=torch.tensor([[True] * 5, [True, False, False, False, False]]),
        ),
        UsageError,
        "MultiCategorical(): argument `mask`: sub-action 1 (nvec[1] = 2) of row mask[1] has no legal choice: all False\n  expected: a legal choice with a finite logit for every sub-action\n  got: all False\n  hint: every sub-action needs a legal choice",
    ),
    "distributions: multi_sub_action_inf": (
        lambda: MultiCategorical(torch.tensor([[0.0, 0.0, math.inf, 0.0, 0.0]]), nvec=[3, 2]),
        UsageError,
        "MultiCategorical(): argument `logits`: sub-action 0 (nvec[0] = 3) of row logits[0] contains +inf\n  expected: a legal choice with a finite logit for every sub-action\n  got: +inf\n  hint: clamp the logits (mask with mask=, not +inf)",
    ),
    "distributions: multi_missing_sub_action_axis": (
        lambda: MultiCategorical(E((8, 5)), nvec=[3, 2]).log_prob(torch.zeros(8, dtype=torch.long)),
        ShapeError,
        "MultiCategorical.log_prob(): argument `value`: has 1 axis (8,), but this MultiCategorical needs at least 2 (batch_shape + event_shape)\n  expected: (*sample_shape, 8, 2)\n  got: (8,)\n  = sample_shape + batch_shape (8,) + event_shape (2,)\n  hint: `value` lacks the sub-action axis: a MultiCategorical scores whole actions, one index per sub-action, shape (*batch, 2) (what env.step takes)",
    ),
    "distributions: multi_out_of_support": (
        lambda: MultiCategorical(E((8, 5)), nvec=[3, 2]).log_prob(torch.tensor([[0, 2]] * 8)),
        UsageError,
        "MultiCategorical.log_prob(): argument `value`: has 8 of 8 entries outside the support IndependentConstraint(IntegerInterval(lower_bound=0, upper_bound=tensor([2, 1])), 1) of the distribution\n  expected: IndependentConstraint(IntegerInterval(lower_bound=0, upper_bound=tensor([2, 1])), 1)\n  got: value[0] = [0, 2]\n  hint: sub-action i takes values in [0, nvec[i] - 1], nvec = [3, 2]",
    ),
    "distributions: multi_kl_nvec": (
        lambda: td.kl_divergence(
            MultiCategorical(E((8, 5)), nvec=[3, 2]), MultiCategorical(E((8, 5)), nvec=[2, 3])
        ),
        ShapeError,
        "kl_divergence(): argument `q`: `p` has sub-actions nvec [3, 2] but `q` has nvec [2, 3]; they must be equal\n  expected: nvec [3, 2]\n  got: nvec [2, 3]\n  hint: both distributions must be over the same MultiDiscrete action space",
    ),
    "distributions: beta_missing_action_axis": (
        lambda: Beta(torch.ones(8, 2), torch.ones(8, 2)).log_prob(torch.full((8,), 0.5)),
        ShapeError,
        "Beta.log_prob(): argument `value`: has 1 axis (8,), but this Beta needs at least 2 (batch_shape + event_shape)\n  expected: (*sample_shape, 8, 2)\n  got: (8,)\n  = sample_shape + batch_shape (8,) + event_shape (2,)\n  hint: `value` lacks the action axis (2,): a Beta scores whole action vectors, one per batch element (log_prob sums over the action axis)",
    ),
    "distributions: beta_outside_unit": (
        lambda: Beta(torch.ones(8, 2), torch.ones(8, 2)).log_prob(torch.full((8, 2), 1.5)),
        UsageError,
        "Beta.log_prob(): argument `value`: has 8 of 8 entries outside the support IndependentConstraint(Interval(lower_bound=0.0, upper_bound=1.0), 1) of the distribution\n  expected: IndependentConstraint(Interval(lower_bound=0.0, upper_bound=1.0), 1)\n  got: value[0] = [1.5, 1.5]\n  hint: a Beta's values lie in [0, 1]; pass low= and high= for other bounds",
    ),
    "distributions: beta_bound_per_row": (
        lambda: Beta(torch.ones(8, 2), torch.ones(8, 2), low=E(8), high=torch.ones(8)),
        ShapeError,
        "Beta(): argument `low`: has shape (8,), which does not broadcast to the distribution's batch_shape + event_shape (8, 2)\n  expected: (), (2,) or (8, 2)\n  got: (8,)\n  hint: one bound per action dimension: low of shape (2,) (env.action_space.low)",
    ),
    "distributions: bounds_one_given": (
        lambda: Beta(torch.ones(8, 2), torch.ones(8, 2), low=0.0),
        UsageError,
        "Beta(): argument `high`: pass both low= and high= (got only low=)\n  expected: both bounds, or neither\n  got: high=None\n  hint: low=env.action_space.low, high=env.action_space.high",
    ),
    "distributions: bounds_swapped": (
        lambda: TanhNormal(
            E((8, 2)),
            torch.ones(8, 2),
            low=torch.tensor([0.0, 1.0]),
            high=torch.tensor([1.0, -1.0]),
        ),
        UsageError,
        "TanhNormal(): argument `high`: must be above low everywhere, but high[1] = -1 <= low[1] = 1\n  expected: low < high\n  got: high[1] = -1\n  hint: low=env.action_space.low, high=env.action_space.high (not swapped)",
    ),
    "distributions: bounds_infinite": (
        lambda: TanhNormal(E((8, 2)), torch.ones(8, 2), low=-math.inf, high=1.0),
        UsageError,
        "TanhNormal(): argument `low`: must be finite, but low = -inf\n  expected: finite bounds\n  got: low = -inf\n  hint: an unbounded action space has no squashed or Beta policy: use a DiagNormal, or give the bounds the environment clips to",
    ),
    "distributions: bounds_type": (
        lambda: TanhNormal(E((8, 2)), torch.ones(8, 2), low="low", high=1.0),
        DtypeError,
        "TanhNormal(): argument `low`: must be a number, an array or a tensor, got the str 'low'\n  expected: a number, an array or a tensor\n  got: str\n  hint: low=env.action_space.low",
    ),
    "distributions: tanh_outside_bounds": (
        lambda: TanhNormal(E((8, 2)), torch.ones(8, 2), low=0.0, high=4.0).log_prob(
            torch.full((8, 2), -1.0)
        ),
        UsageError,
        "TanhNormal.log_prob(): argument `value`: has 8 of 8 entries outside the support IndependentConstraint(ActionBounds(lower_bound=0.0, upper_bound=4.0), 1) of the distribution\n  expected: IndependentConstraint(ActionBounds(lower_bound=0.0, upper_bound=4.0), 1)\n  got: value[0] = [-1.0, -1.0]\n  hint: actions lie in [low, high] of this TanhNormal: pass actions in the environment's units (not rescaled to [-1, 1])",
    ),
}


# ---------------- ops and strict_broadcasting


OPS_CASES: dict[str, Case] = {
    "ops: take_along_trailing_unit_axis": (
        lambda: take_along(torch.zeros(64, 4), torch.zeros(64, 1, dtype=torch.long)),
        ShapeError,
        "take_along(): argument `index` axis 1: must have the shape of `values` without its last axis\n  expected: (64,)\n  got: (64, 1)\n  hint: `index` has a trailing axis of size 1; did you mean index.squeeze(-1)?",
    ),
    "ops: take_along_wrong_leading_dims": (
        lambda: take_along(torch.zeros(2, 3, 5), torch.zeros(2, 1, dtype=torch.long), dim=1),
        ShapeError,
        "take_along(): argument `index` axis 1: must have the shape of `values` (2, 3, 5) without axis 1\n  expected: (2, 5)\n  got: (2, 1)\n  hint: axis 1 of `index` has size 1 but `values` has 5 there; take_along does not broadcast -- expand explicitly if that is what you mean",
    ),
    "ops: take_along_full_shape_index": (
        lambda: take_along(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long)),
        ShapeError,
        "take_along(): argument `index`: must have the shape of `values` without its last axis\n  expected: (2,)\n  got: (2, 3)\n  hint: `index` has the shape of `values`; for torch.gather semantics (one index per output element) use shapesafe.ops.gather",
    ),
    "ops: take_along_float_index": (
        lambda: take_along(torch.zeros(4, 3), torch.zeros(4)),
        DtypeError,
        "take_along(): argument `index`: must have an integer dtype\n  expected: an integer dtype\n  got: float32\n  hint: indices must be integers; if `index` holds whole numbers, convert it with index.long() (torch) or index.astype(np.int64) (numpy)",
    ),
    "ops: take_along_bool_index": (
        lambda: take_along(torch.zeros(4, 3), torch.zeros(4, dtype=torch.bool)),
        DtypeError,
        "take_along(): argument `index`: must have an integer dtype\n  expected: an integer dtype\n  got: bool\n  hint: `index` is a boolean mask; to select with a mask use values[mask], or convert it with index.long() if it holds 0/1 indices",
    ),
    "ops: take_along_out_of_range": (
        lambda: take_along(torch.zeros(2, 3), torch.tensor([2, 3])),
        ShapeError,
        "take_along(): argument `index`: entry 3 at position (1,) is out of range for axis 1 of `values` of size 3\n  expected: 0 <= index < 3\n  got: 3\n  hint: check that the index was built for this tensor (e.g. the action space size)",
    ),
    "ops: take_along_negative": (
        lambda: take_along(torch.zeros(2, 3), torch.tensor([2, -1])),
        ShapeError,
        "take_along(): argument `index`: entry -1 at position (1,) is out of range for axis 1 of `values` of size 3\n  expected: 0 <= index < 3\n  got: -1\n  hint: negative indices are not wrapped around here (torch.gather refuses them too); use index % 3 if you really mean counting from the end",
    ),
    "ops: take_along_mixed_kinds": (
        lambda: take_along(torch.zeros(2, 3), np.zeros(2, dtype=np.int64)),
        DtypeError,
        "take_along(): argument `index`: cannot mix torch tensors and numpy arrays: `values` is a torch.Tensor, `index` is a numpy.ndarray\n  expected: a torch.Tensor\n  got: a numpy.ndarray\n  hint: convert one side, e.g. torch.as_tensor(index) or tensor.numpy()",
    ),
    "ops: take_along_not_an_array": (
        lambda: take_along([[1.0]], torch.zeros(1, dtype=torch.long)),
        DtypeError,
        "take_along(): argument `values`: must be a torch.Tensor or numpy.ndarray\n  expected: torch.Tensor or numpy.ndarray\n  got: a list of 1 item\n  hint: convert it first, e.g. torch.as_tensor(x) or np.asarray(x)",
    ),
    "ops: take_along_dim_out_of_range": (
        lambda: take_along(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), dim=2),
        ShapeError,
        "take_along(): argument `dim`: 2 is out of range for `values` of shape (2, 3) with 2 axes\n  expected: an int in -2..1\n  got: 2",
    ),
    "ops: take_along_dim_not_int": (
        lambda: take_along(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), dim="1"),
        DtypeError,
        "take_along(): argument `dim`: must be an int\n  expected: an int\n  got: the str '1'",
    ),
    "ops: take_along_0d_values": (
        lambda: take_along(torch.tensor(1.0), torch.tensor(0)),
        ShapeError,
        "take_along(): argument `values`: is 0-d; it needs the axis to take along\n  expected: at least 1 axis\n  got: ()",
    ),
    "ops: gather_smaller_index": (
        lambda: gather(torch.arange(6).reshape(2, 3), 0, torch.tensor([[0], [1]])),
        ShapeError,
        "gather(): argument `index` axis 1: must match `input` (2, 3) on every axis but 0\n  expected: size 3\n  got: size 1 (shape (2, 1))\n  hint: torch.gather would silently read only the first 1 of the 3 entries of `input` along axis 1; if that is what you want, slice `input` explicitly: gather(input[:, :1], 0, index)",
    ),
    "ops: gather_larger_index": (
        lambda: gather(torch.arange(6).reshape(2, 3), 1, torch.zeros(3, 3, dtype=torch.long)),
        ShapeError,
        "gather(): argument `index` axis 0: must match `input` (2, 3) on every axis but 1\n  expected: size 2\n  got: size 3 (shape (3, 3))\n  hint: `index` is larger than `input` along axis 0, which only axis 1 may be",
    ),
    "ops: gather_rank": (
        lambda: gather(torch.arange(6).reshape(2, 3), 1, torch.zeros(2, dtype=torch.long)),
        ShapeError,
        "gather(): argument `index`: must have as many axes as `input` (2, 3)\n  expected: 2 axes\n  got: (2,)\n  hint: for one index per row (the q[b, a[b]] pattern) use shapesafe.ops.take_along(input, index, dim)",
    ),
    "ops: gather_uint64_huge": (
        lambda: gather(torch.zeros(2, 3), 1, torch.tensor([[0], [-1]]).view(torch.uint64)),
        ShapeError,
        "gather(): argument `index`: entry 18446744073709551615 at position (1, 0) is out of range for axis 1 of `input` of size 3\n  expected: 0 <= index < 3\n  got: 18446744073709551615\n  hint: check that the index was built for this tensor (e.g. the action space size)",
    ),
    "ops: squeeze_non_unit": (
        lambda: squeeze(torch.zeros(10, 1, 4), 2),
        ShapeError,
        "squeeze(): argument `x` axis 2: has size 4, not 1 (`x` has shape (10, 1, 4))\n  expected: size 1\n  got: size 4\n  hint: the size-1 axes of `x` are (1,); torch's x.squeeze(2) would silently return `x` unchanged",
    ),
    "ops: squeeze_no_unit_axes": (
        lambda: squeeze(np.zeros((3, 4)), 0),
        ShapeError,
        "squeeze(): argument `x` axis 0: has size 3, not 1 (`x` has shape (3, 4))\n  expected: size 1\n  got: size 3\n  hint: `x` has no size-1 axes; torch's x.squeeze(0) would silently return `x` unchanged",
    ),
    "ops: squeeze_out_of_range": (
        lambda: squeeze(torch.zeros(3, 1), 3),
        ShapeError,
        "squeeze(): argument `dim`: 3 is out of range for `x` of shape (3, 1) with 2 axes\n  expected: an int in -2..1\n  got: 3",
    ),
    "ops: squeeze_twice": (
        lambda: squeeze(torch.zeros(3, 1), (1, -1)),
        UsageError,
        "squeeze(): argument `dim`: names the same axis twice for `x` of shape (3, 1)\n  expected: distinct axes\n  got: (1, -1)",
    ),
    "ops: squeeze_empty": (
        lambda: squeeze(torch.zeros(3, 1), ()),
        UsageError,
        "squeeze(): argument `dim`: is empty; name the axes to remove\n  expected: an int or a non-empty tuple of ints\n  got: ()",
    ),
    "ops: squeeze_float_dim": (
        lambda: squeeze(torch.zeros(3, 1), 1.0),
        DtypeError,
        "squeeze(): argument `dim`: must be an int\n  expected: an int\n  got: the float 1.0",
    ),
    "ops: unsqueeze_no_axes": (
        lambda: unsqueeze(torch.zeros(2)),
        UsageError,
        "unsqueeze(): argument `dims`: no axes given; name where to insert them\n  expected: at least one int\n  got: ()",
    ),
    "ops: unsqueeze_twice": (
        lambda: unsqueeze(torch.zeros(2), 1, -2),
        UsageError,
        "unsqueeze(): argument `dims`: name the same result axis twice (the result has 3 axes)\n  expected: distinct axes\n  got: (1, -2)",
    ),
    "ops: unsqueeze_out_of_range": (
        lambda: unsqueeze(torch.zeros(2), 3),
        ShapeError,
        "unsqueeze(): argument `dims`: 3 is out of range for the result (1 + 1 axes) with 2 axes\n  expected: an int in -2..1\n  got: 3",
    ),
    "ops: newaxis_rank": (
        lambda: newaxis(np.zeros((10, 4, 2)))[:, None],
        ShapeError,
        'newaxis(): argument `x`: index [:, None] keeps 1 axis with `:` but `x` has shape (10, 4, 2)\n  expected: 1 axis\n  got: 3 axes\n  hint: write one `:` per axis of `x`, or `...` for "the rest"; numpy would silently keep the missing trailing axes',
    ),
    "ops: newaxis_rank_with_ellipsis": (
        lambda: newaxis(torch.zeros(10, 4, 2))[:, :, :, None, :, ...],
        ShapeError,
        "newaxis(): argument `x`: index [:, :, :, None, :, ...] keeps 4 axes with `:` but `x` has shape (10, 4, 2)\n  expected: 4 axes or more\n  got: 3 axes",
    ),
    "ops: newaxis_integer": (
        lambda: newaxis(np.zeros((10, 4, 2)))[:, 0, None],
        UsageError,
        "newaxis(): argument `key`: index [:, 0, None]: entry 1 is 0; only `:` (keep an axis), `None`/np.newaxis (insert one) and `...` (keep the rest) are allowed\n  expected: `:`, `None` or `...`\n  got: 0\n  hint: select or slice with ordinary indexing first, then insert axes",
    ),
    "ops: newaxis_two_ellipses": (
        lambda: newaxis(np.zeros((10, 4, 2)))[..., None, ...],
        UsageError,
        "newaxis(): argument `key`: index [..., None, ...] has more than one `...`\n  expected: at most one `...`\n  got: 2",
    ),
    "ops: reshape_reorders": (
        lambda: reshape(torch.zeros(5, 32, 3), "time batch obs -> batch (time obs)"),
        AnnotationError,
        "reshape(): argument `pattern`: reorders axes (time batch obs -> batch time obs); a reshape cannot move axes, it would mix them\n  got: 'time batch obs -> batch (time obs)'\n  hint: permute first (x.permute(...) / np.transpose), or use einops.rearrange, then reshape",
    ),
    "ops: reshape_not_divisible": (
        lambda: reshape(torch.zeros(32, 7056), "batch (h w) -> batch h w", h=85),
        ShapeError,
        "reshape(): argument `x` axis 1: pattern 'batch (h w) -> batch h w': axis 1 (h w) must be divisible by h=85\n  expected: a multiple of 85\n  got: size 7056 (shape (32, 7056))",
    ),
    "ops: reshape_two_unknown": (
        lambda: reshape(torch.zeros(32, 7056), "batch (h w) -> batch h w"),
        UsageError,
        "reshape(): argument `x` axis 1: pattern 'batch (h w) -> batch h w': cannot infer h and w from one axis\n  expected: all but one of h, w as size keywords\n  got: size 7056\n  hint: pass all but one of them, e.g. h=...",
    ),
    "ops: reshape_wrong_size": (
        lambda: reshape(torch.zeros(32, 7056), "batch obs -> batch obs", obs=4),
        ShapeError,
        "reshape(): argument `x` axis 1: pattern 'batch obs -> batch obs': axis 1 (obs) must have size obs=4\n  expected: size 4\n  got: size 7056 (shape (32, 7056))",
    ),
    "ops: reshape_rank": (
        lambda: reshape(torch.zeros(32, 7056), "b c d -> b (c d)"),
        ShapeError,
        "reshape(): argument `x`: pattern 'b c d -> b (c d)' needs 3 axes\n  expected: 3 axes\n  got: (32, 7056)",
    ),
    "ops: reshape_unknown_keyword": (
        lambda: reshape(torch.zeros(32, 7056), "b c -> b c", w=3),
        UsageError,
        "reshape(): argument `w`: size keyword w= is not an axis of pattern 'b c -> b c'\n  expected: an axis name of the left side\n  got: w",
    ),
    "ops: reshape_bool_keyword": (
        lambda: reshape(torch.zeros(3, 4), "b (h w) -> b h w", h=True),
        DtypeError,
        "reshape(): argument `h`: size keyword h= must be an int\n  expected: an int >= 0\n  got: the bool True\n  hint: pass the size of axis 'h' in pattern 'b (h w) -> b h w', e.g. h=4",
    ),
    "ops: reshape_negative_keyword": (
        lambda: reshape(torch.zeros(3, 4), "b (h w) -> b h w", h=-2),
        UsageError,
        "reshape(): argument `h`: size keyword h= must be a size\n  expected: an int >= 0\n  got: -2",
    ),
    "ops: reshape_unreadable_pattern": (
        lambda: reshape(torch.zeros(3, 4), "b c -> b c 2"),
        AnnotationError,
        "reshape(): argument `pattern`: cannot read '2'; axis names must be identifiers\n  got: 'b c -> b c 2'\n  hint: sizes go in keyword arguments, e.g. reshape(x, 'b (h w) -> b h w', h=4)",
    ),
    "ops: reshape_keep_mixes_items": (
        lambda: reshape(torch.zeros(8, 9), 6, 3, keep=1),
        ShapeError,
        "reshape(): argument `x`: cannot reshape axes 1.. of `x` into (6, 3): 9 elements per item, 18 in the target\n  expected: 18 elements per item\n  got: shape (8, 9)\n  hint: keep=1 preserves (8,); the rest (9,) has 9 elements; x.reshape(-1, 6, 3) would have silently mixed items across the kept axes",
    ),
    "ops: reshape_keep_missing": (
        lambda: reshape(torch.zeros(8, 9), 72),
        UsageError,
        "reshape(): argument `keep`: is required with explicit sizes\n  expected: keep=<number of leading axes to preserve>\n  got: None\n  hint: usually keep=1 for the batch axis; or pass a pattern such as 'batch h w -> batch (h w)'",
    ),
    "ops: reshape_keep_out_of_range": (
        lambda: reshape(torch.zeros(8, 9), 9, keep=3),
        ShapeError,
        "reshape(): argument `keep`: keeps 3 leading axes but `x` has shape (8, 9)\n  expected: an int in 0..2\n  got: 3",
    ),
    "ops: flatten_flat": (
        lambda: flatten(torch.zeros(32)),
        ShapeError,
        "flatten(): argument `x`: no axes left to flatten after keeping 1 leading axis\n  expected: more than 1 axis\n  got: shape (32,)\n  hint: `x` may already be flat; use unsqueeze(x, -1) if you need a trailing feature axis of size 1",
    ),
    "ops: flatten_negative_keep": (
        lambda: flatten(torch.zeros(3, 2), keep=-1),
        UsageError,
        "flatten(): argument `keep`: must be >= 0\n  expected: an int >= 0\n  got: -1",
    ),
    "ops: strict_not_a_function": (
        lambda: strict_broadcasting(3),
        UsageError,
        "strict_broadcasting() takes a function or keyword options only, got the int 3",
    ),
}


def test_strict_broadcasting_wording() -> None:
    rewards, q_next = torch.zeros(64), torch.zeros(64, 1)
    with strict_broadcasting(), pytest.raises(shapesafe.BroadcastError) as info:
        td = rewards + 0.99 * q_next
        del td
    lines = str(info.value).splitlines()
    assert lines[0] == (
        "strict_broadcasting: `+` (add) would broadcast shapes (64,) and (64, 1) to (64, 64) "
        "(rank promotion: the (64,) operand does not fit inside (64, 1))"
    )
    assert re.fullmatch(r"  at .*test_messages\.py:\d+", lines[1])
    assert lines[2] == "    td = rewards + 0.99 * q_next"
    assert lines[3] == (
        "  hint: the (64, 1) operand has a trailing size-1 axis the (64,) one lacks; squeeze it "
        "(.squeeze(-1)) or unsqueeze the other (.unsqueeze(-1)); if the broadcast is intended, "
        "make it explicit (.expand_as(), torch.broadcast_to()) or wrap the line in "
        "shapesafe.allow_broadcasting()"
    )


def test_strict_loss_wording() -> None:
    pred, target = torch.zeros(8, 1), torch.zeros(8)
    with strict_broadcasting(), pytest.raises(shapesafe.BroadcastError) as info:
        torch.nn.functional.mse_loss(pred, target)
    lines = str(info.value).splitlines()
    assert lines[0] == (
        "strict_broadcasting: mse_loss() got input (8, 1), target (8,): torch would broadcast "
        "them to (8, 8), averaging over pairs that do not belong together"
    )
    assert re.fullmatch(r"  at .*test_messages\.py:\d+", lines[1])
    assert lines[2] == "    torch.nn.functional.mse_loss(pred, target)"
    assert lines[3] == (
        "  hint: the (8, 1) operand has a trailing size-1 axis the (8,) one lacks; squeeze it "
        "(.squeeze(-1)) or unsqueeze the other (.unsqueeze(-1)); a loss needs input and target "
        "of exactly the same shape"
    )


def test_strict_batch_total_wording() -> None:
    log_prob = torch.zeros(64, requires_grad=True) * 1.0
    advantages = torch.ones(64)
    with strict_broadcasting(), pytest.raises(shapesafe.BroadcastError) as info:
        loss = -(log_prob.sum(0) * advantages).mean()
        del loss
    lines = str(info.value).splitlines()
    assert lines[0] == (
        "strict_broadcasting: `*` (mul) combines a total over the batch, shape () summed over "
        "a batch axis of size 64, with a per-sample tensor of shape (64,)"
    )
    assert re.fullmatch(r"  at .*test_messages\.py:\d+", lines[1])
    assert lines[2] == "    loss = -(log_prob.sum(0) * advantages).mean()"
    assert lines[3] == (
        "  hint: sum over the axis you meant (.sum(-1) for the action axis of a per-coordinate "
        "log-prob), or reduce the per-sample product instead: -(log_prob * advantages).mean(); "
        "if a total over the batch is intended here, wrap the line in "
        "shapesafe.allow_broadcasting()"
    )


def test_strict_inside_log_prob_wording() -> None:
    dist = torch.distributions.Normal(torch.zeros(64), torch.ones(64))
    actions = torch.zeros(64, 1)
    with strict_broadcasting(), pytest.raises(shapesafe.BroadcastError) as info:
        dist.log_prob(actions)
    lines = str(info.value).splitlines()
    assert lines[0] == (
        "strict_broadcasting: `-` (sub) inside Normal.log_prob() would broadcast shapes "
        "(64, 1) and (64,) to (64, 64) (rank promotion: the (64,) operand does not fit "
        "inside (64, 1))"
    )
    assert lines[2] == "    dist.log_prob(actions)"
    assert lines[3] == (
        "  hint: the (64, 1) operand has a trailing size-1 axis the (64,) one lacks; squeeze it "
        "(.squeeze(-1)) or unsqueeze the other (.unsqueeze(-1)); the value passed to log_prob() "
        "must have the distribution's batch_shape + event_shape as its trailing axes (e.g. "
        "actions of shape (B, 1) for a distribution of batch shape (B,): .squeeze(-1) them); if "
        "the broadcast is intended, make it explicit (.expand_as(), torch.broadcast_to()) or "
        "wrap the line in shapesafe.allow_broadcasting()"
    )


def test_strict_all_ones_hint_says_it_is_ambiguous() -> None:
    with strict_broadcasting(), pytest.raises(shapesafe.BroadcastError) as info:
        torch.nn.functional.mse_loss(torch.zeros(1, 1), torch.zeros(1))
    assert info.value.hint == (
        "the (1, 1) operand has one more axis than the (1,) one, and with every size 1 "
        "shapesafe cannot tell which: a leading one (a (1, N) row at N=1: .squeeze(0)) or a "
        "trailing one (a (batch, 1) column at batch=1: .squeeze(-1)); both fix this call, pick "
        "the one that is right when the sizes grow; a loss needs input and target of exactly "
        "the same shape"
    )
    with strict_broadcasting(), pytest.raises(shapesafe.BroadcastError) as info:
        torch.nn.functional.mse_loss(torch.zeros(1, 3), torch.zeros(3))
    assert info.value.hint == (
        "the (1, 3) operand has a leading size-1 axis the (3,) one lacks; squeeze it "
        "(.squeeze(0)) or unsqueeze the other (.unsqueeze(0)); a loss needs input and target "
        "of exactly the same shape"
    )


# ---------------- torch safety: numpy boundary, autograd, training, checkpoints


def two_heads_one_used() -> nn.Module:
    net = nn.ModuleDict({"a": nn.Linear(2, 1), "b": nn.Linear(2, 1)})
    net["a"](torch.ones(1, 2)).sum().backward()
    return net


def inf_gradients() -> nn.Module:
    net = nn.Linear(2, 1)
    (net(torch.tensor([[0.0, 1.0]])) * torch.tensor(math.inf)).sum().backward()
    return net


def leaf_in_place() -> None:
    w = torch.zeros(2, requires_grad=True)
    with explain_autograd_errors():
        w += 1


class ListHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.heads = [nn.Linear(2, 1)]


def mean_loss(m: nn.Module, b: torch.Tensor) -> torch.Tensor:
    return m(b).mean()


def saved_two_layers() -> str:
    save_checkpoint("x.pt", nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)))
    return "x.pt"


def empty_file() -> str:
    Path("empty.pt").write_bytes(b"")
    return "empty.pt"


def inconsistent_file() -> str:
    from shapesafe.torch_safety.checkpoint._payload import FIELDS, _checksum

    obj = torch.load(saved_two_layers(), weights_only=True)
    obj["state_dict"]["1.weight"] = torch.zeros(5, 5)
    obj["checksum"] = _checksum(
        {k: obj[k] for k in FIELDS if k != "checksum"}, validate=False, function="t"
    )
    torch.save(obj, "x.pt")
    return "x.pt"


def _snippet(code: str) -> Callable[[], None]:
    """A case that runs ``code`` as a user would type it (the public names, the situations
    above, a fresh seeded ``NET`` and its ``OPT``)."""

    def call() -> None:
        torch.manual_seed(0)
        net = nn.Linear(2, 1)
        # the public names, as a user would import them, plus this module's situations
        namespace: dict[str, Any] = {**vars(shapesafe), **globals(), "np": np, "NET": net}
        namespace["OPT"] = torch.optim.SGD(net.parameters(), lr=0.1)
        exec(code, namespace)

    return call


TORCH_SAFETY_CASES: dict[str, Case] = {
    "torch_safety: from_numpy_object_array": (
        _snippet("from_numpy(np.array([np.zeros(2), np.zeros(3)], dtype=object))"),
        DtypeError,
        "from_numpy(): argument `array`: has object dtype (array (2,) object), which has no tensor equivalent\n"
        "  expected: a bool, integer, float or complex dtype\n"
        "  got: object\n"
        "  hint: an object array usually comes from a ragged list or a list of arrays of different shapes; np.stack equally-shaped arrays (or pad them) first",
    ),
    "torch_safety: from_numpy_of_a_tensor": (
        _snippet("from_numpy(torch.zeros(2))"),
        DtypeError,
        "from_numpy(): argument `array`: is already a torch tensor (tensor (2,) float32)\n"
        "  expected: a numpy array, numpy scalar, Python number or list\n"
        "  got: tensor (2,) float32\n"
        "  hint: use t.to(dtype) / detached_copy(t); from_numpy is for numpy data",
    ),
    "torch_safety: from_numpy_bad_dtype_argument": (
        _snippet("from_numpy(np.zeros(2), dtype=np.float32)"),
        UsageError,
        "from_numpy(): argument `dtype`: must be None, 'keep' or a torch.dtype, got a builtins.type\n"
        "  expected: None, 'keep' or a torch.dtype\n"
        "  got: a builtins.type\n"
        "  hint: e.g. dtype=torch.float32",
    ),
    "torch_safety: from_numpy_non_finite": (
        _snippet("from_numpy(np.array([[0, np.nan], [np.inf, 1]]), check_finite=True)"),
        NonFiniteError,
        "from_numpy(): argument `array`: array (2, 2) float64 holds 1 NaN and 1 inf value (first at index (0, 1))\n"
        "  expected: finite values\n"
        "  got: 1 NaN, 1 inf\n"
        "  hint: the simulator diverged or was fed NaN actions; check the step before, or np.nan_to_num() if that is intended",
    ),
    "torch_safety: from_numpy_overflow": (
        _snippet("from_numpy(np.array([1.0, 1e39]), check_finite=True)"),
        NonFiniteError,
        "from_numpy(): argument `array`: array (2,) float64 holds values up to 1e+39 that overflow to inf in float32\n"
        "  expected: values representable in float32\n"
        "  got: max |value| 1e+39\n"
        "  hint: rescale or clip the values, or keep float64 with dtype=torch.float64",
    ),
    "torch_safety: from_numpy_complex_to_real": (
        _snippet("from_numpy(np.array([1 + 2j]), dtype=torch.float32)"),
        DtypeError,
        "from_numpy(): argument `dtype`: the array (array (1,) complex128) is complex, but dtype float32 is real: the imaginary part would be silently discarded\n"
        "  expected: a complex dtype\n"
        "  got: float32\n"
        "  hint: convert explicitly first (a.real, np.abs(a)), or pass a complex dtype",
    ),
    "torch_safety: from_numpy_uint64_wrap": (
        _snippet("from_numpy(np.array([2**63 + 5], dtype=np.uint64))"),
        DtypeError,
        "from_numpy(): argument `array`: array (1,) uint64 holds 9223372036854775813, which does not fit in int64 (torch's index dtype): the conversion would wrap it to a negative number\n"
        "  expected: values <= 2**63 - 1\n"
        "  got: 9223372036854775813\n"
        "  hint: the values look like hashes or seeds, not indices; keep them in numpy, or reduce them first (a % 2**63)",
    ),
    "torch_safety: from_numpy_nan_to_int": (
        _snippet("from_numpy(np.array([1.0, np.nan]), dtype=torch.int64)"),
        NonFiniteError,
        "from_numpy(): argument `array`: array (2,) float64 holds 1 NaN or inf value, which cannot be converted to int64\n"
        "  expected: finite values\n"
        "  got: 1 NaN, 0 inf\n"
        "  hint: replace them first (np.nan_to_num) or keep a float dtype",
    ),
    "torch_safety: from_numpy_bad_device": (
        _snippet("from_numpy(np.zeros(2), device='nope')"),
        UsageError,
        "from_numpy(): argument `device`: the str 'nope' is not a device torch knows\n"
        "  got: the str 'nope'\n"
        "  hint: e.g. device='cpu' or device='cuda:0'",
    ),
    "torch_safety: to_numpy_of_an_array": (
        _snippet("to_numpy(np.zeros(2))"),
        DtypeError,
        "to_numpy(): argument `tensor`: must be a torch.Tensor, got array (2,) float64\n"
        "  expected: a torch.Tensor\n"
        "  got: array (2,) float64\n"
        "  hint: for a numpy array, take a copy with np.array(a, copy=True)",
    ),
    "torch_safety: to_numpy_meta": (
        _snippet("to_numpy(torch.zeros(2, device='meta'))"),
        DtypeError,
        "to_numpy(): argument `tensor`: tensor (2,) float32 is a meta tensor, which has no data to copy\n"
        "  got: a meta tensor\n"
        "  hint: materialise it first (e.g. module.to_empty(device='cpu') and load real weights)",
    ),
    "torch_safety: autograd_graph_of_a_float": (
        _snippet("autograd_graph(1.0)"),
        DtypeError,
        "autograd_graph(): argument `loss`: must be a torch.Tensor, got the float 1.0\n"
        "  expected: a torch.Tensor\n"
        "  got: the float 1.0\n"
        "  hint: pass the loss tensor itself, not loss.item()",
    ),
    "torch_safety: autograd_graph_without_grad_fn": (
        _snippet("autograd_graph(torch.ones(2) * 2)"),
        AutogradError,
        "autograd_graph(): argument `loss`: tensor (2,) float32 has no grad_fn and does not require grad: nothing connects it to any parameter\n"
        "  expected: a tensor computed from parameters (with a grad_fn)\n"
        "  got: a tensor without grad_fn\n"
        "  hint: was it computed under torch.no_grad() / evaluating(), from .detach()ed tensors, or through .item() / numpy?",
    ),
    "torch_safety: check_grads_missing": (
        _snippet("check_grads(two_heads_one_used())"),
        AutogradError,
        "check_grads(): 2 of 4 trainable parameters of ModuleDict received no gradient\n"
        "  b.weight (1, 2)\n"
        "  b.bias (1,)\n"
        "  hint: a parameter with no gradient is not used by the loss: check that forward() uses it, that no .detach() / .item() / numpy round trip cuts the graph, and that backward() ran (autograd_graph(loss, model).unused names them before backward); freeze it on purpose with requires_grad_(False) or pass ignore=[...]",
    ),
    "torch_safety: check_grads_non_finite": (
        _snippet("check_grads(inf_gradients())"),
        NonFiniteError,
        "check_grads(): 2 parameters of Linear got non-finite gradients\n"
        "  weight (1, 2): 1 NaN, 1 inf\n"
        "  bias (1,): 0 NaN, 1 inf\n"
        "  hint: non-finite gradients come from the loss's inputs (log(0), 1/0, overflow)",
    ),
    "torch_safety: params_without_grad_of_none": (
        _snippet("params_without_grad(None)"),
        UsageError,
        "params_without_grad(): argument `module`: must be a torch.nn.Module, got None\n"
        "  expected: a torch.nn.Module\n"
        "  got: None\n"
        "  hint: pass the model after loss.backward(); for several models, wrap them: nn.ModuleList([actor, critic])",
    ),
    "torch_safety: detached_copy_of_a_list": (
        _snippet("detached_copy([1])"),
        DtypeError,
        "detached_copy(): argument `t`: must be a torch.Tensor, got a list of 1 item\n"
        "  expected: a torch.Tensor\n"
        "  got: a list of 1 item\n"
        "  hint: for numpy arrays use a.copy(); for nested data, copy each tensor",
    ),
    "torch_safety: explained_in_place_on_a_leaf": (
        _snippet("leaf_in_place()"),
        AutogradError,
        "autograd: an in-place operation (`w += ...`, `w.zero_()`, `w[0] = ...`, `w.add_()`) was applied to a leaf tensor that requires grad (a parameter) while autograd was recording; autograd refuses because the update itself would become part of the graph\n"
        "  torch said: a leaf Variable that requires grad is being used in an in-place operation.\n"
        "  hint: to update parameters by hand, do it under `with torch.no_grad():` (what optimizers and sgd_step() do); to experiment with the values, work on detached_copy(w)",
    ),
    "torch_safety: evaluating_bad_grad": (
        _snippet("evaluating(nn.Linear(1, 1), grad='off').__enter__()"),
        UsageError,
        "evaluating(): argument `grad`: must be 'no_grad', 'inference' or 'enabled', got the str 'off'\n"
        "  expected: 'no_grad', 'inference' or 'enabled'\n"
        "  got: the str 'off'",
    ),
    "torch_safety: audit_bad_optimizer": (
        _snippet("audit(nn.Linear(1, 1), 'opt')"),
        UsageError,
        "audit(): argument `optimizer`: must be a torch.optim.Optimizer or None, got the str 'opt'\n"
        "  expected: a torch.optim.Optimizer or None\n"
        "  got: the str 'opt'\n"
        "  hint: audit(model, torch.optim.Adam(model.parameters()))",
    ),
    "torch_safety: audit_strict": (
        _snippet("audit(ListHeads(), strict=True)"),
        AuditError,
        "audit(ListHeads): 1 problem\n"
        "  [unregistered_module] heads[0]: Linear held in a plain list is not registered: its parameters are missing from parameters(), state_dict(), .to(device) and the optimizer\n"
        "    hint: self.heads = nn.ModuleList(...)",
    ),
    "torch_safety: sgd_step_of_none": (
        _snippet("sgd_step(None, lr=0.1)"),
        UsageError,
        "sgd_step(): argument `params`: must be a module or an iterable of tensors, got None\n"
        "  expected: an nn.Module or an iterable of tensors\n"
        "  got: None\n"
        "  hint: sgd_step(model, lr=...) or sgd_step(model.parameters(), lr=...)",
    ),
    "torch_safety: sgd_step_negative_lr": (
        _snippet("sgd_step([torch.ones(1)], lr=-1)"),
        UsageError,
        "sgd_step(): argument `lr`: must be a finite number >= 0, got the int -1\n"
        "  expected: a finite number >= 0\n"
        "  got: the int -1",
    ),
    "torch_safety: sgd_step_momentum_without_buffers": (
        _snippet("sgd_step([torch.ones(1)], lr=0.1, momentum=0.9)"),
        UsageError,
        "sgd_step(): argument `buffers`: momentum needs a list of buffers to carry state between steps, got None\n"
        "  expected: a list of 1 slot\n"
        "  got: None\n"
        "  hint: bufs = [None] * len(params) once, then sgd_step(..., buffers=bufs)",
    ),
    "torch_safety: train_step_negative_clip": (
        _snippet("train_step(NET, mean_loss, torch.ones(2, 2), OPT, max_grad_norm=-1.0)"),
        UsageError,
        "train_step(): argument `max_grad_norm`: must be a finite number > 0, got the float -1.0\n"
        "  expected: a finite number > 0\n"
        "  got: the float -1.0",
    ),
    "torch_safety: train_step_non_scalar_loss": (
        _snippet("train_step(NET, lambda m, b: m(b), torch.ones(4, 2), OPT)"),
        ShapeError,
        "train_step(): loss must be a scalar (shape ()), got shape (4, 1)\n"
        "  expected: ()\n"
        "  got: (4, 1)\n"
        "  hint: reduce it: .mean() over the batch (or .sum())",
    ),
    "torch_safety: train_step_complex_loss": (
        _snippet(
            "train_step(NET, lambda m, b: m(b).mean().to(torch.complex64), torch.ones(4, 2), OPT)"
        ),
        DtypeError,
        "train_step(): loss has dtype complex64; backward() needs a real floating loss\n"
        "  expected: a real floating dtype\n"
        "  got: complex64\n"
        "  hint: for a complex value, minimise loss.abs() or loss.real; an integer loss came through argmax / a comparison, which has no gradient",
    ),
    "torch_safety: train_step_nan_loss": (
        _snippet("train_step(NET, lambda m, b: m(b).mean() * math.nan, torch.ones(4, 2), OPT)"),
        NonFiniteError,
        "train_step(): loss is nan; the parameters were not updated\n"
        "  expected: a finite loss\n"
        "  got: nan\n"
        "  hint: look for log(0), division by a zero std, exp overflow, or a too-large learning rate (check the inputs with from_numpy(..., check_finite=True))",
    ),
    "torch_safety: train_step_loss_not_callable": (
        _snippet("train_step(NET, 'mse', torch.ones(4, 2), OPT)"),
        UsageError,
        "train_step(): argument `loss_fn`: must be a function loss_fn(model, batch) -> loss, got the str 'mse'\n"
        "  expected: a callable\n"
        "  got: the str 'mse'\n"
        "  hint: e.g. lambda m, b: F.mse_loss(m(b[0]), b[1])",
    ),
    "torch_safety: train_step_loss_item": (
        _snippet("train_step(NET, lambda m, b: 1.5, torch.ones(4, 2), OPT)"),
        DtypeError,
        "train_step(): loss_fn returned the float 1.5, expected a 0-d tensor\n"
        "  expected: a 0-d float tensor\n"
        "  got: the float 1.5\n"
        "  hint: return the loss tensor itself, not loss.item()",
    ),
    "torch_safety: train_step_detached_loss": (
        _snippet("train_step(NET, lambda m, b: m(b).mean().detach(), torch.ones(4, 2), OPT)"),
        AutogradError,
        "train_step(): loss does not require grad, so backward() cannot reach the parameters\n"
        "  expected: a loss that requires grad\n"
        "  got: requires_grad=False\n"
        "  hint: was it computed under torch.no_grad() / evaluating(), detached, or are all parameters frozen (requires_grad=False)?",
    ),
    "torch_safety: load_checkpoint_shapes_do_not_fit": (
        _snippet(
            "load_checkpoint(saved_two_layers(), nn.Sequential(nn.Linear(2, 4), nn.Linear(4, 1)))"
        ),
        CheckpointError,
        "load_checkpoint(): checkpoint 'x.pt' (saved from Sequential) does not fit Sequential: 3 problems\n"
        "  shape mismatch  0.weight: checkpoint (3, 2), module (4, 2)\n"
        "  shape mismatch  0.bias: checkpoint (3,), module (4,)\n"
        "  shape mismatch  1.weight: checkpoint (1, 3), module (1, 4)\n"
        "  hint: the module was built with different sizes than the saved one; build it with the same constructor arguments (inspect_checkpoint(path) shows the saved shapes)",
    ),
    "torch_safety: load_checkpoint_missing_file": (
        _snippet("load_checkpoint('nope.pt', nn.Linear(1, 1))"),
        CheckpointError,
        "load_checkpoint(): no checkpoint at 'nope.pt'\n"
        "  hint: check the path (a relative path is resolved from '<cwd>')",
    ),
    "torch_safety: load_checkpoint_path_is_none": (
        _snippet("load_checkpoint(None, nn.Linear(1, 1))"),
        CheckpointError,
        "load_checkpoint(): argument `path`: must be a file path (str or pathlib.Path), got None\n"
        "  expected: a str or os.PathLike\n"
        "  got: None",
    ),
    "torch_safety: load_checkpoint_empty_file": (
        _snippet("load_checkpoint(empty_file(), nn.Linear(1, 1))"),
        CheckpointError,
        "load_checkpoint(): 'empty.pt' is not a readable shapesafe checkpoint: it is empty\n"
        "  hint: the file is truncated or corrupted (an interrupted copy or download?); restore it from a backup or re-save it with save_checkpoint()",
    ),
    "torch_safety: load_checkpoint_inconsistent_manifest": (
        _snippet(
            "load_checkpoint(inconsistent_file(), nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)))"
        ),
        CheckpointError,
        "load_checkpoint(): 'x.pt' is not a readable shapesafe checkpoint: its manifest disagrees with its data ('1.weight': manifest (1, 3), data (5, 5))\n"
        "  hint: the file is truncated or corrupted (an interrupted copy or download?); restore it from a backup or re-save it with save_checkpoint()",
    ),
    "torch_safety: save_checkpoint_numpy_metadata": (
        _snippet("save_checkpoint('y.pt', nn.Linear(1, 1), rng=np.random.get_state())"),
        CheckpointError,
        "save_checkpoint(): metadata['rng'][1] is a numpy.ndarray, which torch.load(weights_only=True) cannot read back\n"
        "  got: a numpy.ndarray\n"
        "  allowed: None, bool, int, float, complex, str, bytes, torch.Tensor (dense), torch.dtype, torch.device, torch.Size, and list/tuple/dict/set of these\n"
        "  hint: convert numpy arrays with torch.from_numpy(a) (or a.tolist())",
    ),
    "torch_safety: save_checkpoint_missing_directory": (
        _snippet("save_checkpoint('nodir/y.pt', nn.Linear(1, 1))"),
        CheckpointError,
        "save_checkpoint(): directory 'nodir' does not exist (saving to 'nodir/y.pt')\n"
        "  hint: create it first: os.makedirs(dirname, exist_ok=True)",
    ),
    "torch_safety: assert_same_state_differences": (
        _snippet(
            "assert_same_state({'w': torch.tensor([1.0, math.nan]), 'b': torch.zeros(1)}, {'w': torch.tensor([2.0, math.nan]), 'c': torch.zeros(1)})"
        ),
        CheckpointError,
        "assert_same_state(): the two states differ at 3 keys:\n"
        "  b: only in the first\n"
        "  c: only in the second\n"
        "  w: 1 of 2 values differ (max |diff| 1)\n"
        "  hint: a round trip should be exact; check that the same architecture and dtype were used on both sides",
    ),
    "torch_safety: assert_same_state_of_none": (
        _snippet("assert_same_state(nn.Linear(1, 1), None)"),
        UsageError,
        "assert_same_state(): argument `b`: must be a torch.nn.Module or a state dict, got None\n"
        "  expected: an nn.Module or a dict of str -> tensor\n"
        "  got: None",
    ),
    "torch_safety: restore_rng_state_empty": (
        _snippet("restore_rng_state({})"),
        UsageError,
        "restore_rng_state(): argument `state`: has no 'python', 'numpy', 'torch' entry\n"
        "  expected: a dict from capture_rng_state() (keys python, numpy, torch)\n"
        "  got: a dict of 0 items\n"
        "  hint: pass what capture_rng_state() returned, e.g. load_checkpoint(...)['rng']",
    ),
}


def test_printed_checkpoint_metadata_and_info(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    save_checkpoint("x.pt", net, epoch=1, rng=shapesafe.capture_rng_state())
    meta = load_checkpoint("x.pt", net)
    assert repr(meta) == "{'epoch': 1, 'rng': <rng state: numpy, python, torch>}"
    info = shapesafe.inspect_checkpoint("x.pt")
    assert str(info) == (
        "checkpoint 'x.pt': torch.nn.modules.container.Sequential, 4 tensors, "
        f"optimizer state: no, torch {torch.__version__}\n"
        "  0.weight  (3, 2) float32\n"
        "  0.bias    (3,) float32\n"
        "  1.weight  (1, 3) float32\n"
        "  1.bias    (1,) float32\n"
        "  metadata: {'epoch': 1, 'rng': <rng state: numpy, python, torch>}"
    )
    assert repr(info) == (
        "CheckpointInfo(path='x.pt', module_class='torch.nn.modules.container.Sequential', "
        "tensors=4, metadata={'epoch': 1, 'rng': <rng state: numpy, python, torch>}, "
        f"has_optimizer=False, torch_version={torch.__version__!r}, "
        f"checksum={info.checksum[:19]!r}...)"
    )


# ---------------- bc: generative policies (CVAE, diffusion)


def _diffusion_sampler_euler() -> None:
    DiffusionPolicy(2, 1).sampler = "euler"


GENERATIVE_CASES: dict[str, Case] = {
    "generative: kl weight": (
        lambda: CVAEPolicy(2, 2, kl_weight=-1.0),
        UsageError,
        "CVAEPolicy(): `kl_weight` must be a number >= 0, got the float -1.0",
    ),
    "generative: predict_with": (
        lambda: CVAEPolicy(2, 2, predict_with="median"),
        UsageError,
        "CVAEPolicy(): `predict_with` must be one of 'mode', 'prior_mean', got the str 'median'",
    ),
    "generative: cvae rows": (
        lambda: CVAEPolicy(3, 2).encode(torch.zeros(4, 3), torch.zeros(5, 2)),
        ShapeError,
        "CVAEPolicy.encode(): argument `act` axis 0 ('batch'): expected batch=4 (bound by "
        '`obs`), got 5 in shape (5, 2)\n  annotation: Float[Tensor, "batch act"]\n  '
        "bindings: batch=4 (from `obs`), obs=3 (from `obs`)",
    ),
    "generative: inference steps": (
        lambda: DiffusionPolicy(2, 1, train_steps=10, inference_steps=20),
        UsageError,
        "DiffusionPolicy(): `inference_steps` must be at most train_steps=10, got 20",
    ),
    "generative: sampler": (
        _diffusion_sampler_euler,
        UsageError,
        "DiffusionPolicy(): `sampler` must be one of 'ddim', 'ddpm', got the str 'euler'",
    ),
    "generative: bounds order": (
        lambda: DiffusionPolicy(2, 2, low=[-1.0, 1.0], high=[1.0, 1.0]),
        UsageError,
        "DiffusionPolicy(): `low` must be below `high` in every dimension, got "
        "low=[-1.0, 1.0], high=[1.0, 1.0]",
    ),
    "generative: bounds size": (
        lambda: DiffusionPolicy(2, 2, low=-1.0, high=[1.0, 2.0, 3.0]),
        UsageError,
        "DiffusionPolicy(): `high` must be a finite number or 2 of them (one per action "
        "dimension), got a list of 3 items",
    ),
    "generative: one bound": (
        lambda: DiffusionPolicy(2, 1, low=-1.0),
        UsageError,
        "DiffusionPolicy(): give both `low` and `high` (or neither, to learn them from the data)",
    ),
    "generative: denoise obs": (
        lambda: DiffusionPolicy(3, 2).denoise(
            torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), torch.zeros(4, 5)
        ),
        ShapeError,
        "DiffusionPolicy.denoise(): argument `obs`: expected observations of shape (batch, 3), "
        "got (4, 5)\n  expected: (batch, 3)\n  got: (4, 5)",
    ),
}


# ---------------- every table row


CASES: dict[str, Case] = {
    **BC_CASES,
    **GENERATIVE_CASES,
    **CHECKER_CASES,
    **DISTRIBUTIONS_CASES,
    **OPS_CASES,
    **TORCH_SAFETY_CASES,
}


@pytest.mark.parametrize("case", list(CASES))
def test_message_wording(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    call, cls, expected = CASES[case]
    monkeypatch.chdir(tmp_path)
    text = _message(call, cls).replace(os.getcwd(), "<cwd>")
    assert text == (expected() if callable(expected) else expected)


# ---------------- policies on windows (frame stack, GRU, action chunks)


def _flat_demos() -> Any:
    from shapesafe.bc import Demonstrations

    return Demonstrations(torch.zeros(6, 2), torch.zeros(6, 2))


def _gru_with_three_envs() -> Any:
    from shapesafe.bc import RecurrentPolicy

    policy = RecurrentPolicy(2, 2)
    policy.act(np.zeros((3, 2)))
    return policy


def _window_cases() -> dict[str, Case]:
    from shapesafe.bc import (
        ChunkingPolicy,
        DeterministicPolicy,
        FrameStackPolicy,
        RecurrentPolicy,
        history_windows,
    )

    no_ids = (
        "windows over time need to know where episodes start, but the demonstrations have "
        "no episode ids\n  expected: Demonstrations with episode_ids\n  got: episode_ids=None\n"
        "  hint: build the demonstrations with episode_ids= (or episode_starts=), one id per "
        "row, rows of each episode in time order"
    )
    return {
        "windows: fit without episode ids": (
            lambda: fit(ChunkingPolicy(2, 2), _flat_demos(), steps=1, progress=False),
            None,
            "fit(): argument `demos`: " + no_ids,
        ),
        "windows: history_windows without episode ids": (
            lambda: history_windows(_flat_demos(), 2),
            None,
            "history_windows(): argument `demos`: " + no_ids,
        ),
        "windows: batch without chunks": (
            lambda: ChunkingPolicy(2, 2, chunk=3).loss((torch.zeros(4, 2), torch.zeros(4, 2))),
            None,
            "ChunkingPolicy.loss(): argument `batch`: the batch has no 'action_chunk' extra; "
            "this policy trains on windows over time\n"
            "  expected: extras['action_chunk'] of shape (4, 3, 2)\n  got: missing\n"
            "  hint: fit() and evaluate() add the windows themselves; for a batch of your own, "
            "draw it from policy.prepare_data(demos)",
        ),
        "windows: frame stack of a non-multiple": (
            lambda: FrameStackPolicy(DeterministicPolicy(4, 2), history=3),
            None,
            "FrameStackPolicy(): argument `inner`: the inner policy takes observations (4,), "
            "whose first axis is not a multiple of history=3\n  expected: (3 * obs0, ...)\n"
            "  got: (4,)\n  hint: build the inner policy for the stacked observations, or use "
            "FrameStackPolicy.from_specs(obs_spec, act_spec, inner=..., history=...)",
        ),
        "windows: frame stack of a windowed policy": (
            lambda: FrameStackPolicy(ChunkingPolicy(4, 2), history=2),
            None,
            "FrameStackPolicy(): argument `inner`: a frame stack wraps a one-step policy, but "
            "ChunkingPolicy (kind 'chunk') trains on windows itself\n"
            "  hint: wrap a one-step policy (e.g. 'gaussian', 'deterministic')",
        ),
        "windows: frame stack predict on one step": (
            lambda: FrameStackPolicy(DeterministicPolicy(4, 2), history=2).predict(
                torch.zeros(5, 2)
            ),
            None,
            "FrameStackPolicy.predict(): argument `obs`: expected observation windows "
            "(batch, 2, 2) (oldest first), got (5, 2)\n  expected: (batch, 2, 2)\n"
            "  got: (5, 2)\n  hint: act() keeps the history itself; predict() takes whole "
            "windows",
        ),
        "windows: gru predict on one step": (
            lambda: RecurrentPolicy(2, 2).predict(torch.zeros(5, 2)),
            None,
            "RecurrentPolicy.predict(): argument `obs`: expected observation sequences "
            "(batch, time, 2), got (5, 2)\n  expected: (batch, time, 2)\n  got: (5, 2)\n"
            "  hint: act() carries the hidden state itself; predict() takes whole sequences",
        ),
        "windows: act after a forgotten reset": (
            lambda: _gru_with_three_envs().act(torch.zeros(2, 2).numpy()),
            None,
            "RecurrentPolicy.act(): argument `obs`: got 2 observation(s), but the policy holds "
            "the state of 3 running environment(s)\n  expected: 3 observation(s)\n  got: 2\n"
            "  hint: call policy.reset() at the start of every episode (and whenever the "
            "number of environments changes)",
        ),
        "windows: reset of the wrong length": (
            lambda: _gru_with_three_envs().reset([True]),
            None,
            "RecurrentPolicy.reset(): argument `which`: `which` must have one entry per "
            "environment: expected shape (3,), got (1,)\n  expected: (3,)\n  got: (1,)",
        ),
    }


WINDOW_CASES = _window_cases()


@pytest.mark.parametrize("case", list(WINDOW_CASES))
def test_window_message_wording(case: str) -> None:
    call, cls, expected = WINDOW_CASES[case]
    text = _message(call, cls)
    assert text == (expected() if callable(expected) else expected)


# ---------------- rollouts in an environment (bc.rollout, bc.evaluate_in_env)


def _rollout_cases() -> dict[str, Case]:
    import gymnasium as gym

    from shapesafe.bc import ActSpec, evaluate_in_env, load_evaluation, rollout
    from shapesafe.bc import ObsSpec as _ObsSpec
    from shapesafe.bc.experts import Expert
    from shapesafe.bc.tasks import ObstacleEnv, ObstacleExpert

    def _batched_cartpole(obs: np.ndarray) -> np.ndarray:
        return (np.asarray(obs)[..., 2] > 0).astype(np.int64)

    def _sync(env_id: str, n: int) -> object:
        return gym.vector.SyncVectorEnv([lambda: gym.make(env_id)] * n)

    class _ResetAll:
        def reset(self) -> None:
            pass

        def __call__(self, obs: np.ndarray) -> np.ndarray:
            return _batched_cartpole(obs)

    class _PendulumShaped(Expert):
        obs_spec, act_spec = _ObsSpec((3,)), ActSpec((1,))

        def act_batch(self, obs: np.ndarray) -> np.ndarray:
            return np.zeros((len(obs), 1))

    return {
        "rollout: observation space": (
            lambda: rollout(GaussianPolicy(3, 2), ObstacleEnv(), 1),
            ShapeError,
            "rollout(): argument `env`: the env's observations do not fit GaussianPolicy\n"
            "  expected: observations of shape (3,)\n"
            "  got: observation space of shape (2,)\n"
            "  hint: build the policy with obs_spec=ObsSpec((2,)), or wrap the env",
        ),
        "rollout: action space": (
            lambda: evaluate_in_env(GaussianPolicy(2, 3), ObstacleEnv(), 1),
            ShapeError,
            "evaluate_in_env(): argument `env`: the env's actions do not fit GaussianPolicy\n"
            "  expected: actions of shape (3,) (what the policy produces)\n"
            "  got: action space of shape (2,)",
        ),
        "rollout: discrete env, continuous policy": (
            lambda: rollout(GaussianPolicy(4, 2), gym.make("CartPole-v1"), 1),
            ShapeError,
            "rollout(): argument `env`: the env's actions do not fit GaussianPolicy\n"
            "  expected: continuous actions (what the policy produces)\n"
            "  got: Discrete(2)",
        ),
        "rollout: callable's action shape": (
            lambda: rollout(lambda obs: np.zeros(3, np.float32), ObstacleEnv(), 1),
            ShapeError,
            "rollout(): argument `policy`: the policy returned an action that does not fit "
            "the env's action space\n  expected: an action of shape (2,)\n  got: shape (3,)",
        ),
        "rollout: not a policy": (
            lambda: rollout("gaussian", ObstacleEnv(), 1),  # type: ignore[arg-type]
            UsageError,
            "rollout(): argument `policy`: must be a shapesafe Policy or a callable obs -> "
            "action\n  expected: a Policy or a callable\n  got: the str 'gaussian'",
        ),
        "rollout: episodes": (
            lambda: rollout(ObstacleExpert(), ObstacleEnv(), 0),
            UsageError,
            "rollout(): `episodes` must be a positive integer, got 0",
        ),
        "rollout: vector env without per-env seeds": (
            lambda: rollout(_batched_cartpole, gym.make_vec("CartPole-v1", num_envs=2), 2),
            UsageError,
            "rollout(): argument `env`: a CartPoleVectorEnv cannot start each episode from "
            "its own seed (its reset takes no per-sub-env seeds and no reset_mask)\n"
            "  expected: a gymnasium SyncVectorEnv or AsyncVectorEnv (or a single env)\n"
            "  got: CartPoleVectorEnv\n"
            "  hint: build it with gym.make_vec(env_id, num_envs=n, vectorization_mode='sync') "
            "(or 'async'), or gymnasium.vector.SyncVectorEnv([...])",
        ),
        "rollout: one action for a batch": (
            lambda: rollout(lambda obs: np.zeros(2, np.float32), _sync("CartPole-v1", 3), 3),
            ShapeError,
            "rollout(): argument `policy`: the policy returned an action that does not fit "
            "the env's action space\n  expected: actions of shape (3,)\n  got: shape (2,)",
        ),
        "rollout: one action for a batch, continuous": (
            lambda: rollout(lambda obs: np.zeros(1, np.float32), _sync("Pendulum-v1", 3), 3),
            ShapeError,
            "rollout(): argument `policy`: the policy returned an action that does not fit "
            "the env's action space\n  expected: actions of shape (3, 1)\n  got: shape (1,)\n"
            "  hint: in a vector env the policy gets a batch (n, obs) and must return one "
            "action per row; wrap a one-observation callable: "
            "lambda obs: np.stack([f(o) for o in obs])",
        ),
        "rollout: reset without which": (
            lambda: rollout(_ResetAll(), _sync("CartPole-v1", 2), 4),
            UsageError,
            "rollout(): argument `policy`: _ResetAll.reset() takes no `which`, so it cannot "
            "reset one sub-env of a vector env alone\n"
            "  hint: give it reset(self, which=None) (which: a bool mask over sub-envs), or "
            "roll out in a single env",
        ),
        "rollout: expert's observations": (
            lambda: rollout(_PendulumShaped(), gym.make("CartPole-v1"), 1),
            ShapeError,
            "rollout(): argument `env`: the env's observations do not fit _PendulumShaped\n"
            "  expected: observations of shape (3,)\n"
            "  got: observation space of shape (4,)\n"
            "  hint: is the env (or a wrapper) the one this expert was written for?",
        ),
        "load_evaluation: no file": (
            lambda: load_evaluation("no-such-evaluation.json"),
            UsageError,
            "load_evaluation(): argument `path`: no such file: 'no-such-evaluation.json'\n"
            "  got: 'no-such-evaluation.json'",
        ),
        "evaluate_in_env: no checkpoint file": (
            lambda: evaluate_in_env(ObstacleExpert(), ObstacleEnv(), 2, checkpoint="gone.pt"),
            UsageError,
            "evaluate_in_env(): argument `checkpoint`: no such checkpoint file: 'gone.pt'\n"
            "  expected: the file the policy was loaded from\n  got: 'gone.pt'",
        ),
    }


ROLLOUT_CASES = _rollout_cases()


@pytest.mark.parametrize("case", list(ROLLOUT_CASES))
def test_rollout_message_wording(case: str) -> None:
    call, cls, expected = ROLLOUT_CASES[case]
    assert _message(call, cls) == (expected() if callable(expected) else expected)


# ---------------- multimodal and discrete policies (mixture, autoregressive, categorical)


def _multimodal_cases() -> dict[str, Case]:
    from shapesafe.bc import ActSpec, AutoregressivePolicy, CategoricalPolicy, MixturePolicy
    from shapesafe.bc import Batch as _Batch
    from shapesafe.bc import ObsSpec as _ObsSpec
    from shapesafe.errors import DataError

    def cat() -> CategoricalPolicy:
        return CategoricalPolicy(2, 3, hidden=(4,))

    two = np.zeros((2, 2), np.float32)
    return {
        "multimodal: mask row with no legal action": (
            lambda: cat().act(two, action_mask=np.array([[1, 0, 0], [0, 0, 0]], bool)),
            DataError,
            (
                "CategoricalPolicy.act(): argument `action_mask`: row 1 of the action mask "
                "allows no action (1 such row(s)); a policy must choose something\n"
                "  expected: at least one True per row\n"
                "  got: all False in row 1\n"
                "  hint: end the episode when no action is legal, or add a no-op action"
            ),
        ),
        "multimodal: mask shape": (
            lambda: cat().act(two, action_mask=np.ones(3, bool)),
            ShapeError,
            (
                "CategoricalPolicy.act(): argument `action_mask`: the action mask must have "
                "shape (batch, n_actions) = (2, 3), got (3,)\n"
                "  expected: (2, 3)\n"
                "  got: (3,)\n"
                "  bindings: batch=2, n_actions=3\n"
                "  hint: one mask for a batch of observations: give one row per observation"
            ),
        ),
        "multimodal: mask dtype": (
            lambda: cat().act(two[0], action_mask=np.ones(3)),
            DtypeError,
            (
                "CategoricalPolicy.act(): argument `action_mask`: the action mask must hold "
                "booleans (True = legal), got torch.float64\n"
                "  expected: bool (or 0/1 integer) tensor\n"
                "  got: torch.float64\n"
                "  hint: True marks a legal action: mask.astype(bool) (numpy) or mask.bool() "
                "(torch)"
            ),
        ),
        "multimodal: illegal demonstrated action": (
            lambda: cat().loss(
                _Batch(
                    torch.zeros(2, 2),
                    torch.tensor([0, 1]),
                    extras={"action_mask": torch.tensor([[1, 1, 0], [1, 0, 0]])},
                )
            ),
            DataError,
            (
                "CategoricalPolicy.loss(): argument `batch.extras['action_mask']`: the "
                "demonstrated action 1 in row 1 is illegal under its own action mask (1 such "
                "row(s))\n"
                "  expected: the demonstrated action legal in every row\n"
                "  got: action 1 masked in row 1\n"
                "  hint: check that the mask was recorded for the same step as the action"
            ),
        ),
        "multimodal: action out of range": (
            lambda: cat().loss((torch.zeros(2, 2), torch.tensor([0, 5]))),
            DataError,
            (
                "CategoricalPolicy.loss(): argument `batch`: action 5 in row 1 lies outside the "
                "3 actions [0, 2] of this policy (1 such row(s))\n"
                "  expected: actions in [0, 2]\n"
                "  got: 5 in row 1\n"
                "  hint: build the policy with n_actions=6"
            ),
        ),
        "multimodal: categorical from continuous specs": (
            lambda: CategoricalPolicy.from_specs(_ObsSpec((3,)), ActSpec((2,))),
            DtypeError,
            (
                "CategoricalPolicy.from_specs(): argument `act_spec`: CategoricalPolicy takes "
                "one discrete action per step (an ActSpec with discrete=n and shape ()), got "
                "ActSpec(shape=(2,), dtype=torch.float32, discrete=None)\n"
                "  expected: ActSpec((), torch.int64, discrete=n)\n"
                "  got: ActSpec(shape=(2,), dtype=torch.float32, discrete=None)\n"
                "  hint: for continuous actions use the 'gaussian', 'mixture' or "
                "'autoregressive' policy"
            ),
        ),
        "multimodal: mixture log-std bounds": (
            lambda: MixturePolicy(2, 2, log_std_bounds=(1.0, -1.0)),
            UsageError,
            (
                "MixturePolicy(): argument `log_std_bounds`: `log_std_bounds` must be (min, max) "
                "with min < max, got (1.0, -1.0)\n"
                "  expected: (min, max) with min < max\n"
                "  got: (1.0, -1.0)"
            ),
        ),
        "multimodal: autoregressive bins": (
            lambda: AutoregressivePolicy(2, 2, bins=1),
            UsageError,
            "AutoregressivePolicy(): argument `bins`: `bins` must be at least 2, got 1",
        ),
        "multimodal: autoregressive low without high": (
            lambda: AutoregressivePolicy(2, 2, low=-1.0),
            UsageError,
            (
                "AutoregressivePolicy(): argument `high`: give both `low` and `high` (or "
                "neither, to learn them from the data)"
            ),
        ),
        "multimodal: autoregressive bound length": (
            lambda: AutoregressivePolicy(2, 2, low=[0.0, 1.0, 2.0], high=3.0),
            UsageError,
            (
                "AutoregressivePolicy(): argument `low`: `low` must be a finite number or 2 of "
                "them (one per action dimension), got [0.0, 1.0, 2.0]\n"
                "  expected: a number or a list of 2\n"
                "  got: [0.0, 1.0, 2.0]"
            ),
        ),
        "multimodal: autoregressive temperature": (
            lambda: AutoregressivePolicy(2, 2, temperature=0),
            UsageError,
            (
                "AutoregressivePolicy(): argument `temperature`: `temperature` must be a number "
                "> 0, got 0\n"
                "  expected: a number > 0\n"
                "  got: 0"
            ),
        ),
    }


MULTIMODAL_CASES = _multimodal_cases()


@pytest.mark.parametrize("case", list(MULTIMODAL_CASES))
def test_multimodal_message_wording(case: str) -> None:
    call, cls, expected = MULTIMODAL_CASES[case]
    text = _message(call, cls)
    assert text == (expected() if callable(expected) else expected)


# ---------------- axes tied to a module attribute ("{self.obs_dim}")


class _Encoder(torch.nn.Module):
    def __init__(self, obs_dim: int | None = None) -> None:
        super().__init__()
        if obs_dim is not None:
            self.obs_dim = obs_dim

    @shapesafe.check
    def forward(self, obs: Float[Tensor, "batch obs={self.obs_dim}"]) -> Float[Tensor, "batch"]:
        return obs.sum(-1)


def _unknown_root() -> None:
    @shapesafe.check
    def f(x: Float[Tensor, "{cfg.n}"]) -> None: ...


MODULE_DIM_CASES: dict[str, Case] = {
    "module dims: wrong width": (
        lambda: _Encoder(4)(torch.zeros(8, 5)),
        ShapeError,
        (
            "_Encoder.forward(): argument `obs` axis 1 ('obs={self.obs_dim}'): expected "
            "obs=4 (self.obs_dim), got 5 in shape (8, 5)\n"
            '  annotation: Float[Tensor, "batch obs={self.obs_dim}"]\n'
            "  bindings: (none yet)"
        ),
    ),
    "module dims: missing attribute": (
        lambda: _Encoder()(torch.zeros(8, 5)),
        AnnotationError,
        (
            "_Encoder.forward(): an annotation reads the size self.obs_dim, but `self` "
            "(_Encoder) has no attribute 'obs_dim'; set it in __init__ (before the first "
            "call) or fix the name in the annotation"
        ),
    ),
    "module dims: not a parameter": (
        _unknown_root,
        AnnotationError,
        "f(): the axis '{cfg.n}' reads `cfg`, which is not a parameter of f() (parameters: x)",
    ),
}


@pytest.mark.parametrize("case", list(MODULE_DIM_CASES))
def test_module_dim_message_wording(case: str) -> None:
    call, cls, expected = MODULE_DIM_CASES[case]
    text = _message(call, cls)
    assert text == (expected() if callable(expected) else expected)


# ---------------- checked batches and the memory guards


def _batch_guard_cases() -> dict[str, Case]:
    from typing import NamedTuple, TypedDict

    @shapesafe.checked_batch
    class Transition(NamedTuple):
        obs: Float[Tensor, "batch obs"]
        actions: Int[Tensor, "batch"]

    class Sample(TypedDict):
        obs: Float[Tensor, "batch obs"]
        actions: Int[Tensor, "batch"]

    class Plain:
        pass

    def obs() -> Tensor:
        return torch.zeros(4, 3)

    def acts(n: int = 4) -> Tensor:
        return torch.zeros(n, dtype=torch.long)

    def shift() -> None:
        x = torch.arange(6.0).reshape(2, 3)
        with shapesafe.no_overlap():
            x[:, 1:] = x[:, :-1]

    def store(dtype: torch.dtype) -> Callable[[], None]:
        def write() -> None:
            with shapesafe.no_downcast():
                torch.zeros(4, 3, dtype=dtype)[1] = torch.randn(3)

        return write

    return {
        "batches: fields share dims": (
            lambda: Transition(obs(), acts(5)),
            ShapeError,
            "Transition(): argument `actions` axis 0 ('batch'): expected batch=4 (bound by "
            "`obs`), got 5 in shape (5,)\n"
            '  annotation: Int[Tensor, "batch"]\n'
            "  bindings: batch=4 (from `obs`), obs=3 (from `obs`)",
        ),
        "batches: a missing key": (
            lambda: shapesafe.check_batch({"obs": obs()}, Sample),
            ShapeError,
            "check_batch(): argument `batch`: a Sample needs key 'actions', missing\n"
            "  expected: keys 'obs', 'actions'\n"
            "  got: keys 'obs'\n"
            "  hint: is the buffer configured to store actions?",
        ),
        "batches: extra keys": (
            lambda: shapesafe.check_batch({"obs": obs(), "actions": acts(), "infos": 1}, Sample),
            ShapeError,
            "check_batch(): argument `batch`: a Sample does not declare 'infos'\n"
            "  expected: keys 'obs', 'actions'\n"
            "  got: keys 'obs', 'actions', 'infos'\n"
            "  hint: add infos to Sample, drop them from the batch, or pass allow_extra=True",
        ),
        "batches: a key's shape": (
            lambda: shapesafe.check_batch({"obs": obs(), "actions": acts(5)}, Sample),
            ShapeError,
            "Sample(): key `actions` axis 0 ('batch'): expected batch=4 (bound by `obs`), got 5 "
            "in shape (5,)\n"
            '  annotation: Int[Tensor, "batch"]\n'
            "  bindings: batch=4 (from `obs`), obs=3 (from `obs`)",
        ),
        "batches: not a mapping": (
            lambda: shapesafe.check_batch([obs()], Sample),  # type: ignore[type-var]
            ShapeError,
            "check_batch(): argument `batch`: expected a mapping of Sample's keys, got a list "
            "of 1 item\n"
            "  hint: for an object, annotate the function with the class and use "
            "@shapesafe.check",
        ),
        "batches: a TypedDict cannot be hooked": (
            lambda: shapesafe.checked_batch(Sample),
            AnnotationError,
            "checked_batch(): argument `cls`: @checked_batch cannot hook Sample: calling a "
            "TypedDict builds a plain dict\n"
            "  hint: check the dicts with shapesafe.check_batch(d, Sample)",
        ),
        "batches: not a batch class": (
            lambda: shapesafe.check_batch({}, Plain),
            AnnotationError,
            "check_batch(): argument `spec`: Plain is not a NamedTuple, a dataclass or a "
            "TypedDict\n"
            "  hint: declare it as `class X(NamedTuple)`, `class X(TypedDict)` or a @dataclass",
        ),
        "guards: overlapping write": (
            shift,
            UsageError,
            "copy_(): argument `src`: in-place write whose source `src` overlaps its "
            "destination `self` in memory: the result would depend on the order elements are "
            "written\n"
            "  expected: `src` disjoint from `self`, or the very same view\n"
            "  got: `self` (2, 2) view at storage offset 1, strides (3, 1); `src` (2, 2) view "
            "at storage offset 0, strides (3, 1) of one storage\n"
            "  hint: write from a copy: pass `src.clone()`",
        ),
        "guards: downcast": (
            store(torch.bfloat16),
            DtypeError,
            "copy_(): argument `src`: float32 values stored into a bfloat16 tensor would be "
            "silently rounded\n"
            "  expected: a bfloat16 source (an explicit cast), or a float32 destination\n"
            "  got: source (3,) float32, destination (3,) bfloat16\n"
            "  hint: store as float32 (allocate the buffer with dtype=torch.float32), or cast "
            "explicitly with `.to(torch.bfloat16)` to acknowledge the loss",
        ),
        "guards: truncation": (
            store(torch.int64),
            DtypeError,
            "copy_(): argument `src`: float32 values stored into an int64 tensor would be "
            "silently truncated\n"
            "  expected: an int64 source (an explicit cast), or a float32 destination\n"
            "  got: source (3,) float32, destination (3,) int64\n"
            "  hint: store as float32 (allocate the buffer with dtype=torch.float32), or cast "
            "explicitly with `.to(torch.int64)` to acknowledge the loss",
        ),
    }


BATCH_GUARD_CASES = _batch_guard_cases()


@pytest.mark.parametrize("case", list(BATCH_GUARD_CASES))
def test_batch_and_guard_message_wording(case: str) -> None:
    call, cls, expected = BATCH_GUARD_CASES[case]
    text = _message(call, cls)
    assert text == (expected() if callable(expected) else expected)


# ---------------- strict broadcasting's audit levels


def _audit_summary() -> str:
    with strict_broadcasting(on_violation="log") as report:
        torch.zeros(4) + torch.zeros(4, 1)
    v = report.violations[0]
    return report.summary().replace(v.location, "FILE:LINE")


def test_strict_level_wording() -> None:
    text = _message(lambda: strict_broadcasting(on_violation="ignore"), UsageError)
    assert text == (
        "strict_broadcasting(): argument `on_violation`: `on_violation` must be 'raise', "
        "'warn' or 'log', got 'ignore'\n"
        "  expected: 'raise', 'warn' or 'log'\n"
        "  got: 'ignore'"
    )
    assert _audit_summary() == (
        "strict_broadcasting: 1 line would raise\n  FILE:LINE: `+` (add) (4,) and (4, 1)"
    )


# ---------------- bc: Minari datasets


def test_minari_wording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    pytest.importorskip("minari", reason="the minari extra is not installed")
    from shapesafe.bc import from_minari, to_minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    ids = np.array([0, 0, 1])
    no_ids = Demonstrations(
        torch.zeros(3, 2), torch.zeros(3, 1), extras={"rewards": torch.zeros(3)}
    )
    assert _message(lambda: to_minari(no_ids, "test/a-v0")) == (
        "to_minari(): argument `data`: the demonstrations have no episode ids (Minari stores "
        "whole episodes)\n  hint: build them with Demonstrations(..., episode_ids=...) or "
        "episode_starts=..., or collect them with shapesafe.bc.rollout()"
    )
    no_rewards = Demonstrations(torch.zeros(3, 2), torch.zeros(3, 1), episode_ids=ids)
    assert _message(lambda: to_minari(no_rewards, "test/a-v0")) == (
        "to_minari(): argument `data`: the demonstrations have no `rewards` column (Minari "
        "stores one per step)\n  expected: extras['rewards'] of shape (N,)\n  got: extras: none\n"
        "  hint: data without rewards can say so explicitly: "
        "Demonstrations(..., extras={'rewards': np.zeros(N)})"
    )
    demos = Demonstrations(
        torch.zeros(3, 2), torch.zeros(3, 1), episode_ids=ids, extras={"rewards": torch.ones(3)}
    )
    assert _message(lambda: to_minari(demos, "test/a-v0")) == (
        "to_minari(): argument `data`: Minari records how each episode ended; the "
        "demonstrations have no 'terminated' or 'truncated' column\n"
        "  expected: extras 'terminated' and 'truncated' (N,) 0/1 per step\n"
        "  got: extras: ['rewards']\n"
        "  hint: pass episode_ends='terminated' (episodes ended in a terminal state) or "
        "'truncated' (cut off by a time limit)"
    )
    assert _message(lambda: to_minari(demos, "test/a-v0", episode_ends="terminated")) == (
        "to_minari(): argument `data`: Minari stores the observation after each episode's last "
        "action, and the demonstrations do not have it\n  hint: export the Rollouts that "
        "shapesafe.bc.rollout() returns (they keep it), pass "
        "final_observations=<array (episodes, 2)>, or add a next_observations extra column"
    )
    assert _message(lambda: to_minari(demos, "test/a", episode_ends="terminated")) == (
        "to_minari(): argument `dataset_id`: 'test/a' is not a Minari dataset id\n"
        "  expected: '(namespace/)name-v<version>' (letters, digits, '-', '_')\n"
        "  got: 'test/a'\n  hint: add a version: 'test/a-v0'"
    )
    finals = np.zeros((2, 2))
    fits = lambda: to_minari(  # noqa: E731
        demos, "test/a-v0", episode_ends="terminated", final_observations=finals, env="CartPole-v1"
    )
    assert _message(fits, ShapeError) == (
        "to_minari(): argument `observation_space`: the observations do not fit the "
        "observation space\n  expected: observations of shape (N, 4) (a Box of shape (4,))\n"
        "  got: observations of shape (3, 2)\n"
        "  hint: check that env= (or the space) is the one the data comes from"
    )
    assert _message(lambda: from_minari("test/absent-v0")) == (
        "from_minari(): argument `dataset`: no Minari dataset 'test/absent-v0' on this machine "
        f"(looked in {str(tmp_path)!r})\n  hint: set MINARI_DATASETS_PATH to the directory that "
        "holds it, or fetch it once with `minari download test/absent-v0`"
    )
    monkeypatch.setitem(sys.modules, "minari", None)
    assert _message(lambda: from_minari("test/absent-v0"), UsageError) == (
        "from_minari(): needs the optional dependency `minari`, which is not installed\n"
        "  hint: install it with pip install 'shapesafe[minari]'"
    )


# ---------------- the MuJoCo experts (bc.experts.mujoco) and their Riccati solver


def test_mujoco_expert_message_wording(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import gymnasium as gym

    from shapesafe.bc.experts import (
        InvertedDoublePendulumExpert,
        InvertedPendulumExpert,
        ReacherExpert,
    )
    from shapesafe.bc.experts._lqr import dlqr

    double = gym.make("InvertedDoublePendulum-v5")
    assert _message(lambda: InvertedPendulumExpert(env=double), UsageError) == (
        "InvertedPendulumExpert(): argument `env`: the env's MuJoCo model is not the one "
        "this expert balances\n"
        "  expected: 2 joints and 1 actuator\n"
        "  got: 3 joints and 1 actuator\n"
        "  hint: this expert is for InvertedPendulum-v5"
    )
    cartpole = gym.make("CartPole-v1")
    assert _message(lambda: InvertedDoublePendulumExpert(env=cartpole), UsageError) == (
        "InvertedDoublePendulumExpert(): argument `env`: `env` must be a gymnasium MuJoCo "
        "env (with `.model` and `.frame_skip`)\n"
        "  got: a gymnasium.wrappers.common.TimeLimit\n"
        "  hint: pass the env from gymnasium.make, or leave env=None for the default model"
    )
    assert _message(lambda: ReacherExpert(kp=-1.0), UsageError) == (
        "ReacherExpert(): argument `kp`: `kp` must be a non-negative number\n  got: the float -1.0"
    )
    stuck = (2 * np.eye(2), np.zeros((2, 1)), np.eye(2), np.eye(1))
    assert _message(lambda: dlqr(*stuck), UsageError) == (
        "dlqr(): the discrete Riccati iteration did not converge\n"
        "  expected: a stabilisable (A, B) and positive definite Q and R\n"
        "  got: no fixed point within 100000 iterations\n"
        "  hint: check the linearisation (is the system controllable from the input?)"
    )
    monkeypatch.setitem(sys.modules, "mujoco", None)  # MuJoCo not installed
    assert _message(InvertedPendulumExpert, UsageError) == (
        "InvertedPendulumExpert(): this expert linearises the MuJoCo model, but MuJoCo is "
        "not installed\n"
        "  hint: pip install 'shapesafe[mujoco]'"
    )


# ---------------- bc.experts: the classic-control experts and the expert contract


def test_classic_expert_message_wording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shapesafe.bc import ActSpec, ObsSpec
    from shapesafe.bc.experts import (
        CartPoleExpert,
        Expert,
        MountainCarExpert,
        PendulumExpert,
        expert_ids,
        make_expert,
        register_expert,
    )

    assert _message(lambda: make_expert("CartPole-v1")(np.zeros((2, 3))), ShapeError) == (
        "CartPoleExpert.__call__(): argument `obs` axis 1: observation does not fit the "
        "expert of CartPole-v1\n"
        "  expected: shape (4,) (one observation) or (n, 4) (a batch)\n"
        "  got: shape (2, 3)\n"
        "  hint: this expert acts in CartPole-v1; is the env (or a wrapper) another one?"
    )
    assert _message(lambda: make_expert("Pendulum-v1")(["a", "b", "c"]), DtypeError) == (
        "PendulumExpert.__call__(): argument `obs`: observation is not numeric\n"
        "  expected: a numeric numpy array or tensor\n"
        "  got: a list of 3 items"
    )
    known = ", ".join(expert_ids())
    assert _message(lambda: make_expert("CartPole-v0"), UsageError) == (
        "make_expert(): argument `env_id`: no expert is registered for 'CartPole-v0'\n"
        f"  expected: one of {known}\n"
        "  got: the str 'CartPole-v0'\n"
        "  hint: did you mean 'CartPole-v1'?"
    )
    assert _message(lambda: make_expert("Foo"), UsageError) == (
        "make_expert(): argument `env_id`: no expert is registered for 'Foo'\n"
        f"  expected: one of {known}\n"
        "  got: the str 'Foo'\n"
        "  hint: any callable obs -> action works as an expert; register one with "
        "@register_expert(env_id)"
    )
    assert _message(lambda: register_expert(""), UsageError) == (
        "register_expert(): argument `env_id`: the env id must be a non-empty string\n"
        "  got: the str ''"
    )
    assert _message(lambda: CartPoleExpert(q=(1.0, 2.0)), UsageError) == (
        "CartPoleExpert(): argument `q`: `q` must be 4 positive weights, one per state "
        "variable\n"
        "  got: a tuple of 2 items"
    )
    assert _message(lambda: PendulumExpert(capture=0), UsageError) == (
        "PendulumExpert(): argument `capture`: `capture` must be a positive number\n"
        "  got: the int 0"
    )
    assert _message(lambda: MountainCarExpert(force=2), UsageError) == (
        "MountainCarExpert(): argument `force`: the force is clipped to 1 by the env; more "
        "is not a stronger push\n"
        "  expected: a number in (0, 1]\n"
        "  got: the int 2"
    )
    assert _message(lambda: MountainCarExpert(start=0), UsageError) == (
        "MountainCarExpert(): argument `start`: the first push must be -1 (left) or 1 (right)\n"
        "  got: the int 0"
    )

    class Echo(Expert):
        obs_spec, act_spec = ObsSpec((2,)), ActSpec((1,))

        def act_batch(self, obs: np.ndarray) -> np.ndarray:
            return obs

    assert _message(lambda: Echo()(np.zeros((5, 2, 2))), ShapeError) == (
        "Echo.__call__(): argument `obs`: observation does not fit the expert\n"
        "  expected: shape (2,) (one observation) or (n, 2) (a batch)\n"
        "  got: shape (5, 2, 2)"
    )
    assert _message(lambda: Echo()(np.zeros(2)), ShapeError) == (
        "Echo.act_batch(): return value: the expert's actions have the wrong shape (a bug "
        "in the expert, not in `obs`)\n"
        "  expected: shape (1, 1)\n"
        "  got: shape (1, 2)"
    )
    # shapesafe collect: one line on stderr, exit code 2
    monkeypatch.chdir(tmp_path)
    assert main(["collect", "--env", "MountainCar-v0", "--out", "d.npz"]) == 2
    assert capsys.readouterr().err == (
        "shapesafe collect: error: no expert is registered for 'MountainCar-v0' "
        f"(registered: {known}); hint: pass --expert MODULE:NAME\n"
    )
    assert main(["collect", "--env", "CartPole-v1", "--expert", "x", "--out", "d.npz"]) == 2
    assert capsys.readouterr().err == (
        "shapesafe collect: error: --expert 'x': expected MODULE:NAME, e.g. my_experts:Expert\n"
    )


# ---------------- bc: DAgger


def _dagger_call(act_dim: int, expert: Callable[[object], object], **kwargs: object) -> object:
    import numpy as np

    from shapesafe.bc import DeterministicPolicy, dagger
    from shapesafe.bc.tasks import ObstacleEnv

    def default_expert(obs: object) -> object:
        return np.zeros(2, dtype=np.float32)

    return dagger(
        DeterministicPolicy(2, act_dim),
        expert or default_expert,
        ObstacleEnv(),
        iterations=1,
        episodes_per_iteration=1,
        steps=1,
        eval_episodes=1,
        progress=False,
        **kwargs,  # type: ignore[arg-type]
    )


def _beta(beta: object) -> object:
    from shapesafe.bc import beta_schedule

    return beta_schedule(beta, 3)(2)  # type: ignore[arg-type]


DAGGER_CASES: dict[str, Case] = {
    "dagger: beta range": (
        lambda: _beta(1.5),
        UsageError,
        "dagger(): argument `beta`: `beta` must be a probability, got the float 1.5\n"
        "  expected: a number in [0, 1]\n  got: the float 1.5",
    ),
    "dagger: beta name": (
        lambda: _beta("cosine"),
        UsageError,
        "dagger(): argument `beta`: unknown beta schedule 'cosine'\n"
        "  expected: a number in [0, 1], 'linear', 'exponential' (p=0.5) or "
        "'exponential:P', or a callable i -> beta\n  got: 'cosine'",
    ),
    "dagger: beta base": (
        lambda: _beta("exponential:2"),
        UsageError,
        "dagger(): argument `beta`: the base of 'exponential:2' must be a number in (0, 1]\n"
        "  expected: 'exponential:P' with 0 < P <= 1\n  got: 'exponential:2'",
    ),
    "dagger: beta callable": (
        lambda: _beta(lambda i: 2.0),
        UsageError,
        "dagger(): argument `beta`: the beta schedule gave the float 2.0 at iteration 2; "
        "beta is a probability\n  expected: a number in [0, 1]\n  got: the float 2.0",
    ),
    "dagger: env": (
        lambda: _dagger_call(1, None),  # type: ignore[arg-type]
        ShapeError,
        "dagger(): argument `env`: the env does not fit the learner DeterministicPolicy\n"
        "  expected: actions of shape (1,)\n  got: action space of shape (2,)\n"
        "  hint: build the learner from the env's spaces (ObsSpec/ActSpec), or wrap the env",
    ),
    "dagger: expert": (
        lambda: _dagger_call(2, lambda obs: [0.0, 0.0, 0.0]),
        ShapeError,
        "dagger(): argument `expert`: the expert's actions do not fit the env's action "
        "space\n  expected: an action of shape (2,)\n  got: shape (3,)\n"
        "  hint: the expert must return one action per observation, in the env's format",
    ),
    "dagger: fit options": (
        lambda: _dagger_call(2, None, fit_options={"seed": 1}),  # type: ignore[arg-type]
        UsageError,
        "dagger(): argument `fit_options`: fit_options sets 'seed', which dagger() sets "
        "itself\n  got: seed\n"
        "  hint: pass steps/epochs/batch_size/lr/seed as dagger()'s own arguments",
    ),
}


@pytest.mark.parametrize("case", list(DAGGER_CASES))
def test_dagger_message_wording(case: str) -> None:
    call, cls, expected = DAGGER_CASES[case]
    text = _message(call, cls)
    assert text == (expected() if callable(expected) else expected)


# ---------------- goal-conditioned policies, goal rollouts and hindsight relabelling


def _goal_cases() -> dict[str, Case]:
    from shapesafe.bc import (
        DeterministicPolicy,
        evaluate_goal_reaching,
        goal_rollout,
        relabel_goals,
    )
    from shapesafe.bc.tasks import GoalReachEnv, ObstacleEnv
    from shapesafe.errors import DataError

    def demos(**fields: Any) -> Demonstrations:
        return Demonstrations(torch.zeros(4, 2), torch.zeros(4, 2), **fields)

    ids = torch.zeros(4, dtype=torch.long)
    return {
        "goals: missing": (
            lambda: GaussianPolicy(3, 2, goal_dim=2).predict(torch.zeros(4, 3)),
            ShapeError,
            "GaussianPolicy.predict(): argument `goals`: this policy is goal-conditioned "
            "(goal_dim=2) but no goals were given\n"
            "  expected: (batch, 2)\n"
            "  got: goals=None\n"
            "  hint: pass the goals: predict(obs, goals), act(obs, goal=goal)",
        ),
        "goals: wrong width": (
            lambda: DeterministicPolicy(3, 2, goal_dim=2).predict(
                torch.zeros(4, 3), torch.zeros(4, 5)
            ),
            ShapeError,
            "DeterministicPolicy.predict(): argument `goals` axis 1: expected goals of shape "
            "(batch, 2) (the policy's goal_dim), got (4, 5)\n"
            "  expected: (batch, 2)\n"
            "  got: (4, 5)\n"
            "  hint: this policy was built with goal_dim=2",
        ),
        "goals: not goal-conditioned": (
            lambda: DeterministicPolicy(3, 2).predict(torch.zeros(4, 3), torch.zeros(4, 2)),
            UsageError,
            "DeterministicPolicy.predict(): argument `goals`: this policy is not "
            "goal-conditioned, but goals were given\n"
            "  expected: goals=None\n"
            "  got: goals of shape (4, 2)\n"
            "  hint: build the policy with goal_dim=2 to condition it on goals",
        ),
        "goals: act without a goal": (
            lambda: GaussianPolicy(3, 2, goal_dim=2).act(np.zeros(3)),
            ShapeError,
            "GaussianPolicy.act(): argument `goal`: this policy is goal-conditioned but no "
            "goal was given\n"
            "  expected: a goal of shape (2,) (one per observation)\n"
            "  got: goal=None\n"
            "  hint: act(obs, goal=goal)",
        ),
        "goals: act with a goal": (
            lambda: GaussianPolicy(3, 2).act(np.zeros(3), goal=np.zeros(2)),
            UsageError,
            "GaussianPolicy.act(): argument `goal`: this policy is not goal-conditioned, but "
            "a goal was given\n"
            "  expected: goal=None\n"
            "  got: a goal of shape (2,)",
        ),
        "relabel: no episode ids": (
            lambda: relabel_goals(demos(goals=torch.zeros(4, 2))),
            DataError,
            "relabel_goals(): argument `demos`: relabelling draws goals from the same "
            "episode, but the demonstrations have no episode ids\n"
            "  expected: Demonstrations with episode_ids\n"
            "  got: episode_ids=None\n"
            "  hint: Demonstrations(..., episode_ids=...) or episode_starts=...",
        ),
        "relabel: no achieved goals": (
            lambda: relabel_goals(
                demos(goals=torch.zeros(4, 2), episode_ids=ids, extras={"rewards": torch.zeros(4)})
            ),
            DataError,
            "relabel_goals(): argument `achieved`: the demonstrations have no extra field "
            "'achieved_goals' (extras: rewards)\n"
            "  expected: extras['achieved_goals']: the goal achieved at each row\n"
            "  got: extras: rewards\n"
            "  hint: collect the data with goal_rollout(), or pass achieved=a callable "
            "observations -> achieved goals, e.g. lambda obs: obs[:, :2]",
        ),
        "relabel: strategy": (
            lambda: relabel_goals(demos(episode_ids=ids), strategy="later"),
            UsageError,
            "relabel_goals(): argument `strategy`: unknown strategy 'later'; choose one of "
            "'future', 'final', 'episode'\n"
            "  expected: future, final, episode\n"
            "  got: the str 'later'",
        ),
        "goal rollout: policy without goals": (
            lambda: goal_rollout(GaussianPolicy(2, 2), GoalReachEnv(), 1),
            UsageError,
            "goal_rollout(): argument `policy`: GaussianPolicy is not goal-conditioned, so it "
            "cannot be given the env's goals\n"
            "  expected: a policy with a goal_spec\n"
            "  got: GaussianPolicy without goals\n"
            "  hint: build it with goal_dim=2",
        ),
        "goal rollout: goal shape": (
            lambda: goal_rollout(GaussianPolicy(2, 2, goal_dim=3), GoalReachEnv(), 1),
            ShapeError,
            "goal_rollout(): argument `env`: the env's goals do not fit GaussianPolicy\n"
            "  expected: goals of shape (3,) (the policy's spec)\n"
            "  got: goals of shape (2,)",
        ),
        "goal rollout: not a goal env": (
            lambda: evaluate_goal_reaching(GaussianPolicy(2, 2, goal_dim=2), ObstacleEnv(), 1),
            UsageError,
            "evaluate_goal_reaching(): argument `env`: the env is not a goal environment: its "
            "observations must be dicts with 'observation', 'desired_goal' and "
            "'achieved_goal'\n"
            "  expected: a Dict observation space with 'observation', 'desired_goal', "
            "'achieved_goal'\n"
            "  got: a Box\n"
            "  hint: use rollout() / evaluate_in_env() for environments without goals",
        ),
    }


GOAL_CASES = _goal_cases()


@pytest.mark.parametrize("case", list(GOAL_CASES))
def test_goal_message_wording(case: str) -> None:
    call, cls, expected = GOAL_CASES[case]
    assert _message(call, cls) == (expected() if callable(expected) else expected)


def test_hidden_velocity_env_wording() -> None:
    from shapesafe.bc.tasks import HiddenVelocityEnv

    assert _message(lambda: HiddenVelocityEnv(initial_velocity=-0.5), UsageError) == (
        "HiddenVelocityEnv(): argument `initial_velocity`: the initial velocity is drawn "
        "from [-initial_velocity, initial_velocity]^2\n"
        "  expected: a finite number >= 0\n"
        "  got: the float -0.5\n"
        "  hint: 0 (the default) starts every episode at rest; 1 draws the velocity from "
        "[-1, 1]^2"
    )
