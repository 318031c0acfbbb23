"""The full wording of every message from ``shapesafe.ops`` and ``shapesafe.strict``.

Other tests assert the structured fields plus one fragment; rewording a message touches
only this table. Each row: (case, call, error class, exact ``str(err)``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest
import torch

import shapesafe
from shapesafe import AnnotationError, DtypeError, ShapeError, UsageError
from shapesafe.ops import flatten, gather, newaxis, reshape, squeeze, take_along, unsqueeze
from shapesafe.strict import strict_broadcasting

# fmt: off
MESSAGES: list[tuple[str, Callable[[], object], type[shapesafe.ShapesafeError], str]] = [
    ('take_along_trailing_unit_axis', lambda: take_along(torch.zeros(64, 4), torch.zeros(64, 1, dtype=torch.long)), ShapeError, 'take_along(): argument `index` axis 1: must have the shape of `values` without its last axis\n  expected: (64,)\n  got: (64, 1)\n  hint: `index` has a trailing axis of size 1; did you mean index.squeeze(-1)?'),
    ('take_along_wrong_leading_dims', lambda: take_along(torch.zeros(2, 3, 5), torch.zeros(2, 1, dtype=torch.long), dim=1), ShapeError, 'take_along(): argument `index` axis 1: must have the shape of `values` (2, 3, 5) without axis 1\n  expected: (2, 5)\n  got: (2, 1)\n  hint: axis 1 of `index` has size 1 but `values` has 5 there; take_along does not broadcast -- expand explicitly if that is what you mean'),
    ('take_along_full_shape_index', lambda: take_along(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long)), ShapeError, 'take_along(): argument `index`: must have the shape of `values` without its last axis\n  expected: (2,)\n  got: (2, 3)\n  hint: `index` has the shape of `values`; for torch.gather semantics (one index per output element) use shapesafe.ops.gather'),
    ('take_along_float_index', lambda: take_along(torch.zeros(4, 3), torch.zeros(4)), DtypeError, 'take_along(): argument `index`: must have an integer dtype\n  expected: an integer dtype\n  got: float32\n  hint: indices must be integers; if `index` holds whole numbers, convert it with index.long() (torch) or index.astype(np.int64) (numpy)'),
    ('take_along_bool_index', lambda: take_along(torch.zeros(4, 3), torch.zeros(4, dtype=torch.bool)), DtypeError, 'take_along(): argument `index`: must have an integer dtype\n  expected: an integer dtype\n  got: bool\n  hint: `index` is a boolean mask; to select with a mask use values[mask], or convert it with index.long() if it holds 0/1 indices'),
    ('take_along_out_of_range', lambda: take_along(torch.zeros(2, 3), torch.tensor([2, 3])), ShapeError, 'take_along(): argument `index`: entry 3 at position (1,) is out of range for axis 1 of `values` of size 3\n  expected: 0 <= index < 3\n  got: 3\n  hint: check that the index was built for this tensor (e.g. the action space size)'),
    ('take_along_negative', lambda: take_along(torch.zeros(2, 3), torch.tensor([2, -1])), ShapeError, 'take_along(): argument `index`: entry -1 at position (1,) is out of range for axis 1 of `values` of size 3\n  expected: 0 <= index < 3\n  got: -1\n  hint: negative indices are not wrapped around here (torch.gather refuses them too); use index % 3 if you really mean counting from the end'),
    ('take_along_mixed_kinds', lambda: take_along(torch.zeros(2, 3), np.zeros(2, dtype=np.int64)), DtypeError, 'take_along(): argument `index`: cannot mix torch tensors and numpy arrays: `values` is a torch.Tensor, `index` is a numpy.ndarray\n  expected: a torch.Tensor\n  got: a numpy.ndarray\n  hint: convert one side, e.g. torch.as_tensor(index) or tensor.numpy()'),
    ('take_along_not_an_array', lambda: take_along([[1.0]], torch.zeros(1, dtype=torch.long)), DtypeError, 'take_along(): argument `values`: must be a torch.Tensor or numpy.ndarray\n  expected: torch.Tensor or numpy.ndarray\n  got: a list of 1 item\n  hint: convert it first, e.g. torch.as_tensor(x) or np.asarray(x)'),
    ('take_along_dim_out_of_range', lambda: take_along(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), dim=2), ShapeError, 'take_along(): argument `dim`: 2 is out of range for `values` of shape (2, 3) with 2 axes\n  expected: an int in -2..1\n  got: 2'),
    ('take_along_dim_not_int', lambda: take_along(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), dim='1'), DtypeError, "take_along(): argument `dim`: must be an int\n  expected: an int\n  got: the str '1'"),
    ('take_along_0d_values', lambda: take_along(torch.tensor(1.0), torch.tensor(0)), ShapeError, 'take_along(): argument `values`: is 0-d; it needs the axis to take along\n  expected: at least 1 axis\n  got: ()'),
    ('gather_smaller_index', lambda: gather(torch.arange(6).reshape(2, 3), 0, torch.tensor([[0], [1]])), ShapeError, 'gather(): argument `index` axis 1: must match `input` (2, 3) on every axis but 0\n  expected: size 3\n  got: size 1 (shape (2, 1))\n  hint: torch.gather would silently read only the first 1 of the 3 entries of `input` along axis 1; if that is what you want, slice `input` explicitly: gather(input[:, :1], 0, index)'),
    ('gather_larger_index', lambda: gather(torch.arange(6).reshape(2, 3), 1, torch.zeros(3, 3, dtype=torch.long)), ShapeError, 'gather(): argument `index` axis 0: must match `input` (2, 3) on every axis but 1\n  expected: size 2\n  got: size 3 (shape (3, 3))\n  hint: `index` is larger than `input` along axis 0, which only axis 1 may be'),
    ('gather_rank', lambda: gather(torch.arange(6).reshape(2, 3), 1, torch.zeros(2, dtype=torch.long)), ShapeError, 'gather(): argument `index`: must have as many axes as `input` (2, 3)\n  expected: 2 axes\n  got: (2,)\n  hint: for one index per row (the q[b, a[b]] pattern) use shapesafe.ops.take_along(input, index, dim)'),
    ('gather_uint64_huge', lambda: gather(torch.zeros(2, 3), 1, torch.tensor([[0], [-1]]).view(torch.uint64)), ShapeError, 'gather(): argument `index`: entry 18446744073709551615 at position (1, 0) is out of range for axis 1 of `input` of size 3\n  expected: 0 <= index < 3\n  got: 18446744073709551615\n  hint: check that the index was built for this tensor (e.g. the action space size)'),
    ('squeeze_non_unit', lambda: squeeze(torch.zeros(10, 1, 4), 2), ShapeError, "squeeze(): argument `x` axis 2: has size 4, not 1 (`x` has shape (10, 1, 4))\n  expected: size 1\n  got: size 4\n  hint: the size-1 axes of `x` are (1,); torch's x.squeeze(2) would silently return `x` unchanged"),
    ('squeeze_no_unit_axes', lambda: squeeze(np.zeros((3, 4)), 0), ShapeError, "squeeze(): argument `x` axis 0: has size 3, not 1 (`x` has shape (3, 4))\n  expected: size 1\n  got: size 3\n  hint: `x` has no size-1 axes; torch's x.squeeze(0) would silently return `x` unchanged"),
    ('squeeze_out_of_range', lambda: squeeze(torch.zeros(3, 1), 3), ShapeError, 'squeeze(): argument `dim`: 3 is out of range for `x` of shape (3, 1) with 2 axes\n  expected: an int in -2..1\n  got: 3'),
    ('squeeze_twice', lambda: squeeze(torch.zeros(3, 1), (1, -1)), UsageError, 'squeeze(): argument `dim`: names the same axis twice for `x` of shape (3, 1)\n  expected: distinct axes\n  got: (1, -1)'),
    ('squeeze_empty', lambda: squeeze(torch.zeros(3, 1), ()), UsageError, 'squeeze(): argument `dim`: is empty; name the axes to remove\n  expected: an int or a non-empty tuple of ints\n  got: ()'),
    ('squeeze_float_dim', lambda: squeeze(torch.zeros(3, 1), 1.0), DtypeError, 'squeeze(): argument `dim`: must be an int\n  expected: an int\n  got: the float 1.0'),
    ('unsqueeze_no_axes', lambda: unsqueeze(torch.zeros(2)), UsageError, 'unsqueeze(): argument `dims`: no axes given; name where to insert them\n  expected: at least one int\n  got: ()'),
    ('unsqueeze_twice', lambda: unsqueeze(torch.zeros(2), 1, -2), UsageError, 'unsqueeze(): argument `dims`: name the same result axis twice (the result has 3 axes)\n  expected: distinct axes\n  got: (1, -2)'),
    ('unsqueeze_out_of_range', lambda: unsqueeze(torch.zeros(2), 3), ShapeError, 'unsqueeze(): argument `dims`: 3 is out of range for the result (1 + 1 axes) with 2 axes\n  expected: an int in -2..1\n  got: 3'),
    ('newaxis_rank', lambda: newaxis(np.zeros((10, 4, 2)))[:, None], ShapeError, 'newaxis(): argument `x`: index [:, None] keeps 1 axis with `:` but `x` has shape (10, 4, 2)\n  expected: 1 axis\n  got: 3 axes\n  hint: write one `:` per axis of `x`, or `...` for "the rest"; numpy would silently keep the missing trailing axes'),
    ('newaxis_rank_with_ellipsis', lambda: newaxis(torch.zeros(10, 4, 2))[:, :, :, None, :, ...], ShapeError, 'newaxis(): argument `x`: index [:, :, :, None, :, ...] keeps 4 axes with `:` but `x` has shape (10, 4, 2)\n  expected: 4 axes or more\n  got: 3 axes'),
    ('newaxis_integer', lambda: newaxis(np.zeros((10, 4, 2)))[:, 0, None], UsageError, 'newaxis(): argument `key`: index [:, 0, None]: entry 1 is 0; only `:` (keep an axis), `None`/np.newaxis (insert one) and `...` (keep the rest) are allowed\n  expected: `:`, `None` or `...`\n  got: 0\n  hint: select or slice with ordinary indexing first, then insert axes'),
    ('newaxis_two_ellipses', lambda: newaxis(np.zeros((10, 4, 2)))[..., None, ...], UsageError, 'newaxis(): argument `key`: index [..., None, ...] has more than one `...`\n  expected: at most one `...`\n  got: 2'),
    ('reshape_reorders', lambda: reshape(torch.zeros(5, 32, 3), 'time batch obs -> batch (time obs)'), AnnotationError, "reshape(): argument `pattern`: reorders axes (time batch obs -> batch time obs); a reshape cannot move axes, it would mix them\n  got: 'time batch obs -> batch (time obs)'\n  hint: permute first (x.permute(...) / np.transpose), or use einops.rearrange, then reshape"),
    ('reshape_not_divisible', lambda: reshape(torch.zeros(32, 7056), 'batch (h w) -> batch h w', h=85), ShapeError, "reshape(): argument `x` axis 1: pattern 'batch (h w) -> batch h w': axis 1 (h w) must be divisible by h=85\n  expected: a multiple of 85\n  got: size 7056 (shape (32, 7056))"),
    ('reshape_two_unknown', lambda: reshape(torch.zeros(32, 7056), 'batch (h w) -> batch h w'), UsageError, "reshape(): argument `x` axis 1: pattern 'batch (h w) -> batch h w': cannot infer h and w from one axis\n  expected: all but one of h, w as size keywords\n  got: size 7056\n  hint: pass all but one of them, e.g. h=..."),
    ('reshape_wrong_size', lambda: reshape(torch.zeros(32, 7056), 'batch obs -> batch obs', obs=4), ShapeError, "reshape(): argument `x` axis 1: pattern 'batch obs -> batch obs': axis 1 (obs) must have size obs=4\n  expected: size 4\n  got: size 7056 (shape (32, 7056))"),
    ('reshape_rank', lambda: reshape(torch.zeros(32, 7056), 'b c d -> b (c d)'), ShapeError, "reshape(): argument `x`: pattern 'b c d -> b (c d)' needs 3 axes\n  expected: 3 axes\n  got: (32, 7056)"),
    ('reshape_unknown_keyword', lambda: reshape(torch.zeros(32, 7056), 'b c -> b c', w=3), UsageError, "reshape(): argument `w`: size keyword w= is not an axis of pattern 'b c -> b c'\n  expected: an axis name of the left side\n  got: w"),
    ('reshape_bool_keyword', lambda: reshape(torch.zeros(3, 4), 'b (h w) -> b h w', h=True), DtypeError, "reshape(): argument `h`: size keyword h= must be an int\n  expected: an int >= 0\n  got: the bool True\n  hint: pass the size of axis 'h' in pattern 'b (h w) -> b h w', e.g. h=4"),
    ('reshape_negative_keyword', lambda: reshape(torch.zeros(3, 4), 'b (h w) -> b h w', h=-2), UsageError, 'reshape(): argument `h`: size keyword h= must be a size\n  expected: an int >= 0\n  got: -2'),
    ('reshape_unreadable_pattern', lambda: reshape(torch.zeros(3, 4), 'b c -> b c 2'), AnnotationError, "reshape(): argument `pattern`: cannot read '2'; axis names must be identifiers\n  got: 'b c -> b c 2'\n  hint: sizes go in keyword arguments, e.g. reshape(x, 'b (h w) -> b h w', h=4)"),
    ('reshape_keep_mixes_items', lambda: reshape(torch.zeros(8, 9), 6, 3, keep=1), ShapeError, 'reshape(): argument `x`: cannot reshape axes 1.. of `x` into (6, 3): 9 elements per item, 18 in the target\n  expected: 18 elements per item\n  got: shape (8, 9)\n  hint: keep=1 preserves (8,); the rest (9,) has 9 elements; x.reshape(-1, 6, 3) would have silently mixed items across the kept axes'),
    ('reshape_keep_missing', lambda: reshape(torch.zeros(8, 9), 72), UsageError, "reshape(): argument `keep`: is required with explicit sizes\n  expected: keep=<number of leading axes to preserve>\n  got: None\n  hint: usually keep=1 for the batch axis; or pass a pattern such as 'batch h w -> batch (h w)'"),
    ('reshape_keep_out_of_range', lambda: reshape(torch.zeros(8, 9), 9, keep=3), ShapeError, 'reshape(): argument `keep`: keeps 3 leading axes but `x` has shape (8, 9)\n  expected: an int in 0..2\n  got: 3'),
    ('flatten_flat', lambda: flatten(torch.zeros(32)), ShapeError, 'flatten(): argument `x`: no axes left to flatten after keeping 1 leading axis\n  expected: more than 1 axis\n  got: shape (32,)\n  hint: `x` may already be flat; use unsqueeze(x, -1) if you need a trailing feature axis of size 1'),
    ('flatten_negative_keep', lambda: flatten(torch.zeros(3, 2), keep=-1), UsageError, 'flatten(): argument `keep`: must be >= 0\n  expected: an int >= 0\n  got: -1'),
    ('strict_not_a_function', lambda: strict_broadcasting(3), UsageError, 'strict_broadcasting() takes a function or keyword options only, got the int 3'),
]
# fmt: on


@pytest.mark.parametrize(("name", "call", "cls", "text"), MESSAGES, ids=[m[0] for m in MESSAGES])
def test_message_wording(
    name: str, call: Callable[[], object], cls: type[shapesafe.ShapesafeError], text: str
) -> None:
    with pytest.raises(cls) as info:
        call()
    assert type(info.value) is cls
    assert str(info.value) == text


def test_strict_broadcasting_wording() -> None:
    rewards, q_next = torch.zeros(64), torch.zeros(64, 1)
    with strict_broadcasting(), pytest.raises(shapesafe.BroadcastError) as info:
        td = rewards + 0.99 * q_next
        del td
    lines = str(info.value).splitlines()
    assert lines[0] == (
        "strict_broadcasting: `+` (add) would broadcast shapes (64,) and (64, 1) to (64, 64) "
        "(rank promotion: operands of different rank)"
    )
    assert re.fullmatch(r"  at .*test_messages_ops\.py:\d+", lines[1])
    assert lines[2] == "    td = rewards + 0.99 * q_next"
    assert lines[3] == (
        "  hint: the (64, 1) operand has a trailing size-1 axis the (64,) one lacks; squeeze it "
        "(.squeeze(-1)) or unsqueeze the other (.unsqueeze(-1)); if the broadcast is intended, "
        "make it explicit (.expand_as(), torch.broadcast_to()) or wrap the line in "
        "shapesafe.allow_broadcasting()"
    )


def test_strict_loss_wording() -> None:
    pred, target = torch.zeros(8, 1), torch.zeros(8)
    with strict_broadcasting(), pytest.raises(shapesafe.BroadcastError) as info:
        torch.nn.functional.mse_loss(pred, target)
    lines = str(info.value).splitlines()
    assert lines[0] == (
        "strict_broadcasting: mse_loss() got input (8, 1), target (8,): torch would broadcast "
        "them to (8, 8), averaging over pairs that do not belong together"
    )
    assert re.fullmatch(r"  at .*test_messages_ops\.py:\d+", lines[1])
    assert lines[2] == "    torch.nn.functional.mse_loss(pred, target)"
    assert lines[3] == (
        "  hint: the (8, 1) operand has a trailing size-1 axis the (8,) one lacks; squeeze it "
        "(.squeeze(-1)) or unsqueeze the other (.unsqueeze(-1)); a loss needs input and target "
        "of exactly the same shape"
    )
