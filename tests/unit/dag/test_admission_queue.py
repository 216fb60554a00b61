"""The admission queue and its reconciliation (RunWorkflow + RunTable) against fakes of every port."""

from __future__ import annotations

from pathlib import Path

import pytest

from symphony_actors.domain.errors import BusyError, ServiceCrashed
from symphony_actors.domain.workflow import Workflow
from symphony_actors.pit.dag.runtable import RunTable
from symphony_actors.pit.dag.usecase import RunWorkflow
from symphony_actors.testing.fake_dag import FakeDag
from symphony_actors.testing.fake_pit import FakeArbitration, FakeStale


@pytest.fixture
def dag():
    d = FakeDag()
    yield d
    d.close()


def one(name: str = "w") -> Workflow:
    return Workflow.build(name).operator("a", "builtin.const", params={"value": 1}).build()


def uc_with(dag: FakeDag, capacity: float = 1, table: RunTable | None = None, **ports) -> RunWorkflow:
    arbitration = ports.pop("arbitration", None) or FakeArbitration(policy={"capacity": {"executors": capacity}})
    return RunWorkflow(dag, arbitration=arbitration, table=table, **ports)


def started_order(dag: FakeDag, run_ids: list[str]) -> list[str]:
    """Run ids in the order the tracker started them (runs listed newest first, created when held)."""
    starts = {}
    for rid in run_ids:
        events = dag.events(rid)["events"]
        starts[rid] = next((e["at"] for e in events if e["topic"].endswith(".started")), None)
    return [rid for rid in sorted((r for r in run_ids if starts[r] is not None), key=lambda r: starts[r])]


def finish_all(uc: RunWorkflow, dag: FakeDag) -> None:
    """Process the end of every started run until nothing is left (each release starts the next)."""
    for _ in range(100):
        live = [r.run_id for r in uc.table.in_state("started")]
        if not live:
            return
        for rid in live:
            dag.wait(rid)
            uc.finish(rid)


def test_runs_beyond_capacity_wait_in_line_and_all_complete(dag):
    uc = uc_with(dag, capacity=2)
    runs = [uc.start(one()) for _ in range(5)]
    assert [r["queued"] for r in runs] == [False, False, True, True, True]
    assert [q["run_id"] for q in uc.queued()] == [r["run_id"] for r in runs[2:]]
    finish_all(uc, dag)
    assert all(dag.status(r["run_id"])["status"] == "succeeded" for r in runs)
    assert uc.arbitration.status()["granted"] == [] and uc.table.records == {}


def test_higher_priority_goes_first_and_equal_priorities_in_arrival_order(dag):
    uc = uc_with(dag, capacity=1)
    blocker = uc.start(one())["run_id"]
    low1 = uc.start(one(), priority=0)["run_id"]
    high = uc.start(one(), priority=5)["run_id"]
    low2 = uc.start(one(), priority=0)["run_id"]
    finish_all(uc, dag)
    assert started_order(dag, [blocker, low1, high, low2]) == [blocker, high, low1, low2]


def test_a_tag_limit_holds_back_only_runs_with_that_tag(dag):
    arbitration = FakeArbitration(policy={"capacity": {"executors": 3, "tag:gpu": 1}})
    uc = uc_with(dag, arbitration=arbitration)
    g1 = uc.start(one(), tags=["gpu"])
    g2 = uc.start(one(), tags=["gpu"])
    c1 = uc.start(one(), tags=["cpu"])
    assert (g1["queued"], g2["queued"], c1["queued"]) == (False, True, False)
    dag.wait(g1["run_id"])
    uc.finish(g1["run_id"])
    assert dag.wait(g2["run_id"])["status"] == "succeeded"


def test_a_queued_run_can_be_cancelled_and_never_starts(dag):
    uc = uc_with(dag, capacity=1)
    first = uc.start(one())["run_id"]
    queued = uc.start(one())["run_id"]
    assert dag.cancel(queued)["cancelled"]
    assert uc.finish(queued)["status"] == "cancelled"  # what the run.<id>.cancelled event triggers
    assert [q["run_id"] for q in uc.queued()] == []
    assert [q["run"] for q in uc.arbitration.status()["queue"]] == []
    dag.wait(first)
    uc.finish(first)
    assert dag.status(queued)["status"] == "cancelled" and dag.events(queued)["events"][-1]["topic"].endswith(
        ".cancelled")


def test_a_cancelled_run_granted_before_the_event_arrived_is_dropped_not_started(dag):
    uc = uc_with(dag, capacity=1)
    first = uc.start(one())["run_id"]
    queued = uc.start(one())["run_id"]
    dag.cancel(queued)  # the cancelled event is lost: the grant comes first
    dag.wait(first)
    uc.finish(first)
    assert dag.status(queued)["status"] == "cancelled"
    assert uc.arbitration.status()["granted"] == [] and uc.table.records == {}


def test_a_run_that_can_never_fit_is_refused(dag):
    uc = uc_with(dag, arbitration=FakeArbitration(policy={"capacity": {"executors": 0}}))
    with pytest.raises(BusyError, match="can never be admitted"):
        uc.start(one())
    assert uc.table.records == {}


def test_reconcile_releases_grants_of_runs_it_does_not_know(dag):
    uc = uc_with(dag, capacity=2)
    arbitration = uc.arbitration
    for i in range(2):  # grants left by a runs service that died with its memory (the old bug)
        arbitration.submit(request_id=f"run:ghost{i}", run=f"ghost{i}", demands={"executors": 1})
    assert uc.start(one())["queued"]
    out = uc.reconcile()
    assert sorted(out["released"]) == ["run:ghost0", "run:ghost1"]
    assert len(out["started"]) == 1 and dag.wait(out["started"][0])["status"] == "succeeded"


def test_a_restarted_service_finds_its_runs_in_the_table(dag, tmp_path: Path):
    arbitration = FakeArbitration(policy={"capacity": {"executors": 1}})
    first_life = uc_with(dag, arbitration=arbitration, table=RunTable(tmp_path / "runs.sqlite3"))
    running = first_life.start(one())["run_id"]
    queued = first_life.start(one())["run_id"]
    dag.wait(running)  # it ends while the service is down: nobody processes the event
    first_life.table.close()
    second_life = uc_with(dag, arbitration=arbitration, table=RunTable(tmp_path / "runs.sqlite3"))
    out = second_life.reconcile()
    assert out["ended"] == [running]  # processed now; its release started the queued run
    assert dag.wait(queued)["status"] == "succeeded"
    second_life.reconcile()
    assert arbitration.status()["granted"] == [] and second_life.table.records == {}


def test_an_engine_that_lost_its_queue_gets_it_back_in_order(dag):
    uc = uc_with(dag, capacity=1)
    first = uc.start(one())["run_id"]
    later = [uc.start(one())["run_id"] for _ in range(3)]
    fresh = FakeArbitration(policy={"capacity": {"executors": 1}})  # its store was lost
    uc.arbitration = fresh
    out = uc.reconcile()
    assert out["started"] == [later[0]]  # the first run's grant was lost too: the line moves on
    assert [q["run"] for q in fresh.status()["queue"]] == later[1:]
    assert dag.wait(first)["status"] == "succeeded"


def test_the_admission_is_released_even_when_lineage_cannot_be_recorded(dag):
    class DownStale(FakeStale):
        down = True

        def record(self, **kw):
            if self.down:
                raise ServiceCrashed("stale crashed while handling 'record'", service="stale")
            return super().record(**kw)

    stale = DownStale()
    uc = uc_with(dag, capacity=1, stale=stale, artifacts=dag.artifacts)
    rid = uc.start(one())["run_id"]
    dag.wait(rid)
    with pytest.raises(ServiceCrashed):
        uc.finish(rid)
    assert uc.arbitration.status()["granted"] == []  # released first
    assert uc.start(one())["queued"] is False        # so a new run is admitted at once
    stale.down = False
    assert rid in uc.reconcile()["ended"]            # lineage recorded on the next pass
    assert stale.lineage(artifact=dag.status(rid, nodes=True)["nodes"]["a"]["artifact"])["node"] == "a"


def test_reconcile_sets_the_executor_capacity(dag):
    uc = uc_with(dag, capacity=4)
    uc.reconcile(executors=2)
    assert uc.arbitration.get_policy()["capacity"]["executors"] == 2


def test_a_start_the_engine_cannot_answer_leaves_no_record_and_no_queued_run(dag):
    class Unreachable(FakeArbitration):
        def submit(self, **kw):
            raise BusyError("runs cannot reach 'arbitration' directly yet", service="arbitration")

        def release(self, **kw):
            raise BusyError("runs cannot reach 'arbitration' directly yet", service="arbitration")

    uc = RunWorkflow(dag, arbitration=Unreachable())
    with pytest.raises(BusyError, match="cannot reach"):
        uc.start(one())
    assert uc.table.records == {}
    assert [r["status"] for r in dag.list_runs()] == ["cancelled"]  # it was held, never started
