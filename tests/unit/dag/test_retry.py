"""Retry and re-execute (RunWorkflow.retry) against the in-process tracker: only the failed part runs again,
``from_node`` re-runs a node and what is downstream of it, reuse holds across map, branch and join."""

from __future__ import annotations

from pathlib import Path

import pytest

from symphony_actors.domain.errors import ConflictError, NotFoundError, UsageError
from symphony_actors.domain.workflow import RetryPolicy, Workflow, field
from symphony_actors.pit.dag.usecase import RunWorkflow
from symphony_actors.testing.callables import allow_callables
from symphony_actors.testing.fake_dag import FakeDag


@pytest.fixture(scope="module", autouse=True)
def _allowed_callables():
    """Workflows are data: the builtin.call nodes of these tests call test callables, allowed here."""
    with allow_callables():
        yield

READ = {"callable": "symphony_actors.testing.services:read_number"}


@pytest.fixture
def dag():
    d = FakeDag()
    yield d
    d.close()


def counted(log: Path) -> list[tuple[str, str]]:
    """(run, node) of every execution ``builtin.count`` recorded, item lines folded into the node."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [(ln.split()[0], ln.split()[1]) for ln in lines]


def chain(log: Path, number: Path) -> Workflow:
    return (Workflow.build("chain")
            .operator("a", "builtin.count", params={"path": str(log)})
            .operator("b", "builtin.call", params={**READ, "kwargs": {"path": str(number)}}, outputs={"out": "any"})
            .operator("c", "builtin.count", params={"path": str(log)}, inputs={"in": "any"}, outputs={"out": "any"})
            .after("a", "b").connect("b", "c").build())


def test_retry_reruns_only_the_failed_part_after_its_cause_is_fixed(dag, tmp_path):
    log, number = tmp_path / "count.log", tmp_path / "number.txt"
    number.write_text("not a number")
    uc = RunWorkflow(dag, artifacts=dag.artifacts)
    first = uc.start(chain(log, number))["run_id"]
    snap = dag.wait(first)
    assert snap["status"] == "failed"
    assert counted(log) == [(first, "a")]
    number.write_text("41")
    retried = uc.retry(first)
    second = retried["run_id"]
    assert retried["retry_of"] == first and retried["reused"] == ["a"] and retried["rerun"] == ["b", "c"]
    assert dag.wait(second)["status"] == "succeeded"
    assert dag.result(second, "c") == 41.0
    assert counted(log) == [(first, "a"), (second, "c")]  # a was not executed again
    status = dag.status(second, nodes=True)
    assert status["retry_of"] == {"run_id": first, "from_node": None} and status["reused"] == ["a"]
    with pytest.raises(UsageError, match="nothing failed"):
        uc.retry(second)


def test_retry_from_a_node_reruns_it_and_everything_downstream(dag, tmp_path):
    log, number = tmp_path / "count.log", tmp_path / "number.txt"
    number.write_text("1")
    uc = RunWorkflow(dag, artifacts=dag.artifacts)
    first = uc.start(chain(log, number))["run_id"]
    assert dag.wait(first)["status"] == "succeeded"
    number.write_text("2")
    again = uc.retry(first, from_node="b")
    assert again["reused"] == ["a"] and again["rerun"] == ["b", "c"]
    assert dag.wait(again["run_id"])["status"] == "succeeded"
    assert dag.result(again["run_id"], "c") == 2.0
    assert [n for r, n in counted(log) if r == again["run_id"]] == ["c"]
    with pytest.raises(NotFoundError, match="no node 'zz'"):
        uc.retry(first, from_node="zz")


def routed(log: Path, number: Path) -> Workflow:
    return (Workflow.build("routed")
            .operator("src", "builtin.const", params={"value": [1, 2, 3]}, outputs={"out": "any"})
            .map("each", max_items=10).connect("src", "each")
            .operator("m", "builtin.count", params={"path": str(log)}, inputs={"in": "any"}, outputs={"out": "any"})
            .connect("each", "m")
            .operator("score", "builtin.const", params={"value": {"score": 0.2, "nested": {"k": [1]}}},
                      outputs={"out": "any"})
            .branch("gate").connect("score", "gate")
            .operator("high", "builtin.count", params={"path": str(log)})
            .operator("low", "builtin.count", params={"path": str(log)})
            .when("gate", "high", field("score") >= 0.5).when("gate", "low", field("score") < 0.5)
            .join("j").after("high", "j").after("low", "j")
            .operator("fin", "builtin.call", params={**READ, "kwargs": {"path": str(number)}},
                      inputs={"m": "any"}, outputs={"out": "any"})
            .connect("m", "fin.m").after("j", "fin").build())


def test_reuse_holds_across_map_branch_and_join(dag, tmp_path):
    log, number = tmp_path / "count.log", tmp_path / "number.txt"
    number.write_text("nope")
    uc = RunWorkflow(dag, artifacts=dag.artifacts)
    first = uc.start(routed(log, number))["run_id"]
    assert dag.wait(first)["status"] == "failed"
    before = counted(log)
    assert sorted(n for _, n in before) == ["low", "m", "m", "m"]
    number.write_text("7")
    retried = uc.retry(first)
    assert retried["rerun"] == ["high", "fin"] or sorted(retried["rerun"]) == ["fin", "high"]
    snap = dag.wait(retried["run_id"])
    assert snap["status"] == "succeeded", snap
    assert counted(log) == before  # neither the mapped node nor the taken branch ran again
    nodes = {n: v["status"] for n, v in dag.status(retried["run_id"], nodes=True)["nodes"].items()}
    assert nodes["high"] == "skipped" and nodes["low"] == "succeeded" and nodes["fin"] == "succeeded"
    assert dag.result(retried["run_id"], "fin") == 7.0
    assert dag.result(retried["run_id"], "m") == [1, 2, 3]
    # Results are plain data, not the workflow's read-only mappings and tuples.
    score = dag.result(retried["run_id"], "score")
    assert type(score) is dict and type(score["nested"]) is dict and type(score["nested"]["k"]) is list
    # From the map: the map and its mapped node run again (3 items), the branch side does not.
    from_map = uc.retry(retried["run_id"], from_node="each")
    assert dag.wait(from_map["run_id"])["status"] == "succeeded"
    assert sorted(n for r, n in counted(log) if r == from_map["run_id"]) == ["m", "m", "m"]


def test_a_running_run_cannot_be_retried(dag):
    wf = (Workflow.build("slow")
          .operator("s", "builtin.fail", retry=RetryPolicy(retries=3, backoff_s=100.0)).build())
    uc = RunWorkflow(dag)
    rid = uc.start(wf)["run_id"]  # the first attempt failed; the next one waits 100 virtual seconds
    assert dag.status(rid)["status"] == "running"
    with pytest.raises(ConflictError, match="still running"):
        uc.retry(rid)
