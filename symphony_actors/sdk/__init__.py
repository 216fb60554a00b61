"""What extension authors import.

* :class:`Instrument` (``load``, ``unload``, ``infer``), :class:`Operator` (``process``) and
  :class:`Addon` (editor hooks from :data:`HOOKSPECS` and :func:`command` methods);
* :class:`ExtensionContext`: artifacts, bus, models, configuration, files, environment and logs,
  always checked against the extension's grants (:class:`GuardedContext` implements it);
* :func:`register`: the validation the host runs when it loads an extension;
* the errors an extension raises or meets: ``UsageError`` (bad input), ``PermissionDenied``, ...

See ``docs/extensions.md`` for the author's guide.
"""

from symphony_actors.domain.errors import ExtensionFailed, PermissionDenied, UsageError, ValidationError
from symphony_actors.sdk.base import Addon, Extension, Instrument, Operator, command
from symphony_actors.sdk.context import EventHandler, ExtensionContext, GuardedContext
from symphony_actors.sdk.hookspecs import HOOKSPECS, HookSpec
from symphony_actors.sdk.registration import HookImpl, Registration, register

__all__ = [
    "HOOKSPECS",
    "Addon",
    "EventHandler",
    "Extension",
    "ExtensionContext",
    "ExtensionFailed",
    "GuardedContext",
    "HookImpl",
    "HookSpec",
    "Instrument",
    "Operator",
    "PermissionDenied",
    "Registration",
    "UsageError",
    "ValidationError",
    "command",
    "register",
]
