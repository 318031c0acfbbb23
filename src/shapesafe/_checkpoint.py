"""Checkpoints that are written atomically, verified on load, and never execute pickled code.

:func:`save_checkpoint` writes a module's ``state_dict`` (plus, optionally, an optimizer's
state and any plain metadata) to a temporary file in the destination directory, ``fsync``\\ s
it and renames it over the destination: a crash mid-write leaves the previous file intact.
It records every entry's shape and dtype and a SHA-256 checksum of the whole payload.

:func:`load_checkpoint` reads the file with ``torch.load(weights_only=True)`` (a malicious
pickle is refused, not run), verifies the checksum, compares the recorded shapes with the
module's and reports *every* missing, unexpected or mismatched key in one error, and only
then copies the weights in: on any error the module and optimizer are left untouched.

Metadata (``save_checkpoint(path, net, epoch=3, rng=capture_rng_state())``) may hold only
what ``weights_only=True`` can read back: ``None``, ``bool``, ``int``, ``float``,
``complex``, ``str``, ``bytes``, ``torch.Tensor`` (dense), ``torch.dtype``,
``torch.device``, ``torch.Size``, and ``list`` / ``tuple`` / ``dict`` / ``set`` of these.
Anything else (a numpy array, a numpy scalar, an arbitrary object) is refused **at save
time**, with the path to the offending value and a hint.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import random
import secrets
import struct
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from torch import nn

from shapesafe.errors import CheckpointError

__all__ = [
    "CheckpointError",
    "CheckpointInfo",
    "assert_same_state",
    "capture_rng_state",
    "inspect_checkpoint",
    "load_checkpoint",
    "restore_rng_state",
    "save_checkpoint",
]

FORMAT = "shapesafe.checkpoint"
VERSION = 1
_PathLike = str | os.PathLike[str]


# --------------------------------------------------------------------------------------
# validation + checksum: one walk over the payload
# --------------------------------------------------------------------------------------

_ALLOWED_TEXT = (
    "None, bool, int, float, complex, str, bytes, torch.Tensor (dense), torch.dtype, "
    "torch.device, torch.Size, and list/tuple/dict/set of these"
)
_SCALARS: tuple[type, ...] = (bool, int, float, complex, str, bytes)


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
        return CheckpointError(
            f"{self.function}(): {where} {why}, which torch.load(weights_only=True) cannot "
            f"read back\n  allowed: {_ALLOWED_TEXT}\n  hint: {hint}",
            function=self.function,
            argument=where,
        )

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
            raise CheckpointError(
                f"{self.function}(): {where} contains itself (a reference cycle); checkpoints "
                "hold trees of plain data\n  hint: store a copy without the back-reference",
                function=self.function,
                argument=where,
            )
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


# --------------------------------------------------------------------------------------
# atomic write
# --------------------------------------------------------------------------------------


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def _atomic_save(obj: object, path: Path) -> None:
    directory = path.parent
    tmp = directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
    # os.open applies the umask, so the final file gets the usual permissions (not 0600).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            _write(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(directory)


def _write(obj: object, f: IO[bytes]) -> None:
    # a seam for the crash tests: they replace this to die half-way through a write
    torch.save(obj, f)


# --------------------------------------------------------------------------------------
# save
# --------------------------------------------------------------------------------------


def _qualname(obj: object) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def _shape_text(shape: tuple[int, ...] | torch.Size) -> str:
    s = tuple(int(d) for d in shape)
    return f"({s[0]},)" if len(s) == 1 else str(s)


def _dtype_text(dtype: object) -> str:
    return str(dtype).removeprefix("torch.")


def save_checkpoint(
    path: _PathLike,
    module: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    **metadata: Any,
) -> Path:
    """Write ``module``'s weights (and ``optimizer``'s state, and ``metadata``) atomically.

    The file is written to a temporary file in the same directory, flushed, ``fsync``\\ ed
    and renamed over ``path``, so a crash mid-write leaves the previous checkpoint intact.
    Every ``state_dict`` entry's shape and dtype and a SHA-256 checksum are recorded.

    ``metadata`` may hold only values that ``torch.load(weights_only=True)`` reads back:
    ``None``, ``bool``, ``int``, ``float``, ``complex``, ``str``, ``bytes``, dense
    ``torch.Tensor``, ``torch.dtype``, ``torch.device``, ``torch.Size`` and
    ``list``/``tuple``/``dict``/``set`` of these (e.g. an epoch counter, a config dict, an
    LR scheduler's ``state_dict()``, :func:`capture_rng_state`). Anything else raises
    :class:`CheckpointError` naming the offending value, before anything is written.

    Returns the path written.

    Examples:
        >>> import torch, tempfile, os
        >>> from shapesafe._checkpoint import save_checkpoint, load_checkpoint
        >>> net = torch.nn.Linear(2, 1)
        >>> p = os.path.join(tempfile.mkdtemp(), "net.pt")
        >>> _ = save_checkpoint(p, net, epoch=3)
        >>> load_checkpoint(p, torch.nn.Linear(2, 1))["epoch"]
        3
    """
    fn = "save_checkpoint"
    if not isinstance(module, nn.Module):
        raise CheckpointError(
            f"{fn}(): argument `module` must be a torch.nn.Module, got {_type_name(module)}"
            "\n  hint: pass the model itself; its state_dict() is taken for you",
            function=fn,
            argument="module",
        )
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise CheckpointError(
            f"{fn}(): argument `optimizer` must be a torch.optim.Optimizer or None, got "
            f"{_type_name(optimizer)}\n  hint: extra state goes in keyword metadata, "
            "e.g. scheduler=scheduler.state_dict()",
            function=fn,
            argument="optimizer",
        )
    state = module.state_dict()
    manifest = {
        k: (tuple(int(d) for d in v.shape), str(v.dtype))
        for k, v in state.items()
        if isinstance(v, torch.Tensor)
    }
    payload: dict[str, Any] = {
        "module_class": _qualname(module),
        "manifest": manifest,
        "state_dict": state,
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "metadata": dict(metadata),
    }
    checksum = _checksum(payload, validate=True, function=fn)
    obj = {"format": FORMAT, "version": VERSION, "torch_version": str(torch.__version__)}
    obj.update(payload)
    obj["checksum"] = checksum
    target = Path(os.fspath(path))
    if not target.parent.is_dir():
        raise FileNotFoundError(
            f"{fn}(): directory {str(target.parent)!r} does not exist (saving to "
            f"{str(target)!r})\n  hint: create it first: os.makedirs(dirname, exist_ok=True)"
        )
    _atomic_save(obj, target)
    return target


# --------------------------------------------------------------------------------------
# read + verify
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointInfo:
    """What :func:`inspect_checkpoint` found in a checkpoint file (after verifying it).

    Attributes:
        path: the file.
        module_class: qualified class name of the module that was saved.
        shapes: ``{key: (shape, dtype)}`` for every tensor in the saved ``state_dict``.
        metadata: the keyword metadata given to :func:`save_checkpoint`.
        has_optimizer: whether optimizer state was saved.
        torch_version: the torch version that wrote the file.
        checksum: ``"sha256:<hex>"`` of the payload.
    """

    path: Path
    module_class: str
    shapes: dict[str, tuple[tuple[int, ...], str]]
    metadata: dict[str, Any]
    has_optimizer: bool
    torch_version: str
    checksum: str
    _raw: dict[str, Any] = field(repr=False, compare=False)

    def __str__(self) -> str:
        lines = [
            f"checkpoint {str(self.path)!r}: {self.module_class}, "
            f"{len(self.shapes)} tensors, optimizer state: "
            f"{'yes' if self.has_optimizer else 'no'}, torch {self.torch_version}"
        ]
        width = max((len(k) for k in self.shapes), default=0)
        for k, (shape, dtype) in self.shapes.items():
            lines.append(f"  {k:<{width}}  {_shape_text(shape)} {_dtype_text(dtype)}")
        if self.metadata:
            lines.append(f"  metadata keys: {', '.join(sorted(self.metadata))}")
        return "\n".join(lines)


def _unreadable(path: Path, fn: str, why: str, hint: str) -> CheckpointError:
    return CheckpointError(
        f"{fn}(): {str(path)!r} is not a readable shapesafe checkpoint: {why}\n  hint: {hint}",
        function=fn,
        argument="path",
    )


_CORRUPT_HINT = (
    "the file is truncated or corrupted (an interrupted copy or download?); restore it "
    "from a backup or re-save it with save_checkpoint()"
)


def _read(path: Path, fn: str, map_location: Any, verify: bool) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"{fn}(): no checkpoint at {str(path)!r}")
    if path.is_dir():
        raise _unreadable(path, fn, "it is a directory", "pass the checkpoint file's path")
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        raise _unreadable(path, fn, "it is empty", _CORRUPT_HINT)
    if not (head.startswith(b"PK") or head.startswith(b"\x80")):
        raise _unreadable(
            path,
            fn,
            f"it is not a file written by torch.save (it starts with {head!r})",
            "pass a file written by shapesafe's save_checkpoint()",
        )
    try:
        # pickle protocol 2 writes an empty ``bytes`` value as a call of the builtin
        # ``bytes`` (a GLOBAL), which weights_only refuses by default: allow just that one
        with torch.serialization.safe_globals([bytes]):
            obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        detail = str(e)
        found = next((ln.strip() for ln in detail.splitlines() if "GLOBAL" in ln), None)
        if found is not None:
            raise _unreadable(
                path,
                fn,
                f"it contains pickled Python objects, which were refused and NOT executed "
                f"({found})",
                "a checkpoint should hold only tensors and plain data; if you wrote this "
                "file yourself and trust it, load it with torch.load(..., weights_only="
                "False) and re-save it with save_checkpoint()",
            ) from None
        why = next((ln.strip() for ln in detail.splitlines()[1:] if ln.strip()), detail)
        raise _unreadable(path, fn, f"unpickling failed ({why})", _CORRUPT_HINT) from None
    except Exception as e:  # weights_only: nothing ran; any failure means a damaged file
        first = str(e).splitlines()[0] if str(e) else ""
        what = f"{type(e).__name__}: {first}".split(". ")[0].rstrip(": ")
        raise _unreadable(path, fn, what, _CORRUPT_HINT) from None
    if not (isinstance(obj, dict) and obj.get("format") == FORMAT):
        if (
            isinstance(obj, Mapping)
            and obj
            and all(isinstance(v, torch.Tensor) for v in obj.values())
        ):
            raise _unreadable(
                path,
                fn,
                "it looks like a plain state_dict written by torch.save(net.state_dict()) "
                "(no shapes or checksum recorded)",
                "load it with net.load_state_dict(torch.load(path, weights_only=True)), then "
                "save_checkpoint(path, net) to get a verified checkpoint",
            )
        raise _unreadable(
            path,
            fn,
            f"it holds a {_type_name(obj)}, not a checkpoint written by save_checkpoint()",
            "pass a file written by shapesafe's save_checkpoint()",
        )
    version = obj.get("version")
    if type(version) is not int or version > VERSION:
        raise _unreadable(
            path,
            fn,
            f"format version {version!r} is newer than this shapesafe understands ({VERSION})",
            "upgrade shapesafe",
        )
    keys = ("module_class", "manifest", "state_dict", "optimizer", "metadata", "checksum")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise _unreadable(path, fn, f"fields {missing} are missing", _CORRUPT_HINT)
    if not _well_formed(obj):
        raise _unreadable(path, fn, "its fields have unexpected types", _CORRUPT_HINT)
    if verify:
        payload = {k: obj[k] for k in keys if k != "checksum"}
        got = _checksum(payload, validate=False, function=fn)
        if got != obj["checksum"]:
            raise _unreadable(
                path,
                fn,
                f"checksum mismatch (recorded {str(obj['checksum'])[:19]}..., "
                f"computed {got[:19]}...): the contents were altered after saving",
                _CORRUPT_HINT,
            )
    return obj  # type: ignore[no-any-return]


def _well_formed(obj: Mapping[str, Any]) -> bool:
    manifest, state = obj["manifest"], obj["state_dict"]
    if not (isinstance(manifest, dict) and isinstance(state, dict)):
        return False
    for k, entry in manifest.items():
        if not (isinstance(k, str) and isinstance(entry, tuple) and len(entry) == 2):
            return False
        shape, dtype = entry
        if not (isinstance(shape, tuple) and all(type(d) is int for d in shape)):
            return False
        if not (isinstance(dtype, str) and isinstance(state.get(k), torch.Tensor)):
            return False
    return (
        isinstance(obj["module_class"], str)
        and isinstance(obj["metadata"], dict)
        and isinstance(obj["checksum"], str)
        and (obj["optimizer"] is None or isinstance(obj["optimizer"], dict))
        and all(isinstance(k, str) for k in state)
    )


def inspect_checkpoint(path: _PathLike, *, verify: bool = True) -> CheckpointInfo:
    """Read and verify a checkpoint without a module: its shapes, dtypes and metadata.

    Examples:
        >>> import torch, tempfile, os
        >>> from shapesafe._checkpoint import save_checkpoint, inspect_checkpoint
        >>> p = os.path.join(tempfile.mkdtemp(), "net.pt")
        >>> _ = save_checkpoint(p, torch.nn.Linear(2, 1), epoch=3)
        >>> inspect_checkpoint(p).shapes["weight"]
        ((1, 2), 'torch.float32')
    """
    target = Path(os.fspath(path))
    obj = _read(target, "inspect_checkpoint", "cpu", verify)
    return CheckpointInfo(
        path=target,
        module_class=str(obj["module_class"]),
        shapes={k: (tuple(s), str(d)) for k, (s, d) in obj["manifest"].items()},
        metadata=dict(obj["metadata"]),
        has_optimizer=obj["optimizer"] is not None,
        torch_version=str(obj.get("torch_version", "?")),
        checksum=str(obj["checksum"]),
        _raw=obj,
    )


def _common_prefix_hint(missing: list[str], unexpected: list[str]) -> str | None:
    if not missing or not unexpected or len(missing) != len(unexpected):
        return None
    m, u = sorted(missing), sorted(unexpected)
    if u[0].endswith(m[0]) and len(u[0]) > len(m[0]):
        p = u[0][: len(u[0]) - len(m[0])]
        if sorted(p + k for k in m) == u:
            return (
                f"every checkpoint key has an extra prefix {p!r} (saved from a wrapper such "
                f"as DataParallel or a parent module?); save the inner module, or load into "
                f"the module at that attribute"
            )
    if m[0].endswith(u[0]) and len(m[0]) > len(u[0]):
        p = m[0][: len(m[0]) - len(u[0])]
        if sorted(p + k for k in u) == m:
            return (
                f"every module key has an extra prefix {p!r}: the checkpoint was saved from "
                f"the inner module; load it into module.{p.rstrip('.')}"
            )
    return None


def _entry_text(v: object) -> str:
    if isinstance(v, torch.Tensor):
        return f"{_shape_text(v.shape)} {_dtype_text(v.dtype)}"
    return f"extra state ({_type_name(v)})"  # get_extra_state(): not a tensor


def _fit_problems(
    manifest: Mapping[str, tuple[Any, str]],
    saved: Mapping[str, Any],
    module: nn.Module,
    strict: bool,
) -> tuple[list[str], list[str], list[str], list[str]]:
    own = module.state_dict()
    # keys come from the saved state_dict itself: the manifest lists only its tensors, and
    # a module's get_extra_state() entry may be plain data
    missing = [k for k in own if k not in saved]
    unexpected = [k for k in saved if k not in own]
    shape_bad: list[str] = []
    dtype_bad: list[str] = []
    for k, (shape, dtype) in manifest.items():
        if k not in own or not isinstance(own[k], torch.Tensor):
            continue
        t = own[k]
        if tuple(shape) != tuple(t.shape):
            shape_bad.append(k)
        elif str(dtype) != str(t.dtype):
            dtype_bad.append(k)
    if not strict:
        missing, unexpected, dtype_bad = [], [], []
    return missing, unexpected, shape_bad, dtype_bad


def load_checkpoint(
    path: _PathLike,
    module: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    strict: bool = True,
    verify: bool = True,
    map_location: Any = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` into ``module`` (and
    ``optimizer``) and return its metadata.

    The file is read with ``torch.load(weights_only=True)``: pickled code is refused, never
    run. With ``verify=True`` (default) the SHA-256 recorded at save time is checked.
    With ``strict=True`` (default), any key missing from the checkpoint, any key the module
    does not have, and any shape or dtype mismatch is reported together in one
    :class:`CheckpointError` that lists every offending key with both shapes. With
    ``strict=False`` only the keys present on both sides are loaded (dtypes are cast, as
    ``load_state_dict`` does), but shape mismatches are still errors.

    Nothing is modified unless everything fits: on error the module and optimizer keep
    their previous state.

    ``map_location`` (default ``"cpu"``) places tensors in the returned metadata; the
    weights are copied into the module's existing tensors, on the module's device.

    Examples:
        >>> import torch, tempfile, os
        >>> from shapesafe._checkpoint import save_checkpoint, load_checkpoint
        >>> p = os.path.join(tempfile.mkdtemp(), "net.pt")
        >>> _ = save_checkpoint(p, torch.nn.Linear(2, 1), step=10)
        >>> load_checkpoint(p, torch.nn.Linear(2, 1))
        {'step': 10}
    """
    fn = "load_checkpoint"
    if not isinstance(module, nn.Module):
        raise CheckpointError(
            f"{fn}(): argument `module` must be a torch.nn.Module, got {_type_name(module)}"
            "\n  hint: build the model first (same constructor arguments), then load into it",
            function=fn,
            argument="module",
        )
    target = Path(os.fspath(path))
    obj = _read(target, fn, map_location, verify)
    manifest: dict[str, tuple[Any, str]] = obj["manifest"]
    saved_class = str(obj["module_class"])
    missing, unexpected, shape_bad, dtype_bad = _fit_problems(
        manifest, obj["state_dict"], module, strict
    )
    if missing or unexpected or shape_bad or dtype_bad:
        own = module.state_dict()
        n = len(missing) + len(unexpected) + len(shape_bad) + len(dtype_bad)
        lines = [
            f"{fn}(): checkpoint {str(target)!r} (saved from {saved_class.rsplit('.', 1)[-1]}) "
            f"does not fit {type(module).__qualname__}: {n} problem{'s' if n != 1 else ''}"
        ]
        for k in shape_bad:
            lines.append(
                f"  shape mismatch  {k}: checkpoint {_shape_text(tuple(manifest[k][0]))}, "
                f"module {_shape_text(own[k].shape)}"
            )
        for k in dtype_bad:
            lines.append(
                f"  dtype mismatch  {k}: checkpoint {_dtype_text(manifest[k][1])}, "
                f"module {_dtype_text(own[k].dtype)}"
            )
        for k in missing:
            lines.append(f"  missing from checkpoint  {k}: module {_entry_text(own[k])}")
        for k in unexpected:
            lines.append(
                f"  unexpected in checkpoint  {k}: checkpoint {_entry_text(obj['state_dict'][k])}"
            )
        hint = _common_prefix_hint(missing, unexpected)
        if hint is None and shape_bad:
            hint = (
                "the module was built with different sizes than the saved one; build it with "
                "the same constructor arguments (inspect_checkpoint(path) shows the saved "
                "shapes)"
            )
        if hint is None and dtype_bad and not (missing or unexpected):
            hint = "convert the module first (e.g. module.float() / .double()), or strict=False"
        if hint is None:
            hint = (
                "the architectures differ; build the same module class that was saved, or "
                "pass strict=False to load only the keys both sides have"
            )
        lines.append(f"  hint: {hint}")
        raise CheckpointError(
            "\n".join(lines),
            function=fn,
            argument="module",
            expected=saved_class,
            got=_qualname(module),
        )
    opt_state = obj["optimizer"]
    if optimizer is not None:
        if opt_state is None:
            raise CheckpointError(
                f"{fn}(): checkpoint {str(target)!r} holds no optimizer state, but an "
                "optimizer was passed\n  hint: it was saved without optimizer=; load "
                "without `optimizer`, or re-save with save_checkpoint(path, net, optimizer)",
                function=fn,
                argument="optimizer",
            )
        _check_optimizer_fits(opt_state, optimizer, target, fn)
    state = obj["state_dict"]
    if not strict:
        own_keys = set(module.state_dict())
        state = OrderedDict((k, v) for k, v in state.items() if k in own_keys)
    module.load_state_dict(state, strict=strict)
    if optimizer is not None:
        optimizer.load_state_dict(opt_state)
    return dict(obj["metadata"])


def _check_optimizer_fits(
    saved: Mapping[str, Any], optimizer: torch.optim.Optimizer, path: Path, fn: str
) -> None:
    saved_groups = saved.get("param_groups", [])
    saved_sizes = [len(g["params"]) for g in saved_groups]
    own_sizes = [len(g["params"]) for g in optimizer.param_groups]
    if saved_sizes != own_sizes:
        raise CheckpointError(
            f"{fn}(): checkpoint {str(path)!r}: optimizer state does not fit the optimizer: "
            f"saved parameter groups hold {saved_sizes} parameters, the optimizer's hold "
            f"{own_sizes}\n  hint: build the optimizer over the same parameters, in the same "
            "order and groups, as when saving",
            function=fn,
            argument="optimizer",
            expected=str(saved_sizes),
            got=str(own_sizes),
        )
    # per-parameter state tensors (momentum buffers, Adam moments) must match the params
    params = [p for g in optimizer.param_groups for p in g["params"]]
    index = {pid: i for i, pid in enumerate(pid for g in saved_groups for pid in g["params"])}
    bad: list[str] = []
    for pid, st in saved.get("state", {}).items():
        i = index.get(pid)
        if i is None or not isinstance(st, Mapping):
            continue
        p = params[i]
        for name, v in st.items():
            if isinstance(v, torch.Tensor) and v.dim() > 0 and tuple(v.shape) != tuple(p.shape):
                bad.append(
                    f"  parameter {i} state {name!r}: checkpoint {_shape_text(v.shape)}, "
                    f"parameter {_shape_text(p.shape)}"
                )
    if bad:
        raise CheckpointError(
            f"{fn}(): checkpoint {str(path)!r}: optimizer state does not fit the "
            f"optimizer's parameters:\n" + "\n".join(bad) + "\n  hint: build the optimizer "
            "over the same parameters, in the same order, as when saving",
            function=fn,
            argument="optimizer",
        )


# --------------------------------------------------------------------------------------
# round-trip equality (the seed's loop, done right)
# --------------------------------------------------------------------------------------


def _as_state(x: nn.Module | Mapping[str, Any]) -> Mapping[str, Any]:
    return x.state_dict() if isinstance(x, nn.Module) else x


def assert_same_state(
    a: nn.Module | Mapping[str, Any],
    b: nn.Module | Mapping[str, Any],
    *,
    atol: float = 0.0,
    rtol: float = 0.0,
) -> None:
    """Raise :class:`CheckpointError` listing every key where two modules (or state dicts)
    differ: missing on either side, shape, dtype, or values (with the largest difference).

    With the default ``atol=rtol=0`` values must be exactly equal, like the seed's
    ``torch.equal`` loop; unlike a ``zip`` over two ``state_dict()``\\ s it cannot silently
    stop early or pair the wrong keys.

    Examples:
        >>> import torch
        >>> from shapesafe._checkpoint import assert_same_state
        >>> a = torch.nn.Linear(2, 1); b = torch.nn.Linear(2, 1)
        >>> b.load_state_dict(a.state_dict())
        <All keys matched successfully>
        >>> assert_same_state(a, b)
    """
    fn = "assert_same_state"
    sa, sb = _as_state(a), _as_state(b)
    problems: list[str] = []
    for k in sa:
        if k not in sb:
            problems.append(f"  {k}: only in the first")
    for k in sb:
        if k not in sa:
            problems.append(f"  {k}: only in the second")
    for k in sa:
        if k not in sb:
            continue
        x, y = sa[k], sb[k]
        if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
            if x != y:
                problems.append(f"  {k}: {x!r} != {y!r}")
            continue
        if x.shape != y.shape:
            problems.append(f"  {k}: shape {_shape_text(x.shape)} vs {_shape_text(y.shape)}")
        elif x.dtype != y.dtype:
            problems.append(f"  {k}: dtype {_dtype_text(x.dtype)} vs {_dtype_text(y.dtype)}")
        else:
            xd, yd = x.detach().cpu(), y.detach().cpu()
            if atol == 0.0 and rtol == 0.0:
                same = torch.equal(xd, yd)
            else:
                same = torch.allclose(xd, yd, atol=atol, rtol=rtol, equal_nan=True)
            if not same:
                if xd.is_floating_point() or xd.is_complex():
                    diff = (xd.double() - yd.double()).abs()
                    worst = float(diff.nan_to_num(math.inf).max()) if diff.numel() else 0.0
                    n = int((diff != 0).sum())
                    problems.append(
                        f"  {k}: {n} of {xd.numel()} values differ (max |diff| {worst:.3g})"
                    )
                else:
                    n = int((xd != yd).sum())
                    problems.append(f"  {k}: {n} of {xd.numel()} values differ")
    if problems:
        raise CheckpointError(
            f"{fn}(): the two states differ at {len(problems)} "
            f"key{'s' if len(problems) != 1 else ''}:\n"
            + "\n".join(problems)
            + "\n  hint: a round trip should be exact; check that the same architecture and "
            "dtype were used on both sides",
            function=fn,
        )


# --------------------------------------------------------------------------------------
# RNG state for exact resume
# --------------------------------------------------------------------------------------


def capture_rng_state() -> dict[str, Any]:
    """The state of Python's, numpy's (global) and torch's random generators, as plain
    data that :func:`save_checkpoint` can store, for an exactly reproducible resume.

    Examples:
        >>> import torch
        >>> from shapesafe._checkpoint import capture_rng_state, restore_rng_state
        >>> s = capture_rng_state(); a = torch.rand(2)
        >>> restore_rng_state(s); torch.equal(a, torch.rand(2))
        True
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64).copy()),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():  # pragma: no cover - no GPU in CI
        state["torch_cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Restore generators captured by :func:`capture_rng_state` (e.g. from checkpoint
    metadata)."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        (
            n["kind"],
            n["keys"].numpy().astype(np.uint32),
            int(n["pos"]),
            int(n["has_gauss"]),
            float(n["cached_gaussian"]),
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if "torch_cuda" in state and torch.cuda.is_available():  # pragma: no cover
        torch.cuda.set_rng_state_all(state["torch_cuda"])
