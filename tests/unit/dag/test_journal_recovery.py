"""The tracker answers from the executors' result journal instead of running a recorded task again;
runs held for admission (``hold=True``) are listed as queued, cancellable, and start when submitted again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from symphony_actors.domain.errors import ConflictError
from symphony_actors.domain.workflow import Workflow, dumps_binary
from symphony_actors.pit.dag.journal import ResultJournal
from symphony_actors.pit.dag.service import DagService
from symphony_actors.pit.dag.store import DagStore
from symphony_actors.ports.service import ServiceSettings
from symphony_actors.testing import LocalRuntime
from symphony_actors.testing.callables import allow_callables


@pytest.fixture(scope="module", autouse=True)
def _allowed_callables():
    """Workflows are data: the builtin.call nodes of these tests call test callables, allowed here."""
    with allow_callables("symphony_actors.pit.dag.operators:idempotency_key"):
        yield


def chain(log: Path, n: int = 3) -> Workflow:
    b = Workflow.build("chain")
    for i in range(n):
        b = b.operator(f"n{i}", "builtin.count", params={"path": str(log)})
        if i:
            b = b.after(f"n{i - 1}", f"n{i}")
    return b.build(validate=False)


def ran(log: Path) -> list[str]:
    return [line.split()[1] for line in log.read_text().splitlines()] if log.exists() else []


def test_a_resumed_task_whose_result_is_journaled_is_answered_not_run_again(tracker, tmp_path: Path):
    """As after a stop or crash: the executor finished n0 and journaled it; the tracker never heard."""
    log = tmp_path / "count.log"
    store = DagStore(tmp_path / "dag" / "runs.sqlite")
    store.create_run("run-j", "chain", dumps_binary(chain(log), level=3), {}, status="running")
    store.write([("run-j", 0, [["a", "n0", 1, "exec-0"]])], [])
    store.close()
    journal = ResultJournal.open(tmp_path)
    journal.record([("run-j", "n0", -1, 1, True, "from the journal", None, None, 0.0, 0.0)])
    tracker.restart()
    tracker.settle()
    snap = tracker.rt.call("dag", "status", run_id="run-j", nodes=True)
    assert snap["status"] == "succeeded"
    assert ran(log) == ["n1", "n2"]  # n0 was not executed again
    assert tracker.rt.call("dag", "result", run_id="run-j", node_id="n0") == "from the journal"
    resumed = [e for e in tracker.rt.call("dag", "events", run_id="run-j")["events"] if e["topic"].endswith("resumed")]
    assert resumed[0]["payload"]["journaled"] == 1
    assert journal.of_run("run-j") == {}  # dropped once the run ended


class _Holding:
    """An executor that takes tasks and never answers (it is about to be killed)."""

    def __init__(self) -> None:
        self.tasks: list[Any] = []

    def run_batch(self, tasks: list[Any]) -> int:
        self.tasks.extend(tasks)
        return len(tasks)

    def forget_run(self, run_id: str) -> int:
        return 0


class _Sink:
    def subscribe(self, subscriber: str, pattern: str) -> bool:
        return True


@pytest.mark.parametrize("journaled", [True, False])
def test_a_dead_executors_finished_task_is_taken_from_the_journal(tmp_path: Path, journaled: bool):
    """A dead executor's task is answered from the journal when it finished, else run again once it is back."""
    rt = LocalRuntime(tmp_path)
    rt.add_service("bus", _Sink())
    held = _Holding()
    rt.add_service("exec-0", held)
    rt.add_service("dag", DagService(ServiceSettings("dag", tmp_path, {"executors": 1})))
    try:
        log = tmp_path / "count.log"
        rid = rt.call("dag", "submit", workflow=chain(log, 2))
        rt.drain()
        assert [t.node_id for t in held.tasks] == ["n0"]
        if journaled:  # it finished and journaled n0, then died before reporting it
            ResultJournal.open(tmp_path).record([(rid, "n0", -1, 1, True, 7, None, None, 0.0, 0.0)])
        rt.call("dag", "on_event", topic="supervisor.child.exited", payload={"child": "exec-0"})
        rt.drain()
        assert [t.node_id for t in held.tasks] == ["n0"]  # nothing goes to an executor seen exiting...
        rt.call("dag", "on_event", topic="supervisor.child.started", payload={"child": "exec-0"})
        rt.drain()  # ...until it is seen started again
        node = rt.call("dag", "status", run_id=rid, nodes=True)["nodes"]["n0"]
        if journaled:  # answered from the journal: n1 goes out
            assert node["status"] == "succeeded"
            assert [t.node_id for t in held.tasks] == ["n0", "n1"]
        else:  # lost with its executor: run again as attempt 2 (at-least-once), not failed
            assert (node["status"], node["attempts"]) == ("queued", 2)
            assert [(t.node_id, t.attempt) for t in held.tasks] == [("n0", 1), ("n0", 2)]
        assert ran(log) == []
    finally:
        rt.close()


def test_a_held_run_is_queued_until_submitted_again_under_its_id(tracker, tmp_path: Path):
    wf = chain(tmp_path / "count.log", 2)
    rid = tracker.rt.call("dag", "submit", workflow=wf, run_id="run-held", hold=True)
    assert tracker.rt.call("dag", "status", run_id=rid)["status"] == "queued"
    assert [r["status"] for r in tracker.rt.call("dag", "list_runs") if r["run_id"] == rid] == ["queued"]
    tracker.restart()  # a held run is not resumed by a restarted tracker: it was never admitted
    tracker.settle()
    assert tracker.rt.call("dag", "status", run_id=rid)["status"] == "queued"
    tracker.rt.call("dag", "submit", workflow=wf, run_id=rid)
    tracker.settle()
    assert tracker.rt.call("dag", "status", run_id=rid)["status"] == "succeeded"
    seqs = [e["seq"] for e in tracker.rt.call("dag", "events", run_id=rid)["events"]]
    assert seqs == list(range(1, len(seqs) + 1))  # one event sequence from queued to finished


def test_a_held_run_cancelled_never_starts(tracker, tmp_path: Path):
    log = tmp_path / "count.log"
    rid = tracker.rt.call("dag", "submit", workflow=chain(log, 2), run_id="run-c", hold=True)
    assert tracker.rt.call("dag", "cancel", run_id=rid) == {"run_id": rid, "status": "cancelled", "cancelled": True}
    assert any(e.topic == f"run.{rid}.cancelled" for e in tracker.rt.events)
    with pytest.raises(ConflictError, match="not queued"):
        tracker.rt.call("dag", "submit", workflow=chain(log, 2), run_id=rid)
    assert ran(log) == []


def test_the_idempotency_key_is_stable_across_attempts_and_reaches_callables(tracker):
    from symphony_actors.pit.dag.engine import Task

    def task(item: int, attempt: int) -> Task:
        return Task("run-1", "n", item, attempt, "builtin.noop", "operator", {}, {}, None)

    assert task(-1, 1).idempotency_key == task(-1, 3).idempotency_key == "run-1/n"
    assert task(4, 1).idempotency_key == task(4, 2).idempotency_key == "run-1/n/4" != task(5, 1).idempotency_key
    wf = Workflow.build("k").operator("n", "builtin.call", params={
        "callable": "symphony_actors.pit.dag.operators:idempotency_key"}).build()
    snap = tracker.run(wf)
    assert snap["status"] == "succeeded"
    assert tracker.rt.call("dag", "result", run_id=snap["run_id"], node_id="n") == f"{snap['run_id']}/n"
