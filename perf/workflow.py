"""Workflow model benchmarks (issue 4): validation, incremental cycle check, formats on a 10k-node DAG.

``python perf/workflow.py [--quick]``. The workflow: 100 layers of 100 operator
nodes; every node past the first layer has two typed data inputs fed from random
nodes of earlier layers (mostly the previous one), plus 200 control edges:
10,000 nodes, 20,000 edges, three params per node checked against a schema.
"""

from __future__ import annotations

import graphlib
import random
import time
from collections.abc import Callable

import networkx as nx
from _harness import Bench, median, percentile

from symphony_actors.domain.workflow import (
    Catalog,
    Edge,
    Node,
    NodeKind,
    NodeType,
    Param,
    ParamSchema,
    ParamType,
    Port,
    Workflow,
    check,
    dumps_binary,
    dumps_json,
    loads_binary,
    loads_json,
)
from symphony_actors.domain.workflow._fast import _local_fast
from symphony_actors.domain.workflow.frozen import freeze
from symphony_actors.domain.workflow.graph import kahn_levels

LAYERS, WIDTH = 100, 100

CATALOG = Catalog.of([NodeType("bench.ops/step", NodeKind.OPERATOR, ParamSchema.of(
    Param("temperature", ParamType.NUMBER, default=0.7, minimum=0, maximum=2),
    Param("max_tokens", ParamType.INTEGER, default=256, minimum=1, maximum=100_000),
    Param("prompt", ParamType.STRING, default="", max_length=10_000),
))])


def make_workflow(seed: int = 7, layers: int = LAYERS, width: int = WIDTH) -> Workflow:
    rnd = random.Random(seed)
    ins = (Port("a", "text"), Port("b", "text"))
    outs = (Port("out", "text", required=False),)
    nodes: list[Node] = []
    edges: list[Edge] = []
    for layer in range(layers):
        for k in range(width):
            nid = f"n{layer:03d}_{k:03d}"
            params = freeze({"temperature": round(rnd.random() * 1.5, 2), "max_tokens": rnd.choice([128, 256, 512]),
                             "prompt": f"step {layer}.{k}: summarise the input"})
            nodes.append(Node(nid, NodeKind.OPERATOR, "bench.ops/step", params, ins if layer else (), outs))
            if layer:
                for port in ("a", "b"):
                    src_layer = layer - 1 if rnd.random() < 0.8 else rnd.randrange(layer)
                    src = f"n{src_layer:03d}_{rnd.randrange(width):03d}"
                    edges.append(Edge.data(src, "out", nid, port))
    extra = 2 * layers * width - len(edges)
    while extra > 0:
        a, b = sorted(rnd.sample(range(layers), 2))
        edges.append(Edge.control(f"n{a:03d}_{rnd.randrange(width):03d}", f"n{b:03d}_{rnd.randrange(width):03d}"))
        extra -= 1
    return Workflow("bench-10k", tuple(nodes), tuple(edges))


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds per call. CPU time of this thread: the machine is shared (2 cores, many jobs), and wall
    time mostly measures the neighbours; the calls do no I/O, so CPU time is their cost."""
    out = []
    for _ in range(repeat):
        t0 = time.thread_time()
        fn()
        out.append((time.thread_time() - t0) * 1000)
    return out


def calibration_ms() -> float:
    """CPU ms for a 1M-iteration Python loop: compare machines (about 30 ms on an idle modern core)."""
    best = float("inf")
    for _ in range(5):
        t0 = time.thread_time()
        s = 0
        for i in range(1_000_000):
            s += i
        best = min(best, (time.thread_time() - t0) * 1000)
    return best


def main() -> None:
    bench = Bench("workflow", description=__doc__ or "")
    quick = bench.quick
    wf = make_workflow()
    assert len(wf.nodes) == 10_000 and len(wf.edges) == 20_000
    analysis = check(wf, catalog=CATALOG)
    assert analysis.ok, analysis.problems[:5]

    runs = timed(lambda: check(wf, catalog=CATALOG), 15 if quick else 50)
    bench.record("validate_10k_ms", median(runs), goal=20, unit="ms",
                 note=f"min {min(runs):.1f}, p90 {percentile(runs, 90):.1f} ms")
    walls = []
    for _ in range(5 if quick else 15):
        t0 = time.perf_counter()
        check(wf, catalog=CATALOG)
        walls.append((time.perf_counter() - t0) * 1000)
    bench.record("validate_10k_wall_ms", median(walls), unit="ms", note="wall clock, for reference")
    # What the graph passes cost of that (Kahn order and levels on the compiled arrays): the most a
    # compiled graph library (rustworkx, ...) could take off; the rest is the per-element local checks.
    local = _local_fast(wf, CATALOG)
    assert local is not None
    ids, _index, succ, indeg, _ends = local
    bench.record("validate_10k_graph_ms", median(timed(lambda: kahn_levels(len(ids), succ, indeg), 15)),
                 unit="ms", note="of which: Kahn order + levels")
    big = make_workflow(layers=LAYERS * 10)
    assert len(big.nodes) == 100_000 and check(big, catalog=CATALOG).ok
    runs100 = timed(lambda: check(big, catalog=CATALOG), 3 if quick else 7)
    bench.record("validate_100k_ms", median(runs100), goal=200, unit="ms",
                 note=f"100k nodes, 200k edges; p99 {percentile(runs100, 99):.0f} ms (linear: 10x the 10k goal)")

    # Incremental: random candidate edges on the valid graph; those that keep it acyclic are added.
    rnd = random.Random(11)
    dag = analysis.graph.incremental()
    n = len(wf.nodes)
    times, checks, cycles = [], [], 0
    for _ in range(3_000 if quick else 20_000):
        u, v = rnd.randrange(n), rnd.randrange(n)
        t0 = time.thread_time()
        dag.would_close_cycle(u, v)
        checks.append((time.thread_time() - t0) * 1000)
        t0 = time.thread_time()
        closed = dag.add_edge(u, v)
        times.append((time.thread_time() - t0) * 1000)
        cycles += closed is not None
    bench.record("add_edge_p99_ms", percentile(times, 99), goal=1, unit="ms",
                 note=f"p50 {percentile(times, 50):.3f} ms, max {max(times):.2f} ms, {cycles}/{len(times)} "
                      f"closed a cycle, {dag.relabels} relabels")
    bench.record("would_close_cycle_p99_ms", percentile(checks, 99), unit="ms")

    js = dumps_json(wf)
    bn = dumps_binary(wf)
    bench.record("binary_vs_json_ratio", len(bn) / len(js), goal=0.2,
                 note=f"binary {len(bn):,} B, JSON {len(js):,} B")
    reps = 5 if quick else 15
    assert loads_json(js) == wf and loads_binary(bn) == wf
    bench.record("json_load_10k_ms", median(timed(lambda: loads_json(js), reps)), unit="ms")
    bench.record("binary_load_10k_ms", median(timed(lambda: loads_binary(bn), reps)), unit="ms")
    bench.record("json_dump_10k_ms", median(timed(lambda: dumps_json(wf), reps)), unit="ms")
    bench.record("binary_dump_10k_ms", median(timed(lambda: dumps_binary(wf), reps)), unit="ms")

    # Baselines on the same graph: networkx DAG test and stdlib graphlib, and the machine's speed.
    bench.record("baseline_python_1m_loop_ms", calibration_ms(), unit="ms", note="machine speed")
    g = nx.DiGraph()
    g.add_nodes_from(node.id for node in wf.nodes)
    g.add_edges_from((e.source, e.target) for e in wf.edges)
    bench.record("baseline_networkx_is_dag_ms", median(timed(lambda: nx.is_directed_acyclic_graph(g), 5)), unit="ms")
    preds: dict[str, list[str]] = {}
    for e in wf.edges:
        preds.setdefault(e.target, []).append(e.source)
    bench.record("baseline_graphlib_order_ms",
                 median(timed(lambda: list(graphlib.TopologicalSorter(preds).static_order()), 5)), unit="ms")
    bench.finish()


if __name__ == "__main__":
    main()
