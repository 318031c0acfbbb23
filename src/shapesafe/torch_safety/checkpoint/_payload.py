"""What a checkpoint may hold, and its checksum: one walk over the payload does both.

``torch.load(weights_only=True)`` refuses to unpickle anything but tensors and plain
data, which is what makes loading a checkpoint from the internet safe. The price is that
a checkpoint written with, say, a numpy array in its metadata saves fine and then cannot
be loaded. The walker below refuses such values *at save time*, naming the path to the
offending value, and feeds the same walk into a SHA-256 so that the load side can tell a
damaged or edited file from a good one.

The checksum is over a canonical, type-tagged encoding (not over the pickle bytes):
``torch.save`` output is not byte-for-byte stable across versions, and tensors are hashed
from their raw bytes so that a flipped weight is caught, not just a changed shape.
"""

from __future__ import annotations

import hashlib
import struct
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from shapesafe._format import error
from shapesafe.errors import CheckpointError

FORMAT = "shapesafe.checkpoint"
VERSION = 1
# the payload fields, in the order they are written (the checksum covers all but itself)
FIELDS = ("module_class", "manifest", "state_dict", "optimizer", "metadata", "checksum")

_ALLOWED_TEXT = (
    "None, bool, int, float, complex, str, bytes, torch.Tensor (dense), torch.dtype, "
    "torch.device, torch.Size, and list/tuple/dict/set of these"
)


def _type_name(x: object) -> str:
    t = type(x)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _hint_for(x: object) -> str:
    if isinstance(x, np.ndarray):
        return "convert numpy arrays with torch.from_numpy(a) (or a.tolist())"
    if isinstance(x, np.generic):
        return "convert numpy scalars with .item() (e.g. float(x))"
    if isinstance(x, nn.Module):
        return "store the module's weights (module.state_dict()), not the module"
    if isinstance(x, torch.optim.Optimizer):
        return "pass the optimizer as `optimizer=`, or store optimizer.state_dict()"
    if callable(x):
        return "functions and callables cannot be stored; store the data they need instead"
    if hasattr(x, "state_dict"):
        return "store its state (obj.state_dict()) instead of the object"
    return "store plain data (numbers, strings, tensors, lists, dicts) instead of the object"


class _Walker:
    """Feeds a canonical, type-tagged encoding of a payload into a SHA-256 and, when
    ``validate`` is set, refuses values weights_only cannot load back."""

    def __init__(self, *, validate: bool, function: str) -> None:
        self.h = hashlib.sha256()
        self.validate = validate
        self.function = function
        self._stack: set[int] = set()

    def _refuse(self, where: str, why: str, hint: str) -> CheckpointError:
        err = error(
            CheckpointError,
            f"{where} {why}, which torch.load(weights_only=True) cannot read back",
            function=self.function,
            got=why.removeprefix("is "),
            hint=hint,
            extra=[f"allowed: {_ALLOWED_TEXT}"],
        )
        err.argument = where  # the path to the value, e.g. "metadata['rng'][1]"
        return err

    def _put(self, tag: bytes, data: bytes = b"") -> None:
        self.h.update(tag + struct.pack("<Q", len(data)) + data)

    def walk(self, x: object, where: str) -> None:
        t = type(x)
        if x is None:
            self._put(b"N")
        elif t is bool:
            self._put(b"b", b"1" if x else b"0")
        elif t is int:
            self._put(b"i", str(x).encode())
        elif t is float:
            self._put(b"f", float.hex(x).encode())  # type: ignore[arg-type]
        elif t is complex:
            c: complex = x  # type: ignore[assignment]
            self._put(b"c", f"{c.real.hex()},{c.imag.hex()}".encode())
        elif t is str:
            self._put(b"s", x.encode("utf-8", "surrogatepass"))  # type: ignore[attr-defined]
        elif t in (bytes, bytearray):
            self._put(b"y", bytes(x))  # type: ignore[call-overload]
        elif isinstance(x, torch.Tensor):
            self._tensor(x, where)
        elif isinstance(x, torch.dtype):
            self._put(b"D", str(x).encode())
        elif t is torch.device:
            self._put(b"V", str(x).encode())
        elif t is torch.Size:
            self._put(b"S", repr(tuple(x)).encode())  # type: ignore[arg-type]
        elif t in (list, tuple, dict, OrderedDict, set):
            self._container(x, where)
        else:
            if self.validate:
                raise self._refuse(where, f"is a {_type_name(x)}", _hint_for(x))
            self._put(b"?", _type_name(x).encode())

    def _container(self, x: Any, where: str) -> None:
        key = id(x)
        if key in self._stack:
            err = error(
                CheckpointError,
                f"{where} contains itself (a reference cycle); checkpoints hold trees of "
                "plain data",
                function=self.function,
                hint="store a copy without the back-reference",
            )
            err.argument = where
            raise err
        self._stack.add(key)
        try:
            if isinstance(x, dict):
                self._put(b"d", struct.pack("<Q", len(x)))
                for k, v in x.items():
                    self.walk(k, f"{where}[{k!r}] (the key)")
                    self.walk(v, f"{where}[{k!r}]")
            elif isinstance(x, set):
                digests = []
                for item in x:
                    sub = _Walker(validate=self.validate, function=self.function)
                    sub._stack = self._stack
                    sub.walk(item, f"{where} (a set element)")
                    digests.append(sub.h.digest())
                self._put(b"e", b"".join(sorted(digests)))
            else:
                self._put(b"l" if type(x) is list else b"t", struct.pack("<Q", len(x)))
                for i, v in enumerate(x):
                    self.walk(v, f"{where}[{i}]")
        finally:
            self._stack.discard(key)

    def _tensor(self, t: torch.Tensor, where: str) -> None:
        if self.validate:
            if type(t) not in (torch.Tensor, nn.Parameter):
                raise self._refuse(
                    where,
                    f"is a tensor subclass {_type_name(t)}",
                    "store a plain tensor: torch.Tensor(x) or x.as_subclass(torch.Tensor)",
                )
            if t.layout != torch.strided or t.is_quantized or t.device.type == "meta":
                raise self._refuse(
                    where,
                    f"is a {t.layout} / quantized / meta tensor",
                    "store a dense copy (x.to_dense() / x.dequantize())",
                )
        data = t.detach()
        if data.device.type != "cpu":
            data = data.cpu()
        data = data.resolve_conj().resolve_neg().contiguous()
        self._put(b"T", f"{data.dtype}|{tuple(data.shape)}".encode())
        if data.numel():
            self.h.update(data.reshape(-1).view(torch.uint8).numpy())  # type: ignore[arg-type]

    def hexdigest(self) -> str:
        return "sha256:" + self.h.hexdigest()


def _checksum(payload: Mapping[str, Any], *, validate: bool, function: str) -> str:
    w = _Walker(validate=validate, function=function)
    for k in sorted(payload):
        w.walk(k, "key")
        w.walk(payload[k], k)
    return w.hexdigest()
