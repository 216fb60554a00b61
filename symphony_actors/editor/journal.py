"""What the bridge remembers of each buffer so a restarted editor can rebuild it exactly.

A :class:`BufferRecord` holds a *base* (the file as last read or saved, known by
its digest, or the initial text of a buffer that never had a file), the
journal of changes applied since that base, a mirror of the undo and redo
stacks (so undo works across a restart), and each view's cursor and selection.
It is fed by the editor's ``update`` notifications and by the buffer infos
the editor returns; it never holds the buffer's current text.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from symphony_actors.editor.buffer import UNDO_LIMIT, Change

__all__ = ["BufferRecord"]


def _undo_deque() -> deque[Change]:
    return deque(maxlen=UNDO_LIMIT)


@dataclass(slots=True)
class BufferRecord:
    buffer_id: str
    path: str | None
    eol: str
    bom: bool
    mixed_eol: bool
    revision: int
    saved_revision: int
    base_text: str | None = None  # a buffer never saved: its initial text
    base_digest: str | None = None  # otherwise: the digest of its file at the base
    journal: list[Change] = field(default_factory=list)
    journal_chars: int = 0
    undo: deque[Change] = field(default_factory=_undo_deque)
    redo: list[Change] = field(default_factory=list)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_info(cls, info: dict[str, Any], base_text: str | None = None) -> BufferRecord:
        return cls(info["buffer_id"], info["path"], info["eol"], info["bom"], info["mixed_eol"],
                   info["revision"], info["saved_revision"], base_text=base_text, base_digest=info["digest"])

    def rebase_on_file(self, info: dict[str, Any]) -> None:
        """The file now holds the current text (after save, save-as or reload): the journal restarts empty."""
        self.path, self.eol, self.bom, self.mixed_eol = info["path"], info["eol"], info["bom"], info["mixed_eol"]
        self.revision, self.saved_revision = info["revision"], info["saved_revision"]
        self.base_text, self.base_digest = None, info["digest"]
        self.journal.clear()
        self.journal_chars = 0

    def rebase_on_text(self, text: str, revision: int) -> None:
        """Compaction: the current text becomes the base."""
        self.base_text, self.revision = text, revision
        self.journal.clear()
        self.journal_chars = 0

    def apply_update(self, params: dict[str, Any]) -> Change:
        """Record one ``update`` notification; returns the change it carried."""
        change = Change(params["offset"], params["removed"], params["text"])
        kind = params["kind"]
        self.revision = params["revision"]
        for view in params.get("views") or ():
            self.views[view["view_id"]] = view
        if kind == "reload":
            self.undo.clear()
            self.redo.clear()
            self.journal.clear()
            self.journal_chars = 0
            self.base_text, self.base_digest = None, None  # the reply's info gives the new digest
            return change
        self.journal.append(change)
        self.journal_chars += len(change.removed) + len(change.inserted)
        if kind == "edit":
            self.undo.append(change)
            self.redo.clear()
        elif kind == "undo" and self.undo:
            self.redo.append(self.undo.pop())
        elif kind == "redo" and self.redo:
            self.undo.append(self.redo.pop())
        return change

    def restore_params(self, save_in_flight: bool = False) -> dict[str, Any]:
        """Parameters of ``buffer.restore`` that rebuild this buffer in a fresh editor."""
        params: dict[str, Any] = {
            "buffer_id": self.buffer_id, "path": self.path, "eol": self.eol, "bom": self.bom,
            "mixed_eol": self.mixed_eol, "revision": self.revision, "saved_revision": self.saved_revision,
            "base_digest": self.base_digest, "changes": [c.to_wire() for c in self.journal],
            "undo": [c.to_wire() for c in self.undo], "redo": [c.to_wire() for c in self.redo],
            "views": list(self.views.values()), "save_in_flight": save_in_flight,
        }
        if self.base_text is not None:
            params["base_text"] = self.base_text
        return params
