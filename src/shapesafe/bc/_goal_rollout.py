"""Rollouts and evaluation in goal-reaching environments (gymnasium-robotics style).

A goal environment hands out ``Dict`` observations with ``"observation"``,
``"desired_goal"`` and ``"achieved_goal"``, and reports ``info["is_success"]``. A
goal-conditioned :class:`~shapesafe.bc.Policy` acts on ``observation`` with ``goal =
desired_goal``; a plain callable (a scripted expert) gets the whole dict. The rows
collected keep the three apart, which is what relabelling needs: ``observations``,
``goals`` (the commanded goal) and ``extras["achieved_goals"]``, the goal achieved
*after* each step's action -- so relabelling row ``t`` with ``achieved_goals[t']``,
``t' >= t``, names a goal that the actions from row ``t`` on did reach.

Episode ``i`` starts from ``env.reset(seed=seed + i)``, as in :func:`~shapesafe.bc.rollout`.
One plain gymnasium env at a time: unlike :func:`~shapesafe.bc.rollout`, no vector
envs and no progress bar (yet).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from shapesafe._format import error, fmt_shape, fmt_value
from shapesafe.bc._data import Demonstrations
from shapesafe.bc._rollout import EnvEvaluation, Rollouts, summarise
from shapesafe.bc._validate import require_env, whole_number
from shapesafe.bc.policies.base import Policy
from shapesafe.errors import ShapeError, UsageError

__all__ = ["GOAL_KEYS", "evaluate_goal_reaching", "goal_rollout"]

#: The keys of a goal environment's ``Dict`` observation.
GOAL_KEYS = ("observation", "desired_goal", "achieved_goal")


def _goal_spaces(env: Any, function: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The shapes of one observation and one goal, or a UsageError for an env that does
    not hand out goal dicts."""
    spaces = getattr(env.observation_space, "spaces", None)
    if not isinstance(spaces, dict) or any(k not in spaces for k in GOAL_KEYS):
        space = type(env.observation_space).__name__
        got = f"a {space} with keys {sorted(spaces)}" if isinstance(spaces, dict) else f"a {space}"
        raise error(
            UsageError,
            "the env is not a goal environment: its observations must be dicts with "
            "'observation', 'desired_goal' and 'achieved_goal'",
            function=function,
            argument="env",
            expected="a Dict observation space with " + ", ".join(map(repr, GOAL_KEYS)),
            got=got,
            hint="use rollout() / evaluate_in_env() for environments without goals",
        )
    return tuple(spaces["observation"].shape), tuple(spaces["desired_goal"].shape)


def _check_policy(policy: Policy, env: Any, function: str) -> None:
    obs_shape, goal_shape = _goal_spaces(env, function)
    name = type(policy).__name__
    if policy.goal_spec is None:
        raise error(
            UsageError,
            f"{name} is not goal-conditioned, so it cannot be given the env's goals",
            function=function,
            argument="policy",
            expected="a policy with a goal_spec",
            got=f"{name} without goals",
            hint=f"build it with goal_dim={goal_shape[0]}" if len(goal_shape) == 1 else None,
        )
    for what, spec, shape in (
        ("observations", policy.obs_spec.shape, obs_shape),
        ("goals", policy.goal_spec.shape, goal_shape),
    ):
        if spec != shape:
            raise error(
                ShapeError,
                f"the env's {what} do not fit {name}",
                function=function,
                argument="env",
                expected=f"{what} of shape {fmt_shape(spec)} (the policy's spec)",
                got=f"{what} of shape {fmt_shape(shape)}",
            )
    act_shape = tuple(getattr(env.action_space, "shape", None) or ())
    if policy.act_spec.discrete is None and act_shape != policy.act_spec.shape:
        raise error(
            ShapeError,
            f"the env's actions do not fit {name}",
            function=function,
            argument="env",
            expected=f"actions of shape {fmt_shape(policy.act_spec.shape)}",
            got=f"action space of shape {fmt_shape(act_shape)}",
        )


def _actor(
    policy: Policy | Callable[[Any], Any], env: Any, deterministic: bool, function: str
) -> tuple[Callable[[dict[str, Any]], Any], Callable[[], None]]:
    if isinstance(policy, Policy):
        _check_policy(policy, env, function)
        p = policy

        def act(obs: dict[str, Any]) -> Any:
            return p.act(obs["observation"], goal=obs["desired_goal"], deterministic=deterministic)

        return act, p.reset
    _goal_spaces(env, function)
    if not callable(policy):
        raise error(
            UsageError,
            "must be a shapesafe Policy or a callable on the env's dict observations",
            function=function,
            argument="policy",
            expected="a Policy or a callable",
            got=fmt_value(policy),
        )
    reset = getattr(policy, "reset", None)
    return policy, (reset if callable(reset) else (lambda: None))


def goal_rollout(
    policy: Policy | Callable[[Any], Any],
    env: Any,
    episodes: int,
    seed: int = 0,
    *,
    deterministic: bool = False,
) -> Rollouts:
    """Run ``episodes`` whole episodes of a goal environment and collect them.

    A goal-conditioned :class:`Policy` (one with a ``goal_spec``) acts through
    ``policy.act(obs["observation"], goal=obs["desired_goal"])``, after its specs are
    checked against the env's spaces; any other callable is called on the whole dict
    observation (its ``reset()`` too, when it has one).

    Returns:
        :class:`~shapesafe.bc.Rollouts` whose ``demos`` hold ``observations``, ``goals``
        (the desired goal of each step), ``episode_ids`` and, in ``extras``,
        ``achieved_goals`` (after each step), ``rewards``, ``terminated`` and
        ``truncated``; ``final_observations`` are the ``"observation"`` each episode
        ended in.

    Examples:
        >>> from shapesafe.bc import goal_rollout
        >>> from shapesafe.bc.tasks import GoalReachEnv, GoalReachExpert
        >>> r = goal_rollout(GoalReachExpert(), GoalReachEnv(), episodes=3, seed=0)
        >>> r.successes.tolist(), tuple(r.demos.goals.shape[1:])
        ([True, True, True], (2,))
    """
    return _collect(policy, env, episodes, seed, deterministic, "goal_rollout")


def _collect(
    policy: Policy | Callable[[Any], Any],
    env: Any,
    episodes: int,
    seed: int,
    deterministic: bool,
    function: str,
) -> Rollouts:
    require_env(env, function)
    whole_number(episodes, "episodes", function, low=1)
    whole_number(seed, "seed", function, low=0, high=2**31 - 1)
    act, reset = _actor(policy, env, deterministic, function)
    cols: dict[str, list[Any]] = {k: [] for k in ("obs", "goal", "achieved", "act", "rew")}
    ends: dict[str, list[int]] = {"terminated": [], "truncated": []}
    ids: list[int] = []
    returns = np.zeros(episodes, dtype=np.float64)
    lengths = np.zeros(episodes, dtype=np.int64)
    successes = np.zeros(episodes, dtype=bool)
    finals: list[np.ndarray[Any, Any]] = []
    reports = False
    seeds = np.arange(seed, seed + episodes, dtype=np.int64)
    for i in range(episodes):
        obs, info = env.reset(seed=int(seeds[i]))
        reset()
        done = False
        while not done:
            a = np.asarray(act(obs), dtype=env.action_space.dtype)
            if a.shape != env.action_space.shape:
                raise error(
                    ShapeError,
                    "the policy returned an action that does not fit the env's action space",
                    function=function,
                    argument="policy",
                    expected=f"an action of shape {fmt_shape(env.action_space.shape)}",
                    got=f"shape {fmt_shape(a.shape)}",
                )
            cols["obs"].append(np.array(obs["observation"]))
            cols["goal"].append(np.array(obs["desired_goal"]))
            cols["act"].append(a)
            obs, reward, terminated, truncated, info = env.step(a)
            cols["achieved"].append(np.array(obs["achieved_goal"]))
            cols["rew"].append(float(reward))
            ends["terminated"].append(int(terminated))
            ends["truncated"].append(int(truncated))
            ids.append(i)
            returns[i] += float(reward)
            lengths[i] += 1
            done = bool(terminated or truncated)
        successes[i] = bool(info.get("is_success", False))
        reports = reports or "is_success" in info
        finals.append(np.array(obs["observation"]))
    demos = Demonstrations(
        np.stack(cols["obs"]),
        np.stack(cols["act"]),
        episode_ids=np.asarray(ids, dtype=np.int64),
        goals=np.stack(cols["goal"]),
        extras={
            "achieved_goals": np.stack(cols["achieved"]),
            "rewards": np.asarray(cols["rew"], dtype=np.float32),
            **{k: np.asarray(v, dtype=np.int64) for k, v in ends.items()},
        },
    )
    return Rollouts(
        demos,
        returns,
        lengths,
        successes,
        seeds,
        final_observations=np.stack(finals),
        reports_success=reports,
    )


def evaluate_goal_reaching(
    policy: Policy | Callable[[Any], Any],
    env: Any,
    episodes: int = 100,
    seed: int = 0,
    *,
    deterministic: bool = False,
) -> EnvEvaluation:
    """Score a policy on ``episodes`` seeded episodes of a goal environment (episode
    ``i`` from ``env.reset(seed=seed + i)``, each with its own goal): the same
    :class:`~shapesafe.bc.EnvEvaluation` as :func:`~shapesafe.bc.evaluate_in_env` --
    success rate with a Wilson 95% interval, mean return with a normal one.

    Examples:
        >>> from shapesafe.bc import evaluate_goal_reaching
        >>> from shapesafe.bc.tasks import GoalReachEnv, GoalReachExpert
        >>> evaluate_goal_reaching(GoalReachExpert(), GoalReachEnv(), episodes=20).success_rate
        1.0
    """
    start = time.perf_counter()
    with torch.no_grad():
        r = _collect(policy, env, episodes, seed, deterministic, "evaluate_goal_reaching")
    return summarise(r, time.perf_counter() - start)
