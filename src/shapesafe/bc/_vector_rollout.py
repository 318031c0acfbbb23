"""Rollouts in a gymnasium vector env: the same episodes as a single env, side by side.

The contract is that a vector rollout *is* the single-env rollout of the same seeds:
episode ``i`` starts from a sub-env reset with seed ``seed + i``, whichever sub-env runs
it and whenever it starts, and the episodes come back in seed order. So the number of
evaluation episodes is never capped by the number of sub-envs, and changing ``num_envs``
changes the wall time, not the result (for a deterministic policy, exactly).

How sub-envs get their seeds. A vector env's own autoreset starts the next episode from
the sub-env's running generator, not from a seed we choose, so we never let an
autoreset start an episode we keep. Instead, whenever sub-envs finish and episodes
remain, one ``env.reset(seed=[...], options={"reset_mask": finished})`` restarts exactly
those sub-envs from the next seeds (``None`` for the others). gymnasium 1.x's
``SyncVectorEnv`` and ``AsyncVectorEnv`` accept that in every autoreset mode:

* ``NEXT_STEP`` (the default): the masked reset clears the pending autoreset, so the
  next ``step`` is a real step; no dummy autoreset step is ever recorded.
* ``SAME_STEP``: the sub-env already reset itself (unseeded) inside ``step``; the final
  observation comes from ``info["final_obs"]`` and the masked reset replaces the
  unseeded start with the seeded one (one extra reset per episode).
* ``DISABLED``: the masked reset is the only reset there is; sub-envs left without an
  episode are reset too (unseeded, their steps discarded), since stepping a finished
  sub-env is an error in this mode.

When fewer episodes remain than sub-envs, the idle sub-envs keep stepping (a vector env
steps all of them) and their rows are dropped. Refused, with a clear error: vector envs
that are not gymnasium's Sync/Async ones (e.g. the built-in ``CartPoleVectorEnv`` of
``gym.make_vec("CartPole-v1")``, whose ``reset`` takes one seed for all sub-envs and no
mask), and ``AsyncVectorEnv(shared_memory=False)`` in ``NEXT_STEP`` mode, whose workers
keep their pending autoreset across a masked reset (gymnasium 1.4): its next step would
be an unseeded reset, recorded as a step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shapesafe._format import error
from shapesafe.bc._actors import Actor, action_converter
from shapesafe.bc._episodes import Rollouts, Steps
from shapesafe.errors import UsageError

__all__ = ["autoreset_mode", "check_vector_env", "collect_vector"]

_HINT = (
    "build it with gym.make_vec(env_id, num_envs=n, vectorization_mode='sync') "
    "(or 'async'), or gymnasium.vector.SyncVectorEnv([...])"
)


def autoreset_mode(env: Any) -> str:
    """``"NextStep"``, ``"SameStep"`` or ``"Disabled"``: ``metadata["autoreset_mode"]``
    (an ``AutoresetMode`` or its value; gymnasium's default when absent)."""
    mode = getattr(env, "metadata", {}).get("autoreset_mode", "NextStep")
    return str(getattr(mode, "value", mode))


def check_vector_env(env: Any, function: str) -> None:
    """Refuse vector envs that cannot start each episode from its own seed."""
    from gymnasium.vector import AsyncVectorEnv, SyncVectorEnv

    base = getattr(env, "unwrapped", env)
    if not isinstance(base, (SyncVectorEnv, AsyncVectorEnv)):
        raise error(
            UsageError,
            f"a {type(base).__name__} cannot start each episode from its own seed (its "
            "reset takes no per-sub-env seeds and no reset_mask)",
            function=function,
            argument="env",
            expected="a gymnasium SyncVectorEnv or AsyncVectorEnv (or a single env)",
            got=type(base).__name__,
            hint=_HINT,
        )
    mode = autoreset_mode(env)
    if mode not in ("NextStep", "SameStep", "Disabled"):
        raise error(
            UsageError,
            f"unknown autoreset mode {mode!r}",
            function=function,
            argument="env",
            expected="'NextStep', 'SameStep' or 'Disabled'",
            got=repr(mode),
        )
    if isinstance(base, AsyncVectorEnv) and mode == "NextStep" and not base.shared_memory:
        raise error(
            UsageError,
            "AsyncVectorEnv(shared_memory=False) in NEXT_STEP mode keeps a sub-env's "
            "pending autoreset across reset(options={'reset_mask': ...}) (gymnasium "
            "1.x), so the next episode would start unseeded",
            function=function,
            argument="env",
            hint="use shared_memory=True (the default), or autoreset_mode=SAME_STEP or DISABLED",
        )


def _info(info: dict[str, Any], key: str, j: int) -> Any:
    """Sub-env ``j``'s ``info[key]`` in gymnasium's vector info layout (values plus a
    ``_key`` mask of the sub-envs that reported it), or ``None``."""
    mask = info.get(f"_{key}")
    if mask is None or not bool(mask[j]):
        return None
    return info[key][j]


def collect_vector(
    actor: Actor, env: Any, episodes: int, seed: int, bar: Any, function: str
) -> Rollouts:
    """Run ``episodes`` seeded episodes on the sub-envs of ``env`` (see the module docs)."""
    n = int(env.num_envs)
    mode = autoreset_mode(env)
    space = env.single_action_space
    to_env = action_converter(space, n, function)
    # episode_of[j]: the episode sub-env j is running, or -1 (idle: rows dropped)
    episode_of = np.full(n, -1, dtype=np.int64)
    first = min(n, episodes)
    episode_of[:first] = np.arange(first)
    started = first
    finals: list[Any] = [None] * episodes
    successes = np.zeros(episodes, dtype=bool)
    reported = False
    steps = Steps()
    obs, _ = env.reset(seed=[seed + j if j < first else None for j in range(n)])
    actor.reset(None)
    finished = 0
    while finished < episodes:
        obs = np.array(obs)  # a copy: vector envs with copy=False reuse one buffer
        actions = to_env(actor.act(obs))
        next_obs, rewards, terminated, truncated, info = env.step(actions)
        ended = np.logical_or(terminated, truncated)
        steps.add(obs, actions, rewards, terminated, truncated, episode_of.copy())
        if not ended.any():
            obs = next_obs
            continue
        reset_seeds: list[int | None] = [None] * n
        reset_mask = np.zeros(n, dtype=bool)
        for j in map(int, np.flatnonzero(ended)):
            k = int(episode_of[j])
            if k >= 0:
                finals[k], success = _episode_end(mode, next_obs, info, j)
                successes[k] = bool(success)
                reported = reported or success is not None
                finished += 1
                if bar is not None:
                    bar.update(1)
                episode_of[j] = -1
                if started < episodes:
                    episode_of[j], reset_seeds[j] = started, seed + started
                    reset_mask[j] = True
                    started += 1
            if mode == "Disabled":
                reset_mask[j] = True  # a finished sub-env cannot step again unreset
        if finished < episodes and reset_mask.any():
            obs, _ = env.reset(seed=reset_seeds, options={"reset_mask": reset_mask})
            actor.reset(reset_mask)
        else:
            obs = next_obs
    discrete = getattr(space, "n", None) is not None
    keep = np.concatenate(steps.episode) >= 0
    return steps.rollouts(
        seed, episodes, np.stack(finals), successes, reported, discrete, keep=keep, vector=True
    )


def _episode_end(mode: str, next_obs: Any, info: dict[str, Any], j: int) -> tuple[Any, bool | None]:
    """(final observation, success or ``None`` if not reported) of the episode sub-env
    ``j`` just ended."""
    if mode == "SameStep":
        # step() already reset the sub-env: its obs row is the next episode's start.
        final = info["final_obs"][j]
        final_info = info.get("final_info", {})
        success = _info(final_info, "is_success", j)
    else:
        final = next_obs[j]
        success = _info(info, "is_success", j)
    return np.array(final), None if success is None else bool(success)
