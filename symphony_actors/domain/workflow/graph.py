"""DAG algorithms on array-based adjacency (node ``i`` is an ``int``; ``succ[i]`` lists its successors).

* :func:`kahn_levels`: acyclicity, a deterministic topological order and parallel
  levels in one pass (Kahn's algorithm, frontier by frontier). On a 10k-node /
  20k-edge DAG this takes a few milliseconds, where networkx ``find_cycle`` on the
  same valid graph takes seconds (see ``perf/workflow.py``); so acyclicity is
  established first and a cycle path is only searched for when one exists.
* :func:`find_cycles`: one concrete cycle per strongly connected component of the
  nodes Kahn could not order.
* :class:`IncrementalDag`: keeps a topological order under edge insertions
  (Pearce-Kelly) and answers "does adding ``u -> v`` close a cycle?" by searching
  only the region between ``v`` and ``u`` in that order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

__all__ = ["IncrementalDag", "KahnResult", "find_cycles", "kahn_levels"]


class KahnResult:
    """``order`` (indices, level by level, each level in index order), ``levels``, ``level_of`` per node
    (``-1`` for nodes in or behind a cycle) and ``blocked`` (those nodes, in index order)."""

    __slots__ = ("blocked", "level_of", "levels", "order")

    def __init__(self, order: list[int], levels: list[list[int]], level_of: list[int], blocked: list[int]) -> None:
        self.order = order
        self.levels = levels
        self.level_of = level_of
        self.blocked = blocked

    @property
    def acyclic(self) -> bool:
        return not self.blocked


def kahn_levels(n: int, succ: Sequence[Sequence[int]], indeg: list[int] | None = None) -> KahnResult:
    """Kahn's algorithm by frontiers. Level of a node = length of the longest path reaching it.

    ``indeg`` (consumed) may be passed when the caller already counted in-degrees.
    Ties are broken by node index (insertion order), so the order is deterministic.
    """
    if indeg is None:
        indeg = [0] * n
        for targets in succ:
            for v in targets:
                indeg[v] += 1
    level_of = [-1] * n
    frontier = [i for i in range(n) if indeg[i] == 0]
    order: list[int] = []
    levels: list[list[int]] = []
    depth = 0
    while frontier:
        levels.append(frontier)
        order.extend(frontier)
        nxt: list[int] = []
        push = nxt.append
        for u in frontier:
            level_of[u] = depth
            for v in succ[u]:
                d = indeg[v] - 1
                indeg[v] = d
                if d == 0:
                    push(v)
        nxt.sort()
        frontier = nxt
        depth += 1
    blocked = [] if len(order) == n else [i for i in range(n) if level_of[i] < 0]
    return KahnResult(order, levels, level_of, blocked)


def find_cycles(succ: Sequence[Sequence[int]], among: Iterable[int]) -> list[list[int]]:
    """One cycle per cyclic strongly connected component within ``among``.

    Each cycle is a node path ``[a, b, ..., a]`` (first node repeated at the end),
    the shortest through the component's lowest-index node. Iterative Tarjan,
    restricted to ``among`` (typically the nodes Kahn left over), so it is only
    paid for when a cycle exists.
    """
    nodes = sorted(set(among))
    inside = set(nodes)
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    comps: list[list[int]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[int, int]] = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, i = work[-1]
            targets = succ[v]
            if i < len(targets):
                work[-1] = (v, i + 1)
                w = targets[i]
                if w not in inside:
                    continue
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:
                comp: list[int] = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in succ[v]:
                    comps.append(comp)
    cycles = [_shortest_cycle(succ, set(c), min(c)) for c in comps]
    cycles.sort(key=lambda c: c[0])
    return cycles


def _shortest_cycle(succ: Sequence[Sequence[int]], comp: set[int], start: int) -> list[int]:
    """BFS from ``start`` inside ``comp`` back to ``start``."""
    if start in succ[start]:
        return [start, start]
    parent: dict[int, int] = {start: start}
    queue = deque([start])
    while queue:
        u = queue.popleft()
        for v in succ[u]:
            if v == start:
                path = [u]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                path.reverse()
                path.append(start)
                return path
            if v in comp and v not in parent:
                parent[v] = u
                queue.append(v)
    raise AssertionError("a strongly connected component always has a cycle through each node")


class IncrementalDag:
    """A DAG that stays a DAG under edge insertions, with a maintained topological labelling.

    Every node has a label (a float) that increases along every edge. Adding
    ``u -> v`` with ``label[u] < label[v]`` needs nothing. Otherwise ``v`` can reach
    ``u`` only through nodes labelled between the two, so two searches run in
    that window, one step each in turn: forward from ``v`` (labels below
    ``label[u]``) and backward from ``u`` (labels above ``label[v]``). Meeting means
    a cycle (its path is returned). Otherwise the first search to run out has
    found every node that must move, and only those are relabelled: the forward
    set to just after ``u``, or the backward set to just before ``v``, inside the
    gap their outside neighbours leave (Pearce-Kelly's window, searched two ways,
    so the cost is about twice the *smaller* affected set; on the 10k-node
    benchmark graph most of the slow cases move one node out of thousands).
    When float gaps get too thin, every label is recomputed from a Kahn order.
    """

    __slots__ = ("_pos", "_pred", "_succ", "_top", "names", "relabels")

    def __init__(self, n: int = 0, edges: Iterable[tuple[int, int]] = (), *,
                 names: Sequence[str] | None = None, order: Sequence[int] | None = None) -> None:
        """Start from ``n`` nodes and ``edges`` (which must form a DAG; ``ValueError`` if not).

        ``order``, a topological order of those edges when the caller has one
        (e.g. from :func:`kahn_levels`), saves recomputing it.
        """
        self._succ: list[list[int]] = [[] for _ in range(n)]
        self._pred: list[list[int]] = [[] for _ in range(n)]
        for u, v in edges:
            self._succ[u].append(v)
            self._pred[v].append(u)
        self._pos: list[float] = [0.0] * n
        self._top = 0.0
        self.relabels = 0
        self.names: list[str] | None = list(names) if names is not None else None
        self._relabel(order)

    def _relabel(self, order: Sequence[int] | None = None) -> None:
        n = len(self._succ)
        if order is None:
            res = kahn_levels(n, self._succ)
            if not res.acyclic:
                cyc = find_cycles(self._succ, res.blocked)[0]
                raise ValueError(f"not a DAG: cycle {' -> '.join(map(str, cyc))}")
            order = res.order
        pos = self._pos
        for p, i in enumerate(order):
            pos[i] = float(p)
        self._top = float(n)

    def __len__(self) -> int:
        return len(self._pos)

    @property
    def order(self) -> list[int]:
        """A topological order of the current graph (nodes by label)."""
        return sorted(range(len(self._pos)), key=self._pos.__getitem__)

    def position(self, node: int) -> float:
        """The node's label: smaller than the label of each of its successors."""
        return self._pos[node]

    def has_edge(self, u: int, v: int) -> bool:
        return v in self._succ[u]

    def successors(self, u: int) -> list[int]:
        return list(self._succ[u])

    def add_node(self, name: str | None = None) -> int:
        """A new node, labelled after every other; returns its index."""
        i = len(self._pos)
        self._succ.append([])
        self._pred.append([])
        self._pos.append(self._top)
        self._top += 1.0
        if self.names is not None:
            self.names.append(name if name is not None else str(i))
        return i

    def _search(self, u: int, v: int) -> tuple[list[int] | None, dict[int, int], dict[int, int], bool]:
        """Two-way search in the window; returns (cycle or None, forward parents, backward children,
        whether the forward side finished first)."""
        pos, succ, pred = self._pos, self._succ, self._pred
        lo, hi = pos[v], pos[u]
        fwd = {v: v}   # node -> the node it was reached from (towards v)
        bwd = {u: u}   # node -> the node it leads to (towards u)
        fstack, bstack = [v], [u]
        while fstack and bstack:
            x = fstack.pop()
            for y in succ[x]:
                if y in bwd:
                    return self._join(x, y, fwd, bwd, u), fwd, bwd, True
                if y not in fwd and pos[y] < hi:
                    fwd[y] = x
                    fstack.append(y)
            if not fstack:
                return None, fwd, bwd, True
            x = bstack.pop()
            for y in pred[x]:
                if y in fwd:
                    return self._join(y, x, fwd, bwd, u), fwd, bwd, False
                if y not in bwd and pos[y] > lo:
                    bwd[y] = x
                    bstack.append(y)
        return None, fwd, bwd, not fstack

    @staticmethod
    def _join(x: int, y: int, fwd: dict[int, int], bwd: dict[int, int], u: int) -> list[int]:
        """The cycle ``u -> v ... x -> y ... u`` from the two search trees (``x`` forward-visited)."""
        head = [x]
        while fwd[head[-1]] != head[-1]:
            head.append(fwd[head[-1]])
        head.reverse()
        tail = [y]
        while tail[-1] != u:
            tail.append(bwd[tail[-1]])
        return [u, *head, *tail]

    def cycle_if_added(self, u: int, v: int) -> list[int] | None:
        """The cycle ``[u, v, ..., u]`` that ``u -> v`` would close, or ``None`` if it keeps the DAG."""
        if u == v:
            return [u, u]
        if self._pos[u] < self._pos[v]:
            return None
        return self._search(u, v)[0]

    def would_close_cycle(self, u: int, v: int) -> bool:
        return self.cycle_if_added(u, v) is not None

    def add_edge(self, u: int, v: int) -> list[int] | None:
        """Add ``u -> v`` unless it closes a cycle: returns ``None`` when added, else the cycle (graph unchanged)."""
        if u == v:
            return [u, u]
        pos = self._pos
        spread = True
        if pos[u] >= pos[v]:
            cycle, fwd, bwd, forward_done = self._search(u, v)
            if cycle is not None:
                return cycle
            spread = self._move_after(u, list(fwd)) if forward_done else self._move_before(v, list(bwd))
        self._succ[u].append(v)
        self._pred[v].append(u)
        if not spread:  # float gaps worn too thin: renumber every label from a Kahn order (rare)
            self.relabels += 1
            self._relabel()
        return None

    def _move_after(self, u: int, nodes: list[int]) -> bool:
        """Relabel ``nodes`` (everything ``v`` reaches below ``u``) into the gap right after ``u``."""
        pos, succ = self._pos, self._succ
        inside = set(nodes)
        start = pos[u]
        end = min((pos[y] for x in nodes for y in succ[x] if y not in inside), default=start + len(nodes) + 1.0)
        return self._spread(sorted(nodes, key=pos.__getitem__), start, end)

    def _move_before(self, v: int, nodes: list[int]) -> bool:
        """Relabel ``nodes`` (everything reaching ``u`` above ``v``) into the gap right before ``v``."""
        pos, pred = self._pos, self._pred
        inside = set(nodes)
        end = pos[v]
        start = max((pos[y] for x in nodes for y in pred[x] if y not in inside), default=end - len(nodes) - 1.0)
        return self._spread(sorted(nodes, key=pos.__getitem__), start, end)

    def _spread(self, nodes: list[int], start: float, end: float) -> bool:
        """Labels evenly inside ``(start, end)``, in their current order; ``False`` if the gap is too thin."""
        step = (end - start) / (len(nodes) + 1)
        if not step > 1e-6 * max(1.0, abs(start)):
            return False
        pos = self._pos
        for k, x in enumerate(nodes, 1):
            pos[x] = start + k * step
        return True

    def remove_edge(self, u: int, v: int) -> None:
        """Remove one ``u -> v`` edge (the labels stay valid: fewer constraints)."""
        self._succ[u].remove(v)
        self._pred[v].remove(u)

    def names_of(self, path: Sequence[int]) -> list[str]:
        names = self.names
        return [names[i] for i in path] if names is not None else [str(i) for i in path]
