"""The import hook: check every jaxtyping-annotated function of chosen packages without
decorating each one.

How it works, and why this way: a finder placed first on ``sys.meta_path`` hands the
modules of the named packages to the normal loader and, *after* the module's code has
run, replaces each annotated function and method defined in that module by
``shapesafe.check(fn)``. Nothing is rewritten at the source or bytecode level (jaxtyping's
hook rewrites the AST and must keep its own bytecode cache apart): the ``.pyc`` files
that Python writes are the same with or without the hook, so a later run without it
checks nothing, and a run with it checks everything, whatever the cache holds.

What it reaches: module-level functions and the methods (plain, static, class) of classes
defined in the module, including ``nn.Module.forward``. What it leaves alone: functions
without an array annotation (a jaxtyping type, or a shapesafe distribution spec, anywhere
in a parameter or return annotation); functions already checked; functions defined in
another module and imported into this one; nested functions and lambdas (decorate those
yourself); and references stored while the module was still running (a ``{"name": f}`` registry,
a decorator that kept ``f``) keep the unchecked ``f``; calls through the module's globals,
and module-level aliases (``g = f``), see the checked one.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
import time
import types
import typing
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from shapesafe._checker.decorator import check
from shapesafe._format import error, fmt_value
from shapesafe.errors import AnnotationError, UsageError

__all__ = ["HookStats", "ImportHook", "install_import_hook"]

_lock = threading.Lock()


def _is_array_hint(hint: Any, depth: int = 0) -> bool:
    """Whether an annotation mentions an array type anywhere (``Optional[Float[...]]``,
    ``tuple[Float[...], int]``, a distribution spec ...)."""
    if depth > 6 or hint is None:
        return False
    if isinstance(hint, type):
        # jaxtyping's array annotations are classes with a dim string and a dtype list
        if hasattr(hint, "dim_str") and hasattr(hint, "dtypes"):
            return True
        if hasattr(hint, "__shapesafe_spec__"):
            return True
        fields = getattr(hint, "__annotations__", None)
        if fields and (hasattr(hint, "_fields") or hasattr(hint, "__dataclass_fields__")):
            # a NamedTuple / dataclass whose fields are arrays: the checker checks them
            try:
                field_hints = typing.get_type_hints(hint, include_extras=True)
            except Exception:
                return False
            return any(_is_array_hint(h, depth + 1) for h in field_hints.values())
    if callable(getattr(hint, "__shapesafe_spec__", None)):
        return True
    return any(_is_array_hint(arg, depth + 1) for arg in typing.get_args(hint))


def _annotated(fn: Any) -> bool:
    raw = getattr(fn, "__annotations__", None)
    if not raw:
        return False
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:
        # unresolvable at import time (forward references): decide on the raw strings
        return any(
            isinstance(v, str) and any(k in v for k in ("Float[", "Int[", "Bool[", "Shaped["))
            for v in raw.values()
        )
    return any(_is_array_hint(h) for h in hints.values())


def _already_checked(fn: Any) -> bool:
    seen = 0
    while fn is not None and seen < 10:
        if hasattr(fn, "__shapesafe_source__") or hasattr(fn, "__shapesafe_plan__"):
            return True
        fn = getattr(fn, "__wrapped__", None)
        seen += 1
    return False


@dataclass
class HookStats:
    """What the hook did: the modules it processed, the functions it checked (by
    qualified name) and the seconds spent decorating them."""

    modules: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.functions)} function(s) checked in {len(self.modules)} module(s) "
            f"({self.seconds * 1e3:.1f} ms decorating)"
        )


def _decorate_module(module: types.ModuleType, stats: HookStats) -> None:
    name = module.__name__
    start = time.perf_counter()
    stats.modules.append(name)
    for attr, value in list(vars(module).items()):
        if isinstance(value, types.FunctionType):
            if value.__module__ == name and _annotated(value) and not _already_checked(value):
                setattr(module, attr, _checked(value, stats))
        elif isinstance(value, type) and value.__module__ == name:
            _decorate_class(value, stats)
    stats.seconds += time.perf_counter() - start


def _decorate_class(cls: type, stats: HookStats) -> None:
    if getattr(cls, "_fields", None) is not None or "__dataclass_fields__" in cls.__dict__:
        return  # a NamedTuple / dataclass: its annotations are fields, not a signature
    for attr, value in list(cls.__dict__.items()):
        fn = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
        if not isinstance(fn, types.FunctionType) or not _annotated(fn) or _already_checked(fn):
            continue
        wrapped = _checked(fn, stats)
        if isinstance(value, staticmethod):
            wrapped = staticmethod(wrapped)
        elif isinstance(value, classmethod):
            wrapped = classmethod(wrapped)
        setattr(cls, attr, wrapped)


def _checked(fn: Any, stats: HookStats) -> Any:
    try:
        out = check(fn)
    except AnnotationError as exc:
        # an annotation the checker cannot read: leave the function as it was, say so once
        stats.skipped.append(f"{fn.__module__}.{fn.__qualname__}: {exc}")
        return fn
    stats.functions.append(f"{fn.__module__}.{fn.__qualname__}")
    return out


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader, hook: ImportHook) -> None:
        self._inner = inner
        self._hook = hook

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self._inner.exec_module(module)
        _decorate_module(module, self._hook.stats)

    def __getattr__(self, name: str) -> Any:  # get_source, get_code, is_package ...
        return getattr(self._inner, name)


class ImportHook(importlib.abc.MetaPathFinder):
    """The installed hook (what :func:`install_import_hook` returns). Use it as a context
    manager, or call :meth:`uninstall`; :attr:`stats` says what it checked."""

    def __init__(self, packages: tuple[str, ...]) -> None:
        self.packages = packages
        self.stats = HookStats()
        self._finding = threading.local()

    def _wanted(self, fullname: str) -> bool:
        return any(fullname == p or fullname.startswith(p + ".") for p in self.packages)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if not self._wanted(fullname) or getattr(self._finding, "active", False):
            return None
        self._finding.active = True
        try:  # let the rest of sys.meta_path find it, then wrap its loader
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            self._finding.active = False
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec  # namespace packages and exotic loaders: nothing to run
        spec.loader = _Loader(spec.loader, self)
        return spec

    def uninstall(self) -> None:
        """Stop checking modules imported from now on (modules already imported stay
        checked)."""
        with _lock:
            if self in sys.meta_path:
                sys.meta_path.remove(self)

    def __enter__(self) -> ImportHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    def __repr__(self) -> str:
        return f"ImportHook({', '.join(self.packages)}: {self.stats.summary()})"


def _package_names(packages: Iterable[str] | str, function: str) -> tuple[str, ...]:
    try:
        names = (packages,) if isinstance(packages, str) else tuple(packages)
    except TypeError:
        names = ()
    if not names or not all(isinstance(n, str) and n and n.strip(".") == n for n in names):
        raise error(
            UsageError,
            f"expected package names such as 'my_package', got {fmt_value(packages)}",
            function=function,
            argument="packages",
            expected="a package name or a list of them",
            got=fmt_value(packages),
        )
    if any(n == "shapesafe" or n.startswith("shapesafe.") for n in names):
        raise error(
            UsageError,
            "shapesafe checks its own functions already; name your packages",
            function=function,
            argument="packages",
            got=fmt_value(packages),
        )
    return names


def install_import_hook(packages: Iterable[str] | str) -> ImportHook:
    """Check every jaxtyping-annotated function and method of ``packages`` (a package
    name, or several) at every call, as if each carried ``@shapesafe.check``.

    Install it before the packages are imported (first thing in a script, in
    ``conftest.py``, or through the pytest plugin: ``pytest --shapesafe=my_package``).
    Modules imported earlier are not reached; a warning lists them. Returns the hook:
    use it as a context manager to uninstall it at the end of a block, and read
    ``hook.stats`` for what it checked.

    Examples:
        >>> import shapesafe
        >>> with shapesafe.install_import_hook("my_rl_code") as hook:
        ...     pass  # import my_rl_code here
        >>> hook.stats.summary()
        '0 function(s) checked in 0 module(s) (0.0 ms decorating)'
    """
    names = _package_names(packages, "install_import_hook")
    early = sorted(m for m in sys.modules if any(m == n or m.startswith(n + ".") for n in names))
    if early:
        warnings.warn(
            f"install_import_hook(): {', '.join(early[:5])}"
            + (f" and {len(early) - 5} more" if len(early) > 5 else "")
            + " were imported before the hook and will not be checked; install the hook "
            "before importing them",
            stacklevel=2,
        )
    hook = ImportHook(names)
    with _lock:
        sys.meta_path.insert(0, hook)
    return hook


def installed_hooks() -> Iterator[ImportHook]:
    """The shapesafe import hooks currently on ``sys.meta_path``."""
    return (f for f in list(sys.meta_path) if isinstance(f, ImportHook))
