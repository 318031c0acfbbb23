"""Checked distributions: batch, event and sample shapes that cannot silently broadcast.

Every class here *is* a :class:`torch.distributions.Distribution` (a subclass of the
matching torch class), so ``kl_divergence``, ``rsample``, ``entropy``, ``expand`` and any
code written for ``torch.distributions`` keep working. What changes while checks are on
(see :func:`shapesafe.enabled`):

* ``log_prob(value)`` (and ``cdf``/``icdf`` where they exist) takes a ``value`` of shape
  exactly ``sample_shape + batch_shape + event_shape``: sample axes only in front, no
  broadcasting. A value of shape ``(B, 1)`` scored by a distribution with batch ``(B,)``
  raises a :class:`~shapesafe.ShapeError` instead of returning a ``(B, B)`` table. The
  result, of shape ``sample_shape + batch_shape``, is checked too.
* ``sample(sample_shape)`` / ``rsample`` results are checked to be
  ``sample_shape + batch_shape + event_shape``.
* Constructors require parameter shapes to agree (scalars excepted); pass
  ``broadcast=True`` to get torch's broadcasting on purpose. Parameter *values* (positive
  scales, positive-definite covariances, probabilities) are checked whenever torch would
  check them (``validate_args``, on by default), with messages that say what is wrong
  where and how to fix it.
* ``describe()`` prints the three shapes; ``repr`` shows batch and event shapes.
* ``kl_divergence(p, q)`` between two instances of one class needs equal event shapes
  (and, for Categoricals, equal numbers of categories) and equal batch shapes (or one of
  them ``()``, e.g. a fixed prior).
* Under ``torch.compile`` (``fullgraph=True``, dynamic shapes) the shape checks run at
  trace time and a wrong shape raises the same error, catchable as itself; value checks
  are skipped there, as torch skips its own validation under compile.

With checks off, every method is the torch method itself behind one flag read.

Annotations: ``DiagNormal["batch", "act"]`` (or the mypy-friendly
``Dist[DiagNormal, "batch", "act"]``) declares a distribution's batch and event dims for
:func:`shapesafe.check`.

Modules: ``_base`` (the base class), ``_params`` (the declarative parameter table and
its one check loop), ``_constraints`` (value constraints), ``_values`` (messages about
values and results), ``_bounds`` (action bounds ``low``/``high``), ``_annotation``, one
module per family (``normal``, ``tanh_normal``, ``mvn``, ``categorical``,
``multi_categorical``, ``beta``, ``mixture``) and ``kl``.

For RL action spaces: ``Categorical(logits=..., mask=...)`` (legal-action masks),
``MultiCategorical`` (gymnasium ``MultiDiscrete``), ``Beta`` and
``TanhNormal(..., low=..., high=...)`` (``Box`` bounds).
"""

from __future__ import annotations

from shapesafe.distributions import kl as kl
from shapesafe.distributions._annotation import Dist as Dist
from shapesafe.distributions._annotation import DistSpec as DistSpec
from shapesafe.distributions.beta import Beta as Beta
from shapesafe.distributions.categorical import Bernoulli as Bernoulli
from shapesafe.distributions.categorical import Categorical as Categorical
from shapesafe.distributions.mixture import GaussianMixture as GaussianMixture
from shapesafe.distributions.multi_categorical import MultiCategorical as MultiCategorical
from shapesafe.distributions.mvn import MultivariateNormal as MultivariateNormal
from shapesafe.distributions.normal import DiagNormal as DiagNormal
from shapesafe.distributions.normal import Normal as Normal
from shapesafe.distributions.tanh_normal import TanhNormal as TanhNormal

for _public in (
    Bernoulli,
    Beta,
    Categorical,
    DiagNormal,
    DistSpec,
    GaussianMixture,
    MultiCategorical,
    MultivariateNormal,
    Normal,
    TanhNormal,
):
    _public.__module__ = __name__  # what users import, shown in reprs and docs
del _public

__all__ = [
    "Bernoulli",
    "Beta",
    "Categorical",
    "DiagNormal",
    "Dist",
    "DistSpec",
    "GaussianMixture",
    "MultiCategorical",
    "MultivariateNormal",
    "Normal",
    "TanhNormal",
]
