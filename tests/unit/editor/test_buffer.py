"""Buffer: positions, revisions, undo/redo, line endings and files."""

from __future__ import annotations

from pathlib import Path

import pytest

from symphony_actors.domain.errors import ConflictError, NotFoundError, UsageError
from symphony_actors.editor.buffer import UNDO_LIMIT, Buffer, Change, detect_eol, normalize, read_file, write_file


def test_positions_and_offsets_round_trip() -> None:
    """Every offset maps to a (line, character) and back."""
    buf = Buffer("b", "ab\n\ncdé\n")
    for offset in range(len(buf.rope) + 1):
        assert offset == buf.offset(*buf.position(offset))
    assert buf.position(7) == (2, 3)
    assert buf.line_count == 4


@pytest.mark.parametrize(("line", "character", "limit"), [(4, 0, "line_count"), (0, 3, "line_length"),
                                                           (1, 1, "line_length")])
def test_out_of_range_names_the_limit(line: int, character: int, limit: str) -> None:
    """Out-of-range positions raise UsageError saying how long the line or buffer is."""
    buf = Buffer("b", "ab\n\ncd")
    with pytest.raises(UsageError) as err:
        buf.offset(line, character)
    assert limit in err.value.details


def test_each_edit_is_one_revision_and_one_undo_step() -> None:
    buf = Buffer("b", "hello")
    assert Change(5, "", " world") == buf.edit(5, 5, " world")
    assert Change(0, "hello", "bye") == buf.edit(0, 5, "bye")
    assert (buf.revision, buf.text) == (2, "bye world")
    assert Change(0, "bye", "hello") == buf.undo()
    assert Change(5, " world", "") == buf.undo()
    assert buf.undo() is None
    assert (buf.revision, buf.text) == (4, "hello")
    assert Change(5, "", " world") == buf.redo()
    assert buf.text == "hello world"
    buf.edit(0, 0, "!")
    assert buf.redo() is None


def test_undo_history_is_bounded() -> None:
    """Only the latest UNDO_LIMIT edits can be undone."""
    buf = Buffer("b")
    for _ in range(UNDO_LIMIT + 5):
        buf.edit(0, 0, "x")
    undone = 0
    while buf.undo() is not None:
        undone += 1
    assert undone == UNDO_LIMIT
    assert buf.text == "x" * 5


def test_dirty_follows_the_saved_revision() -> None:
    buf = Buffer("b", "x")
    assert not buf.dirty
    buf.edit(0, 0, "y")
    assert buf.dirty
    buf.saved_revision = buf.revision
    assert not buf.dirty


def test_replay_refuses_a_change_that_does_not_fit() -> None:
    """A journalled change whose removed text differs is a ConflictError, not silent corruption."""
    buf = Buffer("b", "abc")
    buf.replay(Change(1, "b", "B"))
    assert buf.text == "aBc"
    with pytest.raises(ConflictError):
        buf.replay(Change(0, "zz", ""))
    with pytest.raises(ConflictError):
        buf.replay(Change(2, "c and more", ""))


@pytest.mark.parametrize(("raw", "eol", "mixed"), [
    ("a\nb\n", "\n", False), ("a\r\nb\r\n", "\r\n", False), ("a\rb\r", "\r", False), ("none", "\n", False),
    ("a\r\nb\r\nc\n", "\r\n", True), ("a\nb\r\n", "\n", True), ("", "\n", False)])
def test_detect_eol_picks_the_most_frequent(raw: str, eol: str, mixed: bool) -> None:
    assert (eol, mixed) == detect_eol(raw)


def test_normalize() -> None:
    assert normalize("a\r\nb\rc\n\r\n") == "a\nb\nc\n\n"


@pytest.mark.parametrize("data", [b"a\nb\n", b"a\r\nb\r\n", b"a\rb", b"\xef\xbb\xbfbom\r\n", b"",
                                  "\u00e9\u00e9\r\n\U0001f600".encode()])
def test_file_round_trip_is_byte_identical(tmp_path: Path, data: bytes) -> None:
    """read_file then write_file of the same text gives back the same bytes (line endings, BOM)."""
    f = tmp_path / "f.txt"
    f.write_bytes(data)
    ft = read_file(str(f))
    assert "\r" not in ft.text
    assert ft.digest == write_file(str(f), ft.text, ft.eol, ft.bom)
    assert data == f.read_bytes()


def test_mixed_endings_are_saved_with_the_dominant_one(tmp_path: Path) -> None:
    """A mixed file is reported as such and written with its most frequent line ending."""
    f = tmp_path / "m.txt"
    f.write_bytes(b"a\r\nb\r\nc\n")
    ft = read_file(str(f))
    assert (ft.mixed, ft.eol) == (True, "\r\n")
    write_file(str(f), ft.text, ft.eol, ft.bom)
    assert f.read_bytes() == b"a\r\nb\r\nc\r\n"


def test_write_keeps_the_file_mode_and_leaves_no_temporary(tmp_path: Path) -> None:
    f = tmp_path / "x.sh"
    f.write_text("old")
    f.chmod(0o751)
    write_file(str(f), "new", "\n", False)
    assert (f.stat().st_mode & 0o777, f.read_text()) == (0o751, "new")
    assert [p.name for p in tmp_path.iterdir()] == ["x.sh"]


def test_read_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        read_file(str(tmp_path / "missing"))
    with pytest.raises(UsageError):
        read_file(str(tmp_path))
    (tmp_path / "bin").write_bytes(b"\x80abc")
    with pytest.raises(UsageError):
        read_file(str(tmp_path / "bin"))
