"""The policy interface: declared specs, a typed batch in, a loss with metrics out.

A policy states what it consumes -- an :class:`ObsSpec` (shape of one observation, of
any rank, and its dtype), an :class:`ActSpec` (continuous, or discrete with ``n``
choices) and optionally a goal spec -- and the base class does everything that follows
from that declaration: it converts pairs and replay-buffer dicts to a :class:`Batch`,
checks the batch against the specs (once per call, only while checks are on), runs
``act`` for environments, and registers the class under its ``kind`` so that
checkpoints and the CLI can rebuild it. A subclass writes only what is its own:
``compute_loss``, ``predict`` and ``get_config``.

Metrics come back with the loss as tensors (``LossOutput``); ``fit`` averages them at
log points, so a policy that reports a KL term or an accuracy costs no ``.item()`` sync
per step.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from shapesafe import evaluating
from shapesafe._config import STATE
from shapesafe._format import error, fmt_dtype, fmt_shape, fmt_value
from shapesafe.bc._batch import Batch, as_batch
from shapesafe.bc._data import Demonstrations
from shapesafe.bc.policies.registry import register
from shapesafe.errors import DtypeError, ShapeError, ShapesafeError, UsageError

__all__ = ["ActSpec", "LossOutput", "ObsSpec", "Policy"]


def _shape_tuple(shape: Any, owner: str) -> tuple[int, ...]:
    try:
        dims = tuple(shape)
    except TypeError:
        dims = (shape,)
    if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in dims) or any(
        d < 1 for d in dims
    ):
        raise error(
            UsageError,
            f"`shape` must be a tuple of positive integers, got {fmt_value(shape)}",
            function=owner,
            argument="shape",
        )
    return tuple(int(d) for d in dims)


def _check_dtype(dtype: Any, owner: str) -> None:
    if not isinstance(dtype, torch.dtype):
        raise error(
            UsageError,
            f"`dtype` must be a torch.dtype, got {fmt_value(dtype)}",
            function=owner,
            argument="dtype",
        )


@dataclass(frozen=True)
class ObsSpec:
    """What one observation (or goal) looks like: ``shape`` without the batch axis,
    e.g. ``(3,)`` for a state vector or ``(3, 64, 64)`` for an image, and ``dtype``
    (``uint8`` images are fine; the policy converts them itself).

    Examples:
        >>> from shapesafe.bc import ObsSpec
        >>> ObsSpec((3, 64, 64))
        ObsSpec(shape=(3, 64, 64), dtype=torch.float32)
    """

    shape: tuple[int, ...]
    dtype: torch.dtype = torch.float32

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", _shape_tuple(self.shape, "ObsSpec"))
        _check_dtype(self.dtype, "ObsSpec")


@dataclass(frozen=True)
class ActSpec:
    """What one action looks like: ``shape`` without the batch axis and ``dtype``; for
    discrete actions, ``discrete`` is the number of choices and the dtype is ``int64``.

    Examples:
        >>> from shapesafe.bc import ActSpec
        >>> ActSpec((2,)).discrete is None, ActSpec((), torch.int64, discrete=4).discrete
        (True, 4)
    """

    shape: tuple[int, ...]
    dtype: torch.dtype = torch.float32
    discrete: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", _shape_tuple(self.shape, "ActSpec"))
        _check_dtype(self.dtype, "ActSpec")
        if self.discrete is not None:
            n = self.discrete
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise error(
                    UsageError,
                    f"`discrete` must be the number of actions (a positive int), got "
                    f"{fmt_value(n)}",
                    function="ActSpec",
                    argument="discrete",
                )
            if self.dtype.is_floating_point:
                object.__setattr__(self, "dtype", torch.int64)


@dataclass(frozen=True)
class LossOutput:
    """What :meth:`Policy.compute_loss` returns: the scalar ``loss`` to minimise and
    named ``metrics`` (0-d tensors, detached or not) that ``fit`` logs and ``evaluate``
    reports, averaged over batches."""

    loss: Tensor
    metrics: Mapping[str, Tensor] = field(default_factory=dict)


class Policy(nn.Module, abc.ABC):
    """The policy interface behaviour cloning trains.

    Subclass it with a ``kind`` to register the class (``class MyPolicy(Policy,
    kind="my-policy")``); in ``__init__`` set :attr:`obs_spec` and :attr:`act_spec`
    (and :attr:`goal_spec` for goal-conditioned policies), then implement:

    * :meth:`compute_loss` ``(batch: Batch) -> LossOutput``: the training loss of a
      checked batch, with any metrics worth logging;
    * :meth:`predict` ``(obs[, goals]) -> actions``: the most likely action;
    * :meth:`get_config`: the constructor's keyword arguments, as plain values, so
      that :func:`build_policy` and :func:`load_policy` can rebuild it.

    The base provides :meth:`loss` (any batch form in, scalar out), :meth:`act` for
    environments (numpy in, numpy out, eval mode), :attr:`config` and batch checking.
    """

    kind: ClassVar[str]
    #: the name of the loss in plots and tables, e.g. "NLL" or "MSE"
    loss_name: ClassVar[str] = "loss"
    obs_spec: ObsSpec
    act_spec: ActSpec
    goal_spec: ObsSpec | None = None

    def __init_subclass__(cls, kind: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind is not None:
            register(kind, cls)
            cls.kind = kind

    # ------------------------------------------------------------- what subclasses write

    @abc.abstractmethod
    def compute_loss(self, batch: Batch) -> LossOutput:
        """The training loss of a minibatch that already passed :meth:`check_batch`."""

    @abc.abstractmethod
    def predict(self, obs: Tensor, goals: Tensor | None = None) -> Tensor:
        """The most likely action for each observation (differentiable)."""

    @abc.abstractmethod
    def get_config(self) -> dict[str, Any]:
        """Constructor keyword arguments (plain Python values) that rebuild this policy."""

    # ------------------------------------------------------------- what the base provides

    @property
    def config(self) -> dict[str, Any]:
        """``{"kind": ..., **get_config()}``: what checkpoints store to rebuild the policy."""
        return {"kind": self.kind, **self.get_config()}

    @classmethod
    def from_specs(cls, obs_spec: ObsSpec, act_spec: ActSpec, **options: Any) -> Policy:
        """Build a policy for data of these specs (what ``shapesafe train`` calls).
        Subclasses that can be built from data alone override this."""
        raise error(
            UsageError,
            f"{cls.__name__} does not say how to build itself from data",
            function=f"{cls.__name__}.from_specs",
            hint="define the classmethod from_specs(obs_spec, act_spec, **options)",
        )

    def spec_hint(self, what: str, shape: tuple[int, ...]) -> str | None:
        """How to build this policy for data whose ``what`` ("observations", "actions"
        or "goals") have per-row ``shape``: the hint of a data/policy mismatch."""
        return None

    def reset(self, which: Any = None) -> None:
        """Forget what :meth:`act` keeps between calls (a frame history, queued action
        chunks, a recurrent state) -- call it at the start of every episode. ``which``
        selects the rows of a batched (vectorised) environment to reset: ``None`` for
        all, or a boolean array with one entry per environment. Stateless policies (the
        default) have nothing to forget."""
        return None

    def prepare_data(self, demos: Demonstrations) -> Demonstrations:
        """The training data this policy learns from, made from flat demonstrations
        (rows matching the specs): ``fit`` and ``evaluate`` call it once, after checking
        ``demos`` against the specs and splitting off validation episodes. The default
        is ``demos`` itself; a policy on windows adds them here as extras (see
        :func:`~shapesafe.bc.history_windows`), so ``fit(policy, demos)`` works on the
        same data as every other policy."""
        return demos

    def diagnostics(self) -> dict[str, float]:
        """Data-free numbers worth reporting after training (e.g. a learned std)."""
        return {}

    def loss(self, batch: Batch | tuple[Tensor, Tensor] | Mapping[str, Tensor]) -> Tensor:
        """The scalar training loss of ``batch``: a :class:`Batch`, a pair
        ``(observations, actions)`` or a mapping with ``obs``/``observations`` and
        ``act``/``actions`` keys (as replay buffers hand out)."""
        b = as_batch(batch, f"{type(self).__name__}.loss")
        if STATE.enabled:
            self.check_batch(b, "loss")
        return self.compute_loss(b).loss

    def predict_batch(self, batch: Batch) -> Tensor:
        """:meth:`predict` on a batch's observations (and goals, if the policy has a
        goal spec)."""
        if self.goal_spec is None:
            return self.predict(batch.observations)
        return self.predict(batch.observations, batch.goals)

    def check_batch(self, batch: Batch, method: str = "loss") -> None:
        """Refuse a batch that does not match the specs, naming ``method``."""
        name = f"{type(self).__name__}.{method}"
        obs = batch.observations
        _expect_tensor(obs, self.obs_spec.dtype, name, "observations")
        _expect_tensor(batch.actions, self.act_spec.dtype, name, "actions")
        if tuple(obs.shape[1:]) != self.obs_spec.shape or obs.ndim == 0:
            raise _shape_error(self, name, "observations", obs, self.obs_spec.shape, None)
        n = int(obs.shape[0])
        act = batch.actions
        if tuple(act.shape) != (n, *self.act_spec.shape):
            raise _shape_error(self, name, "actions", act, self.act_spec.shape, n)
        if self.goal_spec is not None:
            if batch.goals is None:
                raise error(
                    ShapeError,
                    "this policy is goal-conditioned but the batch has no goals",
                    function=name,
                    argument="batch",
                    expected=f"goals {fmt_shape(('batch', *self.goal_spec.shape))}",
                    got="goals=None",
                    hint="build the demonstrations with goals=...",
                )
            _expect_tensor(batch.goals, self.goal_spec.dtype, name, "goals")
            if tuple(batch.goals.shape) != (n, *self.goal_spec.shape):
                raise _shape_error(self, name, "goals", batch.goals, self.goal_spec.shape, n)

    def check_obs(self, obs: Any, method: str) -> None:
        """Refuse observations that are not ``(batch, *obs_spec.shape)``, naming the
        method the user called (not the ``forward`` it delegates to)."""
        if not isinstance(obs, Tensor) or tuple(obs.shape[1:]) == self.obs_spec.shape:
            return  # not a tensor: the annotations of forward() say what is wrong
        name = f"{type(self).__name__}.{method}"
        spec = self.obs_spec.shape
        hint = None
        if tuple(obs.shape) == spec:
            hint = "a single observation lacks the batch axis: obs.unsqueeze(0), or act(obs)"
        raise error(
            ShapeError,
            f"expected observations of shape {fmt_shape(('batch', *spec))}, got "
            f"{fmt_shape(obs.shape)}",
            function=name,
            argument="obs",
            expected=fmt_shape(("batch", *spec)),
            got=fmt_shape(obs.shape),
            hint=hint,
        )

    def _sample(self, obs: Tensor, goals: Tensor | None) -> Tensor:
        return self.predict(obs) if goals is None else self.predict(obs, goals)

    def act(
        self, obs: Any, *, deterministic: bool = False, goal: Any = None
    ) -> np.ndarray[Any, Any]:
        """Actions for an environment: numpy (or tensor) in, numpy out.

        Runs in eval mode and without gradients (the previous mode is restored).
        ``obs`` is one observation (``obs_spec.shape``) or a batch of them; the result
        has a batch axis exactly when ``obs`` has one. Stochastic policies sample unless
        ``deterministic=True``. Goal-conditioned policies take ``goal`` the same way.

        Examples:
            >>> import numpy as np
            >>> from shapesafe.bc import DeterministicPolicy
            >>> DeterministicPolicy(3, 2).act(np.zeros(3)).shape
            (2,)
        """
        x, single = self._as_input(obs, self.obs_spec, "obs")
        g = None
        if (self.goal_spec is None) != (goal is None):
            raise self._goal_usage_error(goal)
        if self.goal_spec is not None:
            g, _ = self._as_input(goal, self.goal_spec, "goal", single)
        with evaluating(self):
            a: Tensor = self._act_runner()(x, g, deterministic)
        out = a.cpu().numpy()
        return out[0] if single else out

    def _goal_usage_error(self, goal: Any) -> ShapesafeError:
        """``act`` without a goal for a goal-conditioned policy, or with one for a policy
        that has no goal spec."""
        name = f"{type(self).__name__}.act"
        if self.goal_spec is None:
            return error(
                UsageError,
                "this policy is not goal-conditioned, but a goal was given",
                function=name,
                argument="goal",
                expected="goal=None",
                got=f"a goal of shape {fmt_shape(np.shape(goal))}",
            )
        return error(
            ShapeError,
            "this policy is goal-conditioned but no goal was given",
            function=name,
            argument="goal",
            expected=f"a goal of shape {fmt_shape(self.goal_spec.shape)} (one per observation)",
            got="goal=None",
            hint="act(obs, goal=goal)",
        )

    def compile_act(self, backend: bool | str = True) -> Policy:
        """Compile what :meth:`act` runs -- ``predict`` / the sampler, a diffusion
        policy's whole denoising loop included -- with ``torch.compile`` (``True``:
        inductor, or a backend name; ``False`` undoes it). Shape checks stay live (they
        run at trace time). The first call of each kind (deterministic or sampled, and
        each new batch size until shapes are marked dynamic) compiles; later calls are
        faster. Returns the policy.

        Examples:
            >>> import numpy as np
            >>> from shapesafe.bc import GaussianPolicy
            >>> policy = GaussianPolicy(3, 2).compile_act("aot_eager")
            >>> policy.act(np.zeros(3), deterministic=True).shape
            (2,)
        """
        from shapesafe.bc._compiled import compile_backend

        name = compile_backend(backend, f"{type(self).__name__}.compile_act", "backend")
        if name is None:
            self.__dict__.pop("_compiled_act", None)
            return self
        self.__dict__["_compiled_act"] = torch.compile(self._act_tensor, backend=name)
        return self

    def _act_tensor(self, obs: Tensor, goals: Tensor | None, deterministic: bool) -> Tensor:
        """The actions :meth:`act` returns for a batch of observations (a tensor, in
        eval mode, without gradients); stateful policies override it to use and update
        what they keep between calls."""
        if deterministic:
            return self.predict(obs) if goals is None else self.predict(obs, goals)
        return self._sample(obs, goals)

    def _act_runner(self) -> Callable[[Tensor, Tensor | None, bool], Tensor]:
        """What :meth:`act` runs on tensors: :meth:`_act_tensor`, or its compiled
        version after :meth:`compile_act` (rollouts call the same)."""
        compiled = self.__dict__.get("_compiled_act")
        return self._act_tensor if compiled is None else compiled

    def _input_placement(self, spec: ObsSpec) -> tuple[torch.device, torch.dtype]:
        """Device and dtype in which :meth:`act` feeds values of ``spec`` to the network:
        the parameters' device, and their float dtype for float values (a float64
        policy gets float64), the spec's own dtype otherwise."""
        param = next(self.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        float_dtype = param.dtype if param is not None and param.is_floating_point() else None
        dtype = (float_dtype or spec.dtype) if spec.dtype.is_floating_point else spec.dtype
        return device, dtype

    def _as_input(
        self, value: Any, spec: ObsSpec, argument: str, single: bool | None = None
    ) -> tuple[Tensor, bool]:
        name = f"{type(self).__name__}.act"
        device, dtype = self._input_placement(spec)
        if isinstance(value, Tensor):
            x = value.detach().to(device=device, dtype=dtype)
        else:
            arr = np.asarray(value)
            if arr.dtype.kind not in "biuf":
                raise DtypeError(
                    f"{name}(): argument `{argument}` must hold numbers, got {arr.dtype}",
                    function=name,
                    argument=argument,
                    expected="numbers",
                    got=fmt_dtype(arr.dtype),
                )
            x = torch.as_tensor(arr, dtype=dtype, device=device)
        one = tuple(x.shape) == spec.shape if single is None else single
        if one:
            x = x.unsqueeze(0)
        if tuple(x.shape[1:]) != spec.shape:
            got = tuple(x.shape[1:] if one else x.shape)
            hint = _act_hint(x, spec.shape, one)
            want = fmt_shape(spec.shape)
            raise ShapeError(
                f"{name}(): argument `{argument}`: expected shape {want} or "
                f"{fmt_shape(('batch', *spec.shape))}, got {got}"
                + (f"\n  hint: {hint}" if hint else ""),
                function=name,
                argument=argument,
                expected=f"{want} or {fmt_shape(('batch', *spec.shape))}",
                got=str(got),
                hint=hint,
            )
        return x, one


def _act_hint(x: Tensor, spec: tuple[int, ...], single: bool) -> str | None:
    flat = int(np.prod(spec))
    if len(spec) == 1 and x.ndim > 2 and int(np.prod(x.shape[1:])) == flat:
        return "flatten each observation first, e.g. obs.reshape(len(obs), -1)"
    if len(spec) == 1 and x.ndim == 2 and x.shape[0] == spec[0] and not single:
        return "the axes look swapped; did you mean obs.T?"
    return None


def _expect_tensor(value: Any, dtype: torch.dtype, function: str, what: str) -> None:
    floating = dtype.is_floating_point
    ok = isinstance(value, Tensor) and (
        value.is_floating_point() == floating and (floating or value.dtype != torch.bool)
    )
    if ok:
        return
    kind = "float" if floating else "integer"
    got = value.dtype if isinstance(value, Tensor) else type(value).__name__
    hint = None
    if isinstance(value, Tensor) and what == "actions":
        hint = (
            "discrete actions need a policy with a discrete ActSpec; continuous ones "
            "should be stored as floats"
        )
    raise DtypeError(
        f"{function}(): argument `batch` ({what}): expected a {kind} tensor, got {got}"
        + (f"\n  hint: {hint}" if hint else ""),
        function=function,
        argument="batch",
        expected=f"{kind} tensor",
        got=str(got),
        hint=hint,
    )


def _shape_error(
    policy: Policy, function: str, what: str, value: Tensor, spec: tuple[int, ...], n: int | None
) -> ShapeError:
    """The error for a batch field whose shape is not ``(n, *spec)``, with the hint for
    the usual mistakes (a stray size-1 axis, a missing one, rows drawn separately)."""
    got = tuple(value.shape)
    rows = "batch" if n is None else n
    expected = (rows, *spec)
    hint = None
    if n is not None and got == (*expected, 1):
        hint = f"the {what} have a trailing axis of size 1; {what}.squeeze(-1)?"
    elif n is not None and got == expected[:-1] and spec and spec[-1] == 1:
        hint = f"the {what} lack the last axis; {what}.unsqueeze(-1)?"
    elif n is not None and len(got) == len(expected) and got and got[0] != n:
        hint = f"{got[0]} {what} for {n} observations; were they drawn with the same batch indices?"
    elif len(got) == len(expected):
        fix = policy.spec_hint(what, tuple(got[1:]))
        hint = (
            f"this policy was built for {what} {fmt_shape(spec)} but these are "
            f"{fmt_shape(got[1:])}; check the data" + (f", or {fix}" if fix else "")
        )
    head = f"{function}(): argument `batch` ({what}): expected shape {fmt_shape(expected)}"
    return ShapeError(
        f"{head} to match the policy's spec, got {fmt_shape(got)}"
        + (f"\n  hint: {hint}" if hint else ""),
        function=function,
        argument="batch",
        expected=fmt_shape(expected),
        got=fmt_shape(got),
        bindings={} if n is None else {"batch": n},
        hint=hint,
    )
