"""Lineage of nodes with nested parameters, through the production tree: recorded and saved by the real
stale manager (no crash, no restart, nothing lost), so an unchanged re-run reuses them."""

from __future__ import annotations

import contextlib
import sqlite3

import pytest

from symphony_actors.bootstrap import default_tree
from symphony_actors.domain.workflow import Workflow
from symphony_actors.testing.waiting import wait_for

pytestmark = pytest.mark.integration


def nested() -> Workflow:
    return (Workflow.build("nested")
            .operator("cfg", "builtin.const", params={"value": {"model": {"name": "m", "stop": ["\n"]}}},
                      outputs={"out": "any"})
            .operator("use", "builtin.identity", inputs={"in": "any"}, outputs={"out": "any"})
            .connect("cfg", "use").build())


def test_nested_params_are_recorded_saved_and_reused(make_system):
    sut = make_system(default_tree({"dag": {"executors": 1}}))
    stale_pid = sut.pids()["stale"]
    first = sut.client.run_workflow(nested())
    assert first.wait(60)["status"] == "succeeded"
    wait_for(lambda: sut.client.call("runs", "pending") == [], what="end of run processed")
    artifact = first.status(nodes=True)["nodes"]["cfg"]["artifact"]
    lineage = sut.client.call("stale", "lineage", artifact=artifact)
    assert lineage["params"] == {"value": {"model": {"name": "m", "stop": ["\n"]}}}
    # Its tick saves the lineage to its database (it crashed there, losing it, on a nested parameter);
    # the stale manager still runs, unrestarted, with no failure.
    db = sut.data_dir / "pit" / "stale.sqlite3"

    def saved() -> int:
        with contextlib.closing(sqlite3.connect(db)) as con:
            return int(con.execute("SELECT count(*) FROM kv WHERE ns='d'").fetchone()[0])

    wait_for(lambda: saved() >= 2, timeout=30, what="lineage saved")
    ticks = sut.client.call("stale", "stats")
    assert ticks["failures"] == 0, ticks["last_failure"]
    assert sut.pids()["stale"] == stale_pid and sut.node("stale")["restarts"] == 0
    again = sut.client.run_workflow(nested())
    assert again.wait(60)["status"] == "succeeded"
    assert sorted(again.status(nodes=True)["reused"]) == ["cfg", "use"]
    assert again.result("use") == {"model": {"name": "m", "stop": ["\n"]}}
