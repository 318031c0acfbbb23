"""Typed behaviour cloning: demonstrations, a typed batch, open policies, a fast fit loop.

>>> from shapesafe.bc import GaussianPolicy, cubic_demonstrations, fit
>>> demos = cubic_demonstrations(1000, seed=0)
>>> policy = GaussianPolicy(obs_dim=2, act_dim=2, hidden=(32, 32))
>>> result = fit(policy, demos, epochs=1, lr=0.01, progress=False)
"""

from shapesafe.bc._batch import Batch as Batch
from shapesafe.bc._dagger import DaggerRecord as DaggerRecord
from shapesafe.bc._dagger import DaggerResult as DaggerResult
from shapesafe.bc._dagger import dagger as dagger
from shapesafe.bc._dagger_mixture import BetaMixture as BetaMixture
from shapesafe.bc._dagger_mixture import BetaSchedule as BetaSchedule
from shapesafe.bc._dagger_mixture import beta_schedule as beta_schedule
from shapesafe.bc._data import Demonstrations as Demonstrations
from shapesafe.bc._evaluate import evaluate as evaluate
from shapesafe.bc._evaluate import plot_losses as plot_losses
from shapesafe.bc._fit import FitResult as FitResult
from shapesafe.bc._fit import NonFiniteLossError as NonFiniteLossError
from shapesafe.bc._fit import fit as fit
from shapesafe.bc._goal_rollout import evaluate_goal_reaching as evaluate_goal_reaching
from shapesafe.bc._goal_rollout import goal_rollout as goal_rollout
from shapesafe.bc._minari import from_minari as from_minari
from shapesafe.bc._minari import to_minari as to_minari
from shapesafe.bc._provenance import load_evaluation as load_evaluation
from shapesafe.bc._relabel import relabel_goals as relabel_goals
from shapesafe.bc._rollout import EnvEvaluation as EnvEvaluation
from shapesafe.bc._rollout import Rollouts as Rollouts
from shapesafe.bc._rollout import evaluate_in_env as evaluate_in_env
from shapesafe.bc._rollout import rollout as rollout
from shapesafe.bc._sampler import EpochSampler as EpochSampler
from shapesafe.bc._toy import cubic_demonstrations as cubic_demonstrations
from shapesafe.bc._toy import cubic_expert_mean as cubic_expert_mean
from shapesafe.bc._toy import cubic_expert_std as cubic_expert_std
from shapesafe.bc._windows import action_chunks as action_chunks
from shapesafe.bc._windows import history_windows as history_windows
from shapesafe.bc.policies import ACTIVATIONS as ACTIVATIONS
from shapesafe.bc.policies import ActSpec as ActSpec
from shapesafe.bc.policies import AutoregressivePolicy as AutoregressivePolicy
from shapesafe.bc.policies import CategoricalPolicy as CategoricalPolicy
from shapesafe.bc.policies import ChunkingPolicy as ChunkingPolicy
from shapesafe.bc.policies import CVAEPolicy as CVAEPolicy
from shapesafe.bc.policies import DeterministicPolicy as DeterministicPolicy
from shapesafe.bc.policies import DiffusionPolicy as DiffusionPolicy
from shapesafe.bc.policies import FrameStackPolicy as FrameStackPolicy
from shapesafe.bc.policies import GaussianPolicy as GaussianPolicy
from shapesafe.bc.policies import LossOutput as LossOutput
from shapesafe.bc.policies import MixturePolicy as MixturePolicy
from shapesafe.bc.policies import ObsSpec as ObsSpec
from shapesafe.bc.policies import Policy as Policy
from shapesafe.bc.policies import RecurrentPolicy as RecurrentPolicy
from shapesafe.bc.policies import build_policy as build_policy
from shapesafe.bc.policies import load_policy as load_policy
from shapesafe.bc.policies import mlp as mlp
from shapesafe.bc.policies import policy_kinds as policy_kinds

__all__ = [
    "ACTIVATIONS",
    "ActSpec",
    "AutoregressivePolicy",
    "Batch",
    "BetaMixture",
    "BetaSchedule",
    "CVAEPolicy",
    "CategoricalPolicy",
    "ChunkingPolicy",
    "DaggerRecord",
    "DaggerResult",
    "Demonstrations",
    "DeterministicPolicy",
    "DiffusionPolicy",
    "EnvEvaluation",
    "EpochSampler",
    "FitResult",
    "FrameStackPolicy",
    "GaussianPolicy",
    "LossOutput",
    "MixturePolicy",
    "NonFiniteLossError",
    "ObsSpec",
    "Policy",
    "RecurrentPolicy",
    "Rollouts",
    "action_chunks",
    "beta_schedule",
    "build_policy",
    "cubic_demonstrations",
    "cubic_expert_mean",
    "cubic_expert_std",
    "dagger",
    "evaluate",
    "evaluate_goal_reaching",
    "evaluate_in_env",
    "fit",
    "from_minari",
    "goal_rollout",
    "history_windows",
    "load_evaluation",
    "load_policy",
    "mlp",
    "plot_losses",
    "policy_kinds",
    "relabel_goals",
    "rollout",
    "to_minari",
]
