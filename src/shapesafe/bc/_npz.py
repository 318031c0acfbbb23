"""Reading a ``.npz`` file of demonstrations without trusting it.

``numpy.load`` believes an array's header: a crafted header that declares a shape of
745 GiB makes it try to allocate that much (``MemoryError``), and a malformed one
surfaces as a tokenizer error from deep inside numpy. Here every member's header is read
first (``format.read_magic`` + ``read_array_header_*``) and its declared size is bounded
by the member's uncompressed size in the zip directory -- a number the file itself
cannot inflate without also storing that many bytes -- before any array is allocated.
Every failure becomes one :class:`~shapesafe.DataError` naming the file and the member.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npformat
from torch import Tensor

from shapesafe._format import error
from shapesafe.errors import DataError

__all__ = ["read_npz", "write_npz"]

_HINT = "write one with Demonstrations.save() or numpy.savez(path, observations=..., actions=...)"


def _bad(path: Path, why: str) -> DataError:
    return error(
        DataError,
        f"{str(path)!r} is not a readable .npz file ({why})",
        argument="path",
        hint=_HINT,
    )


def _header(f: Any) -> tuple[tuple[int, ...], np.dtype[Any]]:
    version = npformat.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = npformat.read_array_header_1_0(f)
    elif version in ((2, 0), (3, 0)):
        # 3.0 differs from 2.0 only in allowing utf-8 in the header's text
        shape, _, dtype = npformat.read_array_header_2_0(f)
    else:  # pragma: no cover - read_magic accepts only the versions above
        raise ValueError(f"unknown .npy format version {version}")
    return tuple(int(s) for s in shape), dtype


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> np.ndarray[Any, Any]:
    name = info.filename.removesuffix(".npy")
    try:
        with zf.open(info) as f:
            shape, dtype = _header(f)
    except Exception as exc:
        raise _bad(path, f"array {name!r} has a malformed header: {type(exc).__name__}") from None
    if dtype.hasobject:
        raise _bad(path, f"array {name!r} holds Python objects, which are never unpickled")
    declared = math.prod(shape) * dtype.itemsize
    if declared > info.file_size:
        raise _bad(
            path,
            f"array {name!r} declares shape {shape} of {dtype} ({declared} bytes) but the "
            f"archive stores only {info.file_size} bytes for it",
        )
    try:
        with zf.open(info) as f:
            arr: np.ndarray[Any, Any] = npformat.read_array(f, allow_pickle=False)
    except Exception as exc:
        raise _bad(path, f"array {name!r} cannot be read: {type(exc).__name__}") from None
    return arr


def read_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray[Any, Any]]:
    """All arrays of the ``.npz`` file at ``path``, by name, each header checked before
    its data is read (see the module docstring)."""
    p = Path(path)
    if not p.exists():
        raise error(DataError, f"no such file: {str(p)!r}", argument="path")
    if p.is_dir():
        raise error(DataError, f"{str(p)!r} is a directory, not a .npz file", argument="path")
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        kind = "a single .npy array" if _is_npy(p) else "not a zip archive"
        raise _bad(p, kind) from None
    with zf:
        members = [i for i in zf.infolist() if i.filename.endswith(".npy")]
        if not members:
            raise _bad(p, "the archive holds no arrays")
        return {i.filename.removesuffix(".npy"): _read_member(zf, i, p) for i in members}


def _is_npy(p: Path) -> bool:
    with open(p, "rb") as f:
        return f.read(6) == b"\x93NUMPY"


def write_npz(path: str | os.PathLike[str], tensors: dict[str, Tensor]) -> Path:
    """Write ``tensors`` with ``numpy.savez_compressed`` through a temporary file and a
    rename (a crash mid-write keeps the previous file); ``.npz`` is appended when
    missing. Returns the path written."""
    p = Path(path)
    if p.suffix != ".npz":
        p = p.with_name(p.name + ".npz")
    arrays = {k: v.detach().cpu().numpy() for k, v in tensors.items()}
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, p)
    return p
