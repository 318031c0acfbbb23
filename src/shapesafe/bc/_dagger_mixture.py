"""The two pieces of DAgger that are not training: the β schedule and the β-mixture actor.

At iteration ``i`` DAgger executes, at every step, the expert's action with probability
``β_i`` and the learner's otherwise -- but it always *asks* the expert, because every
visited state is labelled with the expert's action whichever one was executed. So the
mixture calls both on the same observation and keeps the expert's answer as the label.

Schedules follow Ross, Gordon & Bagnell (2011): ``β_1 = 1`` (the first iteration is
the expert alone, i.e. behaviour cloning) and ``β_i = p ** (i - 1)`` afterwards; a
constant and a linear decay are the other usual choices.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shapesafe._format import error, fmt_value
from shapesafe.bc.policies.base import Policy
from shapesafe.errors import UsageError

__all__ = ["BetaMixture", "BetaSchedule", "beta_schedule"]

BetaArg = float | str | Callable[[int], float]

_NAMES = (
    "a number in [0, 1], 'linear', 'exponential' (p=0.5) or 'exponential:P', "
    "or a callable i -> beta"
)


@dataclass(frozen=True)
class BetaSchedule:
    """β as a function of the (1-based) DAgger iteration, validated at every call.

    Build one with :func:`beta_schedule`; ``description`` names it in records and
    checkpoints (a resume must use the same schedule).
    """

    description: str
    fn: Callable[[int], float]

    def __call__(self, iteration: int) -> float:
        value = self.fn(iteration)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float, np.floating, np.integer))
            or not 0.0 <= float(value) <= 1.0
        ):
            raise error(
                UsageError,
                f"the beta schedule gave {fmt_value(value)} at iteration {iteration}; "
                "beta is a probability",
                function="dagger",
                argument="beta",
                expected="a number in [0, 1]",
                got=fmt_value(value),
            )
        return float(value)


def beta_schedule(beta: BetaArg, iterations: int) -> BetaSchedule:
    """The β schedule named by ``beta`` for a run of ``iterations`` iterations.

    - a number in ``[0, 1]``: constant β (``0``: the learner alone, ``1``: the expert
      alone, which is behaviour cloning with more demonstrations);
    - ``"exponential"`` or ``"exponential:P"``: ``β_i = P ** (i - 1)`` (P = 0.5 by
      default), so ``β_1 = 1`` -- Ross et al. (2011);
    - ``"linear"``: from ``β_1 = 1`` down to ``β_N = 0`` in equal steps;
    - a callable ``i -> β`` (``i`` counts from 1), checked at each call.

    Examples:
        >>> from shapesafe.bc import beta_schedule
        >>> s = beta_schedule("exponential:0.5", iterations=4)
        >>> [s(i) for i in range(1, 5)]
        [1.0, 0.5, 0.25, 0.125]
        >>> [beta_schedule("linear", 3)(i) for i in (1, 2, 3)]
        [1.0, 0.5, 0.0]
    """
    if isinstance(beta, BetaSchedule):
        return beta
    if isinstance(beta, (int, float, np.floating, np.integer)) and not isinstance(beta, bool):
        value = probability(beta, "dagger")
        return BetaSchedule(f"constant {value:g}", lambda i: value)
    if isinstance(beta, str):
        name, _, arg = beta.partition(":")
        if name == "linear" and not arg:
            n = iterations
            return BetaSchedule(
                "linear", lambda i: 1.0 if n <= 1 else max(0.0, 1.0 - (i - 1) / (n - 1))
            )
        if name == "exponential":
            p = _base(arg, beta) if arg else 0.5
            return BetaSchedule(f"exponential {p:g}", lambda i: p ** (i - 1))
        raise error(
            UsageError,
            f"unknown beta schedule {beta!r}",
            function="dagger",
            argument="beta",
            expected=_NAMES,
            got=repr(beta),
        )
    if callable(beta):
        name = getattr(beta, "__qualname__", type(beta).__name__)
        return BetaSchedule(f"callable {name}", beta)
    raise error(
        UsageError,
        f"`beta` must be a number, a schedule name or a callable, got {fmt_value(beta)}",
        function="dagger",
        argument="beta",
        expected=_NAMES,
        got=fmt_value(beta),
    )


def probability(beta: Any, function: str) -> float:
    """``beta`` as a float in [0, 1], or a :class:`UsageError` (NaN and bools refused)."""
    ok = isinstance(beta, (int, float, np.floating, np.integer)) and not isinstance(beta, bool)
    if not ok or not 0.0 <= float(beta) <= 1.0:
        raise error(
            UsageError,
            f"`beta` must be a probability, got {fmt_value(beta)}",
            function=function,
            argument="beta",
            expected="a number in [0, 1]",
            got=fmt_value(beta),
        )
    return float(beta)


def _base(text: str, beta: str) -> float:
    try:
        p = float(text)
    except ValueError:
        p = math.nan
    if not 0.0 < p <= 1.0:
        raise error(
            UsageError,
            f"the base of {beta!r} must be a number in (0, 1]",
            function="dagger",
            argument="beta",
            expected="'exponential:P' with 0 < P <= 1",
            got=repr(beta),
        )
    return p


class BetaMixture:
    """The actor DAgger rolls out: with probability ``beta`` per step the expert's
    action is executed, else the learner's; the expert labels every step either way.

    Both are called on the same observation at every step (so the label exists for
    every visited state); the coin flips come from ``numpy.random.default_rng(seed)``,
    one draw per step, so a run is reproducible. After a rollout, ``labels[k]`` and
    ``expert_acted[k]`` belong to the ``k``-th observation the mixture was called on.

    Args:
        learner: a :class:`Policy` (acting through ``act``) or a callable obs -> action.
        expert: a callable obs -> action (``reset()`` is called at episode starts when
            it has one), or a trained :class:`Policy` (labelling with its most likely
            action).
        beta: probability of executing the expert's action, in ``[0, 1]``.
        seed: seed of the coin flips.
        deterministic: a Policy learner acts with its most likely action.

    Examples:
        >>> import numpy as np
        >>> from shapesafe.bc import BetaMixture
        >>> mix = BetaMixture(lambda o: -o, lambda o: o, beta=1.0, seed=0)
        >>> mix(np.ones(2)), mix.expert_acted
        (array([1., 1.]), [True])
    """

    def __init__(
        self,
        learner: Policy | Callable[[Any], Any],
        expert: Callable[[Any], Any],
        beta: float,
        seed: int | Sequence[int] = 0,
        *,
        deterministic: bool = True,
    ) -> None:
        self.beta = probability(beta, "BetaMixture")
        for what, obj in (("learner", learner), ("expert", expert)):
            if not callable(obj):
                raise error(
                    UsageError,
                    f"the {what} must be a callable obs -> action",
                    function="BetaMixture",
                    argument=what,
                    expected="a Policy or a callable",
                    got=fmt_value(obj),
                )
        self.learner = learner
        self.expert = expert
        self.deterministic = deterministic
        self.rng = np.random.default_rng(seed)
        self.labels: list[np.ndarray[Any, Any]] = []
        self.expert_acted: list[bool] = []

    def reset(self, which: Any = None) -> None:
        """Start of an episode: reset the learner and the expert (when they can)."""
        for obj in (self.learner, self.expert):
            reset = getattr(obj, "reset", None)
            if callable(reset):
                reset()

    def __call__(self, obs: Any) -> Any:
        if isinstance(self.expert, Policy):  # a trained policy as the expert: its best action
            label = self.expert.act(obs, deterministic=True)
        else:
            label = np.asarray(self.expert(obs))
        if isinstance(self.learner, Policy):
            mine = self.learner.act(obs, deterministic=self.deterministic)
        else:
            mine = np.asarray(self.learner(obs))
        # One draw per step, whatever beta is, so the stream does not depend on beta.
        use_expert = bool(self.rng.random() < self.beta)
        self.labels.append(label)
        self.expert_acted.append(use_expert)
        return label if use_expert else mine
