"""Built-in tasks where plain behaviour cloning fails, with scripted experts (no downloads).

- :class:`ObstacleEnv` (multimodal expert): pass a disk obstacle left or right.
- :class:`HiddenVelocityEnv` (non-Markov expert): drive a point mass whose velocity is
  not observed.

Each comes with its expert (a callable ``obs -> action``) and a ``*_demonstrations``
helper; score a policy on them with :func:`shapesafe.bc.evaluate_in_env`. Importing
this module registers them with gymnasium as ``shapesafe/Obstacle-v0`` and
``shapesafe/HiddenVelocity-v0`` (``gymnasium.make`` works too).
"""

import gymnasium as gym

from shapesafe.bc.tasks.hidden_velocity import HiddenVelocityEnv as HiddenVelocityEnv
from shapesafe.bc.tasks.hidden_velocity import HiddenVelocityExpert as HiddenVelocityExpert
from shapesafe.bc.tasks.hidden_velocity import (
    hidden_velocity_demonstrations as hidden_velocity_demonstrations,
)
from shapesafe.bc.tasks.obstacle import ObstacleEnv as ObstacleEnv
from shapesafe.bc.tasks.obstacle import ObstacleExpert as ObstacleExpert
from shapesafe.bc.tasks.obstacle import obstacle_demonstrations as obstacle_demonstrations

__all__ = [
    "HiddenVelocityEnv",
    "HiddenVelocityExpert",
    "ObstacleEnv",
    "ObstacleExpert",
    "hidden_velocity_demonstrations",
    "obstacle_demonstrations",
]

# Registered at import (gymnasium's convention for third-party envs); idempotent so a
# module reload does not warn about overriding an id.
for _id, _entry in (
    ("shapesafe/Obstacle-v0", "shapesafe.bc.tasks.obstacle:ObstacleEnv"),
    ("shapesafe/HiddenVelocity-v0", "shapesafe.bc.tasks.hidden_velocity:HiddenVelocityEnv"),
):
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=_entry)
