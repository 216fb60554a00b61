"""RunWorkflow against fakes of every port: admission, incremental re-runs, instrument choice, feedback."""

from __future__ import annotations

import pytest

from symphony_actors.domain.workflow import Workflow
from symphony_actors.pit.dag.usecase import RunWorkflow
from symphony_actors.testing.callables import allow_callables
from symphony_actors.testing.fake_conductor import FakeConductor
from symphony_actors.testing.fake_dag import FakeDag
from symphony_actors.testing.fake_pit import FakeArbitration, FakePool, FakeStale


@pytest.fixture(scope="module", autouse=True)
def _allowed_callables():
    """Workflows are data: these tests' builtin.call nodes call the test services, allowed here."""
    with allow_callables():
        yield


@pytest.fixture
def parts():
    dag = FakeDag()
    ports = {"dag": dag, "arbitration": FakeArbitration(), "pool": FakePool(), "stale": FakeStale(),
             "conductor": FakeConductor(), "artifacts": dag.artifacts}
    yield ports
    dag.close()


def pipeline(value: int = 3) -> Workflow:
    return (Workflow.build("p")
            .operator("src", "builtin.const", params={"value": value}, outputs={"out": "integer"})
            .operator("double", "builtin.call",
                      params={"callable": "symphony_actors.testing.services:scale", "kwargs": {"b": 2}},
                      inputs={"a": "integer"}, outputs={"out": "integer"})
            .connect("src", "double.a").build())


def test_a_run_is_admitted_executed_and_its_lineage_recorded(parts):
    uc = RunWorkflow(parts["dag"], arbitration=parts["arbitration"], stale=parts["stale"],
                     artifacts=parts["artifacts"])
    started = uc.start(pipeline())
    rid = started["run_id"]
    assert started["admission"]["verdict"] == "granted" and started["reused"] == []
    assert parts["dag"].wait(rid)["status"] == "succeeded"
    assert parts["dag"].result(rid, "double") == 6
    done = uc.finish(rid)
    assert done["recorded"] == 2
    assert parts["arbitration"].status()["granted"] == [] or not parts["arbitration"].status().get("granted")


def test_an_unchanged_re_run_reuses_fresh_nodes_and_a_changed_one_does_not(parts):
    uc = RunWorkflow(parts["dag"], stale=parts["stale"], artifacts=parts["artifacts"])
    first = uc.start(pipeline(3))["run_id"]
    parts["dag"].wait(first)
    uc.finish(first)
    again = uc.start(pipeline(3))
    assert again["reused"] == ["double", "src"]
    snap = parts["dag"].wait(again["run_id"])
    assert snap["status"] == "succeeded" and parts["dag"].result(again["run_id"], "double") == 6
    events = parts["dag"].events(again["run_id"])["events"]
    assert not any(e["topic"].endswith("node.queued") for e in events)  # nothing was dispatched
    changed = uc.start(pipeline(4))
    assert changed["reused"] == []
    parts["dag"].wait(changed["run_id"])
    assert parts["dag"].result(changed["run_id"], "double") == 8


def test_a_run_not_admitted_now_is_queued_and_starts_when_capacity_comes_back(parts):
    arbitration = FakeArbitration(policy={"capacity": {"executors": 1}})
    uc = RunWorkflow(parts["dag"], arbitration=arbitration)
    wide = Workflow.build("w")
    for i in range(4):
        wide = wide.operator(f"n{i}", "builtin.noop")
    first = uc.start(wide.build())
    second = uc.start(wide.build())
    assert second["queued"] and second["admission"]["verdict"] == "queued"
    assert parts["dag"].status(second["run_id"])["status"] == "queued"
    parts["dag"].wait(first["run_id"])
    uc.finish(first["run_id"])  # releases: the queued run gets the capacity and starts
    assert parts["dag"].wait(second["run_id"])["status"] == "succeeded"


def test_instrument_nodes_get_a_conductor_choice_and_feedback(parts):
    uc = RunWorkflow(parts["dag"], conductor=parts["conductor"], pool=parts["pool"])
    wf = (Workflow.build("i").instrument("ask", "demo.models/answer", meta={"candidates": ["demo.small", "demo.large"]})
          .build())
    started = uc.start(wf)
    assert set(started["instruments"]) == {"ask"}
    snap = parts["dag"].wait(started["run_id"])
    chosen = parts["dag"].status(started["run_id"], nodes=True)
    assert snap["finished"] and "ask" in chosen["nodes"]
    record = uc.table.get(started["run_id"])
    assert record is not None and record.models["ask"] in ("demo.small/answer", "demo.large/answer")
    assert uc.finish(started["run_id"])["feedback"] == 1  # the outcome (here: no such model) is fed back
    history = parts["conductor"].history(task="demo.models/answer")
    assert history and history[-1]["instrument"] in ("demo.small", "demo.large")


def test_the_choice_changes_which_extension_runs_and_never_the_params():
    from symphony_actors.pit.dag.usecase import RunPlan, candidates_of, instrument_type
    from symphony_actors.testing.fake_conductor import FakeConductor

    wf = (Workflow.build("i")
          .instrument("a", "x.first/answer", params={"temperature": 0.2}, meta={"candidates": ["x.second"]})
          .instrument("b", "x.first/answer", params={"temperature": 0.5, "candidates": ["x.third/answer"]})
          .build(validate=False))
    uc = RunWorkflow(None, conductor=FakeConductor())
    chosen = uc._choose_instruments(RunPlan("r1", wf, ("a", "b")), wf)
    a, b = chosen.node("a"), chosen.node("b")
    assert (a.type, dict(a.params)) == ("x.second/answer", {"temperature": 0.2})
    assert (b.type, dict(b.params)) == ("x.third/answer", {"temperature": 0.5})  # legacy candidates taken out
    assert candidates_of(wf.node("a"))[0] == ("x.second",)
    assert instrument_type("x.second", "x.first/answer") == "x.second/answer"


def _installed(*extra: dict[str, object]) -> list[dict[str, object]]:
    port = [{"name": "question", "type": "any"}]
    out = [{"name": "answer", "type": "any"}]
    return [{"extension": "x.first", "node": "answer", "type": "instrument", "inputs": port, "outputs": out},
            {"extension": "x.second", "node": "answer", "type": "instrument", "inputs": port, "outputs": out},
            {"extension": "x.tool", "node": "answer", "type": "operator", "inputs": port, "outputs": out},
            {"extension": "x.narrow", "node": "answer", "type": "instrument", "inputs": [], "outputs": out},
            *extra]


def test_candidates_must_be_installed_instruments_with_the_nodes_contract():
    from symphony_actors.domain.errors import ValidationError

    def wf(*candidates: str) -> Workflow:
        return (Workflow.build("q").operator("src", "builtin.const", params={"value": "hi"}, outputs={"out": "any"})
                .instrument("ask", "x.first/answer", inputs={"question": "any"}, outputs={"answer": "any"},
                            meta={"candidates": list(candidates)})
                .connect("src", "ask.question").build(validate=False))

    uc = RunWorkflow(None, node_types=_installed)
    uc.check_candidates(wf("x.first", "x.second"))  # both provide the contract
    with pytest.raises(ValidationError) as info:
        uc.check_candidates(wf("x.first", "x.nothere", "x.tool", "x.narrow"))
    text = str(info.value)
    assert "'x.nothere': no installed extension provides 'x.nothere/answer'" in text
    assert "'x.tool': x.tool is an operator, not an instrument" in text
    assert "'x.narrow': x.narrow/answer has no port question" in text
    assert len(info.value.problems) == 3
    RunWorkflow(None).check_candidates(wf("x.nothere"))  # no extension host to ask: not checked
