"""``verify``: re-hash stored bytes and re-count references; report every problem instead of stopping at one."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from typing import TYPE_CHECKING, Any

from symphony_actors.domain.errors import IntegrityError
from symphony_actors.pit.artifacts._codec import ChunkRef, Codec, Manifest, artifact_id_for
from symphony_actors.pit.artifacts._db import ARTIFACT_COLUMNS, read_txn
from symphony_actors.ports.artifacts import IntegrityProblem, VerifyReport

if TYPE_CHECKING:
    from symphony_actors.pit.artifacts.store import ArtifactStore

__all__ = ["verify_all", "verify_one"]


class _Tally:
    def __init__(self) -> None:
        self.problems: list[IntegrityProblem] = []
        self.artifacts = 0
        self.chunks = 0
        self.bytes = 0
        self.good: set[bytes] = set()
        self.bad: dict[bytes, str] = {}

    def problem(self, artifact_id: str | None, chunk: bytes | None, message: str) -> None:
        self.problems.append(IntegrityProblem(artifact_id, chunk.hex() if chunk is not None else None, message))

    def report(self) -> VerifyReport:
        return VerifyReport(self.artifacts, self.chunks, self.bytes, tuple(self.problems))


def _check_content(store: ArtifactStore, tally: _Tally, digest: bytes, size: int) -> list[tuple[bytes | None, str]]:
    """Re-hash every chunk of one content and the whole; returns ``(chunk, what is wrong)`` pairs."""
    try:
        manifest = store._manifest("?", digest, size)
    except IntegrityError as exc:
        return [(None, exc.message.split(": ", 1)[-1])]
    found: list[tuple[bytes | None, str]] = []
    hasher = Codec.hasher()
    for ref in manifest.entries:
        if ref.digest in tally.bad:
            found.append((ref.digest, tally.bad[ref.digest]))
            continue
        try:
            data = store._chunk("?", ref, verify=ref.digest not in tally.good, deep=ref.digest not in tally.good)
        except IntegrityError as exc:
            tally.bad[ref.digest] = exc.message.split(": ", 1)[-1]
            found.append((ref.digest, tally.bad[ref.digest]))
            continue
        if ref.digest not in tally.good:
            tally.good.add(ref.digest)
            tally.chunks += 1
            tally.bytes += len(data)
        hasher.update(data)
    if not found and hasher.digest() != digest:
        found.append((None, f"bytes do not match digest {digest.hex()}"))
    return found


def _record_ok(row: tuple[Any, ...]) -> bool:
    aid, digest, name, media_type, _size, _created, run_id, node_id, parents = row
    try:
        return bool(artifact_id_for(digest, name, media_type, run_id, node_id, json.loads(parents)) == aid)
    except (ValueError, TypeError):
        return False


def verify_one(store: ArtifactStore, artifact_id: str) -> VerifyReport:
    """Check one artifact: its record, manifest, every chunk and the whole digest."""
    tally = _Tally()
    con = store._con
    with read_txn(con):
        row = con.execute(f"SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE id=?", (artifact_id,)).fetchone()
        if row is None:
            store._row(artifact_id)  # raises NotFoundError
        tally.artifacts = 1
        if not _record_ok(row):
            tally.problem(artifact_id, None, f"artifact {artifact_id}: its record does not match its id")
        else:
            for chunk, what in _check_content(store, tally, row[1], row[4]):
                tally.problem(artifact_id, chunk, f"artifact {artifact_id}: {what}")
    return tally.report()


def verify_all(store: ArtifactStore) -> VerifyReport:
    """Check the whole store: SQLite's pages, every content and chunk, every record, every reference count."""
    tally = _Tally()
    con = store._con
    with read_txn(con):
        for (line,) in con.execute("PRAGMA quick_check").fetchall():
            if line != "ok":
                tally.problem(None, None, f"sqlite: {line}")
        contents = dict(con.execute("SELECT digest, size FROM contents").fetchall())
        owners: dict[bytes, list[str]] = {}
        for row in con.execute(f"SELECT {ARTIFACT_COLUMNS} FROM artifacts ORDER BY id").fetchall():
            tally.artifacts += 1
            aid, digest, size = row[0], row[1], row[4]
            owners.setdefault(digest, []).append(aid)
            if not _record_ok(row):
                tally.problem(aid, None, f"artifact {aid}: its record does not match its id")
            if digest not in contents:
                tally.problem(aid, None, f"artifact {aid}: its content {digest.hex()} is missing")
            elif contents[digest] != size:
                tally.problem(aid, None, f"artifact {aid}: size {size} differs from its content's")
        for digest, size in contents.items():
            for chunk, what in _check_content(store, tally, digest, size):
                holders: list[str | None] = [*owners.get(digest, [])] or [None]
                for aid in holders:
                    tally.problem(aid, chunk, f"artifact {aid or '(none)'}: {what}")
        # Chunks held only by open uploads or waiting for gc: their bytes must still be right.
        for digest, size in con.execute("SELECT hash, size FROM chunks").fetchall():
            if digest in tally.good or digest in tally.bad:
                continue
            try:
                tally.bytes += len(store._chunk("(unreferenced)", ChunkRef(digest, size), verify=True, deep=True))
                tally.chunks += 1
            except IntegrityError as exc:
                tally.problem(None, digest, exc.message)
        _check_counts(con, tally, owners)
    return tally.report()


def _check_counts(con: sqlite3.Connection, tally: _Tally, owners: dict[bytes, list[str]]) -> None:
    """Reference counts must equal what manifests, uploads and artifacts actually reference."""
    expected: Counter[bytes] = Counter()
    for (blob,) in con.execute("SELECT manifest FROM contents"):
        try:
            expected.update(e.digest for e in Manifest.unpack(blob).entries)
        except IntegrityError:
            continue  # reported by the content check
    expected.update(r[0] for r in con.execute("SELECT hash FROM upload_chunks"))
    for digest, refs in con.execute("SELECT hash, refs FROM chunks"):
        want = expected.pop(digest, 0)
        if refs != want and not (refs <= 0 and want == 0):
            tally.problem(None, digest, f"chunk {digest.hex()} counts {refs} references, {want} found")
    for digest in expected:
        tally.problem(None, digest, f"chunk {digest.hex()} is referenced but not stored")
    for digest, refs in con.execute("SELECT digest, refs FROM contents"):
        have = len(owners.get(digest, []))
        if refs != have:
            tally.problem(None, None, f"content {digest.hex()} counts {refs} references, {have} artifacts found")
    for child, parent in con.execute(
            "SELECT child, parent FROM artifact_parents WHERE child NOT IN (SELECT id FROM artifacts) "
            "OR parent NOT IN (SELECT id FROM artifacts)"):
        tally.problem(child, None, f"lineage edge {child} -> {parent} names a missing artifact")
