"""hypothesis strategies for property tests of shape-annotated code.

``shapesafe.testing`` needs hypothesis (``pip install shapesafe[test]``). See
:func:`tensors`, :func:`shapes`, :func:`from_annotation`, :func:`from_signature`,
:func:`wrong_shapes` and :func:`wrong_dtypes`; for distribution parameters
:func:`locs`, :func:`scales`, :func:`logits`, :func:`probability_vectors`,
:func:`probabilities`, :func:`scale_trils` and :func:`covariance_matrices`.
"""

from shapesafe.testing._distributions import covariance_matrices as covariance_matrices
from shapesafe.testing._distributions import locs as locs
from shapesafe.testing._distributions import logits as logits
from shapesafe.testing._distributions import probabilities as probabilities
from shapesafe.testing._distributions import probability_vectors as probability_vectors
from shapesafe.testing._distributions import scale_trils as scale_trils
from shapesafe.testing._distributions import scales as scales
from shapesafe.testing._tensors import from_annotation as from_annotation
from shapesafe.testing._tensors import from_signature as from_signature
from shapesafe.testing._tensors import shapes as shapes
from shapesafe.testing._tensors import tensors as tensors
from shapesafe.testing._wrong import wrong_dtypes as wrong_dtypes
from shapesafe.testing._wrong import wrong_shapes as wrong_shapes

__all__ = [
    "covariance_matrices",
    "from_annotation",
    "from_signature",
    "locs",
    "logits",
    "probabilities",
    "probability_vectors",
    "scale_trils",
    "scales",
    "shapes",
    "tensors",
    "wrong_dtypes",
    "wrong_shapes",
]
