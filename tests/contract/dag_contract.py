"""What every DagPort implementation must do (run against the fake, in-process, and a real system)."""

from __future__ import annotations

import pytest

from symphony_actors.domain.errors import NotFoundError, ValidationError
from symphony_actors.domain.workflow import Param, ParamSchema, ParamType, RetryPolicy, Template, Workflow, ref
from symphony_actors.ports.dag import DagPort


def diamond() -> Workflow:
    return (Workflow.build("diamond")
            .operator("a", "builtin.const", params={"value": 5}, outputs={"out": "integer"})
            .operator("b", "builtin.identity", inputs={"in": "integer"}, outputs={"out": "integer"})
            .operator("c", "builtin.identity", inputs={"in": "integer"}, outputs={"out": "integer"})
            .join("d", "all").connect("b", "d").connect("c", "d").connect("a", "b").connect("a", "c")
            .build())


class DagContract:
    def test_is_a_dag_port(self, port: DagPort) -> None:
        assert isinstance(port, DagPort)

    def test_a_submitted_workflow_runs_to_success(self, port: DagPort) -> None:
        rid = port.submit(diamond())
        snap = port.wait(rid, 60)
        assert snap["status"] == "succeeded" and snap["finished"]
        assert port.result(rid, "d") == [5, 5]
        nodes = port.status(rid, nodes=True)["nodes"]
        assert {n: v["status"] for n, v in nodes.items()} == dict.fromkeys("abcd", "succeeded")

    def test_results_are_plain_data(self, port: DagPort) -> None:
        wf = Workflow.build("p").operator("a", "builtin.const", params={"value": {"k": {"l": [1, {"m": 2}]}}}).build()
        rid = port.submit(wf)
        port.wait(rid, 60)
        value = port.result(rid, "a")
        assert value == {"k": {"l": [1, {"m": 2}]}}
        assert type(value) is dict and type(value["k"]) is dict and type(value["k"]["l"]) is list

    def test_the_outcome_of_a_run_and_a_linked_resubmission(self, port: DagPort) -> None:
        rid = port.submit(diamond())
        port.wait(rid, 60)
        out = port.outcome(rid)
        assert out["status"] == "succeeded" and isinstance(out["workflow"], bytes)
        assert {n: v["status"] for n, v in out["nodes"].items()} == dict.fromkeys("abcd", "succeeded")
        assert out["nodes"]["a"]["result"] == 5 and out["nodes"]["a"]["artifact"]
        reuse = {n: {"artifact": out["nodes"][n]["artifact"], "value": out["nodes"][n]["result"]} for n in "abc"}
        again = port.submit(out["workflow"], reuse=reuse, retry_of={"run_id": rid, "from_node": "d"})
        snap = port.wait(again, 60)
        assert snap["status"] == "succeeded" and port.result(again, "d") == [5, 5]
        status = port.status(again, nodes=True)
        assert status["retry_of"] == {"run_id": rid, "from_node": "d"} and status["reused"] == ["a", "b", "c"]
        with pytest.raises(NotFoundError):
            port.outcome("no-such-run")
    def test_a_held_run_is_queued_then_starts_under_its_id_or_is_cancelled(self, port: DagPort) -> None:
        from symphony_actors.domain.errors import ConflictError
        from symphony_actors.domain.ids import new_run_id

        held = port.submit(diamond(), run_id=new_run_id(), hold=True)
        assert port.status(held)["status"] == "queued"
        assert held in [r["run_id"] for r in port.list_runs(limit=10) if r["status"] == "queued"]
        assert port.submit(diamond(), run_id=held) == held
        assert port.wait(held, 60)["status"] == "succeeded"
        dropped = port.submit(diamond(), run_id=new_run_id(), hold=True)
        assert port.cancel(dropped)["cancelled"]
        assert port.status(dropped)["status"] == "cancelled"
        with pytest.raises(ConflictError):
            port.submit(diamond(), run_id=dropped)

    def test_events_are_numbered_and_resumable(self, port: DagPort) -> None:
        rid = port.submit(diamond())
        port.wait(rid, 60)
        page = port.events(rid, after=0, limit=3)
        assert [e["seq"] for e in page["events"]] == [1, 2, 3]
        rest = port.events(rid, after=page["cursor"], limit=1000)
        seqs = [e["seq"] for e in page["events"] + rest["events"]]
        assert seqs == list(range(1, len(seqs) + 1))
        assert rest["done"] and rest["events"][-1]["topic"] == f"run.{rid}.finished"

    def test_failures_follow_the_retry_policy_and_skip_dependents(self, port: DagPort) -> None:
        wf = (Workflow.build("f").operator("x", "builtin.fail", retry=RetryPolicy(retries=1, backoff_s=0.01))
              .operator("y", "builtin.noop").after("x", "y").build())
        rid = port.submit(wf)
        snap = port.wait(rid, 60)
        nodes = port.status(rid, nodes=True)["nodes"]
        assert snap["status"] == "failed"
        assert nodes["x"]["attempts"] == 2 and nodes["y"]["status"] == "skipped"

    def test_templates_take_parameters(self, port: DagPort) -> None:
        body = Workflow.build("t").operator("v", "builtin.const", params={"value": ref("n")}).build(validate=False)
        tpl = Template("t", body, ParamSchema.of(Param("n", ParamType.INTEGER, default=1)))
        rid = port.submit(tpl, {"n": 42})
        port.wait(rid, 60)
        assert port.result(rid, "v") == 42

    def test_invalid_input_is_refused_with_every_problem(self, port: DagPort) -> None:
        from symphony_actors.domain.workflow import Edge

        bad = Workflow.build("bad").operator("a", "builtin.noop").build(validate=False)
        bad = bad.with_edges(Edge.control("a", "ghost"), Edge.control("ghost2", "a"))
        with pytest.raises(ValidationError, match="ghost"):
            port.submit(bad)

    def test_unknown_runs_are_not_found(self, port: DagPort) -> None:
        for call in (lambda: port.status("run-none"), lambda: port.events("run-none"),
                     lambda: port.cancel("run-none")):
            with pytest.raises(NotFoundError):
                call()

    def test_cancelling_a_finished_run_changes_nothing(self, port: DagPort) -> None:
        rid = port.submit(diamond())
        port.wait(rid, 60)
        out = port.cancel(rid)
        assert out["cancelled"] is False and port.status(rid)["status"] == "succeeded"

    def test_runs_are_listed_newest_first(self, port: DagPort) -> None:
        first = port.submit(diamond())
        second = port.submit(diamond())
        port.wait(second, 60)
        ids = [r["run_id"] for r in port.list_runs(10)]
        assert ids.index(second) < ids.index(first)
