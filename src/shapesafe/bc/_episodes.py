"""Episodes as :func:`~shapesafe.bc.rollout` returns them, and the single-env loop.

:class:`Steps` records steps in the order they happen, each tagged with its episode, and
assembles :class:`Rollouts` in seed order; the single-env loop here and the vector one
(:mod:`shapesafe.bc._vector_rollout`) share it, which is what makes a vector rollout
equal the single-env rollout of the same seeds, bit for bit.

Success is read from ``info["is_success"]`` (the gymnasium-robotics convention) on the
last step of an episode; environments without it count no successes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shapesafe.bc._actors import Actor, action_converter
from shapesafe.bc._data import Demonstrations

__all__ = ["Rollouts", "Steps", "collect_single", "progress_bar"]


@dataclass(frozen=True)
class Rollouts:
    """What :func:`rollout` collected, episodes in seed order.

    Attributes:
        demos: every step as :class:`Demonstrations`: ``episode_ids`` (episode ``i`` is
            the one started from ``seeds[i]``) and, in ``demos.extras``, per-step
            ``rewards`` (float), ``terminated`` and ``truncated`` (0/1 integers:
            ``Demonstrations`` stores flags as int64; exactly one episode end per
            episode, on its last step).
        returns: (episodes,) float64 undiscounted return of each episode.
        lengths: (episodes,) int64 number of steps of each episode.
        successes: (episodes,) bool, ``info["is_success"]`` at each episode's last step.
        seeds: (episodes,) int64, the ``reset`` seed of each episode.
        final_observations: (episodes, obs…) the observation each episode ended in
            (after its last action), so an episode of ``T`` steps has ``T + 1``
            observations: its ``T`` rows of ``demos.observations`` and this one.
            ``None`` only in a ``Rollouts`` built by hand without them.
        reports_success: whether the env reported ``info["is_success"]`` at all (when
            it does not, ``successes`` is all False and means nothing).
    """

    demos: Demonstrations
    returns: np.ndarray[Any, Any]
    lengths: np.ndarray[Any, Any]
    successes: np.ndarray[Any, Any]
    seeds: np.ndarray[Any, Any]
    final_observations: np.ndarray[Any, Any] | None = None
    reports_success: bool = True

    @property
    def episodes(self) -> int:
        """Number of episodes collected."""
        return len(self.returns)


def collect_single(
    actor: Actor, env: Any, episodes: int, seed: int, bar: Any, function: str
) -> Rollouts:
    """Episode ``i`` from ``env.reset(seed=seed + i)``, one after another, in a plain
    (single) gymnasium env; ``bar`` is a tqdm bar or ``None``."""
    space = env.action_space
    batched = actor.batched
    to_env = action_converter(space, None, function)

    def act(obs: np.ndarray[Any, Any]) -> Any:
        # A policy takes batches: give it (1, obs) and unwrap; a callable gets obs itself.
        return actor.act(obs[None])[0] if batched else actor.act(obs)

    steps = Steps()
    finals: list[np.ndarray[Any, Any]] = []
    successes = np.zeros(episodes, dtype=bool)
    reported = False
    for i in range(episodes):
        obs, info = env.reset(seed=seed + i)
        actor.reset(None)
        done = False
        while not done:
            obs = np.array(obs)  # a copy: some envs hand out one buffer they update
            a = to_env(act(obs))
            next_obs, reward, terminated, truncated, info = env.step(a)
            steps.add(obs, a, float(reward), bool(terminated), bool(truncated), i)
            obs = next_obs
            done = bool(terminated or truncated)
        finals.append(np.array(obs))
        successes[i] = bool(info.get("is_success", False))
        reported = reported or "is_success" in info
        if bar is not None:
            bar.update(1)
    discrete = getattr(space, "n", None) is not None
    return steps.rollouts(seed, episodes, np.stack(finals), successes, reported, discrete)


class Steps:
    """Per-step records in the order they happened, each tagged with its episode;
    :meth:`rollouts` sorts them into whole episodes (stable, so time order holds)."""

    def __init__(self) -> None:
        self.obs: list[Any] = []
        self.actions: list[Any] = []
        self.rewards: list[Any] = []
        self.terminated: list[Any] = []
        self.truncated: list[Any] = []
        self.episode: list[Any] = []

    def add(
        self, obs: Any, action: Any, reward: Any, terminated: Any, truncated: Any, episode: Any
    ) -> None:
        """One step (scalars), or one vector step (arrays with a sub-env axis)."""
        self.obs.append(obs)
        self.actions.append(action)
        self.rewards.append(reward)
        self.terminated.append(terminated)
        self.truncated.append(truncated)
        self.episode.append(episode)

    def rollouts(
        self,
        seed: int,
        episodes: int,
        finals: np.ndarray[Any, Any],
        successes: np.ndarray[Any, Any],
        reports_success: bool,
        discrete: bool,
        keep: np.ndarray[Any, Any] | None = None,
        vector: bool = False,
    ) -> Rollouts:
        """Assemble :class:`Rollouts`; ``keep`` drops rows (vector steps of idle or
        finished sub-envs)."""
        join = np.concatenate if vector else np.asarray
        episode = np.asarray(join(self.episode), dtype=np.int64)
        obs = np.concatenate(self.obs) if vector else np.stack(self.obs)
        actions = (np.concatenate if vector else np.stack)(self.actions)
        rewards = np.asarray(join(self.rewards), dtype=np.float64)
        terminated = np.asarray(join(self.terminated), dtype=bool)
        truncated = np.asarray(join(self.truncated), dtype=bool)
        if keep is not None:
            obs, actions, rewards = obs[keep], actions[keep], rewards[keep]
            terminated, truncated, episode = terminated[keep], truncated[keep], episode[keep]
        order = np.argsort(episode, kind="stable")
        episode, rewards = episode[order], rewards[order]
        # bincount adds each episode's rewards in time order: the returns are bit for bit
        # those of a plain loop's running sum, whatever the number of sub-envs.
        returns = np.bincount(episode, weights=rewards, minlength=episodes)
        lengths = np.bincount(episode, minlength=episodes).astype(np.int64)
        demos = Demonstrations(
            obs[order],
            actions[order].astype(np.int64) if discrete else actions[order],
            episode_ids=episode,
            extras={
                "rewards": rewards.astype(np.float32),
                "terminated": terminated[order],
                "truncated": truncated[order],
            },
        )
        seeds = np.arange(seed, seed + episodes, dtype=np.int64)
        return Rollouts(demos, returns, lengths, successes, seeds, finals, reports_success)


def progress_bar(total: int, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="episodes", leave=False)
