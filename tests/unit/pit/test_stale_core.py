"""Lineage: keys, re-recording, TTL by timer, persistence, reclaiming through an artifact store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from symphony_actors.domain.errors import NotFoundError
from symphony_actors.pit.stale.client import StaleClient
from symphony_actors.pit.stale.core import Lineage, derivation_key
from symphony_actors.pit.stale.reclaim import ArtifactStoreReclaimer
from symphony_actors.testing.runtime import FakeClock, LocalRuntime


def test_the_key_ignores_mapping_order_but_not_input_order() -> None:
    k1 = derivation_key("t", {"a": 1, "b": 2}, ["x", "y"], None, {"e": "1"})
    assert k1 == derivation_key("t", {"b": 2, "a": 1}, ["x", "y"], {}, {"e": "1"})
    assert k1 != derivation_key("t", {"a": 1, "b": 2}, ["y", "x"], None, {"e": "1"})
    assert k1 != derivation_key("t", {"a": 1, "b": 2}, ["x", "y"], None, {"e": "2"})


def test_re_recording_an_artifact_replaces_its_edges() -> None:
    lin = Lineage(FakeClock().time)
    lin.record("out", "t", inputs=["old"])
    lin.record("out", "t", inputs=["new"])
    assert lin.mark_stale(["old"])["marked"] == []
    assert lin.mark_stale(["new"])["marked"] == ["out"]


def test_fresh_nodes_accepts_external_input_artifacts() -> None:
    lin = Lineage(FakeClock().time)
    lin.record("emb-1", "embed", inputs=["doc-1"], params={"dim": 8})
    nodes = [{"node": "embed", "type": "embed", "inputs": ["doc-1"], "params": {"dim": 8}}]
    assert lin.fresh_nodes(nodes)["fresh"] == {"embed": "emb-1"}
    nodes[0]["inputs"] = ["doc-2"]
    assert lin.fresh_nodes(nodes)["fresh"] == {}


def test_ttl_expiry_is_announced_by_the_timer(data_dir: Path) -> None:
    rt = LocalRuntime(data_dir)
    rt.start("stale", "symphony_actors.pit.stale.service:build", clock=rt.clock.time, tick_interval_s=1.0)
    stale = StaleClient(rt)
    stale.record(artifact="quote", node_type="fetch", ttl_s=2.5)
    stale.record(artifact="chart", node_type="plot", inputs=["quote"])
    for _ in range(3):
        rt.advance(1.0)
    events = list(rt.events_matching("stale.marked"))
    assert len(events) == 1 and events[0].payload["count"] == 2 and events[0].payload["reason"] == "ttl expired"
    rt.close()


def test_lineage_and_staleness_survive_a_restart(data_dir: Path) -> None:
    rt = LocalRuntime(data_dir)
    rt.start("stale", "symphony_actors.pit.stale.service:build", clock=rt.clock.time)
    s = StaleClient(rt)
    s.record(artifact="a", node_type="t", inputs=["src"], size_bytes=7)
    s.record(artifact="b", node_type="t", inputs=["a"])
    s.record(artifact="c", node_type="t", inputs=["src2"])
    s.mark_stale(artifacts=["a"])
    s.record(artifact="gone", node_type="t")
    s.mark_stale(artifacts=["gone"])
    s.cleanup(limit=1)
    rt.close()
    rt2 = LocalRuntime(data_dir)
    rt2.start("stale", "symphony_actors.pit.stale.service:build", clock=rt2.clock.time)
    s2 = StaleClient(rt2)
    q = s2.query(artifacts=["a", "b", "c", "gone"])
    assert {k: (v["known"], v["stale"]) for k, v in q.items()} == {
        "a": (False, False), "b": (True, True), "c": (True, False), "gone": (True, True)}
    assert s2.mark_stale(artifacts=["src2"])["marked"] == ["c"]
    rt2.close()


class FakeStore:
    """The two calls of the artifact store a reclaimer uses."""

    def __init__(self) -> None:
        self.items = {"a": 100, "b": 250}
        self.pending = 0

    def delete(self, artifact_id: str, *, force: bool = False) -> dict[str, Any]:
        if artifact_id not in self.items:
            raise NotFoundError(artifact_id)
        self.pending += self.items.pop(artifact_id)
        return {"artifact_id": artifact_id, "forced": force}

    def gc(self) -> dict[str, int]:
        freed, self.pending = self.pending, 0
        return {"chunks_removed": 1, "bytes_freed": freed}


def test_cleanup_takes_bytes_freed_from_the_artifact_store() -> None:
    lin = Lineage(FakeClock().time)
    for a in ("a", "b", "c"):
        lin.record(a, "t", inputs=["src"])
    lin.mark_stale(["src"])
    report = lin.cleanup(ArtifactStoreReclaimer(FakeStore()))
    assert (report["count"], report["bytes_freed"]) == (3, 350)
