"""Scripted experts for gymnasium's classic-control tasks, from the tasks' own equations.

* ``CartPole-v1``: LQR on the cart-pole linearised about upright, discretised exactly as
  gymnasium integrates it; the push is the sign of the LQR force.
* ``Pendulum-v1``: energy pumping to swing up, LQR (with the reward's own weights) near
  the top.
* ``MountainCarContinuous-v0``: full force in the direction of motion (pumps energy in
  until the car crests the hill).

Each control law is vectorised over a batch of observations in float64; the
:class:`~shapesafe.bc.experts.Expert` base class handles single observations, tensors,
shape checks and the env's action dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from jaxtyping import Float, Int

from shapesafe import check
from shapesafe._format import error, fmt_value
from shapesafe.bc.experts._base import Expert, register_expert
from shapesafe.bc.experts._lqr import dlqr
from shapesafe.bc.policies.base import ActSpec, ObsSpec
from shapesafe.errors import UsageError

__all__ = [
    "CartPoleExpert",
    "MountainCarExpert",
    "PendulumExpert",
    "cartpole_model",
    "pendulum_model",
]

Array = np.ndarray


# ------------------------------------------------------------------ CartPole-v1

#: gymnasium's CartPole constants (``gymnasium/envs/classic_control/cartpole.py``).
CARTPOLE = {
    "gravity": 9.8,
    "masscart": 1.0,
    "masspole": 0.1,
    "length": 0.5,  # half the pole's length
    "force_mag": 10.0,
    "tau": 0.02,
}


def cartpole_model() -> tuple[Float[Array, "4 4"], Float[Array, "4 1"]]:
    """``(A, B)`` of CartPole linearised about upright at rest, per step.

    State ``(x, x_dot, theta, theta_dot)``, control the force in newtons. gymnasium
    integrates with explicit Euler (``x += tau * x_dot`` with the old velocity), so the
    one-step model is exactly ``I + tau * A_c`` and ``tau * B_c`` for the continuous
    Jacobians ``A_c``, ``B_c`` of its equations of motion at ``theta = 0``:
    ``theta_acc = (g theta - F / M) / d`` and
    ``x_acc = F / M - m l theta_acc / M`` with ``M = m_cart + m_pole`` and
    ``d = l (4/3 - m_pole / M)``.
    """
    c = CARTPOLE
    total = c["masscart"] + c["masspole"]
    ml = c["masspole"] * c["length"]
    d = c["length"] * (4.0 / 3.0 - c["masspole"] / total)
    dthacc_dth, dthacc_df = c["gravity"] / d, -1.0 / (total * d)
    dxacc_dth = -ml * dthacc_dth / total
    dxacc_df = 1.0 / total - ml * dthacc_df / total
    Ac = np.array(
        [[0, 1, 0, 0], [0, 0, dxacc_dth, 0], [0, 0, 0, 1], [0, 0, dthacc_dth, 0]], dtype=np.float64
    )
    Bc = np.array([[0.0], [dxacc_df], [0.0], [dthacc_df]])
    tau = c["tau"]
    return np.eye(4) + tau * Ac, tau * Bc


@register_expert("CartPole-v1")
class CartPoleExpert(Expert):
    """LQR for ``CartPole-v1``: push right (action 1) when the LQR force ``-K s`` is
    positive, left (0) otherwise.

    ``K`` solves the discrete Riccati equation (``dlqr``) for the
    linearised model (:func:`cartpole_model`) with costs ``Q = diag(q)``, ``R = r``; the
    bang-bang push of +-10 N is the LQR force's sign. The default weights favour the pole
    angle over the cart's position.

    Examples:
        >>> import numpy as np
        >>> from shapesafe.bc.experts import CartPoleExpert
        >>> expert = CartPoleExpert()
        >>> expert(np.array([0.0, 0.0, 0.05, 0.0]))  # pole leans right: push right
        array(1)
        >>> expert(np.array([[0.0, 0.0, -0.05, 0.0], [0.0, 0.0, 0.05, 0.0]]))
        array([0, 1])
    """

    obs_spec = ObsSpec((4,))
    act_spec = ActSpec((), torch.int64, discrete=2)

    def __init__(self, q: tuple[float, ...] = (1.0, 1.0, 10.0, 1.0), r: float = 0.1) -> None:
        Q = _weights(q, 4, "q", "CartPoleExpert")
        R = np.array([[_positive(r, "r", "CartPoleExpert")]])
        A, B = cartpole_model()
        self.K, self.P = dlqr(A, B, Q, R)

    def act_batch(self, obs: Float[Array, "batch 4"]) -> Int[Array, " batch"]:
        return _cartpole_law(obs, self.K)


@check
def _cartpole_law(obs: Float[Array, "batch 4"], K: Float[Array, "1 4"]) -> Int[Array, " batch"]:
    force = -obs @ K[0]
    out: Int[Array, " batch"] = (force > 0).astype(np.int64)
    return out


# ------------------------------------------------------------------ Pendulum-v1

#: gymnasium's Pendulum constants (``gymnasium/envs/classic_control/pendulum.py``).
PENDULUM = {"g": 10.0, "m": 1.0, "l": 1.0, "dt": 0.05, "max_torque": 2.0, "max_speed": 8.0}


def pendulum_model() -> tuple[Float[Array, "2 2"], Float[Array, "2 1"]]:
    """``(A, B)`` of Pendulum linearised about upright, per step; state
    ``(theta, theta_dot)`` with ``theta = 0`` up, control the torque.

    gymnasium steps ``theta_dot += (3g / 2l sin(theta) + 3 / (m l^2) u) dt`` and then
    ``theta += theta_dot dt`` with the *new* velocity (semi-implicit Euler), so
    ``A = [[1 + a dt^2, dt], [a dt, 1]]`` and ``B = [[b dt^2], [b dt]]`` with
    ``a = 3g / 2l`` and ``b = 3 / (m l^2)``.
    """
    c = PENDULUM
    a = 3 * c["g"] / (2 * c["l"])
    b = 3 / (c["m"] * c["l"] ** 2)
    dt = c["dt"]
    A = np.array([[1 + a * dt * dt, dt], [a * dt, 1.0]])
    B = np.array([[b * dt * dt], [b * dt]])
    return A, B


@register_expert("Pendulum-v1")
class PendulumExpert(Expert):
    """Swing-up by energy pumping, then LQR balancing at the top, for ``Pendulum-v1``.

    The pendulum's energy ``E = (m l^2 / 6) theta_dot^2 + (m g l / 2) cos(theta)``
    (``theta = 0`` up) changes at the rate ``theta_dot * u``, so the torque
    ``u = gain (E_top - E) theta_dot`` (clipped to +-2) pumps energy in until the
    pendulum reaches the top. Within ``capture`` radians of the top it switches to LQR
    (``dlqr`` on :func:`pendulum_model`) with the reward's own weights,
    ``Q = diag(1, 0.1)``, ``R = 0.001``.

    Examples:
        >>> import numpy as np
        >>> from shapesafe.bc.experts import PendulumExpert
        >>> expert = PendulumExpert()
        >>> expert(np.array([1.0, 0.0, 0.0]))  # upright at rest: no torque
        array([0.], dtype=float32)
    """

    obs_spec = ObsSpec((3,))
    act_spec = ActSpec((1,))

    def __init__(self, gain: float = 2.0, capture: float = 0.5) -> None:
        self.gain = _positive(gain, "gain", "PendulumExpert")
        self.capture = _positive(capture, "capture", "PendulumExpert")
        A, B = pendulum_model()
        self.K, self.P = dlqr(A, B, np.diag([1.0, 0.1]), np.array([[0.001]]))

    def act_batch(self, obs: Float[Array, "batch 3"]) -> Float[Array, "batch 1"]:
        return _pendulum_law(obs, self.K, self.gain, self.capture)


@check
def _pendulum_law(
    obs: Float[Array, "batch 3"], K: Float[Array, "1 2"], gain: float, capture: float
) -> Float[Array, "batch 1"]:
    c = PENDULUM
    cos, sin, thdot = obs[:, 0], obs[:, 1], obs[:, 2]
    theta = np.arctan2(sin, cos)  # in (-pi, pi], 0 up
    inertia = c["m"] * c["l"] ** 2 / 3
    energy = 0.5 * inertia * thdot**2 + c["m"] * c["g"] * c["l"] / 2 * cos
    top = c["m"] * c["g"] * c["l"] / 2
    # at rest (thdot = 0, e.g. hanging still) the pumping law gives no torque: kick it
    pump = gain * (top - energy) * np.where(thdot == 0, 1.0, thdot)
    lqr = -(np.stack([theta, thdot], axis=1) @ K[0])
    u = np.where(np.abs(theta) < capture, lqr, pump)
    # + 0.0 turns -0.0 (a zero LQR torque) into 0.0
    out: Float[Array, "batch 1"] = np.clip(u, -c["max_torque"], c["max_torque"])[:, None] + 0.0
    return out


# ------------------------------------------------------------------ MountainCarContinuous-v0


@register_expert("MountainCarContinuous-v0")
class MountainCarExpert(Expert):
    """Full force in the direction of motion, for ``MountainCarContinuous-v0``.

    Pushing along the velocity adds ``force * power * |velocity|`` of energy every step,
    the most any action can, so the car rocks higher each swing until it crests the hill.
    At rest it pushes ``start`` (-1: left, up the near slope, which the first swing
    needs anyway). ``force`` < 1 spends less per step (the reward charges
    ``0.1 a^2``) but needs more swings.

    Examples:
        >>> import numpy as np
        >>> from shapesafe.bc.experts import MountainCarExpert
        >>> MountainCarExpert()(np.array([[-0.5, 0.01], [-0.5, -0.01], [-0.5, 0.0]]))
        array([[ 1.],
               [-1.],
               [-1.]], dtype=float32)
    """

    obs_spec = ObsSpec((2,))
    act_spec = ActSpec((1,))

    def __init__(self, force: float = 1.0, start: float = -1.0) -> None:
        self.force = _positive(force, "force", "MountainCarExpert")
        if self.force > 1.0:
            raise error(
                UsageError,
                "the force is clipped to 1 by the env; more is not a stronger push",
                function="MountainCarExpert",
                argument="force",
                expected="a number in (0, 1]",
                got=fmt_value(force),
            )
        if start not in (-1.0, 1.0):
            raise error(
                UsageError,
                "the first push must be -1 (left) or 1 (right)",
                function="MountainCarExpert",
                argument="start",
                got=fmt_value(start),
            )
        self.start = float(start)

    def act_batch(self, obs: Float[Array, "batch 2"]) -> Float[Array, "batch 1"]:
        velocity = obs[:, 1]
        direction = np.where(velocity == 0, self.start, np.sign(velocity))
        out: Float[Array, "batch 1"] = (self.force * direction)[:, None]
        return out


# ------------------------------------------------------------------ argument checks


def _positive(value: Any, name: str, owner: str) -> float:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or value <= 0:
        raise error(
            UsageError,
            f"`{name}` must be a positive number",
            function=owner,
            argument=name,
            got=fmt_value(value),
        )
    return float(value)


def _weights(values: Any, n: int, name: str, owner: str) -> Float[Array, "n n"]:
    try:
        w = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        w = np.zeros(0)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise error(
            UsageError,
            f"`{name}` must be {n} positive weights, one per state variable",
            function=owner,
            argument=name,
            got=fmt_value(values),
        )
    return np.diag(w)
