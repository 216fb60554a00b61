"""Workflows on a real multiprocTCPBase system: the tracker, executors and artifact store as actor processes."""

from __future__ import annotations

import pytest

from symphony_actors.domain.errors import ValidationError
from symphony_actors.domain.workflow import RetryPolicy, Workflow, field, load_wfformat
from symphony_actors.testing.callables import allow_callables
from symphony_actors.testing.trees import dag_tree
from symphony_actors.testing.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def _allowed_callables():
    """Workflows are data: these tests' builtin.call nodes call the test services, allowed here."""
    with allow_callables():
        yield


@pytest.fixture(scope="module")
def sut(tmp_path_factory):
    # One system for the module (each test runs its own workflows); torn down and checked below.
    from tests.integration.conftest import SystemUnderTest, running_system

    with running_system(dag_tree(), tmp_path_factory.mktemp("dag")) as (system, client):
        s = SystemUnderTest(system)
        s.client.close()
        s.client = client
        yield s


def nodes(snap):
    return {n: v["status"] for n, v in snap["nodes"].items()}


def test_a_diamond_runs_through_executor_processes(sut):
    wf = (Workflow.build("diamond")
          .operator("a", "builtin.const", params={"value": "x"}, outputs={"out": "string"})
          .operator("b", "builtin.identity", inputs={"in": "string"}, outputs={"out": "string"})
          .operator("c", "builtin.hash", params={"rounds": 10}, inputs={"in": "string"}, outputs={"out": "string"})
          .operator("d", "builtin.identity", inputs={"l": "string", "r": "string"}, outputs={"out": "any"})
          .connect("a", "b").connect("a", "c").connect("b", "d.l").connect("c", "d.r").build())
    run = sut.client.run_workflow(wf)
    snap = run.wait(60)
    assert snap["status"] == "succeeded"
    out = run.result("d")
    assert out["l"] == "x" and len(out["r"]) == 64
    final = run.status(nodes=True)
    assert all(v["artifact"] for v in final["nodes"].values())  # every output recorded as an artifact
    lineage = sut.client.call("artifacts", "lineage", artifact_id=final["nodes"]["d"]["artifact"])
    assert lineage  # d's artifact knows what it was derived from


def test_conditional_branch_and_events_in_order(sut):
    wf = (Workflow.build("route")
          .operator("score", "builtin.const", params={"value": {"score": 0.2}}, outputs={"out": "any"})
          .branch("gate").connect("score", "gate")
          .operator("high", "builtin.noop").operator("low", "builtin.noop")
          .when("gate", "high", field("score") >= 0.5).when("gate", "low", field("score") < 0.5).build())
    run = sut.client.run_workflow(wf)
    events = list(run.events())
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["topic"].endswith(".finished")
    assert nodes(run.status(nodes=True)) == {"score": "succeeded", "gate": "succeeded", "high": "skipped",
                                             "low": "succeeded"}
    resumed = list(run.events(after=events[3]["seq"]))
    assert resumed == events[4:]


def test_fan_out_with_a_cap(sut):
    wf = (Workflow.build("fan").operator("src", "builtin.const", params={"value": list(range(30))},
                                         outputs={"out": "any"})
          .map("each", max_items=50, concurrency=4).connect("src", "each")
          .operator("sq", "builtin.call", params={"callable": "symphony_actors.testing.services:negate"},
                    inputs={"a": "any"})
          .connect("each", "sq.a").build())
    run = sut.client.run_workflow(wf)
    assert run.wait(60)["status"] == "succeeded"
    assert run.result("sq") == [-i for i in range(30)]


def test_retries_then_success_and_failure_skips_dependents(sut, tmp_path):
    retry = RetryPolicy(retries=2, backoff_s=0.05)
    wf = (Workflow.build("r")
          .operator("bad", "builtin.fail", retry=retry).operator("after_bad", "builtin.noop").after("bad", "after_bad")
          .operator("ok", "builtin.noop").build())
    run = sut.client.run_workflow(wf)
    snap = run.wait(60)
    assert snap["status"] == "failed"
    final = run.status(nodes=True)["nodes"]
    assert final["bad"]["status"] == "failed" and final["bad"]["attempts"] == 3
    assert final["after_bad"]["status"] == "skipped" and final["ok"]["status"] == "succeeded"
    retried = [e for e in run.events() if e["topic"].endswith(".node.retried")]
    assert len(retried) == 2


def test_a_timeout_fails_the_node(sut):
    wf = Workflow.build("t").operator("slow", "builtin.sleep", params={"seconds": 30}, timeout=0.3).build()
    run = sut.client.run_workflow(wf)
    snap = run.wait(30)
    err = run.status(nodes=True)["nodes"]["slow"]["error"]
    assert snap["status"] == "failed" and err["code"] == "deadline_exceeded"


def test_cancellation(sut):
    b = Workflow.build("long")
    for i in range(20):
        b = b.operator(f"s{i}", "builtin.sleep", params={"seconds": 0.2})
        if i:
            b = b.after(f"s{i - 1}", f"s{i}")
    run = sut.client.run_workflow(b.build())
    wait_for(lambda: run.status()["counts"].get("succeeded", 0) >= 1, what="first node done")
    assert run.cancel()["cancelled"]
    snap = run.wait(30)
    assert snap["status"] == "cancelled"
    assert snap["counts"].get("cancelled", 0) >= 15


def test_invalid_workflows_are_refused_with_every_problem(sut):
    bad = (Workflow.build("bad").operator("a", "builtin.noop").operator("b", "builtin.noop")
           .after("a", "b").after("b", "a").build(validate=False))
    with pytest.raises(ValidationError, match="cycle"):
        sut.client.run_workflow(bad)


def test_the_tracker_killed_mid_run_resumes_and_runs_every_node_exactly_once(sut, tmp_path):
    log = tmp_path / "ran.log"
    b = Workflow.build("chains")
    for c in range(4):
        for i in range(40):
            b = b.operator(f"c{c}n{i}", "builtin.count", params={"path": str(log)})
            if i:
                b = b.after(f"c{c}n{i - 1}", f"c{c}n{i}")
    run = sut.client.run_workflow(b.build())
    wait_for(lambda: run.status()["counts"].get("succeeded", 0) >= 20, what="some progress")
    old = sut.pids()["dag"]
    sut.client.kill("dag")
    wait_for(lambda: sut.node("dag")["pid"] not in (None, old) and sut.node("dag")["state"] == "running",
             what="tracker restarted")
    snap = run.wait(120)
    assert snap["status"] == "succeeded"
    ran = [line.split()[1] for line in log.read_text().splitlines()]
    assert len(ran) == 160 and len(set(ran)) == 160
    assert any(e["topic"].endswith(".resumed") for e in run.events())


def test_real_wfcommons_instances_run_with_noop_operators(sut, shared_data):
    for path in sorted((shared_data / "wfinstances").glob("*.json")):
        wf = load_wfformat(path)
        run = sut.client.run_workflow(wf)
        snap = run.wait(300)
        assert snap["status"] == "succeeded", (path.name, snap["counts"])
        assert snap["counts"] == {"succeeded": len(wf.nodes)}


def test_the_tracker_killed_while_results_stream_in_loses_nothing(sut, tmp_path):
    """Killed again and again with batches of results in flight: every node still runs exactly once."""
    import random

    log = tmp_path / "ran.log"
    rng = random.Random(7)
    b = Workflow.build("stream")
    n = 6000
    for i in range(n):
        b = b.operator(f"n{i}", "builtin.count", params={"path": str(log)})
    for i in range(1, n):
        if i % 3:
            b = b.after(f"n{rng.randrange(max(0, i - 50), i)}", f"n{i}")
    run = sut.client.run_workflow(b.build())
    for k in range(1, 5):  # several restarts in one run: what leaks per restart would add up and stall it
        wait_for(lambda k=k: run.status()["counts"].get("succeeded", 0) >= k * n // 6, timeout=60,
                 what=f"{k}/6 done")
        old = sut.pids()["dag"]
        sut.client.kill("dag")
        wait_for(lambda old=old: sut.node("dag")["pid"] not in (None, old), what="the tracker back")
    snap = run.wait(120)
    assert snap["status"] == "succeeded" and snap["counts"] == {"succeeded": n}
    ran = [line.split()[1] for line in log.read_text().splitlines()]
    assert len(ran) == n and len(set(ran)) == n
