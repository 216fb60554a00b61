"""The scheduling core of one run: which nodes are ready, what a result or failure changes.

Pure and synchronous (no I/O, no clock): the DAG tracker service feeds it
results and failures and carries out what it returns (dispatch tasks, start
retry timers, publish transitions, checkpoint). The workflow is compiled to
integer-indexed arrays, so bookkeeping per task is a few list operations.

Semantics (documented for users in docs/dag.md):

* An ordinary node (operator, instrument, branch, map) runs when every incoming
  edge is *active*: its source succeeded and, for a conditional edge, the
  predicate holds on the source's result. Once any incoming edge is *dead*
  (source failed, skipped or cancelled, or predicate false) the node is skipped.
* ``join(all)`` runs when every incoming edge is resolved, at least one is
  active and no source failed (untaken branch paths are fine); ``join(any)`` runs
  at the first active edge and ignores later ones.
* A node's *result* is its single output's value when it has one output port,
  else the dict of its outputs; predicates see the result.
* ``map`` emits the items of its ``items`` input (refusing more than its cap);
  each node fed by the map's output runs once per item, at most ``concurrency``
  at a time, and its result is the list of per-item results in item order.
* Branch, join and map are evaluated here, in the tracker; operators and
  instruments are dispatched to executors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from symphony_actors.domain.errors import SymphonyError, UsageError, error_from_wire
from symphony_actors.domain.workflow import (
    EdgeKind,
    Join,
    JoinMode,
    Map,
    Node,
    NodeKind,
    ParamRef,
    RetryPolicy,
    Workflow,
)

__all__ = ["ArtifactRef", "Decision", "NodeStatus", "RunEngine", "Task", "TaskKey", "Transition", "resolve_refs"]

TaskKey = tuple[str, int, int]  # (node id, item index or -1, attempt)


class NodeStatus:
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    FINAL = frozenset({"succeeded", "failed", "skipped", "cancelled"})


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """An input whose value was too large to travel inline: the upstream result's artifact (and, for a
    node with several outputs, the port to take from it). Only the engine makes these (never decoded from
    data, so an extension cannot forge one); whoever runs the task reads the value where it is needed
    (:func:`resolve_refs`)."""

    artifact: str
    port: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (ArtifactRef, (self.artifact, self.port))


def resolve_refs(inputs: dict[str, Any], read: Callable[[str], Any]) -> dict[str, Any]:
    """``inputs`` with each :class:`ArtifactRef` (a value, or an element of a multi input's list) replaced
    by the value ``read(artifact_id)`` returns (its port taken out when the ref names one)."""
    def value(v: Any) -> Any:
        if not isinstance(v, ArtifactRef):
            return v
        whole = read(v.artifact)
        return whole.get(v.port) if v.port is not None and isinstance(whole, dict) else whole

    out: dict[str, Any] = {}
    for name, v in inputs.items():
        out[name] = [value(x) for x in v] if isinstance(v, list) and any(isinstance(x, ArtifactRef) for x in v) \
            else value(v)
    return out


def has_refs(inputs: dict[str, Any]) -> bool:
    return any(isinstance(v, ArtifactRef) or (isinstance(v, list) and any(isinstance(x, ArtifactRef) for x in v))
               for v in inputs.values())


@dataclass(frozen=True, slots=True)
class Task:
    """One unit of work for an executor."""

    run_id: str
    node_id: str
    item: int           # -1, or the item index of a mapped node
    attempt: int
    type: str
    kind: str
    params: dict[str, Any]
    inputs: dict[str, Any]
    timeout_s: float | None
    parents: tuple[str, ...] = ()   # artifacts of the upstream nodes feeding it (lineage)

    @property
    def key(self) -> TaskKey:
        return (self.node_id, self.item, self.attempt)

    @property
    def idempotency_key(self) -> str:
        """``<run>/<node>[/<item>]``: the same for every attempt of this node (or map item), so a task that
        may run again (at-least-once, docs/dag.md) can deduplicate its effects by it."""
        return f"{self.run_id}/{self.node_id}" + (f"/{self.item}" if self.item >= 0 else "")

    def __reduce__(self) -> tuple[Any, ...]:  # tasks cross processes in batches: pickle positionally
        return (Task, (self.run_id, self.node_id, self.item, self.attempt, self.type, self.kind, self.params,
                       self.inputs, self.timeout_s, self.parents))


@dataclass(frozen=True, slots=True)
class Transition:
    """A node status change, to publish and checkpoint."""

    node_id: str
    status: str
    attempt: int = 0
    detail: str = ""
    error: dict[str, Any] | None = None
    artifact: str | None = None


@dataclass(slots=True)
class Decision:
    """What the service must do after feeding the engine."""

    dispatch: list[Task] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    retry_after: list[tuple[float, str, int]] = field(default_factory=list)  # (delay, node id, item)

    def extend(self, other: Decision) -> None:
        self.dispatch.extend(other.dispatch)
        self.transitions.extend(other.transitions)
        self.retry_after.extend(other.retry_after)


@dataclass(slots=True)
class _Mapped:
    """Per-item progress of a node fed by a map."""

    items: list[Any]
    results: list[Any]
    done: int = 0
    next_item: int = 0
    running: int = 0
    attempts: dict[int, int] = field(default_factory=dict)
    failed: bool = False


def _num(value: Any, default: float | None) -> float | None:
    if value is None or isinstance(value, ParamRef):
        return default
    return float(value)


class RunEngine:
    """Scheduling state of one run of one (validated, parameter-free) workflow."""

    def __init__(self, run_id: str, workflow: Workflow, *, map_concurrency: int = 64,
                 read_artifact: Callable[[str], Any] | None = None) -> None:
        self.run_id = run_id
        # control nodes run here: a large input (an ArtifactRef) is read with this; None leaves refs as they are
        self.read_artifact = read_artifact
        self.workflow = workflow
        self.map_concurrency = map_concurrency
        nodes = workflow.nodes
        self.ids: list[str] = [n.id for n in nodes]
        self.index: dict[str, int] = {nid: i for i, nid in enumerate(self.ids)}
        n = len(nodes)
        self.nodes: list[Node] = list(nodes)
        self.out_edges: list[list[int]] = [[] for _ in range(n)]
        self.in_edges: list[list[int]] = [[] for _ in range(n)]
        self.edges = list(workflow.edges)
        for ei, e in enumerate(self.edges):
            self.out_edges[self.index[e.source]].append(ei)
            self.in_edges[self.index[e.target]].append(ei)
        self.unresolved = [len(x) for x in self.in_edges]
        self.active = [0] * n
        self.failed_src = [0] * n
        self.edge_state: list[int] = [0] * len(self.edges)  # 0 unresolved, 1 active, 2 dead
        self.status: list[str] = [NodeStatus.PENDING] * n
        self.attempts: list[int] = [0] * n
        self.results: list[Any] = [None] * n
        self.artifacts: list[str | None] = [None] * n
        self.errors: list[dict[str, Any] | None] = [None] * n
        self.mapped: dict[int, _Mapped] = {}
        self.fed_by_map: list[int] = [-1] * n  # index of the map feeding this node via a data edge
        for e in self.edges:
            src = self.nodes[self.index[e.source]]
            if e.kind is EdgeKind.DATA and isinstance(src.control, Map):
                self.fed_by_map[self.index[e.target]] = self.index[e.source]
        self.counts: dict[str, int] = {NodeStatus.PENDING: n}
        self.in_flight = 0
        self.cancelled = False
        self.started_at: float | None = None
        self._retry_attempts: dict[tuple[int, int], int] = {}   # (node, item) -> next attempt
        self._resume_attempt: dict[int, int] = {}               # node -> attempt to re-dispatch after a crash
        self.any_artifacts = False

    # ------------------------------------------------------------------ helpers
    def _set(self, i: int, status: str) -> None:
        old = self.status[i]
        if old == status:
            return
        self.counts[old] -= 1
        self.counts[status] = self.counts.get(status, 0) + 1
        self.status[i] = status

    @property
    def finished(self) -> bool:
        return self.counts.get(NodeStatus.PENDING, 0) == 0 and self.counts.get(NodeStatus.QUEUED, 0) == 0 \
            and self.counts.get(NodeStatus.RUNNING, 0) == 0 and self.counts.get(NodeStatus.RETRYING, 0) == 0

    @property
    def outcome(self) -> str:
        if self.cancelled:
            return "cancelled"
        return "failed" if self.counts.get(NodeStatus.FAILED, 0) else "succeeded"

    def node_status(self, node_id: str) -> str:
        return self.status[self.index[node_id]]

    # ------------------------------------------------------------------ start and restore
    def start(self) -> Decision:
        self.started_at = self.started_at or time.time()
        d = Decision()
        for i, remaining in enumerate(self.unresolved):
            if remaining == 0 and self.status[i] == NodeStatus.PENDING:
                self._ready(i, d)
        return d

    def restore(self, node_id: str, status: str, attempt: int, result: Any, artifact: str | None,
                error: dict[str, Any] | None) -> None:
        """Apply a checkpointed final state (before :meth:`resume`)."""
        i = self.index[node_id]
        self.attempts[i] = attempt
        if status in NodeStatus.FINAL:
            self._set(i, status)
            self.results[i], self.artifacts[i], self.errors[i] = result, artifact, error
            self.any_artifacts = self.any_artifacts or artifact is not None
        elif status in (NodeStatus.QUEUED, NodeStatus.RUNNING):
            self._resume_attempt[i] = attempt  # same task key: executors answer it from their cache if done
        elif status == NodeStatus.RETRYING:
            self._resume_attempt[i] = attempt + 1

    def resume(self) -> Decision:
        """After :meth:`restore`: re-derive edge states from finished nodes and find what is ready."""
        d = Decision()
        order = self.workflow.check().order
        for nid in order:
            i = self.index[nid]
            if self.status[i] in NodeStatus.FINAL:
                self._resolve_out(i, d, emit=False)
        for nid in order:
            i = self.index[nid]
            if self.status[i] != NodeStatus.PENDING or (self._waiting(i) and not self._dead_input(i)):
                continue
            verdict = self._check_ready(i)
            if verdict == "run":
                self._ready(i, d)
            elif verdict == "skip":  # restored (or reused) sources decided it: e.g. a branch path not taken
                self._skip(i, d, "upstream failed" if self.failed_src[i] else "not taken")
        return d

    def _dead_input(self, i: int) -> bool:
        """Whether an ordinary node already has a resolved, dead incoming edge (so it will be skipped)."""
        return not isinstance(self.nodes[i].control, Join) and \
            len(self.in_edges[i]) - self.unresolved[i] - self.active[i] > 0

    def _waiting(self, i: int) -> bool:
        return self.unresolved[i] > 0 and not self._is_join_any(i)

    # ------------------------------------------------------------------ readiness
    def _is_join_any(self, i: int) -> bool:
        c = self.nodes[i].control
        return isinstance(c, Join) and c.mode is JoinMode.ANY

    def _check_ready(self, i: int) -> str:
        """'run', 'skip' or 'wait' for a pending node."""
        c = self.nodes[i].control
        if isinstance(c, Join):
            if c.mode is JoinMode.ANY:
                if self.active[i] > 0:
                    return "run"
                return "skip" if self.unresolved[i] == 0 else "wait"
            if self.unresolved[i] > 0:
                return "wait"
            return "run" if self.active[i] > 0 and self.failed_src[i] == 0 else "skip"
        if self.unresolved[i] > 0:
            dead = len(self.in_edges[i]) - self.unresolved[i] - self.active[i]
            return "skip" if dead > 0 else "wait"
        return "run" if self.active[i] == len(self.in_edges[i]) else "skip"

    def _resolve_out(self, i: int, d: Decision, emit: bool = True) -> None:
        """Node ``i`` reached a final state: resolve its outgoing edges and wake its successors."""
        ok = self.status[i] == NodeStatus.SUCCEEDED
        failed = self.status[i] == NodeStatus.FAILED
        result = self.results[i]
        for ei in self.out_edges[i]:
            if self.edge_state[ei]:
                continue
            e = self.edges[ei]
            active = ok
            if active and e.kind is EdgeKind.CONDITIONAL and e.when is not None:
                try:
                    active = bool(e.when.evaluate(result))
                except Exception:  # noqa: BLE001 - a predicate that cannot evaluate is false, by design
                    active = False
            self.edge_state[ei] = 1 if active else 2
            t = self.index[e.target]
            self.unresolved[t] -= 1
            if active:
                self.active[t] += 1
            elif failed:
                self.failed_src[t] += 1
            if emit and self.status[t] == NodeStatus.PENDING:
                verdict = self._check_ready(t)
                if verdict == "run":
                    self._ready(t, d)
                elif verdict == "skip":
                    self._skip(t, d, "upstream failed" if self.failed_src[t] else "not taken")

    def _skip(self, i: int, d: Decision, why: str) -> None:
        self._set(i, NodeStatus.SKIPPED)
        d.transitions.append(Transition(self.ids[i], NodeStatus.SKIPPED, detail=why))
        self._resolve_out(i, d)

    # ------------------------------------------------------------------ running
    def _inputs(self, i: int) -> dict[str, Any]:
        node = self.nodes[i]
        multi = {p.name for p in node.inputs if p.multi}
        inputs: dict[str, Any] = {}
        for ei in self.in_edges[i]:
            e = self.edges[ei]
            if e.kind is not EdgeKind.DATA or self.edge_state[ei] != 1 or e.target_port is None:
                continue
            value = self._port_value(self.index[e.source], e.source_port)
            if e.target_port in multi:
                inputs.setdefault(e.target_port, []).append(value)
            else:
                inputs[e.target_port] = value
        return inputs

    def _port_value(self, src: int, port: str | None) -> Any:
        result = self.results[src]
        outs = self.nodes[src].outputs
        if result is None and self.artifacts[src] is not None:  # too large to travel inline: its artifact
            return ArtifactRef(self.artifacts[src], port if len(outs) > 1 else None)  # type: ignore[arg-type]
        if len(outs) <= 1 or port is None:
            return result
        return result.get(port) if isinstance(result, dict) else None

    def _ready(self, i: int, d: Decision) -> None:
        if self.cancelled:
            self._set(i, NodeStatus.CANCELLED)
            d.transitions.append(Transition(self.ids[i], NodeStatus.CANCELLED))
            self._resolve_out(i, d)
            return
        node = self.nodes[i]
        if node.kind is NodeKind.CONTROL:
            self._run_control(i, d)
            return
        if self.fed_by_map[i] >= 0:
            self._start_mapped(i, d)
            return
        self._set(i, NodeStatus.QUEUED)
        resumed = self._resume_attempt.pop(i, None)
        self.attempts[i] = resumed if resumed is not None else self.attempts[i] + 1
        d.transitions.append(Transition(self.ids[i], NodeStatus.QUEUED, self.attempts[i]))
        d.dispatch.append(self._task(i, -1, self.attempts[i], self._inputs(i)))

    def _task(self, i: int, item: int, attempt: int, inputs: dict[str, Any]) -> Task:
        node = self.nodes[i]
        self.in_flight += 1
        parents = tuple(a for ei in self.in_edges[i] if self.edge_state[ei] == 1
                        and (a := self.artifacts[self.index[self.edges[ei].source]]) is not None) \
            if self.any_artifacts else ()
        return Task(self.run_id, node.id, item, attempt, node.type, str(node.kind), dict(node.params), inputs,
                    _num(node.timeout_s, None), parents)

    def _run_control(self, i: int, d: Decision) -> None:
        node = self.nodes[i]
        inputs = self._inputs(i)
        c = node.control
        try:
            if self.read_artifact is not None and has_refs(inputs):
                inputs = resolve_refs(inputs, self.read_artifact)
            if isinstance(c, Map):
                items = inputs.get("items")
                if items is None and len(inputs) == 1:
                    items = next(iter(inputs.values()))
                if not isinstance(items, list | tuple):
                    raise UsageError(f"map {node.id!r} needs a list on its input, got {type(items).__name__}")
                cap = _num(c.max_items, None)
                if cap is not None and len(items) > cap:
                    raise UsageError(f"map {node.id!r} got {len(items)} items, more than its cap of {int(cap)}",
                                     node=node.id, items=len(items), cap=int(cap))
                value: Any = list(items)
            elif isinstance(c, Join):
                value = inputs.get("in", [])
                if not isinstance(value, list):
                    value = [value]
            else:  # Branch: passes its input through; its conditional edges route on it
                value = inputs.get("in") if len(inputs) <= 1 and "in" in inputs else (
                    next(iter(inputs.values())) if len(inputs) == 1 else inputs)
        except SymphonyError as exc:
            self._set(i, NodeStatus.FAILED)
            self.errors[i] = exc.to_wire()
            d.transitions.append(Transition(node.id, NodeStatus.FAILED, 1, error=self.errors[i]))
            self._resolve_out(i, d)
            return
        self.attempts[i] = 1
        self._finish_ok(i, value, None, d)

    def _finish_ok(self, i: int, value: Any, artifact: str | None, d: Decision) -> None:
        if artifact is not None:
            self.any_artifacts = True
        self._set(i, NodeStatus.SUCCEEDED)
        self.results[i], self.artifacts[i] = value, artifact
        d.transitions.append(Transition(self.ids[i], NodeStatus.SUCCEEDED, self.attempts[i], artifact=artifact))
        self._resolve_out(i, d)

    # ------------------------------------------------------------------ mapped nodes
    def _start_mapped(self, i: int, d: Decision) -> None:
        map_node = self.nodes[self.fed_by_map[i]]
        items = list(self.results[self.fed_by_map[i]] or [])
        self.mapped[i] = _Mapped(items, [None] * len(items))
        self._set(i, NodeStatus.RUNNING)
        self.attempts[i] = 1
        d.transitions.append(Transition(self.ids[i], NodeStatus.RUNNING, 1, detail=f"{len(items)} items"))
        if not items:
            self._finish_ok(i, [], None, d)
            return
        c = map_node.control
        limit = _num(c.concurrency if isinstance(c, Map) else None, float(self.map_concurrency))
        self._fill_mapped(i, int(limit or self.map_concurrency), d)

    def _fill_mapped(self, i: int, limit: int, d: Decision) -> None:
        m = self.mapped[i]
        base = self._inputs(i)
        map_ports = {self.edges[ei].target_port for ei in self.in_edges[i]
                     if self.index[self.edges[ei].source] == self.fed_by_map[i]}
        while m.running < limit and m.next_item < len(m.items) and not self.cancelled:
            k = m.next_item
            m.next_item += 1
            m.running += 1
            m.attempts[k] = 1
            inputs = dict(base)
            for port in map_ports:
                if port is not None:
                    inputs[port] = m.items[k]
            d.dispatch.append(self._task(i, k, 1, inputs))

    def _mapped_limit(self, i: int) -> int:
        c = self.nodes[self.fed_by_map[i]].control
        return int(_num(c.concurrency if isinstance(c, Map) else None, float(self.map_concurrency))
                   or self.map_concurrency)

    # ------------------------------------------------------------------ results
    def _current(self, key: TaskKey) -> int | None:
        """The node index if ``key`` is the attempt we are waiting for, else None (stale or duplicate)."""
        node_id, item, attempt = key
        i = self.index.get(node_id)
        if i is None or self.status[i] in NodeStatus.FINAL:
            return None
        if item < 0:
            return i if self.attempts[i] == attempt and self.status[i] in (NodeStatus.QUEUED,
                                                                          NodeStatus.RUNNING) else None
        m = self.mapped.get(i)
        return i if m is not None and m.attempts.get(item) == attempt else None

    def started(self, key: TaskKey) -> Transition | None:
        i = self._current(key)
        if i is None or key[1] >= 0 or self.status[i] != NodeStatus.QUEUED:
            return None
        self._set(i, NodeStatus.RUNNING)
        return Transition(self.ids[i], NodeStatus.RUNNING, key[2])

    def succeeded(self, key: TaskKey, value: Any, artifact: str | None = None) -> Decision:
        d = Decision()
        i = self._current(key)
        if i is None:
            return d
        self.in_flight -= 1
        if key[1] < 0:
            self._finish_ok(i, value, artifact, d)
            return d
        m = self.mapped[i]
        if m.attempts.pop(key[1], None) is None:
            return d
        m.results[key[1]] = value
        m.done += 1
        m.running -= 1
        if m.done == len(m.items):
            self._finish_ok(i, m.results, artifact, d)
        elif not m.failed:
            self._fill_mapped(i, self._mapped_limit(i), d)
        return d

    def failed(self, key: TaskKey, error: dict[str, Any]) -> Decision:
        """A task failed: retry by the node's policy, or fail the node and skip what depends on it."""
        d = Decision()
        i = self._current(key)
        if i is None:
            return d
        self.in_flight -= 1
        node = self.nodes[i]
        policy = node.retry or RetryPolicy(retries=0)
        retries = int(policy.retries) if not isinstance(policy.retries, ParamRef) else 0
        err = error_from_wire(error)
        from symphony_actors.domain.errors import SymphonyFailure

        attempt = key[2]
        retryable = policy.retries_code(err.code, isinstance(err, SymphonyFailure)) and attempt <= retries
        if retryable and not self.cancelled:
            delay = policy.delay(attempt)
            if key[1] < 0:
                self._set(i, NodeStatus.RETRYING)
            else:
                self.mapped[i].attempts.pop(key[1], None)
                self.mapped[i].running -= 1
            d.transitions.append(Transition(node.id, "retried", attempt, detail=f"retry {attempt} of {retries} "
                                            f"in {delay:g} s", error=error))
            d.retry_after.append((delay, node.id, key[1]))
            self._retry_attempts[(i, key[1])] = attempt + 1
            return d
        if key[1] >= 0:
            m = self.mapped[i]
            m.failed = True
            m.attempts.pop(key[1], None)
            m.running -= 1
        self._set(i, NodeStatus.FAILED)
        self.errors[i] = error
        d.transitions.append(Transition(node.id, NodeStatus.FAILED, attempt, error=error))
        self._resolve_out(i, d)
        return d

    def lost(self, key: TaskKey, error: dict[str, Any]) -> Decision:
        """The worker running this task died before reporting it: dispatch it again at once as the next
        attempt, whatever the node's retry policy (at-least-once, as Temporal's activities: one more run
        per lost worker; the task's idempotency key lets its effects be deduplicated)."""
        d = Decision()
        i = self._current(key)
        if i is None:
            return d
        if self.cancelled:
            return self.failed(key, error)
        self.in_flight -= 1
        if key[1] < 0:
            self._set(i, NodeStatus.RETRYING)
        else:
            self.mapped[i].attempts.pop(key[1], None)
            self.mapped[i].running -= 1
        d.transitions.append(Transition(self.nodes[i].id, "retried", key[2], error=error,
                                        detail="its worker died before reporting: run again"))
        self._retry_attempts[(i, key[1])] = key[2] + 1
        d.extend(self.retry_now(self.nodes[i].id, key[1]))
        return d

    def retry_now(self, node_id: str, item: int) -> Decision:
        """The backoff of a retry elapsed: dispatch the next attempt."""
        d = Decision()
        i = self.index[node_id]
        attempt = self._retry_attempts.pop((i, item), None)
        if attempt is None or self.status[i] in NodeStatus.FINAL:
            return d
        if self.cancelled:
            self._cancel_node(i, d)
            return d
        if item < 0:
            self.attempts[i] = attempt
            self._set(i, NodeStatus.QUEUED)
            d.transitions.append(Transition(node_id, NodeStatus.QUEUED, attempt))
            d.dispatch.append(self._task(i, -1, attempt, self._inputs(i)))
        else:
            m = self.mapped[i]
            m.attempts[item] = attempt
            m.running += 1
            inputs = self._inputs(i)
            for ei in self.in_edges[i]:
                e = self.edges[ei]
                if self.index[e.source] == self.fed_by_map[i] and e.target_port:
                    inputs[e.target_port] = m.items[item]
            d.dispatch.append(self._task(i, item, attempt, inputs))
        return d

    def timed_out(self, key: TaskKey, timeout: float) -> Decision:
        from symphony_actors.domain.errors import DeadlineExceeded

        return self.failed(key, DeadlineExceeded(f"node {key[0]!r} did not finish within {timeout:g} s",
                                                 node=key[0], timeout=timeout).to_wire())

    # ------------------------------------------------------------------ cancel
    def _cancel_node(self, i: int, d: Decision) -> None:
        self._set(i, NodeStatus.CANCELLED)
        d.transitions.append(Transition(self.ids[i], NodeStatus.CANCELLED))

    def cancel(self) -> Decision:
        """Stop dispatching; nodes not finished become cancelled (late results are ignored)."""
        d = Decision()
        if self.cancelled:
            return d
        self.cancelled = True
        for i, s in enumerate(self.status):
            if s not in NodeStatus.FINAL:
                self._cancel_node(i, d)
        self.in_flight = 0
        return d

    # ------------------------------------------------------------------ views
    def snapshot(self, nodes: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"run_id": self.run_id, "workflow": self.workflow.name,
                               "counts": {k: v for k, v in self.counts.items() if v},
                               "total": len(self.ids), "finished": self.finished,
                               "outcome": self.outcome if self.finished else None}
        if nodes:
            out["nodes"] = {nid: {"status": self.status[i], "attempts": self.attempts[i],
                                  "artifact": self.artifacts[i], "error": self.errors[i]}
                            for i, nid in enumerate(self.ids)}
        return out

    def result_of(self, node_id: str) -> Any:
        return self.results[self.index[node_id]]
