"""The full wording of the checker's messages, in one place.

Other tests assert structured fields and one key fragment; rewording a message
touches only this module. Each case is a call that fails, with its error class and
its whole message."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

import shapesafe
from shapesafe.distributions import DiagNormal, Dist


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


CASES: dict[str, Any] = {
    "readme": lambda: td_target(torch.zeros(64), torch.zeros(64, 1)),
    "size": lambda: td_target(torch.zeros(64), torch.zeros(63)),
    "dtype": lambda: td_target(torch.zeros(4), torch.zeros(4, dtype=torch.long)),
    "numpy": lambda: td_target(np.zeros(4), torch.zeros(4)),
    "float_index": lambda: pick(torch.zeros(2, 3), torch.zeros(2)),
    "missing_batch": lambda: predict(torch.zeros(3)),
    "reduced": lambda: pg_loss(torch.zeros(()), torch.zeros(8)),
    "per_coordinate": lambda: pg_loss(torch.zeros(8), torch.zeros(8, 6)),
    "not_scalar": lambda: unreduced(torch.zeros(8)),
    "time_major": lambda: rollout(torch.zeros(5, 8, 3), torch.zeros(8, 5, 2)),
    "fixed": lambda: head(torch.zeros(2, 3)),
    "symbolic_bound": lambda: returns(torch.zeros(5, 8), torch.zeros(5, 8, 1)),
    "div_zero": lambda: split(torch.zeros(6), torch.zeros(0), torch.zeros(3)),
    "odd_half": lambda: halve(torch.zeros(5), torch.zeros(2)),
    "star_args": lambda: stack(torch.zeros(5), torch.zeros(4), ref=torch.zeros(3)),
    "dist_rank": lambda: pol(DiagNormal(torch.zeros(5, 4, 2), torch.ones(5, 4, 2))),
    "none": lambda: f_opt(torch.zeros(2), torch.zeros(3, dtype=torch.bool)),
    "check_shape": lambda: shapesafe.check_shape(
        np.zeros((2, 3)), "batch obs", function="from_numpy", argument="obs", dims={"obs": 4}
    ),
    "check_shape_spec": lambda: shapesafe.check_shape(torch.zeros(3), ["n"]),
    "check_shape_dims": lambda: shapesafe.check_shape(torch.zeros(3), "n", dims={1: 3}),
    "builtin": lambda: shapesafe.check(torch.add),
}

EXPECTED: dict[str, tuple[str, str]] = {
    "readme": (
        "ShapeError",
        "td_target(): argument `q_next`: expected shape (batch,) = (64,) [1 axis], got shape (64, 1) [2 axes]\n"
        '  annotation: Float[Tensor, "batch"]\n'
        "  bindings: batch=64 (from `rewards`)\n"
        "  hint: `q_next` has a trailing axis of size 1; did you mean q_next.squeeze(-1)?",
    ),
    "size": (
        "ShapeError",
        "td_target(): argument `q_next` axis 0 ('batch'): expected batch=64 (bound by `rewards`), got 63 in shape (63,)\n"
        '  annotation: Float[Tensor, "batch"]\n'
        "  bindings: batch=64 (from `rewards`)",
    ),
    "dtype": (
        "DtypeError",
        'td_target(): argument `q_next`: expected dtype Float (Float[Tensor, "batch"]), got dtype int64\n'
        '  annotation: Float[Tensor, "batch"]\n'
        "  bindings: batch=4 (from `rewards`)\n"
        "  hint: convert with q_next.float()",
    ),
    "numpy": (
        "DtypeError",
        'td_target(): argument `rewards`: expected Float[Tensor, "batch"] (a torch.Tensor), got ndarray\n'
        "  bindings: (none yet)\n"
        "  hint: `rewards` is a numpy array; convert it with torch.as_tensor(rewards) (or shapesafe.from_numpy)",
    ),
    "float_index": (
        "DtypeError",
        'pick(): argument `a`: expected dtype Int (Int[Tensor, "b"]), got dtype float32\n'
        '  annotation: Int[Tensor, "b"]\n'
        "  bindings: b=2 (from `q`), a=3 (from `q`)\n"
        "  hint: indices must be integers; convert with a.long()",
    ),
    "missing_batch": (
        "ShapeError",
        "predict(): argument `obs`: expected shape (batch, obs) [2 axes], got shape (3,) [1 axis]\n"
        '  annotation: Float[Tensor, "batch obs"]\n'
        "  bindings: (none yet)\n"
        "  hint: `obs` is missing its leading (batch) axis; for a single sample, add it with obs.unsqueeze(0)",
    ),
    "reduced": (
        "ShapeError",
        "pg_loss(): argument `logp`: expected shape (batch,) [1 axis], got shape () [0 axes]\n"
        '  annotation: Float[Tensor, "batch"]\n'
        "  bindings: (none yet)\n"
        "  hint: `logp` is a scalar: it looks reduced over the batch; did you sum/mean too early? keep one value per sample",
    ),
    "per_coordinate": (
        "ShapeError",
        "pg_loss(): argument `adv`: expected shape (batch,) = (8,) [1 axis], got shape (8, 6) [2 axes]\n"
        '  annotation: Float[Tensor, "batch"]\n'
        "  bindings: batch=8 (from `logp`)\n"
        "  hint: `adv` has an extra trailing axis of size 6; if it holds per-coordinate terms (e.g. a log-prob per action dimension), sum them with adv.sum(-1)",
    ),
    "not_scalar": (
        "ShapeError",
        "unreduced(): return value: expected shape () [0 axes], got shape (8,) [1 axis]\n"
        '  annotation: Float[Tensor, ""]\n'
        "  bindings: batch=8 (from `x`)\n"
        "  hint: `result` is not a scalar (shape (8,)); reduce it, e.g. result.mean() or result.sum()",
    ),
    "time_major": (
        "ShapeError",
        "rollout(): argument `act` axis 0 ('time'): expected time=5 (bound by `obs`), got 8 in shape (8, 5, 2)\n"
        '  annotation: Float[Tensor, "time batch act"]\n'
        "  bindings: time=5 (from `obs`), batch=8 (from `obs`), obs=3 (from `obs`)\n"
        "  hint: `act` and `obs` disagree on the order of the axes (time-major vs batch-major?): one of them is transposed; if it is `act`, use act.transpose(0, 1), otherwise transpose `obs`",
    ),
    "fixed": (
        "ShapeError",
        "head(): argument `x` axis 1: expected 4, got 3 in shape (2, 3)\n"
        '  annotation: Float[Tensor, "batch 4"]\n'
        "  bindings: (none yet)",
    ),
    "symbolic_bound": (
        "ShapeError",
        "returns(): argument `v`: expected shape (time+1, batch) = (6, 8) [2 axes], got shape (5, 8, 1) [3 axes]\n"
        '  annotation: Float[Tensor, "time+1 batch"]\n'
        "  bindings: time=5 (from `r`), batch=8 (from `r`)",
    ),
    "div_zero": (
        "ShapeError",
        "split(): argument `y` axis 0 ('n//m'): expected n//m with m=0, n=6, which divides by zero, got 3 in shape (3,)\n"
        '  annotation: Float[Tensor, "n//m"]\n'
        "  bindings: n=6 (from `x`), m=0 (from `m`)",
    ),
    "odd_half": (
        "ShapeError",
        "halve(): argument `y` axis 0 ('n/2'): expected n/2=2.5, got 2 in shape (2,)\n"
        '  annotation: Float[Tensor, "n/2"]\n'
        "  bindings: n=5 (from `x`)",
    ),
    "star_args": (
        "ShapeError",
        "stack(): argument `xs`[0] axis 0 ('n+1'): expected n+1=4, got 5 in shape (5,)\n"
        '  annotation: Float[Tensor, "n+1"]\n'
        "  bindings: n=3 (from `ref`)",
    ),
    "dist_rank": (
        "ShapeError",
        "pol(): argument `d`: expected batch_shape (batch,) [1 axis], got batch_shape (5, 4) [2 axes]\n"
        "  bindings: (none yet)",
    ),
    "none": (
        "ShapeError",
        "f_opt(): argument `m` axis 0 ('b'): expected b=2 (bound by `x`), got 3 in shape (3,)\n"
        '  annotation: Bool[Tensor, "b"] | None\n'
        "  bindings: b=2 (from `x`)",
    ),
    "check_shape": (
        "ShapeError",
        "from_numpy(): argument `obs` axis 1 ('obs'): expected obs=4 (bound by dims=), got 3 in shape (2, 3)\n"
        "  annotation: 'batch obs'\n"
        "  bindings: obs=4 (from dims=)",
    ),
    "check_shape_spec": (
        "AnnotationError",
        "check_shape() takes a jaxtyping array annotation or a dim string like 'batch obs', not list ['n']",
    ),
    "check_shape_dims": (
        "UsageError",
        "check_shape(): `dims` maps dim names (str) to sizes (int >= 0, or a tuple of them for a '*name' run); got 1: 3",
    ),
    "builtin": (
        "AnnotationError",
        "@check cannot read the signature of torch.add (a builtin or C function has no Python signature and no annotations); wrap it in a function with jaxtyping annotations and check that",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_full_message(name: str) -> None:
    cls, text = EXPECTED[name]
    with pytest.raises(shapesafe.ShapesafeError) as info:
        CASES[name]()
    assert type(info.value).__name__ == cls
    assert str(info.value) == text
