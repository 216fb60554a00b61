"""Admission never leaks and recorded nodes never run twice, on the real production tree.

Runs count their executions with ``builtin.count`` (one line per execution, appended with O_APPEND by
the executor processes). Each case crashes one actor (or the root, or the admin, or stops the system
gracefully) while runs are in flight, then checks: every run completes, no grant is left in the
Arbitration Engine, a new run is admitted at once, and no node ran again after its result was recorded
(none at all for a graceful stop and for kills of actors that run no task; at most one extra execution
per executor killed, for the task it had in flight).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import pytest

from symphony_actors.bootstrap import default_tree
from symphony_actors.client import Client
from symphony_actors.domain.workflow import Workflow
from symphony_actors.runtime.system import RunningSystem, boot, session_pids
from symphony_actors.testing.waiting import wait_for
from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration

EXECUTORS = 2
TREE = default_tree({"dag": {"executors": EXECUTORS}})


def counted(path: Path, name: str = "counted", chains: int = 2, steps: int = 8, pause: float = 0.08) -> Workflow:
    """``chains`` parallel chains of ``steps`` (sleep, then count) pairs: a few seconds of work."""
    b = Workflow.build(name)
    for c in range(chains):
        prev = None
        for s in range(steps):
            b = b.operator(f"s{c}_{s}", "builtin.sleep", params={"seconds": pause},
                           inputs={"in": "any"} if prev else {}, outputs={"out": "any"})
            b = b.operator(f"c{c}_{s}", "builtin.count", params={"path": str(path)}, inputs={"in": "any"},
                           outputs={"out": "any"})
            if prev is not None:
                b = b.connect(prev, f"s{c}_{s}.in")
            b = b.connect(f"s{c}_{s}", f"c{c}_{s}.in")
            prev = f"c{c}_{s}"
    return b.build()


class Sys:
    """One boot of the production tree on a data directory (booted again on the same one after a stop)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.system: RunningSystem = boot(TREE, free_port(), data_dir)
        self.client = Client(self.system.port, timeout=30.0)

    def start(self, wf: Workflow, **kw: Any) -> dict[str, Any]:
        from symphony_actors.domain.workflow import dumps_binary

        out: dict[str, Any] = self.client.call("runs", "start", workflow=dumps_binary(wf, level=3), timeout=60, **kw)
        return out

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``symphony ARGS`` as a real subprocess against this system."""
        return subprocess.run([sys.executable, "-m", "symphony_actors.cli", *args, "--port", str(self.system.port),
                               "--data-dir", str(self.data_dir)], text=True, capture_output=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    def status(self, run_id: str) -> str:
        return str(self.client.call("dag", "status", run_id=run_id)["status"])

    def settled(self, run_ids: list[str], timeout: float = 90.0) -> None:
        """Every run ended, its end processed, and no grant left."""
        for rid in run_ids:
            snap = self.client.run(rid).wait(timeout)
            assert snap["status"] == "succeeded", (rid, snap)
        wait_for(lambda: self.client.call("runs", "pending") == [] and self.client.call("runs", "queued") == []
                 and self.client.call("arbitration", "status")["granted"] == [], timeout=30,
                 what="ends processed and every grant released")

    def admitted_at_once(self, path: Path) -> None:
        started = self.start(counted(path, "probe", chains=1, steps=1, pause=0.0))
        assert started["queued"] is False, started
        self.settled([started["run_id"]])

    def stop(self) -> None:
        try:
            self.client.close()
        finally:
            self.system.stop()
        left = [p for p in session_pids(self.system.session_id) if psutil.pid_exists(p)]
        assert left == [], f"processes left behind: {left}"


def executions(path: Path) -> Counter[tuple[str, str]]:
    if not path.exists():
        return Counter()
    return Counter((run, node) for run, node, _item in (line.split() for line in path.read_text().splitlines()))


def extra(path: Path, runs: list[str]) -> int:
    """Executions beyond the first, over these runs' nodes."""
    return sum(n - 1 for (run, _node), n in executions(path).items() if run in runs)


def most_extra(path: Path, runs: list[str]) -> int:
    """The most executions beyond the first of any one of these runs' nodes."""
    return max((n - 1 for (run, _node), n in executions(path).items() if run in runs), default=0)


def progressed(path: Path, run_id: str, at_least: int = 2) -> bool:
    return sum(n for (run, _), n in executions(path).items() if run == run_id) >= at_least


@pytest.fixture
def sys_(tmp_path: Path):
    systems: list[Sys] = []

    def make() -> Sys:
        s = Sys(tmp_path / "data")
        systems.append(s)
        return s

    yield make
    for s in systems:
        s.stop()


def test_runs_beyond_the_executors_are_queued_then_all_complete_and_a_queued_one_can_be_cancelled(
        sys_, tmp_path: Path):
    s = sys_()
    path = tmp_path / "count.log"
    # the real executors, as soon as the runs service has reconciled with the tracker (its first tick)
    wait_for(lambda: s.client.call("arbitration", "status")["capacity"]["executors"] == EXECUTORS, timeout=30,
             what="capacity set to the real executors")
    # Two long runs hold both executors while the queue is looked at; three short ones wait.
    runs = [s.start(counted(path, steps=3, pause=1.5 if i < 2 else 0.05)) for i in range(5)]
    assert [r["queued"] for r in runs] == [False, False, True, True, True]
    listed = {r["run_id"]: r["status"] for r in s.client.runs(limit=10)}
    assert [listed[r["run_id"]] for r in runs[2:]] == ["queued"] * 3  # `symphony runs` shows them
    assert [q["run_id"] for q in s.client.call("runs", "queued")] == [r["run_id"] for r in runs[2:]]
    queue = json.loads(s.cli("runs", "--queued", "--json").stdout)  # what `symphony runs --queued` shows
    assert [q["run_id"] for q in queue] == [r["run_id"] for r in runs[2:]]
    cancelled = runs[4]["run_id"]
    done = s.cli("run-cancel", cancelled)  # `symphony run-cancel`: it leaves the queue
    assert done.returncode == 0 and "cancelled" in done.stdout, done
    assert s.client.run(cancelled).wait(10)["status"] == "cancelled"
    s.settled([r["run_id"] for r in runs[:4]])   # the handle's wait waited through the queue
    assert s.status(cancelled) == "cancelled" and not any(run == cancelled for run, _ in executions(path))
    assert extra(path, [r["run_id"] for r in runs]) == 0

    # Priority first, then arrival order; a tag limit holds back only runs with that tag.
    blockers = [s.start(counted(path, "blocker", steps=4))["run_id"] for _ in range(2)]
    low1 = s.start(counted(path, steps=1), priority=0)["run_id"]
    high = s.start(counted(path, steps=1), priority=5)["run_id"]
    low2 = s.start(counted(path, steps=1), priority=0)["run_id"]
    s.settled([*blockers, low1, high, low2])
    assert started_order(s, [low1, high, low2]) == [high, low1, low2]
    s.client.call("arbitration", "set_capacity", capacity={"tag:gpu": 1})
    gpu1 = s.start(counted(path, steps=2), tags=["gpu"])
    gpu2 = s.start(counted(path, steps=1), tags=["gpu"])
    assert (gpu1["queued"], gpu2["queued"]) == (False, True)  # an executor is free, the tag is not
    s.settled([gpu1["run_id"], gpu2["run_id"]])
    assert started_order(s, [gpu2["run_id"], gpu1["run_id"]]) == [gpu1["run_id"], gpu2["run_id"]]


def started_order(s: Sys, run_ids: list[str]) -> list[str]:
    """The runs in the order the tracker started them (the time of their ``started`` event)."""
    at = {rid: next(e["at"] for e in s.client.run(rid).events(follow=False) if e["topic"].endswith(".started"))
          for rid in run_ids}
    return sorted(run_ids, key=at.__getitem__)


KILLS = [("runs", 0), ("bus", 0), ("stale", 0), ("arbitration", 0), ("exec-0", 1), ("pit", EXECUTORS)]


def test_kills_mid_run_then_a_graceful_stop_then_root_and_admin_crashes_leak_nothing_and_rerun_nothing(
        sys_, tmp_path: Path):
    s = sys_()
    all_runs: list[str] = []
    for name, allowed in KILLS:
        path = tmp_path / f"count-{name}.log"
        started = [s.start(counted(path)) for _ in range(3)]
        assert [r["queued"] for r in started] == [False, False, True]  # two run, one waits in the queue
        runs = [r["run_id"] for r in started]
        all_runs += runs
        wait_for(lambda p=path, r=runs[0]: progressed(p, r), timeout=30, what=f"{name}: runs under way")
        pid = s.client.kill(name)
        s.client.wait_healthy(30, after_pid_of=(name, pid))
        s.settled(runs)
        # Killing what runs no task re-runs nothing; a killed executor's tasks in flight (the one running and
        # those finished but not yet journaled) run again, each at most once per kill.
        assert (extra(path, runs) if allowed == 0 else most_extra(path, runs)) <= min(allowed, 1), \
            (name, executions(path))
        s.admitted_at_once(tmp_path / "probe.log")

    # A graceful stop with runs in flight (and one queued); they resume on the next start.
    path = tmp_path / "count-stop.log"
    runs = [s.start(counted(path))["run_id"] for _ in range(3)]
    wait_for(lambda: progressed(path, runs[0], 3), timeout=30, what="runs under way before the stop")
    s.stop()
    s = sys_()
    s.settled(runs)
    assert extra(path, runs) == 0, executions(path)
    s.admitted_at_once(tmp_path / "probe.log")

    # The root supervisor, then the admin, die with runs in flight: everything dies; start again.
    for victim in ("root", "admin"):
        path = tmp_path / f"count-{victim}.log"
        runs = [s.start(counted(path))["run_id"] for _ in range(3)]
        wait_for(lambda p=path, r=runs[0]: progressed(p, r, 3), timeout=30, what=f"{victim}: runs under way")
        pid = s.system.admin_pid if victim == "admin" else s.client.status()["nodes"][0]["pid"]
        if victim == "root":
            assert s.client.status()["nodes"][0]["name"] == "root"
        os.kill(pid, signal.SIGKILL)
        s.stop()  # what the launcher does when the root stops answering: kill what is left, by pid
        s = sys_()
        s.settled(runs)
        assert most_extra(path, runs) <= 1, (victim, executions(path))  # each task in flight: once more at most
        s.admitted_at_once(tmp_path / "probe.log")


def test_a_task_mid_flight_at_a_graceful_stop_finishes_is_journaled_and_never_runs_again(sys_, tmp_path: Path):
    """The executor lets the running task finish (briefly) and journals its result before it exits: after the
    next start the run goes on from there, and the task ran once."""
    from symphony_actors.testing.callables import allow_callables

    path = tmp_path / "ran.log"
    with allow_callables("symphony_actors.testing.long_tasks:*"):
        s = sys_()
        wf = (Workflow.build("mid-flight")
              .operator("slow", "builtin.call", params={"callable": "symphony_actors.testing.long_tasks:"
                                                                    "count_then_wait",
                                                        "kwargs": {"path": str(path), "seconds": 0.6}})
              .operator("after", "builtin.noop").after("slow", "after").build())
        run_id = s.start(wf)["run_id"]
        wait_for(lambda: path.exists() and path.read_text() == "ran\n", timeout=30, what="the task under way")
        s.stop()  # graceful, while the task sleeps
        s = sys_()
        s.settled([run_id])
    assert path.read_text() == "ran\n"  # once: its result was journaled at the stop
