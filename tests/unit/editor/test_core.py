"""EditorCore: method checks, views that follow edits, update notifications and buffer restoration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from symphony_actors.domain.errors import ConflictError, NotFoundError, UsageError
from symphony_actors.editor.core import EditorCore, end_position
from symphony_actors.editor.jsonrpc import RpcError


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, method: str, params: dict[str, Any]) -> None:
        self.sent.append((method, params))


def pos(line: int, character: int) -> dict[str, int]:
    return {"line": line, "character": character}


@pytest.fixture
def notes() -> Recorder:
    return Recorder()


@pytest.fixture
def core(notes: Recorder) -> EditorCore:
    return EditorCore(notes)


def test_end_position() -> None:
    assert end_position(0, 2, "abc") == (0, 5)
    assert end_position(0, 2, "a\nbc\nd") == (2, 1)


def test_unknown_method_and_bad_params(core: EditorCore) -> None:
    with pytest.raises(RpcError):
        core.call("buffer.explode", {})
    with pytest.raises(UsageError, match="missing 'text'"):
        core.call("edit.insert", {"buffer_id": "b", "position": pos(0, 0)})
    with pytest.raises(UsageError, match="unknown 'colour'"):
        core.call("buffer.new", {"colour": "red"})
    with pytest.raises(UsageError):
        core.call("buffer.new", {"text": 5})
    buf = core.call("buffer.new", {"text": "x"})["buffer_id"]
    for bad in [{"line": -1, "character": 0}, {"line": True, "character": 0}, {"line": 0}, [0, 0], "0:0"]:
        with pytest.raises(UsageError):
            core.call("edit.insert", {"buffer_id": buf, "position": bad, "text": "y"})
    with pytest.raises(UsageError, match="ends before"):
        core.call("edit.delete", {"buffer_id": buf, "range": {"start": pos(0, 1), "end": pos(0, 0)}})
    with pytest.raises(NotFoundError):
        core.call("view.cursor", {"view_id": "nope"})


def test_update_precedes_and_matches_the_result(core: EditorCore, notes: Recorder) -> None:
    """Every edit sends one update with revision, old range, text, removed text and the views."""
    buf = core.call("buffer.new", {"text": "abc"})["buffer_id"]
    view = core.call("view.new", {"buffer_id": buf})["view_id"]
    core.call("view.cursor", {"view_id": view, "position": pos(0, 3)})
    result = core.call("edit.replace", {"buffer_id": buf, "range": {"start": pos(0, 1), "end": pos(0, 2)},
                                        "text": "X\nY"})
    assert {"revision": 1, "range": {"start": pos(0, 1), "end": pos(1, 1)}} == result
    (method, update), = notes.sent
    assert method == "update"
    assert {"buffer_id": buf, "revision": 1, "kind": "edit", "offset": 1,
            "range": {"start": pos(0, 1), "end": pos(0, 2)}, "text": "X\nY", "removed": "b"} == \
        {k: v for k, v in update.items() if k != "views"}
    assert [pos(1, 2)] == [v["cursor"] for v in update["views"]]


def test_selection_follows_edits(core: EditorCore) -> None:
    buf = core.call("buffer.new", {"text": "0123456789"})["buffer_id"]
    view = core.call("view.new", {"buffer_id": buf})["view_id"]
    core.call("view.selection", {"view_id": view, "range": {"start": pos(0, 2), "end": pos(0, 8)}})
    core.call("edit.delete", {"buffer_id": buf, "range": {"start": pos(0, 0), "end": pos(0, 4)}})
    sel = core.call("view.info", {"view_id": view})["selection"]
    assert {"start": pos(0, 0), "end": pos(0, 4)} == sel


def _state(core: EditorCore, buf: str) -> tuple[Any, ...]:
    b = core.buffers[buf]
    return (b.text, b.revision, b.saved_revision, list(b.undo_stack), list(b.redo_stack))


def test_restore_rebuilds_text_revision_history_and_views(tmp_path: Path) -> None:
    """A buffer restored from its base, journal, undo/redo stacks and views equals the original."""
    log = Recorder()
    a = EditorCore(log)
    buf = a.call("buffer.new", {"text": "base\n"})["buffer_id"]
    view = a.call("view.new", {"buffer_id": buf})["view_id"]
    a.call("view.cursor", {"view_id": view, "position": pos(1, 0)})
    a.call("edit.insert", {"buffer_id": buf, "position": pos(0, 0), "text": "one "})
    a.call("edit.insert", {"buffer_id": buf, "position": pos(1, 0), "text": "two"})
    a.call("edit.undo", {"buffer_id": buf})
    changes = [[u["offset"], u["removed"], u["text"]] for _, u in log.sent]
    b = EditorCore(Recorder())
    info = b.call("buffer.restore", {
        "buffer_id": buf, "revision": 3, "saved_revision": 0, "base_text": "base\n", "changes": changes,
        "undo": [c.to_wire() for c in a.buffers[buf].undo_stack],
        "redo": [c.to_wire() for c in a.buffers[buf].redo_stack],
        "views": [a.call("view.info", {"view_id": view})]})
    assert (info["revision"], info["dirty"]) == (3, True)
    assert _state(a, buf) == _state(b, buf)
    assert a.call("view.info", {"view_id": view}) == b.call("view.info", {"view_id": view})
    b.call("edit.redo", {"buffer_id": buf})
    assert b.buffers[buf].text == "one base\ntwo"


def test_restore_from_file_checks_its_digest(tmp_path: Path, core: EditorCore) -> None:
    """A file changed on disk behind a journal cannot be restored, unless a save of that state was cut short."""
    f = tmp_path / "f.txt"
    f.write_text("on disk\n")
    info = core.call("buffer.open", {"path": str(f)})
    params = {"buffer_id": "restored", "path": str(f), "revision": 1, "saved_revision": 0,
              "base_digest": info["digest"], "changes": [[0, "", "edited "]]}
    other = EditorCore(Recorder())
    assert other.buffers[other.call("buffer.restore", params)["buffer_id"]].text == "edited on disk\n"
    with pytest.raises(ConflictError):
        other.call("buffer.restore", params)  # the id exists now
    f.write_text("edited on disk\n")  # as if the save went through before the crash
    with pytest.raises(ConflictError):
        EditorCore(Recorder()).call("buffer.restore", params)
    third = EditorCore(Recorder())
    restored = third.call("buffer.restore", {**params, "save_in_flight": True})
    assert (restored["revision"], restored["saved_revision"], restored["dirty"]) == (1, 1, False)
    assert third.buffers["restored"].text == "edited on disk\n"


def test_restore_refuses_bad_journals(core: EditorCore) -> None:
    base = {"buffer_id": "x", "revision": 1, "saved_revision": 0, "base_text": "abc"}
    with pytest.raises(UsageError):
        core.call("buffer.restore", {**base, "changes": [[0, "a"]]})
    with pytest.raises(ConflictError):
        core.call("buffer.restore", {**base, "changes": [[0, "zz", ""]]})
    with pytest.raises(UsageError):
        core.call("buffer.restore", {"buffer_id": "y", "revision": 0, "saved_revision": 0})
    assert core.buffers == {}
