"""Load an extension's code into this process and run it: the part of loading that needs no actor.

:func:`load_extension` imports the entry point from the extension folder
under a private package name (nothing is added to ``sys.path``; extension
modules import each other relatively), builds the object, validates it with
:func:`symphony_actors.sdk.register` and calls ``setup(ctx)``. The returned
:class:`LoadedExtension` runs operations with inputs, parameters and outputs
checked against the manifest, and turns a crash in extension code into
``ExtensionFailed`` (``PermissionDenied`` and other typed errors pass through).

The in-memory fake uses it directly; the extension actor (issue 6, part 7)
will run the same object inside its sandboxed worker.
"""

from __future__ import annotations

import importlib
import itertools
import re
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from symphony_actors.domain.errors import ExtensionFailed, Problem, SymphonyError, UsageError, ValidationError
from symphony_actors.extension_host.manifest import Manifest
from symphony_actors.sdk.base import Extension, Instrument
from symphony_actors.sdk.context import ExtensionContext
from symphony_actors.sdk.registration import Registration, check_inputs, check_outputs, check_params, register

__all__ = ["OPERATIONS", "LoadedExtension", "load_extension"]

OPERATIONS = ("process", "infer", "command", "hook")
_counter = itertools.count()


class LoadedExtension:
    """An extension object in this process with its registration and context."""

    def __init__(self, manifest: Manifest, path: Path, registration: Registration, ctx: ExtensionContext,
                 package: str) -> None:
        self.manifest = manifest
        self.path = path
        self.registration = registration
        self.ctx = ctx
        self.package = package
        self.active = False

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def instance(self) -> Extension:
        return self.registration.instance

    def _guarded(self, operation: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SymphonyError:
            raise
        except Exception as exc:  # any crash in extension code becomes a typed failure
            raise ExtensionFailed(f"{self.id} failed in {operation}: {type(exc).__name__}: {exc}",
                                  extension=self.id, operation=operation, error_type=type(exc).__name__) from exc

    def activate(self) -> None:
        if self.active:
            return
        if isinstance(self.instance, Instrument):
            self._guarded("load", self.instance.load)
        hook = self.registration.hooks.get("on_activate")
        if hook is not None:
            self._guarded("on_activate", hook.call)
        self.active = True

    def deactivate(self) -> None:
        if not self.active:
            return
        self.active = False
        hook = self.registration.hooks.get("on_deactivate")
        if hook is not None:
            self._guarded("on_deactivate", hook.call)
        if isinstance(self.instance, Instrument):
            self._guarded("unload", self.instance.unload)

    def unload(self) -> None:
        """Deactivate, tear down and forget the extension's modules."""
        try:
            self.deactivate()
            self._guarded("teardown", self.instance.teardown)
        finally:
            for name in [n for n in sys.modules if n == self.package or n.startswith(self.package + ".")]:
                del sys.modules[name]

    def call(self, operation: str, payload: Mapping[str, Any] | None = None) -> Any:
        """Run ``process``/``infer`` (payload: inputs, params), ``command`` (command, args) or ``hook``
        (hook, args); returns plain data."""
        payload = payload or {}
        if not isinstance(payload, Mapping):
            raise UsageError("an extension request payload is a dict")
        if not self.active:
            raise UsageError(f"extension {self.id} is not active", extension=self.id)
        subject = f"request to {self.id}"
        kind = self.manifest.type
        if operation in ("process", "infer"):
            expected = "process" if kind == "operator" else "infer" if kind == "instrument" else None
            if operation != expected:
                raise UsageError(f"{self.id} is an {kind}; it does not {operation}", extension=self.id)
            node = self.registration.node
            inputs = check_inputs(node, payload.get("inputs", {}), subject)
            params = check_params(node, payload.get("params"), subject)
            method = getattr(self.instance, operation)
            key = payload.get("idempotency_key")
            keyed = hasattr(self.ctx, "task_key")
            if keyed:
                self.ctx.task_key = key if isinstance(key, str) else None  # type: ignore[attr-defined]
            try:
                outputs = self._guarded(operation, method, inputs, params)
            finally:
                if keyed:
                    self.ctx.task_key = None  # type: ignore[attr-defined]
            return check_outputs(node, outputs, f"outputs of {self.id}")
        if operation == "command":
            cid = payload.get("command")
            func = self.registration.commands.get(str(cid))
            if func is None:
                raise UsageError(f"{self.id} has no command {cid!r}; it has: "
                                 + (", ".join(sorted(self.registration.commands)) or "none"), extension=self.id)
            return self._guarded(f"command {cid}", func, dict(payload.get("args") or {}))
        if operation == "hook":
            name = str(payload.get("hook"))
            hook = self.registration.hooks.get(name)
            if hook is None:
                return None
            return self._guarded(name, hook.call, **dict(payload.get("args") or {}))
        raise UsageError(f"unknown operation {operation!r}: use one of {', '.join(OPERATIONS)}")


def _package_name(ext_id: str) -> str:
    return f"_symphony_ext_{re.sub(r'[^a-z0-9]', '_', ext_id)}_{next(_counter)}"


def load_extension(path: Path | str, manifest: Manifest, ctx: ExtensionContext) -> LoadedExtension:
    """Import, build, validate and set up the extension in ``path`` (not yet activated)."""
    path = Path(path).resolve()
    package = _package_name(manifest.id)
    pkg = types.ModuleType(package, f"extension {manifest.id}")
    pkg.__path__ = [str(path)]
    pkg.__package__ = package
    sys.modules[package] = pkg
    try:
        try:
            module = importlib.import_module(f"{package}.{manifest.entry_module}")
        except SymphonyError:
            raise
        except Exception as exc:  # an import-time crash is the extension's failure
            raise ExtensionFailed(f"{manifest.id}: importing {manifest.entry_module} failed: "
                                  f"{type(exc).__name__}: {exc}", extension=manifest.id, operation="import") from exc
        obj: Any = module
        for part in manifest.entry_attribute.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                raise ValidationError([Problem("entry", f"{manifest.entry_module} has no attribute "
                                                        f"{manifest.entry_attribute!r}")],
                                      subject=f"extension {manifest.id}")
        if isinstance(obj, type) or (callable(obj) and not isinstance(obj, Extension)):
            try:
                obj = obj()
            except Exception as exc:  # a crashing constructor is the extension's failure
                raise ExtensionFailed(f"{manifest.id}: building {manifest.entry} failed: {type(exc).__name__}: "
                                      f"{exc}", extension=manifest.id, operation="construct") from exc
        registration = register(obj, manifest)
        loaded = LoadedExtension(manifest, path, registration, ctx, package)
        loaded._guarded("setup", registration.instance.setup, ctx)
        return loaded
    except BaseException:
        for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
            del sys.modules[name]
        raise

