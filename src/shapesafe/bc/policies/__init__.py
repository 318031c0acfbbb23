"""Policies: the interface (``base``), the registry, and one module per family."""

from shapesafe.bc.policies.autoregressive import AutoregressivePolicy as AutoregressivePolicy
from shapesafe.bc.policies.base import ActSpec as ActSpec
from shapesafe.bc.policies.base import LossOutput as LossOutput
from shapesafe.bc.policies.base import ObsSpec as ObsSpec
from shapesafe.bc.policies.base import Policy as Policy
from shapesafe.bc.policies.categorical import CategoricalPolicy as CategoricalPolicy
from shapesafe.bc.policies.chunking import ChunkingPolicy as ChunkingPolicy
from shapesafe.bc.policies.cvae import CVAEPolicy as CVAEPolicy
from shapesafe.bc.policies.deterministic import DeterministicPolicy as DeterministicPolicy
from shapesafe.bc.policies.diffusion import DiffusionPolicy as DiffusionPolicy
from shapesafe.bc.policies.gaussian import GaussianPolicy as GaussianPolicy
from shapesafe.bc.policies.history import FrameStackPolicy as FrameStackPolicy
from shapesafe.bc.policies.mixture import MixturePolicy as MixturePolicy
from shapesafe.bc.policies.mlp import ACTIVATIONS as ACTIVATIONS
from shapesafe.bc.policies.mlp import FlatPolicy as FlatPolicy
from shapesafe.bc.policies.mlp import mlp as mlp
from shapesafe.bc.policies.recurrent import RecurrentPolicy as RecurrentPolicy
from shapesafe.bc.policies.registry import build_policy as build_policy
from shapesafe.bc.policies.registry import load_policy as load_policy
from shapesafe.bc.policies.registry import policy_kinds as policy_kinds

__all__ = [
    "ACTIVATIONS",
    "ActSpec",
    "AutoregressivePolicy",
    "CVAEPolicy",
    "CategoricalPolicy",
    "ChunkingPolicy",
    "DeterministicPolicy",
    "DiffusionPolicy",
    "FlatPolicy",
    "FrameStackPolicy",
    "GaussianPolicy",
    "LossOutput",
    "MixturePolicy",
    "ObsSpec",
    "Policy",
    "RecurrentPolicy",
    "build_policy",
    "load_policy",
    "mlp",
    "policy_kinds",
]
