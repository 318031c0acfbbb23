"""Typed RL helpers: only what RL code repeats and gets wrong.

Every function is annotated and checked: all of its per-sample arguments share one
batch shape exactly (no broadcasting), so the ``(B,)``-vs-``(B, 1)`` mix-up that
silently trains on a ``(B, B)`` matrix in plain torch is an error naming the argument.
Rollout quantities are time-major, ``(time, *batch)``; see :func:`gae` for the
convention on ``next_values``, ``terminated`` and ``truncated``.

>>> import torch
>>> from shapesafe.rl import td_target
>>> td_target(torch.ones(4), torch.ones(4, 1), torch.zeros(4, dtype=torch.bool))
Traceback (most recent call last):
...
shapesafe.ShapeError: td_target(): argument `next_values`: expected shape (*batch,) = (4,) ...
"""

from shapesafe.rl._losses import clipped_surrogate_loss as clipped_surrogate_loss
from shapesafe.rl._losses import value_loss as value_loss
from shapesafe.rl._returns import discounted_returns as discounted_returns
from shapesafe.rl._returns import gae as gae
from shapesafe.rl._returns import n_step_returns as n_step_returns
from shapesafe.rl._targets import double_dqn_target as double_dqn_target
from shapesafe.rl._targets import q_select as q_select
from shapesafe.rl._targets import soft_q_target as soft_q_target
from shapesafe.rl._targets import td_target as td_target
from shapesafe.rl._update import polyak_update as polyak_update

__all__ = [
    "clipped_surrogate_loss",
    "discounted_returns",
    "double_dqn_target",
    "gae",
    "n_step_returns",
    "polyak_update",
    "q_select",
    "soft_q_target",
    "td_target",
    "value_loss",
]
