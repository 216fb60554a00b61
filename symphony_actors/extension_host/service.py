"""The extension host service: registry, grants, search and audit behind one plain object.

Built by ``build(settings)`` (``symphony_actors/extension_host/service.py:build``); every exported
method takes keyword arguments and returns plain data. Options (``settings.options``):
``workspace`` (the folder ``${workspace}`` grants refer to), ``search_engine`` (auto, tantivy, sqlite).

The loader (issue 6, part 7) adds ``load``/``activate`` on top of :meth:`ExtensionHost.plan_load`,
which returns the resolved steps, and :meth:`ExtensionHost.check_access`, the boundary check the
bus, artifact store and model pool call for requests coming from extension actors.
"""

from __future__ import annotations

import builtins
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import Any, ClassVar

from symphony_actors.domain.errors import ConflictError, ProtocolError, StorageError, SymphonyError, UsageError
from symphony_actors.extension_host.editor_hooks import EditorHooksMixin
from symphony_actors.extension_host.loader import LoaderMixin
from symphony_actors.extension_host.permissions import KINDS, AccessGuard, AuditLog
from symphony_actors.extension_host.plan import path_variables, plan_load
from symphony_actors.extension_host.registry import InstalledExtension, Registry
from symphony_actors.extension_host.search import SearchIndex, create_index
from symphony_actors.ports.service import ActorContext, Caller, ServiceSettings

__all__ = ["ExtensionHost", "ExtensionHostClient", "ExtensionPortClient", "build"]

EVENT_PREFIX = "extensions"
LOAD_TIMEOUT_S = 120.0
CALL_TIMEOUT_S = 120.0


class ExtensionHost(EditorHooksMixin):
    """Install, list, inspect, enable/disable, remove, search and audit extensions in the data directory;
    load, activate and talk to them through their actors (:class:`LoaderMixin`)."""

    EXPORTS: ClassVar[frozenset[str]] = frozenset({
        "install", "list", "info", "enable", "disable", "remove", "search", "audit", "grant", "revoke",
        "resolve", "plan_load", "check_access", "node_types", "set_workspace"}) | LoaderMixin.LOADER_EXPORTS

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.root = settings.data_dir / "extensions"
        self.registry = Registry(self.root)
        self.audit_log = AuditLog(self.root / "audit.jsonl")
        self.workspace: str | None = settings.options.get("workspace")
        self._engine = str(settings.options.get("search_engine", "auto"))
        self._index: SearchIndex | None = None
        self._index_generation = -1
        self._ctx: ActorContext | None = None
        self._loader_init(dict(settings.options))

    # ---------------------------------------------------------------- hooks
    def on_start(self, ctx: ActorContext) -> None:
        self._ctx = ctx
        ctx.subscribe("supervisor.child.stopped")
        self._editor_hooks_start()
        self._verify_loaded()

    def on_event(self, topic: str, payload: Any) -> None:
        if not self.on_editor_event(topic, payload):
            super().on_event(topic, payload)

    def on_stop(self) -> None:
        self._forget_loaded()   # an orderly stop: the extension actors stop with the system
        self.registry.close()

    def _event(self, what: str, payload: dict[str, Any]) -> None:
        if self._ctx is not None:
            self._ctx.publish(f"{EVENT_PREFIX}.{what}", payload)

    def set_workspace(self, path: str | None) -> dict[str, Any]:
        """The folder ``${workspace}`` grants refer to (the open project), for extensions loaded from now on."""
        if path is not None and not Path(path).is_absolute():
            raise UsageError(f"the workspace must be an absolute path, got {path!r}")
        self.workspace = None if path is None else str(Path(path).resolve())
        self._event("workspace", {"path": self.workspace})
        return {"workspace": self.workspace, "loaded": sorted(self.loaded)}

    # ---------------------------------------------------------------- registry
    def install(self, path: str, grant: builtins.list[str] | bool | None = None,
                replace: bool = False) -> dict[str, Any]:
        """Install from a folder or archive. ``grant``: None grants what it requests unless that includes a
        dangerous permission (network, processes, writes outside its folders, file metadata), which is refused
        with ``PermissionDenied`` (reason ``consent_required``, ``permissions`` listed); True grants them all,
        False all but the dangerous ones, a list exactly those.

        The reply lists ``requested``, ``granted`` and ``denied`` permissions so the caller can show them.
        """
        ext = _typed_install(self.registry, path, grant, replace)
        self._event("installed", {"id": ext.id, "version": str(ext.manifest.version)})
        return ext.to_dict()

    def list(self, enabled_only: bool = False) -> builtins.list[dict[str, Any]]:
        """Installed extensions with their ``state`` (installed, loaded, active)."""
        return [{**e.summary(), "state": self._state(e.id)} for e in self.registry.list(enabled_only=enabled_only)]

    def info(self, extension_id: str) -> Any:
        """Manifest, grants, state; when loaded also ``health``, ``runtime`` (pid, calls) and ``guarantees``."""
        ext = self.registry.get(extension_id)
        return self._runtime_info({**ext.to_dict(), "dependents": self.registry.dependents(extension_id)})

    def enable(self, extension_id: str) -> dict[str, Any]:
        ext = self.registry.set_enabled(extension_id, True)
        self._event("enabled", {"id": ext.id})
        return ext.summary()

    def disable(self, extension_id: str, force: bool = False) -> dict[str, Any]:
        self._refuse_loaded(extension_id, "disable")
        ext = self.registry.set_enabled(extension_id, False, force=force)
        self._event("disabled", {"id": ext.id})
        return ext.summary()

    def remove(self, extension_id: str, force: bool = False) -> dict[str, Any]:
        self._refuse_loaded(extension_id, "remove")
        ext = self.registry.remove(extension_id, force=force)
        self._event("removed", {"id": ext.id})
        return ext.summary()

    def _refuse_loaded(self, extension_id: str, what: str) -> None:
        if extension_id in self.loaded:
            raise ConflictError(f"cannot {what} {extension_id} while it is loaded; unload it first",
                                extension=extension_id)

    def grant(self, extension_id: str, permissions: builtins.list[str]) -> dict[str, Any]:
        ext = self.registry.grant(extension_id, permissions)
        self._event("grants_changed", {"id": ext.id, "granted": list(ext.granted)})
        return ext.to_dict()

    def revoke(self, extension_id: str, permissions: builtins.list[str]) -> dict[str, Any]:
        ext = self.registry.revoke(extension_id, permissions)
        self._event("grants_changed", {"id": ext.id, "granted": list(ext.granted)})
        return ext.to_dict()

    def resolve(self, extension_id: str) -> builtins.list[dict[str, str]]:
        """The activation order (dependencies first) as ``[{"id", "version"}]``."""
        return [{"id": m.id, "version": str(m.version)} for m in self.registry.resolve(extension_id).order]

    def plan_load(self, extension_id: str) -> builtins.list[dict[str, Any]]:
        """What the loader must start for ``extension_id``, dependencies first (see ``plan.LoadStep``)."""
        return [s.to_dict() for s in plan_load(self.registry, extension_id, workspace=self.workspace)]

    def node_types(self) -> builtins.list[dict[str, Any]]:
        """Node types contributed by enabled extensions, for workflow validation and editors.

        Each: ``{"extension", "version", "type", "node", "title", "inputs", "outputs", "params"}`` where the
        ports are ``{"name", "type", "required", "description"}`` and ``params`` a schema.
        """
        out: builtins.list[dict[str, Any]] = []
        for ext in self.registry.list(enabled_only=True):
            m = ext.manifest.to_dict()
            for node in m["contributes"]["nodes"]:
                out.append({"extension": ext.id, "version": m["version"], "type": m["type"], "node": node["name"],
                            "title": node["title"], "inputs": node["inputs"], "outputs": node["outputs"],
                            "params": node["params"]})
        return out

    # ---------------------------------------------------------------- permissions
    def guard(self, extension_id: str) -> AccessGuard:
        """The access guard of an installed extension (grants with its path variables, audit log)."""
        ext = self.registry.get(extension_id)
        variables = path_variables(ext, self.root, self.workspace)
        return AccessGuard(ext.grant_set(variables), self.audit_log)

    def check_access(self, extension_id: str, kind: str, target: str | None = None) -> bool:
        """Allow (True) or raise ``PermissionDenied`` and audit: the host's boundary check for extension requests.

        ``kind`` is a permission kind (``bus.publish``, ``artifact.read``, ``model.use``, ...), ``target`` the
        topic, artifact id, model name or path concerned.
        """
        if kind not in KINDS:
            raise UsageError(f"unknown permission kind {kind!r}; known: {', '.join(sorted(KINDS))}")
        self.guard(extension_id).check(kind, target)
        return True

    def audit(self, extension_id: str | None = None, limit: int = 100) -> builtins.list[dict[str, Any]]:
        """Audit records (denials), oldest first, the last ``limit`` of them."""
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise UsageError("limit must be a positive integer")
        return self.audit_log.read(extension_id, limit)

    # ---------------------------------------------------------------- search
    def _current_index(self) -> SearchIndex:
        gen = self.registry.generation
        if self._index is None or gen != self._index_generation:
            index = create_index(self._engine)
            index.build(e.search_entry() for e in self.registry.list())
            self._index, self._index_generation = index, gen
        return self._index

    def search(self, query: str, type: str | None = None, permission: str | None = None,
               limit: int = 20) -> builtins.list[dict[str, Any]]:
        """Installed extensions best matching ``query`` (prefix and typo tolerant), filtered by type/permission."""
        if type is not None and type not in ("instrument", "operator", "addon"):
            raise UsageError(f"type must be instrument, operator or addon, not {type!r}")
        return [h.to_dict() for h in self._current_index().search(query, type=type, permission=permission,
                                                                   limit=limit)]

    def installed(self, extension_id: str) -> InstalledExtension:
        """In-process access to the registry record (not exported)."""
        return self.registry.get(extension_id)


# What hostile packages make the standard library raise (beside our typed errors): bad bytes, deep nesting,
# huge numbers, broken compression. Each becomes a typed reply; exthost never crashes on an input.
_BAD_INPUT = (ValueError, RecursionError, EOFError, OverflowError, MemoryError, tarfile.TarError, zipfile.BadZipFile,
              zlib.error)


def _typed_install(registry: Registry, path: object, grant: builtins.list[str] | bool | None,
                   replace: bool) -> InstalledExtension:
    if not isinstance(path, str) or not path or "\0" in path:
        raise UsageError(f"install takes the path of a folder or archive, not {path!r:.80}")
    if not (grant is None or isinstance(grant, bool | builtins.list)):
        raise UsageError("grant is None, True, False or a list of permission strings")
    try:
        return registry.install(path, grant=grant, replace=replace)
    except SymphonyError:
        raise
    except _BAD_INPUT as exc:
        raise ProtocolError(f"cannot install {path}: the package is unreadable ({type(exc).__name__}: "
                            f"{str(exc)[:200]})", reason="malformed", path=path) from None
    except OSError as exc:
        raise StorageError(f"cannot install {path}: {exc.strerror or exc}", path=path) from None


def build(settings: ServiceSettings) -> ExtensionHost:
    return ExtensionHost(settings)


class ExtensionHostClient:
    """Calls an :class:`ExtensionHost` hosted under ``service`` through a :class:`Caller`."""

    def __init__(self, caller: Caller, service: str = "exthost") -> None:
        self._caller = caller
        self._service = service

    def _call(self, method: str, **kwargs: Any) -> Any:
        return self._caller.call(self._service, method, **kwargs)

    def install(self, path: str, grant: list[str] | bool | None = None, replace: bool = False) -> dict[str, Any]:
        """See :meth:`ExtensionHost.install`: pass ``grant=True`` to consent to dangerous permissions."""
        return self._call("install", path=path, grant=grant, replace=replace)  # type: ignore[no-any-return]

    def list(self, enabled_only: bool = False) -> builtins.list[dict[str, Any]]:
        return self._call("list", enabled_only=enabled_only)  # type: ignore[no-any-return]

    def info(self, extension_id: str) -> dict[str, Any]:
        return self._call("info", extension_id=extension_id)  # type: ignore[no-any-return]

    def enable(self, extension_id: str) -> dict[str, Any]:
        return self._call("enable", extension_id=extension_id)  # type: ignore[no-any-return]

    def disable(self, extension_id: str, force: bool = False) -> dict[str, Any]:
        return self._call("disable", extension_id=extension_id, force=force)  # type: ignore[no-any-return]

    def remove(self, extension_id: str, force: bool = False) -> dict[str, Any]:
        return self._call("remove", extension_id=extension_id, force=force)  # type: ignore[no-any-return]

    def grant(self, extension_id: str, permissions: builtins.list[str]) -> dict[str, Any]:
        return self._call("grant", extension_id=extension_id, permissions=permissions)  # type: ignore[no-any-return]

    def revoke(self, extension_id: str, permissions: builtins.list[str]) -> dict[str, Any]:
        return self._call("revoke", extension_id=extension_id, permissions=permissions)  # type: ignore[no-any-return]

    def resolve(self, extension_id: str) -> builtins.list[dict[str, str]]:
        return self._call("resolve", extension_id=extension_id)  # type: ignore[no-any-return]

    def plan_load(self, extension_id: str) -> builtins.list[dict[str, Any]]:
        return self._call("plan_load", extension_id=extension_id)  # type: ignore[no-any-return]

    def check_access(self, extension_id: str, kind: str, target: str | None = None) -> bool:
        return bool(self._call("check_access", extension_id=extension_id, kind=kind, target=target))

    def node_types(self) -> builtins.list[dict[str, Any]]:
        return self._call("node_types")  # type: ignore[no-any-return]

    def audit(self, extension_id: str | None = None, limit: int = 100) -> builtins.list[dict[str, Any]]:
        return self._call("audit", extension_id=extension_id, limit=limit)  # type: ignore[no-any-return]

    def search(self, query: str, type: str | None = None, permission: str | None = None,
               limit: int = 20) -> builtins.list[dict[str, Any]]:
        return self._call("search", query=query, type=type, permission=permission,  # type: ignore[no-any-return]
                          limit=limit)

    # ---------------------------------------------------------------- the loader (ExtensionPort on actors)
    def load(self, extension_id: str, allow_unconfined: bool = False) -> dict[str, Any]:
        return self._call("load", extension_id=extension_id, allow_unconfined=allow_unconfined,  # type: ignore[no-any-return]
                          timeout=LOAD_TIMEOUT_S)

    def activate(self, extension_id: str, allow_unconfined: bool = False) -> dict[str, Any]:
        return self._call("activate", extension_id=extension_id,  # type: ignore[no-any-return]
                          allow_unconfined=allow_unconfined, timeout=LOAD_TIMEOUT_S)

    def deactivate(self, extension_id: str) -> dict[str, Any]:
        return self._call("deactivate", extension_id=extension_id, timeout=LOAD_TIMEOUT_S)  # type: ignore[no-any-return]

    def unload(self, extension_id: str) -> dict[str, Any]:
        return self._call("unload", extension_id=extension_id, timeout=LOAD_TIMEOUT_S)  # type: ignore[no-any-return]

    def send(self, extension_id: str, operation: str, payload: dict[str, Any] | None = None,
             timeout: float = CALL_TIMEOUT_S) -> Any:
        return self._call("send", extension_id=extension_id, operation=operation, payload=payload, timeout=timeout)

    def broadcast(self, hook: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._call("broadcast", hook=hook, args=args, timeout=CALL_TIMEOUT_S)  # type: ignore[no-any-return]

    def health(self, extension_id: str) -> dict[str, Any]:
        return self._call("health", extension_id=extension_id, timeout=CALL_TIMEOUT_S)  # type: ignore[no-any-return]

    def restart(self, extension_id: str) -> dict[str, Any]:
        return self._call("restart", extension_id=extension_id, timeout=LOAD_TIMEOUT_S)  # type: ignore[no-any-return]

    def loaded_extensions(self, timeout: float = CALL_TIMEOUT_S) -> builtins.list[dict[str, Any]]:
        return self._call("loaded_extensions", timeout=timeout)  # type: ignore[no-any-return]


#: The ExtensionPort adapter over a running system (``ExtensionPortClient(client)``).
ExtensionPortClient = ExtensionHostClient
