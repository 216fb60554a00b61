"""The extension's only door to the rest of Symphony: artifacts, bus, models, configuration, files, logs.

:class:`ExtensionContext` is the Protocol extensions program against.
:class:`GuardedContext` implements it over injected callables, so the same
class serves an extension loaded in the host process (callables that reach the
services directly) and one in a sandboxed worker (callables that forward over
a pipe). Every access is first checked against the extension's grants by an
:class:`~symphony_actors.extension_host.permissions.AccessGuard`; a refusal
raises ``PermissionDenied`` and is written to the audit log.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from symphony_actors.domain.errors import ConfigError
from symphony_actors.extension_host.permissions import AccessGuard

__all__ = ["EventHandler", "ExtensionContext", "GuardedContext", "LogSink"]

EventHandler = Callable[[str, Any], None]
LogSink = Callable[[str, str, str, Mapping[str, Any]], None]   # extension, level, message, fields
_LEVELS = ("debug", "info", "warning", "error")


@runtime_checkable
class ExtensionContext(Protocol):
    """What an extension may use; every method is checked against its grants."""

    @property
    def extension_id(self) -> str: ...

    @property
    def config(self) -> Mapping[str, Any]:
        """The extension's configuration, validated against its manifest schema, defaults applied."""

    @property
    def idempotency_key(self) -> str | None:
        """While a workflow node runs (``process``/``infer``): ``<run>/<node>[/<item>]``, the same for every
        attempt of that node. A node may run again after a crash (at least once, docs/dag.md): use it to
        deduplicate effects outside the system. ``None`` outside a node's call."""

    def log(self, level: str, message: str, **fields: Any) -> None:
        """Write to the extension log (level: debug, info, warning, error). Needs no permission."""

    def publish(self, topic: str, payload: Any = None) -> None:
        """Publish an event on the bus; needs ``bus.publish:<pattern covering topic>``."""

    def subscribe(self, pattern: str, handler: EventHandler) -> None:
        """Receive bus events matching ``pattern``; needs ``bus.subscribe:<pattern covering it>``."""

    def read_artifact(self, artifact_id: str) -> bytes:
        """The bytes of an artifact; needs ``artifact.read``."""

    def write_artifact(self, data: bytes, *, media_type: str = "application/octet-stream") -> str:
        """Store bytes as an artifact and return its id; needs ``artifact.write``."""

    def use_model(self, name: str, inputs: Mapping[str, Any], params: Mapping[str, Any] | None = None
                  ) -> dict[str, Any]:
        """Run inference on a model or instrument by name; needs ``model.use:<name>``."""

    def check_path(self, path: str | os.PathLike[str], mode: str = "read") -> Path:
        """The absolute path if ``fs.<mode>`` covers it, else ``PermissionDenied``."""

    def getenv(self, name: str) -> str | None:
        """An environment variable; needs ``env.read:<NAME>``."""


def _unavailable(what: str) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise ConfigError(f"this host offers no {what} to extensions")
    return fail


class GuardedContext:
    """:class:`ExtensionContext` over injected callables, each call checked by ``guard`` first."""

    def __init__(self, guard: AccessGuard, *, config: Mapping[str, Any] | None = None,
                 publish: Callable[[str, Any], None] | None = None,
                 subscribe: Callable[[str, EventHandler], None] | None = None,
                 read_artifact: Callable[[str], bytes] | None = None,
                 write_artifact: Callable[[bytes, str], str] | None = None,
                 use_model: Callable[[str, Mapping[str, Any], Mapping[str, Any]], dict[str, Any]] | None = None,
                 log: LogSink | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self._guard = guard
        self._config = MappingProxyType(dict(config or {}))
        self._publish = publish or _unavailable("bus")
        self._subscribe = subscribe or _unavailable("bus")
        self._read_artifact = read_artifact or _unavailable("artifact store")
        self._write_artifact = write_artifact or _unavailable("artifact store")
        self._use_model = use_model or _unavailable("model pool")
        self._log = log
        self._environ = os.environ if environ is None else environ
        self.records: list[tuple[str, str, dict[str, Any]]] = []   # kept when no log sink is given
        self.task_key: str | None = None   # set by the loader around a node's call

    @property
    def idempotency_key(self) -> str | None:
        return self.task_key

    @property
    def extension_id(self) -> str:
        return self._guard.extension

    @property
    def config(self) -> Mapping[str, Any]:
        return self._config

    def log(self, level: str, message: str, **fields: Any) -> None:
        if level not in _LEVELS:
            level = "info"
        if self._log is None:
            self.records.append((level, str(message), fields))
            del self.records[:-1000]
        else:
            self._log(self.extension_id, level, str(message), fields)

    def publish(self, topic: str, payload: Any = None) -> None:
        self._guard.check_publish(topic)
        self._publish(topic, payload)

    def subscribe(self, pattern: str, handler: EventHandler) -> None:
        self._guard.check_subscribe(pattern)
        self._subscribe(pattern, handler)

    def read_artifact(self, artifact_id: str) -> bytes:
        self._guard.check_artifact_read(artifact_id)
        return self._read_artifact(artifact_id)

    def write_artifact(self, data: bytes, *, media_type: str = "application/octet-stream") -> str:
        self._guard.check_artifact_write(media_type)
        return self._write_artifact(data, media_type)

    def use_model(self, name: str, inputs: Mapping[str, Any], params: Mapping[str, Any] | None = None
                  ) -> dict[str, Any]:
        self._guard.check_model(name)
        return self._use_model(name, inputs, params or {})

    def check_path(self, path: str | os.PathLike[str], mode: str = "read") -> Path:
        self._guard.check_fs(path, mode)
        return Path(os.path.normpath(Path(path).absolute()))

    def getenv(self, name: str) -> str | None:
        self._guard.check("env.read", name)
        return self._environ.get(name)
