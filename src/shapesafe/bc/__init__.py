"""Typed behaviour cloning: demonstrations, policies, a fast fit loop.

>>> from shapesafe.bc import GaussianPolicy, cubic_demonstrations, fit
>>> demos = cubic_demonstrations(1000, seed=0)
>>> policy = GaussianPolicy(obs_dim=2, act_dim=2, hidden=(32, 32))
>>> result = fit(policy, demos, epochs=1, lr=0.01, progress=False)
"""

from shapesafe.bc._data import Batch as Batch
from shapesafe.bc._data import Demonstrations as Demonstrations
from shapesafe.bc._fit import FitResult as FitResult
from shapesafe.bc._fit import NonFiniteLossError as NonFiniteLossError
from shapesafe.bc._fit import evaluate as evaluate
from shapesafe.bc._fit import fit as fit
from shapesafe.bc._fit import plot_losses as plot_losses
from shapesafe.bc._policies import ACTIVATIONS as ACTIVATIONS
from shapesafe.bc._policies import DeterministicPolicy as DeterministicPolicy
from shapesafe.bc._policies import GaussianPolicy as GaussianPolicy
from shapesafe.bc._policies import Policy as Policy
from shapesafe.bc._policies import build_policy as build_policy
from shapesafe.bc._policies import mlp as mlp
from shapesafe.bc._toy import CUBIC_EXPERT_STD as CUBIC_EXPERT_STD
from shapesafe.bc._toy import cubic_demonstrations as cubic_demonstrations
from shapesafe.bc._toy import cubic_expert_mean as cubic_expert_mean

__all__ = [
    "ACTIVATIONS",
    "CUBIC_EXPERT_STD",
    "Batch",
    "Demonstrations",
    "DeterministicPolicy",
    "FitResult",
    "GaussianPolicy",
    "NonFiniteLossError",
    "Policy",
    "build_policy",
    "cubic_demonstrations",
    "cubic_expert_mean",
    "evaluate",
    "fit",
    "mlp",
    "plot_losses",
]
