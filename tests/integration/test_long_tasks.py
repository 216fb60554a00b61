"""Long work is normal: tasks run off the actor loop, a hung task is told from a busy one, attempts keep logs.

Real systems (multiprocTCPBase), real executor processes, real SQLite. Tests that take a 30 s task are
marked ``slow``; the 10-minute one is ``long`` (deselected by default, run by ``tox -e long``).
Nothing here decides pass/fail on a duration: order of events and recorded timestamps do.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from symphony_actors.domain.workflow import RetryPolicy, Workflow
from symphony_actors.ports.service import ChildSpec, SupervisorSpec
from symphony_actors.testing.callables import allow_callables
from symphony_actors.testing.trees import dag_tree, flat_tree
from symphony_actors.testing.waiting import wait_for


@pytest.fixture(scope="module", autouse=True)
def _allowed_callables():
    """Workflows are data: the builtin.call nodes of these tests call test callables, allowed here."""
    with allow_callables("symphony_actors.testing.long_tasks:*"):
        yield

pytestmark = pytest.mark.integration

BLOCK = "symphony_actors.testing.long_tasks:block_forever"
CHATTY = "symphony_actors.testing.long_tasks:chatty"


def tree_with(executor_options: dict[str, Any], executors: int = 2) -> SupervisorSpec:
    """dag_tree, with options for the executors (hang grace, default limit)."""
    return flat_tree(SupervisorSpec("pit", max_restarts=20, within_seconds=10, children=(
        ChildSpec("artifacts", "symphony_actors.pit.artifacts.service:build"),
        *(ChildSpec(f"exec-{i}", "symphony_actors.pit.dag.executor:build", shutdown_timeout=2.0,
                    options=executor_options) for i in range(executors)),
        ChildSpec("dag", "symphony_actors.pit.dag.service:build", options={"executors": executors}),
    )), max_restarts=20)


def system_log(sut: Any) -> str:
    path = Path(sut.data_dir) / "logs" / f"symphony-{sut.port}.log"
    return path.read_text() if path.exists() else ""


def events_by_node(run: Any) -> dict[str, dict[str, Any]]:
    """The ``succeeded``/``failed`` event of each node: its seq and time."""
    out: dict[str, dict[str, Any]] = {}
    for e in run.events():
        p = e["payload"]
        if e["topic"].endswith((".node.succeeded", ".node.failed")):
            out[p["node"]] = e
    return out


def test_forty_half_second_sleeps_on_two_executors_all_succeed(make_system):
    sut = make_system(dag_tree({"executors": 2}))
    pids = sut.pids()
    b = Workflow.build("sleeps")
    for i in range(40):
        b = b.operator(f"s{i}", "builtin.sleep", params={"seconds": 0.5})
    run = sut.client.run_workflow(b.build())
    snap = run.wait(120)
    assert snap["status"] == "succeeded", snap
    assert snap["counts"] == {"succeeded": 40}
    assert sut.pids()["exec-0"] == pids["exec-0"] and sut.pids()["exec-1"] == pids["exec-1"]  # nobody killed
    assert "hang_killed" not in system_log(sut)
    # Results arrive one by one as they finish: ~20 per executor, not one batch at the end.
    finished = sorted(e["at"] for e in events_by_node(run).values())
    assert len(set(finished)) > 10
    attempts = run.logs(output=False)
    assert len(attempts) == 40 and {a["worker"] for a in attempts} == {"exec-0", "exec-1"}


def test_a_genuinely_hung_task_is_reported_its_executor_replaced_and_logged(make_system):
    sut = make_system(tree_with({"hang_grace": 2.0}))
    before = sut.pids()
    wf = (Workflow.build("hung")
          .operator("stuck", "builtin.call", params={"callable": BLOCK}, timeout=1.0)
          .operator("fine", "builtin.sleep", params={"seconds": 0.1})
          .build())
    run = sut.client.run_workflow(wf)
    snap = run.wait(60)
    assert snap["status"] == "failed"
    node = run.status(nodes=True)["nodes"]["stuck"]
    assert node["status"] == "failed" and node["error"]["code"] == "deadline_exceeded"
    assert "abandoned" in node["error"]["message"]
    # The executor that held the hung thread is replaced (heartbeat says hung after limit + grace).
    def replaced() -> str | None:
        now = sut.pids()
        return next((e for e in ("exec-0", "exec-1") if now.get(e) and now[e] != before[e]), None)

    which = wait_for(replaced, timeout=30, what="the hung executor to be replaced")
    assert not psutil.pid_exists(before[which]) or psutil.Process(before[which]).status() == psutil.STATUS_ZOMBIE
    log = wait_for(lambda: (t := system_log(sut)) and "hang_killed" in t and t, timeout=10, what="the hang kill")
    assert re.search(rf"supervisor pit\[\d+\]: hang_killed {which} pid={before[which]}: hung: task 'stuck'", log), log
    assert re.search(rf"exited {which}", log) and re.search(rf"started {which}", log)
    # The replacement works.
    again = sut.client.run_workflow(Workflow.build("after").operator("s", "builtin.sleep",
                                                                     params={"seconds": 0.1}).build())
    assert again.wait(30)["status"] == "succeeded"


def test_attempt_logs_times_and_the_logs_command(make_system, capsys):
    from symphony_actors.commands.run import cmd_logs, cmd_run_status

    sut = make_system(dag_tree({"executors": 1}))
    wf = (Workflow.build("chatty")
          .operator("talk", "builtin.call", params={"callable": CHATTY, "kwargs": {"lines": 3, "big": 100_000}})
          .operator("nap", "builtin.sleep", params={"seconds": 0.2, "log": True})
          .operator("bad", "builtin.fail", retry=RetryPolicy(retries=1, backoff_s=0.01))
          .build())
    run = sut.client.run_workflow(wf)
    assert run.wait(60)["status"] == "failed"
    talk = run.logs("talk")
    assert len(talk) == 1
    a = talk[0]
    assert a["ok"] and a["worker"] == "exec-0" and a["host"] and a["started"] <= a["ended"]
    assert "out line 0\nout line 1\nout line 2\n" in a["stdout"]
    assert a["stderr"] == "err line 0\nerr line 1\nerr line 2\n"
    assert [line[2] for line in a["log"]] == ["log line 0", "log line 1", "log line 2"]
    assert a["log"][1][3] == {"index": 1}
    assert a["truncated"] and "characters truncated ...]" in a["stdout"] and len(a["stdout"]) < 70_000
    assert [x["attempt"] for x in run.logs("bad")] == [1, 2]
    assert all(not x["ok"] and x["error"]["code"] for x in run.logs("bad"))
    assert run.logs("nap")[0]["log"][0][2] == "sleeping 0.2 s"
    assert len(run.logs()) == 4
    with pytest.raises(Exception, match="no run"):
        sut.client.run("nope").logs()

    args = argparse.Namespace(port=sut.port, data_dir=None, run_id=run.run_id, node="talk", json=False)
    assert cmd_logs(args) == 0
    out = capsys.readouterr().out
    assert "== talk attempt 1  ok  exec-0@" in out and "    err line 2" in out and "log line 1" in out
    args = argparse.Namespace(port=sut.port, data_dir=None, run_id=run.run_id, nodes=True, json=False)
    cmd_run_status(args)
    out = capsys.readouterr().out
    assert re.search(r"nap\s+succeeded\s+attempts 1\s+\d\d:\d\d:\d\d\s+0\.\d\d s\s+on exec-0@", out), out


def _long_sleep_with_others(sut: Any, seconds: float, chain: int) -> None:
    b = Workflow.build("long").operator("long", "builtin.sleep", params={"seconds": seconds})
    b = b.operator("first", "builtin.sleep", params={"seconds": 0.5})  # dispatched with long: the idle executor
    prev = "first"
    for i in range(chain):
        b = b.operator(f"c{i}", "builtin.sleep", params={"seconds": 0.2}).after(prev, f"c{i}")
        prev = f"c{i}"
    pids = sut.pids()
    run = sut.client.run_workflow(b.build())
    assert run.wait(seconds + 120)["status"] == "succeeded"
    done = events_by_node(run)
    # Other nodes' results arrived while the long one ran: earlier in the event order, and in time.
    assert done[prev]["seq"] < done["long"]["seq"]
    logs = {a["node"]: a for a in run.logs(output=False)}
    assert done[prev]["at"] < logs["long"]["ended"]
    assert logs["long"]["started"] < logs[prev]["started"]
    assert logs["long"]["ended"] - logs["long"]["started"] >= seconds  # it really ran that long, unharmed
    assert sut.pids() == pids  # nobody was killed as hung
    assert "hang_killed" not in system_log(sut)


@pytest.mark.slow
def test_a_30_second_task_succeeds_while_other_results_arrive(make_system):
    _long_sleep_with_others(make_system(dag_tree({"executors": 2})), 30.0, chain=10)


@pytest.mark.long
@pytest.mark.timeout(900)
def test_a_10_minute_task_succeeds_while_other_results_arrive(make_system):
    _long_sleep_with_others(make_system(dag_tree({"executors": 2})), 600.0, chain=30)


@pytest.mark.slow
def test_an_extension_instrument_that_runs_longer_than_the_old_ping_limit(tmp_path):
    """15 s of inference (the old hang limit was 10 s): the actor keeps answering, the node succeeds,
    its ctx.log lines are kept with the attempt, and no process is replaced."""
    from symphony_actors.extension_host.service import ExtensionPortClient
    from symphony_actors.testing.trees import extensions_tree
    from tests.integration.conftest import running_system

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "extensions"
    with running_system(extensions_tree({"executors": 1}), tmp_path / "data") as (system, client):
        port = ExtensionPortClient(client)
        port.install(str(fixtures / "slow"))
        port.load("test.slow")
        pids = {n["name"]: n["pid"] for n in client.status()["nodes"]}
        wf = (Workflow.build("think")
              .operator("think", "test.slow/think", params={"seconds": 15}, outputs={"answer": "any"})
              .operator("quick", "builtin.sleep", params={"seconds": 0.2})
              .build(validate=False))
        run = client.run_workflow(wf)
        wait_for(lambda: client.call("ext:test.slow", "status")["worker_state"] == "busy", timeout=20,
                 what="the instrument to be thinking")
        # Its actor answers while the worker thinks (the loop is not blocked by the task).
        assert client.call("ext:test.slow", "health", timeout=5)["id"] == "test.slow"
        # A request for the busy worker waits for it on a helper thread (deferred), and is answered.
        reply = client.call("ext:test.slow", "send", operation="infer",
                            payload={"inputs": {}, "params": {"seconds": 0}})
        answered_at = time.time()
        assert reply == {"answer": 0.0}
        assert run.status()["status"] in ("running", "succeeded")
        snap = run.wait(120)
        assert snap["status"] == "succeeded", run.status(nodes=True)
        assert run.result("think") == 15
        done = events_by_node(run)
        assert done["quick"]["seq"] < done["think"]["seq"]
        (attempt,) = run.logs("think")
        assert attempt["worker"] == "ext:test.slow" and attempt["ended"] - attempt["started"] >= 15
        assert answered_at >= attempt["started"] + 15  # the request waited for the worker, the actor did not
        assert [line[2] for line in attempt["log"]] == ["thinking", "done thinking"]
        # the sandboxed instrument saw the node's idempotency key (the same for every attempt)
        assert attempt["log"][0][3]["key"] == f"{run.run_id}/think", attempt["log"]
        assert {n["name"]: n["pid"] for n in client.status()["nodes"]} == pids
        log = (Path(system.data_dir) / "logs" / f"symphony-{system.port}.log").read_text()
        assert "hang_killed" not in log and "started ext:test.slow" in log


def test_every_supervisor_decision_is_a_line_in_the_system_log(make_system):
    from symphony_actors.testing.trees import echo

    sut = make_system(flat_tree(SupervisorSpec("sub", children=(echo("x"),), max_restarts=1, within_seconds=30)))
    for i in range(2):
        pid = sut.pids()["x"]
        sut.client.kill("x")
        if i == 0:
            wait_for(lambda p=pid: (n := sut.node("x")) and n["state"] == "running" and n["pid"] != p,
                     what="x restarted")
    log = wait_for(lambda: (t := system_log(sut)) and "escalated" in t and t, timeout=20, what="the escalation")
    for line in (r"started x pid=\d+", r"exited x restarts=1: exited", r"restarting x .*strategy=one_for_one",
                 r"supervisor sub\[\d+\]: escalated", r"started bus"):
        assert re.search(line, log), (line, log)


def test_a_supervisor_that_was_stopped_does_not_kill_its_children_for_its_own_silence(make_system):
    """Root is stopped (SIGSTOP) for longer than the hang limit; its children kept answering all along.

    When it runs again, the gap in its own ticks is not counted against them: nothing is killed.
    """
    import os
    import signal
    import threading

    from symphony_actors.testing.trees import echo

    sut = make_system(flat_tree(SupervisorSpec("sub", children=(echo("x"),))))
    before = sut.pids()
    root = before["root"]
    os.kill(root, signal.SIGSTOP)
    try:
        threading.Event().wait(12.0)  # a stall longer than the 10 s hang limit, by design (not a wait for an event)
    finally:
        os.kill(root, signal.SIGCONT)
    wait_for(lambda: sut.node("sub") is not None, timeout=20, what="root answering again")
    # a few supervision ticks after the stall: any hang kill would have happened on the first of them
    threading.Event().wait(3.0)
    after = sut.pids()
    assert {k: after.get(k) for k in before} == before, (before, after)
    assert "hang_killed" not in system_log(sut), system_log(sut)
