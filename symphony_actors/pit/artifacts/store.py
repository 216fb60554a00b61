"""The artifact store in-process: content-addressed chunks, manifests, lineage and search in one data directory.

Layout under ``<data_dir>/artifacts/``: ``artifacts.db`` (SQLite, WAL) holds chunks,
contents (manifests), artifacts, tags, parent edges, open uploads and the search
queue; ``search/`` is the tantivy index, derived and rebuildable.

Three levels, each reference-counted inside the same transaction as the write:

* a *chunk* is a FastCDC piece keyed by the BLAKE3 of its bytes, stored zstd-compressed
  (or raw when that is not smaller); ``refs`` counts its occurrences in manifests and uploads;
* a *content* is a distinct byte string keyed by its BLAKE3 ``digest`` with its manifest
  (ordered chunk list); ``refs`` counts the artifacts that have it;
* an *artifact* is a content plus provenance, keyed by an id derived from both.

Every write is one SQLite transaction, so a process killed mid-write leaves either the
whole artifact or nothing. Every read re-hashes what it returns. ``delete`` drops the
references; ``gc`` frees the chunks that nothing references. An instance is used from
one thread (its service's); several processes may open the same directory at once.
"""

from __future__ import annotations

import bisect
import builtins
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import blake3

from symphony_actors.domain.errors import (
    BusyError,
    ConflictError,
    IntegrityError,
    NotFoundError,
    UsageError,
)
from symphony_actors.domain.ids import ArtifactId, new_id
from symphony_actors.pit.artifacts._codec import (
    ZSTD_LEVEL,
    ChunkRef,
    Codec,
    Manifest,
    Provenance,
    artifact_id_for,
    is_text_media_type,
)
from symphony_actors.pit.artifacts._db import ARTIFACT_COLUMNS, Checkpointer, connect, read_txn, sql_errors, write_txn
from symphony_actors.pit.artifacts._search import IndexDoc, SearchIndex
from symphony_actors.pit.artifacts._upload import Upload, drop_upload
from symphony_actors.ports.artifacts import (
    DEFAULT_MEDIA_TYPE,
    MAX_PART_BYTES,
    ArtifactInfo,
    DeleteReport,
    Direction,
    GcReport,
    LineageEntry,
    SearchHit,
    StoreStats,
    VerifyReport,
)

__all__ = ["ArtifactStore", "Upload"]

_INDEX_BATCH_DOCS = 5000
_INDEX_BATCH_BYTES = 32 << 20
_STREAM_THRESHOLD = 16 << 20


class ArtifactStore:
    """The Artifact Store of one data directory (implements :class:`~symphony_actors.ports.artifacts.ArtifactPort`).

    ``index_text_limit``: how many bytes of a text artifact are indexed for search;
    ``upload_ttl``: seconds after which ``gc`` drops an upload that stopped receiving parts;
    ``background_checkpoints``: run WAL checkpoints in a thread (off: SQLite checkpoints as it writes);
    ``zstd_level``: compression level of new chunks (reading handles any);
    ``search_flush_docs``: at most this many queued index changes are applied by a search before it runs.
    """

    def __init__(self, root: Path | str, *, index_text_limit: int = 1 << 20, upload_ttl: float = 3600.0,
                 background_checkpoints: bool = True, zstd_level: int = ZSTD_LEVEL, search_flush_docs: int = 2000,
                 clock: Callable[[], float] = time.time) -> None:
        self.root = Path(root)
        self.db_path = self.root / "artifacts.db"
        self._con = connect(self.db_path)
        if not background_checkpoints:
            self._con.execute("PRAGMA wal_autocheckpoint=1000")
        self._checkpointer = Checkpointer(self.db_path) if background_checkpoints else None
        self._codec = Codec(level=zstd_level)
        self._index = SearchIndex(self.root / "search")
        self._index_checked = False
        self.index_text_limit = index_text_limit
        self.search_flush_docs = search_flush_docs
        self.upload_ttl = upload_ttl
        self._clock = clock
        self._closed = False

    @classmethod
    def open(cls, data_dir: Path | str, **options: Any) -> ArtifactStore:
        """The store of a Symphony data directory (``<data_dir>/artifacts``)."""
        return cls(Path(data_dir) / "artifacts", **options)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._index.close()
        self._con.close()

    def __enter__(self) -> ArtifactStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wrote(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.note_write()

    # ================================================================== writing
    @sql_errors
    def store(self, data: bytes | bytearray | memoryview, *, name: str = "", media_type: str = DEFAULT_MEDIA_TYPE,
              tags: Sequence[str] = (), run_id: str | None = None, node_id: str | None = None,
              parents: Sequence[str] = ()) -> ArtifactId:
        """Store ``data`` with its provenance; the same call twice gives the same id and stores nothing new."""
        return self.put(data, name=name, media_type=media_type, tags=tags, run_id=run_id, node_id=node_id,
                        parents=parents)[0]

    @sql_errors
    def put(self, data: bytes | bytearray | memoryview, *, name: str = "", media_type: str = DEFAULT_MEDIA_TYPE,
            tags: Sequence[str] = (), run_id: str | None = None, node_id: str | None = None,
            parents: Sequence[str] = ()) -> tuple[ArtifactId, bool]:
        """:meth:`store`, also saying whether the artifact is new."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise UsageError(f"artifact data must be bytes, not {type(data).__name__}")
        data = bytes(data) if not isinstance(data, bytes) else data
        meta = Provenance.check(name, media_type, tags, run_id, node_id, parents)
        digest = Codec.digest(data)
        artifact_id = meta.artifact_id(digest)
        if self._exists_with_tags(artifact_id, meta.tags):
            return artifact_id, False
        pieces: builtins.list[tuple[bytes, memoryview]] | None = None
        if not self._con.execute("SELECT 1 FROM contents WHERE digest=?", (digest,)).fetchone():
            pieces = list(self._codec.cut(data))  # hash before taking the write lock
        with write_txn(self._con) as con:
            if not self._insert_artifact(con, artifact_id, digest, len(data), meta):
                return artifact_id, False
            row = con.execute("SELECT refs FROM contents WHERE digest=?", (digest,)).fetchone()
            if row is not None:
                con.execute("UPDATE contents SET refs = refs + 1 WHERE digest=?", (digest,))
            else:
                if pieces is None:  # the content vanished (gc) between the check and the lock
                    pieces = list(self._codec.cut(data))
                self._add_chunks(con, pieces)
                manifest = Manifest([ChunkRef(d, len(v)) for d, v in pieces]).pack()
                con.execute("INSERT INTO contents VALUES (?,?,?,?,1)",
                            (digest, len(data), manifest, blake3.blake3(manifest).digest()))
        self._wrote()
        return artifact_id, True

    def _exists_with_tags(self, artifact_id: str, tags: tuple[str, ...]) -> bool:
        """True if the artifact exists (adding any new tags to it)."""
        if not self._con.execute("SELECT 1 FROM artifacts WHERE id=?", (artifact_id,)).fetchone():
            return False
        if tags:
            marks = ",".join("?" * len(tags))
            have = self._con.execute(f"SELECT COUNT(*) FROM artifact_tags WHERE artifact_id=? AND tag IN ({marks})",
                                     (artifact_id, *tags)).fetchone()[0]
            if have < len(tags):  # take the write lock only for new tags
                with write_txn(self._con) as con:
                    self._add_tags(con, artifact_id, tags)
                self._wrote()
        return True

    def _add_tags(self, con: sqlite3.Connection, artifact_id: str, tags: Iterable[str]) -> None:
        before = con.total_changes
        con.executemany("INSERT OR IGNORE INTO artifact_tags VALUES (?,?)", [(artifact_id, t) for t in tags])
        if con.total_changes != before:
            con.execute("INSERT INTO index_queue(artifact_id) VALUES (?)", (artifact_id,))

    def _insert_artifact(self, con: sqlite3.Connection, artifact_id: str, digest: bytes, size: int,
                         meta: Provenance) -> bool:
        """Insert the artifact's rows (not its content); False if it appeared meanwhile (tags added)."""
        if meta.parents:
            marks = ",".join("?" * len(meta.parents))
            found = {r[0] for r in con.execute(f"SELECT id FROM artifacts WHERE id IN ({marks})", meta.parents)}
            missing = [p for p in meta.parents if p not in found]
            if missing:
                raise NotFoundError(f"parent artifact(s) not found: {', '.join(missing)}", parents=missing)
        if con.execute(f"INSERT OR IGNORE INTO artifacts ({ARTIFACT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                       (artifact_id, digest, meta.name, meta.media_type, size, self._clock(), meta.run_id,
                        meta.node_id, json.dumps(list(meta.parents)))).rowcount == 0:
            self._add_tags(con, artifact_id, meta.tags)  # it appeared meanwhile (another process)
            return False
        if meta.parents:
            con.executemany("INSERT INTO artifact_parents VALUES (?,?)", [(artifact_id, p) for p in meta.parents])
        if meta.tags:
            con.executemany("INSERT INTO artifact_tags VALUES (?,?)", [(artifact_id, t) for t in meta.tags])
        con.execute("INSERT INTO index_queue(artifact_id) VALUES (?)", (artifact_id,))
        return True

    def _add_chunks(self, con: sqlite3.Connection, pieces: Sequence[tuple[bytes, memoryview]]) -> None:
        """Add one reference per occurrence; compress and insert the chunks not stored yet."""
        counts = Counter(d for d, _ in pieces)
        views = {d: v for d, v in pieces}
        for digest, n in counts.items():
            if con.execute("UPDATE chunks SET refs = refs + ? WHERE hash=?", (n, digest)).rowcount == 0:
                view = views[digest]
                codec, stored = self._codec.compress(view)
                con.execute("INSERT INTO chunks VALUES (?,?,?,?,?,?,?)",
                            (digest, len(view), len(stored), codec, n, Codec.seal(stored), stored))

    def store_stream(self, stream: BinaryIO, **meta: Any) -> ArtifactId:
        """Store what ``stream`` yields without holding it all in memory (parts of 1 MiB)."""
        upload = self.begin_upload()
        try:
            while part := stream.read(MAX_PART_BYTES):
                upload.write(part)
            return upload.finish(**meta)
        except BaseException:
            upload.abort()
            raise

    def store_file(self, path: Path | str, **meta: Any) -> ArtifactId:
        """Store a file (streamed when larger than 16 MiB)."""
        path = Path(path)
        try:
            if path.stat().st_size <= _STREAM_THRESHOLD:
                return self.store(path.read_bytes(), **meta)
            with path.open("rb") as fh:
                return self.store_stream(fh, **meta)
        except OSError as exc:
            raise NotFoundError(f"cannot read {path}: {exc.strerror}", path=str(path)) from exc

    @sql_errors
    def begin_upload(self) -> Upload:
        """Start a streamed store: ``write`` parts, then ``finish`` with the provenance (or ``abort``)."""
        upload_id = new_id("upl-")
        now = self._clock()
        with write_txn(self._con) as con:
            con.execute("INSERT INTO uploads VALUES (?,?,?)", (upload_id, now, now))
        return Upload(self, upload_id)

    # ================================================================== reading
    def _row(self, artifact_id: str) -> tuple[Any, ...]:
        if not isinstance(artifact_id, str):
            raise UsageError(f"artifact id must be a string, not {type(artifact_id).__name__}")
        row = self._con.execute(f"SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE id=?", (artifact_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no artifact {artifact_id!r}", artifact_id=artifact_id)
        aid, digest, name, media_type, _size, _created, run_id, node_id, parents = row
        try:
            ok = artifact_id_for(digest, name, media_type, run_id, node_id, json.loads(parents)) == aid
        except (ValueError, TypeError):  # a damaged record: not bytes, not JSON
            ok = False
        if not ok:
            raise IntegrityError(f"artifact {aid}: its record does not match its id", artifact_id=aid)
        return tuple(row)

    def _manifest(self, artifact_id: str, digest: bytes, size: int) -> Manifest:
        row = self._con.execute("SELECT size, manifest, manifest_hash FROM contents WHERE digest=?",
                                (digest,)).fetchone()
        if row is None:
            raise IntegrityError(f"artifact {artifact_id}: its content {digest.hex()} is missing",
                                 artifact_id=artifact_id)
        csize, blob, mhash = row
        if blake3.blake3(blob).digest() != mhash or csize != size:
            raise IntegrityError(f"artifact {artifact_id}: the manifest of content {digest.hex()} is corrupt",
                                 artifact_id=artifact_id)
        manifest = Manifest.unpack(blob, artifact_id=artifact_id)
        if manifest.size != size:
            raise IntegrityError(f"artifact {artifact_id}: manifest adds up to {manifest.size} bytes, not {size}",
                                 artifact_id=artifact_id)
        return manifest

    def _chunk(self, artifact_id: str, ref: ChunkRef, *, verify: bool, deep: bool = False) -> bytes:
        """One chunk's bytes. ``verify``: re-hash them; ``deep``: also check the stored (compressed) bytes'
        seal, which catches a changed byte that happens to decode to the same bytes (a zstd header flag)."""
        row = self._con.execute("SELECT codec, size, data, seal FROM chunks WHERE hash=?", (ref.digest,)).fetchone()
        if row is None:
            raise IntegrityError(f"artifact {artifact_id}: chunk {ref.digest.hex()} is missing",
                                 artifact_id=artifact_id, chunk=ref.digest.hex())
        codec, size, stored, seal = row
        try:
            if deep and Codec.seal(stored) != seal:
                raise ValueError("stored bytes do not match their seal")
            if size != ref.length:
                raise ValueError(f"{size} bytes recorded, manifest says {ref.length}")
            data = self._codec.decompress(codec, stored, size)
        except ValueError as exc:
            raise IntegrityError(f"artifact {artifact_id}: chunk {ref.digest.hex()} is corrupt: {exc}",
                                 artifact_id=artifact_id, chunk=ref.digest.hex()) from exc
        if verify and Codec.digest(data) != ref.digest:
            raise IntegrityError(f"artifact {artifact_id}: chunk {ref.digest.hex()} does not match its hash",
                                 artifact_id=artifact_id, chunk=ref.digest.hex())
        return data

    @sql_errors
    def retrieve(self, artifact_id: str) -> bytes:
        """The artifact's bytes; ``IntegrityError`` (naming the chunk) rather than wrong bytes."""
        with read_txn(self._con):
            row = self._row(artifact_id)
            aid, digest = row[0], row[1]
            manifest = self._manifest(aid, digest, row[4])
            cache: dict[bytes, bytes] = {}
            parts = []
            for ref in manifest.entries:
                piece = cache.get(ref.digest)
                if piece is None:
                    piece = cache[ref.digest] = self._chunk(aid, ref, verify=False)
                parts.append(piece)
            data = b"".join(parts)
            # One hash over the whole replaces one per chunk; on a mismatch, find the chunk to blame.
            if Codec.digest(data) != digest:
                for ref in manifest.entries:
                    self._chunk(aid, ref, verify=True)
                raise IntegrityError(f"artifact {aid}: bytes do not match digest {digest.hex()}", artifact_id=aid)
        return data

    @sql_errors
    def read_range(self, artifact_id: str, *, offset: int = 0, length: int = MAX_PART_BYTES) -> bytes:
        """Up to ``length`` bytes from ``offset`` (each chunk touched is verified)."""
        if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 0:
            raise UsageError(f"bad range offset={offset!r} length={length!r}")
        if length > MAX_PART_BYTES:
            raise UsageError(f"length {length} is above the {MAX_PART_BYTES} bytes one read may return")
        with read_txn(self._con):
            row = self._row(artifact_id)
            aid, digest, size = row[0], row[1], row[4]
            if offset >= size or length == 0:
                return b""
            manifest = self._manifest(aid, digest, size)
            starts = manifest.offsets()
            end = min(size, offset + length)
            i = bisect.bisect_right(starts, offset) - 1
            parts = []
            while i < len(manifest.entries) and starts[i] < end:
                chunk = self._chunk(aid, manifest.entries[i], verify=True)
                parts.append(chunk[max(0, offset - starts[i]):end - starts[i]])
                i += 1
        return b"".join(parts)

    def _info(self, row: Sequence[Any]) -> ArtifactInfo:
        aid, digest, name, media_type, size, created, run_id, node_id, parents = row
        tags = tuple(r[0] for r in self._con.execute(
            "SELECT tag FROM artifact_tags WHERE artifact_id=? ORDER BY tag", (aid,)))
        return ArtifactInfo(ArtifactId(aid), digest.hex(), name, media_type, size, tags, created, run_id, node_id,
                            tuple(ArtifactId(p) for p in json.loads(parents)))

    @sql_errors
    def info(self, artifact_id: str) -> ArtifactInfo:
        with read_txn(self._con):
            return self._info(self._row(artifact_id))

    @sql_errors
    def exists(self, artifact_id: str) -> bool:
        return self._con.execute("SELECT 1 FROM artifacts WHERE id=?", (artifact_id,)).fetchone() is not None

    @sql_errors
    def resolve(self, prefix: str) -> ArtifactId:
        """The one artifact id starting with ``prefix`` (at least 4 hex digits)."""
        prefix = prefix.strip().lower()
        if len(prefix) < 4 or any(c not in "0123456789abcdef" for c in prefix):
            raise UsageError(f"{prefix!r} is not an artifact id or a prefix of at least 4 hex digits")
        rows = self._con.execute("SELECT id FROM artifacts WHERE id >= ? AND id < ? ORDER BY id LIMIT 2",
                                 (prefix, prefix + "g")).fetchall()
        if not rows:
            raise NotFoundError(f"no artifact id starts with {prefix!r}", artifact_id=prefix)
        if len(rows) > 1:
            raise UsageError(f"{prefix!r} is ambiguous: several artifact ids start with it")
        return ArtifactId(rows[0][0])

    @sql_errors
    def list(self, *, name: str | None = None, tag: str | None = None, run_id: str | None = None,
             node_id: str | None = None, media_type: str | None = None, limit: int = 100,
             offset: int = 0) -> builtins.list[ArtifactInfo]:
        """Artifacts matching every given filter, newest first; ``name`` may be a glob (``*.py``)."""
        _check_limit(limit, 100_000)
        if not isinstance(offset, int) or offset < 0:
            raise UsageError(f"offset must be a non-negative integer, not {offset!r}")
        where, args = [], []
        cols = ", ".join(f"a.{c.strip()}" for c in ARTIFACT_COLUMNS.split(","))
        sql = f"SELECT {cols} FROM artifacts a"
        if tag is not None:
            sql += " JOIN artifact_tags t ON t.artifact_id = a.id AND t.tag = ?"
            args.append(tag)
        if name is not None:
            where.append("a.name GLOB ?" if any(c in name for c in "*?[") else "a.name = ?")
            args.append(name)
        for column, value in (("run_id", run_id), ("node_id", node_id)):
            if value is not None:
                where.append(f"a.{column} = ?")
                args.append(value)
        if media_type is not None:
            if media_type.endswith("/*"):
                where.append("a.media_type GLOB ?")
                args.append(media_type[:-1] + "*")
            else:
                where.append("a.media_type = ?")
                args.append(media_type)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY a.created DESC, a.id LIMIT ? OFFSET ?"
        with read_txn(self._con) as con:
            return [self._info(r) for r in con.execute(sql, (*args, limit, offset)).fetchall()]

    @sql_errors
    def lineage(self, artifact_id: str, *, direction: Direction = "ancestors",
                max_depth: int | None = None) -> builtins.list[LineageEntry]:
        """Ancestors or descendants breadth-first: each once, at its shortest distance."""
        if direction not in ("ancestors", "descendants"):
            raise UsageError(f"direction must be 'ancestors' or 'descendants', not {direction!r}")
        if max_depth is not None and (not isinstance(max_depth, int) or max_depth < 1):
            raise UsageError(f"max_depth must be a positive integer, not {max_depth!r}")
        near, far = ("child", "parent") if direction == "ancestors" else ("parent", "child")
        with read_txn(self._con) as con:
            self._row(artifact_id)
            seen = {artifact_id}
            frontier = [artifact_id]
            found: builtins.list[tuple[str, int]] = []
            depth = 0
            while frontier and (max_depth is None or depth < max_depth):
                depth += 1
                nxt: builtins.list[str] = []
                for i in range(0, len(frontier), 500):
                    part = frontier[i:i + 500]
                    marks = ",".join("?" * len(part))
                    for (other,) in con.execute(
                            f"SELECT DISTINCT {far} FROM artifact_parents WHERE {near} IN ({marks})", part):
                        if other not in seen:
                            seen.add(other)
                            nxt.append(other)
                found.extend((a, depth) for a in sorted(nxt))
                frontier = nxt
            out = []
            for aid, d in found:
                r = con.execute("SELECT name, media_type, run_id, node_id FROM artifacts WHERE id=?", (aid,)).fetchone()
                if r is not None:
                    out.append(LineageEntry(ArtifactId(aid), d, r[0], r[1], r[2], r[3]))
        return out

    # ================================================================== deleting
    @sql_errors
    def delete(self, artifact_id: str, *, force: bool = False) -> DeleteReport:
        """Remove the artifact; refused (``ConflictError``) while others name it as a parent, unless ``force``."""
        with write_txn(self._con) as con:
            row = self._row(artifact_id)
            digest = row[1]
            children = tuple(ArtifactId(r[0]) for r in con.execute(
                "SELECT child FROM artifact_parents WHERE parent=? ORDER BY child", (artifact_id,)))
            if children and not force:
                shown = ", ".join(children[:5]) + (" ..." if len(children) > 5 else "")
                raise ConflictError(f"artifact {artifact_id} is a parent of {len(children)} other artifact(s) "
                                    f"({shown}); delete them first or pass force=True",
                                    artifact_id=artifact_id, dependents=list(children))
            con.execute("DELETE FROM artifact_parents WHERE parent=? OR child=?", (artifact_id, artifact_id))
            con.execute("DELETE FROM artifact_tags WHERE artifact_id=?", (artifact_id,))
            con.execute("DELETE FROM artifacts WHERE id=?", (artifact_id,))
            con.execute("INSERT INTO index_queue(artifact_id) VALUES (?)", (artifact_id,))
            self._release_content(con, digest)
        self._wrote()
        return DeleteReport(ArtifactId(artifact_id), bool(force and children), children if force else ())

    def _release_content(self, con: sqlite3.Connection, digest: bytes) -> None:
        con.execute("UPDATE contents SET refs = refs - 1 WHERE digest=?", (digest,))
        row = con.execute("SELECT refs, manifest FROM contents WHERE digest=?", (digest,)).fetchone()
        if row is not None and row[0] <= 0:
            counts = Counter(e.digest for e in Manifest.unpack(row[1]).entries)
            con.executemany("UPDATE chunks SET refs = refs - ? WHERE hash=?", [(n, d) for d, n in counts.items()])
            con.execute("DELETE FROM contents WHERE digest=?", (digest,))

    @sql_errors
    def gc(self) -> GcReport:
        """Drop abandoned uploads and every chunk with no reference; report the stored bytes freed."""
        deadline = self._clock() - self.upload_ttl
        with write_txn(self._con) as con:
            stale = [r[0] for r in con.execute("SELECT id FROM uploads WHERE touched < ?", (deadline,))]
            for upload_id in stale:
                drop_upload(con, upload_id)
            count, freed = con.execute(
                "SELECT COUNT(*), COALESCE(SUM(stored), 0) FROM chunks WHERE refs <= 0").fetchone()
            con.execute("DELETE FROM chunks WHERE refs <= 0")
        self._con.execute("PRAGMA incremental_vacuum")
        self._wrote()
        return GcReport(count, freed, len(stale))

    # ================================================================== search
    def _ensure_index(self) -> None:
        if self._index_checked:
            return
        marker = self._index.path / "symphony-schema"
        if not marker.exists():
            self._requeue_all()  # before the index exists: a crash in between only queues again
            self._index.clear()
        else:
            self._index.open()
            if self._index.created_fresh:
                self._requeue_all()
        self._index_checked = True

    def _requeue_all(self) -> None:
        """A new, empty index needs every artifact once (and no removals)."""
        with write_txn(self._con) as con:
            con.execute("DELETE FROM index_queue")
            con.execute("INSERT INTO index_queue(artifact_id) SELECT id FROM artifacts")

    @sql_errors
    def index_pending(self) -> int:
        """How many queued changes the search index has not applied yet."""
        return int(self._con.execute("SELECT COUNT(*) FROM index_queue").fetchone()[0])

    @sql_errors
    def flush_index(self, max_docs: int | None = None) -> int:
        """Apply queued changes to the search index, oldest first, about ``max_docs`` of them (None: all).

        Returns how many were applied: 0 if another process holds the index writer."""
        self._ensure_index()
        applied = 0
        while max_docs is None or applied < max_docs:
            batch = _INDEX_BATCH_DOCS if max_docs is None else min(_INDEX_BATCH_DOCS, max_docs - applied)
            rows = self._con.execute("SELECT seq, artifact_id FROM index_queue ORDER BY seq LIMIT ?",
                                     (batch,)).fetchall()
            if not rows:
                return applied
            docs: dict[str, IndexDoc | None] = {}
            budget = _INDEX_BATCH_BYTES
            last = rows[-1][0]
            for seq, aid in rows:
                doc = self._index_doc(aid)
                docs[aid] = doc
                budget -= len(doc.content) if doc is not None else 0
                if budget <= 0:
                    last = seq
                    break
            try:
                self._index.apply([a for a, d in docs.items() if d is None],
                                  [d for d in docs.values() if d is not None])
            except BusyError:
                return applied
            with write_txn(self._con) as con:
                con.execute("DELETE FROM index_queue WHERE seq <= ?", (last,))
            self._wrote()
            applied += len(docs)
        return applied

    def _index_doc(self, artifact_id: str) -> IndexDoc | None:
        try:
            row = self._row(artifact_id)
        except NotFoundError:
            return None
        info = self._info(row)
        content = ""
        if is_text_media_type(info.media_type):
            try:
                if info.size <= self.index_text_limit:
                    raw = self.retrieve(artifact_id)
                else:
                    raw = b"".join(self.read_range(artifact_id, offset=o, length=MAX_PART_BYTES)
                                   for o in range(0, self.index_text_limit, MAX_PART_BYTES))[:self.index_text_limit]
            except IntegrityError:
                raw = b""  # a corrupt artifact stays findable by its metadata; verify reports it
            content = raw.decode("utf-8", errors="replace")
        meta = " ".join(x for x in (info.name, *info.tags, info.media_type, info.run_id, info.node_id) if x)
        return IndexDoc(info.artifact_id, meta, content, info.media_type, info.tags, info.run_id)

    @sql_errors
    def search(self, query: str, *, media_type: str | None = None, tag: str | None = None,
               run_id: str | None = None, limit: int = 10) -> builtins.list[SearchHit]:
        """Ranked (BM25) hits over contents of text artifacts and every artifact's name, tags and producer."""
        if not isinstance(query, str) or not query.strip():
            raise UsageError("search query must be a non-empty string")
        _check_limit(limit, 1000)
        self._ensure_index()
        if self._con.execute("SELECT 1 FROM index_queue LIMIT 1").fetchone():
            # Read-your-writes, within a bound: a backlog (writers that never search, such as the DAG
            # executors) is applied by the service's timer rather than by one slow search.
            self.flush_index(max_docs=self.search_flush_docs)
        hits = self._index.search(query, media_type=media_type, tag=tag, run_id=run_id, limit=limit + 8)
        if not hits:
            return []
        ids = [aid for aid, _ in hits]
        marks = ",".join("?" * len(ids))
        with read_txn(self._con) as con:
            rows = {r[0]: r for r in con.execute(
                f"SELECT id, name, media_type, size, run_id, node_id FROM artifacts WHERE id IN ({marks})", ids)}
            tags: dict[str, builtins.list[str]] = {}
            for aid, t in con.execute(
                    f"SELECT artifact_id, tag FROM artifact_tags WHERE artifact_id IN ({marks}) ORDER BY tag", ids):
                tags.setdefault(aid, []).append(t)
        out: builtins.list[SearchHit] = []
        for aid, score in hits:
            row = rows.get(aid)
            if row is None:  # deleted; the index catches up at its next flush
                continue
            # The index may skip a filter that (nearly) every document passes; the database decides.
            if ((media_type is not None and not (row[2].startswith(media_type[:-1]) if media_type.endswith("/*")
                                                 else row[2] == media_type))
                    or (tag is not None and tag not in tags.get(aid, ()))
                    or (run_id is not None and row[4] != run_id)):
                continue
            out.append(SearchHit(ArtifactId(aid), score, row[1], row[2], row[3], tuple(tags.get(aid, ())), row[4],
                                 row[5]))
            if len(out) == limit:
                break
        return out

    @sql_errors
    def reindex(self) -> int:
        """Rebuild the search index from the database; returns how many artifacts were indexed."""
        self._requeue_all()
        self._index.clear()
        self._index_checked = True
        return self.flush_index()

    # ================================================================== checking
    @sql_errors
    def verify(self, artifact_id: str | None = None) -> VerifyReport:
        """Re-hash one artifact or everything; whole-store checks include reference counts and SQLite's own."""
        from symphony_actors.pit.artifacts._verify import verify_all, verify_one

        if artifact_id is not None:
            return verify_one(self, artifact_id)
        return verify_all(self)

    @sql_errors
    def stats(self) -> StoreStats:
        with read_txn(self._con) as con:
            count, logical = con.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM artifacts").fetchone()
            chunks, unique, stored, garbage = con.execute(
                "SELECT COALESCE(SUM(refs > 0), 0), COALESCE(SUM(CASE WHEN refs > 0 THEN size END), 0), "
                "COALESCE(SUM(CASE WHEN refs > 0 THEN stored END), 0), "
                "COALESCE(SUM(CASE WHEN refs <= 0 THEN stored END), 0) FROM chunks").fetchone()
        return StoreStats(count, chunks, logical, unique, stored, garbage)


def _check_limit(limit: int, most: int) -> None:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= most:
        raise UsageError(f"limit must be an integer from 1 to {most}, not {limit!r}")
