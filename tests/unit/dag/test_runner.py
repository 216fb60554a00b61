"""The task runner: tasks off the loop, exactly once, time limits, hang verdicts, bounded per-attempt output."""

from __future__ import annotations

import select
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from symphony_actors.domain.errors import DeadlineExceeded
from symphony_actors.pit.dag import runner as runner_mod
from symphony_actors.pit.dag.engine import Task
from symphony_actors.pit.dag.runner import BoundedText, TaskRunner, run_inline
from symphony_actors.pit.dag.store import OUTPUT_MAX, DagStore
from symphony_actors.pit.dag.tasks import TaskQueue
from symphony_actors.runtime.waker import Waker
from symphony_actors.testing.callables import allow_callables
from symphony_actors.testing.waiting import wait_for


@pytest.fixture(scope="module", autouse=True)
def _allowed_callables():
    """Workflows are data: the builtin.call nodes of these tests call test callables, allowed here."""
    with allow_callables("symphony_actors.testing.long_tasks:*"):
        yield


def task(node: str, timeout: float | None = None, attempt: int = 1) -> Task:
    return Task("r1", node, -1, attempt, "t", "operator", {}, {}, timeout)


def ok(t: Task) -> tuple[Any, ...]:
    return (t.run_id, t.node_id, t.item, t.attempt, True, t.node_id, None, None, time.time(), 0.0)


class Harness:
    def __init__(self, execute: Any, grace: float = 0.2) -> None:
        self.woken = threading.Event()
        self.runner = TaskRunner("exec-t", TaskQueue(100), execute, self.woken.set, grace=grace)
        self.results: list[tuple[Any, ...]] = []
        self.records: list[dict[str, Any]] = []

    def collect(self, n: int, timeout: float = 10.0) -> None:
        def enough() -> bool:
            self.runner.check()
            for result, record in self.runner.take():
                self.results.append(result)
                self.records.append(record)
            return len(self.results) >= n

        wait_for(enough, timeout=timeout, what=f"{n} results")


def test_tasks_run_on_another_thread_and_each_result_wakes_the_loop() -> None:
    seen: list[str] = []

    def execute(t: Task) -> tuple[Any, ...]:
        seen.append(threading.current_thread().name)
        runner_mod.log(f"ran {t.node_id}", n=1)
        return ok(t)

    h = Harness(execute)
    assert h.runner.offer([task("a"), task("b")]) == []
    assert h.woken.wait(10)
    h.collect(2)
    assert [r[1] for r in h.results] == ["a", "b"]
    assert all(name.startswith("exec-t-task") for name in seen) and threading.current_thread().name not in seen
    assert h.records[0]["log"][0][1:] == ["info", "ran a", {"n": 1}] and h.records[0]["worker"] == "exec-t"
    h.runner.stop()


def test_a_task_is_run_once_even_when_offered_again_while_it_runs() -> None:
    release = threading.Event()
    calls: list[str] = []

    def execute(t: Task) -> tuple[Any, ...]:
        calls.append(t.node_id)
        release.wait(10)
        return ok(t)

    h = Harness(execute)
    h.runner.offer([task("a")])
    wait_for(lambda: h.runner.busy, what="a running")
    assert h.runner.offer([task("a")]) == []     # running: neither queued again nor answered yet
    release.set()
    h.collect(1)
    assert h.runner.offer([task("a")])[0][1] == "a"  # finished: answered from the cache
    assert calls == ["a"]
    h.runner.stop()


def test_past_its_limit_a_task_fails_at_once_the_slot_moves_on_and_a_stuck_thread_is_a_hang() -> None:
    never = threading.Event()

    def execute(t: Task) -> tuple[Any, ...]:
        if t.node_id == "stuck":
            never.wait()   # ignores its limit
        return ok(t)

    h = Harness(execute, grace=0.3)
    h.runner.offer([task("stuck", timeout=0.2), task("next")])
    h.collect(2)
    stuck, nxt = h.results
    assert stuck[1] == "stuck" and not stuck[4] and stuck[7]["code"] == "deadline_exceeded"
    assert nxt[1] == "next" and nxt[4]   # the slot got a fresh thread
    verdict = wait_for(h.runner.hung, timeout=5, what="a hang verdict")
    assert "task 'stuck' of run r1" in verdict and "grace 0.3 s" in verdict
    never.set()   # the thread comes back: no longer hung, its late result ignored
    wait_for(lambda: h.runner.hung() is None and not h.runner.check(), what="the abandoned thread to end")
    assert [r[1] for r in h.results] == ["stuck", "next"]
    h.runner.stop()


def test_cooperative_sleep_ends_at_the_limit_and_plain_sleep_outside_a_task() -> None:
    def execute(t: Task) -> tuple[Any, ...]:
        try:
            runner_mod.sleep(30)
        except DeadlineExceeded as exc:
            return (t.run_id, t.node_id, t.item, t.attempt, False, None, None, exc.to_wire(), 0.0, 0.0)
        return ok(t)

    result, record = run_inline("w", task("s", timeout=0.05), execute)
    assert not result[4] and result[7]["code"] == "deadline_exceeded" and record["ok"] is False
    runner_mod.sleep(0)            # no attempt: a plain sleep
    assert not runner_mod.cancelled()


def test_bounded_text_keeps_head_and_tail_and_says_what_it_dropped() -> None:
    b = BoundedText(limit=20)
    for i in range(100):
        b.write(f"{i:03d}\n")
    text = b.text()
    assert text.startswith("000\n001\n00") and text.endswith("098\n099\n")
    assert "[... 380 characters truncated ...]" in text and b.truncated
    small = BoundedText(limit=20)
    small.write("hello")
    assert small.text() == "hello" and not small.truncated


def test_waker_runs_posts_from_other_threads_in_order_with_one_wake_up() -> None:
    w = Waker()
    got: list[int] = []
    threads = [threading.Thread(target=w.post, args=(got.append, i)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    readable, _, _ = select.select([w.fileno()], [], [], 5)
    assert readable == [w.fileno()]
    for fn, args in w.drain():
        fn(*args)
    assert sorted(got) == list(range(5))
    assert select.select([w.fileno()], [], [], 0)[0] == []  # drained: quiet until the next post
    w.close()
    w.post(got.append, 99)  # after close: dropped, not an error
    assert 99 not in got


def test_attempts_are_stored_bounded_and_read_per_node(tmp_path: Path) -> None:
    store = DagStore(tmp_path / "runs.sqlite")
    base = {"run_id": "r", "item": -1, "worker": "exec-0", "host": "h", "ok": True, "stderr": "", "log": [],
            "error": None, "truncated": False}
    store.write_attempts([{**base, "node": "a", "attempt": 1, "started": 1.0, "ended": 3.5, "stdout": "hi"},
                          {**base, "node": "b", "attempt": 1, "started": 2.0, "ended": 2.5,
                           "stdout": "x" * (OUTPUT_MAX * 2)}])
    a, b = store.attempts("r")
    assert a["node"] == "a" and a["seconds"] == 2.5 and a["stdout"] == "hi" and not a["truncated"]
    assert b["truncated"] and len(b["stdout"]) <= OUTPUT_MAX // 4
    assert [x["node"] for x in store.attempts("r", "b", output=False)] == ["b"]
    assert "stdout" not in store.attempts("r", "b", output=False)[0]
    store.close()


@pytest.fixture(autouse=True)
def _no_attempt_left() -> Any:
    yield
    assert runner_mod.current_attempt() is None


def test_the_tracker_keeps_each_attempt_and_serves_them_by_node(tracker: Any) -> None:
    from symphony_actors.domain.errors import NotFoundError
    from symphony_actors.domain.workflow import RetryPolicy, Workflow

    wf = (Workflow.build("w")
          .operator("talk", "builtin.call", params={"callable": "symphony_actors.testing.long_tasks:chatty",
                                                    "kwargs": {"lines": 2}})
          .operator("bad", "builtin.fail", retry=RetryPolicy(retries=1, backoff_s=0.0)).build())
    snap = tracker.run(wf, advance=5)
    rid = snap["run_id"]
    talk = tracker.rt.call("dag", "logs", run_id=rid, node="talk")["attempts"]
    assert [line[2] for line in talk[0]["log"]] == ["log line 0", "log line 1"]
    assert talk[0]["worker"] in ("exec-0", "exec-1") and talk[0]["ok"]
    bad = tracker.rt.call("dag", "logs", run_id=rid, node="bad", output=False)["attempts"]
    assert [a["attempt"] for a in bad] == [1, 2] and not any(a["ok"] for a in bad)
    with pytest.raises(NotFoundError):
        tracker.rt.call("dag", "logs", run_id="nope")
    with pytest.raises(NotFoundError):
        tracker.rt.call("dag", "logs", run_id=rid, node="nobody")
