"""Writing a checkpoint atomically, and cleaning up after writers that died.

The file is written to a temporary file in the destination directory, flushed,
``fsync``\\ ed and renamed over the destination: a crash mid-write leaves the previous
checkpoint intact, and a reader never sees half a file.

A writer killed mid-write (OOM killer, a pre-empted cluster job, Ctrl-C twice) leaves its
temporary file behind; a training job that checkpoints every few minutes and is killed
now and then fills the disk with them. So each save first removes stale temporary files
*of the same destination*, and only those that are certainly ours and certainly dead:

- the name must match our pattern exactly: ``.<name>.<host>.<pid>.<random>.tmp``;
- ``<host>`` must be this machine (a short hash of the host name): on a shared
  filesystem another machine's writer may be alive with a pid we cannot check;
- ``<pid>`` must not be a live process here (``os.kill(pid, 0)``); a live pid is kept
  even if it has been reused by an unrelated process, since being wrong that way only
  costs disk space until that process ends.

Temporary files of other destinations, files that merely look similar, and files from
other machines are never touched.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
from pathlib import Path
from typing import IO, Any

import torch
from torch import nn

from shapesafe._format import error
from shapesafe.errors import CheckpointError
from shapesafe.torch_safety._arguments import require_module, require_optimizer
from shapesafe.torch_safety.checkpoint._payload import FORMAT, VERSION, _checksum
from shapesafe.torch_safety.checkpoint.read import Metadata, PathLike, as_path

__all__ = ["save_checkpoint"]


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _temp_name(path: Path) -> Path:
    token = secrets.token_hex(6)
    return path.parent / f".{path.name}.{_host_tag()}.{os.getpid()}.{token}.tmp"


def _pid_alive(pid: int) -> bool:
    if pid <= 0 or os.name == "nt":
        # pid <= 0 would signal a process group; on Windows os.kill(pid, 0) terminates
        # the process instead of probing it. Both mean "cannot tell": keep the file.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but belongs to someone else, or we cannot tell
    return True


def remove_stale_temp_files(path: Path) -> list[Path]:
    """Delete temporary files that a dead writer on this machine left for ``path``;
    returns the ones removed."""
    pattern = re.compile(
        rf"\.{re.escape(path.name)}\.(?P<host>[0-9a-f]{{8}})\.(?P<pid>\d+)\.[0-9a-f]{{12}}\.tmp"
    )
    host, me = _host_tag(), os.getpid()
    removed: list[Path] = []
    try:
        candidates = list(path.parent.iterdir())
    except OSError:
        return removed
    for candidate in candidates:
        m = pattern.fullmatch(candidate.name)
        if m is None or m["host"] != host:
            continue
        pid = int(m["pid"])
        if pid == me or _pid_alive(pid):
            continue  # our own (another thread may be writing it) or a live writer's
        try:
            candidate.unlink()
            removed.append(candidate)
        except OSError:  # already gone (a concurrent save cleaned it), or not ours to delete
            pass
    return removed


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
    remove_stale_temp_files(path)
    tmp = _temp_name(path)
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


def _plain(value: Any, seen: frozenset[int] = frozenset()) -> Any:
    """``value`` with every :class:`Metadata` (what ``load_checkpoint`` returns) turned
    back into a plain ``dict``: re-saving loaded metadata must work, and
    ``weights_only`` loading refuses dict subclasses. A container met again on the same
    path (a cycle) is left as it is, for the payload walker to report."""
    if id(value) in seen:
        return value
    inner = seen | {id(value)}
    if type(value) in (dict, Metadata):
        items = {k: _plain(v, inner) for k, v in value.items()}
        same = type(value) is dict and all(items[k] is v for k, v in value.items())
        return value if same else items  # untouched data stays the very same object
    if type(value) in (list, tuple):
        elems = [_plain(v, inner) for v in value]
        return value if all(a is b for a, b in zip(elems, value)) else type(value)(elems)
    return value


def _qualname(obj: object) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def save_checkpoint(
    path: PathLike,
    module: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    **metadata: Any,
) -> Path:
    """Write ``module``'s weights (and ``optimizer``'s state, and ``metadata``) atomically.

    The file is written to a temporary file in the same directory, flushed, ``fsync``\\ ed
    and renamed over ``path``, so a crash mid-write leaves the previous checkpoint intact;
    temporary files left by writers that died are removed on the next save to the same
    path. Every ``state_dict`` entry's shape and dtype and a SHA-256 checksum are
    recorded.

    ``metadata`` may hold only values that ``torch.load(weights_only=True)`` reads back:
    ``None``, ``bool``, ``int``, ``float``, ``complex``, ``str``, ``bytes``, dense
    ``torch.Tensor``, ``torch.dtype``, ``torch.device``, ``torch.Size`` and
    ``list``/``tuple``/``dict``/``set`` of these (e.g. an epoch counter, a config dict, an
    LR scheduler's ``state_dict()``, :func:`capture_rng_state`). Anything else raises
    :class:`~shapesafe.CheckpointError` naming the offending value, before anything is
    written.

    Returns the path written.

    Examples:
        >>> import torch, tempfile, os
        >>> from shapesafe import save_checkpoint, load_checkpoint
        >>> net = torch.nn.Linear(2, 1)
        >>> p = os.path.join(tempfile.mkdtemp(), "net.pt")
        >>> _ = save_checkpoint(p, net, epoch=3)
        >>> load_checkpoint(p, torch.nn.Linear(2, 1))["epoch"]
        3
    """
    fn = "save_checkpoint"
    target = as_path(path, fn)
    require_module(
        module,
        fn,
        cls=CheckpointError,
        hint="pass the model itself; its state_dict() is taken for you",
    )
    require_optimizer(
        optimizer,
        fn,
        optional=True,
        cls=CheckpointError,
        hint="extra state goes in keyword metadata, e.g. scheduler=scheduler.state_dict()",
    )
    _check_path(target)
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
        "metadata": _plain(dict(metadata)),
    }
    checksum = _checksum(payload, validate=True, function=fn)
    obj = {"format": FORMAT, "version": VERSION, "torch_version": str(torch.__version__)}
    obj.update(payload)
    obj["checksum"] = checksum
    _atomic_save(obj, target)
    return target


def _check_path(target: Path) -> None:
    if target.is_dir():
        err = error(
            CheckpointError,
            f"{str(target)!r} is a directory",
            hint="pass a file path inside it, e.g. os.path.join(dirname, 'last.pt')",
            function="save_checkpoint",
        )
        err.argument, err.got = "path", "a directory"
        raise err
    if not target.parent.is_dir():
        err = error(
            CheckpointError,
            f"directory {str(target.parent)!r} does not exist (saving to {str(target)!r})",
            hint="create it first: os.makedirs(dirname, exist_ok=True)",
            function="save_checkpoint",
        )
        err.argument, err.got = "path", "a missing directory"
        raise err
