"""Text held as a flat rope: a list of short chunks with cached lengths and newline counts.

A Python ``str`` copies the whole text on every edit (a 10 MB buffer: ~10 MB moved
per keystroke). Here an edit rewrites one chunk of at most ``2 * CHUNK`` characters
and marks the prefix sums stale; they are rebuilt with ``itertools.accumulate`` on
the next lookup (~2,500 chunks for 10 MB, tens of microseconds). Offsets and
line lookups are a ``bisect`` over those prefix sums plus a scan inside one chunk.

Offsets count Unicode code points; lines are separated by ``"\\n"`` only (the
buffer normalises other line endings before text reaches the rope).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import accumulate

__all__ = ["CHUNK", "Rope"]

CHUNK = 4096
"""Target chunk length in characters; chunks grow up to twice this before they split."""


def _pieces(text: str) -> list[str]:
    return [text[i:i + CHUNK] for i in range(0, len(text), CHUNK)]


class Rope:
    """A mutable text with O(chunks) bookkeeping per edit and O(log chunks + CHUNK) lookups."""

    __slots__ = ("_chunks", "_len_acc", "_lens", "_nl_acc", "_nls", "_stale")

    def __init__(self, text: str = "") -> None:
        self._chunks: list[str] = _pieces(text)
        self._lens: list[int] = [len(c) for c in self._chunks]
        self._nls: list[int] = [c.count("\n") for c in self._chunks]
        self._len_acc: list[int] = []
        self._nl_acc: list[int] = []
        self._stale = True

    # ---------------------------------------------------------------- bookkeeping
    def _refresh(self) -> None:
        if self._stale:
            self._len_acc = list(accumulate(self._lens))
            self._nl_acc = list(accumulate(self._nls))
            self._stale = False

    def __len__(self) -> int:
        self._refresh()
        return self._len_acc[-1] if self._len_acc else 0

    @property
    def newlines(self) -> int:
        """How many ``"\\n"`` the text holds (the line count is one more)."""
        self._refresh()
        return self._nl_acc[-1] if self._nl_acc else 0

    @property
    def chunk_count(self) -> int:
        return len(self._chunks)

    def __str__(self) -> str:
        return "".join(self._chunks)

    def _locate(self, offset: int) -> tuple[int, int]:
        """(chunk index, offset inside it) for ``0 <= offset <= len``; the end maps into the last chunk."""
        self._refresh()
        i = bisect_right(self._len_acc, offset)
        if i == len(self._chunks):
            i -= 1
        return i, offset - (self._len_acc[i - 1] if i else 0)

    def _replace_chunks(self, lo: int, hi: int, text: str) -> None:
        """Replace chunks ``lo..hi`` (inclusive) by ``text``, re-chunked if long."""
        if len(text) > 2 * CHUNK:
            new = _pieces(text)
        elif text:
            new = [text]
        else:
            new = []
        # Keep chunks from fragmenting: fold a short result into its right neighbour.
        if len(new) == 1 and len(text) < CHUNK // 4 and hi + 1 < len(self._chunks) \
                and len(text) + self._lens[hi + 1] <= 2 * CHUNK:
            hi += 1
            new = [text + self._chunks[hi]]
        self._chunks[lo:hi + 1] = new
        self._lens[lo:hi + 1] = [len(c) for c in new]
        self._nls[lo:hi + 1] = [c.count("\n") for c in new]
        self._stale = True

    # ---------------------------------------------------------------- edits
    def insert(self, offset: int, text: str) -> None:
        if not text:
            return
        if not self._chunks:
            self._replace_chunks(0, -1, text)
            return
        i, local = self._locate(offset)
        chunk = self._chunks[i]
        self._replace_chunks(i, i, chunk[:local] + text + chunk[local:])

    def delete(self, start: int, end: int) -> None:
        if end <= start:
            return
        i, a = self._locate(start)
        self._refresh()
        j = bisect_left(self._len_acc, end)  # first chunk whose end reaches ``end``
        b = end - (self._len_acc[j - 1] if j else 0)
        self._replace_chunks(i, j, self._chunks[i][:a] + self._chunks[j][b:])

    def slice(self, start: int, end: int) -> str:
        """The text in ``[start, end)``."""
        if end <= start:
            return ""
        i, a = self._locate(start)
        j = bisect_left(self._len_acc, end)
        b = end - (self._len_acc[j - 1] if j else 0)
        if i == j:
            return self._chunks[i][a:b]
        return "".join([self._chunks[i][a:], *self._chunks[i + 1:j], self._chunks[j][:b]])

    # ---------------------------------------------------------------- lines
    def line_start(self, line: int) -> int:
        """Offset where ``line`` (0-based, ``0 <= line <= newlines``) begins."""
        if line == 0:
            return 0
        self._refresh()
        i = bisect_left(self._nl_acc, line)  # the chunk holding the line-th newline
        k = line - (self._nl_acc[i - 1] if i else 0)
        chunk = self._chunks[i]
        pos = -1
        for _ in range(k):
            pos = chunk.index("\n", pos + 1)
        return (self._len_acc[i - 1] if i else 0) + pos + 1

    def line_of(self, offset: int) -> int:
        """The 0-based line holding ``offset``."""
        if not self._chunks:
            return 0
        i, local = self._locate(offset)
        return (self._nl_acc[i - 1] if i else 0) + self._chunks[i].count("\n", 0, local)

    def line_length(self, line: int) -> int:
        """Characters on ``line``, its line break excluded."""
        start = self.line_start(line)
        end = self.line_start(line + 1) - 1 if line < self.newlines else len(self)
        return end - start
