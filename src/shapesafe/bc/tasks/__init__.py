"""Built-in tasks where plain behaviour cloning fails, with scripted experts (no downloads).

- :class:`ObstacleEnv` (multimodal expert): pass a disk obstacle left or right.
- :class:`HiddenVelocityEnv` (non-Markov expert): drive a point mass whose velocity is
  not observed.

Each comes with its expert (a callable ``obs -> action``) and a ``*_demonstrations``
helper; score a policy on them with :func:`shapesafe.bc.evaluate_in_env`.
"""

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
