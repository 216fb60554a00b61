"""TextEditingPort: text buffers, edits with revisions and undo, views, and buffer events.

Implemented by the editor bridge (which owns the ``symphony-editor`` process),
by :class:`symphony_actors.editor.client.TextEditingClient` (the same calls
through a :class:`~symphony_actors.ports.service.Caller`) and by the in-memory
fake :class:`symphony_actors.testing.fake_text_editing.FakeTextEditing`.

Semantics every implementation shares (``tests/contract/text_editing_contract.py``):

* Positions are zero-based (line, character); characters are Unicode code
  points. Text inside a buffer uses ``"\\n"``; ``\\r\\n`` and ``\\r`` in inserted
  text become ``"\\n"``; a file's own line ending (``eol``) and UTF-8 BOM are
  written back on save.
* Every edit, undo, redo and reload adds one to ``revision``; ``save`` does not.
  A buffer is ``dirty`` while ``revision != saved_revision``.
* ``undo``/``redo`` return ``None`` when there is nothing to undo/redo; a new
  edit clears the redo stack; ``reload`` clears both.
* A view's cursor and selection follow edits: an offset before or at the
  start of a change stays, one after it moves by the change's length, one
  inside the replaced text moves to the change's start.
* Errors: unknown buffer/view/file -> ``NotFoundError``; an out-of-range
  position, a bad argument, ``save`` of a buffer without a file ->
  ``UsageError``; a path open in another buffer -> ``ConflictError``; a file
  that cannot be written -> ``StorageError``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from symphony_actors.domain.errors import InvalidTypeError
from symphony_actors.domain.ids import BufferId, ViewId
from symphony_actors.domain.text import Position, Range

__all__ = [
    "BUFFER_TOPICS",
    "TOPIC_CHANGED",
    "TOPIC_CLOSED",
    "TOPIC_OPENED",
    "TOPIC_RESTARTED",
    "TOPIC_SAVED",
    "BufferEvent",
    "BufferInfo",
    "EditResult",
    "EventKind",
    "TextEditingPort",
    "Unsubscribe",
    "ViewInfo",
    "as_position",
    "as_range",
    "inserted_range",
]

TOPIC_CHANGED = "editor.buffer.changed"  # edit, undo, redo, reload
TOPIC_OPENED = "editor.buffer.opened"  # created, opened
TOPIC_SAVED = "editor.buffer.saved"
TOPIC_CLOSED = "editor.buffer.closed"
TOPIC_RESTARTED = "editor.process.restarted"  # the bridge restarted the editor and restored every buffer
BUFFER_TOPICS = "editor.buffer.*"

EventKind = Literal["created", "opened", "edit", "undo", "redo", "reload", "saved", "closed"]
Unsubscribe = Callable[[], None]


@dataclass(frozen=True, slots=True)
class BufferInfo:
    """A buffer's state (no text)."""

    buffer_id: BufferId
    path: str | None
    revision: int
    saved_revision: int
    dirty: bool
    eol: str
    bom: bool
    line_count: int
    length: int  # code points

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> BufferInfo:
        return cls(BufferId(d["buffer_id"]), d["path"], d["revision"], d["saved_revision"], d["dirty"],
                   d["eol"], d["bom"], d["line_count"], d["length"])


@dataclass(frozen=True, slots=True)
class EditResult:
    """After an edit: the buffer's new revision and where the inserted text now lies."""

    buffer_id: BufferId
    revision: int
    range: Range


@dataclass(frozen=True, slots=True)
class ViewInfo:
    view_id: ViewId
    buffer_id: BufferId
    cursor: Position
    selection: Range

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> ViewInfo:
        return cls(ViewId(d["view_id"]), BufferId(d["buffer_id"]), Position.from_wire(d["cursor"]),
                   Range.from_wire(d["selection"]))


@dataclass(frozen=True, slots=True)
class BufferEvent:
    """Something happened to a buffer. For text changes ``range`` is the replaced range (coordinates before
    the change) and ``text`` the text put there; ``None`` for the other kinds."""

    buffer_id: BufferId
    kind: EventKind
    revision: int
    range: Range | None = None
    text: str | None = None

    @property
    def topic(self) -> str:
        if self.kind in ("edit", "undo", "redo", "reload"):
            return TOPIC_CHANGED
        if self.kind in ("created", "opened"):
            return TOPIC_OPENED
        return TOPIC_SAVED if self.kind == "saved" else TOPIC_CLOSED

    def to_wire(self) -> dict[str, Any]:
        return {"buffer_id": self.buffer_id, "kind": self.kind, "revision": self.revision,
                "range": None if self.range is None else self.range.to_wire(), "text": self.text}

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> BufferEvent:
        rng = d.get("range")
        return cls(BufferId(d["buffer_id"]), d["kind"], d["revision"],
                   None if rng is None else Range.from_wire(rng), d.get("text"))


def inserted_range(start: Position, text: str) -> Range:
    """The range ``text`` occupies once inserted at ``start``."""
    breaks = text.count("\n")
    if not breaks:
        return Range(start, Position(start.line, start.character + len(text)))
    return Range(start, Position(start.line + breaks, len(text) - text.rfind("\n") - 1))


def as_position(value: Position | Mapping[str, Any]) -> Position:
    """Accept a :class:`Position` or its wire form ``{"line", "character"}`` (callers from JSON)."""
    if isinstance(value, Position):
        return value
    if isinstance(value, Mapping) and type(value.get("line")) is int and type(value.get("character")) is int:
        return Position(value["line"], value["character"])
    raise InvalidTypeError(f"expected a Position or {{line, character}}, not {value!r}")


def as_range(value: Range | Mapping[str, Any]) -> Range:
    if isinstance(value, Range):
        return value
    if isinstance(value, Mapping) and "start" in value and "end" in value:
        return Range(as_position(value["start"]), as_position(value["end"]))
    raise InvalidTypeError(f"expected a Range or {{start, end}}, not {value!r}")


@runtime_checkable
class TextEditingPort(Protocol):
    """Buffers, edits, views and buffer events."""

    # ---------------------------------------------------------------- buffers
    def create_buffer(self, text: str = "", eol: str = "\n") -> BufferInfo:
        """A new buffer with no file (``save_as`` gives it one)."""

    def open_buffer(self, path: str) -> BufferInfo:
        """Open a UTF-8 file; a file already open returns its existing buffer."""

    def close_buffer(self, buffer_id: BufferId) -> None:
        """Forget a buffer and its views; unsaved changes are discarded."""

    def content(self, buffer_id: BufferId, range: Range | None = None) -> str:
        """The buffer's text (with ``"\\n"`` line breaks), or the text in ``range``."""

    def info(self, buffer_id: BufferId) -> BufferInfo: ...

    def buffers(self) -> list[BufferInfo]: ...

    def save(self, buffer_id: BufferId) -> BufferInfo:
        """Write the buffer to its file (atomically), with the file's line endings."""

    def save_as(self, buffer_id: BufferId, path: str) -> BufferInfo: ...

    def reload(self, buffer_id: BufferId) -> BufferInfo:
        """Replace the text with the file's (one revision; clears undo and redo)."""

    # ---------------------------------------------------------------- edits
    def insert(self, buffer_id: BufferId, position: Position, text: str) -> EditResult: ...

    def delete(self, buffer_id: BufferId, range: Range) -> EditResult: ...

    def replace(self, buffer_id: BufferId, range: Range, text: str) -> EditResult: ...

    def undo(self, buffer_id: BufferId) -> EditResult | None: ...

    def redo(self, buffer_id: BufferId) -> EditResult | None: ...

    # ---------------------------------------------------------------- views
    def create_view(self, buffer_id: BufferId) -> ViewInfo:
        """A view with its cursor and an empty selection at the start of the buffer."""

    def close_view(self, view_id: ViewId) -> None: ...

    def cursor(self, view_id: ViewId, position: Position | None = None) -> Position:
        """The view's cursor; with ``position``, move it there first."""

    def selection(self, view_id: ViewId, range: Range | None = None) -> Range:
        """The view's selection; with ``range``, set it first."""

    # ---------------------------------------------------------------- events
    def subscribe(self, callback: Callable[[BufferEvent], None]) -> Unsubscribe:
        """Call ``callback`` for every buffer event from now on; the result stops it."""
