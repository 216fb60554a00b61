"""Running a workflow on the full production tree: admission, end-of-run lineage, incremental re-runs."""

from __future__ import annotations

import pytest

from symphony_actors.bootstrap import default_tree
from symphony_actors.domain.workflow import Workflow
from symphony_actors.testing.callables import allow_callables
from symphony_actors.testing.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def _allowed_callables():
    """Workflows are data: these tests' builtin.call nodes call the test services, allowed here."""
    with allow_callables():
        yield


def pipeline(value: int) -> Workflow:
    return (Workflow.build("pipeline")
            .operator("src", "builtin.const", params={"value": value}, outputs={"out": "integer"})
            .operator("double", "builtin.call", params={"callable": "symphony_actors.testing.services:scale"},
                      inputs={"a": "integer"}, outputs={"out": "integer"})
            .connect("src", "double.a").build())


def test_an_unchanged_re_run_reuses_fresh_results_through_the_real_services(make_system):
    sut = make_system(default_tree({"dag": {"executors": 2}}))
    first = sut.client.run_workflow(pipeline(5))
    assert first.wait(60)["status"] == "succeeded" and first.result("double") == 10
    # The runs service recorded the run's lineage with the stale manager once the run ended.
    wait_for(lambda: sut.client.call("runs", "pending") == [], what="end of run processed")
    again = sut.client.run_workflow(pipeline(5))
    assert again.wait(60)["status"] == "succeeded" and again.result("double") == 10
    details = [e["payload"].get("detail") for e in again.events() if e["topic"].endswith(".node.succeeded")]
    assert details == ["reused: still fresh", "reused: still fresh"]
    changed = sut.client.run_workflow(pipeline(6))
    assert changed.wait(60)["status"] == "succeeded" and changed.result("double") == 12
    assert not any("reused" in str(e["payload"].get("detail")) for e in changed.events())
    decisions = sut.client.call("arbitration", "decisions", limit=10)
    assert any(d.get("verdict") == "granted" for d in decisions)
