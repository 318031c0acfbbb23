"""Obstacle: the multimodal-expert task.

A point starts near the origin; the goal sits straight ahead at ``(0, 1)`` and a disk
obstacle sits on the straight line between them. The scripted expert passes the
obstacle on the left or on the right, 50/50 per episode. Both are good; their average
(straight ahead) is not -- which is exactly what a unimodal Gaussian or a deterministic
(MSE) policy learns from these demonstrations.

The observation is the position alone. At the start state the expert's side is a coin
flip (the mode is ambiguous there), but once the agent is off the centre line the
expert's action is a function of the position: it keeps going round on the side it is
on. So a state-based policy that commits to one mode at the start can follow the expert
the rest of the way.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from shapesafe.bc._data import Demonstrations
from shapesafe.bc._validate import whole_number

__all__ = ["ObstacleEnv", "ObstacleExpert", "obstacle_demonstrations"]

#: Geometry (the defaults of :class:`ObstacleEnv`).
GOAL = (0.0, 1.0)
OBSTACLE = (0.0, 0.45)
RADIUS = 0.3
#: Distance to the goal that counts as reached.
GOAL_RADIUS = 0.1
#: Half-width of the uniform noise on the start position.
START_NOISE = 0.005
#: Position change per unit of action per step.
DT = 0.1
MAX_STEPS = 50


class ObstacleEnv(gym.Env[np.ndarray, np.ndarray]):
    """2D point navigation round a disk obstacle (gymnasium API).

    - observation: the position ``(x, y)``, float32, shape (2,).
    - action: a velocity in ``[-1, 1]^2`` (clipped to the bounds); the position moves by
      ``0.1 * action`` per step.
    - reward: progress towards the goal (decrease in distance) per step, +1 on reaching
      the goal, -1 on touching the obstacle; so a return near 2 is a clean success.
    - an episode ends on reaching the goal (``info["is_success"] = True``), on touching
      the obstacle, or after 50 steps (truncated).

    Examples:
        >>> from shapesafe.bc.tasks import ObstacleEnv
        >>> env = ObstacleEnv()
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, env.action_space.shape
        ((2,), (2,))
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium's API)

    def __init__(self, max_steps: int = MAX_STEPS) -> None:
        self.max_steps = whole_number(max_steps, "max_steps", "ObstacleEnv")
        self.goal = np.asarray(GOAL, dtype=np.float64)
        self.obstacle = np.asarray(OBSTACLE, dtype=np.float64)
        self.radius = RADIUS
        self.observation_space = gym.spaces.Box(-2.0, 2.0, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self._pos = np.zeros(2)
        self._steps = 0

    def _obs(self) -> np.ndarray:
        return np.clip(self._pos, -2.0, 2.0).astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._pos = self.np_random.uniform(-START_NOISE, START_NOISE, size=2)
        self._steps = 0
        return self._obs(), {"is_success": False}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
        before = float(np.linalg.norm(self.goal - self._pos))
        self._pos = self._pos + DT * a
        self._steps += 1
        dist = float(np.linalg.norm(self.goal - self._pos))
        reward = before - dist
        hit = bool(np.linalg.norm(self._pos - self.obstacle) < self.radius)
        success = not hit and dist < GOAL_RADIUS
        if hit:
            reward -= 1.0
        elif success:
            reward += 1.0
        terminated = hit or success
        truncated = not terminated and self._steps >= self.max_steps
        return self._obs(), reward, terminated, truncated, {"is_success": success, "hit": hit}


class ObstacleExpert:
    """The scripted expert of :class:`ObstacleEnv`: a callable ``obs -> action``.

    At each episode start (``reset()``) it picks a side, left or right, 50/50 from its
    own seeded generator. Before the obstacle's centre height it heads for a waypoint
    beside the obstacle -- on its chosen side while near the centre line, and on the
    side the agent is on once it is off it -- then straight for the goal, at full
    speed. ``noise`` adds Gaussian noise (clipped to the action bounds) to each action.

    Examples:
        >>> import numpy as np
        >>> from shapesafe.bc.tasks import ObstacleExpert
        >>> expert = ObstacleExpert(seed=0)
        >>> expert(np.array([0.3, 0.2], dtype=np.float32)).round(2)  # right of centre
        array([0.62, 0.78], dtype=float32)
    """

    #: Lateral offset of the waypoints beside the obstacle (radius + margin).
    WAYPOINT_X = RADIUS + 0.2
    #: Within this distance of the centre line the chosen side decides.
    CENTRE = 0.05

    def __init__(self, seed: int = 0, noise: float = 0.0) -> None:
        self.rng = np.random.default_rng(seed)
        self.noise = float(noise)
        self.side = 1.0
        self.reset()

    def reset(self, which: Any = None) -> None:
        """Pick this episode's side (left or right, 50/50)."""
        self.side = 1.0 if self.rng.random() < 0.5 else -1.0

    def __call__(self, obs: Any) -> np.ndarray:
        x, y = (float(v) for v in np.asarray(obs, dtype=np.float64).reshape(2))
        if y < OBSTACLE[1]:
            side = self.side if abs(x) < self.CENTRE else float(np.sign(x))
            target = np.array([side * self.WAYPOINT_X, OBSTACLE[1]])
        else:
            target = np.asarray(GOAL)
        d = target - np.array([x, y])
        # Full speed towards the target, but no overshoot of the goal.
        a = d / max(np.linalg.norm(d), 1e-9) * min(1.0, np.linalg.norm(d) / DT)
        if self.noise > 0:
            a = a + self.rng.normal(0.0, self.noise, size=2)
        out: np.ndarray = np.clip(a, -1.0, 1.0).astype(np.float32)
        return out


def obstacle_demonstrations(
    episodes: int = 200, seed: int = 0, noise: float = 0.1
) -> Demonstrations:
    """Expert demonstrations on :class:`ObstacleEnv`: ``episodes`` episodes (episode
    ``i`` from ``env.reset(seed=seed + i)``), with ``episode_ids`` and per-step
    ``rewards`` in ``extras``. ``noise`` is the expert's action noise (it widens the
    states the demonstrations cover; the expert still succeeds every time).

    Examples:
        >>> from shapesafe.bc.tasks import obstacle_demonstrations
        >>> demos = obstacle_demonstrations(10, seed=0)
        >>> demos.obs_shape, demos.act_shape, int(demos.episode_ids.max()) + 1
        ((2,), (2,), 10)
    """
    from shapesafe.bc._rollout import rollout

    whole_number(seed, "seed", "obstacle_demonstrations", low=0, high=2**31 - 1)
    return rollout(ObstacleExpert(seed=seed, noise=noise), ObstacleEnv(), episodes, seed).demos
