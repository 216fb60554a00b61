"""Invariants of the scheduling engine on random DAGs with random failures (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_actors.domain.errors import ExtensionFailed
from symphony_actors.domain.workflow import Edge, Node, NodeKind, Workflow
from symphony_actors.pit.dag.engine import NodeStatus, RunEngine


@st.composite
def dags(draw: Any) -> tuple[Workflow, set[str]]:
    n = draw(st.integers(1, 25))
    ids = [f"n{i}" for i in range(n)]
    edges = []
    for j in range(1, n):
        for i in draw(st.sets(st.integers(0, j - 1), max_size=3)):
            edges.append(Edge.control(ids[i], ids[j]))
    nodes = tuple(Node.make(i, NodeKind.OPERATOR, "builtin.noop") for i in ids)
    failing = set(draw(st.sets(st.sampled_from(ids), max_size=max(1, n // 4))))
    return Workflow("random", nodes, tuple(edges)), failing


@settings(max_examples=150, deadline=None)
@given(dags(), st.randoms(use_true_random=False))
def test_every_node_ends_once_and_runs_only_after_its_upstream_succeeded(case: Any, rng: Any) -> None:
    wf, failing = case
    engine = RunEngine("r", wf)
    ran: list[str] = []
    pending = list(engine.start().dispatch)
    dispatched = [t.node_id for t in pending]
    while pending:
        task = pending.pop(rng.randrange(len(pending)))  # results come back in any order
        for e in wf.edges_into(task.node_id):  # an upstream node finished successfully before this one ran
            assert engine.node_status(e.source) == NodeStatus.SUCCEEDED
        ran.append(task.node_id)
        if task.node_id in failing:
            d = engine.failed(task.key, ExtensionFailed("injected").to_wire())
        else:
            d = engine.succeeded(task.key, None)
        pending.extend(d.dispatch)
        dispatched.extend(t.node_id for t in d.dispatch)
    assert engine.finished
    assert len(dispatched) == len(set(dispatched))  # no node dispatched twice (no retry policy)
    for node in wf.nodes:
        status = engine.node_status(node.id)
        ups = [e.source for e in wf.edges_into(node.id)]
        if status == NodeStatus.SKIPPED:
            assert any(engine.node_status(u) in (NodeStatus.FAILED, NodeStatus.SKIPPED) for u in ups)
        else:
            assert node.id in ran
            assert status == (NodeStatus.FAILED if node.id in failing else NodeStatus.SUCCEEDED)
    assert engine.outcome == ("failed" if any(engine.node_status(f) == NodeStatus.FAILED for f in failing)
                              else "succeeded")


@settings(max_examples=100, deadline=None)
@given(dags(), st.integers(0, 30))
def test_a_restored_engine_finishes_the_same_run_without_rerunning_finished_nodes(case: Any, stop_after: int) -> None:
    wf, failing = case
    first = RunEngine("r", wf)
    pending = list(first.start().dispatch)
    done = 0
    while pending and done < stop_after:
        task = pending.pop(0)
        d = (first.failed(task.key, ExtensionFailed("x").to_wire()) if task.node_id in failing
             else first.succeeded(task.key, None))
        pending.extend(d.dispatch)
        done += 1
    # "crash": a new engine restored from the final states the first one reached (the checkpoint)
    second = RunEngine("r", wf)
    final = {}
    for node in wf.nodes:
        s = first.node_status(node.id)
        if s in NodeStatus.FINAL:
            second.restore(node.id, s, first.attempts[first.index[node.id]], None, None, None)
            final[node.id] = s
    rerun: list[str] = []
    pending2 = list(second.resume().dispatch)
    while pending2:
        task = pending2.pop(0)
        rerun.append(task.node_id)
        d = (second.failed(task.key, ExtensionFailed("x").to_wire()) if task.node_id in failing
             else second.succeeded(task.key, None))
        pending2.extend(d.dispatch)
    assert second.finished
    assert not set(rerun) & set(final)  # nothing that had finished runs again
    for node_id, s in final.items():
        assert second.node_status(node_id) == s
