"""Validation: every problem at once, plus topological order and parallel levels.

:func:`check` never raises for a bad workflow: it returns an :class:`Analysis`
whose ``problems`` name each fault by its place in the document
(``nodes[12].params.temperature``, ``edges[3].target_port``) and whose
``graph`` holds array adjacency, a stable topological order and levels for the
DAG tracker. :func:`validate` raises :class:`ValidationError` instead.

Problem kinds (``Problem.kind``): see :class:`ProblemKind`.

Built for speed: a bulk pass (:mod:`._fast`) proves "no local problem" for the
common case; only when it cannot does the element-by-element pass
(:mod:`._checks`) run to name every problem. Then Kahn's algorithm on array
adjacency; cycle paths are only searched for when Kahn leaves nodes over.
``perf/workflow.py`` measures the 10k-node / 20k-edge case
(``docs/perf-notes/workflow.md``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from symphony_actors.domain.callables import check_callables
from symphony_actors.domain.errors import Problem, ValidationError
from symphony_actors.domain.workflow._checks import ProblemKind, _local_slow
from symphony_actors.domain.workflow._fast import _local_fast
from symphony_actors.domain.workflow.catalog import BUILTINS, Catalog
from symphony_actors.domain.workflow.graph import IncrementalDag, KahnResult, find_cycles, kahn_levels
from symphony_actors.domain.workflow.model import (
    Workflow,
)

__all__ = ["Analysis", "ProblemKind", "WorkflowGraph", "check", "validate"]


class WorkflowGraph:
    """Array adjacency of a workflow (all edge kinds), its Kahn order and levels.

    Node ``i`` is ``workflow.nodes[i]``; edges that name a missing node are left
    out. ``order``/``levels`` cover the nodes not in or behind a cycle. Treat the
    lists as read-only.
    """

    __slots__ = ("_ends", "_in_edges", "_out_edges", "_pred", "ids", "index", "kahn", "succ")

    def __init__(self, ids: list[str], index: dict[str, int], succ: list[list[int]],
                 edge_ends: list[tuple[int, int]] | tuple[list[int], list[int]], kahn: KahnResult) -> None:
        self.ids = ids
        self.index = index
        self.succ = succ
        self._ends = edge_ends  # a list of pairs, or (sources, targets) to zip when first asked
        self.kahn = kahn
        self._pred: list[list[int]] | None = None
        self._out_edges: list[list[int]] | None = None
        self._in_edges: list[list[int]] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def edge_ends(self) -> list[tuple[int, int]]:
        """Per edge of ``workflow.edges``: (source index, target index), ``(-1, -1)`` when it dangles."""
        ends = self._ends
        if isinstance(ends, tuple):
            ends = self._ends = list(zip(ends[0], ends[1], strict=True))
        return ends

    @property
    def acyclic(self) -> bool:
        return self.kahn.acyclic

    @property
    def order(self) -> list[int]:
        return self.kahn.order

    @property
    def levels(self) -> list[list[int]]:
        return self.kahn.levels

    @property
    def pred(self) -> list[list[int]]:
        if self._pred is None:
            pred: list[list[int]] = [[] for _ in self.ids]
            for u, targets in enumerate(self.succ):
                for v in targets:
                    pred[v].append(u)
            self._pred = pred
        return self._pred

    def _edge_lists(self) -> tuple[list[list[int]], list[list[int]]]:
        if self._out_edges is None or self._in_edges is None:
            out: list[list[int]] = [[] for _ in self.ids]
            inn: list[list[int]] = [[] for _ in self.ids]
            for j, (s, t) in enumerate(self.edge_ends):
                if s >= 0:
                    out[s].append(j)
                    inn[t].append(j)
            self._out_edges, self._in_edges = out, inn
        return self._out_edges, self._in_edges

    def out_edges(self, node: int) -> list[int]:
        """Indices into ``workflow.edges`` of the edges leaving ``node``."""
        return self._edge_lists()[0][node]

    def in_edges(self, node: int) -> list[int]:
        """Indices into ``workflow.edges`` of the edges entering ``node``."""
        return self._edge_lists()[1][node]

    def sources(self) -> list[int]:
        return self.kahn.levels[0] if self.kahn.levels else []

    def incremental(self) -> IncrementalDag:
        """An :class:`IncrementalDag` over this (acyclic) graph, for fast "would this edge close a cycle?"."""
        if not self.acyclic:
            raise ValueError("the graph has a cycle; fix it before checking edges incrementally")
        edges = [(u, v) for u, targets in enumerate(self.succ) for v in targets]
        return IncrementalDag(len(self.ids), edges, names=self.ids, order=self.kahn.order)


@dataclass(frozen=True, slots=True)
class Analysis:
    """The result of :func:`check`: ``problems`` (empty when valid) and the compiled graph."""

    workflow: Workflow
    problems: tuple[Problem, ...]
    graph: WorkflowGraph
    cycles: tuple[tuple[str, ...], ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def order(self) -> tuple[str, ...]:
        """Node ids in topological order: by level, ties by position in ``workflow.nodes``."""
        ids = self.graph.ids
        return tuple(ids[i] for i in self.graph.order)

    @property
    def levels(self) -> tuple[tuple[str, ...], ...]:
        """Groups of node ids that may run in parallel, level ``k`` after level ``k - 1``."""
        ids = self.graph.ids
        return tuple(tuple(ids[i] for i in lvl) for lvl in self.graph.levels)

    @property
    def depth(self) -> int:
        return len(self.graph.levels)

    @property
    def width(self) -> int:
        return max((len(lvl) for lvl in self.graph.levels), default=0)

    def summary(self) -> dict[str, Any]:
        return {"name": self.workflow.name, "nodes": len(self.workflow.nodes), "edges": len(self.workflow.edges),
                "depth": self.depth, "width": self.width, "problems": len(self.problems)}

    def raise_if_invalid(self) -> Analysis:
        if self.problems:
            raise ValidationError(self.problems, subject=f"workflow {self.workflow.name!r}")
        return self


def validate(wf: Workflow, *, catalog: Catalog | None = None) -> Analysis:
    """:func:`check`, raising :class:`ValidationError` with every problem if there is any."""
    return check(wf, catalog=catalog).raise_if_invalid()


def check(wf: Workflow, *, catalog: Catalog | None = None) -> Analysis:
    """Find every problem in ``wf`` (``catalog`` defaults to the built-in node types)."""
    cat = BUILTINS if catalog is None else catalog
    problems: list[Problem] = []
    if not isinstance(wf.name, str) or not wf.name.strip():
        problems.append(Problem("name", "workflow name must be a non-empty string", ProblemKind.INVALID))
    # The fast pass proves a workflow has no local problem with bulk operations; only when it
    # cannot does the slow pass walk every node and edge to name each problem.
    local = _local_fast(wf, cat)
    if local is None:
        local = _local_slow(wf, cat, problems)
    ids, index, succ, indeg, edge_ends = local
    n = len(ids)
    add = problems.append
    kahn = kahn_levels(n, succ, indeg)
    cycles: list[tuple[str, ...]] = []
    if kahn.blocked:
        raw = find_cycles(succ, kahn.blocked)
        in_cycle: set[int] = set()
        for cyc in raw:
            in_cycle.update(cyc)
            names = tuple(ids[k] for k in cyc)
            cycles.append(names)
            add(Problem(f"nodes[{cyc[0]}]", "cycle: " + " -> ".join(names), ProblemKind.CYCLE))
        for k in kahn.blocked:
            if k not in in_cycle:
                add(Problem(f"nodes[{k}]", f"node {ids[k]!r} is unreachable: every path to it passes "
                                           "through a cycle", ProblemKind.UNREACHABLE))
    if wf.entries:
        _check_entries(wf, index, succ, set(kahn.blocked), problems)
    problems.extend(check_callables(wf))  # workflows are data: builtin.call only runs allowed callables

    graph = WorkflowGraph(ids, index, succ, edge_ends, kahn)
    return Analysis(wf, tuple(problems), graph, tuple(cycles))


def _check_entries(wf: Workflow, index: dict[str, int], succ: list[list[int]], blocked: set[int],
                   problems: list[Problem]) -> None:
    starts: list[int] = []
    for k, name in enumerate(wf.entries):
        i = index.get(name)
        if i is None:
            problems.append(Problem(f"entries[{k}]", f"no node {name!r}", ProblemKind.DANGLING))
        else:
            starts.append(i)
    seen = [False] * len(succ)
    queue = deque(starts)
    for s in starts:
        seen[s] = True
    while queue:
        u = queue.popleft()
        for v in succ[u]:
            if not seen[v]:
                seen[v] = True
                queue.append(v)
    for i, reached in enumerate(seen):
        if not reached and i not in blocked and wf.nodes[i].id in index and index[wf.nodes[i].id] == i:
            problems.append(Problem(f"nodes[{i}]", f"node {wf.nodes[i].id!r} is unreachable from the entries "
                                                   f"({', '.join(wf.entries[:5])})", ProblemKind.UNREACHABLE))
