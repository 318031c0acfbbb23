"""Old private path, kept for importers outside the torch-safety package (tests of the
bc and CLI areas); the code lives in :mod:`shapesafe.torch_safety.checkpoint`."""

from shapesafe.torch_safety.checkpoint import (
    CheckpointInfo as CheckpointInfo,
)
from shapesafe.torch_safety.checkpoint import (
    assert_same_state as assert_same_state,
)
from shapesafe.torch_safety.checkpoint import (
    capture_rng_state as capture_rng_state,
)
from shapesafe.torch_safety.checkpoint import (
    inspect_checkpoint as inspect_checkpoint,
)
from shapesafe.torch_safety.checkpoint import (
    load_checkpoint as load_checkpoint,
)
from shapesafe.torch_safety.checkpoint import (
    restore_rng_state as restore_rng_state,
)
from shapesafe.torch_safety.checkpoint import (
    save_checkpoint as save_checkpoint,
)
