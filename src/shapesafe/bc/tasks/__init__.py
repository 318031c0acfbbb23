"""Built-in tasks where plain behaviour cloning fails, with scripted experts (no downloads).

- :class:`ObstacleEnv` (multimodal expert): pass a disk obstacle left or right.
- :class:`HiddenVelocityEnv` (non-Markov expert): drive a point mass whose velocity is
  not observed.
- :class:`GoalReachEnv` (goal-conditioned): reach a goal drawn at every reset; score it
  with :func:`shapesafe.bc.evaluate_goal_reaching` (``shapesafe/GoalReach-v0``).

Each comes with its expert (a callable ``obs -> action``) and a ``*_demonstrations``
helper; score a policy on them with :func:`shapesafe.bc.evaluate_in_env`. Importing
this module registers them with gymnasium as ``shapesafe/Obstacle-v0`` and
``shapesafe/HiddenVelocity-v0`` (``gymnasium.make`` works too).
"""

import gymnasium as gym

from shapesafe.bc.tasks.goal_reach import GOAL_REGION as GOAL_REGION
from shapesafe.bc.tasks.goal_reach import GoalReachEnv as GoalReachEnv
from shapesafe.bc.tasks.goal_reach import GoalReachExpert as GoalReachExpert
from shapesafe.bc.tasks.goal_reach import goal_reach_demonstrations as goal_reach_demonstrations
from shapesafe.bc.tasks.hidden_velocity import HiddenVelocityEnv as HiddenVelocityEnv
from shapesafe.bc.tasks.hidden_velocity import HiddenVelocityExpert as HiddenVelocityExpert
from shapesafe.bc.tasks.hidden_velocity import (
    hidden_velocity_demonstrations as hidden_velocity_demonstrations,
)
from shapesafe.bc.tasks.obstacle import ObstacleEnv as ObstacleEnv
from shapesafe.bc.tasks.obstacle import ObstacleExpert as ObstacleExpert
from shapesafe.bc.tasks.obstacle import obstacle_demonstrations as obstacle_demonstrations

__all__ = [
    "GOAL_REGION",
    "GoalReachEnv",
    "GoalReachExpert",
    "HiddenVelocityEnv",
    "HiddenVelocityExpert",
    "ObstacleEnv",
    "ObstacleExpert",
    "goal_reach_demonstrations",
    "hidden_velocity_demonstrations",
    "obstacle_demonstrations",
]

# Registered at import (gymnasium's convention for third-party envs); idempotent so a
# module reload does not warn about overriding an id.
for _id, _entry in (
    ("shapesafe/Obstacle-v0", "shapesafe.bc.tasks.obstacle:ObstacleEnv"),
    ("shapesafe/HiddenVelocity-v0", "shapesafe.bc.tasks.hidden_velocity:HiddenVelocityEnv"),
    ("shapesafe/GoalReach-v0", "shapesafe.bc.tasks.goal_reach:GoalReachEnv"),
):
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=_entry)
