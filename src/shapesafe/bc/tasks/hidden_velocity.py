"""Hidden velocity: the non-Markov-expert task.

A 2D point mass with inertia must be brought to rest at the origin. The expert is a
PD controller that brakes using the true velocity; the observation is the position
only. One observation cannot tell a point flying through the origin from one resting
there, so a one-step policy learns an average -- a spring without a damper -- and
oscillates round the target. Two consecutive positions give the velocity back
(``v_t = (x_t - x_{t-1}) / dt`` exactly, see :class:`HiddenVelocityEnv`), so a policy
that sees the last few observations (frame stack, recurrent) can match the expert.

Episodes start at rest by default, so that the velocity is recoverable from the first
step on: a frame stack pads an episode's start by repeating its first observation,
which reads as velocity 0 -- the truth. With ``initial_velocity > 0`` the first step
is blind for any policy (nothing observed shows the initial velocity), which puts a
floor under every history policy's cost -- about 1.04x the expert's at
``initial_velocity=1`` (see ``benchmarks/bench_history.py``).
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from shapesafe._format import error, fmt_value
from shapesafe.bc._data import Demonstrations
from shapesafe.bc._validate import whole_number
from shapesafe.errors import UsageError

__all__ = ["HiddenVelocityEnv", "HiddenVelocityExpert", "hidden_velocity_demonstrations"]

DT = 0.1
#: Acceleration per unit of action.
ACCEL = 2.0
MAX_STEPS = 50
#: Within this distance of the origin at the last step counts as a success.
SUCCESS_RADIUS = 0.1


class HiddenVelocityEnv(gym.Env[np.ndarray, np.ndarray]):
    """Bring a 2D point mass to rest at the origin, seeing only its position.

    - state: position and velocity. At reset the position is drawn uniformly from
      ``[-1, 1]^2`` and the point is at rest; ``initial_velocity=s > 0`` draws the
      velocity uniformly from ``[-s, s]^2`` instead (a harder task: no policy can see
      the velocity at the first step, so none can match the expert there).
    - observation: the position only, float32, shape (2,); the velocity is hidden.
    - action: an acceleration in ``[-1, 1]^2`` (clipped), scaled by 2; per step of
      ``dt = 0.1``: ``v += dt * 2 * a`` then ``x += dt * v`` (so the velocity is
      ``(x_t - x_{t-1}) / dt``).
    - reward: ``-|x|`` (distance to the origin) per step; 50 steps per episode
      (truncated), ``info["is_success"]`` when the last position is within 0.1 of it.
      The true state is ``env.unwrapped.state`` (what the expert reads).

    Examples:
        >>> from shapesafe.bc.tasks import HiddenVelocityEnv
        >>> obs, info = HiddenVelocityEnv().reset(seed=0)
        >>> obs.shape
        (2,)
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium's API)

    def __init__(self, max_steps: int = MAX_STEPS, initial_velocity: float = 0.0) -> None:
        self.max_steps = whole_number(max_steps, "max_steps", "HiddenVelocityEnv")
        self.initial_velocity = _speed(initial_velocity)
        self.observation_space = gym.spaces.Box(-10.0, 10.0, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.position = np.zeros(2)
        self.velocity = np.zeros(2)
        self._steps = 0

    @property
    def state(self) -> np.ndarray:
        """The full state ``(x, y, vx, vy)`` (the observation hides the velocity)."""
        return np.concatenate([self.position, self.velocity])

    def _obs(self) -> np.ndarray:
        return np.clip(self.position, -10.0, 10.0).astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.position = self.np_random.uniform(-1.0, 1.0, size=2)
        s = self.initial_velocity
        self.velocity = self.np_random.uniform(-s, s, size=2) if s > 0 else np.zeros(2)
        self._steps = 0
        return self._obs(), {"is_success": False}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
        self.velocity = self.velocity + DT * ACCEL * a
        self.position = self.position + DT * self.velocity
        self._steps += 1
        dist = float(np.linalg.norm(self.position))
        truncated = self._steps >= self.max_steps
        success = truncated and dist < SUCCESS_RADIUS
        return self._obs(), -dist, False, truncated, {"is_success": success}


def _speed(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(value)
        or value < 0
    ):
        raise error(
            UsageError,
            "the initial velocity is drawn from [-initial_velocity, initial_velocity]^2",
            function="HiddenVelocityEnv",
            argument="initial_velocity",
            expected="a finite number >= 0",
            got=fmt_value(value),
            hint="0 (the default) starts every episode at rest; 1 draws the velocity "
            "from [-1, 1]^2",
        )
    return float(value)


class HiddenVelocityExpert:
    """The expert of :class:`HiddenVelocityEnv`: a PD controller on the true state.

    It reads the hidden velocity from ``env.unwrapped`` -- which is what makes it
    non-Markov in the observation. Call it as ``expert(obs) -> action``.

    Examples:
        >>> from shapesafe.bc.tasks import HiddenVelocityEnv, HiddenVelocityExpert
        >>> env = HiddenVelocityEnv()
        >>> obs, _ = env.reset(seed=0)
        >>> HiddenVelocityExpert(env)(obs).shape
        (2,)
    """

    #: Gains: with ACCEL = 2 the closed loop is x'' = -4x - 4x', critically damped.
    KP = 2.0
    KD = 2.0

    def __init__(self, env: gym.Env[Any, Any], noise: float = 0.0, seed: int = 0) -> None:
        self.env = env
        self.noise = float(noise)
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: Any) -> np.ndarray:
        inner: Any = self.env.unwrapped
        a = -self.KP * inner.position - self.KD * inner.velocity
        if self.noise > 0:
            a = a + self.rng.normal(0.0, self.noise, size=2)
        out: np.ndarray = np.clip(a, -1.0, 1.0).astype(np.float32)
        return out


def hidden_velocity_demonstrations(
    episodes: int = 200, seed: int = 0, noise: float = 0.1, initial_velocity: float = 0.0
) -> Demonstrations:
    """Expert demonstrations on :class:`HiddenVelocityEnv`: ``episodes`` episodes of 50
    steps (episode ``i`` from ``env.reset(seed=seed + i)``), with ``episode_ids`` and
    per-step ``rewards`` in ``extras``. ``noise`` is the expert's action noise;
    ``initial_velocity`` is the env's (0: episodes start at rest).

    Examples:
        >>> from shapesafe.bc.tasks import hidden_velocity_demonstrations
        >>> demos = hidden_velocity_demonstrations(4, seed=0)
        >>> len(demos), demos.obs_shape, int(demos.episode_ids.max()) + 1
        (200, (2,), 4)
    """
    from shapesafe.bc._rollout import rollout

    whole_number(seed, "seed", "hidden_velocity_demonstrations", low=0, high=2**31 - 1)
    env = HiddenVelocityEnv(initial_velocity=initial_velocity)
    return rollout(HiddenVelocityExpert(env, noise=noise, seed=seed), env, episodes, seed).demos
