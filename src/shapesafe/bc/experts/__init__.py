"""Scripted experts for gymnasium tasks: callables ``obs -> action`` that demonstrate.

An expert takes one observation ``(*obs,)`` or a batch ``(n, *obs)`` (numpy or torch)
and returns the matching action(s) in the env's action format; it declares ``obs_spec``
and ``act_spec`` so :func:`~shapesafe.bc.rollout` can check it against the env.
:func:`make_expert` builds the registered expert of a gymnasium id.

>>> import gymnasium as gym
>>> from shapesafe.bc import rollout
>>> from shapesafe.bc.experts import make_expert
>>> r = rollout(make_expert("CartPole-v1"), gym.make("CartPole-v1"), episodes=2, seed=0)
>>> r.returns.tolist()
[500.0, 500.0]
"""

from shapesafe.bc.experts._base import Expert as Expert
from shapesafe.bc.experts._base import expert_ids as expert_ids
from shapesafe.bc.experts._base import make_expert as make_expert
from shapesafe.bc.experts._base import register_expert as register_expert
from shapesafe.bc.experts.classic import CartPoleExpert as CartPoleExpert
from shapesafe.bc.experts.classic import MountainCarExpert as MountainCarExpert
from shapesafe.bc.experts.classic import PendulumExpert as PendulumExpert
from shapesafe.bc.experts.classic import cartpole_model as cartpole_model
from shapesafe.bc.experts.classic import pendulum_model as pendulum_model
from shapesafe.bc.experts.mujoco import InvertedDoublePendulumExpert as InvertedDoublePendulumExpert
from shapesafe.bc.experts.mujoco import InvertedPendulumExpert as InvertedPendulumExpert
from shapesafe.bc.experts.mujoco import ReacherExpert as ReacherExpert

__all__ = [
    "CartPoleExpert",
    "Expert",
    "InvertedDoublePendulumExpert",
    "InvertedPendulumExpert",
    "MountainCarExpert",
    "PendulumExpert",
    "ReacherExpert",
    "cartpole_model",
    "expert_ids",
    "make_expert",
    "pendulum_model",
    "register_expert",
]
