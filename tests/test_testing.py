from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from jaxtyping import Bool, Float, Float64, Int, Shaped, UInt8
from torch import Tensor

import shapesafe
from shapesafe import AnnotationError
from shapesafe.testing import (
    from_annotation,
    from_signature,
    shapes,
    tensors,
    wrong_dtypes,
    wrong_shapes,
)

# Annotations exercising every kind of dim jaxtyping has.
ANNOTATIONS = [
    Float[Tensor, "batch act"],
    Float[Tensor, ""],
    Int[Tensor, "batch"],
    Float[Tensor, "*batch 3"],
    Float[Tensor, "batch ... act"],
    Float[Tensor, "n n"],
    Float[Tensor, "#n 2"],
    Float[Tensor, "_ k=4 k"],
    Float[Tensor, "n n+1"],
    Bool[Tensor, "b"],
    Float64[np.ndarray, "b d"],
    UInt8[Tensor, "h w c"],
    Shaped[Tensor, "a b"],
]
ids = [f"{a.dtype.__name__}[{a.array_type.__name__}, {a.dim_str!r}]" for a in ANNOTATIONS]


def jaxtyping_accepts(value: Any, annotation: Any) -> bool:
    """Independent reference: jaxtyping's own isinstance check."""
    return isinstance(value, annotation)


# --------------------------------------------------------------------------------------
# tensors / shapes


@pytest.mark.values
@given(st.data())
def test_tensors_dtype_shape_and_elements(data: st.DataObject) -> None:
    dtype = data.draw(
        st.sampled_from([torch.float32, torch.float64, torch.bfloat16, torch.int64, torch.bool])
    )
    shape = data.draw(shapes(max_dims=3, max_side=4))
    x = data.draw(tensors(dtype, shape))
    assert isinstance(x, torch.Tensor) and x.dtype == dtype and tuple(x.shape) == shape
    if dtype.is_floating_point:
        assert torch.isfinite(x).all()
    bounded = data.draw(tensors(torch.int64, shape, elements=st.integers(0, 2)))
    assert ((bounded >= 0) & (bounded <= 2)).all()


@pytest.mark.values
@given(tensors(np.float64, shapes(min_dims=1, max_dims=2)), tensors(shape=3))
def test_tensors_accepts_numpy_dtypes_and_int_shapes(x: Tensor, y: Tensor) -> None:
    assert x.dtype == torch.float64 and x.ndim >= 1
    assert y.shape == (3,) and y.dtype == torch.float32


@given(shapes(min_dims=1, max_dims=3, min_side=2, max_side=5))
def test_plain_shapes_respect_bounds(shape: tuple[int, ...]) -> None:
    assert 1 <= len(shape) <= 3 and all(2 <= s <= 5 for s in shape)


@pytest.mark.values
@pytest.mark.parametrize("annotation", ANNOTATIONS, ids=ids)
@given(data=st.data())
def test_shapes_satisfy_the_annotation(annotation: Any, data: st.DataObject) -> None:
    shape = data.draw(shapes(annotation))
    value = np.zeros(shape) if annotation.array_type is np.ndarray else torch.zeros(shape)
    assert shapesafe.check_shape(value, annotation.dim_str) is not None
    assert jaxtyping_accepts(value, Shaped[type(value), annotation.dim_str])


@given(shapes("batch 3", dims={"batch": st.integers(5, 6)}))
def test_shapes_from_dim_string_with_dims(shape: tuple[int, ...]) -> None:
    assert shape[1] == 3 and shape[0] in (5, 6)


# --------------------------------------------------------------------------------------
# from_annotation / from_signature


@pytest.mark.values
@pytest.mark.parametrize("annotation", ANNOTATIONS, ids=ids)
@given(data=st.data())
def test_from_annotation_satisfies_jaxtyping(annotation: Any, data: st.DataObject) -> None:
    value = data.draw(from_annotation(annotation))
    assert jaxtyping_accepts(value, annotation)
    shapesafe.check_shape(value, annotation)


@pytest.mark.values
@given(
    from_annotation(
        {"q": Float[Tensor, "batch act"], "a": Int[Tensor, "batch"], "x": Float[Tensor, "*b obs"]},
        dims={"act": 3, "b": (2, 5)},
    )
)
def test_from_annotation_dict_shares_bindings(batch: dict[str, Tensor]) -> None:
    assert batch["q"].shape == (batch["a"].shape[0], 3)
    assert batch["x"].shape[:2] == (2, 5)
    assert batch["a"].dtype == torch.int64


@pytest.mark.values
@given(
    from_annotation(
        (Float[Tensor, "n d"], Float[Tensor, "d"]),
        dims={"d": st.integers(2, 3)},
        dtype=torch.float64,
        elements=st.floats(0, 1),
    )
)
def test_from_annotation_tuple_dtype_and_elements(pair: tuple[Tensor, Tensor]) -> None:
    x, mu = pair
    assert isinstance(pair, tuple) and x.shape[1] == mu.shape[0] in (2, 3)
    assert x.dtype == mu.dtype == torch.float64
    assert ((x >= 0) & (x <= 1)).all()


def td_target(
    rewards: Float[Tensor, "batch"], q_next: Float[Tensor, "batch"], gamma: float = 0.99
) -> Float[Tensor, "batch"]:
    return rewards + gamma * q_next


@pytest.mark.values
@given(from_signature(td_target, dims={"batch": st.integers(1, 4)}))
def test_from_signature_draws_fitting_arguments(kwargs: dict[str, Tensor]) -> None:
    assert set(kwargs) == {"rewards", "q_next"}
    assert td_target(**kwargs).shape == kwargs["rewards"].shape


def test_construction_errors() -> None:
    def no_annotation(x: Any) -> None: ...

    with pytest.raises(
        AnnotationError, match=r"parameter `x` .* has no jaxtyping array annotation"
    ):
        from_signature(no_annotation)
    with pytest.raises(AnnotationError, match=r"expected a jaxtyping annotation .* got 3"):
        from_annotation(3)
    with pytest.raises(AnnotationError, match=r"cannot parse dim string"):
        shapes("a, b")
    with pytest.raises(AnnotationError, match=r"must be a concrete size"):
        wrong_shapes("a", dims={"a": st.just(2)})  # type: ignore[dict-item]
    with pytest.raises(AnnotationError, match=r"every shape satisfies '\.\.\.'"):
        wrong_shapes(Float[Tensor, "..."])
    with pytest.raises(AnnotationError, match=r"accepts every dtype"):
        wrong_dtypes(Shaped[Tensor, "a"])
    with pytest.raises(AnnotationError, match=r"unknown dtype"):
        tensors("not a dtype")


# --------------------------------------------------------------------------------------
# wrong_shapes / wrong_dtypes


@pytest.mark.parametrize(
    ("annotation", "dims"),
    [
        (Float[Tensor, "batch act"], {}),
        (Float[Tensor, "batch act"], {"act": 3}),
        (Float[Tensor, "*batch 3"], {}),
        (Float[Tensor, "*batch act"], {"batch": (2, 3)}),
        (Float[Tensor, "n n"], {}),
        (Float[Tensor, "#n 2"], {"n": 4}),
        (Float[Tensor, "n n+1"], {}),
        (Float[Tensor, "_ k=4"], {}),
        (Float[Tensor, ""], {}),
    ],
    ids=lambda v: repr(v) if isinstance(v, dict) else None,
)
@given(data=st.data())
def test_wrong_shapes_are_rejected(
    annotation: Any, dims: dict[str, Any], data: st.DataObject
) -> None:
    shape = data.draw(wrong_shapes(annotation, dims=dims))
    value = torch.zeros(shape)
    with pytest.raises(shapesafe.ShapeError, match=r"check_shape\(\): argument `value`"):
        shapesafe.check_shape(value, annotation, dims=dims)
    if not dims:  # without external bindings jaxtyping itself is the reference
        assert not jaxtyping_accepts(value, annotation)


@given(wrong_dtypes(Float[Tensor, "b"]), wrong_dtypes(Int[Tensor, "b"]))
def test_wrong_dtypes_are_rejected(not_float: torch.dtype, not_int: torch.dtype) -> None:
    assert not jaxtyping_accepts(torch.zeros(2, dtype=not_float), Float[Tensor, "b"])
    assert not jaxtyping_accepts(torch.zeros(2, dtype=not_int), Int[Tensor, "b"])
    with pytest.raises(shapesafe.DtypeError, match=r"dtype"):
        shapesafe.check_shape(torch.zeros(2, dtype=not_float), Float[Tensor, "b"])


class _Critic(torch.nn.Module):
    def __init__(self, obs_dim: int) -> None:
        super().__init__()
        self.obs_dim = obs_dim
        self.net = torch.nn.Linear(obs_dim, 1)

    @shapesafe.check
    def forward(self, obs: Float[Tensor, "batch {self.obs_dim}"]) -> Float[Tensor, "batch"]:
        return self.net(obs).squeeze(-1)


@given(data=st.data(), obs_dim=st.integers(1, 6))
def test_module_bound_dims_are_drawn_at_the_size_given(data: st.DataObject, obs_dim: int) -> None:
    critic = _Critic(obs_dim)
    drawn = data.draw(
        from_annotation(
            {
                "a": Float[Tensor, "batch {self.obs_dim}"],
                "b": Float[Tensor, "batch obs={self.obs_dim}"],
            },
            dims={"self.obs_dim": obs_dim},
        )
    )
    assert drawn["a"].shape[1] == obs_dim and drawn["b"].shape == drawn["a"].shape
    assert critic(drawn["a"]).shape == (drawn["a"].shape[0],)  # the checker agrees
    alias = data.draw(shapes("batch obs={self.obs_dim}", dims={"obs": obs_dim}))
    assert alias[1] == obs_dim


def test_module_bound_dims_without_a_size_are_refused_at_construction() -> None:
    with pytest.raises(AnnotationError, match=r"from_annotation\(\): the axis \{self.obs_dim\}"):
        from_annotation(Float[Tensor, "batch {self.obs_dim}"])
    with pytest.raises(AnnotationError, match=r"shapes\(\): .*dims=\{'self.n': N\} \(or 'n'\)"):
        shapes("batch n={self.n}")
