"""Checked structured batches: a replay-buffer sample whose fields agree on their dims.

RL code passes batches around as NamedTuples (Stable-Baselines3's ``ReplayBufferSamples``),
dataclasses, or plain dicts from a replay buffer. Their fields share dims (``obs`` and
``actions`` both start with ``batch``), and a bug in one field (actions stored as
``(batch, 1)``, a buffer that returns one row too many) surfaces far away, inside a
loss. Two tools check the fields *together*, where the batch is built:

- :func:`checked_batch`, a class decorator for a NamedTuple or a dataclass: every
  construction checks the annotated fields against each other (same rules, same
  messages as :func:`shapesafe.check`, naming the class and the field);
- :func:`check_batch`, for mappings (what replay buffers hand out): checks the keys
  (missing and unexpected ones) and the values against a TypedDict, NamedTuple or
  dataclass that describes them.

How: the fields of the class become the parameters of one synthesized function,
``Transition(obs, actions, ...)``, which :func:`shapesafe.check` compiles once (at
decoration) into its usual plan; a construction then costs one checked call. Reusing the
checker, rather than a second matcher, keeps one set of rules and one message layout.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from shapesafe import _config
from shapesafe._checker.decorator import check
from shapesafe._format import error, fmt_value
from shapesafe.errors import AnnotationError, ShapeError, ShapesafeError

__all__ = ["check_batch", "checked_batch"]

C = TypeVar("C", bound=type)
M = TypeVar("M", bound=Mapping[str, Any])

_FIELD_CHECKER = "__shapesafe_fields__"


def _cls_name(cls: type) -> str:
    """``Sample``, also for a class defined inside a function (no ``f.<locals>.``)."""
    return cls.__qualname__.rsplit("<locals>.", 1)[-1]


def _is_namedtuple(cls: type) -> bool:
    return issubclass(cls, tuple) and hasattr(cls, "_fields")


def _is_typeddict(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, dict) and hasattr(cls, "__required_keys__")


def _field_names(cls: type, function: str = "checked_batch") -> tuple[str, ...]:
    if _is_namedtuple(cls):
        return tuple(cls._fields)  # type: ignore[attr-defined]
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls))
    if _is_typeddict(cls):
        return tuple(cls.__annotations__)
    raise error(
        AnnotationError,
        f"{_cls_name(cls)} is not a NamedTuple, a dataclass or a TypedDict",
        function=function,
        argument="cls" if function == "checked_batch" else "spec",
        hint="declare it as `class X(NamedTuple)`, `class X(TypedDict)` or a @dataclass",
    )


def _hints(cls: type) -> dict[str, Any]:
    """The class's resolved annotations. String annotations (``from __future__ import
    annotations``) of a class defined inside a function name that function's locals:
    resolve them in the first caller frame outside this module, as ``@check`` does."""
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except NameError:
        pass
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    try:
        namespace = {**frame.f_globals, **frame.f_locals}
        return typing.get_type_hints(cls, localns=namespace, include_extras=True)
    except NameError as exc:
        raise error(
            AnnotationError,
            f"cannot resolve the field annotations of {_cls_name(cls)}: {exc}",
            function="checked_batch",
            argument="cls",
        ) from None
    finally:
        del frame


def _fields_checker(cls: type) -> Callable[..., None]:
    """The checked function ``Cls(field1, field2, ...)`` whose parameters are the fields
    (memoized on the class: built once, whichever tool asks first)."""
    cached = cls.__dict__.get(_FIELD_CHECKER)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    names = _field_names(cls)
    hints = _hints(cls)
    # A real `def` (not **kwargs) so that the checker's plan sees one named parameter per
    # field; the names are identifiers already (NamedTuple / dataclass / TypedDict fields).
    namespace: dict[str, Any] = {}
    exec(f"def fields({', '.join(names)}):\n    return None", namespace)
    fn = namespace["fields"]
    fn.__annotations__ = {n: hints[n] for n in names if n in hints}
    fn.__name__ = cls.__name__
    fn.__qualname__ = cls.__qualname__  # the error then reads "Transition(): argument `obs`"
    fn.__module__ = cls.__module__
    checked = check(fn)
    type.__setattr__(cls, _FIELD_CHECKER, checked)
    return checked  # type: ignore[no-any-return]


def checked_batch(cls: C) -> C:
    """Check the annotated fields of a NamedTuple or dataclass together, whenever one is
    built.

    Dims are shared across fields (``obs: Float[Tensor, "batch obs"]`` and ``actions:
    Int[Tensor, "batch"]`` must agree on ``batch``); a mismatch raises
    :class:`shapesafe.ShapeError` (or :class:`shapesafe.DtypeError`) naming the class and
    the field (the fields are the arguments of the constructor, and the message calls
    them so: ``Transition(): argument `actions` ...``, the same under ``torch.compile``).
    Checked: ``Cls(...)``, and for a NamedTuple also ``_make`` and
    ``_replace``; for a dataclass, ``__init__`` (so ``dataclasses.replace`` too).
    Assigning a field of a mutable dataclass afterwards is not checked. Put
    ``@checked_batch`` *above* ``@dataclass``. A TypedDict cannot be hooked (calling it
    builds a plain ``dict``): check those with :func:`check_batch`.

    The class is returned itself (same type, same instances); with checks disabled a
    construction costs one flag read, and with ``SHAPESAFE_DISABLE=1`` at import the
    class is not touched at all.

    >>> import torch, shapesafe
    >>> from typing import NamedTuple
    >>> from jaxtyping import Float, Int
    >>> from torch import Tensor
    >>> @shapesafe.checked_batch
    ... class Transition(NamedTuple):
    ...     obs: Float[Tensor, "batch obs"]
    ...     actions: Int[Tensor, "batch"]
    >>> t = Transition(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))
    >>> Transition(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long))
    Traceback (most recent call last):
    ...
    shapesafe.ShapeError: Transition(): argument `actions` axis 0 ('batch'): expected batch=4 ...
      annotation: Int[Tensor, "batch"]
      bindings: batch=4 (from `obs`), obs=3 (from `obs`)
    """
    if not isinstance(cls, type):
        raise error(
            AnnotationError,
            f"@checked_batch decorates a class, not {fmt_value(cls)}",
            function="checked_batch",
            argument="cls",
        )
    if _is_typeddict(cls):
        raise error(
            AnnotationError,
            f"@checked_batch cannot hook {_cls_name(cls)}: calling a TypedDict builds a plain dict",
            function="checked_batch",
            argument="cls",
            hint=f"check the dicts with shapesafe.check_batch(d, {_cls_name(cls)})",
        )
    _field_names(cls)  # refuses other classes, also when checks are off
    if _config.DISABLED_BY_ENV:
        return cls
    checker = _fields_checker(cls)
    if _is_namedtuple(cls):
        _hook_namedtuple(cls, checker)
    elif dataclasses.is_dataclass(cls):
        _hook_dataclass(cls, checker)
    return cls


# The hooks read the switch as `_config.STATE.enabled` (a module global), not through a
# closure variable: dynamo traces a global's attribute (and guards on it) but cannot wrap
# a `_State` object held in a closure cell, which broke `fullgraph=True` for dataclasses.


def _hook_namedtuple(cls: type, checker: Callable[..., None]) -> None:
    orig_new = cls.__new__
    orig_make = cls.__dict__["_make"].__func__

    # The tuple is built first and checked as built, so positional, keyword and default
    # arguments all arrive in field order.
    @functools.wraps(orig_new)
    def __new__(klass: type, *args: Any, **kwargs: Any) -> Any:
        self = orig_new(klass, *args, **kwargs)
        if _config.STATE.enabled:
            checker(*self)
        return self

    @functools.wraps(orig_make)
    def _make(klass: type, iterable: Any) -> Any:
        self = orig_make(klass, iterable)
        if _config.STATE.enabled:
            checker(*self)
        return self

    type.__setattr__(cls, "__new__", __new__)
    type.__setattr__(cls, "_make", classmethod(_make))  # `_replace` goes through `_make`


def _hook_dataclass(cls: type, checker: Callable[..., None]) -> None:
    orig_init = cls.__dict__["__init__"]
    names = _field_names(cls)

    @functools.wraps(orig_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        orig_init(self, *args, **kwargs)
        if _config.STATE.enabled:
            checker(*[getattr(self, n) for n in names])

    type.__setattr__(cls, "__init__", __init__)


def check_batch(batch: M, spec: type, *, allow_extra: bool = False) -> M:
    """Check a mapping (a replay buffer's ``sample()``) against a TypedDict, NamedTuple
    or dataclass that describes it; return the mapping itself.

    Keys: every required key must be present (a TypedDict's ``__required_keys__``; the
    fields without defaults of a NamedTuple or dataclass), and no other key may be
    (unless ``allow_extra=True``); either problem raises :class:`shapesafe.ShapeError`
    listing the keys. Values: checked together like :func:`checked_batch`'s fields (dims
    shared across keys), the error naming the spec and the key. With checks disabled,
    nothing is checked.

    >>> import torch, shapesafe
    >>> from typing import TypedDict
    >>> from jaxtyping import Float
    >>> from torch import Tensor
    >>> class Sample(TypedDict):
    ...     obs: Float[Tensor, "batch obs"]
    ...     rewards: Float[Tensor, "batch"]
    >>> d = shapesafe.check_batch({"obs": torch.zeros(8, 3), "rewards": torch.zeros(8)}, Sample)
    >>> shapesafe.check_batch({"obs": torch.zeros(8, 3)}, Sample)
    Traceback (most recent call last):
    ...
    shapesafe.ShapeError: check_batch(): argument `batch`: a Sample needs key 'rewards', missing
      expected: keys 'obs', 'rewards'
      got: keys 'obs'
      hint: is the buffer configured to store rewards?
    """
    if not isinstance(spec, type):
        raise error(
            AnnotationError,
            f"`spec` is a TypedDict, NamedTuple or dataclass class, not {fmt_value(spec)}",
            function="check_batch",
            argument="spec",
        )
    checker, names, name_set, required = _spec_info(spec)  # refuses other classes
    if not _config.STATE.enabled:
        return batch
    if not isinstance(batch, Mapping):
        raise error(
            ShapeError,
            f"expected a mapping of {_cls_name(spec)}'s keys, got {fmt_value(batch)}",
            function="check_batch",
            argument="batch",
            hint="for an object, annotate the function with the class and use @shapesafe.check",
        )
    # the common case first: exactly the declared keys (one set comparison)
    if batch.keys() == name_set:
        _run_keys(checker, [batch[n] for n in names])
        return batch
    missing = [n for n in names if n in required and n not in batch]
    extra = [] if allow_extra else [k for k in batch if k not in name_set]
    if missing or extra:
        raise _key_error(spec, names, list(batch), missing, extra)
    present = tuple(n for n in names if n in batch)
    if len(present) == len(names):  # extra keys, allowed
        _run_keys(checker, [batch[n] for n in names])
    else:  # optional keys left out: a checker of the keys that are there
        _run_keys(_partial_checker(spec, present), [batch[n] for n in present])
    return batch


def _run_keys(checker: Callable[..., None], values: list[Any]) -> None:
    try:
        checker(*values)
    except ShapesafeError as err:
        # the checker says "argument `obs`"; in a mapping it is a key
        text = err.message.replace("argument `", "key `", 1)
        raise type(err)(text, **err._fields()) from None


@functools.lru_cache(maxsize=256)
def _spec_info(
    spec: type,
) -> tuple[Callable[..., None], tuple[str, ...], frozenset[str], frozenset[str]]:
    """What check_batch needs of a spec, computed once per spec class: the checker, the
    keys in order, the keys as a set, the required keys."""
    names = _field_names(spec, "check_batch")
    checker = _fields_checker(spec)
    return checker, names, frozenset(names), _required_keys(spec, names)


@functools.lru_cache(maxsize=256)
def _partial_checker(spec: type, present: tuple[str, ...]) -> Callable[..., None]:
    # A subset of the keys (optional TypedDict keys left out): its own small checker.
    hints = _hints(spec)
    namespace: dict[str, Any] = {}
    exec(f"def fields({', '.join(present)}):\n    return None", namespace)
    fn = namespace["fields"]
    fn.__annotations__ = {n: hints[n] for n in present if n in hints}
    fn.__name__, fn.__qualname__, fn.__module__ = spec.__name__, spec.__qualname__, spec.__module__
    return check(fn)  # type: ignore[no-any-return]


def _required_keys(spec: type, names: tuple[str, ...]) -> frozenset[str]:
    if _is_typeddict(spec):
        return frozenset(spec.__required_keys__)  # type: ignore[attr-defined]
    if _is_namedtuple(spec):
        defaults = getattr(spec, "_field_defaults", {})
        return frozenset(n for n in names if n not in defaults)
    return frozenset(
        f.name
        for f in dataclasses.fields(spec)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )


def _keys(keys: list[str]) -> str:
    return "keys " + ", ".join(repr(k) for k in keys) if keys else "no keys"


def _key_error(
    spec: type, names: tuple[str, ...], got: list[str], missing: list[str], extra: list[str]
) -> ShapeError:
    parts = []
    if missing:
        word = "key" if len(missing) == 1 else "keys"
        parts.append(f"needs {word} {', '.join(repr(k) for k in missing)}, missing")
    if extra:
        parts.append(f"does not declare {', '.join(repr(k) for k in extra)}")
    if missing:
        hint = f"is the buffer configured to store {', '.join(missing)}?"
    else:
        hint = (
            f"add {', '.join(extra)} to {_cls_name(spec)}, drop them from the batch, or "
            "pass allow_extra=True"
        )
    return error(
        ShapeError,
        f"a {_cls_name(spec)} " + "; it ".join(parts),
        function="check_batch",
        argument="batch",
        expected=_keys(list(names)),
        got=_keys(got),
        hint=hint,
    )
