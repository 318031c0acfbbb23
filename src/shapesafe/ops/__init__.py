"""Checked everyday tensor ops: the places where RL code goes silently wrong, made loud.

Each function here does exactly what its plain torch/numpy counterpart does on valid
input and raises a :class:`~shapesafe.ShapeError` (with a ``hint:`` line) where the
plain op would silently do something else:

* :func:`take_along` -- the ``q[b, a[b]]`` pattern (Q-values of the taken actions);
* :func:`gather` -- ``torch.gather`` that refuses an index smaller than the input;
* :func:`squeeze` -- requires the axis and refuses to "squeeze" an axis that is not 1;
* :func:`unsqueeze` and :func:`newaxis` -- numpy's ``np.expand_dims`` / ``x[:, None]``;
* :func:`reshape` and :func:`flatten` -- reshapes that cannot mix the batch axis into
  the feature axes.

All of them accept numpy arrays as well as torch tensors (never a mix of the two).
When checks are disabled (:func:`shapesafe.disable`), they skip the checks and return the
same result. Under ``torch.compile`` (``fullgraph=True``, static or dynamic shapes) the
checks run once, at trace time, and their errors reach the caller as themselves.

Modules: ``_indexing`` (take_along, gather), ``_axes`` (squeeze, unsqueeze, newaxis),
``_reshape`` and ``_pattern`` (reshape, flatten), ``_common`` (shared validation).
"""

from __future__ import annotations

from shapesafe.ops._axes import newaxis, squeeze, unsqueeze
from shapesafe.ops._indexing import gather, take_along
from shapesafe.ops._reshape import flatten, reshape

__all__ = [
    "flatten",
    "gather",
    "newaxis",
    "reshape",
    "squeeze",
    "take_along",
    "unsqueeze",
]
