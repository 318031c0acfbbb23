"""Running a policy (or any callable obs -> action) in a gymnasium environment.

:func:`rollout` collects whole episodes as :class:`Rollouts`; :func:`evaluate_in_env`
scores a policy over seeded episodes with 95% confidence intervals, and can save the
result with its provenance (:meth:`EnvEvaluation.save`, :func:`load_evaluation`).
Episode ``i`` starts from ``reset(seed=seed + i)``, so two evaluations with the same
seed see the same initial states, and every episode sees a different one -- in a single
env or a gymnasium vector env alike.

The pieces: :mod:`~shapesafe.bc._actors` (the policy or callable, checked against the
env's spaces, as one batched call), :mod:`~shapesafe.bc._episodes` (the single-env loop
and the assembly of episodes), :mod:`~shapesafe.bc._vector_rollout` (seeding sub-envs
in each autoreset mode), :mod:`~shapesafe.bc._provenance` (the JSON record).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shapesafe.bc._actors import check_spaces as _check_spaces
from shapesafe.bc._actors import make_actor
from shapesafe.bc._episodes import Rollouts, collect_single, progress_bar
from shapesafe.bc._validate import require_env, whole_number
from shapesafe.bc.policies.base import Policy

__all__ = ["EnvEvaluation", "Rollouts", "check_spaces", "evaluate_in_env", "rollout"]

#: Two-sided 95% normal quantile, for the confidence intervals below.
_Z95 = 1.959963984540054


def is_vector_env(env: Any) -> bool:
    """A gymnasium ``VectorEnv`` (or anything shaped like one)."""
    return hasattr(env, "num_envs") and hasattr(env, "single_observation_space")


def check_spaces(policy: Any, env: Any, function: str) -> None:
    """Refuse an env (single or vector) whose spaces do not match the ``obs_spec`` /
    ``act_spec`` that ``policy`` (a policy or an expert) declares."""
    vector = is_vector_env(env)
    obs = env.single_observation_space if vector else env.observation_space
    act = env.single_action_space if vector else env.action_space
    what = "policy" if isinstance(policy, Policy) else "expert"
    _check_spaces(policy, obs, act, function, what)


def rollout(
    policy: Policy | Any,
    env: Any,
    episodes: int,
    seed: int = 0,
    *,
    deterministic: bool = False,
    progress: bool = False,
) -> Rollouts:
    """Run ``episodes`` whole episodes and collect them.

    Episode ``i`` starts from ``reset(seed=seed + i)``; the policy's ``reset`` runs
    before each (history policies forget the last episode). A :class:`Policy` is checked
    against the env's spaces first and acts on batches through its tensor path (it
    samples unless ``deterministic=True``); any other callable is called as
    ``policy(obs) -> action`` (and its ``reset()`` too, when it has one); one that
    declares ``obs_spec`` / ``act_spec`` (an expert) is checked like a policy.

    ``env`` may be a gymnasium ``SyncVectorEnv`` or ``AsyncVectorEnv`` in any autoreset
    mode: the policy is then called once per vector step on ``(num_envs, obs)``, with
    ``reset(which=mask)`` for the sub-envs that start an episode, and the episodes, their
    seeds and their steps are those of the single-env rollout -- the sub-envs only run
    them side by side. ``progress`` shows a tqdm bar over episodes.

    Returns:
        :class:`Rollouts`: the steps as demonstrations (with per-step ``rewards``,
        ``terminated`` and ``truncated`` extras) plus per-episode returns, lengths,
        successes, seeds and final observations, in seed order.

    Examples:
        >>> from shapesafe.bc import rollout
        >>> from shapesafe.bc.tasks import ObstacleEnv, ObstacleExpert
        >>> r = rollout(ObstacleExpert(seed=0), ObstacleEnv(), episodes=4, seed=0)
        >>> r.successes.tolist(), r.demos.obs_shape
        ([True, True, True, True], (2,))
    """
    return _collect(policy, env, episodes, seed, deterministic, progress, "rollout")


def _collect(
    policy: Policy | Any,
    env: Any,
    episodes: int,
    seed: int,
    deterministic: bool,
    progress: bool,
    function: str,
) -> Rollouts:
    require_env(env, function)
    whole_number(episodes, "episodes", function, low=1)
    whole_number(seed, "seed", function, low=0, high=2**31 - 1)
    vector = is_vector_env(env)
    if vector:
        from shapesafe.bc._vector_rollout import check_vector_env, collect_vector

        check_vector_env(env, function)
        obs_space, act_space = env.single_observation_space, env.single_action_space
    else:
        obs_space, act_space = env.observation_space, env.action_space
    actor = make_actor(
        policy, obs_space, act_space, deterministic=deterministic, vector=vector, function=function
    )
    bar = progress_bar(episodes, progress)
    try:
        with actor.acting():
            if vector:
                return collect_vector(actor, env, episodes, seed, bar, function)
            return collect_single(actor, env, episodes, seed, bar, function)
    finally:
        if bar is not None:
            bar.close()


@dataclass(frozen=True, eq=False)
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
        rollouts: the episodes themselves; ``None`` for an evaluation read back with
            :func:`load_evaluation` (the file keeps per-episode numbers, not steps).
        provenance: what was evaluated, how and where (policy config, checkpoint
            checksum, env id and version, seeds, library versions, date): the record
            :meth:`save` writes next to the numbers. Empty for one built by hand.
    """

    episodes: int
    success_rate: float
    success_ci95: tuple[float, float]
    mean_return: float
    std_return: float
    return_ci95: tuple[float, float]
    mean_length: float
    seconds_per_action: float
    rollouts: Rollouts | None
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        lo, hi = self.success_ci95
        success = (
            f"success {self.success_rate:.0%} (95% CI {lo:.0%}-{hi:.0%}), "
            if self.reports_success
            else ""  # an env without info["is_success"]: no success rate to speak of
        )
        return (
            f"{success}return {self.mean_return:.3f} ± {self.std_return:.3f} over "
            f"{self.episodes} episodes"
        )

    @property
    def reports_success(self) -> bool:
        """Whether the env reported ``info["is_success"]`` (if not, the success rate is
        0 and means nothing)."""
        if self.rollouts is not None:
            return self.rollouts.reports_success
        return bool(self.provenance.get("evaluation", {}).get("reports_success", True))

    def _per_episode(self, name: str, dtype: Any) -> np.ndarray[Any, Any]:
        if self.rollouts is not None:
            return np.asarray(getattr(self.rollouts, name), dtype=dtype)
        return np.asarray(self.provenance.get("episodes", {}).get(name, []), dtype=dtype)

    @property
    def returns(self) -> np.ndarray[Any, Any]:
        """(episodes,) float64 return of each episode, in seed order."""
        return self._per_episode("returns", np.float64)

    @property
    def lengths(self) -> np.ndarray[Any, Any]:
        """(episodes,) int64 length of each episode."""
        return self._per_episode("lengths", np.int64)

    @property
    def successes(self) -> np.ndarray[Any, Any]:
        """(episodes,) bool success of each episode."""
        return self._per_episode("successes", bool)

    @property
    def seeds(self) -> np.ndarray[Any, Any]:
        """(episodes,) int64 reset seed of each episode."""
        return self._per_episode("seeds", np.int64)

    def save(self, path: str | Path) -> Path:
        """Write the evaluation and its provenance as JSON (read it back with
        :func:`load_evaluation`); returns the path."""
        from shapesafe.bc._provenance import save_evaluation

        return save_evaluation(self, path)


def _wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson score interval: sensible at 0% and 100%, where the normal one collapses."""
    p = successes / n
    z2 = _Z95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # At 0 and n successes the bound is exactly 0 (1); rounding would leave 5.6e-17.
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi


def summarise(
    r: Rollouts, seconds: float, provenance: Mapping[str, Any] | None = None
) -> EnvEvaluation:
    """The statistics of :class:`EnvEvaluation` for collected episodes."""
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
        seconds_per_action=seconds / max(1, int(r.lengths.sum())),
        rollouts=r,
        provenance=dict(provenance or {}),
    )


def evaluate_in_env(
    policy: Policy | Any,
    env: Any,
    episodes: int = 100,
    seed: int = 0,
    *,
    deterministic: bool = False,
    progress: bool = False,
    checkpoint: str | Path | None = None,
    save_to: str | Path | None = None,
) -> EnvEvaluation:
    """Score a policy over ``episodes`` seeded episodes (episode ``i`` from
    ``reset(seed=seed + i)``; ``env`` may be a vector env, as in :func:`rollout`):
    success rate with a Wilson 95% interval, mean return with a normal 95% interval,
    and time per action.

    The result carries its provenance (policy config, env id and version, seeds,
    library versions, date; the sha256 of ``checkpoint``, the file the policy was
    loaded from, when given); ``save_to`` writes it all as JSON
    (:meth:`EnvEvaluation.save`).

    Examples:
        >>> from shapesafe.bc import evaluate_in_env
        >>> from shapesafe.bc.tasks import ObstacleEnv, ObstacleExpert
        >>> result = evaluate_in_env(ObstacleExpert(seed=0), ObstacleEnv(), episodes=20)
        >>> result.success_rate, result.seeds[:3].tolist()
        (1.0, [0, 1, 2])
    """
    from shapesafe.bc._provenance import describe_run

    function = "evaluate_in_env"
    require_env(env, function)
    record = describe_run(policy, env, checkpoint, function)  # a missing checkpoint fails fast
    start = time.perf_counter()
    r = _collect(policy, env, episodes, seed, deterministic, progress, function)
    elapsed = time.perf_counter() - start
    record["evaluation"] = {
        "episodes": int(episodes),
        "seed": int(seed),
        "deterministic": bool(deterministic),
        "reports_success": r.reports_success,
        "seconds": elapsed,
    }
    result = summarise(r, elapsed, record)
    if save_to is not None:
        result.save(save_to)
    return result
