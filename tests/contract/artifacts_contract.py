"""The ArtifactPort contract: every implementation (fake, store, service, client) must pass these."""

from __future__ import annotations

import os

import blake3
import pytest

from symphony_actors.domain.errors import ConflictError, IntegrityError, NotFoundError, UsageError
from symphony_actors.ports.artifacts import MAX_PART_BYTES, ArtifactPort

__all__ = ["ArtifactContract"]


class ArtifactContract:
    """Behaviour of ArtifactPort; subclasses provide a ``port`` fixture."""

    # ------------------------------------------------------------------ store and retrieve
    def test_retrieve_returns_what_was_stored(self, port: ArtifactPort) -> None:
        """Bytes come back unchanged, empty ones included."""
        for data in (b"", b"x", b"hello world" * 1000, os.urandom(70_000)):
            assert data == port.retrieve(port.store(data))

    def test_payloads_above_one_part_round_trip(self, port: ArtifactPort) -> None:
        """An artifact larger than one message part is stored and read back whole."""
        data = os.urandom(MAX_PART_BYTES * 2 + 12345)
        artifact_id = port.store(data, name="big.bin")
        assert data == port.retrieve(artifact_id)
        assert len(data) == port.info(artifact_id).size

    def test_storing_twice_gives_the_same_id(self, port: ArtifactPort) -> None:
        """Same bytes, same provenance: same id, and still one artifact."""
        first = port.store(b"same", name="a.txt", media_type="text/plain", run_id="r1", node_id="n1")
        second = port.store(b"same", name="a.txt", media_type="text/plain", run_id="r1", node_id="n1")
        assert first == second
        assert port.stats().artifacts == 1

    def test_provenance_is_part_of_identity_but_bytes_are_shared(self, port: ArtifactPort) -> None:
        """The same bytes from another node get another id and the same digest."""
        a = port.store(b"output", run_id="r1", node_id="n1")
        b = port.store(b"output", run_id="r1", node_id="n2")
        assert a != b
        assert port.info(a).digest == port.info(b).digest == blake3.blake3(b"output").hexdigest()
        stats = port.stats()
        assert (stats.artifacts, stats.logical_bytes, stats.unique_bytes) == (2, 12, 6)
        assert stats.dedup_ratio == 2.0

    def test_info_describes_the_artifact(self, port: ArtifactPort) -> None:
        """info returns name, media type, size, sorted tags, producer and parents."""
        parent = port.store(b"in", name="in.txt", media_type="text/plain")
        artifact_id = port.store(b"out!", name="out.json", media_type="application/json", tags=["b", "a"],
                                 run_id="run-1", node_id="node-7", parents=[parent])
        info = port.info(artifact_id)
        assert artifact_id == info.artifact_id
        assert (info.name, info.media_type, info.size, info.tags) == ("out.json", "application/json", 4, ("a", "b"))
        assert ("run-1", "node-7", (parent,)) == (info.run_id, info.node_id, info.parents)
        assert info.created > 0

    def test_storing_again_with_new_tags_adds_them(self, port: ArtifactPort) -> None:
        """Tags are labels, not identity."""
        first = port.store(b"tagged", tags=["one"])
        second = port.store(b"tagged", tags=["two"])
        assert first == second
        assert port.info(first).tags == ("one", "two")

    def test_unknown_ids_are_not_found(self, port: ArtifactPort) -> None:
        """Every method naming an artifact raises NotFoundError for one that does not exist."""
        missing = "0" * 64
        for call in (lambda: port.retrieve(missing), lambda: port.info(missing), lambda: port.delete(missing),
                     lambda: port.lineage(missing), lambda: port.read_range(missing, offset=0, length=1),
                     lambda: port.verify(missing)):
            with pytest.raises(NotFoundError):
                call()

    def test_parents_must_exist(self, port: ArtifactPort) -> None:
        """A parent that is not stored is refused and nothing is stored."""
        with pytest.raises(NotFoundError):
            port.store(b"child", parents=["f" * 64])
        assert port.stats().artifacts == 0

    @pytest.mark.parametrize("kwargs", [{"media_type": "not a type"}, {"tags": ["has space"]}, {"tags": "str"},
                                        {"tags": [""]}, {"run_id": ""}, {"parents": "abc"}])
    def test_bad_arguments_are_usage_errors(self, port: ArtifactPort, kwargs: dict[str, object]) -> None:
        """Malformed media types, tags, producers and parents are refused."""
        with pytest.raises(UsageError):
            port.store(b"x", **kwargs)  # type: ignore[arg-type]

    def test_read_range_reads_a_slice(self, port: ArtifactPort) -> None:
        """Ranges inside, across the end and past the end of an artifact."""
        data = os.urandom(100_000)
        artifact_id = port.store(data)
        assert data[5000:25000] == port.read_range(artifact_id, offset=5000, length=20000)
        assert data[99_990:] == port.read_range(artifact_id, offset=99_990, length=100)
        assert port.read_range(artifact_id, offset=100_000, length=10) == b""
        with pytest.raises(UsageError):
            port.read_range(artifact_id, offset=0, length=MAX_PART_BYTES + 1)
        with pytest.raises(UsageError):
            port.read_range(artifact_id, offset=-1, length=1)

    # ------------------------------------------------------------------ lineage and listing
    def _diamond(self, port: ArtifactPort) -> tuple[str, str, str, str]:
        """root -> left, right -> join."""
        root = port.store(b"root", name="root", run_id="r", node_id="load")
        left = port.store(b"left", name="left", run_id="r", node_id="l", parents=[root])
        right = port.store(b"right", name="right", run_id="r", node_id="rt", parents=[root])
        join = port.store(b"join", name="join", run_id="r", node_id="j", parents=[left, right])
        return root, left, right, join

    def test_ancestors_are_listed_nearest_first_each_once(self, port: ArtifactPort) -> None:
        """A diamond's root appears once, at depth 2."""
        root, left, right, join = self._diamond(port)
        entries = port.lineage(join, direction="ancestors")
        assert {(left, 1), (right, 1), (root, 2)} == {(e.artifact_id, e.depth) for e in entries}
        assert [e.depth for e in entries] == [1, 1, 2]
        assert {"load", "l", "rt"} == {e.node_id for e in entries}

    def test_descendants_and_max_depth(self, port: ArtifactPort) -> None:
        """Descendants follow edges the other way; max_depth stops the walk."""
        root, left, right, join = self._diamond(port)
        assert {left, right, join} == {e.artifact_id for e in port.lineage(root, direction="descendants")}
        assert {left, right} == {e.artifact_id for e in port.lineage(root, direction="descendants", max_depth=1)}
        assert port.lineage(join, direction="descendants") == []
        with pytest.raises(UsageError):
            port.lineage(root, direction="sideways")  # type: ignore[arg-type]

    def test_list_filters_by_tag_run_name_and_media_type(self, port: ArtifactPort) -> None:
        """Each filter narrows the listing; filters combine."""
        a = port.store(b"a", name="a.py", media_type="text/x-python", tags=["src"], run_id="r1")
        b = port.store(b"b", name="b.md", media_type="text/markdown", tags=["doc"], run_id="r1")
        c = port.store(b"c", name="c.bin", tags=["src"], run_id="r2")
        assert {a, b, c} == {i.artifact_id for i in port.list()}
        assert {a, c} == {i.artifact_id for i in port.list(tag="src")}
        assert {a, b} == {i.artifact_id for i in port.list(run_id="r1")}
        assert {a} == {i.artifact_id for i in port.list(tag="src", run_id="r1")}
        assert {a} == {i.artifact_id for i in port.list(name="*.py")}
        assert {a, b} == {i.artifact_id for i in port.list(media_type="text/*")}
        assert len(port.list(limit=2)) == 2

    # ------------------------------------------------------------------ delete and gc
    def test_delete_of_a_parent_is_refused_unless_forced(self, port: ArtifactPort) -> None:
        """Others depend on it: ConflictError; with force it goes and the children are named."""
        root, left, right, join = self._diamond(port)
        with pytest.raises(ConflictError):
            port.delete(root)
        assert port.retrieve(root) == b"root"
        report = port.delete(root, force=True)
        assert report.forced and {left, right} == set(report.unlinked_children)
        with pytest.raises(NotFoundError):
            port.retrieve(root)
        assert {left, right} == {e.artifact_id for e in port.lineage(join)}

    def test_delete_then_gc_frees_unshared_bytes_only(self, port: ArtifactPort) -> None:
        """Bytes another artifact still has survive gc; bytes nobody has are freed and reported."""
        shared = os.urandom(50_000)
        keep = port.store(shared, name="keep")
        drop_shared = port.store(shared, name="drop")
        drop_own = port.store(os.urandom(40_000), name="own")
        port.delete(drop_shared)
        port.delete(drop_own)
        report = port.gc()
        assert report.bytes_freed >= 40_000
        assert shared == port.retrieve(keep)
        assert port.gc().bytes_freed == 0
        assert port.verify().ok

    # ------------------------------------------------------------------ search
    def test_search_ranks_text_by_relevance(self, port: ArtifactPort) -> None:
        """The document that is more about the term ranks first; unrelated ones do not match."""
        filler = " lorem ipsum dolor sit amet" * 20
        few = port.store(("pelican " + filler).encode(), name="few.txt", media_type="text/plain")
        many = port.store(("pelican " * 8 + filler).encode(), name="many.txt", media_type="text/plain")
        port.store(filler.encode(), name="none.txt", media_type="text/plain")
        hits = port.search("pelican")
        assert [many, few] == [h.artifact_id for h in hits]
        assert hits[0].score > hits[1].score

    def test_search_covers_metadata_of_binary_artifacts(self, port: ArtifactPort) -> None:
        """Names and tags are searchable even when the contents are not text."""
        artifact_id = port.store(os.urandom(100), name="weights-flamingo.bin", tags=["checkpoint"])
        assert [artifact_id] == [h.artifact_id for h in port.search("checkpoint")]

    def test_search_filters(self, port: ArtifactPort) -> None:
        """media type (exact or major/*), tag and run narrow the hits."""
        a = port.store(b"quartz report", name="a", media_type="text/plain", tags=["t1"], run_id="r1")
        b = port.store(b'{"quartz": 1}', name="b", media_type="application/json", tags=["t2"], run_id="r2")
        assert {a, b} == {h.artifact_id for h in port.search("quartz")}
        assert [a] == [h.artifact_id for h in port.search("quartz", media_type="text/*")]
        assert [b] == [h.artifact_id for h in port.search("quartz", media_type="application/json")]
        assert [b] == [h.artifact_id for h in port.search("quartz", tag="t2")]
        assert [a] == [h.artifact_id for h in port.search("quartz", run_id="r1")]

    def test_deleted_artifacts_leave_search(self, port: ArtifactPort) -> None:
        """A search after a delete does not return the deleted artifact."""
        artifact_id = port.store(b"ephemeral zebra", media_type="text/plain")
        assert [artifact_id] == [h.artifact_id for h in port.search("zebra")]
        port.delete(artifact_id)
        assert port.search("zebra") == []

    def test_empty_query_is_a_usage_error(self, port: ArtifactPort) -> None:
        with pytest.raises(UsageError):
            port.search("  ")

    # ------------------------------------------------------------------ verify and stats
    def test_verify_reports_a_healthy_store(self, port: ArtifactPort) -> None:
        """Whole-store and single-artifact checks pass and count what they checked."""
        artifact_id = port.store(os.urandom(30_000))
        port.store(b"second")
        report = port.verify()
        assert report.ok and report.artifacts_checked == 2 and report.bytes_checked >= 30_006
        assert port.verify(artifact_id).ok

    def test_stats_count_logical_bytes(self, port: ArtifactPort) -> None:
        """Logical bytes sum every artifact; unique bytes count shared bytes once."""
        data = os.urandom(20_000)
        port.store(data, name="one")
        port.store(data, name="two")
        stats = port.stats()
        assert (stats.artifacts, stats.logical_bytes, stats.unique_bytes) == (2, 40_000, 20_000)
        assert stats.stored_bytes > 0


def assert_integrity_error_names(exc: IntegrityError, artifact_id: str) -> None:
    """An integrity error names the artifact (and, where one is to blame, the chunk)."""
    assert artifact_id in exc.message
    assert artifact_id == exc.details.get("artifact_id")
