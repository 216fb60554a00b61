"""What every StalePort does: fixtures give ``port`` (reclaiming by recorded sizes) and ``clock``."""

from __future__ import annotations

from typing import Any

import pytest

from symphony_actors.domain.errors import NotFoundError, UsageError
from symphony_actors.ports.pit import StalePort
from symphony_actors.testing.runtime import FakeClock


def chain(port: StalePort) -> None:
    """src -> a -> b -> c, and src -> d; e is unrelated."""
    port.record(artifact="a", node_type="parse", inputs=["src"], size_bytes=10)
    port.record(artifact="b", node_type="embed", inputs=["a"], params={"dim": 8}, size_bytes=20)
    port.record(artifact="c", node_type="summarize", inputs=["b"], extensions={"acme.llm": "1.0"}, size_bytes=30)
    port.record(artifact="d", node_type="count", inputs=["src"], files={"/data/x.csv": "h1"}, size_bytes=40)
    port.record(artifact="e", node_type="other", size_bytes=50)


class StaleContract:
    def test_invalidation_is_transitive_and_exact(self, port: StalePort) -> None:
        chain(port)
        out = port.mark_stale(artifacts=["a"], reason="edited")
        assert sorted(out["marked"]) == ["a", "b", "c"] and out["count"] == 3
        q = port.query(artifacts=["a", "b", "c", "d", "e"])
        assert {k: v["stale"] for k, v in q.items()} == {"a": True, "b": True, "c": True, "d": False, "e": False}

    def test_a_changed_external_input_invalidates_everything_derived(self, port: StalePort) -> None:
        chain(port)
        assert sorted(port.mark_stale(artifacts=["src"])["marked"]) == ["a", "b", "c", "d"]

    def test_marking_twice_marks_nothing_new(self, port: StalePort) -> None:
        chain(port)
        port.mark_stale(artifacts=["b"])
        assert port.mark_stale(artifacts=["a"])["marked"] == ["a"]

    def test_a_changed_file_invalidates_what_used_another_digest(self, port: StalePort) -> None:
        chain(port)
        assert port.file_changed(path="/data/x.csv", digest="h1")["count"] == 0
        assert port.file_changed(path="/data/x.csv", digest="h2")["marked"] == ["d"]

    def test_an_updated_extension_invalidates_its_outputs(self, port: StalePort) -> None:
        chain(port)
        assert port.extension_updated(extension="acme.llm", version="1.0")["count"] == 0
        assert port.extension_updated(extension="acme.llm", version="1.1")["marked"] == ["c"]

    def test_ttl_makes_an_artifact_and_its_descendants_stale(self, port: StalePort, clock: FakeClock) -> None:
        port.record(artifact="quote", node_type="fetch", ttl_s=60)
        port.record(artifact="report", node_type="render", inputs=["quote"])
        clock.advance(30)
        assert port.query(artifacts=["quote"])["quote"]["stale"] is False
        clock.advance(31)
        q = port.query(artifacts=["quote", "report"])
        assert q["quote"]["stale"] and q["report"]["stale"] and "ttl" in q["quote"]["reason"]

    def test_what_is_derived_from_a_stale_artifact_is_stale(self, port: StalePort) -> None:
        chain(port)
        port.mark_stale(artifacts=["b"])
        assert port.record(artifact="f", node_type="x", inputs=["b"])["stale"] is True

    def test_unknown_artifacts_are_reported_unknown(self, port: StalePort) -> None:
        assert port.query(artifacts=["zz"])["zz"] == {"known": False, "stale": False, "reason": "", "since": None}
        with pytest.raises(NotFoundError):
            port.lineage(artifact="zz")

    def test_lineage_shows_inputs_and_derived(self, port: StalePort) -> None:
        chain(port)
        lin = port.lineage(artifact="b")
        assert (lin["inputs"], lin["derived"], lin["params"], lin["node_type"]) == (["a"], ["c"], {"dim": 8}, "embed")

    def test_record_many_records_each_as_record_does(self, port: StalePort) -> None:
        got = port.record_many(records=[{"artifact": "a", "node_type": "load", "params": {"path": "p"}},
                                        {"artifact": "b", "node_type": "embed", "inputs": ["a"], "node": "n"}])
        assert [r["artifact"] for r in got["recorded"]] == ["a", "b"]
        assert port.lineage(artifact="a")["derived"] == ["b"]
        out = port.record_many(records=[{"artifact": "x", "node_type": "t", "inputs": ["x"], "node": "bad"},
                                        {"artifact": "c", "node_type": "t", "inputs": ["b"], "node": "ok"}])
        assert [r["artifact"] for r in out["recorded"]] == ["c"]  # a refused item does not stop the others
        assert [(r["node"], r["artifact"]) for r in out["refused"]] == [("bad", "x")]

    def test_bad_records_are_usage_errors(self, port: StalePort) -> None:
        with pytest.raises(UsageError):
            port.record(artifact="x", node_type="t", inputs=["x"])
        with pytest.raises(UsageError):
            port.record(artifact="x", node_type="t", ttl_s=0)

    def test_fresh_nodes_skips_what_is_unchanged(self, port: StalePort) -> None:
        """Like make: same type, params, inputs and versions -> fresh; a change re-runs it and its dependents."""
        port.record(artifact="A1", node_type="load", params={"path": "in"}, node="load")
        port.record(artifact="B1", node_type="clean", inputs=["A1"], params={"k": 1}, node="clean")
        port.record(artifact="C1", node_type="model", inputs=["B1"], extensions={"acme.llm": "1"}, node="model")
        nodes: list[dict[str, Any]] = [{"node": "load", "type": "load", "params": {"path": "in"}},
                 {"node": "clean", "type": "clean", "params": {"k": 1}, "deps": ["load"]},
                 {"node": "model", "type": "model", "deps": ["clean"], "extensions": {"acme.llm": "1"}}]
        out = port.fresh_nodes(nodes=nodes)
        assert out["fresh"] == {"load": "A1", "clean": "B1", "model": "C1"} and out["rerun"] == {}
        nodes[1] = {**nodes[1], "params": {"k": 2}}
        out = port.fresh_nodes(nodes=nodes)
        assert out["fresh"] == {"load": "A1"} and set(out["rerun"]) == {"clean", "model"}

    def test_fresh_nodes_reruns_stale_results_and_new_versions(self, port: StalePort) -> None:
        port.record(artifact="A1", node_type="load")
        port.record(artifact="C1", node_type="model", inputs=["A1"], extensions={"acme.llm": "1"})
        nodes: list[dict[str, Any]] = [
            {"node": "load", "type": "load"},
            {"node": "model", "type": "model", "deps": ["load"], "extensions": {"acme.llm": "2"}}]
        assert port.fresh_nodes(nodes=nodes)["rerun"].keys() == {"model"}
        port.mark_stale(artifacts=["A1"])
        assert port.fresh_nodes(nodes=nodes)["rerun"].keys() == {"load", "model"}

    def test_fresh_nodes_needs_dependencies_first(self, port: StalePort) -> None:
        with pytest.raises(UsageError):
            port.fresh_nodes(nodes=[{"node": "b", "type": "t", "deps": ["a"]}])

    def test_cleanup_reports_count_and_bytes(self, port: StalePort) -> None:
        chain(port)
        port.mark_stale(artifacts=["a"])
        dry = port.cleanup(dry_run=True)
        assert dry["count"] == 3 and sorted(dry["artifacts"]) == ["a", "b", "c"]
        assert port.query(artifacts=["a"])["a"]["known"] is True
        report = port.cleanup()
        assert (report["count"], report["bytes_freed"]) == (3, 60)
        assert port.stale() == []
        assert port.query(artifacts=["a"])["a"]["known"] is False
        assert port.cleanup()["count"] == 0
