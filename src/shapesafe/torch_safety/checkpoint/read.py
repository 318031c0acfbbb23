"""Reading a checkpoint file and deciding whether to trust it, before any module is
touched.

:func:`read_verified` is the one way in: it reads with ``torch.load(weights_only=True)``
(pickled code is refused, never run), checks the format marker and version, that every
field is there with the right type, that the manifest (each tensor's recorded shape and
dtype) agrees with the tensors actually stored, and the SHA-256 recorded at save time.
Only a file that passes all of these reaches :func:`load_checkpoint`'s fit check, so a
file edited by hand (manifest says ``(1, 2)``, payload holds ``(5, 5)``, checksum
recomputed) is refused here, not half-way through copying weights.

Every failure is a :class:`~shapesafe.CheckpointError` whose message says what is wrong
with the file and how to recover (a missing file included).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from shapesafe._format import error, fmt_dtype, fmt_shape, fmt_value, plural
from shapesafe.errors import CheckpointError
from shapesafe.torch_safety.checkpoint._payload import (
    FIELDS,
    FORMAT,
    VERSION,
    _checksum,
    _type_name,
)

__all__ = ["CheckpointInfo", "Metadata", "inspect_checkpoint", "read_verified"]

PathLike = str | os.PathLike[str]


def _missing(path: Path, fn: str) -> CheckpointError:
    err = error(
        CheckpointError,
        f"no checkpoint at {str(path)!r}",
        function=fn,
        hint=f"check the path (a relative path is resolved from {os.getcwd()!r})",
    )
    err.argument, err.got = "path", "no such file"
    return err


def as_path(path: Any, fn: str) -> Path:
    """``path`` as a :class:`Path`, or a :class:`CheckpointError` naming what was passed
    instead (``None``, a number, a tensor: ``os.fspath`` would raise a bare TypeError)."""
    if isinstance(path, (str, os.PathLike)) and not isinstance(path, bytes):
        text = os.fspath(path)
        if isinstance(text, str) and text:
            return Path(text)
    raise error(
        CheckpointError,
        f"must be a file path (str or pathlib.Path), got {fmt_value(path)}",
        function=fn,
        argument="path",
        expected="a str or os.PathLike",
        got=fmt_value(path),
    )


def _unreadable(path: Path, fn: str, why: str, hint: str) -> CheckpointError:
    err = error(
        CheckpointError,
        f"{str(path)!r} is not a readable shapesafe checkpoint: {why}",
        function=fn,
        hint=hint,
    )
    err.argument, err.got = "path", why  # the message names the file itself
    return err


_CORRUPT_HINT = (
    "the file is truncated or corrupted (an interrupted copy or download?); restore it "
    "from a backup or re-save it with save_checkpoint()"
)


def _read(path: Path, fn: str, map_location: Any, verify: bool) -> dict[str, Any]:
    if not path.exists():
        raise _missing(path, fn)
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
    missing = [k for k in FIELDS if k not in obj]
    if missing:
        raise _unreadable(path, fn, f"fields {missing} are missing", _CORRUPT_HINT)
    if not _well_formed(obj):
        raise _unreadable(path, fn, "its fields have unexpected types", _CORRUPT_HINT)
    inconsistent = _manifest_disagreement(obj)
    if inconsistent:
        why = f"its manifest disagrees with its data ({inconsistent})"
        raise _unreadable(path, fn, why, _CORRUPT_HINT)
    if verify:
        payload = {k: obj[k] for k in FIELDS if k != "checksum"}
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
        if not isinstance(dtype, str):
            return False  # whether the entry agrees with the data is checked next
    return (
        isinstance(obj["module_class"], str)
        and isinstance(obj["metadata"], dict)
        and isinstance(obj["checksum"], str)
        and (obj["optimizer"] is None or isinstance(obj["optimizer"], dict))
        and all(isinstance(k, str) for k in state)
    )


def _dtype_name(recorded: str) -> str:
    """``float32`` for a manifest's ``"torch.float32"`` (fmt_dtype leaves strings as is)."""
    return str(recorded).removeprefix("torch.")


def _manifest_disagreement(obj: Mapping[str, Any]) -> str | None:
    """The first way the manifest and the stored tensors disagree, or ``None``.

    The manifest is what the fit check compares with the module; the tensors are what
    gets copied. If they disagree (a hand-edited or buggy file, checksum recomputed),
    trusting the manifest would let ``load_state_dict`` fail half-way, after copying
    some weights. So both must tell the same story before anything is compared.
    """
    manifest, state = obj["manifest"], obj["state_dict"]
    tensors = {k for k, v in state.items() if isinstance(v, torch.Tensor)}
    extra = sorted(set(manifest) - tensors)
    if extra:
        return f"{extra[0]!r} is in the manifest but not in the data"
    unlisted = sorted(tensors - set(manifest))
    if unlisted:
        return f"{unlisted[0]!r} is in the data but not in the manifest"
    for k, (shape, dtype) in manifest.items():
        t = state[k]
        if tuple(shape) != tuple(t.shape):
            return f"{k!r}: manifest {fmt_shape(shape)}, data {fmt_shape(t.shape)}"
        if str(dtype) != str(t.dtype):
            return f"{k!r}: manifest {_dtype_name(dtype)}, data {fmt_dtype(t.dtype)}"
    return None


def read_verified(path: Path, fn: str, map_location: Any, verify: bool) -> dict[str, Any]:
    """Read ``path`` and return its payload dict, or raise :class:`CheckpointError`."""
    return _read(path, fn, map_location, verify)


# --------------------------------------------------------------------------------------
# what is shown when a checkpoint's contents are printed
# --------------------------------------------------------------------------------------


def _is_rng_state(value: Any) -> bool:
    return isinstance(value, Mapping) and {"python", "numpy", "torch"} <= set(value)


def _short(value: Any) -> str:
    """A one-line stand-in for a big metadata value; small values print as themselves.

    An RNG state (thousands of integers) or a tensor printed in full buries the numbers
    a user printed the metadata for (the epoch, the config).
    """
    if _is_rng_state(value):
        return f"<rng state: {', '.join(sorted(value))}>"
    if isinstance(value, torch.Tensor):
        return f"<{fmt_value(value)}>"
    text = repr(value)
    if len(text) <= 80:
        return text
    if isinstance(value, Mapping):
        return (
            "{" + ", ".join(f"{k!r}: {_short(v)}" for k, v in value.items()) + "}"
            if len(value) <= 8
            else f"<a dict of {plural(len(value), 'item')}>"
        )
    if isinstance(value, (list, tuple, set)):
        return f"<a {type(value).__name__} of {plural(len(value), 'item')}>"
    return text[:77] + "..."


class Metadata(dict[str, Any]):
    """The metadata a checkpoint was saved with: a plain ``dict`` whose printout
    summarises big values (``<rng state: numpy, python, torch>``,
    ``<tensor (624,) int64>``) instead of dumping them."""

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: {_short(v)}" for k, v in self.items()) + "}"


@dataclass(frozen=True, repr=False)
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
    _raw: dict[str, Any] = field(compare=False)

    def __repr__(self) -> str:
        return (
            f"CheckpointInfo(path={str(self.path)!r}, module_class={self.module_class!r}, "
            f"tensors={len(self.shapes)}, metadata={Metadata(self.metadata)!r}, "
            f"has_optimizer={self.has_optimizer}, torch_version={self.torch_version!r}, "
            f"checksum={self.checksum[:19]!r}...)"
        )

    def __str__(self) -> str:
        lines = [
            f"checkpoint {str(self.path)!r}: {self.module_class}, "
            f"{len(self.shapes)} tensors, optimizer state: "
            f"{'yes' if self.has_optimizer else 'no'}, torch {self.torch_version}"
        ]
        width = max((len(k) for k in self.shapes), default=0)
        for k, (shape, dtype) in self.shapes.items():
            lines.append(f"  {k:<{width}}  {fmt_shape(shape)} {_dtype_name(dtype)}")
        if self.metadata:
            lines.append(f"  metadata: {Metadata(self.metadata)!r}")
        return "\n".join(lines)


def inspect_checkpoint(path: PathLike, *, verify: bool = True) -> CheckpointInfo:
    """Read and verify a checkpoint without a module: its shapes, dtypes and metadata.

    Examples:
        >>> import torch, tempfile, os
        >>> from shapesafe import save_checkpoint, inspect_checkpoint
        >>> p = os.path.join(tempfile.mkdtemp(), "net.pt")
        >>> _ = save_checkpoint(p, torch.nn.Linear(2, 1), epoch=3)
        >>> inspect_checkpoint(p).shapes["weight"]
        ((1, 2), 'torch.float32')
    """
    target = as_path(path, "inspect_checkpoint")
    obj = _read(target, "inspect_checkpoint", "cpu", verify)
    return CheckpointInfo(
        path=target,
        module_class=str(obj["module_class"]),
        shapes={k: (tuple(s), str(d)) for k, (s, d) in obj["manifest"].items()},
        metadata=Metadata(obj["metadata"]),
        has_optimizer=obj["optimizer"] is not None,
        torch_version=str(obj.get("torch_version", "?")),
        checksum=str(obj["checksum"]),
        _raw=obj,
    )
