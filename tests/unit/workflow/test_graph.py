"""Kahn order and levels, cycle paths, and the incremental cycle check against brute force."""

from __future__ import annotations

import itertools
import random

import pytest

from symphony_actors.domain.workflow import IncrementalDag, find_cycles, kahn_levels


def reachable(succ: list[list[int]], a: int, b: int) -> bool:
    seen, stack = {a}, [a]
    while stack:
        x = stack.pop()
        if x == b:
            return True
        for y in succ[x]:
            if y not in seen:
                seen.add(y)
                stack.append(y)
    return False


def test_kahn_levels_longest_path() -> None:
    """Level = longest path from a source; ties within a level by index."""
    succ = [[2], [2, 3], [4], [4], []]
    res = kahn_levels(5, succ)
    assert res.levels == [[0, 1], [2, 3], [4]]
    assert res.order == [0, 1, 2, 3, 4]
    assert res.acyclic and res.blocked == []


def test_kahn_reports_blocked_nodes() -> None:
    """Nodes in or behind a cycle are blocked; find_cycles gives each cycle once."""
    succ = [[1], [2], [1, 3], []]
    res = kahn_levels(4, succ)
    assert res.blocked == [1, 2, 3]
    assert find_cycles(succ, res.blocked) == [[1, 2, 1]]


def test_find_cycles_shortest_through_lowest_node() -> None:
    """In a component with several cycles, the shortest through its lowest node is shown."""
    succ = [[1], [2, 0], [3], [0]]
    assert find_cycles(succ, range(4)) == [[0, 1, 0]]


def test_incremental_dag_refuses_cycles_with_path() -> None:
    """Adding an edge that closes a cycle returns the cycle and leaves the graph unchanged."""
    dag = IncrementalDag(4, [(0, 1), (1, 2), (2, 3)])
    assert dag.add_edge(3, 0) == [3, 0, 1, 2, 3]
    assert dag.cycle_if_added(2, 2) == [2, 2]
    assert not dag.has_edge(3, 0)
    assert dag.add_edge(0, 3) is None
    assert dag.would_close_cycle(3, 1)


def test_incremental_dag_reorders_when_needed() -> None:
    """An edge against the current order is accepted and the order fixed."""
    dag = IncrementalDag(3, [], order=[0, 1, 2])
    assert dag.add_edge(2, 0) is None
    assert dag.position(2) < dag.position(0)
    assert dag.add_edge(0, 2) == [0, 2, 0]


def test_incremental_dag_refuses_a_cyclic_start() -> None:
    """The starting edges must form a DAG."""
    with pytest.raises(ValueError, match="cycle"):
        IncrementalDag(2, [(0, 1), (1, 0)])


@pytest.mark.parametrize("seed", range(5))
def test_incremental_matches_brute_force(seed: int) -> None:
    """On random edge sequences, add_edge refuses exactly the edges that close a cycle; the order stays
    topological."""
    rnd = random.Random(seed)
    n = 40
    dag = IncrementalDag(n)
    succ: list[list[int]] = [[] for _ in range(n)]
    for _ in range(300):
        u, v = rnd.randrange(n), rnd.randrange(n)
        closes = u == v or reachable(succ, v, u)
        got = dag.add_edge(u, v)
        assert (got is not None) == closes
        if got is not None:
            assert got[0] == u and got[-1] == u and got[1] == v
            assert all(b in succ[a] for a, b in itertools.pairwise(got[1:]))  # got[0] -> got[1] is the new edge
        else:
            succ[u].append(v)
        order = dag.order
        pos = {x: i for i, x in enumerate(order)}
        assert sorted(order) == list(range(n))
        assert all(pos[a] < pos[b] for a in range(n) for b in succ[a])


def test_add_node_and_names() -> None:
    """New nodes go last; names map indices for messages."""
    dag = IncrementalDag(1, names=["a"])
    b = dag.add_node("b")
    assert dag.add_edge(b, 0) is None
    assert dag.names_of(dag.add_edge(0, b) or []) == ["a", "b", "a"]
    dag.remove_edge(b, 0)
    assert dag.add_edge(0, b) is None
    assert len(dag) == 2 and dag.successors(0) == [1]
