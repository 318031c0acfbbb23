"""hypothesis strategies for distribution parameters: valid by construction.

Every strategy takes the shape it should produce (a tuple, an int, or a strategy of
shapes, e.g. ``shapesafe.testing.shapes("batch")``) and returns ``torch.Tensor`` values
(``float32`` unless ``dtype=`` says otherwise) that torch.distributions accepts:

* :func:`locs` - finite means;
* :func:`scales` - standard deviations, positive, spread log-uniformly;
* :func:`logits` - unnormalized log-probabilities, last axis = categories;
* :func:`probability_vectors` - rows on the simplex (positive, summing to 1);
* :func:`probabilities` - Bernoulli probabilities strictly inside (0, 1);
* :func:`scale_trils` / :func:`covariance_matrices` - lower-triangular Cholesky factors
  with a positive diagonal / symmetric positive-definite matrices, well conditioned.

Values are generated in float64 and rounded once to ``dtype``, so symmetric matrices stay
exactly symmetric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from shapesafe._format import error, fmt_shape
from shapesafe.errors import UsageError

__all__ = [
    "covariance_matrices",
    "locs",
    "logits",
    "probabilities",
    "probability_vectors",
    "scale_trils",
    "scales",
]

ShapeArg = int | Sequence[int] | st.SearchStrategy[Any]


def _shape(shape: ShapeArg) -> st.SearchStrategy[tuple[int, ...]]:
    if isinstance(shape, st.SearchStrategy):
        return shape.map(lambda s: tuple(int(x) for x in s))
    if isinstance(shape, int):
        return st.just((shape,))
    return st.just(tuple(int(x) for x in shape))


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _array(shape: tuple[int, ...], elements: st.SearchStrategy[float]) -> st.SearchStrategy[Any]:
    return hnp.arrays(np.float64, shape, elements=elements)


def _to_torch(arr: Any, dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor(np.asarray(arr), dtype=dtype)


def _check_range(name: str, lo: float, hi: float, *, positive: bool = False) -> None:
    if not lo <= hi or (positive and lo <= 0):
        need = f"{'0 < ' if positive else ''}min_value <= max_value"
        raise error(
            UsageError,
            f"need {need}, got {lo} and {hi}",
            function=name,
            argument="min_value",
            expected=need,
            got=f"{lo} and {hi}",
        )


def locs(
    shape: ShapeArg, *, bound: float = 10.0, dtype: torch.dtype = torch.float32
) -> st.SearchStrategy[torch.Tensor]:
    """Finite means in ``[-bound, bound]`` of the given shape.

    >>> from shapesafe.testing import locs
    >>> locs((3, 2)).example().shape
    torch.Size([3, 2])
    """
    _check_range("locs", -bound, bound)
    elements = _floats(-bound, bound)
    return _shape(shape).flatmap(lambda s: _array(s, elements)).map(lambda a: _to_torch(a, dtype))


def scales(
    shape: ShapeArg,
    *,
    min_value: float = 0.05,
    max_value: float = 20.0,
    dtype: torch.dtype = torch.float32,
) -> st.SearchStrategy[torch.Tensor]:
    """Positive standard deviations in ``[min_value, max_value]``, log-uniformly spread.

    >>> from shapesafe.testing import scales
    >>> bool((scales(4).example() > 0).all())
    True
    """
    _check_range("scales", min_value, max_value, positive=True)
    elements = _floats(math.log(min_value), math.log(max_value))
    return (
        _shape(shape)
        .flatmap(lambda s: _array(s, elements))
        .map(lambda a: _to_torch(np.clip(np.exp(a), min_value, max_value), dtype))
    )


def logits(
    shape: ShapeArg, *, bound: float = 8.0, dtype: torch.dtype = torch.float32
) -> st.SearchStrategy[torch.Tensor]:
    """Unnormalized log-probabilities in ``[-bound, bound]``; the last axis is the
    categories (``shape`` is ``(*batch, K)``; Bernoulli logits have any shape).

    >>> from shapesafe.testing import logits
    >>> logits((2, 5)).example().shape
    torch.Size([2, 5])
    """
    return locs(shape, bound=bound, dtype=dtype)


def probability_vectors(
    shape: ShapeArg, *, min_weight: float = 0.01, dtype: torch.dtype = torch.float32
) -> st.SearchStrategy[torch.Tensor]:
    """Rows on the probability simplex: positive, each last-axis row summing to 1
    (``shape`` is ``(*batch, K)``). No entry is below ``min_weight / K``.

    >>> import torch
    >>> from shapesafe.testing import probability_vectors
    >>> p = probability_vectors((3, 4)).example()
    >>> torch.allclose(p.sum(-1), torch.ones(3))
    True
    """
    _check_range("probability_vectors", min_weight, 1.0, positive=True)
    elements = _floats(min_weight, 1.0)

    def normalize(a: Any) -> torch.Tensor:
        return _to_torch(a / a.sum(-1, keepdims=True), dtype)

    def build(s: tuple[int, ...]) -> st.SearchStrategy[torch.Tensor]:
        if len(s) < 1 or s[-1] < 1:
            raise error(
                UsageError,
                f"shape {fmt_shape(s)} needs a last axis (the categories) of size >= 1",
                function="probability_vectors",
                argument="shape",
                expected="(*batch, K) with K >= 1",
                got=fmt_shape(s),
            )
        return _array(s, elements).map(normalize)

    if not isinstance(shape, st.SearchStrategy):
        return build((shape,) if isinstance(shape, int) else tuple(shape))
    return _shape(shape).flatmap(build)


def probabilities(
    shape: ShapeArg, *, eps: float = 1e-3, dtype: torch.dtype = torch.float32
) -> st.SearchStrategy[torch.Tensor]:
    """Bernoulli probabilities in ``[eps, 1 - eps]``.

    >>> from shapesafe.testing import probabilities
    >>> p = probabilities(8).example()
    >>> bool(((p > 0) & (p < 1)).all())
    True
    """
    _check_range("probabilities", eps, 1 - eps, positive=True)
    elements = _floats(eps, 1 - eps)
    return _shape(shape).flatmap(lambda s: _array(s, elements)).map(lambda a: _to_torch(a, dtype))


def _tril64(s: tuple[int, ...], dim: int, lo: float, hi: float) -> st.SearchStrategy[Any]:
    full = (*s, dim, dim)
    return st.tuples(
        _array(full, _floats(-1.0, 1.0)), _array((*s, dim), _floats(math.log(lo), math.log(hi)))
    ).map(lambda t: np.tril(t[0], -1) + _diag_embed(np.exp(t[1])))


def _diag_embed(d: Any) -> Any:
    out = np.zeros((*d.shape, d.shape[-1]), dtype=d.dtype)
    idx = np.arange(d.shape[-1])
    out[..., idx, idx] = d
    return out


def scale_trils(
    batch_shape: ShapeArg,
    dim: int,
    *,
    min_diag: float = 0.3,
    max_diag: float = 3.0,
    dtype: torch.dtype = torch.float32,
) -> st.SearchStrategy[torch.Tensor]:
    """Lower-triangular ``dim x dim`` factors of shape ``(*batch_shape, dim, dim)``:
    diagonal in ``[min_diag, max_diag]``, entries below it in ``[-1, 1]``.

    >>> from shapesafe.testing import scale_trils
    >>> scale_trils((3,), 2).example().shape
    torch.Size([3, 2, 2])
    """
    _check_range("scale_trils", min_diag, max_diag, positive=True)
    return (
        _shape(batch_shape)
        .flatmap(lambda s: _tril64(s, dim, min_diag, max_diag))
        .map(lambda a: _to_torch(a, dtype))
    )


def covariance_matrices(
    batch_shape: ShapeArg,
    dim: int,
    *,
    jitter: float = 0.1,
    dtype: torch.dtype = torch.float32,
) -> st.SearchStrategy[torch.Tensor]:
    """Symmetric positive-definite matrices of shape ``(*batch_shape, dim, dim)``:
    ``L @ L.T + jitter * I`` with ``L`` from :func:`scale_trils`, so every eigenvalue is at
    least ``jitter``. Also valid as precision matrices.

    >>> import torch
    >>> from shapesafe.testing import covariance_matrices
    >>> c = covariance_matrices((3,), 2).example()
    >>> bool((torch.linalg.eigvalsh(c) > 0).all()), torch.equal(c, c.mT)
    (True, True)
    """
    if not jitter > 0:
        raise error(
            UsageError,
            f"jitter must be > 0, got {jitter}",
            function="covariance_matrices",
            argument="jitter",
            expected="> 0",
            got=repr(jitter),
        )

    def cov(tril: Any) -> torch.Tensor:
        c = tril @ np.swapaxes(tril, -1, -2) + jitter * np.eye(dim)
        return _to_torch((c + np.swapaxes(c, -1, -2)) / 2, dtype)

    return _shape(batch_shape).flatmap(lambda s: _tril64(s, dim, 0.3, 3.0)).map(cov)
