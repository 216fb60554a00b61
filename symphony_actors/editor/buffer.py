"""One text buffer: a rope, a revision counter, undo/redo stacks and the file it came from.

Text inside a buffer always uses ``"\\n"``; the file's own line ending (the most
frequent of ``\\n``, ``\\r\\n``, ``\\r``) and a UTF-8 byte-order mark are remembered
and written back on save, so a CRLF file stays CRLF byte for byte. Positions are
(line, character) with characters counted in Unicode code points.

Every edit, undo, redo and reload adds one to ``revision``; each edit is one
:class:`Change` (offset, removed text, inserted text), which is also the unit of
undo and what the editor reports in its ``update`` notification.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from symphony_actors.domain.errors import ConflictError, NotFoundError, StorageError, UsageError
from symphony_actors.editor.rope import Rope

__all__ = [
    "EOLS",
    "MAX_FILE_BYTES",
    "UNDO_LIMIT",
    "Buffer",
    "Change",
    "FileText",
    "detect_eol",
    "digest",
    "normalize",
    "read_file",
    "write_file",
]

EOLS = ("\n", "\r\n", "\r")
UNDO_LIMIT = 10_000
"""Undo entries kept per buffer (the oldest are forgotten first); the bridge mirrors the same bound."""
BOM = b"\xef\xbb\xbf"
MAX_FILE_BYTES = 64 * 1024 * 1024
"""The largest file the editor opens (``buffer.open``/``reload``/``restore``); larger ones are refused."""


def normalize(text: str) -> str:
    """``\\r\\n`` and lone ``\\r`` become ``\\n``."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def detect_eol(text: str) -> tuple[str, bool]:
    """The most frequent line ending of raw ``text`` (``\\n`` when none or on a tie) and whether they are mixed."""
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    cr = text.count("\r") - crlf
    counts = {"\n": lf, "\r\n": crlf, "\r": cr}
    best = max(EOLS, key=lambda e: counts[e])  # max keeps the first of equals: "\n" wins ties
    return (best if counts[best] else "\n"), sum(1 for v in counts.values() if v) > 1


def digest(data: bytes) -> str:
    """A short content hash of file bytes, to notice a file changed behind the editor's back."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class FileText:
    text: str  # normalised to "\n"
    eol: str
    bom: bool
    mixed: bool
    digest: str


def read_file(path: str, limit: int | None = None) -> FileText:
    """Read a UTF-8 file; a missing file is :class:`NotFoundError`, bad UTF-8 a :class:`UsageError`.

    Only a regular file of at most ``limit`` bytes (default :data:`MAX_FILE_BYTES`) is read: a FIFO
    would block the editor and ``/dev/urandom`` grow it without bound, so each is a :class:`UsageError`
    saying why (``reason``: ``not_regular``, ``too_large``) before a byte is read.
    """
    limit = MAX_FILE_BYTES if limit is None else limit
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError as exc:
        raise NotFoundError(f"no such file: {path}", path=path) from exc
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror or exc}", path=path) from exc
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{path} is a directory, not a file", path=path, reason="not_regular")
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{path} is {_file_kind(st.st_mode)}, not a regular file: the editor opens regular "
                             "files only", path=path, reason="not_regular")
        if st.st_size > limit:
            raise UsageError(f"{path} is {st.st_size} bytes; the editor opens files of at most {limit} bytes",
                             path=path, reason="too_large", size=st.st_size, limit=limit)
        chunks, total = [], 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - total)):  # bounded even if the file grows
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise UsageError(f"{path} grew past {limit} bytes while being read", path=path,
                                 reason="too_large", limit=limit)
        data = b"".join(chunks)
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror or exc}", path=path) from exc
    finally:
        os.close(fd)
    bom = data.startswith(BOM)
    try:
        raw = data[3:].decode("utf-8") if bom else data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not valid UTF-8 (byte {exc.start + (3 if bom else 0)})",
                         path=path, byte=exc.start) from exc
    eol, mixed = detect_eol(raw)
    return FileText(normalize(raw), eol, bom, mixed, digest(data))


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def write_file(path: str, text: str, eol: str, bom: bool) -> str:
    """Write atomically (temporary file, fsync, rename) keeping the file's mode; returns the digest."""
    body = text if eol == "\n" else text.replace("\n", eol)
    data = (BOM if bom else b"") + body.encode("utf-8")
    target = Path(path)
    try:
        mode = target.stat().st_mode & 0o7777 if target.exists() else None
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            if mode is not None:
                Path(tmp).chmod(mode)
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except FileNotFoundError as exc:
        raise NotFoundError(f"cannot save {path}: its directory does not exist", path=path) from exc
    except OSError as exc:
        raise StorageError(f"cannot save {path}: {exc.strerror or exc}", path=path) from exc
    return digest(data)


@dataclass(frozen=True, slots=True)
class Change:
    """``removed`` replaced by ``inserted`` at ``offset`` (code points, pre-edit coordinates)."""

    offset: int
    removed: str
    inserted: str

    def inverse(self) -> Change:
        return Change(self.offset, self.inserted, self.removed)

    def to_wire(self) -> list[object]:
        return [self.offset, self.removed, self.inserted]

    @classmethod
    def from_wire(cls, data: object) -> Change:
        if (not isinstance(data, list) or len(data) != 3 or type(data[0]) is not int or data[0] < 0
                or not isinstance(data[1], str) or not isinstance(data[2], str)):
            raise UsageError("a change must be [offset, removed, inserted]")
        return cls(data[0], data[1], data[2])


class Buffer:
    """Text with revisions and undo; knows nothing about views or the protocol."""

    def __init__(self, buffer_id: str, text: str = "", *, path: str | None = None, eol: str = "\n",
                 bom: bool = False, mixed_eol: bool = False, revision: int = 0,
                 saved_revision: int | None = None) -> None:
        if eol not in EOLS:
            raise UsageError(f"eol must be one of {list(EOLS)!r}, not {eol!r}", eol=eol)
        self.buffer_id = buffer_id
        self.rope = Rope(normalize(text))
        self.path = path
        self.eol = eol
        self.bom = bom
        self.mixed_eol = mixed_eol
        self.revision = revision
        self.saved_revision = revision if saved_revision is None else saved_revision
        self.undo_stack: deque[Change] = deque(maxlen=UNDO_LIMIT)
        self.redo_stack: list[Change] = []

    # ---------------------------------------------------------------- reading
    @property
    def text(self) -> str:
        return str(self.rope)

    @property
    def dirty(self) -> bool:
        return self.revision != self.saved_revision

    @property
    def line_count(self) -> int:
        return self.rope.newlines + 1

    def offset(self, line: int, character: int) -> int:
        """The offset of a position; a :class:`UsageError` naming the limits when it lies outside the text."""
        lines = self.line_count
        if line >= lines:
            raise UsageError(f"line {line} is out of range: the buffer has {lines} line{'s' * (lines != 1)}",
                             line=line, character=character, line_count=lines)
        length = self.rope.line_length(line)
        if character > length:
            raise UsageError(f"character {character} is out of range: line {line} has {length} characters",
                             line=line, character=character, line_length=length)
        return self.rope.line_start(line) + character

    def position(self, offset: int) -> tuple[int, int]:
        line = self.rope.line_of(offset)
        return line, offset - self.rope.line_start(line)

    def slice(self, start: int, end: int) -> str:
        return self.rope.slice(start, end)

    # ---------------------------------------------------------------- editing
    def _apply(self, change: Change) -> None:
        rope = self.rope
        if change.removed:
            rope.delete(change.offset, change.offset + len(change.removed))
        if change.inserted:
            rope.insert(change.offset, change.inserted)
        self.revision += 1

    def edit(self, start: int, end: int, text: str) -> Change:
        """Replace ``[start, end)`` by ``text`` (normalised); one revision and one undo entry."""
        change = Change(start, self.rope.slice(start, end), normalize(text))
        self._apply(change)
        self.undo_stack.append(change)
        self.redo_stack.clear()
        return change

    def undo(self) -> Change | None:
        """Revert the latest edit; ``None`` when there is nothing to undo. Returns the change applied."""
        if not self.undo_stack:
            return None
        change = self.undo_stack.pop()
        inverse = change.inverse()
        self._apply(inverse)
        self.redo_stack.append(change)
        return inverse

    def redo(self) -> Change | None:
        if not self.redo_stack:
            return None
        change = self.redo_stack.pop()
        self._apply(change)
        self.undo_stack.append(change)
        return change

    def replay(self, change: Change) -> None:
        """Apply a journalled change, checking it fits (used when an editor restores a buffer)."""
        end = change.offset + len(change.removed)
        if end > len(self.rope) or self.rope.slice(change.offset, end) != change.removed:
            raise ConflictError(f"buffer {self.buffer_id}: journalled change at offset {change.offset} "
                                "does not match the text", buffer_id=self.buffer_id, offset=change.offset)
        self._apply(change)

    def reset(self, text: str, eol: str, bom: bool, mixed: bool) -> Change:
        """Replace everything (reload): one revision, undo history cleared."""
        change = Change(0, self.text, text)
        self._apply(change)
        self.eol, self.bom, self.mixed_eol = eol, bom, mixed
        self.undo_stack.clear()
        self.redo_stack.clear()
        self.saved_revision = self.revision
        return change
