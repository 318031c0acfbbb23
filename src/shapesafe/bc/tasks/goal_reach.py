"""GoalReach: the goal-conditioned task (2D navigation to a goal drawn at every reset).

A point moves in the square ``[-1, 1]^2``; each episode draws a start and a goal
uniformly in it, and the episode succeeds when the point comes within ``0.1`` of the
goal. Observations follow the gymnasium-robotics convention -- a ``Dict`` with
``"observation"`` (the position), ``"achieved_goal"`` (the position again: what the
agent has reached) and ``"desired_goal"`` -- and ``info["is_success"]`` says whether the
goal is reached, so code written for the robotics environments runs here unchanged.

The scripted expert goes straight for its goal at full speed (optionally by way of
random waypoints). What makes the task a test of hindsight relabelling is the data
:func:`goal_reach_demonstrations` collects by default, "play" data: the expert is sent
to goals in one small corner of the square (``goal_region``) from starts everywhere,
and wanders by a random waypoint on its way there. The *states and motions* then
cover the square, but the *goals* do not: a policy trained on the commanded goals has
only ever seen goals in that corner (and actions that often do not head for them),
while evaluation draws goals everywhere. Relabelling a step with a position the
episode reaches later (:func:`~shapesafe.bc.relabel_goals`) turns the same steps into
examples of reaching goals all over the square.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from shapesafe._format import error, fmt_value
from shapesafe.bc._data import Demonstrations
from shapesafe.bc._validate import whole_number
from shapesafe.errors import UsageError

__all__ = [
    "GOAL_REGION",
    "GoalReachEnv",
    "GoalReachExpert",
    "goal_reach_demonstrations",
]

#: Half-width of the square arena.
ARENA = 1.0
#: Distance to the goal that counts as reached.
GOAL_RADIUS = 0.1
#: Position change per unit of action per step.
DT = 0.1
MAX_STEPS = 50
GOAL_REGION = (0.7, 0.7, 0.2)
"""The disk ``(centre x, centre y, radius)`` in one corner of the square that
:func:`goal_reach_demonstrations` draws its commanded goals from by default."""
#: Episode length of the demonstrations: room for a detour by one waypoint (a straight
#: path across the square takes at most 29 steps).
DEMO_MAX_STEPS = 100


class GoalReachEnv(gym.Env[dict[str, Any], np.ndarray]):
    """2D point navigation to a random goal (gymnasium API, gymnasium-robotics style).

    - observation: ``{"observation": (x, y), "achieved_goal": (x, y), "desired_goal":
      (gx, gy)}``, float32 arrays of shape (2,).
    - action: a velocity in ``[-1, 1]^2`` (clipped); the position moves by ``0.1 *
      action`` per step and stays inside the square.
    - reward: ``compute_reward``: ``0`` once the goal is reached, ``-1`` before (the
      sparse reward of the robotics tasks).
    - an episode ends on reaching the goal (``info["is_success"] = True``) or after
      ``max_steps`` steps (truncated).
    - ``reset(options={"goal": (gx, gy)})`` fixes the goal of that episode (the start is
      still drawn from the seed); ``goal_region=(cx, cy, r)`` draws goals uniformly in
      that disk instead of the whole square.

    Examples:
        >>> from shapesafe.bc.tasks import GoalReachEnv
        >>> env = GoalReachEnv()
        >>> obs, info = env.reset(seed=0)
        >>> sorted(obs), obs["desired_goal"].shape, info["is_success"]
        (['achieved_goal', 'desired_goal', 'observation'], (2,), False)
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium's API)

    def __init__(
        self,
        max_steps: int = MAX_STEPS,
        goal_region: tuple[float, float, float] | None = None,
    ) -> None:
        self.max_steps = whole_number(max_steps, "max_steps", "GoalReachEnv")
        self.goal_region = None if goal_region is None else _region(goal_region, "GoalReachEnv")
        box = gym.spaces.Box(-ARENA, ARENA, shape=(2,), dtype=np.float32)
        self.observation_space = gym.spaces.Dict(
            {"observation": box, "achieved_goal": box, "desired_goal": box}
        )
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self._pos = np.zeros(2)
        self._goal = np.zeros(2)
        self._steps = 0

    def _obs(self) -> dict[str, np.ndarray]:
        pos = self._pos.astype(np.float32)
        return {
            "observation": pos,
            "achieved_goal": pos.copy(),
            "desired_goal": self._goal.astype(np.float32),
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        rng = self.np_random
        self._pos = rng.uniform(-ARENA, ARENA, size=2)
        goal = (options or {}).get("goal")
        if goal is not None:
            self._goal = np.clip(np.asarray(goal, dtype=np.float64).reshape(2), -ARENA, ARENA)
        elif self.goal_region is not None:
            self._goal = sample_in_disk(rng, self.goal_region)
        else:
            self._goal = rng.uniform(-ARENA, ARENA, size=2)
        self._steps = 0
        return self._obs(), {"is_success": self._reached()}

    def _reached(self) -> bool:
        return bool(np.linalg.norm(self._pos - self._goal) < GOAL_RADIUS)

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any) -> Any:
        """``0`` where ``achieved_goal`` is within reach of ``desired_goal``, else ``-1``
        (vectorised over leading axes, as in gymnasium-robotics)."""
        d = np.linalg.norm(np.asarray(achieved_goal) - np.asarray(desired_goal), axis=-1)
        return -(d >= GOAL_RADIUS).astype(np.float32)

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
        self._pos = np.clip(self._pos + DT * a, -ARENA, ARENA)
        self._steps += 1
        success = self._reached()
        reward = float(self.compute_reward(self._pos, self._goal, None))
        truncated = not success and self._steps >= self.max_steps
        return self._obs(), reward, success, truncated, {"is_success": success}


def _region(value: Any, function: str) -> tuple[float, float, float]:
    try:
        cx, cy, r = (float(v) for v in value)
    except (TypeError, ValueError):
        cx = cy = r = float("nan")
    if not (np.isfinite([cx, cy, r]).all() and r > 0):
        raise error(
            UsageError,
            f"`goal_region` must be (centre x, centre y, radius > 0), got {fmt_value(value)}",
            function=function,
            argument="goal_region",
            expected="(cx, cy, r) with r > 0",
            got=fmt_value(value),
        )
    return cx, cy, r


def sample_in_disk(rng: np.random.Generator, region: tuple[float, float, float]) -> np.ndarray:
    """A point uniform in the disk ``region = (cx, cy, r)``, clipped to the square."""
    cx, cy, r = region
    angle = rng.uniform(0.0, 2 * np.pi)
    radius = r * np.sqrt(rng.uniform())  # sqrt: uniform over the area, not the radius
    point = np.array([cx + radius * np.cos(angle), cy + radius * np.sin(angle)])
    out: np.ndarray = np.clip(point, -ARENA, ARENA)
    return out


class GoalReachExpert:
    """The scripted expert of :class:`GoalReachEnv`: a callable on the env's ``Dict``
    observation (one dict of ``(2,)`` arrays, or of ``(n, 2)`` arrays for a batch).

    It heads straight for ``desired_goal`` at full speed, slowing down only so as not to
    overshoot it. With ``waypoints=W`` it first visits ``W`` points drawn uniformly in
    the square at each ``reset()`` (a wandering, "play" expert: what its goal says and
    where it goes differ until the last leg). ``noise`` adds Gaussian noise (clipped to
    the action bounds) to each action. Waypoints and noise come from its own seeded
    generator. Called on a batch (``(n, 2)`` arrays), it heads straight for the goals
    (waypoints are per episode of a single env).

    Examples:
        >>> import numpy as np
        >>> from shapesafe.bc.tasks import GoalReachExpert
        >>> obs = {"observation": np.zeros(2), "desired_goal": np.array([0.0, 1.0])}
        >>> GoalReachExpert()(obs)
        array([0., 1.], dtype=float32)
    """

    def __init__(self, seed: int = 0, noise: float = 0.0, waypoints: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.noise = float(noise)
        self.waypoints = whole_number(waypoints, "waypoints", "GoalReachExpert", low=0)
        self._route: list[np.ndarray] = []
        self.reset()

    def reset(self, which: Any = None) -> None:
        """Draw this episode's waypoints (none unless ``waypoints > 0``)."""
        arena = ARENA - GOAL_RADIUS
        self._route = list(self.rng.uniform(-arena, arena, size=(self.waypoints, 2)))

    def __call__(self, obs: Any) -> np.ndarray:
        pos = np.asarray(obs["observation"], dtype=np.float64)
        target = np.asarray(obs["desired_goal"], dtype=np.float64)
        if pos.ndim == 1:
            # the next waypoint not reached yet, if any, comes before the goal
            while self._route and np.linalg.norm(self._route[0] - pos) < GOAL_RADIUS:
                self._route.pop(0)
            if self._route:
                target = self._route[0]
        d = target - pos
        dist = np.linalg.norm(d, axis=-1, keepdims=True)
        # Full speed towards the goal, but no overshoot: the last step lands on it.
        a = d / np.maximum(dist, 1e-9) * np.minimum(1.0, dist / DT)
        if self.noise > 0:
            a = a + self.rng.normal(0.0, self.noise, size=a.shape)
        out: np.ndarray = np.clip(a, -1.0, 1.0).astype(np.float32)
        return out


def goal_reach_demonstrations(
    episodes: int = 200,
    seed: int = 0,
    noise: float = 0.1,
    goal_region: tuple[float, float, float] | None = GOAL_REGION,
    waypoints: int = 1,
) -> Demonstrations:
    """Expert demonstrations on :class:`GoalReachEnv` (episodes of up to 100 steps), for
    goal-conditioned BC.

    Episode ``i`` starts from ``reset(seed=seed + i)``: a start anywhere in the square
    and, by default, a goal in the corner disk ``goal_region`` (``None``: goals
    anywhere), which the expert reaches by way of ``waypoints`` random points (see
    :class:`GoalReachExpert`; ``0``: straight there). ``goals`` holds each step's
    commanded goal, ``extras["achieved_goals"]`` the position reached after the step
    (what :func:`~shapesafe.bc.relabel_goals` draws new goals from), plus ``rewards``,
    ``terminated`` and ``truncated``.

    Examples:
        >>> from shapesafe.bc.tasks import goal_reach_demonstrations
        >>> demos = goal_reach_demonstrations(10, seed=0)
        >>> demos.obs_shape, tuple(demos.goals.shape[1:]), sorted(demos.extras)[:2]
        ((2,), (2,), ['achieved_goals', 'rewards'])
    """
    from shapesafe.bc._goal_rollout import goal_rollout

    whole_number(seed, "seed", "goal_reach_demonstrations", low=0, high=2**31 - 1)
    env = GoalReachEnv(max_steps=DEMO_MAX_STEPS, goal_region=goal_region)
    expert = GoalReachExpert(seed=seed, noise=noise, waypoints=waypoints)
    return goal_rollout(expert, env, episodes, seed).demos
