"""dagger()'s arguments, checked before any work is done, and the settings they make."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from shapesafe._format import error, fmt_shape, fmt_value
from shapesafe.bc._dagger_mixture import beta_schedule
from shapesafe.bc._data import Demonstrations
from shapesafe.bc._validate import whole_number
from shapesafe.bc.policies.base import Policy
from shapesafe.errors import DataError, ShapeError, UsageError

__all__ = ["EVAL_SEED_OFFSET", "Run", "settings"]


#: fit() arguments that dagger() sets itself (so they cannot go in ``fit_options``).
_OWN = frozenset(
    {"steps", "epochs", "batch_size", "lr", "seed", "progress", "checkpoint_dir", "resume"}
    | {"resume_on_new_data", "distributed", "val_demos", "checkpoint_every"}
)
#: The evaluation episodes' seeds start this far above the collection seeds.
EVAL_SEED_OFFSET = 1_000_000


@dataclass
class Run:
    """The validated settings of one dagger() call."""

    policy: Policy
    expert: Callable[[Any], Any]
    env: Any
    episodes: int
    seed: int
    fit_kwargs: dict[str, Any]
    warm_start: bool
    eval_episodes: int
    eval_seed: int
    deterministic: bool
    initial_fingerprint: str | None

    def signature(self, beta: str) -> dict[str, Any]:
        """What a resume must share with the checkpoint."""
        fit_kwargs = {k: repr(v) for k, v in sorted(self.fit_kwargs.items())}
        return {
            "policy": self.policy.config,
            "episodes_per_iteration": self.episodes,
            "beta": beta,
            "seed": self.seed,
            "fit": fit_kwargs,
            "warm_start": self.warm_start,
            "eval_episodes": self.eval_episodes,
            "eval_seed": self.eval_seed,
            "deterministic": self.deterministic,
            "demos": self.initial_fingerprint,
        }


def settings(
    policy: Any,
    expert: Any,
    env: Any,
    iterations: Any,
    episodes: Any,
    beta: Any,
    demos: Any,
    seed: Any,
    steps: Any,
    epochs: Any,
    batch_size: Any,
    lr: Any,
    warm_start: Any,
    fit_options: Any,
    eval_episodes: Any,
    eval_seed: Any,
    deterministic: Any,
    checkpoint_dir: Any,
    resume: Any,
) -> Run:
    fn = "dagger"
    if not isinstance(policy, Policy):
        raise error(
            UsageError,
            "the learner must be a shapesafe Policy (dagger retrains it)",
            function=fn,
            argument="policy",
            expected="a Policy, e.g. GaussianPolicy(obs_dim, act_dim)",
            got=fmt_value(policy),
        )
    if not callable(expert):
        raise error(
            UsageError,
            "the expert must be a callable obs -> action",
            function=fn,
            argument="expert",
            expected="a callable, e.g. shapesafe.bc.experts.make_expert(env_id)",
            got=fmt_value(expert),
        )
    if hasattr(env, "num_envs"):
        raise error(
            UsageError,
            "dagger() runs one environment (a vector env's sub-envs would share one "
            "coin flip per step)",
            function=fn,
            argument="env",
            expected="a single gymnasium env",
            got=f"{type(env).__name__} with {env.num_envs} envs",
            hint="pass gymnasium.make(env_id)",
        )
    _check_env(policy, env)
    whole_number(iterations, "iterations", fn, low=0 if demos is not None else 1)
    whole_number(episodes, "episodes_per_iteration", fn)
    whole_number(seed, "seed", fn, low=0, high=2**30)
    whole_number(eval_episodes, "eval_episodes", fn)
    if eval_seed is None:
        eval_seed = seed + EVAL_SEED_OFFSET
    whole_number(eval_seed, "eval_seed", fn, low=0, high=2**31 - 1 - eval_episodes)
    if demos is not None and not isinstance(demos, Demonstrations):
        raise error(
            UsageError,
            "`demos` must be Demonstrations",
            function=fn,
            argument="demos",
            expected="Demonstrations (e.g. rollout(expert, env, episodes).demos)",
            got=fmt_value(demos),
        )
    if demos is not None:
        _check_demos(demos, env)
    if resume and checkpoint_dir is None:
        raise error(
            UsageError,
            "resume=True needs the checkpoint_dir to resume from",
            function=fn,
            argument="resume",
            hint="pass checkpoint_dir= (the folder of the interrupted run)",
        )
    options = dict(fit_options or {})
    clash = sorted(set(options) & _OWN)
    if clash:
        raise error(
            UsageError,
            f"fit_options sets {', '.join(map(repr, clash))}, which dagger() sets itself",
            function=fn,
            argument="fit_options",
            got=", ".join(clash),
            hint="pass steps/epochs/batch_size/lr/seed as dagger()'s own arguments",
        )
    if steps is None and epochs is None:
        steps = 1000
    fit_kwargs = {"steps": steps, "epochs": epochs, "batch_size": batch_size, "lr": lr, **options}
    beta_schedule(beta, max(1, iterations))  # refuse a bad schedule before any work
    return Run(
        policy=policy,
        expert=expert,
        env=env,
        episodes=episodes,
        seed=seed,
        fit_kwargs=fit_kwargs,
        warm_start=bool(warm_start),
        eval_episodes=eval_episodes,
        eval_seed=eval_seed,
        deterministic=bool(deterministic),
        initial_fingerprint=None if demos is None else demos.fingerprint(),
    )


def _check_env(policy: Policy, env: Any) -> None:
    """Refuse an env whose spaces do not fit the learner, before any work is done."""
    obs_shape = tuple(getattr(env.observation_space, "shape", None) or ())
    space = env.action_space
    n = getattr(space, "n", None)
    spec = policy.act_spec
    problems = []
    if obs_shape != tuple(policy.obs_spec.shape):
        problems.append(
            (f"observations of shape {fmt_shape(policy.obs_spec.shape)}",
             f"observation space of shape {fmt_shape(obs_shape)}")
        )  # fmt: skip
    if n is not None and spec.discrete != int(n):
        problems.append((f"Discrete({spec.discrete})", f"Discrete({int(n)})"))
    elif n is None and (spec.discrete is not None or tuple(space.shape) != spec.shape):
        want = (
            f"Discrete({spec.discrete})"
            if spec.discrete
            else f"actions of shape {fmt_shape(spec.shape)}"
        )
        problems.append((want, f"action space of shape {fmt_shape(tuple(space.shape))}"))
    if problems:
        expected, got = problems[0]
        raise error(
            ShapeError,
            f"the env does not fit the learner {type(policy).__name__}",
            function="dagger",
            argument="env",
            expected=expected,
            got=got,
            hint="build the learner from the env's spaces (ObsSpec/ActSpec), or wrap the env",
        )


def _check_demos(demos: Demonstrations, env: Any) -> None:
    """Initial demonstrations must look like what the env will add (same rows)."""
    discrete = getattr(env.action_space, "n", None) is not None
    obs = tuple(getattr(env.observation_space, "shape", None) or ())
    act = () if discrete else tuple(env.action_space.shape)
    want = f"observations (N, {', '.join(map(str, obs))}) and " + (
        "int64 actions (N,)" if discrete else f"float actions (N, {', '.join(map(str, act))})"
    )
    ok = (
        demos.obs_shape == obs
        and demos.act_shape == act
        and demos.actions.is_floating_point() != discrete
        and demos.observations.dtype == torch.float32
    )
    if not ok:
        kind = "int64" if not demos.actions.is_floating_point() else str(demos.actions.dtype)
        raise error(
            DataError,
            "the initial demonstrations do not match the env's spaces",
            function="dagger",
            argument="demos",
            expected=want,
            got=f"observations {fmt_shape((len(demos), *demos.obs_shape))} and "
            f"{kind.replace('torch.', '')} actions {fmt_shape((len(demos), *demos.act_shape))}",
            hint="pass demonstrations recorded in this env (e.g. with rollout())",
        )
