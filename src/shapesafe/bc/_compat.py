"""Does this data fit this policy? Checked once, before training or evaluation starts,
from the policy's declared specs (so a policy defined in user code is checked the same
way as the built-in ones)."""

from __future__ import annotations

import math

from shapesafe.bc._data import Demonstrations
from shapesafe.bc.policies.base import ObsSpec, Policy
from shapesafe.errors import DtypeError, ShapeError

__all__ = ["check_compatible", "rows"]


def rows(shape: tuple[int, ...]) -> str:
    """``(N, 4, 4)`` for a per-row shape ``(4, 4)``; ``(N,)`` for ``()``."""
    return f"(N, {', '.join(map(str, shape))})" if shape else "(N,)"


def _shape_error(
    policy: Policy, what: str, got: tuple[int, ...], spec: tuple[int, ...], fn: str, arg: str
) -> ShapeError:
    name = type(policy).__name__
    verb = "expects" if what != "actions" else "predicts"
    hint = None
    if len(got) > 1 and len(spec) == 1 and math.prod(got) == spec[0]:
        hint = (
            f"the {what} are not flat; flatten them first: "
            "Demonstrations(demos.observations.flatten(1), demos.actions)"
        )
    else:
        hint = policy.spec_hint(what, got)
    return ShapeError(
        f"{fn}(): argument `{arg}`: {what} have shape {rows(got)} but {name} {verb} "
        f"{rows(spec)}" + (f"\n  hint: {hint}" if hint else ""),
        function=fn,
        argument=arg,
        axis=1,
        expected=rows(spec),
        got=rows(got),
        hint=hint,
    )


def check_compatible(
    policy: Policy, demos: Demonstrations, function: str = "fit", argument: str = "demos"
) -> None:
    """Refuse ``demos`` whose observations, actions or goals do not match ``policy``'s
    specs, naming ``function`` and ``argument``."""
    name = type(policy).__name__
    obs_spec, act_spec = policy.obs_spec, policy.act_spec
    if demos.obs_shape != obs_spec.shape:
        raise _shape_error(
            policy, "observations", demos.obs_shape, obs_spec.shape, function, argument
        )
    continuous = act_spec.discrete is None
    if demos.actions.is_floating_point() != continuous:
        kind = "continuous (float)" if continuous else "discrete (integer)"
        hint = (
            "discrete actions need a policy with a discrete ActSpec; continuous ones "
            "should be stored as floats"
            if continuous
            else "discrete actions should be stored as integers"
        )
        raise DtypeError(
            f"{function}(): argument `{argument}`: actions have dtype {demos.actions.dtype}, "
            f"but {name} predicts {kind} actions\n  hint: {hint}",
            function=function,
            argument=argument,
            expected=f"{kind} actions",
            got=str(demos.actions.dtype),
            hint=hint,
        )
    if demos.act_shape != act_spec.shape:
        raise _shape_error(policy, "actions", demos.act_shape, act_spec.shape, function, argument)
    _check_goals(policy, demos, policy.goal_spec, function, argument)


def _check_goals(
    policy: Policy, demos: Demonstrations, spec: ObsSpec | None, fn: str, arg: str
) -> None:
    if spec is None:
        return
    if demos.goals is None:
        raise ShapeError(
            f"{fn}(): argument `{arg}`: {type(policy).__name__} is goal-conditioned but the "
            f"demonstrations have no goals\n  hint: Demonstrations(..., goals=goals)",
            function=fn,
            argument=arg,
            expected=f"goals {rows(spec.shape)}",
            got="no goals",
            hint="Demonstrations(..., goals=goals)",
        )
    got = tuple(demos.goals.shape[1:])
    if got != spec.shape:
        raise _shape_error(policy, "goals", got, spec.shape, fn, arg)
