"""FakeTextEditing: a complete in-memory TextEditingPort (plain strings, no editor process).

It follows the same rules as the editor (see the port's docstring) and passes
the same contract suite; buffers opened from files read and write them with the
editor's UTF-8/line-ending helpers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from symphony_actors.domain.errors import ConflictError, NotFoundError, UsageError
from symphony_actors.domain.ids import BufferId, ViewId, new_id
from symphony_actors.domain.text import Position, Range
from symphony_actors.editor.buffer import EOLS, UNDO_LIMIT, normalize, read_file, write_file
from symphony_actors.ports.text_editing import (
    BufferEvent,
    BufferInfo,
    EditResult,
    EventKind,
    Unsubscribe,
    ViewInfo,
    as_position,
    as_range,
    inserted_range,
)

__all__ = ["FakeTextEditing"]

# (offset, removed, inserted)
_Change = tuple[int, str, str]


@dataclass
class _Buffer:
    buffer_id: BufferId
    text: str
    path: str | None = None
    eol: str = "\n"
    bom: bool = False
    revision: int = 0
    saved_revision: int = 0
    undo: deque[_Change] = field(default_factory=lambda: deque(maxlen=UNDO_LIMIT))
    redo: list[_Change] = field(default_factory=list)

    def offset(self, pos: Position) -> int:
        lines = self.text.split("\n")
        if pos.line >= len(lines):
            raise UsageError(f"line {pos.line} is out of range: the buffer has {len(lines)} lines")
        if pos.character > len(lines[pos.line]):
            raise UsageError(f"character {pos.character} is out of range: line {pos.line} has "
                             f"{len(lines[pos.line])} characters")
        return sum(len(line) + 1 for line in lines[:pos.line]) + pos.character

    def position(self, offset: int) -> Position:
        before = self.text[:offset]
        return Position(before.count("\n"), offset - (before.rfind("\n") + 1))


@dataclass
class _View:
    view_id: ViewId
    buffer_id: BufferId
    cursor: int = 0
    sel_start: int = 0
    sel_end: int = 0


def _shift(offset: int, change: _Change) -> int:
    at, removed, inserted = change
    if offset <= at:
        return offset
    if offset >= at + len(removed):
        return offset + len(inserted) - len(removed)
    return at


class FakeTextEditing:
    """In-memory :class:`~symphony_actors.ports.text_editing.TextEditingPort`."""

    def __init__(self) -> None:
        self._buffers: dict[BufferId, _Buffer] = {}
        self._views: dict[ViewId, _View] = {}
        self._listeners: list[Callable[[BufferEvent], None]] = []
        self.events: list[BufferEvent] = []

    # ---------------------------------------------------------------- helpers
    def _buf(self, buffer_id: BufferId) -> _Buffer:
        if not isinstance(buffer_id, str):
            raise UsageError(f"'buffer_id' must be a string, not {type(buffer_id).__name__}")
        buf = self._buffers.get(buffer_id)
        if buf is None:
            raise NotFoundError(f"no buffer {buffer_id!r}", buffer_id=buffer_id)
        return buf

    def _view(self, view_id: ViewId) -> _View:
        view = self._views.get(view_id)
        if view is None:
            raise NotFoundError(f"no view {view_id!r}", view_id=view_id)
        return view

    def _emit(self, buffer_id: BufferId, kind: EventKind, revision: int, rng: Range | None = None,
              text: str | None = None) -> None:
        event = BufferEvent(buffer_id, kind, revision, rng, text)
        self.events.append(event)
        for callback in list(self._listeners):
            callback(event)

    @staticmethod
    def _info(b: _Buffer) -> BufferInfo:
        return BufferInfo(b.buffer_id, b.path, b.revision, b.saved_revision, b.revision != b.saved_revision,
                          b.eol, b.bom, b.text.count("\n") + 1, len(b.text))

    def _view_info(self, v: _View) -> ViewInfo:
        b = self._buffers[v.buffer_id]
        return ViewInfo(v.view_id, v.buffer_id, b.position(v.cursor),
                        Range(b.position(v.sel_start), b.position(v.sel_end)))

    @staticmethod
    def _path(path: str) -> str:
        if not isinstance(path, str):
            raise UsageError(f"'path' must be a string, not {type(path).__name__}")
        if not path or "\0" in path:
            raise UsageError(f"invalid path {path!r}")
        return str(Path(path).resolve())

    def _apply(self, b: _Buffer, kind: EventKind, change: _Change) -> EditResult:
        at, removed, inserted = change
        start, end = b.position(at), b.position(at + len(removed))
        b.text = b.text[:at] + inserted + b.text[at + len(removed):]
        b.revision += 1
        for v in self._views.values():
            if v.buffer_id == b.buffer_id:
                v.cursor, v.sel_start, v.sel_end = (_shift(v.cursor, change), _shift(v.sel_start, change),
                                                    _shift(v.sel_end, change))
        self._emit(b.buffer_id, kind, b.revision, Range(start, end), inserted)
        return EditResult(b.buffer_id, b.revision, inserted_range(start, inserted))

    # ---------------------------------------------------------------- buffers
    def create_buffer(self, text: str = "", eol: str = "\n") -> BufferInfo:
        if not isinstance(text, str):
            raise UsageError("'text' must be a string")
        if eol not in EOLS:
            raise UsageError(f"'eol' must be one of {list(EOLS)!r}")
        b = _Buffer(BufferId(new_id("buf-")), normalize(text), eol=eol)
        self._buffers[b.buffer_id] = b
        self._emit(b.buffer_id, "created", 0)
        return self._info(b)

    def open_buffer(self, path: str) -> BufferInfo:
        path = self._path(path)
        for b in self._buffers.values():
            if b.path == path:
                return self._info(b)
        f = read_file(path)
        b = _Buffer(BufferId(new_id("buf-")), f.text, path=path, eol=f.eol, bom=f.bom)
        self._buffers[b.buffer_id] = b
        self._emit(b.buffer_id, "opened", 0)
        return self._info(b)

    def close_buffer(self, buffer_id: BufferId) -> None:
        b = self._buf(buffer_id)
        del self._buffers[buffer_id]
        for view_id in [v.view_id for v in self._views.values() if v.buffer_id == buffer_id]:
            del self._views[view_id]
        self._emit(buffer_id, "closed", b.revision)

    def content(self, buffer_id: BufferId, range: Range | None = None) -> str:
        b = self._buf(buffer_id)
        if range is None:
            return b.text
        rng = as_range(range)
        return b.text[b.offset(rng.start):b.offset(rng.end)]

    def info(self, buffer_id: BufferId) -> BufferInfo:
        return self._info(self._buf(buffer_id))

    def buffers(self) -> list[BufferInfo]:
        return [self._info(b) for b in self._buffers.values()]

    def _save(self, b: _Buffer, path: str) -> BufferInfo:
        write_file(path, b.text, b.eol, b.bom)
        b.path, b.saved_revision = path, b.revision
        self._emit(b.buffer_id, "saved", b.revision)
        return self._info(b)

    def save(self, buffer_id: BufferId) -> BufferInfo:
        b = self._buf(buffer_id)
        if b.path is None:
            raise UsageError(f"buffer {buffer_id} has no file yet: use save_as")
        return self._save(b, b.path)

    def save_as(self, buffer_id: BufferId, path: str) -> BufferInfo:
        b = self._buf(buffer_id)
        path = self._path(path)
        for other in self._buffers.values():
            if other.path == path and other is not b:
                raise ConflictError(f"{path} is open in buffer {other.buffer_id}", path=path)
        return self._save(b, path)

    def reload(self, buffer_id: BufferId) -> BufferInfo:
        b = self._buf(buffer_id)
        if b.path is None:
            raise UsageError(f"buffer {buffer_id} has no file to reload from")
        f = read_file(b.path)
        self._apply(b, "reload", (0, b.text, f.text))
        b.eol, b.bom, b.saved_revision = f.eol, f.bom, b.revision
        b.undo.clear()
        b.redo.clear()
        return self._info(b)

    # ---------------------------------------------------------------- edits
    def _edit(self, buffer_id: BufferId, rng: Range, text: str) -> EditResult:
        if not isinstance(text, str):
            raise UsageError("'text' must be a string")
        b = self._buf(buffer_id)
        start, end = b.offset(rng.start), b.offset(rng.end)
        change = (start, b.text[start:end], normalize(text))
        result = self._apply(b, "edit", change)
        b.undo.append(change)
        b.redo.clear()
        return result

    def insert(self, buffer_id: BufferId, position: Position, text: str) -> EditResult:
        pos = as_position(position)
        return self._edit(buffer_id, Range(pos, pos), text)

    def delete(self, buffer_id: BufferId, range: Range) -> EditResult:
        return self._edit(buffer_id, as_range(range), "")

    def replace(self, buffer_id: BufferId, range: Range, text: str) -> EditResult:
        return self._edit(buffer_id, as_range(range), text)

    def undo(self, buffer_id: BufferId) -> EditResult | None:
        b = self._buf(buffer_id)
        if not b.undo:
            return None
        change = b.undo.pop()
        at, removed, inserted = change
        result = self._apply(b, "undo", (at, inserted, removed))
        b.redo.append(change)
        return result

    def redo(self, buffer_id: BufferId) -> EditResult | None:
        b = self._buf(buffer_id)
        if not b.redo:
            return None
        change = b.redo.pop()
        result = self._apply(b, "redo", change)
        b.undo.append(change)
        return result

    # ---------------------------------------------------------------- views
    def create_view(self, buffer_id: BufferId) -> ViewInfo:
        b = self._buf(buffer_id)
        v = _View(ViewId(new_id("view-")), b.buffer_id)
        self._views[v.view_id] = v
        return self._view_info(v)

    def close_view(self, view_id: ViewId) -> None:
        del self._views[self._view(view_id).view_id]

    def cursor(self, view_id: ViewId, position: Position | None = None) -> Position:
        v = self._view(view_id)
        if position is not None:
            v.cursor = self._buffers[v.buffer_id].offset(as_position(position))
        return self._view_info(v).cursor

    def selection(self, view_id: ViewId, range: Range | None = None) -> Range:
        v = self._view(view_id)
        if range is not None:
            rng = as_range(range)
            b = self._buffers[v.buffer_id]
            v.sel_start, v.sel_end = b.offset(rng.start), b.offset(rng.end)
        return self._view_info(v).selection

    # ---------------------------------------------------------------- events
    def subscribe(self, callback: Callable[[BufferEvent], None]) -> Unsubscribe:
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe
