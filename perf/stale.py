"""Stale Manager benchmarks: invalidating a 10,000-artifact lineage graph from its root, and re-run queries.

* ``invalidate_10k_ms``: ``Lineage.mark_stale`` on the root of a layered graph (one root, 10 layers of
  1,000 artifacts, each derived from 1-3 artifacts of the layer above): all 10,000 go stale, in-process.
* ``invalidate_10k_persist_ms``: the same through the service, including writing the 10,000 changed
  records to SQLite.
* ``fresh_nodes_10k_ms``: one ``fresh_nodes`` query for a 10,000-node re-run that finds every node fresh.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _harness import Bench, median

from symphony_actors.pit.stale.core import Lineage
from symphony_actors.pit.stale.service import StaleService
from symphony_actors.ports.service import ServiceSettings

LAYERS, WIDTH = 10, 1000


def graph(seed: int = 3) -> list[tuple[str, list[str]]]:
    rng = random.Random(seed)
    rows: list[tuple[str, list[str]]] = []
    above = ["root"]
    for layer in range(LAYERS):
        here = [f"a{layer}-{i}" for i in range(WIDTH)]
        for a in here:
            rows.append((a, sorted(set(rng.sample(above, min(len(above), rng.randint(1, 3)))))))
        above = here
    return rows


def build(record: Callable[..., object], rows: list[tuple[str, list[str]]]) -> None:
    for a, inputs in rows:
        record(artifact=a, node_type="op", params={"p": 1}, inputs=inputs, size_bytes=100)


def lineage(rows: list[tuple[str, list[str]]]) -> Lineage:
    lin = Lineage(time.time)
    for a, inputs in rows:
        lin.record(a, "op", params={"p": 1}, inputs=inputs, size_bytes=100)
    return lin


def main() -> None:
    bench = Bench("stale")
    reps = 3 if bench.quick else 10
    rows = graph()
    core_ms, svc_ms, fresh_ms = [], [], []
    for _ in range(reps):
        lin = lineage(rows)
        t0 = time.perf_counter()
        marked = lin.mark_stale(["root"])["count"]
        core_ms.append((time.perf_counter() - t0) * 1000)
        assert marked == LAYERS * WIDTH
    nodes = [{"node": a, "type": "op", "params": {"p": 1}, "inputs": inputs} for a, inputs in rows]
    for _ in range(reps):
        lin = lineage(rows)
        t0 = time.perf_counter()
        out = lin.fresh_nodes(nodes)
        fresh_ms.append((time.perf_counter() - t0) * 1000)
        assert len(out["fresh"]) == LAYERS * WIDTH
    for _ in range(max(1, reps // 3)):
        tmp = Path(tempfile.mkdtemp(prefix="stale-bench-"))
        try:
            svc = StaleService(ServiceSettings("stale", tmp))
            build(svc.record, rows)
            svc.tick()  # save the records first; the timed part writes only what invalidation changed
            t0 = time.perf_counter()
            svc.mark_stale(artifacts=["root"])
            svc._save()
            svc_ms.append((time.perf_counter() - t0) * 1000)
            svc.on_stop()
        finally:
            shutil.rmtree(tmp)
    bench.record("invalidate_10k_ms", median(core_ms), goal=50, unit="ms", note=f"median of {reps}")
    bench.record("invalidate_10k_max_ms", max(core_ms), unit="ms")
    bench.record("invalidate_10k_persist_ms", median(svc_ms), unit="ms", note="service + SQLite write")
    bench.record("fresh_nodes_10k_ms", median(fresh_ms), unit="ms", note="10,000 nodes, all fresh")
    bench.finish()


if __name__ == "__main__":
    main()
