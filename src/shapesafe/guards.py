"""Opt-in memory guards: in-place writes that silently corrupt or degrade data.

Two bugs torch lets through without a word:

- **Overlapping writes** (:func:`no_overlap`). ``x[:, 1:].copy_(x[:, :-1])`` (shift a
  history buffer by one step) reads elements it has already overwritten, so the result
  depends on the kernel's iteration order. torch refuses only what it can prove cheaply
  (1-D contiguous cases); views with steps, transposes and offsets pass unchecked.
- **Silent downcasts** (:func:`no_downcast`). ``buf[i] = actions`` with ``buf`` in
  bfloat16 and ``actions`` sampled in float32 rounds the actions to 8 bits of mantissa;
  the log-probabilities re-evaluated later from the buffer no longer match the ones
  recorded (a PPO ratio that is not 1 at the first epoch).

Both are a :class:`~torch.utils._python_dispatch.TorchDispatchMode`: every aten operator
that runs inside the block passes through it, *after* autograd and *after* composite ops
are decomposed, so ``x[:, 1:] = y`` arrives as ``slice`` + ``copy_``, and ``out=`` and
in-place forms alike carry their destination in the operator schema (the arguments
marked as written). One mechanism therefore sees every in-place write, whichever Python
spelling produced it, without a list of methods to patch.

Cost: a dispatch mode makes every operator call go through Python (see
``benchmarks/bench_guards.py``), so these are debugging switches for a test suite or a
suspicious loop, not for production training. Entering a block while checks are off
(``shapesafe.disable()``, ``SHAPESAFE_DISABLE=1``) pushes no mode at all. Eager mode
only: a ``torch.compile``-d region is not inspected (the guards are for finding the bug;
compile the fixed code).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from shapesafe import _config
from shapesafe._format import error, fmt_dtype, fmt_shape
from shapesafe.errors import DtypeError, UsageError

__all__ = ["no_downcast", "no_overlap"]

F = TypeVar("F", bound=Callable[..., Any])

aten = torch.ops.aten


class _Guard(contextlib.ContextDecorator):
    """A context manager that is also a decorator. Each entry pushes a fresh mode and
    records it on a per-thread stack, so one guard object (a decorated function) can be
    entered recursively and from several threads at once; torch's own mode stack is
    per-thread too."""

    def __init__(self, mode_cls: type[TorchDispatchMode]) -> None:
        self._mode_cls = mode_cls
        self._local = threading.local()

    def __enter__(self) -> None:
        mode = self._mode_cls() if _config.STATE.enabled else None
        if mode is not None:
            mode.__enter__()  # type: ignore[no-untyped-call]
        stack = self._local.__dict__.setdefault("stack", [])
        stack.append(mode)

    def __exit__(self, *exc: Any) -> None:
        mode = self._local.stack.pop()
        if mode is not None:
            mode.__exit__(*exc)  # type: ignore[no-untyped-call]


# --------------------------------------------------------------------------------------
# which arguments an operator writes, and which it reads


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, torch.Tensor)]
    return []


@functools.lru_cache(maxsize=4096)
def _written(func: Any) -> tuple[int, ...] | None:
    """Indices (in the schema) of the arguments ``func`` writes; None when it writes none.
    Cached per operator overload: the schema is read once."""
    idx = tuple(
        i
        for i, a in enumerate(func._schema.arguments)
        if a.alias_info is not None and a.alias_info.is_write
    )
    return idx or None


def _bound(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    """The operator's arguments in schema order (kwargs placed by name)."""
    schema = func._schema.arguments
    values = list(args) + [None] * (len(schema) - len(args))
    for i, a in enumerate(schema):
        if i >= len(args) and a.name in kwargs:
            values[i] = kwargs[a.name]
    return values


def _plain(t: torch.Tensor) -> bool:
    """A strided tensor with real memory (not meta, fake or sparse)."""
    return t.layout == torch.strided and t.device.type != "meta" and t.numel() > 0


# --------------------------------------------------------------------------------------
# overlap


# ops that combine source and destination element by element, at the same position
# (with broadcasting): a source that *is* the destination is fine for these
_POSITIONAL_EXTRA = {aten.copy_.default, aten.lerp_.Scalar, aten.lerp_.Tensor}


def _positional(func: Any) -> bool:
    return torch.Tag.pointwise in func.tags or func in _POSITIONAL_EXTRA


def _span(t: torch.Tensor) -> tuple[int, int]:
    """Byte interval [lo, hi) that ``t`` can touch inside its storage."""
    size = t.element_size()
    lo = int(t.storage_offset()) * size
    hi = lo + size * (1 + sum((int(n) - 1) * s for n, s in zip(t.shape, t.stride())))
    return lo, hi


def _addresses(offset: Any, shape: Sequence[Any], stride: Sequence[Any]) -> np.ndarray:
    """Element offsets (in elements, not bytes) of a strided view, in row-major order of
    its indices: the numpy equivalent of the view's address map."""
    addr = np.full((), int(offset), dtype=np.int64)
    for n, s in zip(shape, stride):
        addr = addr[..., None] + np.arange(int(n), dtype=np.int64) * int(s)
    return addr.reshape(-1)


def overlap_kind(
    dest: torch.Tensor,
    src: torch.Tensor,
    positional: bool,
    written: np.ndarray | None = None,
) -> str | None:
    """``None`` when writing ``dest`` from ``src`` is safe; otherwise why not.

    ``written``: the element offsets the op actually writes, when it writes only part of
    ``dest`` (``index_put_``, ``masked_scatter_``); all of ``dest`` otherwise.

    Same storage and intersecting byte intervals are the cheap pre-test; then the exact
    sets of element addresses decide. For a positional op (``src`` broadcast to
    ``dest``'s shape), sharing an address is fine only at the same position (``x.add_(x)``
    reads each element before writing it); any other sharing is a hazard.
    """
    if not (_plain(dest) and _plain(src)):
        return None
    try:
        if dest.untyped_storage().data_ptr() != src.untyped_storage().data_ptr():
            return None
    except (RuntimeError, NotImplementedError):  # tensor subclasses without storage
        return None
    (dlo, dhi), (slo, shi) = _span(dest), _span(src)
    if dhi <= slo or shi <= dlo:
        return None
    same_size = dest.element_size() == src.element_size()
    if positional and same_size:
        try:
            src_b = src.expand(dest.shape)
        except RuntimeError:
            src_b = None
        if src_b is not None:
            if src_b.storage_offset() == dest.storage_offset() and all(
                a == b or n == 1 for a, b, n in zip(src_b.stride(), dest.stride(), dest.shape)
            ):
                return None  # the same view (x.add_(x)): each element read, then written
            d = _addresses(dest.storage_offset(), dest.shape, dest.stride())
            s = _addresses(src_b.storage_offset(), src_b.shape, src_b.stride())
            common = np.intersect1d(d, s)
            if common.size == 0:
                return None
            in_d, in_s = np.isin(d, common), np.isin(s, common)
            # safe iff the shared addresses sit at the same positions in both, once each
            same = bool(np.array_equal(in_d, in_s)) and bool(np.array_equal(d[in_d], s[in_s]))
            if same and np.unique(d[in_d]).size == int(in_d.sum()):
                return None
            return "positions"
    # not positional (index_put_, masked_scatter_, set_, mm out=...): any shared byte
    # is a hazard, except set_ of a tensor onto itself
    db = _byte_set(dest, written)
    sb = _byte_set(src)
    if np.intersect1d(db, sb).size == 0:
        return None
    return "bytes"


def _byte_set(t: torch.Tensor, elements: np.ndarray | None = None) -> np.ndarray:
    size = t.element_size()
    if elements is None:
        elements = _addresses(t.storage_offset(), t.shape, t.stride())
    starts = elements * size
    return np.unique(np.add.outer(starts, np.arange(size, dtype=np.int64)).reshape(-1))


def _describe(t: torch.Tensor) -> str:
    return (
        f"{fmt_shape(t.shape)} view at storage offset {t.storage_offset()}, "
        f"strides {fmt_shape(t.stride())}"
    )


class _OverlapMode(TorchDispatchMode):  # type: ignore[no-untyped-call]
    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        written = _written(func)
        if written is not None:
            values = _bound(func, args, kwargs) if kwargs else list(args)
            _check_overlap(func, values, written)
        return func(*args, **kwargs)


def _shares(a: torch.Tensor, b: torch.Tensor) -> bool:
    try:
        return bool(torch._C._is_alias_of(a, b))  # type: ignore[attr-defined]
    except (RuntimeError, NotImplementedError):  # tensor subclasses without storage
        return False


def _check_overlap(func: Any, values: list[Any], written: tuple[int, ...]) -> None:
    # the cheap pre-test first: almost every write shares no storage with its sources
    n = len(values)
    dests = [t for wi in written if wi < n for t in _tensors(values[wi])]
    srcs = [t for si in range(n) if si not in written for t in _tensors(values[si])]
    if not any(_shares(d, s) for d in dests for s in srcs if d is not s):
        return
    schema = func._schema.arguments
    positional = _positional(func)
    is_foreach = func.name().startswith("aten::_foreach_")
    for wi in written:
        if wi >= n:
            continue
        dests = _tensors(values[wi])
        part = _written_part(func, values, dests[0]) if len(dests) == 1 else None
        for si, src_value in enumerate(values):
            if si in written:
                continue
            srcs = _tensors(src_value)
            for di, dest in enumerate(dests):
                # a _foreach_ op pairs list items by index; elsewhere every source counts
                pairs = (
                    [srcs[di]]
                    if is_foreach
                    and isinstance(src_value, (list, tuple))
                    and len(srcs) == len(dests)
                    else srcs
                )
                for src in pairs:
                    if src is dest and positional:
                        continue
                    if func is aten.set_.source_Tensor and src is dest:
                        continue
                    kind = overlap_kind(dest, src, positional or is_foreach, part)
                    if kind is not None:
                        raise _overlap_error(func, schema[wi].name, schema[si].name, dest, src)


def _written_part(func: Any, values: list[Any], dest: torch.Tensor) -> np.ndarray | None:
    """The element offsets that ``index_put_`` / ``masked_scatter_`` write (numpy's
    advanced indexing follows torch's here), so that a source elsewhere in the same
    tensor (``z[idx] = z[5:8]``) is not a false alarm. ``None``: the whole destination."""
    if not _plain(dest) or func not in (aten.index_put_.default, aten.masked_scatter_.default):
        return None
    addr = _addresses(dest.storage_offset(), dest.shape, dest.stride()).reshape(tuple(dest.shape))
    try:
        if func is aten.masked_scatter_.default:
            mask = values[1].detach().cpu().expand(dest.shape).numpy()
            return np.asarray(addr[mask])
        index = tuple(slice(None) if i is None else i.detach().cpu().numpy() for i in values[1])
        return np.asarray(addr[index]).reshape(-1)
    except (IndexError, RuntimeError, TypeError, ValueError):
        return None  # torch will refuse these indices itself; stay conservative


def _overlap_error(
    func: Any, dest_name: str, src_name: str, dest: torch.Tensor, src: torch.Tensor
) -> UsageError:
    op = func.overloadpacket.__name__
    return error(
        UsageError,
        f"in-place write whose source `{src_name}` overlaps its destination `{dest_name}` "
        "in memory: the result would depend on the order elements are written",
        function=op,
        argument=src_name,
        expected=f"`{src_name}` disjoint from `{dest_name}`, or the very same view",
        got=f"`{dest_name}` {_describe(dest)}; `{src_name}` {_describe(src)} of one storage",
        hint=f"write from a copy: pass `{src_name}.clone()`",
    )


def no_overlap() -> _Guard:
    """Refuse in-place writes whose source overlaps the destination in memory.

    Inside the block (or the decorated function) every aten operator that writes a
    tensor (``copy_``, ``add_``, index assignment, ``index_put_``, ``masked_scatter_``,
    ``set_``, ``out=``...) is checked: if a source shares memory with the destination,
    the exact element addresses of both (from storage offset, shape and strides) decide.
    Element-wise ops (``copy_``, ``add_``, ``mul_``, ...) may read an element at the very
    position they write it (``x.add_(x)``, ``x.mul_(x[0:1])`` broadcasting a row that is
    not written, fine); any other shared element raises :class:`shapesafe.UsageError`
    naming the operator, the source and destination arguments and both views. For other
    writes (``index_put_``, ``masked_scatter_``, ``set_``) any shared byte raises.

    Not caught: ``x.add_(x.flip(0))`` and other ops that copy first (``flip`` returns
    new memory, so it is safe); writes inside a ``torch.compile``-d region.

    >>> import torch, shapesafe
    >>> x = torch.arange(6.0).reshape(2, 3)
    >>> with shapesafe.no_overlap():
    ...     _ = x.add_(x)  # the same view: fine
    ...     x[:, 1:].copy_(x[:, :-1])
    Traceback (most recent call last):
    ...
    shapesafe.UsageError: copy_(): argument `src`: in-place write whose source `src` overlaps ...
      expected: `src` disjoint from `self`, or the very same view
      got: `self` (2, 2) view at storage offset 1, strides (3, 1); `src` (2, 2) view at ...
      hint: write from a copy: pass `src.clone()`
    """
    return _Guard(_OverlapMode)


# --------------------------------------------------------------------------------------
# downcast

# The writes that *store* a source tensor's values into a destination of another dtype
# without a word: copy_ (every basic-index assignment, `buf[i] = x`, `buf[:] = x`, is a
# copy_ into a view) and fill_ with a 0-d tensor. index_put_ (`buf[idx] = x`,
# `buf[mask] = x`), index_copy_, masked_scatter_ and scatter_ refuse mixed dtypes in
# torch itself, so they need no guard. Arithmetic in-place ops (add_) follow torch's
# promotion rules and are not flagged; `out=` forms are (see _DowncastMode).
_STORES = {aten.copy_.default, aten.fill_.Tensor}


def _loses(src: torch.dtype, dest: torch.dtype) -> bool:
    """Whether storing ``src`` values as ``dest`` silently loses precision or range."""
    if not src.is_floating_point:
        return False
    if not dest.is_floating_point:
        return not dest.is_complex  # float -> int/bool truncates
    s, d = torch.finfo(src), torch.finfo(dest)
    # fewer bits, or as many in another layout (bfloat16 <-> float16 each lose something)
    return d.bits < s.bits or (d.bits == s.bits and src != dest)


class _DowncastMode(TorchDispatchMode):  # type: ignore[no-untyped-call]
    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        kind = _store_kind(func)
        if kind is not None:
            values = _bound(func, args, kwargs) if kwargs else list(args)
            _check_store(func, values, floats_only=kind)
        return func(*args, **kwargs)


@functools.lru_cache(maxsize=4096)
def _store_kind(func: Any) -> bool | None:
    """None: not a store. False: a store of any dtype (copy_, fill_). True: an ``out=``
    form, whose integer outputs (argmax, max's indices, comparisons) are not stores of
    its float inputs, hence checked for float destinations only. Cached per operator."""
    if func in _STORES:
        return False
    if torch.Tag.out in func.tags:
        return True
    return None


def _check_store(func: Any, values: list[Any], floats_only: bool) -> None:
    written = _written(func) or ()
    schema = func._schema.arguments
    for wi in written:
        for dest in _tensors(values[wi]):
            if floats_only and not dest.dtype.is_floating_point:
                continue
            for si, v in enumerate(values):
                if si in written:
                    continue
                for src in _tensors(v):
                    if src.dtype != dest.dtype and _loses(src.dtype, dest.dtype):
                        raise _downcast_error(func, schema[si].name, src, dest)


def _a(dtype_name: str) -> str:
    return ("an " if dtype_name.startswith(("int", "uint")) else "a ") + dtype_name


def _downcast_error(func: Any, src_name: str, src: torch.Tensor, dest: torch.Tensor) -> DtypeError:
    op = func.overloadpacket.__name__
    s, d = fmt_dtype(src.dtype), fmt_dtype(dest.dtype)
    what = "truncated" if not dest.dtype.is_floating_point else "rounded"
    return error(
        DtypeError,
        f"{s} values stored into {_a(d)} tensor would be silently {what}",
        function=op,
        argument=src_name,
        expected=f"{_a(d)} source (an explicit cast), or {_a(s)} destination",
        got=f"source {fmt_shape(src.shape)} {s}, destination {fmt_shape(dest.shape)} {d}",
        hint=(
            f"store as {s} (allocate the buffer with dtype=torch.{s}), or cast explicitly "
            f"with `.to(torch.{d})` to acknowledge the loss"
        ),
    )


def no_downcast() -> _Guard:
    """Refuse storing float values into a lower-precision tensor without an explicit cast.

    Inside the block (or the decorated function), a write that *stores* a source tensor
    into a destination of another dtype -- ``copy_``, which is what every basic-index
    assignment runs (``buf[i] = x``, ``buf[:, 0] = x``, ``buf[2:5] = x``), also
    ``module.load_state_dict`` into a lower-precision module (torch lists our message
    in its own ``RuntimeError`` there); ``fill_`` with a tensor;
    and the ``out=`` form of any operator whose output is floating point
    (``torch.mul(x, 2, out=buf)``) -- raises :class:`shapesafe.DtypeError` when the
    source is floating point and the destination holds fewer bits (float64 -> float32,
    float32 -> bfloat16/float16), the other 16-bit layout (bfloat16 <-> float16), or
    (``copy_``/``fill_`` only) an integer or bool dtype, which truncates. An explicit
    ``.to(torch.bfloat16)`` before the write makes the source bfloat16 already: an
    acknowledged cast, which passes. The error names both dtypes and the fix.

    Not flagged: arithmetic in-place ops (``buf.add_(x32)``: torch's promotion rules,
    a computation rather than a store), ``.to()``/``.half()`` themselves (they *are* the
    explicit cast), Python scalars (``buf[i] = 0.5``), autocast's own casts, widening
    stores, numpy arrays written outside torch. Advanced-index assignment
    (``buf[idx] = x``, ``buf[mask] = x``), ``index_copy_``, ``masked_scatter_`` and
    ``scatter_`` need no guard: torch refuses mixed dtypes there itself.

    >>> import torch, shapesafe
    >>> buf = torch.zeros(4, 2, dtype=torch.bfloat16)
    >>> actions = torch.randn(2)
    >>> with shapesafe.no_downcast():
    ...     buf[0] = actions.to(torch.bfloat16)  # acknowledged
    ...     buf[1] = actions
    Traceback (most recent call last):
    ...
    shapesafe.DtypeError: copy_(): argument `src`: float32 values stored into a bfloat16 tensor ...
      expected: a bfloat16 source (an explicit cast), or a float32 destination
      got: source (2,) float32, destination (2,) bfloat16
      hint: store as float32 (allocate the buffer with dtype=torch.float32), or cast ...
    """
    return _Guard(_DowncastMode)
