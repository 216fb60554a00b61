"""Workflow execution: 10k no-op nodes end to end, tracker overhead, parallel speedup, recovery.

    python perf/dag.py [--quick]
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import Bench, median

from symphony_actors.client import Client
from symphony_actors.domain.workflow import Workflow
from symphony_actors.pit.dag.service import DagService
from symphony_actors.ports.service import ServiceSettings
from symphony_actors.runtime.system import boot
from symphony_actors.testing import LocalRuntime
from symphony_actors.testing.trees import dag_tree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def free_port() -> int:
    from integration.conftest import free_port as fp

    return fp()


def noop_dag(n: int, seed: int = 1) -> Workflow:
    """n no-op nodes; two of three depend on a random recent node (depth ~ n/300, wide levels)."""
    rng = random.Random(seed)
    b = Workflow.build(f"noop{n}")
    for i in range(n):
        b = b.operator(f"n{i}", "builtin.noop")
    for i in range(1, n):
        if i % 3:
            b = b.after(f"n{rng.randrange(max(0, i - 100), i)}", f"n{i}")
    return b.build()


def cpu_dag(n: int, rounds: int) -> Workflow:
    b = Workflow.build("cpu")
    for i in range(n):
        b = b.operator(f"h{i}", "builtin.hash", params={"rounds": rounds})
    return b.build()


class InstantExecutor:
    """Answers every task at once: what remains is the tracker's own work."""

    def __init__(self) -> None:
        self.ctx: Any = None

    def on_start(self, ctx: Any) -> None:
        self.ctx = ctx

    def run_batch(self, tasks: list[Any]) -> None:
        self.ctx.tell("dag", "on_results", executor=self.ctx.name, results=[
            (t.run_id, t.node_id, t.item, t.attempt, True, None, None, None, 0.0, 0.0) for t in tasks])

    def forget_run(self, run_id: str) -> None:
        return None


class _Bus:
    def subscribe(self, subscriber: str, pattern: str) -> bool:
        return True


def sched_overhead(wf: Workflow, tmp: Path) -> tuple[float, float]:
    """(everything the tracker does per task, of which decoding and validating the submitted document).

    Executors answer instantly and in-process (the in-process runtime delivers synchronously, so the
    whole run happens inside submit): what is timed is the tracker itself: decode and validate,
    compile, the frontier, transitions, dispatch batches, result folding, events, checkpoint writes.
    """
    from symphony_actors.domain.workflow import dumps_binary, loads

    rt = LocalRuntime(tmp)
    rt.add_service("bus", _Bus())
    for i in range(2):
        rt.add_service(f"exec-{i}", InstantExecutor())
    rt.add_service("dag", DagService(ServiceSettings("dag", tmp, {"executors": 2})))
    doc = dumps_binary(wf, level=3)  # what a client sends
    t0 = time.perf_counter()
    rid = rt.call("dag", "submit", workflow=doc)
    while rt.advance(0):
        pass
    t1 = time.perf_counter()
    assert rt.call("dag", "status", run_id=rid)["status"] == "succeeded"
    t2 = time.perf_counter()
    loads(doc).validate()
    t3 = time.perf_counter()
    n = len(wf.nodes)
    return (t1 - t0) / n * 1e6, (t3 - t2) / n * 1e6


def run_once(client: Client, wf: Workflow) -> float:
    t = time.perf_counter()
    snap = client.run_workflow(wf).wait(300)
    assert snap["status"] == "succeeded", snap
    return time.perf_counter() - t


def main() -> None:
    bench = Bench("dag")
    n = 10_000
    reps = 1 if bench.quick else 3
    cores = os.cpu_count() or 1
    wf = noop_dag(n)
    with tempfile.TemporaryDirectory() as tmp:
        overhead, submit_part = sched_overhead(wf, Path(tmp) / "inproc")
        system = boot(dag_tree({"executors": cores}), free_port(), Path(tmp) / "sys")
        try:
            client = Client(system.port, timeout=120)
            run_once(client, noop_dag(500, seed=2))  # warm the executors
            times = [run_once(client, wf) for _ in range(reps)]
            # recovery: kill the tracker mid-run, time until it makes progress again
            recoveries = []
            for _ in range(1 if bench.quick else 3):
                run = client.run_workflow(wf)
                while run.status()["counts"].get("succeeded", 0) < n // 3:
                    time.sleep(0.005)
                before = run.status()["counts"].get("succeeded", 0)
                t0 = time.perf_counter()
                client.kill("dag")
                while True:
                    try:
                        done = run.status()["counts"].get("succeeded", 0)
                    except Exception:  # noqa: BLE001 - the tracker is restarting: keep polling
                        done = -1
                    if done > before:
                        break
                    time.sleep(0.002)
                recoveries.append(time.perf_counter() - t0)
                assert run.wait(300)["status"] == "succeeded"
            cpu = cpu_dag(4 * cores * 3, 40_000 if bench.quick else 80_000)
            t_many = run_once(client, cpu)
            client.close()
        finally:
            system.stop()
        single = boot(dag_tree({"executors": 1}), free_port(), Path(tmp) / "one")
        try:
            with Client(single.port, timeout=120) as c1:
                run_once(c1, noop_dag(200, seed=3))
                t_one = run_once(c1, cpu)
        finally:
            single.stop()
    t10k = median(times)
    bench.record("noop_10k_s", t10k, goal=2.0, unit="s", note=f"{n} no-op nodes, {cores} executor processes")
    bench.record("tasks_per_s", n / t10k, goal=5000, better="higher", unit="tasks/s")
    bench.record("sched_overhead_us", overhead, goal=50, unit="us/task",
                 note="all tracker work per task incl. submit, events, checkpoints; in-process, instant executors")
    bench.record("sched_submit_us", submit_part, unit="us/task",
                 note="of which: decoding + validating the submitted document (once per run)")
    bench.record("parallel_speedup", t_one / t_many, goal=1.7, better="higher",
                 note=f"CPU-bound nodes, {cores} executors vs 1 ({t_one:.2f} s vs {t_many:.2f} s)")
    bench.record("recovery_s", median(recoveries), goal=1.0, unit="s", note="tracker killed mid-run -> progressing")
    bench.finish()


if __name__ == "__main__":
    main()
