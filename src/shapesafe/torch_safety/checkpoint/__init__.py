"""Checkpoints that are written atomically, verified on load, and never execute pickled
code.

- :mod:`._payload`: what a checkpoint may hold, and the checksum over it (one walk).
- :mod:`.save`: the atomic write, and removal of temporary files dead writers left.
- :mod:`.read`: reading and verifying a file; :class:`CheckpointInfo`, the metadata view.
- :mod:`.load`: copying a verified checkpoint into a module and optimizer, all or nothing.
- :mod:`.compare`: :func:`assert_same_state`.
- :mod:`.rng`: generator state for an exact resume.
"""

from shapesafe.torch_safety.checkpoint.compare import assert_same_state
from shapesafe.torch_safety.checkpoint.load import load_checkpoint
from shapesafe.torch_safety.checkpoint.read import CheckpointInfo, inspect_checkpoint
from shapesafe.torch_safety.checkpoint.rng import capture_rng_state, restore_rng_state
from shapesafe.torch_safety.checkpoint.save import save_checkpoint

__all__ = [
    "CheckpointInfo",
    "assert_same_state",
    "capture_rng_state",
    "inspect_checkpoint",
    "load_checkpoint",
    "restore_rng_state",
    "save_checkpoint",
]
