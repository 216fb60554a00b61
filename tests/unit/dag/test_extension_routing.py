"""The tracker routes extension node types (``publisher.name/node``) to the extension's actor ``ext:<id>``."""

from __future__ import annotations

from typing import Any

from symphony_actors.domain.workflow import Workflow
from symphony_actors.pit.dag.engine import Task
from symphony_actors.pit.dag.service import extension_target
from tests.unit.dag.conftest import Tracker


class _FakeExtensionActor:
    """Answers run_batch like ext:<id> does: doubles ``x``, one on_results per task."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ctx: Any = None
        self.seen: list[str] = []

    def on_start(self, ctx: Any) -> None:
        self.ctx = ctx

    def run_batch(self, tasks: list[Task]) -> int:
        results = []
        for t in tasks:
            self.seen.append(t.type)
            results.append((t.run_id, t.node_id, t.item, t.attempt, True, t.inputs["x"] * 2, None, None, 0.0, 0.0))
        self.ctx.tell("dag", "on_results", executor=self.name, results=results)
        return len(tasks)


def test_extension_target_names_the_actor_only_for_extension_types() -> None:
    assert extension_target("symphony.chunk-text/chunk") == "ext:symphony.chunk-text"
    assert extension_target("builtin.const") is None
    assert extension_target("wfcommons.task/mProject") is None
    assert extension_target("symphony.chunk-text") is None
    assert extension_target("builtin.x/y") is None


def flow(node_type: str) -> Workflow:
    return (Workflow.build("ext")
            .operator("a", "builtin.const", params={"value": 21}, outputs={"out": "integer"})
            .operator("b", node_type, inputs={"x": "integer"}, outputs={"out": "integer"})
            .operator("c", "builtin.identity", inputs={"in": "integer"}, outputs={"out": "integer"})
            .connect("a", "b.x").connect("b", "c")
            .build(validate=False))


def test_extension_nodes_run_in_the_extension_actor_and_feed_downstream(tracker: Tracker) -> None:
    actor = _FakeExtensionActor("ext:me.double")
    tracker.rt.add_service("ext:me.double", actor)
    snap = tracker.run(flow("me.double/double"))
    assert snap["status"] == "succeeded"
    assert actor.seen == ["me.double/double"]
    assert tracker.rt.call("dag", "result", run_id=snap["run_id"], node_id="c") == 42
    assert tracker.dag.load["ext:me.double"] == 0            # its load is accounted for, then released
    assert all(tracker.dag.load[e] == 0 for e in tracker.dag.executors)


def test_a_node_of_an_extension_that_is_not_loaded_fails_with_not_found(tracker: Tracker) -> None:
    snap = tracker.run(flow("nobody.here/x"))
    assert snap["status"] == "failed"
    node = snap["nodes"]["b"]
    assert node["status"] == "failed"
    assert node["error"]["code"] == "not_found" and "nobody.here is not loaded" in node["error"]["message"]
    assert snap["nodes"]["c"]["status"] == "skipped"
    assert tracker.dag.load["ext:nobody.here"] == 0
