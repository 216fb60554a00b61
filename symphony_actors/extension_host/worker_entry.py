"""The entry of a sandboxed extension worker: loads the extension with the SDK and serves requests.

The extension actor spawns a confined worker with
``entry="symphony_actors.extension_host.worker_entry:Adapter"`` and ``init`` = the load
step's plain data (id, folder, grants, path variables) plus the dependencies the extension may
call through ``model.use``. Inside the worker, after confinement, :class:`Adapter` loads the
extension with :func:`~symphony_actors.extension_host.inprocess.load_extension` under a
:class:`~symphony_actors.sdk.context.GuardedContext` whose outside-world callables do not reach
anything: they record *effects* (bus publishes, artifact writes, log lines) that travel back
with the reply. The actor checks each effect against the extension's grants again (the worker
is untrusted) before carrying it out.

Every method takes one JSON value and returns ``{"ok": value, "effects": [...]}`` or
``{"error": <SymphonyError wire>, "effects": [...]}``: typed errors cross the process boundary
as data, never as exceptions the worker's wrapper would flatten.

``use_model(name)`` of a dependency instrument runs that instrument in this same worker, with
its own grants (never more than it was granted), loaded on first use.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from symphony_actors.domain.errors import (
    ConfigError,
    ExtensionFailed,
    NotFoundError,
    PermissionDenied,
    SymphonyError,
    ValidationError,
)
from symphony_actors.extension_host.inprocess import LoadedExtension, load_extension
from symphony_actors.extension_host.manifest import Manifest, load_manifest
from symphony_actors.extension_host.permissions import AccessGuard, AuditLog, GrantSet
from symphony_actors.extension_host.schema import apply_defaults, validate
from symphony_actors.sdk.context import EventHandler, GuardedContext

__all__ = ["MAX_EFFECTS", "Adapter"]

MAX_EFFECTS = 10_000   # per request; more is refused (an extension flooding the bus)


class _Effects:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, effect: dict[str, Any]) -> None:
        if len(self.items) >= MAX_EFFECTS:
            raise ConfigError(f"more than {MAX_EFFECTS} bus/artifact/log effects in one request")
        self.items.append(effect)

    def take(self) -> list[dict[str, Any]]:
        out, self.items = self.items, []
        return out


def _config(manifest: Manifest, values: Mapping[str, Any] | None) -> dict[str, Any]:
    schema = manifest.contributes.configuration or {"type": "object"}
    config = apply_defaults(dict(values or {}), schema)
    problems = validate(config, schema, "config")
    if problems:
        raise ValidationError(problems, subject=f"configuration of {manifest.id}")
    return config


def artifact_id_for(data: bytes, media_type: str) -> str:
    """A provisional content id the worker can give back at once; the actor stores the bytes."""
    return "ext-" + hashlib.sha256(media_type.encode() + b"\0" + data).hexdigest()[:40]


class Adapter:
    """Runs in the confined worker; built once with the load plan's data."""

    def __init__(self, init: Mapping[str, Any]) -> None:
        self._effects = _Effects()
        self._models: dict[str, Mapping[str, Any]] = {str(d["id"]): d for d in init.get("models") or ()}
        self._embedded: dict[str, LoadedExtension] = {}
        self.loaded = self._load(init)

    # ------------------------------------------------------------------ loading
    def _context(self, spec: Mapping[str, Any], manifest: Manifest) -> GuardedContext:
        ext_id = manifest.id
        grants = GrantSet(ext_id, tuple(spec.get("granted") or ()), dict(spec.get("variables") or {}))
        effects = self._effects

        def publish(topic: str, payload: Any) -> None:
            effects.add({"kind": "publish", "extension": ext_id, "topic": topic, "payload": payload})

        def subscribe(pattern: str, handler: EventHandler) -> None:
            raise ConfigError("bus subscriptions are not available to sandboxed extensions yet")

        def write_artifact(data: bytes, media_type: str) -> str:
            if not isinstance(data, bytes | bytearray):
                raise ConfigError("artifacts are bytes")
            art = artifact_id_for(bytes(data), media_type)
            effects.add({"kind": "artifact", "extension": ext_id, "id": art, "media_type": media_type,
                         "data": base64.b64encode(bytes(data)).decode()})
            return art

        def read_artifact(artifact_id: str) -> bytes:
            raise ConfigError("reading artifacts is not available to sandboxed extensions yet")

        def log(ext: str, level: str, message: str, fields: Mapping[str, Any]) -> None:
            effects.add({"kind": "log", "extension": ext, "level": level, "message": message[:2000],
                         "fields": {k: str(v)[:200] for k, v in list(fields.items())[:20]}})

        return GuardedContext(AccessGuard(grants, AuditLog(None)), config=_config(manifest, spec.get("config")),
                              publish=publish, subscribe=subscribe, read_artifact=read_artifact,
                              write_artifact=write_artifact, use_model=self._use_model, log=log,
                              environ=None)

    def _load(self, spec: Mapping[str, Any]) -> LoadedExtension:
        folder = Path(str(spec["path"]))
        manifest = load_manifest(folder)
        return load_extension(folder, manifest, self._context(spec, manifest))

    def _use_model(self, name: str, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        loaded = self._embedded.get(name)
        if loaded is None:
            spec = self._models.get(name)
            if spec is None:
                raise NotFoundError(f"no instrument named {name!r} is available to {self.loaded.id} "
                                    "(only its instrument dependencies are)", model=name)
            loaded = self._load(spec)
            if loaded.manifest.type != "instrument":
                raise NotFoundError(f"{name} is not an instrument", model=name)
            loaded.activate()
            self._embedded[name] = loaded
        return dict(loaded.call("infer", {"inputs": dict(inputs), "params": dict(params)}))

    # ------------------------------------------------------------------ requests (one JSON value each)
    def _run(self, func: Callable[[], Any]) -> dict[str, Any]:
        self._effects.take()
        try:
            value = func()
        except SymphonyError as exc:
            cause = exc.__cause__
            if isinstance(exc, ExtensionFailed) and isinstance(cause, PermissionError):
                exc = self._denied(cause)   # the kernel refused it (Landlock, seccomp): say what, typed
            return {"error": exc.to_wire(), "effects": self._effects.take()}
        return {"ok": value, "effects": self._effects.take()}

    def _denied(self, error: PermissionError) -> PermissionDenied:
        from symphony_actors.extension_host.sandbox._worker_main import _classify

        permission, target = _classify(error)
        return PermissionDenied(f"extension {self.loaded.id} was refused {permission} on {target}",
                                extension=self.loaded.id, permission=permission, target=target, origin="os")

    def describe(self, payload: Any = None) -> dict[str, Any]:
        reg = self.loaded.registration
        return {"ok": {"id": self.loaded.id, "type": self.loaded.manifest.type, "hooks": sorted(reg.hooks),
                       "commands": sorted(reg.commands)}, "effects": []}

    def activate(self, payload: Any = None) -> dict[str, Any]:
        return self._run(self.loaded.activate)

    def deactivate(self, payload: Any = None) -> dict[str, Any]:
        return self._run(self.loaded.deactivate)

    def call(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        operation = str(payload.get("operation"))
        body = payload.get("payload")
        if operation == "hook" and isinstance(body, Mapping) and body.get("hook") not in self.loaded.registration.hooks:
            return {"ok": {"implemented": False}, "effects": []}
        result = self._run(lambda: self.loaded.call(operation, body))
        if operation == "hook" and "ok" in result:
            result["ok"] = {"implemented": True, "value": result["ok"]}
        return result

    def teardown(self, payload: Any = None) -> dict[str, Any]:
        def stop() -> None:
            for loaded in [*self._embedded.values(), self.loaded]:
                loaded.unload()
        return self._run(stop)
