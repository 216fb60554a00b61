"""Plain helpers shared by the actor runtime and the in-process test runtime.

They turn a factory path into a service object and a request into a method
call, with the same checks in both, so a service behaves alike under test and
in production.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from symphony_actors.domain.errors import InvalidTypeError, NotFoundError, UsageError
from symphony_actors.ports.service import ServiceSettings

__all__ = ["HOOKS", "call_method", "exported_methods", "load_factory"]

HOOKS = frozenset({"on_start", "on_stop"})


def load_factory(path: str) -> Callable[[ServiceSettings], object]:
    """Import ``"package.module:callable"`` and return the callable."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"factory {path!r} must look like 'package.module:callable'", factory=path)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise NotFoundError(f"factory module {module_name!r} cannot be imported: {exc}", factory=path) from exc
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise NotFoundError(f"factory {path!r}: {module_name} has no attribute {attr!r}", factory=path)
    if not callable(obj):
        raise InvalidTypeError(f"factory {path!r} is not callable", factory=path)
    return obj  # type: ignore[no-any-return]


_EXPORTS: dict[type, frozenset[str]] = {}


def exported_methods(cls: type) -> frozenset[str]:
    """The methods a service of class ``cls`` exposes to callers (computed once per class)."""
    cached = _EXPORTS.get(cls)
    if cached is not None:
        return cached
    _EXPORTS[cls] = result = _compute_exports(cls)
    return result


def _compute_exports(cls: type) -> frozenset[str]:
    declared = getattr(cls, "EXPORTS", None)
    if declared is not None:
        return frozenset(declared)
    return frozenset(n for n in dir(cls)
                     if not n.startswith("_") and n not in HOOKS and callable(getattr(cls, n, None)))


def call_method(service: object, method: str, kwargs: Mapping[str, Any] | None) -> Any:
    """Call ``service.method(**kwargs)`` if the method is exported; typed errors otherwise."""
    if method not in exported_methods(type(service)):
        raise NotFoundError(f"{type(service).__name__} has no method {method!r}", method=method)
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise InvalidTypeError(f"arguments of {method!r} must be a mapping of names to values, "
                               f"not {type(kwargs).__name__}")
    try:
        return getattr(service, method)(**(kwargs or {}))
    except TypeError as exc:
        # A bad call signature is the caller's mistake; a TypeError raised deeper is a bug and re-raised.
        if exc.__traceback__ is not None and exc.__traceback__.tb_next is None:
            raise InvalidTypeError(f"bad arguments for {method!r}: {exc}", method=method) from exc
        raise
