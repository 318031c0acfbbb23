"""Policy kinds by name: how ``build_policy``, checkpoints and the CLI find a class.

A policy class registers itself when it is defined -- ``class MyPolicy(Policy,
kind="my-policy")`` -- so a class in the user's own file rebuilds from its checkpoint
without any edit to this library. The registry is a plain dict because defining classes
happens at import time, under the import lock; nothing here runs per step.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from shapesafe._format import error, fmt_value
from shapesafe.errors import CheckpointError, UsageError

if TYPE_CHECKING:
    from shapesafe.bc.policies.base import Policy

__all__ = ["build_policy", "load_policy", "policy_kinds", "register"]

_REGISTRY: dict[str, type[Policy]] = {}


def register(kind: str, cls: type[Policy]) -> None:
    """Record ``cls`` under ``kind`` (called by ``Policy.__init_subclass__``).

    Redefining the same class (a reloaded module, a notebook cell run twice) replaces the
    old entry; a *different* class claiming a taken kind is refused, since checkpoints
    would then silently rebuild the wrong policy."""
    if not isinstance(kind, str) or not kind:
        raise error(
            UsageError,
            f"a policy kind must be a non-empty string, got {fmt_value(kind)}",
            function=f"{cls.__qualname__} (class definition)",
            argument="kind",
        )
    old = _REGISTRY.get(kind)
    if old is not None and not _same_definition(old, cls):
        raise error(
            UsageError,
            f"policy kind {kind!r} is already taken by {old.__module__}.{old.__qualname__}",
            function=f"{cls.__qualname__} (class definition)",
            argument="kind",
            hint="choose another kind name for this class",
        )
    _REGISTRY[kind] = cls


def _same_definition(a: type, b: type) -> bool:
    """The same class statement, maybe executed twice (a reload, or a file imported once
    by pytest and once by ``shapesafe train --import path.py`` under another name)."""
    if a.__qualname__ != b.__qualname__:
        return False
    if a.__module__ == b.__module__:
        return True
    files = [getattr(sys.modules.get(c.__module__), "__file__", None) for c in (a, b)]
    return files[0] is not None and files[0] == files[1]


def policy_kinds() -> list[str]:
    """The registered policy kinds, sorted (the built-ins plus any class defined so far).

    Examples:
        >>> from shapesafe.bc import policy_kinds
        >>> {"deterministic", "gaussian", "mixture"} <= set(policy_kinds())
        True
    """
    return sorted(_REGISTRY)


def build_policy(config: Mapping[str, Any]) -> Policy:
    """Rebuild a policy from its :attr:`Policy.config` (as stored in checkpoints): the
    class registered under ``config["kind"]``, called with the other entries as keyword
    arguments.

    Examples:
        >>> from shapesafe.bc import GaussianPolicy, build_policy
        >>> build_policy(GaussianPolicy(2, 2).config).act_dim
        2
    """
    fn = "build_policy"
    if not isinstance(config, Mapping):
        raise error(
            UsageError,
            f"expected a policy config (a dict with a 'kind'), got {fmt_value(config)}",
            function=fn,
            argument="config",
        )
    cfg = dict(config)
    kind = cfg.pop("kind", None)
    cls = _REGISTRY.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise UsageError(
            f"{fn}(): unknown policy kind {kind!r}; known kinds: {', '.join(policy_kinds())}\n"
            "  hint: import the module that defines the policy class before rebuilding it",
            function=fn,
            argument="config",
            expected=", ".join(policy_kinds()),
            got=repr(kind),
            hint="import the module that defines the policy class before rebuilding it",
        )
    try:
        return cls(**cfg)
    except TypeError as exc:
        raise UsageError(
            f"{fn}(): cannot build a {kind} policy from {dict(config)!r}: {exc}",
            function=fn,
            argument="config",
            got=str(exc),
        ) from None


def load_policy(path: str | os.PathLike[str], device: torch.device | str | None = None) -> Policy:
    """A trained policy, ready to act: rebuilt from the checkpoint at ``path`` (written
    by ``fit``, ``shapesafe train`` or ``save_checkpoint(..., policy_config=...)``), its
    weights loaded and verified, moved to ``device`` and put in eval mode.

    Examples:
        >>> from shapesafe import save_checkpoint
        >>> from shapesafe.bc import GaussianPolicy, load_policy
        >>> policy = GaussianPolicy(2, 2)
        >>> _ = save_checkpoint("policy.pt", policy, policy_config=policy.config)
        >>> load_policy("policy.pt").training
        False
    """
    from shapesafe import inspect_checkpoint, load_checkpoint

    fn = "load_policy"
    if not isinstance(path, (str, os.PathLike)):
        raise error(
            UsageError, f"expected a file path, got {fmt_value(path)}", function=fn, argument="path"
        )
    if not os.path.isfile(path):
        raise error(
            CheckpointError,
            f"no checkpoint file at {str(path)!r}",
            function=fn,
            argument="path",
        )
    config = inspect_checkpoint(path).metadata.get("policy_config")
    if not isinstance(config, Mapping):
        raise error(
            CheckpointError,
            f"{str(path)!r} holds no policy description (no `policy_config` metadata)",
            function=fn,
            argument="path",
            hint="use a checkpoint written by fit(checkpoint_dir=...) or 'shapesafe train', "
            "or save one with save_checkpoint(path, policy, policy_config=policy.config)",
        )
    policy = build_policy(config)
    load_checkpoint(path, policy)
    if device is not None:
        policy.to(device)
    return policy.eval()
