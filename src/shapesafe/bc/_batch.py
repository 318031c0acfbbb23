"""The one currency of behaviour cloning: a typed minibatch.

``Demonstrations`` yields :class:`Batch` objects and every policy's ``loss`` consumes
them. Older code and replay buffers hand out other containers -- a pair
``(observations, actions)`` or a dict ``{"obs": ..., "act": ...}`` -- so :func:`as_batch`
converts those once, at the policy's boundary, and refuses anything else with a
:class:`~shapesafe.DataError` that names the keys it looked for. Shapes are not checked
here: only the policy knows what it expects (see ``Policy.check_batch``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from shapesafe._format import error, fmt_value
from shapesafe.errors import DataError

__all__ = ["ACT_KEYS", "OBS_KEYS", "Batch", "as_batch"]

# Names accepted for the two required fields (first one preferred): the long names of
# this library, then the short names replay buffers and d4rl-style files use.
OBS_KEYS = ("observations", "obs", "states")
ACT_KEYS = ("actions", "acts", "act")
_GOAL_KEYS = ("goals", "goal")
_MASK_KEYS = ("masks", "mask")


@dataclass(frozen=True, eq=False)
class Batch:
    """A minibatch: ``observations`` (batch, obs…) and ``actions`` (batch, act…), with
    optional ``goals`` (batch, goal…), ``masks`` (batch,) and ``extras`` (batch, …) that
    ride along (rewards, next observations, anything a policy's loss needs).

    Iterating yields ``(observations, actions)``, so ``obs, act = batch`` keeps working
    where a pair was used before.

    Examples:
        >>> import torch
        >>> from shapesafe.bc import Batch
        >>> batch = Batch(torch.zeros(4, 3), torch.zeros(4, 2))
        >>> obs, act = batch
        >>> batch.size, obs.shape
        (4, torch.Size([4, 3]))
    """

    observations: Tensor
    actions: Tensor
    goals: Tensor | None = None
    masks: Tensor | None = None
    extras: Mapping[str, Tensor] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Tensor]:
        yield self.observations
        yield self.actions

    @property
    def size(self) -> int:
        """Number of rows (the leading axis of ``observations``)."""
        return int(self.observations.shape[0])

    def to(self, device: torch.device | str) -> Batch:
        """The same batch on ``device``."""
        return Batch(
            self.observations.to(device),
            self.actions.to(device),
            None if self.goals is None else self.goals.to(device),
            None if self.masks is None else self.masks.to(device),
            {k: v.to(device) for k, v in self.extras.items()},
        )


def _pick(mapping: Mapping[Any, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for k in keys:
        if k in mapping:
            return k, mapping[k]
    return None, None


def _from_mapping(value: Mapping[Any, Any], function: str) -> Batch:
    obs_key, obs = _pick(value, OBS_KEYS)
    act_key, act = _pick(value, ACT_KEYS)
    if obs_key is None or act_key is None:
        missing = OBS_KEYS if obs_key is None else ACT_KEYS
        found = ", ".join(repr(k) for k in value) or "no keys"
        raise error(
            DataError,
            f"a mapping needs an observations key ({' / '.join(map(repr, OBS_KEYS))}) and "
            f"an actions key ({' / '.join(map(repr, ACT_KEYS))}); "
            f"none of {' / '.join(map(repr, missing))} found (keys: {found})",
            function=function,
            argument="batch",
            expected=f"keys {OBS_KEYS[1]!r} and {ACT_KEYS[2]!r} (or their long names)",
            got=found,
        )
    _, goals = _pick(value, _GOAL_KEYS)
    _, masks = _pick(value, _MASK_KEYS)
    used = {obs_key, act_key, *_GOAL_KEYS, *_MASK_KEYS}
    extras = {k: v for k, v in value.items() if k not in used and isinstance(k, str)}
    return Batch(obs, act, goals, masks, extras)


def as_batch(value: Any, function: str) -> Batch:
    """``value`` as a :class:`Batch`: a Batch as is, a pair ``(observations, actions)``,
    or a mapping with an observations and an actions key (see :data:`OBS_KEYS`,
    :data:`ACT_KEYS`; ``goals``/``masks`` are picked up, other keys become extras).
    Anything else is a :class:`DataError` naming ``function``."""
    if isinstance(value, Batch):
        return value
    if isinstance(value, Mapping):
        return _from_mapping(value, function)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return Batch(value[0], value[1])
    got = fmt_value(value)
    if isinstance(value, Tensor):
        got = f"a tensor of shape {tuple(value.shape)}"
    raise error(
        DataError,
        f"expected a Batch, a pair (observations, actions) or a mapping with 'obs' and "
        f"'act' keys, got {got}",
        function=function,
        argument="batch",
        expected="Batch, (observations, actions) or {'obs': ..., 'act': ...}",
        got=got,
        hint="pass demos.sample(batch_size) or (obs, actions)",
    )
