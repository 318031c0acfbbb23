"""Running a policy (or any callable obs -> action) in a gymnasium environment.

:func:`rollout` collects whole episodes as :class:`Demonstrations` (with episode ids and
per-step rewards) plus per-episode returns, lengths and successes; :func:`evaluate_in_env`
scores a policy over seeded episodes with a 95% confidence interval. Episode ``i`` starts
from ``env.reset(seed=seed + i)``, so two evaluations with the same seed see the same
initial states, and every episode sees a different one.

Plain (single) gymnasium environments only; vectorised environments are not supported
yet. Success is read from ``info["is_success"]`` (the gymnasium-robotics convention) on
the last step of an episode; environments without it count no successes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from shapesafe._format import error, fmt_shape, fmt_value
from shapesafe.bc._data import Demonstrations
from shapesafe.bc._validate import whole_number
from shapesafe.bc.policies.base import Policy
from shapesafe.errors import ShapeError, UsageError

__all__ = ["EnvEvaluation", "Rollouts", "evaluate_in_env", "rollout"]

#: Two-sided 95% normal quantile, for the confidence intervals below.
_Z95 = 1.959963984540054


@dataclass(frozen=True)
class Rollouts:
    """What :func:`rollout` collected.

    Attributes:
        demos: every step as :class:`Demonstrations` (``episode_ids`` set; per-step
            ``rewards`` in ``demos.extras``).
        returns: (episodes,) float64 undiscounted return of each episode.
        lengths: (episodes,) int64 number of steps of each episode.
        successes: (episodes,) bool, ``info["is_success"]`` at each episode's last step.
        seeds: (episodes,) int64, the ``env.reset`` seed of each episode.
    """

    demos: Demonstrations
    returns: np.ndarray[Any, Any]
    lengths: np.ndarray[Any, Any]
    successes: np.ndarray[Any, Any]
    seeds: np.ndarray[Any, Any]

    @property
    def episodes(self) -> int:
        """Number of episodes collected."""
        return len(self.returns)


@dataclass(frozen=True)
class EnvEvaluation:
    """A policy's score over seeded episodes (see :func:`evaluate_in_env`).

    Attributes:
        episodes: number of episodes.
        success_rate: fraction of successful episodes.
        success_ci95: (low, high) Wilson 95% interval of the success rate.
        mean_return: mean undiscounted return.
        std_return: standard deviation of the returns (ddof=1; 0 for one episode).
        return_ci95: (low, high) normal 95% interval of the mean return.
        mean_length: mean episode length.
        seconds_per_action: wall time per action the policy took (inference + env step).
        rollouts: the episodes themselves.
    """

    episodes: int
    success_rate: float
    success_ci95: tuple[float, float]
    mean_return: float
    std_return: float
    return_ci95: tuple[float, float]
    mean_length: float
    seconds_per_action: float
    rollouts: Rollouts

    def __str__(self) -> str:
        lo, hi = self.success_ci95
        return (
            f"success {self.success_rate:.0%} (95% CI {lo:.0%}-{hi:.0%}), return "
            f"{self.mean_return:.3f} ± {self.std_return:.3f} over {self.episodes} episodes"
        )


def _space_shape(space: Any) -> tuple[int, ...] | None:
    shape = getattr(space, "shape", None)
    return None if shape is None else tuple(int(s) for s in shape)


def check_spaces(policy: Policy, env: Any, function: str) -> None:
    """Refuse an env whose observation/action spaces do not match the policy's specs."""
    name = type(policy).__name__
    obs_shape = _space_shape(env.observation_space)
    if obs_shape is not None and obs_shape != policy.obs_spec.shape:
        raise error(
            ShapeError,
            f"the env's observations do not fit {name}",
            function=function,
            argument="env",
            expected=f"observations of shape {fmt_shape(policy.obs_spec.shape)}",
            got=f"observation space of shape {fmt_shape(obs_shape)}",
            hint=f"build the policy with obs_spec=ObsSpec({obs_shape}), or wrap the env",
        )
    space = env.action_space
    n = getattr(space, "n", None)
    spec = policy.act_spec
    if n is not None:  # gymnasium Discrete
        if spec.discrete != int(n):
            want = "continuous actions" if spec.discrete is None else f"Discrete({spec.discrete})"
            raise error(
                ShapeError,
                f"the env's actions do not fit {name}",
                function=function,
                argument="env",
                expected=f"{want} (what the policy produces)",
                got=f"Discrete({int(n)})",
            )
        return
    act_shape = _space_shape(space) or ()
    if spec.discrete is not None or act_shape != spec.shape:
        want = (
            f"Discrete({spec.discrete})"
            if spec.discrete is not None
            else f"actions of shape {fmt_shape(spec.shape)}"
        )
        raise error(
            ShapeError,
            f"the env's actions do not fit {name}",
            function=function,
            argument="env",
            expected=f"{want} (what the policy produces)",
            got=f"action space of shape {fmt_shape(act_shape)}",
        )


def _actor(
    policy: Policy | Callable[[Any], Any], env: Any, deterministic: bool, function: str
) -> tuple[Callable[[Any], Any], Callable[[], None]]:
    """(obs -> action, reset) for a policy or a plain callable."""
    if isinstance(policy, Policy):
        check_spaces(policy, env, function)
        p = policy

        def act(obs: Any) -> Any:
            return p.act(obs, deterministic=deterministic)

        return act, p.reset
    if not callable(policy):
        raise error(
            UsageError,
            "must be a shapesafe Policy or a callable obs -> action",
            function=function,
            argument="policy",
            expected="a Policy or a callable",
            got=fmt_value(policy),
        )
    reset = getattr(policy, "reset", None)
    return policy, (reset if callable(reset) else (lambda: None))


def _as_env_action(action: Any, space: Any, function: str) -> Any:
    if getattr(space, "n", None) is not None:
        return int(np.asarray(action).reshape(()))
    arr = np.asarray(action, dtype=getattr(space, "dtype", np.float32))
    shape = _space_shape(space)
    if shape is not None and arr.shape != shape:
        raise error(
            ShapeError,
            "the policy returned an action that does not fit the env's action space",
            function=function,
            argument="policy",
            expected=f"an action of shape {fmt_shape(shape)}",
            got=f"shape {fmt_shape(arr.shape)}",
        )
    return arr


def rollout(
    policy: Policy | Callable[[Any], Any],
    env: Any,
    episodes: int,
    seed: int = 0,
    *,
    deterministic: bool = False,
    progress: bool = False,
) -> Rollouts:
    """Run ``episodes`` whole episodes and collect them.

    Episode ``i`` starts from ``env.reset(seed=seed + i)``; ``policy.reset()`` runs
    before each (history policies forget the last episode). A :class:`Policy` is checked
    against the env's spaces first and acts through ``policy.act`` (numpy in, numpy out;
    it samples unless ``deterministic=True``); any other callable is called as
    ``policy(obs) -> action`` (and its ``reset()`` too, when it has one).

    Returns:
        :class:`Rollouts`: the steps as demonstrations plus per-episode returns,
        lengths and successes.

    Examples:
        >>> from shapesafe.bc import rollout
        >>> from shapesafe.bc.tasks import ObstacleEnv, ObstacleExpert
        >>> r = rollout(ObstacleExpert(seed=0), ObstacleEnv(), episodes=4, seed=0)
        >>> r.successes.tolist(), r.demos.obs_shape
        ([True, True, True, True], (2,))
    """
    return _collect(policy, env, episodes, seed, deterministic, progress, "rollout")


def _collect(
    policy: Policy | Callable[[Any], Any],
    env: Any,
    episodes: int,
    seed: int,
    deterministic: bool,
    progress: bool,
    function: str,
) -> Rollouts:
    whole_number(episodes, "episodes", function, low=1)
    whole_number(seed, "seed", function, low=0, high=2**31 - 1)
    act, reset = _actor(policy, env, deterministic, function)
    observations: list[np.ndarray[Any, Any]] = []
    actions: list[np.ndarray[Any, Any]] = []
    rewards: list[float] = []
    ids: list[int] = []
    returns = np.zeros(episodes, dtype=np.float64)
    lengths = np.zeros(episodes, dtype=np.int64)
    successes = np.zeros(episodes, dtype=bool)
    seeds = np.arange(seed, seed + episodes, dtype=np.int64)
    bar = _progress(episodes, progress)
    for i in range(episodes):
        obs, info = env.reset(seed=int(seeds[i]))
        reset()
        done = False
        while not done:
            a = _as_env_action(act(obs), env.action_space, function)
            observations.append(np.asarray(obs))
            actions.append(np.asarray(a))
            obs, reward, terminated, truncated, info = env.step(a)
            rewards.append(float(reward))
            ids.append(i)
            returns[i] += float(reward)
            lengths[i] += 1
            done = bool(terminated or truncated)
        successes[i] = bool(info.get("is_success", False))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    discrete = getattr(env.action_space, "n", None) is not None
    demos = Demonstrations(
        np.stack(observations),
        np.asarray(actions, dtype=np.int64) if discrete else np.stack(actions),
        episode_ids=np.asarray(ids, dtype=np.int64),
        extras={"rewards": np.asarray(rewards, dtype=np.float32)},
    )
    return Rollouts(demos, returns, lengths, successes, seeds)


def _progress(total: int, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="episodes", leave=False)


def _wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson score interval: sensible at 0% and 100%, where the normal one collapses."""
    p = successes / n
    z2 = _Z95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def evaluate_in_env(
    policy: Policy | Callable[[Any], Any],
    env: Any,
    episodes: int = 100,
    seed: int = 0,
    *,
    deterministic: bool = False,
    progress: bool = False,
) -> EnvEvaluation:
    """Score a policy over ``episodes`` seeded episodes (episode ``i`` from
    ``env.reset(seed=seed + i)``): success rate with a Wilson 95% interval, mean return
    with a normal 95% interval, and time per action.

    Examples:
        >>> from shapesafe.bc import evaluate_in_env
        >>> from shapesafe.bc.tasks import ObstacleEnv, ObstacleExpert
        >>> result = evaluate_in_env(ObstacleExpert(seed=0), ObstacleEnv(), episodes=20)
        >>> result.success_rate
        1.0
    """
    start = time.perf_counter()
    # no_grad, not inference_mode: a stateful policy keeps tensors made here (its history)
    # and may update them in place after this returns.
    with torch.no_grad():
        r = _collect(policy, env, episodes, seed, deterministic, progress, "evaluate_in_env")
    elapsed = time.perf_counter() - start
    n = r.episodes
    wins = int(r.successes.sum())
    mean = float(r.returns.mean())
    std = float(r.returns.std(ddof=1)) if n > 1 else 0.0
    half = _Z95 * std / math.sqrt(n)
    return EnvEvaluation(
        episodes=n,
        success_rate=wins / n,
        success_ci95=_wilson(wins, n),
        mean_return=mean,
        std_return=std,
        return_ci95=(mean - half, mean + half),
        mean_length=float(r.lengths.mean()),
        seconds_per_action=elapsed / max(1, int(r.lengths.sum())),
        rollouts=r,
    )
