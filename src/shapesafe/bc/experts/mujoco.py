"""Scripted experts for gymnasium's MuJoCo tasks: InvertedPendulum-v5,
InvertedDoublePendulum-v5 (LQR on the linearised simulator) and Reacher-v5 (inverse
kinematics + PD).

The two pendulums balance with ``u = -K x``, ``K`` the discrete LQR gain of the MuJoCo
model itself linearised at the upright state. Nothing is hand-derived: the Jacobians
``A = dx'/dx``, ``B = dx'/du`` come from central finite differences of one *env* step
(``frame_skip`` simulator steps under a held control, exactly what ``env.step`` does),
so the gain is right for whatever timestep, integrator and ``frame_skip`` the model
uses. (MuJoCo's own ``mjd_transitionFD`` would be the natural tool, but it refuses the
RK4 integrator these models use, and it differentiates one simulator step, not one env
step.) By default the model is the XML gymnasium ships (no download); pass ``env=`` to
linearise the env you actually run (a custom ``xml_file`` or ``frame_skip``).

MuJoCo is imported only when a pendulum expert is built, so ``import
shapesafe.bc.experts`` works without it; building one without it raises a
:class:`~shapesafe.UsageError` naming the extra to install. The Reacher expert is plain
numpy (the arm's geometry is two constants) and needs no MuJoCo at all, so it can label
recorded Reacher observations anywhere.
"""

from __future__ import annotations

import abc
import functools
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from jaxtyping import Float

from shapesafe import check
from shapesafe._format import error, fmt_value, plural
from shapesafe.bc.experts._base import Expert, register_expert
from shapesafe.bc.experts._lqr import dlqr
from shapesafe.bc.experts.classic import _positive, _weights
from shapesafe.bc.policies.base import ActSpec, ObsSpec
from shapesafe.errors import UsageError

__all__ = ["InvertedDoublePendulumExpert", "InvertedPendulumExpert", "ReacherExpert"]

Array = np.ndarray


def _import_mujoco(function: str) -> ModuleType:
    try:
        mujoco = importlib.import_module("mujoco")
    except ImportError:
        raise error(
            UsageError,
            "this expert linearises the MuJoCo model, but MuJoCo is not installed",
            function=function,
            hint="pip install 'shapesafe[mujoco]'",
        ) from None
    return mujoco


def _gymnasium_asset(name: str) -> str:
    """Path of a model XML shipped inside gymnasium (found without importing its MuJoCo
    envs, which would import mujoco)."""
    import gymnasium

    return str(Path(gymnasium.__file__).parent / "envs" / "mujoco" / "assets" / name)


@check
def _linearise(
    mujoco: ModuleType, model: Any, frame_skip: int, eps: float = 1e-6
) -> tuple[Float[Array, "state state"], Float[Array, "state act"]]:
    """``A``, ``B`` of one env step ``x' = f(x, u)`` around rest (``qpos0``, zero
    velocity, zero control), ``x = (qpos, qvel)``, by central differences."""
    data = mujoco.MjData(model)
    nq, nv, nu = model.nq, model.nv, model.nu

    def step(x: np.ndarray[Any, Any], u: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        # A fresh state per evaluation: warm starts and the time do not leak between them.
        mujoco.mj_resetData(model, data)
        data.qpos[:] = x[:nq]
        data.qvel[:] = x[nq:]
        data.ctrl[:] = u
        mujoco.mj_step(model, data, nstep=frame_skip)
        return np.concatenate([data.qpos, data.qvel])

    x0 = np.concatenate([model.qpos0, np.zeros(nv)])
    u0 = np.zeros(nu)
    A = np.zeros((nq + nv, nq + nv))
    B = np.zeros((nq + nv, nu))
    for i in range(nq + nv):
        dx = np.zeros(nq + nv)
        dx[i] = eps
        A[:, i] = (step(x0 + dx, u0) - step(x0 - dx, u0)) / (2 * eps)
    for j in range(nu):
        du = np.zeros(nu)
        du[j] = eps
        B[:, j] = (step(x0, u0 + du) - step(x0, u0 - du)) / (2 * eps)
    return A, B


class _UprightLQR(Expert):
    """LQR balance of a cart with poles; subclasses give the model, the default weights
    and the observation -> state map.

    Attributes:
        gain: ``(act, state)`` LQR gain ``K``; the action is ``clip(-K x)``.
        A, B: the linearised env step the gain was computed for.
    """

    _xml: str
    _frame_skip: int
    _q: tuple[float, ...]
    _r: float

    def __init__(
        self, env: Any = None, *, q: tuple[float, ...] | None = None, r: float | None = None
    ) -> None:
        name = type(self).__name__
        nx = len(self._q)
        Q = _weights(self._q if q is None else q, nx, "q", name)
        R = np.array([[_positive(self._r if r is None else r, "r", name)]])
        mujoco = _import_mujoco(name)
        if env is None:
            model, frame_skip = _default_model(mujoco, self._xml), self._frame_skip
        else:
            model, frame_skip = _env_model(env, name)
        if model.nq + model.nv != nx or model.nu != 1:
            raise error(
                UsageError,
                "the env's MuJoCo model is not the one this expert balances",
                function=name,
                argument="env",
                expected=f"{plural(nx // 2, 'joint')} and 1 actuator",
                got=f"{plural(model.nq, 'joint')} and {plural(model.nu, 'actuator')}",
                hint=f"this expert is for {self.env_id}",
            )
        if env is None:
            A, B = _default_linearisation(self._xml, frame_skip)
        else:
            A, B = _linearise(mujoco, model, frame_skip)
        self.A, self.B = A, B
        self.gain, _ = dlqr(A, B, Q, R)
        self._low, self._high = (float(v) for v in model.actuator_ctrlrange[0])

    @abc.abstractmethod
    def state(self, obs: Float[Array, "n obs"]) -> Float[Array, "n state"]:
        """The simulator state ``(qpos, qvel)`` of a batch of observations."""

    def act_batch(self, obs: Float[Array, "n obs"]) -> Float[Array, "n 1"]:
        return _feedback(self.state(obs), self.gain, self._low, self._high)


@check
def _feedback(
    x: Float[Array, "n state"],
    gain: Float[Array, "act state"],
    low: float,
    high: float,
) -> Float[Array, "n act"]:
    # Elementwise product and a sum over the last axis, rather than ``x @ gain.T``: BLAS
    # may round a (1, state) and an (n, state) product differently, and a batch must give
    # exactly the actions its rows give one by one.
    u = -(x[:, None, :] * gain[None, :, :]).sum(axis=-1)
    out: np.ndarray[Any, Any] = np.clip(u, low, high)
    return out


@functools.cache
def _default_model(mujoco: ModuleType, xml: str) -> Any:
    return mujoco.MjModel.from_xml_path(_gymnasium_asset(xml))


@functools.cache
def _default_linearisation(
    xml: str, frame_skip: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    # Cached: every expert built without an env shares one linearisation.
    mujoco = _import_mujoco("_default_linearisation")
    A, B = _linearise(mujoco, _default_model(mujoco, xml), frame_skip)
    A.setflags(write=False)
    B.setflags(write=False)
    return A, B


def _env_model(env: Any, function: str) -> tuple[Any, int]:
    inner = getattr(env, "unwrapped", env)
    model = getattr(inner, "model", None)
    frame_skip = getattr(inner, "frame_skip", None)
    if model is None or not isinstance(frame_skip, int):
        raise error(
            UsageError,
            "`env` must be a gymnasium MuJoCo env (with `.model` and `.frame_skip`)",
            function=function,
            argument="env",
            got=fmt_value(env),
            hint="pass the env from gymnasium.make, or leave env=None for the default model",
        )
    return model, frame_skip


@register_expert("InvertedPendulum-v5")
class InvertedPendulumExpert(_UprightLQR):
    """Balances InvertedPendulum-v5 for the full 1000 steps.

    A PD law on the cart position and the pole angle (proportional on the positions,
    derivative on the velocities), its four gains chosen by LQR on the MuJoCo model
    linearised upright. The observation is the state itself: ``(x, theta, x', theta')``.

    Args:
        env: the env to linearise (default: gymnasium's ``inverted_pendulum.xml`` with
            ``frame_skip=2``, what ``gymnasium.make("InvertedPendulum-v5")`` builds).
        q: state weights of the LQR cost, ``(x, theta, x', theta')``; default
            ``(1, 10, 0.1, 0.1)``.
        r: action weight of the LQR cost; default 0.1.

    Examples:
        >>> import numpy as np
        >>> from shapesafe.bc.experts import make_expert
        >>> expert = make_expert("InvertedPendulum-v5")
        >>> expert(np.array([0.0, 0.05, 0.0, 0.0]))  # pole leans right: push right
        array([0.6...], dtype=float32)
    """

    obs_spec = ObsSpec((4,))
    act_spec = ActSpec((1,))
    _xml = "inverted_pendulum.xml"
    _frame_skip = 2
    # The pole angle weighs 10x the cart position; velocities lightly; force is cheap
    # (the action range, +-3, is what limits it).
    _q = (1.0, 10.0, 0.1, 0.1)
    _r = 0.1

    def state(self, obs: Float[Array, "n 4"]) -> Float[Array, "n 4"]:
        return obs


@register_expert("InvertedDoublePendulum-v5")
class InvertedDoublePendulumExpert(_UprightLQR):
    """Balances InvertedDoublePendulum-v5 for the full 1000 steps (return ~9360, the
    most the reward allows: 10 per step less the tip's distance from height 2).

    LQR on the MuJoCo model linearised upright. The v5 observation is ``(x, sin q1,
    sin q2, cos q1, cos q2, x', q1', q2', constraint force)``; the state is recovered as
    ``(x, atan2(sin, cos), velocities)`` (velocities are clipped to +-10 in the
    observation, never reached while balancing), and the constraint force is unused.

    Args:
        env: the env to linearise (default: gymnasium's
            ``inverted_double_pendulum.xml`` with ``frame_skip=5``).
        q: state weights of the LQR cost, ``(x, q1, q2, x', q1', q2')``; default
            ``(1, 10, 10, 0.1, 0.1, 0.1)``.
        r: action weight of the LQR cost; default 1.

    Examples:
        >>> import numpy as np
        >>> from shapesafe.bc.experts import make_expert
        >>> expert = make_expert("InvertedDoublePendulum-v5")
        >>> lean = np.array([0.0, np.sin(0.02), 0.0, np.cos(0.02), 1.0, 0, 0, 0, 0])
        >>> mirror = lean * [1, -1, -1, 1, 1, -1, -1, -1, -1]
        >>> expert(np.stack([lean, mirror]))  # a batch: mirrored states, opposite forces
        array([[-0.0362...],
               [ 0.0362...]], dtype=float32)
    """

    obs_spec = ObsSpec((9,))
    act_spec = ActSpec((1,))
    _xml = "inverted_double_pendulum.xml"
    _frame_skip = 5
    _q = (1.0, 10.0, 10.0, 0.1, 0.1, 0.1)
    _r = 1.0

    def state(self, obs: Float[Array, "n 9"]) -> Float[Array, "n 6"]:
        return _double_pendulum_state(obs)


@check
def _double_pendulum_state(obs: Float[Array, "n 9"]) -> Float[Array, "n 6"]:
    angles = np.arctan2(obs[:, 1:3], obs[:, 3:5])
    return np.concatenate([obs[:, :1], angles, obs[:, 5:8]], axis=1)


# Reacher's arm (reacher.xml): the elbow sits 0.1 from the shoulder, the fingertip 0.11
# from the elbow; both joints turn about z.
_UPPER_ARM = 0.1
_FOREARM = 0.11


@register_expert("Reacher-v5")
class ReacherExpert(Expert):
    """Reaches the target of Reacher-v5: inverse kinematics + joint-space PD.

    From the observation ``(cos q, sin q, target xy, q', fingertip - target)`` it solves
    the two-link arm's inverse kinematics for the target, picks the elbow solution
    nearer the current angles, and drives the joints there with
    ``clip(kp * (q* - q) - kd * q', -1, 1)``. The shoulder is a free joint, so its error
    is wrapped to (-pi, pi]; the elbow is limited to +-3 rad, so its error is not (a
    wrapped error could push it through the limit). The default gains minimise the
    episode cost (distance plus squared action) on a small grid: about -3.5 per
    episode, against about -43 for random actions.

    Args:
        kp: proportional gain (action per radian).
        kd: derivative gain (action per rad/s).

    Examples:
        >>> import numpy as np
        >>> from shapesafe.bc.experts import make_expert
        >>> expert = make_expert("Reacher-v5")
        >>> # arm stretched along x (q = 0); the target needs the elbow at +90 degrees
        >>> obs = np.array([1.0, 1.0, 0.0, 0.0, 0.1, 0.11, 0.0, 0.0, 0.0, 0.0])
        >>> expert(obs)  # kp * (0, pi/2): turn the elbow only
        array([0.       , 0.3926991], dtype=float32)
    """

    obs_spec = ObsSpec((10,))
    act_spec = ActSpec((2,))

    def __init__(self, kp: float = 0.25, kd: float = 0.05) -> None:
        for name, value in (("kp", kp), ("kd", kd)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise error(
                    UsageError,
                    f"`{name}` must be a non-negative number",
                    function="ReacherExpert",
                    argument=name,
                    got=fmt_value(value),
                )
        self.kp = float(kp)
        self.kd = float(kd)

    def act_batch(self, obs: Float[Array, "n 10"]) -> Float[Array, "n 2"]:
        return _reacher_pd(obs, self.kp, self.kd)

    def __repr__(self) -> str:
        return f"ReacherExpert(kp={self.kp}, kd={self.kd})"


@check
def _reacher_pd(obs: Float[Array, "n 10"], kp: float, kd: float) -> Float[Array, "n 2"]:
    q = np.arctan2(obs[:, 2:4], obs[:, 0:2])
    error_ = _joint_error(q, obs[:, 4:6])
    out: np.ndarray[Any, Any] = np.clip(kp * error_ - kd * obs[:, 6:8], -1.0, 1.0)
    return out


@check
def _joint_error(q: Float[Array, "n 2"], target: Float[Array, "n 2"]) -> Float[Array, "n 2"]:
    """``q* - q`` for the inverse-kinematics solution ``q*`` nearer ``q``."""
    reach2 = (target**2).sum(axis=1, keepdims=True)
    cos_elbow = (reach2 - _UPPER_ARM**2 - _FOREARM**2) / (2 * _UPPER_ARM * _FOREARM)
    # Out of reach (|target| > 0.21 or < 0.01; Reacher never samples those): stretch
    # or fold towards it.
    elbow = np.arccos(np.clip(cos_elbow, -1.0, 1.0))
    # Both solutions at once, one per column: elbow bent one way, and the other.
    q2 = np.concatenate([elbow, -elbow], axis=1)
    q1 = np.arctan2(target[:, 1:], target[:, :1]) - np.arctan2(
        _FOREARM * np.sin(q2), _UPPER_ARM + _FOREARM * np.cos(q2)
    )
    shoulder = _wrap(q1 - q[:, :1])
    elbow_error = q2 - q[:, 1:]
    cost = np.abs(shoulder) + np.abs(elbow_error)
    pick = (cost[:, 1] < cost[:, 0]).astype(np.intp)[:, None]
    out: np.ndarray[Any, Any] = np.concatenate(
        [
            np.take_along_axis(shoulder, pick, axis=1),
            np.take_along_axis(elbow_error, pick, axis=1),
        ],
        axis=1,
    )
    return out


def _wrap(angle: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """An angle in [-pi, pi)."""
    out: np.ndarray[Any, Any] = (angle + np.pi) % (2 * np.pi) - np.pi
    return out
