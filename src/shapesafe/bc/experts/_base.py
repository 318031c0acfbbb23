"""The expert contract: a scripted controller as a shape-checked callable ``obs -> action``.

An :class:`Expert` declares what it consumes and produces with the same
:class:`~shapesafe.bc.ObsSpec` / :class:`~shapesafe.bc.ActSpec` a policy declares, so
:func:`~shapesafe.bc.rollout` can check it against an environment's spaces before the
first step. A subclass writes only its control law, :meth:`Expert.act_batch`, on a
float64 ``(n, *obs)`` batch; the base class does the rest once, for every expert:

* one observation ``(*obs,)`` or a batch ``(n, *obs)`` (from a vector env) in, the
  matching action ``(*act,)`` or actions ``(n, *act)`` out;
* numpy in, numpy out; a torch tensor in, a tensor (same device) out;
* the env's action format: ``float32`` for continuous actions, ``int64`` for
  ``Discrete`` ones;
* a wrong-shaped observation is refused with a :class:`~shapesafe.ShapeError` naming the
  expert, the axis, and the shape it expected (while checks are on: with
  ``SHAPESAFE_DISABLE=1`` the rank alone tells one observation from a batch).

The registry maps gymnasium ids to experts: decorate a class (or any factory) with
:func:`register_expert` and :func:`make_expert` builds it by id. Any callable
``obs -> action`` works where an expert is expected (``rollout`` takes plain callables);
subclassing :class:`Expert` adds the checks and the declared specs.
"""

from __future__ import annotations

import abc
import difflib
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch

from shapesafe._config import STATE
from shapesafe._format import error, fmt_shape, fmt_value
from shapesafe.bc.policies.base import ActSpec, ObsSpec
from shapesafe.errors import DtypeError, ShapeError, UsageError

__all__ = ["Expert", "expert_ids", "make_expert", "register_expert"]

F = TypeVar("F", bound=Callable[..., Any])

_REGISTRY: dict[str, Callable[..., Any]] = {}


class Expert(abc.ABC):
    """Base of the scripted experts: a batched, shape-checked callable ``obs -> action``.

    Set :attr:`obs_spec` and :attr:`act_spec` (class attributes or in ``__init__``) and
    implement :meth:`act_batch`; stateful experts also override :meth:`reset`.

    Attributes:
        env_id: the gymnasium id the expert is registered for (set by
            :func:`register_expert`; ``""`` for an unregistered expert).
        obs_spec: shape of one observation (without a batch axis).
        act_spec: shape of one action; ``discrete`` = number of choices for a
            ``Discrete`` action space.

    Examples:
        >>> import numpy as np
        >>> from shapesafe.bc import ActSpec, ObsSpec
        >>> from shapesafe.bc.experts import Expert
        >>> class Sign(Expert):
        ...     obs_spec, act_spec = ObsSpec((2,)), ActSpec((1,))
        ...
        ...     def act_batch(self, obs):
        ...         return -np.sign(obs[:, :1])
        >>> Sign()(np.array([0.5, 1.0]))
        array([-1.], dtype=float32)
        >>> Sign()(np.zeros((3, 2))).shape
        (3, 1)
    """

    env_id: ClassVar[str] = ""
    obs_spec: ObsSpec
    act_spec: ActSpec

    @abc.abstractmethod
    def act_batch(self, obs: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """The control law on a checked ``(n, *obs)`` float64 batch: ``(n, *act)``
        actions (any numeric dtype; :meth:`__call__` converts to the env's format)."""

    def reset(self, which: Any = None) -> None:  # noqa: B027 (an optional hook, not abstract)
        """Forget episode state; ``which`` is ``None`` (all) or a bool array per env of a
        vector env. Scripted feedback laws have none, so the default does nothing."""

    def __call__(self, obs: Any) -> Any:
        """The action for one observation ``(*obs,)``, or actions for a batch
        ``(n, *obs)``; numpy in, numpy out (a tensor in, a tensor out)."""
        name = f"{type(self).__name__}.__call__"
        device = obs.device if isinstance(obs, torch.Tensor) else None
        arr = _as_float64(obs, name)
        single = self._check_obs(arr, name)
        batch = arr[None] if single else arr
        actions = np.asarray(self.act_batch(batch))
        out = actions.astype(np.int64 if self.act_spec.discrete is not None else np.float32)
        want = (len(batch), *self.act_spec.shape)
        if STATE.enabled and out.shape != want:  # a bug in the subclass, not in the caller's input
            raise error(
                ShapeError,
                "the expert's actions have the wrong shape (a bug in the expert, not in `obs`)",
                function=f"{type(self).__name__}.act_batch",
                argument="return value",
                expected=f"shape {fmt_shape(want)}",
                got=f"shape {fmt_shape(out.shape)}",
            )
        if single:
            out = out[0, ...]  # a 0-d array for a discrete action, not a numpy scalar
        if device is not None:
            return torch.as_tensor(out, device=device)
        return out

    def _check_obs(self, obs: np.ndarray[Any, Any], function: str) -> bool:
        """True for one observation, False for a batch; a ShapeError for anything else."""
        spec = self.obs_spec.shape
        rank = len(spec)
        if obs.ndim in (rank, rank + 1) and obs.shape[obs.ndim - rank :] == spec:
            return obs.ndim == rank
        if not STATE.enabled:  # checks off: trust the caller, decide by rank alone
            return obs.ndim <= rank
        lead = obs.ndim - rank
        axis = None
        if lead in (0, 1):  # the rank fits: name the first axis that does not
            axis = next(i for i in range(rank) if obs.shape[lead + i] != spec[i]) + lead
        env = f" of {self.env_id}" if self.env_id else ""
        raise error(
            ShapeError,
            f"observation does not fit the expert{env}",
            function=function,
            argument="obs",
            axis=axis,
            expected=f"shape {fmt_shape(spec)} (one observation) or "
            f"{fmt_shape(('n', *spec))} (a batch)",
            got=f"shape {fmt_shape(obs.shape)}",
            hint=None
            if not self.env_id
            else f"this expert acts in {self.env_id}; is the env (or a wrapper) another one?",
        )

    def __repr__(self) -> str:
        env = f"{self.env_id!r}, " if self.env_id else ""
        return f"{type(self).__name__}({env}obs {self.obs_spec.shape}, act {_act(self)})"


def _act(expert: Expert) -> str:
    spec = expert.act_spec
    return f"Discrete({spec.discrete})" if spec.discrete is not None else str(spec.shape)


def _as_float64(obs: Any, function: str) -> np.ndarray[Any, Any]:
    if isinstance(obs, torch.Tensor):
        obs = obs.detach().cpu().numpy()
    try:
        arr = np.asarray(obs, dtype=np.float64)
    except (TypeError, ValueError):
        raise error(
            DtypeError,
            "observation is not numeric",
            function=function,
            argument="obs",
            expected="a numeric numpy array or tensor",
            got=fmt_value(obs),
        ) from None
    return arr


def register_expert(env_id: str) -> Callable[[F], F]:
    """Register an expert class (or any factory ``**kwargs -> expert``) for a gymnasium
    id, so :func:`make_expert` builds it. A class gets ``env_id`` set.

    Examples:
        >>> from shapesafe.bc.experts import expert_ids
        >>> "CartPole-v1" in expert_ids()
        True
    """
    if not isinstance(env_id, str) or not env_id:
        raise error(
            UsageError,
            "the env id must be a non-empty string",
            function="register_expert",
            argument="env_id",
            got=fmt_value(env_id),
        )

    def decorate(factory: F) -> F:
        if isinstance(factory, type) and issubclass(factory, Expert):
            factory.env_id = env_id
        _REGISTRY[env_id] = factory
        return factory

    return decorate


def expert_ids() -> tuple[str, ...]:
    """The gymnasium ids with a registered expert, sorted."""
    return tuple(sorted(_REGISTRY))


def make_expert(env_id: str, **kwargs: Any) -> Any:
    """The registered expert of a gymnasium id, built with ``kwargs``.

    Examples:
        >>> from shapesafe.bc.experts import make_expert
        >>> make_expert("CartPole-v1")
        CartPoleExpert('CartPole-v1', obs (4,), act Discrete(2))
    """
    factory = _REGISTRY.get(env_id)
    if factory is None:
        close = difflib.get_close_matches(str(env_id), list(_REGISTRY), n=1)
        hint = (
            f"did you mean {close[0]!r}?"
            if close
            else "any callable obs -> action works as an expert; "
            "register one with @register_expert(env_id)"
        )
        raise error(
            UsageError,
            f"no expert is registered for {env_id!r}",
            function="make_expert",
            argument="env_id",
            expected="one of " + ", ".join(expert_ids()),
            got=fmt_value(env_id),
            hint=hint,
        )
    return factory(**kwargs)
