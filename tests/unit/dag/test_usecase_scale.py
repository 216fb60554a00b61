"""RunWorkflow's planning and end-of-run steps stay linear: no per-node scan of the edges, no per-node call."""

from __future__ import annotations

from typing import Any

import pytest

from symphony_actors.domain.workflow import Workflow
from symphony_actors.pit.dag.usecase import RECORD_BATCH, RunWorkflow
from symphony_actors.testing.fake_dag import FakeDag
from symphony_actors.testing.fake_pit import FakeStale


def fan(n: int) -> Workflow:
    """A const source feeding ``n`` identity nodes, each feeding the next one's data input."""
    b = Workflow.build(f"fan{n}").operator("src", "builtin.const", params={"value": 1}, outputs={"out": "integer"})
    for i in range(n):
        b = b.operator(f"n{i}", "builtin.identity", inputs={"value": "integer"}, outputs={"out": "integer"})
        b = b.connect("src" if i == 0 else f"n{i - 1}", f"n{i}.value")
    return b.build()


class CountingStale(FakeStale):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def record(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("record")
        return super().record(**kwargs)

    def record_many(self, *, records: Any) -> dict[str, Any]:
        self.calls.append("record_many")
        return super().record_many(records=records)


def test_planning_and_finishing_never_scan_the_edges_per_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workflow.edges_into is a scan of every edge: calling it per node made _fresh O(N * E)."""
    def scan(self: Workflow, node_id: str) -> tuple[Any, ...]:
        raise AssertionError("edges_into called on the run's path (a scan of all edges per node)")

    monkeypatch.setattr(Workflow, "edges_into", scan)
    dag, stale = FakeDag(), CountingStale()
    try:
        uc = RunWorkflow(dag, stale=stale, artifacts=dag.artifacts)
        rid = uc.start(fan(30))["run_id"]
        assert dag.wait(rid)["status"] == "succeeded"
        assert uc.finish(rid)["recorded"] >= 1
        again = uc.start(fan(30))
        assert len(again["reused"]) == len(fan(30).nodes)
    finally:
        dag.close()


def test_lineage_goes_to_the_stale_manager_in_batches() -> None:
    """The end of a run records its lineage in ceil(N / RECORD_BATCH) calls, never one per node."""
    dag, stale = FakeDag(), CountingStale()
    try:
        uc = RunWorkflow(dag, stale=stale, artifacts=dag.artifacts)
        rid = uc.start(fan(40))["run_id"]
        assert dag.wait(rid)["status"] == "succeeded"
        recorded = uc.finish(rid)["recorded"]
        assert recorded >= 1
        assert stale.calls.count("record_many") == -(-recorded // RECORD_BATCH)
    finally:
        dag.close()
