"""A complete in-memory :class:`~symphony_actors.ports.extension.ExtensionPort`.

It really loads extensions: manifests are validated, dependencies resolved,
code imported in this process, hooks validated, every access checked against
grants (denials audited in memory). The bus and the artifact store are small
in-memory ones whose contents tests can read (:attr:`events`, :attr:`artifacts`);
``model.use`` routes to active instruments by id.
"""

from __future__ import annotations

import builtins
import hashlib
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symphony_actors import __version__
from symphony_actors.domain.errors import (
    ConflictError,
    ExtensionFailed,
    NotFoundError,
    SymphonyError,
    UsageError,
    ValidationError,
)
from symphony_actors.domain.topics import check_pattern, matches
from symphony_actors.extension_host.archives import extract_archive, find_root, is_archive
from symphony_actors.extension_host.consent import ConsentRequired, dangerous
from symphony_actors.extension_host.inprocess import LoadedExtension, load_extension
from symphony_actors.extension_host.manifest import MANIFEST_NAME, Manifest, load_manifest
from symphony_actors.extension_host.permissions import AccessGuard, AuditLog, GrantSet, parse_permission
from symphony_actors.extension_host.schema import apply_defaults, validate
from symphony_actors.extension_host.versions import resolve
from symphony_actors.ports.extension import ExtensionState
from symphony_actors.sdk.context import EventHandler, GuardedContext

__all__ = ["FakeExtensionPort"]


@dataclass
class _Record:
    manifest: Manifest
    path: Path
    granted: tuple[str, ...]
    state: ExtensionState = "installed"
    loaded: LoadedExtension | None = None
    restarts: int = 0
    failures: int = 0
    last_error: dict[str, Any] | None = None


class FakeExtensionPort:
    """In-process extension host: install from folders or archives, load, activate, send, broadcast."""

    def __init__(self, *, workspace: str | Path | None = None,
                 config: Mapping[str, Mapping[str, Any]] | None = None,
                 symphony_version: str = __version__) -> None:
        self.workspace = str(Path(workspace).resolve()) if workspace else None
        self.config = {k: dict(v) for k, v in (config or {}).items()}
        self.symphony_version = symphony_version
        self.audit = AuditLog(None)
        self.events: list[tuple[str, Any, str]] = []
        self.artifacts: dict[str, bytes] = {}
        self.logs: list[tuple[str, str, str, dict[str, Any]]] = []
        self._records: dict[str, _Record] = {}
        self._subscriptions: list[tuple[str, EventHandler, str]] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="symphony-fake-ext-")

    def close(self) -> None:
        for ext_id in reversed(self._activation_order(list(self._records))):
            rec = self._records[ext_id]
            if rec.loaded is not None:
                rec.loaded.unload()
                rec.loaded = None
        self._tmp.cleanup()

    # ---------------------------------------------------------------- helpers
    def _get(self, extension_id: str) -> _Record:
        rec = self._records.get(extension_id)
        if rec is None:
            raise NotFoundError(f"extension {extension_id!r} is not installed", extension=extension_id)
        return rec

    def _resolve(self, extension_id: str) -> list[str]:
        rec = self._get(extension_id)
        return resolve([rec.manifest], [r.manifest for r in self._records.values()],
                       symphony_version=self.symphony_version).ids

    def _activation_order(self, ids: builtins.list[str]) -> builtins.list[str]:
        order: list[str] = []
        for ext_id in sorted(ids):
            for dep in self._resolve(ext_id):
                if dep not in order:
                    order.append(dep)
        return order

    def _dependents(self, extension_id: str, states: tuple[str, ...]) -> builtins.list[str]:
        return sorted(r.manifest.id for r in self._records.values()
                      if r.state in states and any(d.id == extension_id for d in r.manifest.dependencies))

    def _variables(self, rec: _Record) -> dict[str, str]:
        out = {"extension": str(rec.path), "data": str(Path(self._tmp.name) / "data" / rec.manifest.id),
               "tmp": str(Path(self._tmp.name) / "tmp" / rec.manifest.id)}
        if self.workspace:
            out["workspace"] = self.workspace
        return out

    def guard(self, extension_id: str) -> AccessGuard:
        rec = self._get(extension_id)
        return AccessGuard(GrantSet(extension_id, rec.granted, self._variables(rec)), self.audit)

    def _config_for(self, manifest: Manifest) -> dict[str, Any]:
        schema = manifest.contributes.configuration or {"type": "object"}
        values = apply_defaults(self.config.get(manifest.id), schema)
        problems = validate(values, schema, "config")
        if problems:
            raise ValidationError(problems, subject=f"configuration of {manifest.id}")
        return values

    # ---------------------------------------------------------------- bus, artifacts, models (in memory)
    def publish(self, topic: str, payload: Any = None, sender: str = "test") -> None:
        """Record an event and deliver it to matching extension subscriptions; a failing handler is counted
        in its extension's health, never raised to the publisher."""
        self.events.append((topic, payload, sender))
        for pattern, handler, owner in list(self._subscriptions):
            if matches(pattern, topic):
                try:
                    handler(topic, payload)
                except SymphonyError as exc:
                    self._failed(self._records[owner], exc)
                except Exception as exc:  # noqa: BLE001 - a handler crash is the extension's failure, recorded in health
                    self._failed(self._records[owner], ExtensionFailed(
                        f"{owner} failed handling {topic}: {type(exc).__name__}: {exc}", extension=owner))

    def _publisher(self, owner: str) -> Callable[[str, Any], None]:
        def publish(topic: str, payload: Any) -> None:
            self.publish(topic, payload, owner)
        return publish

    def _subscribe(self, owner: str) -> Callable[[str, EventHandler], None]:
        def subscribe(pattern: str, handler: EventHandler) -> None:
            self._subscriptions.append((check_pattern(pattern), handler, owner))
        return subscribe

    def _write_artifact(self, data: bytes, media_type: str) -> str:
        if not isinstance(data, bytes | bytearray):
            raise UsageError("artifacts are bytes")
        art_id = "art-" + hashlib.sha256(bytes(data)).hexdigest()[:32]
        self.artifacts[art_id] = bytes(data)
        return art_id

    def _read_artifact(self, artifact_id: str) -> bytes:
        try:
            return self.artifacts[artifact_id]
        except KeyError:
            raise NotFoundError(f"no artifact {artifact_id!r}", artifact=artifact_id) from None

    def _use_model(self, name: str, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        rec = self._records.get(name)
        if rec is None or rec.manifest.type != "instrument" or rec.state != "active":
            raise NotFoundError(f"no active instrument named {name!r}", model=name)
        result = self.send(name, "infer", {"inputs": dict(inputs), "params": dict(params)})
        return dict(result)

    def _log(self, ext: str, level: str, message: str, fields: Mapping[str, Any]) -> None:
        self.logs.append((ext, level, message, dict(fields)))

    # ---------------------------------------------------------------- ExtensionPort
    def install(self, path: str, grant: builtins.list[str] | bool | None = None) -> dict[str, Any]:
        src = Path(path)
        if not src.exists():
            raise NotFoundError(f"{src} does not exist", path=str(src))
        if src.is_dir():
            folder = src.resolve()
        elif is_archive(src):
            dest = Path(tempfile.mkdtemp(dir=self._tmp.name))
            extract_archive(src, dest)
            folder = find_root(dest, MANIFEST_NAME)
        else:
            raise UsageError(f"{src} is neither an extension folder nor an archive")
        manifest = load_manifest(folder)
        if manifest.id in self._records:
            raise ConflictError(f"{manifest.id} is already installed", extension=manifest.id)
        resolve([manifest], [r.manifest for r in self._records.values()], symphony_version=self.symphony_version)
        requested = manifest.permission_strings
        if isinstance(grant, bool) or grant is None:  # the same consent rule as the registry
            risky = dangerous(manifest.permissions)
            if risky and grant is None:
                raise ConsentRequired(manifest.id, risky)
            granted = [p for p in requested if grant or p not in risky]
        else:
            granted = []
            for g in grant:
                p = str(parse_permission(g))
                if p not in requested:
                    raise UsageError(f"{manifest.id} does not request {p}", extension=manifest.id)
                granted.append(p)
        self._records[manifest.id] = _Record(manifest, folder, tuple(granted))
        return {"id": manifest.id, "version": str(manifest.version), "type": manifest.type,
                "requested": requested, "granted": granted, "denied": [p for p in requested if p not in granted]}

    def load(self, extension_id: str) -> dict[str, Any]:
        order = self._resolve(extension_id)
        for ext_id in order:
            rec = self._records[ext_id]
            if rec.loaded is not None:
                continue
            ctx = GuardedContext(self.guard(ext_id), config=self._config_for(rec.manifest),
                                 publish=self._publisher(ext_id),
                                 subscribe=self._subscribe(ext_id), read_artifact=self._read_artifact,
                                 write_artifact=self._write_artifact, use_model=self._use_model, log=self._log)
            rec.loaded = load_extension(rec.path, rec.manifest, ctx)
            rec.state = "loaded"
        return {"id": extension_id, "state": self._records[extension_id].state, "order": order}

    def activate(self, extension_id: str) -> dict[str, Any]:
        order = self.load(extension_id)["order"]
        for ext_id in order:
            rec = self._records[ext_id]
            if rec.state != "active" and rec.loaded is not None:
                try:
                    rec.loaded.activate()
                except ExtensionFailed as exc:
                    self._failed(rec, exc)
                    raise
                rec.state = "active"
        return {"id": extension_id, "state": "active", "order": order}

    def deactivate(self, extension_id: str) -> dict[str, Any]:
        rec = self._get(extension_id)
        active = self._dependents(extension_id, ("active",))
        if active:
            raise ConflictError(f"cannot deactivate {extension_id}: active {', '.join(active)} depend on it",
                                extension=extension_id, dependents=active)
        if rec.loaded is not None and rec.state == "active":
            rec.loaded.deactivate()
            rec.state = "loaded"
        return {"id": extension_id, "state": rec.state}

    def unload(self, extension_id: str) -> dict[str, Any]:
        rec = self._get(extension_id)
        loaded = self._dependents(extension_id, ("loaded", "active"))
        if loaded:
            raise ConflictError(f"cannot unload {extension_id}: loaded {', '.join(loaded)} depend on it",
                                extension=extension_id, dependents=loaded)
        if rec.loaded is not None:
            self._subscriptions = [s for s in self._subscriptions if s[2] != extension_id]
            try:
                rec.loaded.unload()
            finally:
                rec.loaded = None
        rec.state = "installed"
        return {"id": extension_id, "state": "installed"}

    def list(self) -> builtins.list[dict[str, Any]]:
        return [{"id": r.manifest.id, "version": str(r.manifest.version), "type": r.manifest.type,
                 "name": r.manifest.name, "state": r.state} for r in sorted(self._records.values(),
                                                                            key=lambda r: r.manifest.id)]

    def info(self, extension_id: str) -> dict[str, Any]:
        rec = self._get(extension_id)
        return {"id": extension_id, "state": rec.state, "path": str(rec.path), "manifest": rec.manifest.to_dict(),
                "requested": rec.manifest.permission_strings, "granted": list(rec.granted),
                "health": self.health(extension_id)}

    def _failed(self, rec: _Record, exc: SymphonyError) -> None:
        rec.failures += 1
        rec.last_error = exc.to_wire()

    def send(self, extension_id: str, operation: str, payload: dict[str, Any] | None = None) -> Any:
        rec = self._get(extension_id)
        if rec.loaded is None or rec.state != "active":
            raise UsageError(f"extension {extension_id} is {rec.state}, not active; activate it first",
                             extension=extension_id)
        try:
            return rec.loaded.call(operation, payload)
        except ExtensionFailed as exc:
            self._failed(rec, exc)
            raise

    def broadcast(self, hook: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        active = [i for i in self._activation_order(builtins.list(self._records))
                  if self._records[i].state == "active"]
        for ext_id in active:
            rec = self._records[ext_id]
            if rec.loaded is None or hook not in rec.loaded.registration.hooks:
                continue
            try:
                results[ext_id] = rec.loaded.call("hook", {"hook": hook, "args": args or {}})
            except SymphonyError as exc:
                if isinstance(exc, ExtensionFailed):
                    self._failed(rec, exc)
                errors[ext_id] = exc.to_wire()
        return {"results": results, "errors": errors}

    def health(self, extension_id: str) -> dict[str, Any]:
        rec = self._get(extension_id)
        return {"id": extension_id, "state": rec.state, "healthy": rec.last_error is None and rec.state != "failed",
                "restarts": rec.restarts, "failures": rec.failures, "last_error": rec.last_error}

    def restart(self, extension_id: str) -> dict[str, Any]:
        rec = self._get(extension_id)
        was = rec.state
        if rec.loaded is not None:
            self._subscriptions = [s for s in self._subscriptions if s[2] != extension_id]
            try:
                rec.loaded.unload()
            except ExtensionFailed as exc:  # a failing teardown must not block the restart; it is recorded
                self._failed(rec, exc)
            rec.loaded = None
        rec.state = "installed"
        rec.restarts += 1
        rec.last_error = None
        # Reload only this extension: its dependencies are still loaded.
        if was in ("loaded", "active", "failed"):
            self.load(extension_id)
        if was in ("active", "failed"):
            self.activate(extension_id)
        return self.health(extension_id)

