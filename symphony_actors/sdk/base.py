"""Base classes extension authors subclass: Instrument, Operator, Addon.

The host builds the entry point's class with no arguments, calls
:meth:`Extension.setup` with an :class:`~symphony_actors.sdk.context.ExtensionContext`,
then the type's methods. Inputs, parameters and outputs are plain data
(str, numbers, bool, None, lists, dicts, bytes) so a workflow can pass them
between extensions in any process.

Lifecycle::

    construct -> setup(ctx) -> [Instrument.load() | Addon on_activate] -> calls ...
              -> [Instrument.unload() | Addon on_deactivate] -> teardown()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from symphony_actors.sdk.context import ExtensionContext

__all__ = ["Addon", "Extension", "Instrument", "Operator", "command"]

F = TypeVar("F", bound=Callable[..., Any])
COMMAND_ATTR = "__symphony_command__"


class Extension:
    """Common base: holds the context the host gives at setup."""

    kind: ClassVar[str] = ""
    _ctx: ExtensionContext | None = None

    def setup(self, ctx: ExtensionContext) -> None:
        """Called once before anything else; keep ``ctx`` (the default does) and read configuration."""
        self._ctx = ctx

    def teardown(self) -> None:
        """Called once before the extension is unloaded."""

    @property
    def ctx(self) -> ExtensionContext:
        if self._ctx is None:
            raise RuntimeError(f"{type(self).__name__} has no context yet: the host calls setup(ctx) first")
        return self._ctx


class Operator(Extension):
    """A data transform: ``process(inputs, params) -> outputs`` (all plain dicts)."""

    kind = "operator"

    def process(self, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        """Transform ``inputs`` (named after the node's input ports) into outputs (named after its output ports)."""
        raise NotImplementedError


class Instrument(Extension):
    """A model: ``load()`` acquires it, ``infer(inputs, params) -> outputs`` uses it, ``unload()`` frees it."""

    kind = "instrument"

    def load(self) -> None:
        """Acquire the model (weights, vocabulary, caches); called on activation."""

    def unload(self) -> None:
        """Release what ``load`` acquired; called on deactivation."""

    def infer(self, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


class Addon(Extension):
    """An editor feature: implement hooks named in ``sdk.hookspecs`` (``on_buffer_changed``, ...) and
    commands marked with :func:`command`."""

    kind = "addon"


def command(command_id: str) -> Callable[[F], F]:
    """Mark an Addon method as the implementation of a command declared in ``contributes.commands``.

    The method is called as ``method(args: dict) -> plain data``.
    """
    def mark(func: F) -> F:
        setattr(func, COMMAND_ATTR, command_id)
        return func
    return mark
