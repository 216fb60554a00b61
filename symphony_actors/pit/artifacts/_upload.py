"""Streamed stores: an artifact written in parts, its chunks referenced by the upload until it finishes."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import blake3

from symphony_actors.domain.errors import NotFoundError, UsageError
from symphony_actors.domain.ids import ArtifactId
from symphony_actors.pit.artifacts._codec import ChunkRef, Manifest, Provenance
from symphony_actors.pit.artifacts._db import sql_errors, write_txn
from symphony_actors.ports.artifacts import DEFAULT_MEDIA_TYPE

if TYPE_CHECKING:
    from symphony_actors.pit.artifacts.store import ArtifactStore

__all__ = ["Upload", "drop_upload"]


def drop_upload(con: sqlite3.Connection, upload_id: str) -> None:
    counts = Counter(r[0] for r in con.execute("SELECT hash FROM upload_chunks WHERE upload_id=?", (upload_id,)))
    con.executemany("UPDATE chunks SET refs = refs - ? WHERE hash=?", [(n, d) for d, n in counts.items()])
    con.execute("DELETE FROM upload_chunks WHERE upload_id=?", (upload_id,))
    con.execute("DELETE FROM uploads WHERE id=?", (upload_id,))


class Upload:
    """A store in parts: chunks are written (and referenced by the upload) as parts arrive.

    FastCDC cut points depend only on the bytes since the previous cut, so every chunk but
    the last of the buffer is final: a streamed artifact gets exactly the chunks (and the id)
    a one-shot ``store`` of the same bytes would.
    """

    def __init__(self, store: ArtifactStore, upload_id: str) -> None:
        self.store, self.upload_id = store, upload_id
        self._hasher = blake3.blake3()
        self._tail = bytearray()
        self._seq = 0
        self.size = 0
        self.done = False
        self.existed = False
        """After ``finish``: whether the artifact was there already."""

    def _check_open(self) -> None:
        if self.done:
            raise UsageError(f"upload {self.upload_id} is already finished or aborted", upload_id=self.upload_id)

    @sql_errors
    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append a part; returns the bytes received so far."""
        self._check_open()
        if not isinstance(data, bytes | bytearray | memoryview):
            raise UsageError(f"upload data must be bytes, not {type(data).__name__}")
        self._hasher.update(data)
        self._tail += data
        self.size += len(data)
        if len(self._tail) >= 8 * self.store._codec.max_chunk:
            self._flush(final=False)
        else:
            self._touch()
        return self.size

    def _touch(self) -> None:
        with write_txn(self.store._con) as con:
            self._alive(con)

    def _alive(self, con: sqlite3.Connection) -> None:
        if con.execute("UPDATE uploads SET touched=? WHERE id=?",
                       (self.store._clock(), self.upload_id)).rowcount == 0:
            self.done = True
            raise NotFoundError(f"upload {self.upload_id} expired or was dropped; start again",
                                upload_id=self.upload_id)

    def _flush(self, *, final: bool) -> None:
        buf = bytes(self._tail)  # a copy: views into a bytearray would pin it against resizing
        pieces = list(self.store._codec.cut(buf))
        if not final and pieces:
            pieces.pop()  # the last piece may still grow
        consumed = sum(len(v) for _, v in pieces)
        with write_txn(self.store._con) as con:
            self._alive(con)
            self.store._add_chunks(con, pieces)
            con.executemany("INSERT INTO upload_chunks VALUES (?,?,?,?)",
                            [(self.upload_id, self._seq + i, d, len(v)) for i, (d, v) in enumerate(pieces)])
        self._seq += len(pieces)
        self._tail = bytearray(buf[consumed:])
        self.store._wrote()

    @sql_errors
    def finish(self, *, name: str = "", media_type: str = DEFAULT_MEDIA_TYPE, tags: Sequence[str] = (),
               run_id: str | None = None, node_id: str | None = None, parents: Sequence[str] = ()) -> ArtifactId:
        """Complete the upload as an artifact with this provenance; returns its id."""
        self._check_open()
        meta = Provenance.check(name, media_type, tags, run_id, node_id, parents)
        self._flush(final=True)
        digest = self._hasher.digest()
        artifact_id = meta.artifact_id(digest)
        store = self.store
        with write_txn(store._con) as con:
            self._alive(con)
            entries = [ChunkRef(d, n) for d, n in con.execute(
                "SELECT hash, length FROM upload_chunks WHERE upload_id=? ORDER BY seq", (self.upload_id,))]
            created = store._insert_artifact(con, artifact_id, digest, self.size, meta)
            has_content = con.execute("SELECT 1 FROM contents WHERE digest=?", (digest,)).fetchone() is not None
            if created and not has_content:  # the upload's chunk references become the content's
                manifest = Manifest(entries).pack()
                con.execute("INSERT INTO contents VALUES (?,?,?,?,1)",
                            (digest, self.size, manifest, blake3.blake3(manifest).digest()))
                con.execute("DELETE FROM upload_chunks WHERE upload_id=?", (self.upload_id,))
                con.execute("DELETE FROM uploads WHERE id=?", (self.upload_id,))
            else:
                if created:
                    con.execute("UPDATE contents SET refs = refs + 1 WHERE digest=?", (digest,))
                drop_upload(con, self.upload_id)
        self.done = True
        self.existed = not created
        store._wrote()
        return artifact_id

    @sql_errors
    def abort(self) -> None:
        """Drop the upload and its chunk references (idempotent)."""
        if self.done:
            return
        self.done = True
        with write_txn(self.store._con) as con:
            drop_upload(con, self.upload_id)
        self.store._wrote()
