"""The tracker's semantics, in-process: ordering, branches, joins, maps, retries, timeouts, cancel, recovery."""

from __future__ import annotations

import pytest

from symphony_actors.domain.errors import NotFoundError, UsageError, ValidationError
from symphony_actors.domain.workflow import RetryPolicy, Workflow, field


def states(snap):
    return {n: v["status"] for n, v in snap["nodes"].items()}


def diamond() -> Workflow:
    return (Workflow.build("diamond")
            .operator("a", "builtin.const", params={"value": 2}, outputs={"out": "integer"})
            .operator("b", "builtin.identity", inputs={"in": "integer"}, outputs={"out": "integer"})
            .operator("c", "builtin.identity", inputs={"in": "integer"}, outputs={"out": "integer"})
            .operator("d", "builtin.identity", inputs={"left": "integer", "right": "integer"},
                      outputs={"out": "any"})
            .connect("a", "b").connect("a", "c").connect("b", "d.left").connect("c", "d.right")
            .build(validate=False))


def test_a_diamond_runs_every_node_once_and_passes_data(tracker):
    snap = tracker.run(diamond())
    assert snap["status"] == "succeeded"
    assert set(states(snap).values()) == {"succeeded"}
    assert tracker.rt.call("dag", "result", run_id=snap["run_id"], node_id="d") == {"left": 2, "right": 2}


def test_events_have_per_run_sequence_numbers_and_resume_from_a_cursor(tracker):
    snap = tracker.run(diamond())
    rid = snap["run_id"]
    first = tracker.rt.call("dag", "events", run_id=rid, after=0, limit=5)
    assert [e["seq"] for e in first["events"]] == [1, 2, 3, 4, 5]
    rest = tracker.rt.call("dag", "events", run_id=rid, after=first["cursor"])
    seqs = [e["seq"] for e in first["events"] + rest["events"]]
    assert seqs == list(range(1, len(seqs) + 1)) and rest["done"]
    topics = [e["topic"].split(".", 2)[2] for e in first["events"] + rest["events"]]
    assert topics[:2] == ["queued", "started"] and topics[-1] == "finished"
    assert "node.started" in topics and "node.succeeded" in topics


def test_a_conditional_branch_runs_only_the_taken_path(tracker):
    wf = (Workflow.build("route")
          .operator("score", "builtin.const", params={"value": {"score": 0.9}}, outputs={"out": "any"})
          .branch("gate").connect("score", "gate")
          .operator("high", "builtin.noop").operator("low", "builtin.noop")
          .when("gate", "high", field("score") >= 0.5).when("gate", "low", field("score") < 0.5)
          .join("merge", "all").after("high", "merge").after("low", "merge")
          .build(validate=False))
    snap = tracker.run(wf)
    assert states(snap) == {"score": "succeeded", "gate": "succeeded", "high": "succeeded", "low": "skipped",
                            "merge": "succeeded"}
    assert snap["status"] == "succeeded"


def test_a_failing_node_fails_the_run_and_skips_its_dependents(tracker):
    wf = (Workflow.build("f").operator("a", "builtin.fail", params={"message": "nope"})
          .operator("b", "builtin.noop").after("a", "b")
          .operator("c", "builtin.noop").after("b", "c")
          .operator("side", "builtin.noop").build(validate=False))
    snap = tracker.run(wf)
    assert snap["status"] == "failed"
    assert states(snap) == {"a": "failed", "b": "skipped", "c": "skipped", "side": "succeeded"}
    assert snap["nodes"]["a"]["error"]["message"] == "nope"
    assert snap["error"]["failed_nodes"] == ["a"]


def test_retries_follow_the_policy_with_backoff(tracker):
    wf = (Workflow.build("r").add(_node("flaky", "builtin.fail", {"probability": 1.0},
                                        RetryPolicy(retries=2, backoff_s=1.0))).build(validate=False))
    rid = tracker.rt.call("dag", "submit", workflow=wf)
    tracker.settle()
    assert tracker.rt.call("dag", "status", run_id=rid)["counts"] == {"retrying": 1}
    tracker.rt.advance(0.9)
    tracker.settle()
    assert not tracker.rt.call("dag", "status", run_id=rid)["finished"]
    for _ in range(3):
        tracker.rt.advance(2.0)
        tracker.settle()
    snap = tracker.rt.call("dag", "status", run_id=rid, nodes=True)
    assert snap["status"] == "failed" and snap["nodes"]["flaky"]["attempts"] == 3
    retried = [e for e in tracker.rt.call("dag", "events", run_id=rid)["events"] if e["topic"].endswith("retried")]
    assert [e["payload"]["attempt"] for e in retried] == [1, 2]


def test_misuse_errors_are_not_retried_by_default(tracker):
    wf = (Workflow.build("m").add(_node("x", "builtin.sleep", {"seconds": -1}, RetryPolicy(retries=3)))
          .build(validate=False))
    snap = tracker.run(wf)
    assert snap["nodes"]["x"]["attempts"] == 1 and snap["status"] == "failed"


def test_a_map_fans_out_within_its_cap_and_collects_results_in_order(tracker):
    wf = (Workflow.build("m")
          .operator("src", "builtin.const", params={"value": [1, 2, 3, 4, 5]}, outputs={"out": "any"})
          .map("fan", max_items=10, concurrency=2).connect("src", "fan")
          .operator("each", "builtin.identity", inputs={"in": "any"}).connect("fan", "each")
          .build(validate=False))
    snap = tracker.run(wf)
    assert snap["status"] == "succeeded"
    assert tracker.rt.call("dag", "result", run_id=snap["run_id"], node_id="each") == [1, 2, 3, 4, 5]


def test_a_map_over_its_cap_fails_with_the_counts(tracker):
    wf = (Workflow.build("m")
          .operator("src", "builtin.const", params={"value": list(range(20))}, outputs={"out": "any"})
          .map("fan", max_items=10).connect("src", "fan")
          .operator("each", "builtin.identity", inputs={"in": "any"}).connect("fan", "each").build(validate=False))
    snap = tracker.run(wf)
    assert snap["nodes"]["fan"]["error"]["message"] == "map 'fan' got 20 items, more than its cap of 10"
    assert states(snap)["each"] == "skipped"


def test_join_any_runs_at_the_first_finished_upstream(tracker):
    wf = (Workflow.build("j").operator("fast", "builtin.const", params={"value": 1}, outputs={"out": "any"})
          .operator("broken", "builtin.fail", outputs={"out": "any"})
          .join("first", "any").connect("fast", "first").connect("broken", "first").build(validate=False))
    snap = tracker.run(wf)
    assert states(snap)["first"] == "succeeded"


def test_cancel_stops_dispatch_and_marks_the_rest_cancelled(tracker):
    wf = (Workflow.build("c").operator("a", "builtin.noop").operator("b", "builtin.noop").after("a", "b")
          .build(validate=False))
    rid = tracker.rt.call("dag", "submit", workflow=wf)
    out = tracker.rt.call("dag", "cancel", run_id=rid)
    assert out["cancelled"]
    tracker.settle()
    snap = tracker.rt.call("dag", "status", run_id=rid, nodes=True)
    assert snap["status"] == "cancelled"
    assert states(snap) == {"a": "cancelled", "b": "cancelled"}


def test_templates_are_instantiated_with_params_and_bad_params_are_refused(tracker):
    from symphony_actors.domain.workflow import Param, ParamSchema, ParamType, Template, ref

    body = Workflow.build("t").operator("v", "builtin.const", params={"value": ref("x")}).build(validate=False)
    tpl = Template("t", body, ParamSchema.of(Param("x", ParamType.INTEGER, default=3)))
    snap = tracker.run(tpl, params={"x": 7})
    assert tracker.rt.call("dag", "result", run_id=snap["run_id"], node_id="v") == 7
    with pytest.raises(ValidationError):
        tracker.rt.call("dag", "submit", workflow=tpl, params={"x": "seven"})


def test_invalid_workflows_and_unknown_runs_are_typed_errors(tracker):
    bad = Workflow.build("bad").operator("a", "builtin.noop").operator("b", "builtin.noop")
    bad = bad.after("a", "b").after("b", "a").build(validate=False)
    with pytest.raises(ValidationError, match="cycle"):
        tracker.rt.call("dag", "submit", workflow=bad)
    with pytest.raises(NotFoundError):
        tracker.rt.call("dag", "status", run_id="run-nope")
    with pytest.raises(UsageError):
        tracker.rt.call("dag", "submit", workflow=12)


def test_a_restarted_tracker_resumes_without_rerunning_finished_nodes(tracker, tmp_path):
    log = tmp_path / "count.log"
    b = Workflow.build("chain")
    for i in range(6):
        b = b.operator(f"n{i}", "builtin.count", params={"path": str(log)})
        if i:
            b = b.after(f"n{i - 1}", f"n{i}")
    wf = b.build(validate=False)
    rid = tracker.rt.call("dag", "submit", workflow=wf)
    # Let three nodes finish, then "crash" the tracker between results.
    for _ in range(200):
        if tracker.rt.call("dag", "status", run_id=rid)["counts"].get("succeeded", 0) >= 3:
            break
        tracker.rt.advance(0)
    tracker.restart()
    tracker.settle()
    snap = tracker.rt.call("dag", "status", run_id=rid, nodes=True)
    assert snap["status"] == "succeeded"
    ran = [line.split()[1] for line in log.read_text().splitlines()]
    assert sorted(ran) == [f"n{i}" for i in range(6)]  # each exactly once


def _node(nid, type_, params, retry):
    from symphony_actors.domain.workflow import Node, NodeKind

    return Node.make(nid, NodeKind.OPERATOR, type_, params=params, retry=retry)
