"""Long tasks: what a 30 s task costs on top of its 30 s, through the client path.

    python perf/long_tasks.py [--quick]

``long_task_overhead_pct``: the wall time of a run holding one 30 s ``builtin.sleep`` node, from
``client.run_workflow`` until ``run.wait`` returns, over 30 s, minus one, in percent (goal <= 1 %).
The quick run measures once, the full run three times (median). A real system: the tracker, two executor
processes, the bus and the artifact store.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from _harness import Bench, median

from symphony_actors.client import Client
from symphony_actors.domain.workflow import Workflow
from symphony_actors.runtime.system import boot
from symphony_actors.testing.trees import dag_tree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

SECONDS = 30.0


def free_port() -> int:
    from integration.conftest import free_port as fp

    return fp()


def one_long_task(client: Client) -> float:
    wf = Workflow.build("long").operator("long", "builtin.sleep", params={"seconds": SECONDS}).build()
    t0 = time.perf_counter()
    run = client.run_workflow(wf)
    snap = run.wait(SECONDS + 60)
    wall = time.perf_counter() - t0
    if snap["status"] != "succeeded":
        raise SystemExit(f"the long task did not succeed: {snap}")
    return wall


def main() -> None:
    bench = Bench("long_tasks", description=__doc__ or "")
    with tempfile.TemporaryDirectory(prefix="perf-long-") as tmp:
        system = boot(dag_tree({"executors": 2}), free_port(), Path(tmp) / "data")
        try:
            with Client(system.port, timeout=30) as client:
                walls = [one_long_task(client) for _ in range(1 if bench.quick else 3)]
        finally:
            system.stop()
    wall = median(walls)
    bench.record("long_task_overhead_pct", (wall / SECONDS - 1) * 100, goal=1.0, unit="%",
                 note=f"{SECONDS:g} s sleep took {wall:.3f} s (client submit to wait)")
    bench.finish()


if __name__ == "__main__":
    main()
