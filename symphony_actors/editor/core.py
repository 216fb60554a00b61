"""The editor's state and its methods: buffers, views, edits, keyed by JSON-RPC method name.

:class:`EditorCore` takes already-decoded ``params`` dicts, checks them (every
problem is a :class:`UsageError`, which the server turns into ``-32602``), and
returns JSON-ready results. Each change to a buffer's text is announced through
``notify("update", {...})`` *before* the method returns, so the response always
follows its update on the wire.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symphony_actors.domain.errors import ConflictError, NotFoundError, UsageError
from symphony_actors.domain.ids import new_id
from symphony_actors.editor.buffer import EOLS, Buffer, Change, read_file, write_file
from symphony_actors.editor.jsonrpc import METHOD_NOT_FOUND, RpcError

__all__ = ["PROTOCOL_VERSION", "EditorCore", "end_position"]

PROTOCOL_VERSION = 1
Params = dict[str, Any]
Notify = Callable[[str, Params], None]


def end_position(line: int, character: int, text: str) -> tuple[int, int]:
    """Where ``text`` inserted at (line, character) ends."""
    breaks = text.count("\n")
    if not breaks:
        return line, character + len(text)
    return line + breaks, len(text) - text.rfind("\n") - 1


def _pos(line: int, character: int) -> dict[str, int]:
    return {"line": line, "character": character}


# ---------------------------------------------------------------------------- parameter checks


def _str(p: Params, name: str) -> str:
    value = p[name]
    if not isinstance(value, str):
        raise UsageError(f"'{name}' must be a string, not {type(value).__name__}", param=name)
    return value


def _opt_str(p: Params, name: str) -> str | None:
    return None if p.get(name) is None else _str(p, name)


def _int(p: Params, name: str) -> int:
    value = p[name]
    if type(value) is not int or value < 0:
        raise UsageError(f"'{name}' must be a non-negative integer, not {value!r}", param=name)
    return value


def _bool(p: Params, name: str) -> bool:
    value = p.get(name, False)
    if not isinstance(value, bool):
        raise UsageError(f"'{name}' must be true or false, not {value!r}", param=name)
    return value


def _position(value: Any, name: str) -> tuple[int, int]:
    if not isinstance(value, dict):
        raise UsageError(f"'{name}' must be an object {{line, character}}", param=name)
    line, character = value.get("line"), value.get("character")
    if type(line) is not int or type(character) is not int or line < 0 or character < 0:
        raise UsageError(f"'{name}' needs non-negative integers 'line' and 'character'", param=name)
    return line, character


def _range(value: Any, name: str) -> tuple[tuple[int, int], tuple[int, int]]:
    if not isinstance(value, dict):
        raise UsageError(f"'{name}' must be an object {{start, end}}", param=name)
    start = _position(value.get("start"), f"{name}.start")
    end = _position(value.get("end"), f"{name}.end")
    if end < start:
        raise UsageError(f"'{name}' ends before it starts", param=name)
    return start, end


def _changes(p: Params, name: str) -> list[Change]:
    value = p.get(name) or []
    if not isinstance(value, list):
        raise UsageError(f"'{name}' must be a list of [offset, removed, inserted]", param=name)
    return [Change.from_wire(c) for c in value]


# ---------------------------------------------------------------------------- views


@dataclass(slots=True)
class View:
    """A window on a buffer: a cursor and a selection, as offsets that follow edits."""

    view_id: str
    buffer_id: str
    cursor: int = 0
    sel_start: int = 0
    sel_end: int = 0


def _shift(offset: int, change: Change) -> int:
    """Where an offset lands after ``change``: unchanged before it, moved after it, to its start inside it."""
    if offset <= change.offset:
        return offset
    end = change.offset + len(change.removed)
    if offset >= end:
        return offset + len(change.inserted) - len(change.removed)
    return change.offset


# ---------------------------------------------------------------------------- the core


class EditorCore:
    """Buffers and views of one editor process."""

    def __init__(self, notify: Notify) -> None:
        self.buffers: dict[str, Buffer] = {}
        self.views: dict[str, View] = {}
        self.digests: dict[str, str | None] = {}  # buffer id -> digest of its file at saved_revision
        self.exit_requested = False
        self._notify = notify
        self._methods: dict[str, tuple[Callable[[Params], Any], tuple[str, ...], tuple[str, ...]]] = {
            "initialize": (self.initialize, (), ("client",)),
            "ping": (lambda p: "pong", (), ()),
            "shutdown": (self.shutdown, (), ()),
            "buffer.new": (self.buffer_new, (), ("text", "eol")),
            "buffer.open": (self.buffer_open, ("path",), ()),
            "buffer.close": (self.buffer_close, ("buffer_id",), ()),
            "buffer.content": (self.buffer_content, ("buffer_id",), ("range",)),
            "buffer.info": (lambda p: self._info(self._buffer(p)), ("buffer_id",), ()),
            "buffer.list": (lambda p: [self._info(b) for b in self.buffers.values()], (), ()),
            "buffer.save": (self.buffer_save, ("buffer_id",), ()),
            "buffer.save_as": (self.buffer_save_as, ("buffer_id", "path"), ()),
            "buffer.reload": (self.buffer_reload, ("buffer_id",), ()),
            "buffer.restore": (self.buffer_restore, ("buffer_id", "revision", "saved_revision"),
                               ("path", "eol", "bom", "mixed_eol", "base_text", "base_digest", "changes",
                                "undo", "redo", "views", "save_in_flight")),
            "edit.insert": (self.edit_insert, ("buffer_id", "position", "text"), ()),
            "edit.delete": (self.edit_delete, ("buffer_id", "range"), ()),
            "edit.replace": (self.edit_replace, ("buffer_id", "range", "text"), ()),
            "edit.undo": (self.edit_undo, ("buffer_id",), ()),
            "edit.redo": (self.edit_redo, ("buffer_id",), ()),
            "view.new": (self.view_new, ("buffer_id",), ()),
            "view.close": (self.view_close, ("view_id",), ()),
            "view.info": (lambda p: self._view_info(self._view(p)), ("view_id",), ()),
            "view.cursor": (self.view_cursor, ("view_id",), ("position",)),
            "view.selection": (self.view_selection, ("view_id",), ("range",)),
        }

    @property
    def method_names(self) -> list[str]:
        return sorted(self._methods)

    def call(self, method: str, params: Params) -> Any:
        """Run one method; unknown names raise ``RpcError(-32601)``, bad params ``UsageError``."""
        entry = self._methods.get(method)
        if entry is None:
            raise RpcError(METHOD_NOT_FOUND, f"method not found: {method!r}", {"method": method})
        handler, required, optional = entry
        missing = [n for n in required if n not in params]
        unknown = sorted(set(params) - set(required) - set(optional))
        if missing or unknown:
            parts = ([f"missing {', '.join(repr(n) for n in missing)}"] if missing else []) + \
                    ([f"unknown {', '.join(repr(n) for n in unknown)}"] if unknown else [])
            raise UsageError(f"{method}: {'; '.join(parts)}", missing=missing, unknown=unknown)
        return handler(params)

    # ---------------------------------------------------------------- lookups and shapes
    def _buffer(self, p: Params) -> Buffer:
        buffer_id = _str(p, "buffer_id")
        buf = self.buffers.get(buffer_id)
        if buf is None:
            raise NotFoundError(f"no buffer {buffer_id!r}", buffer_id=buffer_id)
        return buf

    def _view(self, p: Params) -> View:
        view_id = _str(p, "view_id")
        view = self.views.get(view_id)
        if view is None:
            raise NotFoundError(f"no view {view_id!r}", view_id=view_id)
        return view

    def _info(self, b: Buffer) -> Params:
        return {"buffer_id": b.buffer_id, "path": b.path, "revision": b.revision,
                "saved_revision": b.saved_revision, "dirty": b.dirty, "eol": b.eol, "bom": b.bom,
                "mixed_eol": b.mixed_eol, "line_count": b.line_count, "length": len(b.rope),
                "digest": self.digests.get(b.buffer_id)}

    def _view_info(self, v: View) -> Params:
        buf = self.buffers[v.buffer_id]
        return {"view_id": v.view_id, "buffer_id": v.buffer_id, "cursor": _pos(*buf.position(v.cursor)),
                "selection": {"start": _pos(*buf.position(v.sel_start)), "end": _pos(*buf.position(v.sel_end))}}

    def _offset(self, buf: Buffer, pos: tuple[int, int]) -> int:
        return buf.offset(*pos)

    def _path(self, p: Params) -> str:
        path = _str(p, "path")
        if not path or "\0" in path:
            raise UsageError(f"invalid path {path!r}", path=path)
        return str(Path(path).resolve())

    def _path_owner(self, path: str) -> Buffer | None:
        return next((b for b in self.buffers.values() if b.path == path), None)

    # ---------------------------------------------------------------- session
    def initialize(self, p: Params) -> Params:
        return {"name": "symphony-editor", "protocol": PROTOCOL_VERSION, "pid": os.getpid(),
                "methods": self.method_names}

    def shutdown(self, p: Params) -> None:
        self.exit_requested = True

    # ---------------------------------------------------------------- buffers
    def buffer_new(self, p: Params) -> Params:
        text = _str(p, "text") if "text" in p else ""
        eol = _str(p, "eol") if "eol" in p else "\n"
        if eol not in EOLS:
            raise UsageError(f"'eol' must be one of {list(EOLS)!r}", param="eol")
        buf = Buffer(new_id("buf-"), text, eol=eol)
        self.buffers[buf.buffer_id] = buf
        self.digests[buf.buffer_id] = None
        return self._info(buf)

    def buffer_open(self, p: Params) -> Params:
        path = self._path(p)
        existing = self._path_owner(path)
        if existing is not None:
            return self._info(existing)
        f = read_file(path)
        buf = Buffer(new_id("buf-"), f.text, path=path, eol=f.eol, bom=f.bom, mixed_eol=f.mixed)
        self.buffers[buf.buffer_id] = buf
        self.digests[buf.buffer_id] = f.digest
        return self._info(buf)

    def buffer_close(self, p: Params) -> None:
        buf = self._buffer(p)
        del self.buffers[buf.buffer_id]
        self.digests.pop(buf.buffer_id, None)
        for view_id in [v.view_id for v in self.views.values() if v.buffer_id == buf.buffer_id]:
            del self.views[view_id]

    def buffer_content(self, p: Params) -> Params:
        buf = self._buffer(p)
        if p.get("range") is None:
            return {"text": buf.text, "revision": buf.revision}
        start, end = _range(p["range"], "range")
        return {"text": buf.slice(self._offset(buf, start), self._offset(buf, end)), "revision": buf.revision}

    def _save(self, buf: Buffer, path: str) -> Params:
        self.digests[buf.buffer_id] = write_file(path, buf.text, buf.eol, buf.bom)
        buf.path, buf.saved_revision, buf.mixed_eol = path, buf.revision, False
        return self._info(buf)

    def buffer_save(self, p: Params) -> Params:
        buf = self._buffer(p)
        if buf.path is None:
            raise UsageError(f"buffer {buf.buffer_id} has no file yet: use save_as", buffer_id=buf.buffer_id)
        return self._save(buf, buf.path)

    def buffer_save_as(self, p: Params) -> Params:
        buf = self._buffer(p)
        path = self._path(p)
        owner = self._path_owner(path)
        if owner is not None and owner is not buf:
            raise ConflictError(f"{path} is open in buffer {owner.buffer_id}", path=path,
                                buffer_id=owner.buffer_id)
        return self._save(buf, path)

    def buffer_reload(self, p: Params) -> Params:
        buf = self._buffer(p)
        if buf.path is None:
            raise UsageError(f"buffer {buf.buffer_id} has no file to reload from", buffer_id=buf.buffer_id)
        f = read_file(buf.path)
        end = buf.position(len(buf.rope))
        change = buf.reset(f.text, f.eol, f.bom, f.mixed)
        self.digests[buf.buffer_id] = f.digest
        self._announce(buf, "reload", change, (0, 0), end)
        return self._info(buf)

    def buffer_restore(self, p: Params) -> Params:
        """Rebuild a buffer after an editor restart: base text (given, or its file), then journalled changes."""
        buffer_id = _str(p, "buffer_id")
        if buffer_id in self.buffers:
            raise ConflictError(f"buffer {buffer_id!r} exists already", buffer_id=buffer_id)
        revision, saved_revision = _int(p, "revision"), _int(p, "saved_revision")
        path = self._path(p) if p.get("path") is not None else None
        eol = _opt_str(p, "eol") or "\n"
        changes, undo, redo = _changes(p, "changes"), _changes(p, "undo"), _changes(p, "redo")
        base_text, base_digest = _opt_str(p, "base_text"), _opt_str(p, "base_digest")
        digest: str | None = None
        if base_text is None:
            if path is None:
                raise UsageError("restore needs 'base_text' or a 'path'", buffer_id=buffer_id)
            f = read_file(path)
            base_text, digest = f.text, f.digest
            if base_digest is not None and f.digest != base_digest:
                if not _bool(p, "save_in_flight"):
                    raise ConflictError(f"{path} changed on disk since it was last read or saved; "
                                        f"buffer {buffer_id} cannot be restored from it", path=path,
                                        buffer_id=buffer_id)
                # A save of the current state was cut short by the crash: the file is that state.
                changes, saved_revision = [], revision
        if len(changes) > revision or saved_revision > revision:
            raise UsageError(f"restore of {buffer_id}: revision {revision} is lower than its journal "
                             f"({len(changes)} changes) or its saved revision ({saved_revision})",
                             buffer_id=buffer_id)
        buf = Buffer(buffer_id, base_text, path=path, eol=eol, bom=_bool(p, "bom"),
                     mixed_eol=_bool(p, "mixed_eol"), revision=revision - len(changes))
        for change in changes:
            buf.replay(change)
        buf.saved_revision = saved_revision
        buf.undo_stack.extend(undo)
        buf.redo_stack.extend(redo)
        views = p.get("views") or []
        if not isinstance(views, list):
            raise UsageError("'views' must be a list", param="views")
        restored: list[View] = []
        for v in views:
            if not isinstance(v, dict):
                raise UsageError("each view must be an object", param="views")
            view = View(_str(v, "view_id"), buffer_id)
            sel_start, sel_end = _range(v.get("selection"), "selection")
            view.cursor = buf.offset(*_position(v.get("cursor"), "cursor"))
            view.sel_start, view.sel_end = buf.offset(*sel_start), buf.offset(*sel_end)
            restored.append(view)
        self.buffers[buffer_id] = buf
        self.digests[buffer_id] = digest if digest is not None else base_digest
        self.views.update((v.view_id, v) for v in restored)
        return self._info(buf)

    # ---------------------------------------------------------------- edits
    def _announce(self, buf: Buffer, kind: str, change: Change, start: tuple[int, int],
                  end: tuple[int, int]) -> Params:
        views = []
        for v in self.views.values():
            if v.buffer_id == buf.buffer_id:
                v.cursor, v.sel_start, v.sel_end = (_shift(v.cursor, change), _shift(v.sel_start, change),
                                                    _shift(v.sel_end, change))
                views.append(self._view_info(v))
        self._notify("update", {
            "buffer_id": buf.buffer_id, "revision": buf.revision, "kind": kind, "offset": change.offset,
            "range": {"start": _pos(*start), "end": _pos(*end)}, "text": change.inserted,
            "removed": change.removed, "views": views})
        new_end = end_position(*start, change.inserted)
        return {"revision": buf.revision, "range": {"start": _pos(*start), "end": _pos(*new_end)}}

    def _edit(self, p: Params, start: tuple[int, int], end: tuple[int, int], text: str) -> Params:
        buf = self._buffer(p)
        a, b = self._offset(buf, start), self._offset(buf, end)
        change = buf.edit(a, b, text)
        return self._announce(buf, "edit", change, start, end)

    def edit_insert(self, p: Params) -> Params:
        pos = _position(p["position"], "position")
        return self._edit(p, pos, pos, _str(p, "text"))

    def edit_delete(self, p: Params) -> Params:
        start, end = _range(p["range"], "range")
        return self._edit(p, start, end, "")

    def edit_replace(self, p: Params) -> Params:
        start, end = _range(p["range"], "range")
        return self._edit(p, start, end, _str(p, "text"))

    def _history(self, p: Params, kind: str) -> Params | None:
        buf = self._buffer(p)
        stack = buf.undo_stack if kind == "undo" else buf.redo_stack
        if not stack:
            return None
        upcoming = stack[-1].inverse() if kind == "undo" else stack[-1]
        start = buf.position(upcoming.offset)
        end = buf.position(upcoming.offset + len(upcoming.removed))
        change = buf.undo() if kind == "undo" else buf.redo()
        assert change is not None
        return self._announce(buf, kind, change, start, end)

    def edit_undo(self, p: Params) -> Params | None:
        return self._history(p, "undo")

    def edit_redo(self, p: Params) -> Params | None:
        return self._history(p, "redo")

    # ---------------------------------------------------------------- views
    def view_new(self, p: Params) -> Params:
        buf = self._buffer(p)
        view = View(new_id("view-"), buf.buffer_id)
        self.views[view.view_id] = view
        return self._view_info(view)

    def view_close(self, p: Params) -> None:
        del self.views[self._view(p).view_id]

    def view_cursor(self, p: Params) -> Params:
        view = self._view(p)
        if p.get("position") is not None:
            view.cursor = self.buffers[view.buffer_id].offset(*_position(p["position"], "position"))
        return self._view_info(view)

    def view_selection(self, p: Params) -> Params:
        view = self._view(p)
        if p.get("range") is not None:
            buf = self.buffers[view.buffer_id]
            start, end = _range(p["range"], "range")
            view.sel_start, view.sel_end = buf.offset(*start), buf.offset(*end)
        return self._view_info(view)
