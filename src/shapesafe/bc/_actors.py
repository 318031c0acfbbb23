"""What rollouts act with: a policy or any callable, checked once against the env's spaces
and turned into one batched ``(n, obs) -> (n, act)`` call.

A :class:`~shapesafe.bc.Policy` acts through its own tensor path (``_act_tensor``, or the
compiled one after ``compile_act``): observations cross into torch with
:func:`~shapesafe.from_numpy` and actions come back with :func:`~shapesafe.to_numpy`, the
library's copying numpy boundary, so no action array ever aliases a tensor the policy
keeps (a frame history, a recurrent state). The rollout loop enters the policy's eval
mode once (:func:`~shapesafe.evaluating`), not at every step: ``Policy.act`` would switch
modes and re-derive device and dtype per call, which is most of its cost on a small MLP.

Anything else callable is an expert (a scripted controller, a human labelling tool): it
gets numpy observations -- one at a time in a single env, ``(n, obs)`` batches in a
vector env -- and its ``reset`` (when it has one) runs at episode starts. Whatever
declares ``obs_spec`` / ``act_spec`` (policies, :class:`~shapesafe.bc.experts.Expert`
subclasses) is checked against the env's spaces before the first step.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np

from shapesafe._format import error, fmt_shape, fmt_value
from shapesafe.bc.policies.base import Policy
from shapesafe.errors import ShapeError, UsageError
from shapesafe.torch_safety.numpy_boundary import from_numpy, to_numpy
from shapesafe.torch_safety.training import evaluating

__all__ = ["Actor", "action_converter", "check_spaces", "make_actor"]


def _space_shape(space: Any) -> tuple[int, ...] | None:
    shape = getattr(space, "shape", None)
    return None if shape is None else tuple(int(s) for s in shape)


def check_spaces(
    owner: Any, observation_space: Any, action_space: Any, function: str, what: str = "policy"
) -> None:
    """Refuse spaces that do not match ``owner``'s declared ``obs_spec`` / ``act_spec``
    (a policy's or an expert's); ``what`` names the owner in hints."""
    name = type(owner).__name__
    obs_spec, act_spec = owner.obs_spec, owner.act_spec
    obs_shape = _space_shape(observation_space)
    if obs_shape is not None and obs_shape != tuple(obs_spec.shape):
        hint = (
            f"build the policy with obs_spec=ObsSpec({obs_shape}), or wrap the env"
            if what == "policy"
            else "is the env (or a wrapper) the one this expert was written for?"
        )
        raise error(
            ShapeError,
            f"the env's observations do not fit {name}",
            function=function,
            argument="env",
            expected=f"observations of shape {fmt_shape(obs_spec.shape)}",
            got=f"observation space of shape {fmt_shape(obs_shape)}",
            hint=hint,
        )
    n = getattr(action_space, "n", None)
    if n is not None:  # gymnasium Discrete
        if act_spec.discrete != int(n):
            want = (
                "continuous actions"
                if act_spec.discrete is None
                else f"Discrete({act_spec.discrete})"
            )
            raise error(
                ShapeError,
                f"the env's actions do not fit {name}",
                function=function,
                argument="env",
                expected=f"{want} (what the {what} produces)",
                got=f"Discrete({int(n)})",
            )
        return
    act_shape = _space_shape(action_space) or ()
    if act_spec.discrete is not None or act_shape != tuple(act_spec.shape):
        want = (
            f"Discrete({act_spec.discrete})"
            if act_spec.discrete is not None
            else f"actions of shape {fmt_shape(act_spec.shape)}"
        )
        raise error(
            ShapeError,
            f"the env's actions do not fit {name}",
            function=function,
            argument="env",
            expected=f"{want} (what the {what} produces)",
            got=f"action space of shape {fmt_shape(act_shape)}",
        )


class Actor:
    """A policy or callable as the rollout loop uses it.

    ``act(obs)`` takes a batch ``(n, *obs)`` (or, for a plain callable in a single env,
    one observation) and returns the env-format action(s); ``reset(which)`` forgets
    episode state (``which``: ``None`` or a bool mask over sub-envs); ``acting()`` is the
    context the whole loop runs in (eval mode and no gradients for a policy).
    """

    def __init__(
        self,
        act: Callable[[Any], Any],
        reset: Callable[[Any], None],
        acting: Callable[[], Any],
        batched: bool,
    ) -> None:
        self.act = act
        self.reset = reset
        self.acting = acting
        #: True when ``act`` takes batches even in a single env (policies)
        self.batched = batched


def make_actor(
    policy: Any,
    observation_space: Any,
    action_space: Any,
    *,
    deterministic: bool,
    vector: bool,
    function: str,
) -> Actor:
    """An :class:`Actor` for ``policy`` (a :class:`Policy` or a callable), checked against
    the (single-env) spaces first."""
    if getattr(observation_space, "shape", None) is None:  # Dict, Tuple, Graph, ...
        keys = getattr(observation_space, "spaces", None)
        what = f" with keys {sorted(keys)}" if isinstance(keys, dict) else ""
        raise error(
            UsageError,
            f"rollout records observations as arrays, and this env's observations are a "
            f"{type(observation_space).__name__}{what}",
            function=function,
            argument="env",
            expected="an observation space with a shape (e.g. Box)",
            got=type(observation_space).__name__,
            hint="flatten it with gymnasium.wrappers.FlattenObservation(env), or keep the "
            "part the policy reads with a wrapper",
        )
    if isinstance(policy, Policy):
        check_spaces(policy, observation_space, action_space, function)
        return _policy_actor(policy, deterministic, function)
    if not callable(policy):
        raise error(
            UsageError,
            "must be a shapesafe Policy or a callable obs -> action",
            function=function,
            argument="policy",
            expected="a Policy or a callable",
            got=fmt_value(policy),
        )
    if hasattr(policy, "obs_spec") and hasattr(policy, "act_spec"):
        check_spaces(policy, observation_space, action_space, function, what="expert")
    act = _first_batch_guarded(policy, function) if vector else policy
    return Actor(act, _reset_of(policy, vector, function), nullcontext, batched=False)


def _first_batch_guarded(policy: Callable[[Any], Any], function: str) -> Callable[[Any], Any]:
    """``policy``, whose first call -- the first ``(n, obs)`` batch it ever sees -- turns
    a crash into an error that says a vector env hands out batches (a callable written
    for one observation fails there, often deep inside its own arithmetic)."""
    first = True

    def act(obs: Any) -> Any:
        nonlocal first
        if not first:
            return policy(obs)
        first = False
        try:
            return policy(obs)
        except (ValueError, TypeError, IndexError) as e:
            raise error(
                UsageError,
                f"{type(policy).__name__} failed on a batch of observations "
                f"{fmt_shape(np.shape(obs))} ({type(e).__name__}: {e})",
                function=function,
                argument="policy",
                expected="a callable (n, obs) -> (n, act) in a vector env",
                got=f"{type(e).__name__} on the first batch",
                hint=_BATCH_HINT,
            ) from e

    return act


def _policy_actor(policy: Policy, deterministic: bool, function: str) -> Actor:
    if policy.goal_spec is not None:
        raise error(
            UsageError,
            f"{type(policy).__name__} is goal-conditioned, and the env gives no goals",
            function=function,
            argument="policy",
            hint="pass a callable that supplies them, e.g. "
            "lambda obs: policy.act(obs, goal=my_goal)",
        )
    # the device and dtype Policy.act feeds the network, read once per rollout
    device, dtype = policy._input_placement(policy.obs_spec)

    def act(obs: Any) -> Any:
        x = from_numpy(obs, dtype=dtype, device=device)
        return to_numpy(policy._act_runner()(x, None, deterministic))

    if not type(policy).act.__module__.startswith("shapesafe."):
        # A user's policy that overrides act() itself: honour it (it gets a tensor).
        def act(obs: Any) -> Any:
            x = from_numpy(obs, dtype=dtype, device=device)
            return np.asarray(policy.act(x, deterministic=deterministic))

    # inference_mode is the cheaper mode, but its tensors cannot be updated in place
    # outside it: a stateful policy (one that overrides _act_tensor to keep a history or
    # a recurrent state) keeps tensors made here and may update them after the rollout
    # returns, so it gets no_grad. A stateless one only hands actions to numpy.
    stateless = type(policy)._act_tensor is Policy._act_tensor
    grad: Any = "inference" if stateless else "no_grad"

    @contextmanager
    def acting() -> Iterator[None]:
        with evaluating(policy, grad=grad):
            yield

    return Actor(act, policy.reset, acting, batched=True)


def _reset_of(policy: Any, vector: bool, function: str) -> Callable[[Any], None]:
    """``reset(which)`` for a callable: its own ``reset`` (with ``which`` when it takes an
    argument), or nothing."""
    reset = getattr(policy, "reset", None)
    if not callable(reset):
        return lambda which: None
    try:
        takes_which = len(inspect.signature(reset).parameters) > 0
    except (TypeError, ValueError):  # builtins without a signature
        takes_which = False
    if takes_which:
        return lambda which: reset(which)
    if not vector:
        return lambda which: reset()

    def reset_all_only(which: Any) -> None:
        if which is not None and not bool(np.all(which)):
            raise error(
                UsageError,
                f"{type(policy).__name__}.reset() takes no `which`, so it cannot reset "
                "one sub-env of a vector env alone",
                function=function,
                argument="policy",
                hint="give it reset(self, which=None) (which: a bool mask over sub-envs), "
                "or roll out in a single env",
            )
        reset()

    return reset_all_only


_BATCH_HINT = (
    "in a vector env the policy gets a batch (n, obs) and must return one action per "
    "row; wrap a one-observation callable: lambda obs: np.stack([f(o) for o in obs])"
)


def action_converter(space: Any, n: int | None, function: str) -> Callable[[Any], Any]:
    """``actions -> env format``, with the space read once (not at every step): an int
    (Discrete) or an array of the space's shape for a single env (``n=None``), an
    ``(n, *shape)`` array for a vector env. Wrong shapes raise a :class:`ShapeError`."""
    discrete = getattr(space, "n", None) is not None
    shape = () if discrete else (_space_shape(space) or ())
    dtype = np.int64 if discrete else getattr(space, "dtype", np.float32)
    want = shape if n is None else (n, *shape)
    as_int = n is None and discrete  # Discrete envs take a plain int; (1,) arrays pass too

    def convert(actions: Any) -> Any:
        if as_int and isinstance(actions, (int, np.integer)):
            return int(actions)  # the common case, without building an array
        arr = np.asarray(actions, dtype=dtype)
        if as_int and arr.size == 1:
            return int(arr.reshape(()))
        if arr.shape != want:
            raise _action_shape_error(arr.shape, want, shape, n, function)
        return arr

    return convert


def _action_shape_error(
    got: tuple[int, ...],
    want: tuple[int, ...],
    shape: tuple[int, ...],
    n: int | None,
    function: str,
) -> ShapeError:
    hint = _BATCH_HINT if n is not None and got == shape else None
    what = "an action" if n is None else "actions"
    return error(
        ShapeError,
        "the policy returned an action that does not fit the env's action space",
        function=function,
        argument="policy",
        expected=f"{what} of shape {fmt_shape(want)}",
        got=f"shape {fmt_shape(got)}",
        hint=hint,
    )
