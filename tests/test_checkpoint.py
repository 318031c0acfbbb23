from __future__ import annotations

import itertools
import math
import os
import pickle
import signal
import struct
import subprocess
import sys
import textwrap
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import shapesafe
import shapesafe.torch_safety.checkpoint.save as ckpt
from shapesafe import (
    CheckpointError,
    assert_same_state,
    capture_rng_state,
    inspect_checkpoint,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from shapesafe.testing import shapes, tensors

SRC = str(Path(shapesafe.__file__).resolve().parent.parent)


def assert_fields(err: shapesafe.ShapesafeError, **fields: Any) -> None:
    """The structured fields of ``err`` (the wording is pinned in test_messages)."""
    for name, value in fields.items():
        assert getattr(err, name) == value, (name, getattr(err, name), value)


# ---------------------------------------------------------------- helpers


class MLP(nn.Module):
    def __init__(self, sizes: list[int], norm: bool = False, dtype: torch.dtype = torch.float32):
        super().__init__()
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            layers.append(nn.Linear(a, b, dtype=dtype))
            if norm and i < len(sizes) - 2:
                layers.append(nn.BatchNorm1d(b, dtype=dtype))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def deep_equal(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(deep_equal, a, b))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return type(a) is type(b) and bool(a == b)


def trained(sizes: list[int], norm: bool, opt_name: str, dtype: torch.dtype, seed: int):
    torch.manual_seed(seed)
    net = MLP(sizes, norm, dtype)
    opt: torch.optim.Optimizer
    if opt_name == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.9)
    for _ in range(2):
        opt.zero_grad()
        net(torch.randn(4, sizes[0], dtype=dtype)).pow(2).mean().backward()
        opt.step()
    return net, opt


def make_opt(net: nn.Module, opt_name: str) -> torch.optim.Optimizer:
    if opt_name == "adam":
        return torch.optim.Adam(net.parameters(), lr=1e-2)
    return torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.9)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.sampled_from([torch.float32, torch.int64, torch.bool]),
    tensors(torch.float32, shapes(max_dims=2, min_side=0, max_side=4)),
    tensors(torch.int64, shapes(max_dims=1, min_side=0, max_side=4)),
)
metadata_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=5), inner, max_size=3),
    ),
    max_leaves=10,
)
metadata_dicts = st.dictionaries(
    st.text(alphabet="abcdefgh_", min_size=1, max_size=6).filter(
        lambda k: k not in ("path", "module", "optimizer")
    ),
    metadata_values,
    max_size=4,
)
sizes_st = st.lists(st.integers(1, 5), min_size=2, max_size=4)


# ---------------------------------------------------------------- round trip


@pytest.mark.values
@given(
    sizes=sizes_st,
    norm=st.booleans(),
    opt_name=st.sampled_from(["adam", "sgd"]),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    metadata=metadata_dicts,
)
@settings(max_examples=25)
def test_round_trip_restores_weights_optimizer_and_metadata(
    tmp_path_factory: pytest.TempPathFactory,
    sizes: list[int],
    norm: bool,
    opt_name: str,
    dtype: torch.dtype,
    metadata: dict[str, Any],
) -> None:
    net, opt = trained(sizes, norm, opt_name, dtype, seed=0)
    path = tmp_path_factory.mktemp("rt") / "ck.pt"
    save_checkpoint(path, net, opt, **metadata)

    torch.manual_seed(1)
    fresh = MLP(sizes, norm, dtype)
    fresh_opt = make_opt(fresh, opt_name)
    got = load_checkpoint(path, fresh, fresh_opt)

    # reference: plain torch state dicts, key by key
    ref, new = net.state_dict(), fresh.state_dict()
    assert list(ref) == list(new)
    for k in ref:
        assert torch.equal(ref[k], new[k]) and ref[k].dtype == new[k].dtype
    assert deep_equal(opt.state_dict(), fresh_opt.state_dict())
    assert deep_equal(metadata, got)
    assert_same_state(net, fresh)


@pytest.mark.values
def test_resume_is_exact_with_rng_and_optimizer_state(tmp_path: Path) -> None:
    def run(net: nn.Module, opt: torch.optim.Optimizer, steps: int) -> list[float]:
        losses = []
        for _ in range(steps):
            x = torch.randn(8, 3)
            noise = float(np.random.rand())
            opt.zero_grad()
            loss = (net(x) + noise).pow(2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    def build() -> tuple[nn.Module, torch.optim.Optimizer]:
        net = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.3), nn.Linear(8, 1))
        return net, torch.optim.Adam(net.parameters(), lr=1e-2)

    torch.manual_seed(0)
    np.random.seed(0)
    net, opt = build()
    run(net, opt, 3)
    save_checkpoint(tmp_path / "ck.pt", net, opt, step=3, rng=capture_rng_state())
    expected = run(net, opt, 4)

    torch.manual_seed(123)
    np.random.seed(123)
    net2, opt2 = build()
    meta = load_checkpoint(tmp_path / "ck.pt", net2, opt2)
    restore_rng_state(meta["rng"])
    assert meta["step"] == 3
    assert run(net2, opt2, 4) == expected
    assert_same_state(net, net2)


@pytest.mark.values
def test_rng_state_round_trip_without_checkpoint() -> None:
    import random

    s = capture_rng_state()
    a = (random.random(), float(np.random.rand()), torch.rand(3))
    restore_rng_state(s)
    b = (random.random(), float(np.random.rand()), torch.rand(3))
    assert a[:2] == b[:2] and torch.equal(a[2], b[2])


@pytest.mark.values
def test_tied_weights_and_buffers_round_trip(tmp_path: Path) -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(3, 3)
            self.b = nn.Linear(3, 3)
            self.b.weight = self.a.weight
            self.register_buffer("count", torch.tensor(7))

    net = Tied()
    save_checkpoint(tmp_path / "t.pt", net)
    fresh = Tied()
    load_checkpoint(tmp_path / "t.pt", fresh)
    assert fresh.a.weight is fresh.b.weight
    assert_same_state(net, fresh)


@pytest.mark.values
def test_returns_path_and_keeps_usual_permissions(tmp_path: Path) -> None:
    out = save_checkpoint(str(tmp_path / "p.pt"), nn.Linear(1, 1))
    assert out == tmp_path / "p.pt"
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.pt"]


@pytest.mark.values
def test_inspect_checkpoint(tmp_path: Path) -> None:
    net = MLP([2, 3])
    save_checkpoint(tmp_path / "i.pt", net, epoch=4)
    info = inspect_checkpoint(tmp_path / "i.pt")
    assert info.shapes == {
        "net.0.weight": ((3, 2), "torch.float32"),
        "net.0.bias": ((3,), "torch.float32"),
    }
    assert info.metadata == {"epoch": 4}
    assert not info.has_optimizer
    assert info.module_class.endswith("MLP")
    text = str(info)
    assert "net.0.weight  (3, 2) float32" in text and "metadata: {'epoch': 4}" in text


# ---------------------------------------------------------------- mismatches


def test_mismatch_lists_every_key_with_both_shapes(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "m.pt", MLP([2, 4, 1]))
    other = MLP([2, 5, 1, 3])
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(CheckpointError) as ei:
        load_checkpoint(tmp_path / "m.pt", other)
    msg = str(ei.value)
    assert "(saved from MLP) does not fit MLP: 5 problems" in msg
    assert "shape mismatch  net.0.weight: checkpoint (4, 2), module (5, 2)" in msg
    assert "shape mismatch  net.0.bias: checkpoint (4,), module (5,)" in msg
    assert "shape mismatch  net.1.weight: checkpoint (1, 4), module (1, 5)" in msg
    assert "missing from checkpoint  net.2.weight: module (3, 1) float32" in msg
    assert "missing from checkpoint  net.2.bias: module (3,) float32" in msg
    assert "hint: the module was built with different sizes" in msg
    # nothing was loaded
    assert_same_state(before, other)


def test_unexpected_keys_and_class_names(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "u.pt", MLP([2, 3, 1]))
    other = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    with pytest.raises(CheckpointError) as ei:
        load_checkpoint(tmp_path / "u.pt", other)
    msg = str(ei.value)
    assert "(saved from MLP) does not fit Sequential: 8 problems" in msg
    assert "  missing from checkpoint  2.weight: module (1, 3) float32" in msg
    assert "  unexpected in checkpoint  net.0.weight: checkpoint (3, 2) float32" in msg
    assert "  hint: the architectures differ; build the same module class" in msg


def test_prefix_hint_for_nested_module(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "u.pt", MLP([2, 3, 1]))
    with pytest.raises(
        CheckpointError,
        match=r"hint: every checkpoint key has an extra prefix 'net\.'",
    ):
        load_checkpoint(tmp_path / "u.pt", nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)))


def test_prefix_hint_for_wrapped_modules(tmp_path: Path) -> None:
    inner = nn.Linear(2, 2)
    save_checkpoint(tmp_path / "w.pt", nn.Sequential(inner))
    with pytest.raises(CheckpointError, match=r"every checkpoint key has an extra prefix '0\.'"):
        load_checkpoint(tmp_path / "w.pt", nn.Linear(2, 2))
    save_checkpoint(tmp_path / "i.pt", inner)
    with pytest.raises(CheckpointError, match=r"load it into module\.0"):
        load_checkpoint(tmp_path / "i.pt", nn.Sequential(nn.Linear(2, 2)))


def test_dtype_mismatch_strict_and_non_strict(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "d.pt", nn.Linear(2, 2, dtype=torch.float64))
    with pytest.raises(CheckpointError, match="dtype mismatch  weight") as info:
        load_checkpoint(tmp_path / "d.pt", nn.Linear(2, 2))
    assert_fields(info.value, function="load_checkpoint", argument="module")
    assert (info.value.hint or "").startswith("convert the module first")
    net = nn.Linear(2, 2)
    load_checkpoint(tmp_path / "d.pt", net, strict=False)
    assert net.weight.dtype == torch.float32


@pytest.mark.values
def test_non_strict_loads_intersection_but_still_refuses_shapes(tmp_path: Path) -> None:
    src = MLP([2, 3, 1])
    save_checkpoint(tmp_path / "n.pt", src)
    bigger = MLP([2, 3, 1, 4])
    load_checkpoint(tmp_path / "n.pt", bigger, strict=False)
    assert torch.equal(bigger.net[0].weight, src.net[0].weight)
    with pytest.raises(CheckpointError, match="2 problems") as info:
        load_checkpoint(tmp_path / "n.pt", MLP([2, 3, 2]), strict=False)
    assert "net.1.bias: checkpoint (1,), module (2,)" in str(info.value)


def test_optimizer_problems(tmp_path: Path) -> None:
    net = MLP([2, 3, 1])
    save_checkpoint(tmp_path / "no_opt.pt", net)
    with pytest.raises(CheckpointError, match=r"holds no optimizer state, but an optimizer"):
        load_checkpoint(tmp_path / "no_opt.pt", MLP([2, 3, 1]), torch.optim.SGD(net.parameters()))

    net, opt = trained([2, 3, 1], False, "adam", torch.float32, 0)
    save_checkpoint(tmp_path / "opt.pt", net, opt)
    fresh = MLP([2, 3, 1])
    partial = torch.optim.Adam(list(fresh.parameters())[:2])
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    with pytest.raises(
        CheckpointError,
        match=r"saved parameter groups hold \[4\] parameters, the optimizer's hold \[2\]",
    ):
        load_checkpoint(tmp_path / "opt.pt", fresh, partial)
    assert_same_state(before, fresh)  # module untouched when the optimizer does not fit


def test_optimizer_state_shape_mismatch(tmp_path: Path) -> None:
    net, opt = trained([2, 3, 1], False, "adam", torch.float32, 0)
    save_checkpoint(tmp_path / "o.pt", net, opt)
    # same number of params but a different order: state tensors no longer fit
    fresh = MLP([2, 3, 1])
    params = list(fresh.parameters())
    swapped = torch.optim.Adam([params[1], params[0], params[2], params[3]])
    with pytest.raises(
        CheckpointError, match=r"parameter 0 state 'exp_avg': checkpoint \(3, 2\), parameter \(3,\)"
    ):
        load_checkpoint(tmp_path / "o.pt", MLP([2, 3, 1]), swapped)


def test_bad_arguments() -> None:
    with pytest.raises(CheckpointError, match=r"must be a torch.nn.Module") as info:
        save_checkpoint("x.pt", {"w": torch.ones(1)})  # type: ignore[arg-type]
    assert_fields(info.value, function="save_checkpoint", argument="module", got="a dict of 1 item")
    with pytest.raises(CheckpointError, match=r"must be a torch.optim.Optimizer") as info:
        save_checkpoint("x.pt", nn.Linear(1, 1), {"lr": 1})  # type: ignore[arg-type]
    assert_fields(info.value, function="save_checkpoint", argument="optimizer")
    with pytest.raises(CheckpointError, match=r"must be a torch.nn.Module") as info:
        load_checkpoint("x.pt", None)  # type: ignore[arg-type]
    assert_fields(info.value, function="load_checkpoint", argument="module", got="None")
    assert (
        issubclass(CheckpointError, shapesafe.ShapesafeError)
        and CheckpointError.__module__ == "shapesafe"
    )


# ---------------------------------------------------------------- metadata policy


class Thing:
    def state_dict(self) -> dict[str, int]:
        return {}


@pytest.mark.parametrize(
    ("value", "where", "what", "hint"),
    [
        (np.zeros(3), r"metadata\['x'\]", "is a numpy.ndarray", "torch.from_numpy"),
        (
            {"a": [np.float64(1.0)]},
            r"metadata\['x'\]\['a'\]\[0\]",
            "is a numpy.float64",
            r"\.item\(\)",
        ),
        ([lambda: 1], r"metadata\['x'\]\[0\]", "is a function", "functions and callables"),
        (Thing(), r"metadata\['x'\]", "is a test_checkpoint.Thing", r"obj\.state_dict\(\)"),
        (
            nn.Linear(1, 1),
            r"metadata\['x'\]",
            "is a torch.nn.modules.linear.Linear",
            "module's weights",
        ),
        (frozenset({1}), r"metadata\['x'\]", "is a frozenset", "plain data"),
        (
            {(1, np.int64(2)): 1},
            r"metadata\['x'\]\[\(1, np\.int64\(2\)\)\] \(the key\)\[1\]",
            "is a numpy.int64",
            r"\.item",
        ),
        (torch.ones(2).to_sparse(), r"metadata\['x'\]", "is a torch.sparse_coo", "to_dense"),
    ],
)
def test_metadata_refused_at_save_time(
    tmp_path: Path, value: object, where: str, what: str, hint: str
) -> None:
    path = tmp_path / "m.pt"
    save_checkpoint(path, nn.Linear(1, 1), version=1)
    with pytest.raises(
        CheckpointError,
        match=rf"(?s)save_checkpoint\(\): {where} {what}.*weights_only=True\) cannot read back"
        rf".*allowed: None, bool.*hint: .*{hint}",
    ):
        save_checkpoint(path, nn.Linear(1, 1), version=2, x=value)
    assert load_checkpoint(path, nn.Linear(1, 1)) == {"version": 1}  # old file untouched


def test_metadata_cycle_refused(tmp_path: Path) -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(CheckpointError, match=r"metadata\['x'\]\[0\] contains itself"):
        save_checkpoint(tmp_path / "c.pt", nn.Linear(1, 1), x=loop)


def test_extra_state_objects_refused(tmp_path: Path) -> None:
    class WithExtra(nn.Linear):
        def get_extra_state(self) -> object:
            return Thing()

        def set_extra_state(self, state: object) -> None:
            pass

    with pytest.raises(CheckpointError, match=r"state_dict\['_extra_state'\] is a .*Thing"):
        save_checkpoint(tmp_path / "e.pt", WithExtra(1, 1))


@pytest.mark.values
def test_allowed_exotic_metadata_round_trips(tmp_path: Path) -> None:
    meta = {
        "s": {1, 2, 3},
        "c": 1 + 2j,
        "dev": torch.device("cpu"),
        "size": torch.Size([2, 3]),
        "od": OrderedDict(a=1),
        "p": nn.Parameter(torch.ones(2)),
        "big": 2**80,
        "nan": float("nan"),
        "sched": torch.optim.lr_scheduler.StepLR(
            torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1), step_size=2
        ).state_dict(),
    }
    save_checkpoint(tmp_path / "x.pt", nn.Linear(1, 1), **meta)
    got = load_checkpoint(tmp_path / "x.pt", nn.Linear(1, 1))
    assert got["s"] == {1, 2, 3} and got["c"] == 1 + 2j and got["big"] == 2**80
    assert got["dev"] == torch.device("cpu") and got["size"] == torch.Size([2, 3])
    assert torch.equal(got["p"], torch.ones(2)) and np.isnan(got["nan"])
    assert got["sched"] == meta["sched"]


# ---------------------------------------------------------------- damaged / foreign files


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint at") as info:
        load_checkpoint(tmp_path / "nope.pt", nn.Linear(1, 1))
    assert_fields(info.value, function="load_checkpoint", argument="path", got="no such file")
    with pytest.raises(CheckpointError, match="it is a directory") as info:
        load_checkpoint(tmp_path, nn.Linear(1, 1))
    assert_fields(info.value, function="load_checkpoint", argument="path", got="it is a directory")


def test_empty_and_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "e.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="it is empty") as info:
        load_checkpoint(tmp_path / "e.pt", nn.Linear(1, 1))
    assert_fields(info.value, function="load_checkpoint", argument="path", got="it is empty")
    (tmp_path / "t.pt").write_text("hello world")
    with pytest.raises(
        CheckpointError, match=r"not a file written by torch.save \(it starts with b'hell'\)"
    ):
        load_checkpoint(tmp_path / "t.pt", nn.Linear(1, 1))
    torch.save([1, 2, 3], tmp_path / "l.pt")
    with pytest.raises(
        CheckpointError, match=r"it holds a list, not a checkpoint written by save_checkpoint"
    ):
        load_checkpoint(tmp_path / "l.pt", nn.Linear(1, 1))


def test_plain_state_dict_file_gets_a_hint(tmp_path: Path) -> None:
    torch.save(nn.Linear(1, 1).state_dict(), tmp_path / "sd.pt")
    with pytest.raises(
        CheckpointError,
        match=r"looks like a plain state_dict written by torch.save\(net.state_dict\(\)\)"
        r"(?s:.*)hint: load it with net.load_state_dict",
    ):
        load_checkpoint(tmp_path / "sd.pt", nn.Linear(1, 1))


def test_newer_format_version_refused(tmp_path: Path) -> None:
    path = tmp_path / "v.pt"
    save_checkpoint(path, nn.Linear(1, 1))
    obj = torch.load(path, weights_only=True)
    obj["version"] = 99
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match=r"format version 99 is newer"):
        load_checkpoint(path, nn.Linear(1, 1))


def test_tampered_contents_fail_the_checksum(tmp_path: Path) -> None:
    path = tmp_path / "t.pt"
    save_checkpoint(path, nn.Linear(1, 1), epoch=1)
    obj = torch.load(path, weights_only=True)
    obj["metadata"]["epoch"] = 2
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match=r"checksum mismatch \(recorded sha256:"):
        load_checkpoint(path, nn.Linear(1, 1))
    # verify=False skips the check (for forensics), and inspect_checkpoint honours it too
    assert load_checkpoint(path, nn.Linear(1, 1), verify=False) == {"epoch": 2}
    assert inspect_checkpoint(path, verify=False).metadata == {"epoch": 2}


def _data_offset(path: Path, member_suffix: str) -> int:
    with zipfile.ZipFile(path) as z:
        info = next(i for i in z.infolist() if i.filename.endswith(member_suffix))
    raw = path.read_bytes()
    name_len, extra_len = struct.unpack(
        "<HH", raw[info.header_offset + 26 : info.header_offset + 30]
    )
    return info.header_offset + 30 + name_len + extra_len


def test_flipped_weight_byte_fails_the_checksum(tmp_path: Path) -> None:
    path = tmp_path / "f.pt"
    net = nn.Linear(30, 20)
    save_checkpoint(path, net)
    raw = bytearray(path.read_bytes())
    raw[_data_offset(path, "data/0") + 5] ^= 0x10
    path.write_bytes(raw)
    target = nn.Linear(30, 20)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"checksum mismatch.*altered after saving"):
        load_checkpoint(path, target)
    assert_same_state(before, target)


@pytest.fixture(scope="module")
def good_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("ck") / "g.pt"
    torch.manual_seed(0)
    save_checkpoint(path, MLP([3, 4, 2]), epoch=5)
    return path.read_bytes()


@given(data=st.data())
@settings(max_examples=40)
def test_truncated_files_always_get_a_checkpoint_error(
    tmp_path_factory: pytest.TempPathFactory, good_bytes: bytes, data: st.DataObject
) -> None:
    n = data.draw(st.integers(0, len(good_bytes) - 1))
    path = tmp_path_factory.mktemp("t") / "t.pt"
    path.write_bytes(good_bytes[:n])
    with pytest.raises(CheckpointError, match=r"is not a readable shapesafe checkpoint"):
        load_checkpoint(path, MLP([3, 4, 2]))


@given(data=st.data())
@settings(max_examples=40)
def test_corrupted_files_error_or_load_exactly(
    tmp_path_factory: pytest.TempPathFactory, good_bytes: bytes, data: st.DataObject
) -> None:
    """A flipped byte anywhere either is caught, or hits bytes that do not matter (zip
    padding): never a foreign exception, never silently wrong weights."""
    raw = bytearray(good_bytes)
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    path = tmp_path_factory.mktemp("c") / "c.pt"
    path.write_bytes(bytes(raw))
    torch.manual_seed(0)
    reference = MLP([3, 4, 2])
    target = MLP([3, 4, 2])
    with torch.no_grad():
        for p in target.parameters():
            p.fill_(0.5)
    try:
        meta = load_checkpoint(path, target)
    except CheckpointError:
        return
    assert meta == {"epoch": 5}
    assert_same_state(reference, target)


# ---------------------------------------------------------------- malicious pickles


class _Exploit:
    marker = ""

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("zip_format", [True, False])
def test_malicious_pickle_is_refused_without_running(tmp_path: Path, zip_format: bool) -> None:
    marker = tmp_path / "PWNED"
    exploit = _Exploit()
    exploit.marker = str(marker)
    path = tmp_path / "evil.pt"
    payload = {"format": "shapesafe.checkpoint", "version": 1, "state_dict": {}, "x": exploit}
    torch.save(payload, path, _use_new_zipfile_serialization=zip_format)
    with pytest.raises(
        CheckpointError,
        match=r"contains pickled Python objects, which were refused and NOT executed \(.*GLOBAL "
        r"(?s:.*)hint: a checkpoint should hold only tensors",
    ):
        load_checkpoint(path, nn.Linear(1, 1))
    assert not marker.exists()
    with pytest.raises(CheckpointError, match=r"NOT executed"):
        inspect_checkpoint(path)
    assert not marker.exists()


def test_raw_pickle_file_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    exploit = _Exploit()
    exploit.marker = str(marker)
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(exploit, protocol=2))
    with pytest.raises(CheckpointError, match=r"is not a readable shapesafe checkpoint"):
        load_checkpoint(path, nn.Linear(1, 1))
    assert not marker.exists()


# ---------------------------------------------------------------- crash safety


@pytest.mark.values
def test_interrupted_write_leaves_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ck.pt"
    old = MLP([3, 4, 2])
    save_checkpoint(path, old, epoch=1)

    def half_then_crash(obj: object, f: Any) -> None:
        f.write(b"PK\x03\x04 half a checkpoint")
        f.flush()
        raise KeyboardInterrupt  # e.g. Ctrl-C mid-save

    monkeypatch.setattr(ckpt, "_write", half_then_crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, MLP([3, 4, 2]), epoch=2)
    monkeypatch.undo()

    fresh = MLP([3, 4, 2])
    assert load_checkpoint(path, fresh) == {"epoch": 1}
    assert_same_state(old, fresh)
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # temp file cleaned up


@pytest.mark.values
def test_killed_writer_process_leaves_previous_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "ck.pt"
    torch.manual_seed(0)
    old = MLP([3, 4, 2])
    save_checkpoint(path, old, epoch=1)
    child = textwrap.dedent(
        f"""
        import sys, time, io, torch
        sys.path.insert(0, {SRC!r})
        import shapesafe.torch_safety.checkpoint.save as ckpt

        def slow_write(obj, f):
            buf = io.BytesIO()
            torch.save(obj, buf)
            data = buf.getvalue()
            f.write(data[: len(data) // 2])
            f.flush()
            print("HALF", flush=True)
            time.sleep(60)
            f.write(data[len(data) // 2 :])

        ckpt._write = slow_write
        ckpt.save_checkpoint({str(path)!r}, torch.nn.Linear(9, 9), epoch=2)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == b"HALF", proc.stderr.read() if proc.stderr else b""
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # reap the child and close its pipes
    assert proc.returncode == -signal.SIGKILL
    fresh = MLP([3, 4, 2])
    assert load_checkpoint(path, fresh) == {"epoch": 1}
    assert_same_state(old, fresh)
    leftovers = [p for p in tmp_path.iterdir() if p.name != "ck.pt"]
    # the half-written temp file is hidden next to it, never at the checkpoint's path
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".ck.pt.")
    with pytest.raises(CheckpointError, match=r"not a readable shapesafe checkpoint"):
        load_checkpoint(leftovers[0], nn.Linear(9, 9))


# ---------------------------------------------------------------- assert_same_state


def test_assert_same_state_lists_every_difference() -> None:
    a = {"w": torch.zeros(2, 2), "b": torch.zeros(2), "n": torch.tensor(1), "x": torch.ones(1)}
    b = {
        "w": torch.zeros(2, 2),
        "b": torch.tensor([0.0, 0.5]),
        "n": torch.tensor(2),
        "y": torch.ones(1),
    }
    b["w"] = torch.zeros(2, 3)
    with pytest.raises(CheckpointError, match="differ at 5 keys") as info:
        assert_same_state(a, b)
    listed = str(info.value).splitlines()[1:6]
    assert listed == [
        "  x: only in the first",
        "  y: only in the second",
        "  w: shape (2, 2) vs (2, 3)",
        "  b: 1 of 2 values differ (max |diff| 0.5)",
        "  n: 1 of 1 values differ",
    ]
    with pytest.raises(CheckpointError, match=r"w: dtype float32 vs float64"):
        assert_same_state({"w": torch.zeros(1)}, {"w": torch.zeros(1, dtype=torch.float64)})
    assert_same_state({"w": torch.zeros(1)}, {"w": torch.full((1,), 1e-9)}, atol=1e-6)


def test_empty_bytes_metadata_round_trips(tmp_path: Path) -> None:
    # pickle protocol 2 writes b"" as a call of the builtin `bytes`, a GLOBAL that
    # torch.load(weights_only=True) refuses by default
    path = save_checkpoint(tmp_path / "b.pt", nn.Linear(1, 1), None, e=b"", f=b"x")
    assert load_checkpoint(path, nn.Linear(1, 1)) == {"e": b"", "f": b"x"}


class _WithPlainExtra(nn.Linear):
    """A module whose get_extra_state() is plain data (allowed in a checkpoint)."""

    def __init__(self, tag: int = 0) -> None:
        super().__init__(2, 1)
        self.tag = tag

    def get_extra_state(self) -> object:
        return {"tag": self.tag}

    def set_extra_state(self, state: Any) -> None:
        self.tag = state["tag"]


@pytest.mark.values
def test_plain_extra_state_round_trips_and_mismatches_are_reported(tmp_path: Path) -> None:
    src = _WithPlainExtra(tag=7)
    save_checkpoint(tmp_path / "x.pt", src)
    dst = _WithPlainExtra()
    load_checkpoint(tmp_path / "x.pt", dst)
    assert dst.tag == 7
    assert_same_state(src.state_dict(), dst.state_dict())
    # a checkpoint without the extra state: reported, not an AttributeError
    save_checkpoint(tmp_path / "plain.pt", nn.Linear(2, 1))
    with pytest.raises(CheckpointError, match="missing from checkpoint  _extra_state"):
        load_checkpoint(tmp_path / "plain.pt", _WithPlainExtra())
    with pytest.raises(CheckpointError, match="unexpected in checkpoint  _extra_state"):
        load_checkpoint(tmp_path / "x.pt", nn.Linear(2, 1))


@pytest.mark.values
def test_save_into_missing_directory_names_the_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist") as info:
        save_checkpoint(tmp_path / "nope" / "x.pt", nn.Linear(2, 1))
    assert_fields(info.value, function="save_checkpoint", argument="path")
    assert str(tmp_path / "nope") in str(info.value)
    assert not (tmp_path / "nope").exists()


# ---------------------------------------------------------------- issue 11: hardening


def _rewrite(path: Path, edit: Any) -> None:
    """Load a checkpoint's raw payload, let ``edit`` change it, recompute the checksum
    and write it back: a file that is internally inconsistent but passes the checksum."""
    from shapesafe.torch_safety.checkpoint._payload import FIELDS, _checksum

    obj = torch.load(path, weights_only=True)
    edit(obj)
    payload = {k: obj[k] for k in FIELDS if k != "checksum"}
    obj["checksum"] = _checksum(payload, validate=False, function="test")
    torch.save(obj, path)


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_inconsistent_manifest_is_refused_before_any_weight_is_copied(tmp_path: Path) -> None:
    """Issue 11: manifest (1, 3), payload (5, 5), checksum recomputed: the first layer
    was already overwritten when load_state_dict failed on the second."""
    path = tmp_path / "i.pt"
    save_checkpoint(path, nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)))

    def edit(obj: dict[str, Any]) -> None:
        obj["state_dict"]["1.weight"] = torch.randn(5, 5)  # the manifest still says (1, 3)

    _rewrite(path, edit)
    target = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    before = _snapshot(target)
    with pytest.raises(CheckpointError, match="manifest disagrees with its data") as info:
        load_checkpoint(path, target)
    assert_fields(info.value, function="load_checkpoint", argument="path")
    assert "'1.weight': manifest (1, 3), data (5, 5)" in str(info.value.got)
    assert_same_state(before, target)
    with pytest.raises(CheckpointError, match="manifest disagrees"):
        inspect_checkpoint(path)


@pytest.mark.parametrize(
    "edit",
    [
        lambda o: o["manifest"].pop("0.bias"),
        lambda o: o["manifest"].update({"ghost": ((1,), "torch.float32")}),
        lambda o: o["manifest"].update({"0.bias": ((3,), "torch.float64")}),
    ],
    ids=["unlisted", "ghost", "dtype"],
)
def test_other_manifest_inconsistencies_are_refused(tmp_path: Path, edit: Any) -> None:
    path = tmp_path / "m.pt"
    save_checkpoint(path, nn.Sequential(nn.Linear(2, 3)))
    _rewrite(path, edit)
    target = nn.Sequential(nn.Linear(2, 3))
    before = _snapshot(target)
    with pytest.raises(CheckpointError, match="manifest disagrees with its data"):
        load_checkpoint(path, target)
    assert_same_state(before, target)


def test_a_failure_while_copying_leaves_module_and_optimizer_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even a failure no check foresaw (here: the optimizer refusing its state after the
    module was loaded) leaves both objects as they were."""
    torch.manual_seed(0)
    net = MLP([3, 4, 2])
    opt = torch.optim.Adam(net.parameters())
    net(torch.randn(2, 3)).sum().backward()
    opt.step()
    save_checkpoint(tmp_path / "a.pt", net, opt)
    target = MLP([3, 4, 2])
    target_opt = torch.optim.Adam(target.parameters())
    before, opt_before = _snapshot(target), str(target_opt.state_dict())

    def refuse(state: Any) -> None:
        raise ValueError("loaded state dict contains a parameter group that doesn't match")

    monkeypatch.setattr(target_opt, "load_state_dict", refuse)
    with pytest.raises(CheckpointError, match="could not be copied in") as info:
        load_checkpoint(tmp_path / "a.pt", target, target_opt)
    assert_fields(info.value, function="load_checkpoint", got="ValueError")
    assert_same_state(before, target)
    assert str(target_opt.state_dict()) == opt_before


def test_malformed_optimizer_state_is_refused_before_copying(tmp_path: Path) -> None:
    net = MLP([3, 4, 2])
    save_checkpoint(tmp_path / "o.pt", net, torch.optim.SGD(net.parameters(), lr=0.1))
    _rewrite(tmp_path / "o.pt", lambda o: o["optimizer"].update({"param_groups": "x"}))
    target = MLP([3, 4, 2])
    before = _snapshot(target)
    with pytest.raises(CheckpointError, match="saved optimizer state is malformed") as info:
        load_checkpoint(tmp_path / "o.pt", target, torch.optim.SGD(target.parameters(), lr=0.1))
    assert_fields(info.value, function="load_checkpoint", argument="optimizer")
    assert_same_state(before, target)


@pytest.mark.parametrize("path", [None, 3, b"x.pt", "", torch.zeros(1)])
def test_a_path_that_is_not_a_path(path: Any) -> None:
    for call in (
        lambda: save_checkpoint(path, nn.Linear(1, 1)),
        lambda: load_checkpoint(path, nn.Linear(1, 1)),
        lambda: inspect_checkpoint(path),
    ):
        with pytest.raises(CheckpointError, match="must be a file path") as info:
            call()
        assert info.value.argument == "path"


def test_saving_onto_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="is a directory") as info:
        save_checkpoint(tmp_path, nn.Linear(1, 1))
    assert_fields(info.value, function="save_checkpoint", argument="path", got="a directory")


# ---------------------------------------------------------------- stale temp files


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temp_files_of_dead_writers_are_removed_on_the_next_save(tmp_path: Path) -> None:
    """Issue 11: 25 killed saves left 849 MB of .tmp files behind, forever."""
    path = tmp_path / "ck.pt"
    host = ckpt._host_tag()
    dead = tmp_path / f".ck.pt.{host}.{_dead_pid()}.{'a' * 12}.tmp"
    live = tmp_path / f".ck.pt.{host}.{os.getppid()}.{'b' * 12}.tmp"  # a live writer
    mine = tmp_path / f".ck.pt.{host}.{os.getpid()}.{'c' * 12}.tmp"  # another thread's
    remote = tmp_path / f".ck.pt.{'0' * 8 if host != '0' * 8 else '1' * 8}.1.{'d' * 12}.tmp"
    other_dest = tmp_path / f".other.pt.{host}.{_dead_pid()}.{'e' * 12}.tmp"
    lookalike = tmp_path / ".ck.pt.notours.tmp"
    planted = [dead, live, mine, remote, other_dest, lookalike]
    for p in planted:
        p.write_bytes(b"half a checkpoint")
    save_checkpoint(path, nn.Linear(2, 1))
    assert not dead.exists()
    assert all(p.exists() for p in planted if p is not dead)
    assert load_checkpoint(path, nn.Linear(2, 1)) == {}


@pytest.mark.values
def test_temp_file_of_a_killed_writer_is_cleaned_by_the_next_save(tmp_path: Path) -> None:
    path = tmp_path / "ck.pt"
    child = textwrap.dedent(
        f"""
        import os, sys, time, torch
        sys.path.insert(0, {SRC!r})
        import shapesafe.torch_safety.checkpoint.save as ckpt

        def stuck_write(obj, f):
            f.write(b"half")
            f.flush()
            print("HALF", flush=True)
            time.sleep(60)

        ckpt._write = stuck_write
        ckpt.save_checkpoint({str(path)!r}, torch.nn.Linear(9, 9))
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"HALF"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")  # the dead writer's
    save_checkpoint(path, nn.Linear(9, 9), epoch=3)
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]


# ---------------------------------------------------------------- compact metadata repr


def test_printed_metadata_summarises_the_rng_state(tmp_path: Path) -> None:
    """Issue 11: printing load_checkpoint's metadata dumped thousands of RNG integers."""
    save_checkpoint(tmp_path / "r.pt", nn.Linear(1, 1), epoch=3, rng=capture_rng_state())
    meta = load_checkpoint(tmp_path / "r.pt", nn.Linear(1, 1))
    assert repr(meta) == "{'epoch': 3, 'rng': <rng state: numpy, python, torch>}"
    assert isinstance(meta, dict) and meta["epoch"] == 3  # still a plain dict to use
    info = inspect_checkpoint(tmp_path / "r.pt")
    assert "<rng state: numpy, python, torch>" in repr(info) and len(repr(info)) < 400
    assert "<rng state: numpy, python, torch>" in str(info)
    big = {"w": torch.zeros(1000), "xs": list(range(1000))}
    save_checkpoint(tmp_path / "b.pt", nn.Linear(1, 1), **big)
    text = repr(load_checkpoint(tmp_path / "b.pt", nn.Linear(1, 1)))
    assert text == "{'w': <tensor (1000,) float32>, 'xs': <a list of 1000 items>}"


# ---------------------------------------------------------------- rng state


@pytest.mark.parametrize(
    "state",
    [
        {},
        None,
        "rng",
        {"python": 1, "numpy": {}, "torch": torch.zeros(1)},
        {**capture_rng_state(), "torch": torch.zeros(3)},
        {**capture_rng_state(), "numpy": {"kind": "MT19937"}},
    ],
    ids=["empty", "none", "str", "garbage", "short_torch", "partial_numpy"],
)
def test_restore_rng_state_refuses_malformed_states_and_changes_nothing(state: Any) -> None:
    """Issue 11: restore_rng_state({}) leaked KeyError: 'python'."""
    before = capture_rng_state()
    with pytest.raises(shapesafe.UsageError) as info:
        restore_rng_state(state)
    assert_fields(info.value, function="restore_rng_state", argument="state")
    after = capture_rng_state()
    assert after["python"] == before["python"]
    assert torch.equal(after["torch"], before["torch"])
    assert torch.equal(after["numpy"]["keys"], before["numpy"]["keys"])


# ---------------------------------------------------------------- assert_same_state


def test_assert_same_state_nan_at_the_same_positions_is_equal() -> None:
    """Issue 11: identical states holding NaN were called different (NaN != NaN)."""
    w = torch.tensor([1.0, math.nan, 3.0])
    assert_same_state({"w": w}, {"w": w.clone()})
    assert_same_state({"w": w}, {"w": w.clone()}, atol=1e-6)
    c = torch.tensor([complex(1, math.nan)])
    assert_same_state({"c": c}, {"c": c.clone()})
    with pytest.raises(CheckpointError, match="1 of 3 values differ") as info:
        assert_same_state({"w": w}, {"w": torch.tensor([1.0, 2.0, 3.0])})
    assert_fields(info.value, function="assert_same_state")


@pytest.mark.parametrize("other", [None, 3, "net", [torch.ones(1)]])
def test_assert_same_state_refuses_what_is_not_a_state(other: Any) -> None:
    """Issue 11: assert_same_state(net, None) leaked "'NoneType' has no attribute"."""
    with pytest.raises(shapesafe.UsageError, match=r"must be a torch.nn.Module or a state") as info:
        assert_same_state(nn.Linear(1, 1), other)
    assert_fields(info.value, function="assert_same_state", argument="b")


@pytest.mark.parametrize("atol", [-1.0, math.nan, "0", None])
def test_assert_same_state_refuses_bad_tolerances(atol: Any) -> None:
    with pytest.raises(shapesafe.UsageError) as info:
        assert_same_state({}, {}, atol=atol)
    assert_fields(info.value, function="assert_same_state", argument="atol")


@pytest.mark.values
@given(
    x=st.sampled_from([torch.float32, torch.float64]).flatmap(
        lambda d: tensors(d, shapes(max_dims=2, max_side=3))
    ),
    atol=st.sampled_from([0.0, 1e-3]),
)
def test_assert_same_state_agrees_with_numpy(x: torch.Tensor, atol: float) -> None:
    """Against numpy's reference: allclose with equal_nan decides."""
    y = x.clone()
    if x.numel():
        y.view(-1)[0] = y.view(-1)[0] + 1e-4
    same = np.allclose(x.numpy(), y.numpy(), rtol=0.0, atol=atol, equal_nan=True)
    try:
        assert_same_state({"x": x}, {"x": y}, atol=atol)
    except CheckpointError:
        assert not same
    else:
        assert same


# ---------------------------------------------------------------- fuzz: metadata values

_ODD_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=False),
    st.complex_numbers(allow_nan=False),
    st.text(max_size=5),
    st.binary(max_size=5),
    st.sampled_from([torch.float16, torch.int8, torch.device("cpu"), torch.Size([2, 0])]),
    st.sampled_from([torch.float32, torch.int64, torch.bool]).flatmap(
        lambda d: tensors(d, shapes(max_side=3))
    ),
    st.builds(np.float32, st.floats(-1, 1, width=32)),  # refused: numpy scalar
    st.builds(lambda n: np.zeros(n), st.integers(0, 2)),  # refused: numpy array
    st.builds(object),  # refused: arbitrary object
    st.builds(lambda: lambda: None),  # refused: a function
)
_ODD_META = st.recursive(
    _ODD_LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=3), inner, max_size=3),
    ),
    max_leaves=6,
)


@pytest.mark.values
@given(meta=st.dictionaries(st.from_regex(r"[a-z]{1,4}", fullmatch=True), _ODD_META, max_size=3))
def test_metadata_fuzz_round_trips_or_is_refused_at_save(
    tmp_path_factory: pytest.TempPathFactory, meta: dict[str, Any]
) -> None:
    """Any metadata: it loads back exactly, or save refuses it with a CheckpointError and
    writes nothing."""
    path = tmp_path_factory.mktemp("meta") / "m.pt"
    try:
        save_checkpoint(path, nn.Linear(1, 1), **meta)
    except CheckpointError as err:
        assert err.function == "save_checkpoint" and (err.argument or "").startswith("metadata")
        assert not path.exists()
        return
    got = load_checkpoint(path, nn.Linear(1, 1))
    assert deep_equal(dict(got), meta)
    assert isinstance(repr(got), str) and isinstance(repr(inspect_checkpoint(path)), str)


def test_loaded_metadata_can_be_saved_again(tmp_path: Path) -> None:
    """What load_checkpoint returns (a dict with a compact printout) is plain data again
    when it goes back into a checkpoint."""
    save_checkpoint(tmp_path / "a.pt", nn.Linear(1, 1), epoch=1, rng=capture_rng_state())
    meta = load_checkpoint(tmp_path / "a.pt", nn.Linear(1, 1))
    save_checkpoint(tmp_path / "b.pt", nn.Linear(1, 1), previous=meta, runs=[meta])
    again = load_checkpoint(tmp_path / "b.pt", nn.Linear(1, 1))
    assert deep_equal(again["previous"], dict(meta))
    assert deep_equal(again["runs"][0], dict(meta))
