"""The TextEditingPort contract: what every implementation (fake, bridge, client) must do.

Subclass :class:`TextEditingContract` and provide a ``port`` fixture.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from symphony_actors.domain.errors import ConflictError, NotFoundError, UsageError
from symphony_actors.domain.ids import BufferId, ViewId
from symphony_actors.domain.text import Position, Range
from symphony_actors.ports.text_editing import BufferEvent, TextEditingPort


def P(line: int, character: int) -> Position:
    return Position(line, character)


def R(a: int, b: int, c: int, d: int) -> Range:
    return Range(Position(a, b), Position(c, d))


class TextEditingContract:
    # ------------------------------------------------------------------ buffers
    def test_is_a_text_editing_port(self, port: TextEditingPort) -> None:
        """The implementation satisfies the Protocol."""
        assert isinstance(port, TextEditingPort)

    def test_new_buffer_holds_its_text_at_revision_zero(self, port: TextEditingPort) -> None:
        """A new buffer starts clean at revision 0 with its text."""
        info = port.create_buffer("hello\nworld")
        assert (info.revision, info.saved_revision, info.dirty, info.path) == (0, 0, False, None)
        assert (info.line_count, info.length) == (2, 11)
        assert port.content(info.buffer_id) == "hello\nworld"

    def test_new_buffer_normalises_line_endings(self, port: TextEditingPort) -> None:
        """CRLF and CR in given text become LF; the eol choice is kept for saving."""
        info = port.create_buffer("a\r\nb\rc", eol="\r\n")
        assert port.content(info.buffer_id) == "a\nb\nc"
        assert info.eol == "\r\n"

    def test_bad_eol_is_a_usage_error(self, port: TextEditingPort) -> None:
        """Only \\n, \\r\\n and \\r are line endings."""
        with pytest.raises(UsageError):
            port.create_buffer("x", eol="\n\n")

    def test_unknown_buffer_is_not_found(self, port: TextEditingPort) -> None:
        """Every buffer method names a missing buffer as NotFoundError."""
        missing = BufferId("buf-missing")
        for call in (lambda: port.content(missing), lambda: port.info(missing),
                     lambda: port.insert(missing, P(0, 0), "x"), lambda: port.close_buffer(missing),
                     lambda: port.undo(missing), lambda: port.save(missing), lambda: port.create_view(missing)):
            with pytest.raises(NotFoundError):
                call()

    def test_buffers_lists_open_buffers(self, port: TextEditingPort) -> None:
        """buffers() has every open buffer and forgets closed ones."""
        a, b = port.create_buffer("a"), port.create_buffer("b")
        assert {a.buffer_id, b.buffer_id} <= {i.buffer_id for i in port.buffers()}
        port.close_buffer(a.buffer_id)
        ids = {i.buffer_id for i in port.buffers()}
        assert a.buffer_id not in ids and b.buffer_id in ids
        with pytest.raises(NotFoundError):
            port.content(a.buffer_id)

    def test_content_of_a_range(self, port: TextEditingPort) -> None:
        """content(range) is the text between two positions, across lines."""
        buf = port.create_buffer("one\ntwo\nthree").buffer_id
        assert port.content(buf, R(0, 2, 2, 2)) == "e\ntwo\nth"

    # ------------------------------------------------------------------ edits
    def test_insert_returns_revision_and_inserted_range(self, port: TextEditingPort) -> None:
        """An insert adds one revision and reports where the new text lies."""
        buf = port.create_buffer("hello world").buffer_id
        result = port.insert(buf, P(0, 5), ",\nbig")
        assert result.revision == 1 and buf == result.buffer_id
        assert R(0, 5, 1, 3) == result.range
        assert port.content(buf) == "hello,\nbig world"
        assert port.info(buf).dirty

    def test_delete_and_replace(self, port: TextEditingPort) -> None:
        """delete removes a range, replace swaps it; each is one revision."""
        buf = port.create_buffer("abc\ndef\nghi").buffer_id
        assert R(0, 1, 0, 1) == port.delete(buf, R(0, 1, 1, 1)).range
        assert port.content(buf) == "aef\nghi"
        result = port.replace(buf, R(1, 0, 1, 3), "XY")
        assert (2, R(1, 0, 1, 2)) == (result.revision, result.range)
        assert port.content(buf) == "aef\nXY"

    def test_inserted_line_endings_are_normalised(self, port: TextEditingPort) -> None:
        """Inserted CRLF becomes LF."""
        buf = port.create_buffer("").buffer_id
        port.insert(buf, P(0, 0), "a\r\nb\rc")
        assert port.content(buf) == "a\nb\nc"

    def test_characters_are_code_points(self, port: TextEditingPort) -> None:
        """Astral and combining characters count one per code point."""
        buf = port.create_buffer("").buffer_id
        assert P(0, 3) == port.insert(buf, P(0, 0), "é😀x").range.end
        port.insert(buf, P(0, 2), "|")
        assert port.content(buf) == "é😀|x"

    @pytest.mark.parametrize("bad", [P(2, 0), P(0, 4), P(1, 4), P(9, 9)])
    def test_out_of_range_insert_is_a_usage_error_and_changes_nothing(
            self, port: TextEditingPort, bad: Position) -> None:
        """A position past the end of a line or the buffer is refused; text and revision stay."""
        buf = port.create_buffer("abc\ndef").buffer_id
        with pytest.raises(UsageError):
            port.insert(buf, bad, "x")
        assert (port.content(buf), port.info(buf).revision) == ("abc\ndef", 0)

    def test_out_of_range_range_is_a_usage_error(self, port: TextEditingPort) -> None:
        """A range ending outside the text is refused for delete, replace and content."""
        buf = port.create_buffer("abc").buffer_id
        for call in (lambda: port.delete(buf, R(0, 0, 0, 4)), lambda: port.replace(buf, R(0, 0, 1, 0), "x"),
                     lambda: port.content(buf, R(0, 0, 3, 0))):
            with pytest.raises(UsageError):
                call()
        assert port.content(buf) == "abc"

    def test_undo_and_redo(self, port: TextEditingPort) -> None:
        """undo reverts the latest edit, redo reapplies it; each adds a revision; empty stacks give None."""
        buf = port.create_buffer("abc").buffer_id
        assert port.undo(buf) is None and port.redo(buf) is None
        port.insert(buf, P(0, 3), "d")
        port.delete(buf, R(0, 0, 0, 1))
        assert port.content(buf) == "bcd"
        undone = port.undo(buf)
        assert undone is not None and (3, R(0, 0, 0, 1)) == (undone.revision, undone.range)
        assert port.content(buf) == "abcd"
        assert port.undo(buf) is not None and port.content(buf) == "abc"
        assert port.undo(buf) is None
        redone = port.redo(buf)
        assert redone is not None and (redone.revision, port.content(buf)) == (5, "abcd")
        assert port.info(buf).revision == 5

    def test_new_edit_clears_redo(self, port: TextEditingPort) -> None:
        """After undo, a fresh edit makes redo impossible."""
        buf = port.create_buffer("").buffer_id
        port.insert(buf, P(0, 0), "a")
        port.undo(buf)
        port.insert(buf, P(0, 0), "b")
        assert port.redo(buf) is None
        assert port.content(buf) == "b"

    # ------------------------------------------------------------------ files
    def test_open_keeps_crlf_and_bom_on_save(self, port: TextEditingPort, tmp_path: Path) -> None:
        """A CRLF file with a BOM reads as LF text and is written back CRLF with its BOM."""
        f = tmp_path / "crlf.txt"
        f.write_bytes(b"\xef\xbb\xbfline one\r\nline two\r\n")
        info = port.open_buffer(str(f))
        assert (info.eol, info.bom, info.line_count) == ("\r\n", True, 3)
        assert port.content(info.buffer_id) == "line one\nline two\n"
        port.insert(info.buffer_id, P(2, 0), "three\n")
        saved = port.save(info.buffer_id)
        assert (saved.dirty, saved.saved_revision) == (False, 1)
        assert f.read_bytes() == b"\xef\xbb\xbfline one\r\nline two\r\nthree\r\n"

    @pytest.mark.parametrize("data", [b"a\nb\n", b"a\r\nb", b"a\rb\r", b"", b"no newline", "\u00e9t\u00e9\n".encode()])
    def test_open_then_save_is_byte_identical(self, port: TextEditingPort, tmp_path: Path, data: bytes) -> None:
        """An unedited file saves to the very same bytes, whatever its line endings."""
        f = tmp_path / "f.txt"
        f.write_bytes(data)
        port.save(port.open_buffer(str(f)).buffer_id)
        assert data == f.read_bytes()

    def test_opening_an_open_file_returns_its_buffer(self, port: TextEditingPort, tmp_path: Path) -> None:
        """One file, one buffer."""
        f = tmp_path / "x.txt"
        f.write_text("x")
        assert port.open_buffer(str(f)).buffer_id == port.open_buffer(str(f)).buffer_id

    def test_open_missing_or_non_utf8_file(self, port: TextEditingPort, tmp_path: Path) -> None:
        """A missing file is NotFoundError, bytes that are not UTF-8 a UsageError."""
        with pytest.raises(NotFoundError):
            port.open_buffer(str(tmp_path / "missing.txt"))
        bad = tmp_path / "bad.txt"
        bad.write_bytes(b"ok\xff\xfe")
        with pytest.raises(UsageError):
            port.open_buffer(str(bad))

    def test_save_needs_a_path_then_save_as_gives_one(self, port: TextEditingPort, tmp_path: Path) -> None:
        """A new buffer cannot save() until save_as() names its file."""
        buf = port.create_buffer("new\n").buffer_id
        with pytest.raises(UsageError):
            port.save(buf)
        target = tmp_path / "new.txt"
        info = port.save_as(buf, str(target))
        assert (str(target.resolve()), False) == (info.path, info.dirty)
        port.insert(buf, P(1, 0), "more")
        port.save(buf)
        assert target.read_text() == "new\nmore"

    def test_save_as_onto_a_file_open_elsewhere_is_a_conflict(self, port: TextEditingPort, tmp_path: Path) -> None:
        """Two buffers never share a file."""
        f = tmp_path / "taken.txt"
        f.write_text("x")
        port.open_buffer(str(f))
        with pytest.raises(ConflictError):
            port.save_as(port.create_buffer("y").buffer_id, str(f))

    def test_save_into_a_missing_directory_fails(self, port: TextEditingPort, tmp_path: Path) -> None:
        """A path whose directory does not exist cannot be saved to."""
        with pytest.raises(NotFoundError):
            port.save_as(port.create_buffer("y").buffer_id, str(tmp_path / "no" / "such" / "dir.txt"))

    def test_reload_discards_changes_and_history(self, port: TextEditingPort, tmp_path: Path) -> None:
        """reload reads the file again: one revision, clean, nothing to undo."""
        f = tmp_path / "r.txt"
        f.write_text("disk\n")
        buf = port.open_buffer(str(f)).buffer_id
        port.insert(buf, P(0, 0), "edited ")
        f.write_text("changed on disk\n")
        info = port.reload(buf)
        assert (info.revision, info.dirty) == (2, False)
        assert port.content(buf) == "changed on disk\n"
        assert port.undo(buf) is None

    def test_reload_without_a_file_is_a_usage_error(self, port: TextEditingPort) -> None:
        with pytest.raises(UsageError):
            port.reload(port.create_buffer("x").buffer_id)

    # ------------------------------------------------------------------ views
    def test_view_starts_at_the_top_and_moves(self, port: TextEditingPort) -> None:
        """A new view's cursor and selection are at 0:0; both can be set and read back."""
        buf = port.create_buffer("abc\ndef").buffer_id
        view = port.create_view(buf)
        assert (buf, P(0, 0), R(0, 0, 0, 0)) == (view.buffer_id, view.cursor, view.selection)
        assert P(1, 2) == port.cursor(view.view_id, P(1, 2))
        assert P(1, 2) == port.cursor(view.view_id)
        assert R(0, 1, 1, 3) == port.selection(view.view_id, R(0, 1, 1, 3))
        assert R(0, 1, 1, 3) == port.selection(view.view_id)

    def test_view_out_of_range_is_a_usage_error(self, port: TextEditingPort) -> None:
        view = port.create_view(port.create_buffer("abc").buffer_id).view_id
        with pytest.raises(UsageError):
            port.cursor(view, P(0, 4))
        with pytest.raises(UsageError):
            port.selection(view, R(0, 0, 1, 0))
        assert P(0, 0) == port.cursor(view)

    def test_cursor_follows_edits(self, port: TextEditingPort) -> None:
        """Text inserted before the cursor moves it; at the cursor it stays; a deletion around it pulls it in."""
        buf = port.create_buffer("hello world").buffer_id
        view = port.create_view(buf).view_id
        port.cursor(view, P(0, 6))
        port.insert(buf, P(0, 0), ">> ")
        assert P(0, 9) == port.cursor(view)
        port.insert(buf, P(0, 9), "big ")
        assert P(0, 9) == port.cursor(view)
        port.insert(buf, P(0, 0), "\n")
        assert P(1, 9) == port.cursor(view)
        port.delete(buf, R(1, 5, 1, 12))
        assert P(1, 5) == port.cursor(view)

    def test_closed_views_and_views_of_closed_buffers_are_gone(self, port: TextEditingPort) -> None:
        buf = port.create_buffer("x").buffer_id
        a, b = port.create_view(buf).view_id, port.create_view(buf).view_id
        port.close_view(a)
        with pytest.raises(NotFoundError):
            port.cursor(a)
        port.close_buffer(buf)
        with pytest.raises(NotFoundError):
            port.cursor(b)
        with pytest.raises(NotFoundError):
            port.close_view(ViewId("view-missing"))

    # ------------------------------------------------------------------ events
    def test_events_report_every_change(self, port: TextEditingPort, tmp_path: Path) -> None:
        """Subscribers see created, each edit/undo with revision, range and text, saved and closed."""
        seen: list[BufferEvent] = []
        stop = port.subscribe(seen.append)
        buf = port.create_buffer("ab").buffer_id
        port.replace(buf, R(0, 0, 0, 1), "XY")
        port.undo(buf)
        port.save_as(buf, str(tmp_path / "e.txt"))
        port.close_buffer(buf)
        stop()
        port.create_buffer("after unsubscribe")
        mine = [e for e in seen if e.buffer_id == buf]
        assert [e.kind for e in mine] == ["created", "edit", "undo", "saved", "closed"]
        assert BufferEvent(buf, "edit", 1, R(0, 0, 0, 1), "XY") == mine[1]
        assert BufferEvent(buf, "undo", 2, R(0, 0, 0, 2), "a") == mine[2]
        assert all(e.buffer_id == buf for e in seen)
