"""Hook specifications: the editor events an Addon may implement, by name and keyword arguments.

As in pluggy, hooks are called with keyword arguments and an implementation may
accept any subset of a spec's arguments, so specs can grow without breaking
extensions. :func:`symphony_actors.sdk.register` validates every ``on_*``
method against these specs when the extension is loaded: an unknown hook name
or an argument the spec does not offer is refused with the closest valid name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["HOOKSPECS", "HookSpec"]


@dataclass(frozen=True, slots=True)
class HookSpec:
    name: str
    params: tuple[str, ...]
    doc: str
    returns: str = "None or plain data (collected by broadcast)"


HOOKSPECS: Mapping[str, HookSpec] = {spec.name: spec for spec in (
    HookSpec("on_activate", (), "the addon was activated; set up state"),
    HookSpec("on_deactivate", (), "the addon is being deactivated; release state"),
    HookSpec("on_buffer_opened", ("buffer_id", "path", "text", "language"), "a buffer was opened in the editor"),
    HookSpec("on_buffer_changed", ("buffer_id", "text", "version", "path", "language"),
             "the text of a buffer changed (full text after the change; version increases)"),
    HookSpec("on_buffer_saved", ("buffer_id", "path", "text"), "a buffer was written to disk"),
    HookSpec("on_buffer_closed", ("buffer_id",), "a buffer was closed"),
    HookSpec("on_selection_changed", ("buffer_id", "start_line", "start_column", "end_line", "end_column"),
             "the selection or cursor moved"),
)}
