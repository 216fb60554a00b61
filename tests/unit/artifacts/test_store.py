"""The SQLite artifact store: dedup, integrity, streaming, reference counts, gc and the search index."""

from __future__ import annotations

import io
import os
import pickle
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest

from symphony_actors.domain.errors import IntegrityError, NotFoundError, UsageError
from symphony_actors.pit.artifacts.store import ArtifactStore
from symphony_actors.ports.artifacts import (
    ArtifactInfo,
    DeleteReport,
    GcReport,
    IntegrityProblem,
    LineageEntry,
    SearchHit,
    StoreStats,
    VerifyReport,
)
from symphony_actors.testing.runtime import FakeClock


@pytest.fixture
def store(data_dir: Path) -> Iterator[ArtifactStore]:
    with ArtifactStore.open(data_dir) as s:
        yield s


def _sql(store: ArtifactStore) -> sqlite3.Connection:
    return sqlite3.connect(store.db_path, isolation_level=None)


def _chunk_count(store: ArtifactStore) -> int:
    with _sql(store) as con:
        return int(con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])


def _flip(store: ArtifactStore, chunk: bytes, position: int = 0) -> None:
    """Flip one byte of a stored chunk, as bit rot would."""
    con = _sql(store)
    (data,) = con.execute("SELECT data FROM chunks WHERE hash=?", (chunk,)).fetchone()
    data = bytearray(data)
    data[position % len(data)] ^= 0x40
    con.execute("UPDATE chunks SET data=? WHERE hash=?", (bytes(data), chunk))
    con.close()


def _chunks_of(store: ArtifactStore, artifact_id: str) -> list[bytes]:
    con = _sql(store)
    (manifest,) = con.execute("SELECT manifest FROM contents c JOIN artifacts a ON a.digest = c.digest "
                              "WHERE a.id=?", (artifact_id,)).fetchone()
    con.close()
    return [manifest[i:i + 32] for i in range(0, len(manifest), 36)]


# ---------------------------------------------------------------------- chunking and dedup


def test_an_edited_version_shares_most_chunks(store: ArtifactStore) -> None:
    """An insertion in the middle of 1 MiB adds a few chunks, not a whole copy."""
    rng = random.Random(1)
    base = rng.randbytes(1 << 20)
    store.store(base)
    before = _chunk_count(store)
    store.store(base[:500_000] + b"an insertion" + base[500_000:])
    assert _chunk_count(store) - before <= 3
    assert before > 60  # ~10 KiB average chunks


def test_compressible_bytes_are_stored_compressed(store: ArtifactStore) -> None:
    """Text is zstd-compressed per chunk; random bytes are kept raw."""
    text = b"def function(argument):\n    return argument * 2\n" * 5000
    store.store(text)
    stats = store.stats()
    assert stats.stored_bytes < stats.unique_bytes / 5


def test_digest_is_blake3_of_the_bytes(store: ArtifactStore) -> None:
    data = os.urandom(123_457)
    assert blake3.blake3(data).hexdigest() == store.info(store.store(data)).digest


# ---------------------------------------------------------------------- integrity


def test_a_corrupt_chunk_gives_integrity_error_naming_artifact_and_chunk(store: ArtifactStore) -> None:
    """Never wrong bytes: retrieve, read_range and verify all name the artifact and the chunk."""
    artifact_id = store.store(os.urandom(200_000), name="victim")
    chunks = _chunks_of(store, artifact_id)
    _flip(store, chunks[3], 100)
    with pytest.raises(IntegrityError) as err:
        store.retrieve(artifact_id)
    assert artifact_id == err.value.details["artifact_id"]
    assert chunks[3].hex() == err.value.details["chunk"]
    with pytest.raises(IntegrityError):
        store.read_range(artifact_id, offset=0, length=200_000)
    report = store.verify()
    assert not report.ok
    assert {(artifact_id, chunks[3].hex())} == {(p.artifact_id, p.chunk) for p in report.problems}
    assert not store.verify(artifact_id).ok


def test_a_corrupt_compressed_chunk_is_detected(store: ArtifactStore) -> None:
    """A flipped byte inside a zstd frame fails to decode or to hash: either way an IntegrityError."""
    artifact_id = store.store(b"compressible line of text\n" * 4000)
    for chunk in _chunks_of(store, artifact_id)[:1]:
        _flip(store, chunk, 7)
    with pytest.raises(IntegrityError):
        store.retrieve(artifact_id)


def test_a_missing_chunk_is_detected(store: ArtifactStore) -> None:
    artifact_id = store.store(os.urandom(50_000))
    with _sql(store) as con:
        con.execute("DELETE FROM chunks WHERE hash=?", (_chunks_of(store, artifact_id)[0],))
    with pytest.raises(IntegrityError, match="missing"):
        store.retrieve(artifact_id)
    assert not store.verify().ok


def test_a_tampered_record_or_manifest_is_detected(store: ArtifactStore) -> None:
    """Changing an artifact's recorded provenance or its chunk list breaks its id check."""
    a = store.store(b"a" * 40_000, name="a")
    b = store.store(os.urandom(40_000), name="b")
    with _sql(store) as con:
        con.execute("UPDATE artifacts SET name='renamed' WHERE id=?", (a,))
        (digest, manifest) = con.execute("SELECT c.digest, c.manifest FROM contents c JOIN artifacts a "
                                         "ON a.digest = c.digest WHERE a.id=?", (b,)).fetchone()
        con.execute("UPDATE contents SET manifest=? WHERE digest=?", (manifest[36:] + manifest[:36], digest))
    with pytest.raises(IntegrityError, match="record"):
        store.retrieve(a)
    with pytest.raises(IntegrityError, match="manifest"):
        store.retrieve(b)
    assert {a, b} <= {p.artifact_id for p in store.verify().problems}


def test_verify_reports_wrong_reference_counts(store: ArtifactStore) -> None:
    artifact_id = store.store(os.urandom(20_000))
    with _sql(store) as con:
        con.execute("UPDATE chunks SET refs = refs + 1 WHERE hash=?", (_chunks_of(store, artifact_id)[0],))
    problems = store.verify().problems
    assert any("references" in p.message for p in problems)


# ---------------------------------------------------------------------- streaming


def test_a_streamed_upload_equals_a_one_shot_store(store: ArtifactStore) -> None:
    """Same id, same chunks: the upload adds nothing when the bytes are stored already."""
    data = random.Random(2).randbytes(3_500_000)
    one_shot = store.store(data, name="big")
    chunks = _chunk_count(store)
    upload = store.begin_upload()
    for i in range(0, len(data), 700_001):
        upload.write(data[i:i + 700_001])
    assert one_shot == upload.finish(name="big")
    assert upload.existed
    assert chunks == _chunk_count(store)
    assert store.verify().ok


def test_a_new_streamed_artifact_reads_back(store: ArtifactStore) -> None:
    data = os.urandom(2_500_000)
    artifact_id = store.store_stream(io.BytesIO(data), name="s", tags=["streamed"])
    assert data == store.retrieve(artifact_id)
    assert store.info(artifact_id).tags == ("streamed",)
    assert store.verify().ok


def test_an_aborted_upload_leaves_only_garbage(store: ArtifactStore) -> None:
    """Its chunks are unreferenced and gc frees them; no artifact appears."""
    upload = store.begin_upload()
    upload.write(os.urandom(3_000_000))
    assert _chunk_count(store) > 0
    upload.abort()
    assert store.stats().artifacts == 0
    assert store.verify().ok
    report = store.gc()
    assert report.bytes_freed > 2_000_000 and _chunk_count(store) == 0
    with pytest.raises(UsageError):
        upload.write(b"more")


def test_gc_drops_abandoned_uploads_after_their_ttl(data_dir: Path) -> None:
    """An upload that stopped receiving parts is dropped by gc once upload_ttl passes."""
    clock = FakeClock()
    with ArtifactStore.open(data_dir, clock=clock.time, upload_ttl=60) as store:
        upload = store.begin_upload()
        upload.write(os.urandom(3_000_000))
        assert store.gc().uploads_expired == 0
        clock.advance(61)
        report = store.gc()
        assert (report.uploads_expired, report.bytes_freed > 2_000_000) == (1, True)
        with pytest.raises(NotFoundError):
            upload.finish(name="late")


def test_file_store_streams_large_files(store: ArtifactStore, tmp_path: Path) -> None:
    path = tmp_path / "large.bin"
    path.write_bytes(os.urandom(17 << 20))
    artifact_id = store.store_file(path, name="large.bin")
    assert blake3.blake3(path.read_bytes()).hexdigest() == store.info(artifact_id).digest
    with pytest.raises(NotFoundError):
        store.store_file(tmp_path / "absent")


# ---------------------------------------------------------------------- gc and delete


def test_gc_after_delete_reports_the_stored_bytes_freed(store: ArtifactStore) -> None:
    a = store.store(os.urandom(100_000))
    stored = store.stats().stored_bytes
    store.delete(a)
    assert stored == store.stats().reclaimable_bytes
    assert stored == store.gc().bytes_freed
    assert (store.stats().stored_bytes, _chunk_count(store)) == (0, 0)


def test_a_forced_delete_keeps_the_childs_recorded_provenance(store: ArtifactStore) -> None:
    """The child still verifies (its id covers its parents) but lineage no longer reaches the deleted parent."""
    parent = store.store(b"p")
    child = store.store(b"c", parents=[parent])
    store.delete(parent, force=True)
    assert (parent,) == store.info(child).parents
    assert store.lineage(child) == []
    assert store.retrieve(child) == b"c"
    assert store.verify().ok


# ---------------------------------------------------------------------- search index


def test_search_index_is_rebuilt_when_missing(store: ArtifactStore, data_dir: Path) -> None:
    """The index is derived: deleting its directory loses nothing."""
    artifact_id = store.store(b"the walrus and the carpenter", media_type="text/plain")
    assert [artifact_id] == [h.artifact_id for h in store.search("walrus")]
    store.close()
    import shutil

    shutil.rmtree(data_dir / "artifacts" / "search")
    with ArtifactStore.open(data_dir) as again:
        assert [artifact_id] == [h.artifact_id for h in again.search("walrus")]
        assert again.reindex() == 1


def test_queued_index_changes_survive_a_reopen(data_dir: Path) -> None:
    """Writes queue their index update in the same transaction; another process applies them."""
    with ArtifactStore.open(data_dir) as writer:
        artifact_id = writer.store(b"a unique word: xylophone", media_type="text/plain")
        assert writer.index_pending() >= 1
    with ArtifactStore.open(data_dir) as reader:
        assert [artifact_id] == [h.artifact_id for h in reader.search("xylophone")]
        assert reader.index_pending() == 0


def test_bad_query_syntax_is_a_usage_error(store: ArtifactStore) -> None:
    store.store(b"x", media_type="text/plain")
    with pytest.raises(UsageError):
        store.search('unbalanced "quote')


def test_text_is_stemmed(store: ArtifactStore) -> None:
    artifact_id = store.store(b"running checkpoints", media_type="text/plain")
    assert [artifact_id] == [h.artifact_id for h in store.search("checkpoint run")]


# ---------------------------------------------------------------------- the wire


def test_every_result_type_pickles() -> None:
    """Results cross process boundaries pickled; frozen slotted dataclasses must survive it."""
    values = [
        ArtifactInfo("a" * 64, "b" * 64, "n", "text/plain", 1, ("t",), 1.0, "r", "n", ("c" * 64,)),  # type: ignore[arg-type]
        LineageEntry("a" * 64, 1, "n", "text/plain", None, None),  # type: ignore[arg-type]
        SearchHit("a" * 64, 1.5, "n", "text/plain", 3, (), None, None),  # type: ignore[arg-type]
        VerifyReport(1, 2, 3, (IntegrityProblem("a", "c", "m"),)),
        DeleteReport("a" * 64, True, ("b" * 64,)),  # type: ignore[arg-type]
        GcReport(1, 2, 3),
        StoreStats(1, 2, 3, 4, 5, 6),
    ]
    for value in values:
        assert value == pickle.loads(pickle.dumps(value))


def test_a_changed_byte_that_decodes_the_same_is_still_found_by_verify(store: ArtifactStore) -> None:
    """zstd ignores one header bit: retrieve still returns the right bytes, verify's seal check flags the chunk."""
    artifact_id = store.store(b"all work and no play\n" * 3000)
    chunk = _chunks_of(store, artifact_id)[0]
    with _sql(store) as con:
        (data,) = con.execute("SELECT data FROM chunks WHERE hash=?", (chunk,)).fetchone()
        assert data[:4] == b"\x28\xb5\x2f\xfd"  # a zstd frame
        con.execute("UPDATE chunks SET data=? WHERE hash=?", (data[:4] + bytes([data[4] ^ 0x10]) + data[5:], chunk))
    assert store.retrieve(artifact_id) == b"all work and no play\n" * 3000
    assert [chunk.hex()] == [p.chunk for p in store.verify().problems]


def test_without_tantivy_search_says_how_to_get_it(store: ArtifactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """tantivy is the optional 'search' extra: without it only search fails, with a StorageError saying so."""
    import sys

    from symphony_actors.domain.errors import StorageError

    artifact_id = store.store(b"still stored", media_type="text/plain")
    monkeypatch.setitem(sys.modules, "tantivy", None)
    with pytest.raises(StorageError, match="search"):
        store.search("stored")
    assert store.retrieve(artifact_id) == b"still stored"


def test_a_search_applies_a_bounded_part_of_a_backlog(data_dir: Path) -> None:
    """Writers that never search leave a queue; one search applies at most search_flush_docs of it."""
    with ArtifactStore.open(data_dir, search_flush_docs=2) as store:
        for i in range(5):
            store.store(f"backlog item {i}".encode(), media_type="text/plain")
        store.search("backlog")
        assert store.index_pending() == 3
        assert store.flush_index(max_docs=2) == 2
        assert store.flush_index() == 1
        assert len(store.search("backlog")) == 5
