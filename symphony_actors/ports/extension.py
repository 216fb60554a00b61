"""ExtensionPort: how the core installs, loads, activates and talks to extensions.

Lifecycle of an extension::

    installed --load--> loaded --activate--> active --deactivate--> loaded --unload--> installed

``load`` and ``activate`` bring the extension's dependencies to the same state
first (activation order follows dependencies); ``deactivate`` and ``unload``
refuse while an active/loaded extension depends on it.

Requests (:meth:`ExtensionPort.send`), all plain data:

=============  =================================================  ===============
operation      payload                                            for
=============  =================================================  ===============
``process``    ``{"inputs": {...}, "params": {...}}``             operators
``infer``      ``{"inputs": {...}, "params": {...}}``             instruments
``command``    ``{"command": "todo.list", "args": {...}}``        addons
``hook``       ``{"hook": "on_buffer_changed", "args": {...}}``   addons
=============  =================================================  ===============

Errors: ``NotFoundError`` (unknown id), ``UsageError`` (not active, wrong
operation, bad payload), ``ValidationError`` (inputs/params/outputs against the
manifest), ``DependencyError``, ``ConflictError``, ``PermissionDenied`` (the
extension touched something it was not granted; audited), ``ExtensionFailed``
(the extension crashed; health shows it until restart).

The in-memory fake is :class:`symphony_actors.testing.fake_extension.FakeExtensionPort`;
the actor-backed adapter comes with the loader.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

__all__ = ["STATES", "ExtensionPort", "ExtensionState"]

ExtensionState = Literal["installed", "loaded", "active", "failed"]
STATES: tuple[ExtensionState, ...] = ("installed", "loaded", "active", "failed")


@runtime_checkable
class ExtensionPort(Protocol):
    def install(self, path: str, grant: list[str] | bool | None = None) -> dict[str, Any]:
        """Install from a folder or archive; the reply has ``id``, ``version``, ``requested``, ``granted``.
        Dangerous permissions need ``grant=True`` or their names in ``grant`` (else ``PermissionDenied``)."""

    def load(self, extension_id: str) -> dict[str, Any]:
        """Resolve and load the extension and its dependencies; reply ``{"id", "state", "order"}``."""

    def unload(self, extension_id: str) -> dict[str, Any]:
        """Deactivate if needed and unload; refuses while a loaded extension depends on it."""

    def activate(self, extension_id: str) -> dict[str, Any]:
        """Load if needed and activate, dependencies first; reply ``{"id", "state", "order"}``."""

    def deactivate(self, extension_id: str) -> dict[str, Any]:
        """Deactivate; refuses while an active extension depends on it."""

    def list(self) -> list[dict[str, Any]]:
        """Every installed extension: ``id``, ``version``, ``type``, ``name``, ``state``."""

    def info(self, extension_id: str) -> dict[str, Any]:
        """Manifest, grants, state and health of one extension."""

    def send(self, extension_id: str, operation: str, payload: dict[str, Any] | None = None) -> Any:
        """Run one request on an active extension and return its plain-data reply."""

    def broadcast(self, hook: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call ``hook`` on every active addon implementing it: ``{"results": {id: value}, "errors": {id: wire}}``."""

    def health(self, extension_id: str) -> dict[str, Any]:
        """``{"id", "state", "healthy", "restarts", "failures", "last_error"}``."""

    def restart(self, extension_id: str) -> dict[str, Any]:
        """Unload and load again, restoring the previous state (active stays active); counts restarts."""
