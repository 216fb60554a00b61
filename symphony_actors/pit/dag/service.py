"""The DAG tracker: runs workflows as message cascades between itself and the executors.

For each run it keeps a :class:`~.engine.RunEngine` (the frontier and node
states), dispatches ready tasks to executors in batches (at most
``MAX_IN_FLIGHT`` per executor, least-loaded first), folds results back in,
and after every batch writes one checkpoint transaction (node states, the
run's events, the run row). Every transition is an event with a per-run
sequence number, stored so that subscribers can resume from a cursor
(:meth:`events`); on the bus, a run's node events are coalesced into
``run.<id>.progress`` summaries when more than ``COALESCE_ABOVE`` arrive in one
batch, so a 10,000-node run stays watchable.

After a crash the supervisor restarts the tracker, which reloads every
unfinished run from its checkpoint: finished nodes are not run again; tasks
that were in flight are answered from the executors' result journal when they
finished (journal.py), else go back to the same executor under the same key,
which answers from its cache if it already ran them (exactly once).

A run submitted with ``hold=True`` waits in the admission queue (the ``runs``
service's): it is stored and listed as ``queued``, can be waited on and
cancelled, and starts when it is submitted again under the same id.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from symphony_actors.domain.errors import (
    ConflictError,
    NotFoundError,
    ServiceCrashed,
    StorageError,
    UsageError,
)
from symphony_actors.domain.ids import new_run_id
from symphony_actors.domain.workflow import Workflow, dumps_binary, loads, thaw, to_workflow
from symphony_actors.pit.dag.engine import Decision, NodeStatus, RunEngine, Task, TaskKey, Transition
from symphony_actors.pit.dag.journal import ResultJournal, journal_path
from symphony_actors.pit.dag.store import DagStore, encode, read_value
from symphony_actors.pit.jobs import JobThread
from symphony_actors.ports.service import ServiceSettings

__all__ = ["EXTENSION_PREFIX", "DagService", "build", "extension_target"]

BATCH_MAX = 256
MAX_IN_FLIGHT = 1024        # tasks per executor not yet answered
COALESCE_ABOVE = 64         # node events per batch above which the bus gets a progress summary
TIMEOUT_GRACE_S = 5.0       # the executor's own alarm fires first; this is the backstop
DOWN_GRACE_S = 5.0          # an exited executor gets nothing until seen started again, or for this long
EXTENSION_PREFIX = "ext:"
_BUILTIN_NAMESPACES = ("builtin", "wfcommons.task")
log = logging.getLogger(__name__)


def extension_target(node_type: str) -> str | None:
    """``ext:<publisher.name>`` for an extension's node type ``publisher.name/node``; None for built-ins."""
    ext_id, slash, node = node_type.partition("/")
    if not slash or not node or ext_id in _BUILTIN_NAMESPACES or ext_id.startswith("builtin."):
        return None
    return EXTENSION_PREFIX + ext_id


@dataclass(slots=True)
class _Run:
    engine: RunEngine
    name: str
    seq: int = 0
    status: str = "queued"
    started: float | None = None
    ready: deque[Task] = field(default_factory=deque)
    waiters: list[Any] = field(default_factory=list)
    sticky: dict[str, str] = field(default_factory=dict)   # node id -> executor, for resumed tasks
    error: dict[str, Any] | None = None
    journal: dict[TaskKey, tuple[Any, ...]] = field(default_factory=dict)  # results to answer from, not run
    reused: tuple[str, ...] = ()                            # nodes taken from earlier runs, not run again
    retry_of: dict[str, Any] | None = None                  # {"run_id", "from_node"} when this run is a retry


# A document larger than this is decoded and validated on the job thread (a 10k-node one takes seconds).
OFF_LOOP_BYTES = 64 * 1024


def _prepare(workflow: Any, params: dict[str, Any] | None) -> tuple[Workflow, bytes]:
    """The workflow, validated, and the blob its checkpoint keeps (a plain document is kept as it came)."""
    wf = to_workflow(workflow, params)
    wf.validate()
    as_sent = isinstance(workflow, bytes | bytearray) and not params
    return wf, bytes(workflow) if as_sent else dumps_binary(wf, level=3)


class DagService:
    EXPORTS: ClassVar[frozenset[str]] = frozenset({
        "submit", "status", "list_runs", "cancel", "wait", "events", "result", "on_results", "retry",
        "timeout_check", "wake_waiters", "on_event", "stats", "on_dispatched", "on_attempts", "logs", "outcome",
        "repump"})

    def __init__(self, settings: ServiceSettings) -> None:
        opts = settings.options
        n = int(opts.get("executors", 1))
        self.executors: list[str] = list(opts.get("executor_names") or [f"exec-{i}" for i in range(n)])
        db = opts.get("db")
        self.store_path = Path(db) if db else settings.data_dir / "dag" / "runs.sqlite"  # ":memory:" for fakes
        self.ctx: Any = None
        self.jobs: JobThread | None = None
        self.recovering: set[str] = set()  # unfinished runs being decoded on the job thread at start
        self.data_dir = settings.data_dir
        self.artifacts: Any = None  # the artifact store, opened when a control node needs a large input
        self.store: DagStore | None = None
        self.runs: dict[str, _Run] = {}
        self.load: dict[str, int] = {e: 0 for e in self.executors}
        self.assigned: dict[tuple[str, TaskKey], str] = {}      # (run, task key) -> executor
        self._log: dict[str, list[list[Any]]] = {}   # run -> records not yet checkpointed
        self._dirty_runs: set[str] = set()
        self.tasks_done = 0
        self.bookkeeping_s = 0.0
        self.data_dir = settings.data_dir
        self.journal: ResultJournal | None = None
        self.held_waiters: dict[str, list[Any]] = {}  # runs queued for admission -> waiters
        # Executors seen exiting and not yet seen started again: nothing is sent to them meanwhile (a tell to a
        # dead executor is lost). The mark lapses after DOWN_GRACE_S, so a missed event cannot wedge a run.
        self.down: dict[str, float] = {}

    # ------------------------------------------------------------------ lifecycle
    def on_start(self, ctx: Any) -> None:
        self.ctx = ctx
        # the real runtime hands work back to the loop; the in-process one runs everything inline
        self.jobs = JobThread(ctx, "dag") if hasattr(ctx, "call_soon_threadsafe") else None
        self.store = DagStore(self.store_path)
        ctx.subscribe("supervisor.child.exited")
        ctx.subscribe("supervisor.child.started")
        for run_id, blob, _params, seq in self.store.unfinished():
            if self.jobs is not None and len(blob) > OFF_LOOP_BYTES:
                # a 100k-node run takes tens of seconds to decode: on the job thread, so that this
                # service answers its supervisor while it starts (or it would be killed as hung, again)
                self.recovering.add(run_id)
                self.jobs.put(functools.partial(loads, blob), None, f"recover {run_id}",
                              then=functools.partial(self._recovered, run_id, seq))
            else:
                self._recover(run_id, loads(blob), seq)
        self._flush()
        self._pump()

    def _recovered(self, run_id: str, seq: int, wf: Any) -> None:
        self.recovering.discard(run_id)
        self._recover(run_id, wf, seq)
        self._flush()
        self._pump()

    def on_stop(self) -> None:
        if self.jobs is not None:
            self.jobs.stop(timeout=10.0)
        if self.store is not None:
            self._flush()
            self.store.close()
        if self.artifacts is not None:
            self.artifacts.close()

    def _recover(self, run_id: str, wf: Any, seq: int) -> None:
        assert self.store is not None
        assert isinstance(wf, Workflow)
        engine = RunEngine(run_id, wf, read_artifact=self._read_artifact)
        run = _Run(engine, wf.name, seq=seq, status="running", started=time.time())
        self._origin(run, self.store.started_event(run_id))
        for node_id, (status, attempt, executor, result, artifact, error) in self.store.node_states(run_id).items():
            if node_id not in engine.index:
                continue
            engine.restore(node_id, status, attempt, result, artifact, error)
            if status in (NodeStatus.QUEUED, NodeStatus.RUNNING) and executor:
                run.sticky[node_id] = executor
        self.runs[run_id] = run
        run.waiters.extend(self.held_waiters.pop(run_id, []))  # waits that arrived while it was decoded
        run.journal = self._journaled(run_id)  # finished by executors, not yet checkpointed here
        self._event(run, "resumed", {"done": sum(engine.counts.get(s, 0) for s in NodeStatus.FINAL),
                                     "journaled": len(run.journal)})
        self._apply(run, engine.resume())

    # ------------------------------------------------------------------ submit
    def submit(self, workflow: Any, params: dict[str, Any] | None = None, run_id: str | None = None,
               reuse: dict[str, dict[str, Any]] | None = None, hold: bool = False,
               retry_of: dict[str, Any] | None = None, summary: dict[str, Any] | None = None) -> Any:
        """Validate and start a workflow (a Workflow, a Template, or a document in JSON or binary bytes).

        ``reuse`` maps nodes still fresh from earlier runs to ``{"artifact": id, "value": result}``:
        they are recorded as succeeded (detail "reused") and not run again. ``hold`` stores the run as
        ``queued`` (waiting for admission) without starting it; submitting it again under its id starts it.
        ``retry_of`` (``{"run_id", "from_node"}``) links a retry to the run it retries (shown by :meth:`status`).
        """
        rid = run_id or new_run_id()
        if rid in self.runs:
            raise ConflictError(f"run {rid!r} exists already", run_id=rid)
        if hold and summary and isinstance(workflow, bytes | bytearray):  # checked by the caller: kept as it came
            return self._hold(rid, str(summary.get("name", "")), int(summary.get("nodes", 0)), bytes(workflow),
                              params or {})
        if self.jobs is not None and isinstance(workflow, bytes | bytearray) and len(workflow) > OFF_LOOP_BYTES:
            # decoding and validating a large document takes seconds: on the job thread, not this loop
            return self.jobs.put(lambda: _prepare(workflow, params), self.ctx.defer(), "submit",
                                 then=lambda ready: self._submit(rid, ready, params, reuse, hold, retry_of))
        return self._submit(rid, _prepare(workflow, params), params, reuse, hold, retry_of)

    def _submit(self, rid: str, ready: tuple[Workflow, bytes], params: dict[str, Any] | None,
                reuse: dict[str, dict[str, Any]] | None, hold: bool, retry_of: dict[str, Any] | None) -> str:
        assert self.store is not None
        wf, blob = ready
        if rid in self.runs:
            raise ConflictError(f"run {rid!r} exists already", run_id=rid)
        if hold:
            return self._hold(rid, wf.name, len(wf.nodes), blob, params or {})
        held = self.store.start_held(rid, blob)
        if held is None:
            self.store.create_run(rid, wf.name, blob, params or {}, status="running")
        run = _Run(RunEngine(rid, wf, read_artifact=self._read_artifact), wf.name, seq=held or 0)
        self.runs[rid] = run
        run.waiters.extend(self.held_waiters.pop(rid, []))
        if held is None:
            self._event(run, "queued", {"workflow": wf.name, "nodes": len(wf.nodes)})
        run.status, run.started = "running", time.time()
        started: dict[str, Any] = {"reused": sorted(reuse or {})}
        if retry_of:
            started["retry_of"] = {"run_id": str(retry_of.get("run_id")), "from_node": retry_of.get("from_node")}
        self._origin(run, started)
        self._event(run, "started", started)
        if reuse:
            reused = []
            for node_id, info in reuse.items():
                if node_id not in run.engine.index:
                    raise UsageError(f"reuse names node {node_id!r}, which is not in {wf.name!r}")
                run.engine.restore(node_id, NodeStatus.SUCCEEDED, 0, info.get("value"), info.get("artifact"), None)
                reused.append(Transition(node_id, NodeStatus.SUCCEEDED, 0,
                                         detail=str(info.get("detail") or "reused: still fresh"),
                                         artifact=info.get("artifact")))
            self._transitions(run, reused)
            self._apply(run, run.engine.resume())
        else:
            self._apply(run, run.engine.start())
        self._flush()
        self._pump()
        return rid

    def _read_artifact(self, artifact_id: str) -> Any:
        """A large result a control node (map, branch) reads here, on the loop."""
        if self.artifacts is None:
            from symphony_actors.pit.artifacts.store import ArtifactStore

            self.artifacts = ArtifactStore.open(self.data_dir)
        return read_value(self.artifacts, artifact_id)

    def _hold(self, rid: str, name: str, nodes: int, blob: bytes, params: dict[str, Any]) -> str:
        assert self.store is not None
        self.store.create_run(rid, name, blob, params)
        payload = {"run_id": rid, "seq": 1, "workflow": name, "nodes": nodes, "waiting": "admission"}
        self.store.write([(rid, 1, [["r", 1, time.time(), "queued", payload]])],
                         [("queued", None, None, 1, encode({}), None, rid)])
        if self.ctx is not None:
            self.ctx.publish(f"run.{rid}.queued", payload)
        return rid

    # ------------------------------------------------------------------ the cascade
    def _apply(self, run: _Run, d: Decision) -> None:
        t0 = time.perf_counter()
        engine = run.engine
        while True:
            if d.transitions:
                self._transitions(run, d.transitions)
            for delay, node_id, item in d.retry_after:
                self.ctx.call_later(delay, "retry", run_id=engine.run_id, node_id=node_id, item=item)
            if not run.journal:
                run.ready.extend(d.dispatch)
                break
            replayed = self._replay(run, d.dispatch)  # queues the tasks it cannot answer
            if replayed is None:
                break
            d = replayed
        if engine.finished and run.status in ("running", "cancelling"):
            self._finish(run)
        self.bookkeeping_s += time.perf_counter() - t0

    def _replay(self, run: _Run, tasks: list[Task]) -> Decision | None:
        """Answer tasks whose results are journaled from the journal; the rest go to ``run.ready``.
        Returns what the replayed results decided (None if there was none)."""
        done: Decision | None = None
        for t in tasks:
            result = run.journal.pop(t.key, None)
            if result is None:
                run.ready.append(t)
                continue
            done = done or Decision()
            done.extend(self._outcome(run, t.key, result))
        return done

    def _outcome(self, run: _Run, key: TaskKey, result: tuple[Any, ...]) -> Decision:
        """Feed one executor result ``(run, node, item, attempt, ok, value, artifact, error, ...)``."""
        d = Decision()
        start = run.engine.started(key)
        if start is not None:
            d.transitions.append(start)
        ok, value, artifact, error = result[4:8]
        d.extend(run.engine.succeeded(key, value, artifact) if ok else run.engine.failed(key, error))
        self.tasks_done += 1
        return d

    def _journaled(self, run_id: str) -> dict[TaskKey, tuple[Any, ...]]:
        try:
            if self.journal is None:
                self.journal = ResultJournal(journal_path(self.data_dir))
            return self.journal.of_run(run_id)
        except StorageError as exc:  # recovery goes on: those tasks are re-dispatched (at least once)
            log.warning("run %s: result journal unreadable: %s", run_id, exc)
            return {}

    def _forget_journal(self, run_id: str) -> None:
        try:
            if self.journal is None:
                self.journal = ResultJournal(journal_path(self.data_dir))
            self.journal.forget(run_id)
        except StorageError as exc:
            log.warning("run %s: journal rows not dropped: %s", run_id, exc)

    def _transitions(self, run: _Run, transitions: list[Transition]) -> None:
        rid = run.engine.run_id
        now = time.time()
        results = run.engine.results
        index = run.engine.index
        log = self._log.setdefault(rid, [])
        first = run.seq + 1
        for t in transitions:
            run.seq += 1
            result = results[index[t.node_id]] if t.status == NodeStatus.SUCCEEDED else None
            log.append(["n", run.seq, now, t.node_id, t.status, t.attempt, t.detail, t.error, t.artifact, result])
        self._dirty_runs.add(rid)
        if len(transitions) > COALESCE_ABOVE:
            self.ctx.publish(f"run.{rid}.progress", {"run_id": rid, "seq": run.seq, "from_seq": first,
                                                    "counts": dict(run.engine.counts),
                                                    "total": len(run.engine.ids)})
        else:
            seq = first
            for t in transitions:
                name = "started" if t.status == NodeStatus.RUNNING else t.status
                self.ctx.publish(f"run.{rid}.node.{name}", {"run_id": rid, "node": t.node_id, "status": t.status,
                                                            "attempt": t.attempt, "detail": t.detail,
                                                            "error": t.error, "artifact": t.artifact, "seq": seq})
                seq += 1

    def _event(self, run: _Run, what: str, payload: dict[str, Any]) -> None:
        rid = run.engine.run_id
        run.seq += 1
        payload = {"run_id": rid, "seq": run.seq, **payload}
        self._log.setdefault(rid, []).append(["r", run.seq, time.time(), what, payload])
        self._dirty_runs.add(rid)
        if self.ctx is not None:
            self.ctx.publish(f"run.{rid}.{what}", payload)

    def _finish(self, run: _Run) -> None:
        engine = run.engine
        run.status = engine.outcome
        failed = [engine.ids[i] for i, s in enumerate(engine.status) if s == NodeStatus.FAILED]
        if failed:
            run.error = {"failed_nodes": failed[:20], "count": len(failed)}
        self._event(run, "finished" if run.status == "succeeded" else run.status,
                    {"outcome": run.status, "counts": dict(engine.counts),
                     "seconds": time.time() - (run.started or time.time()), "error": run.error})
        for e in self.executors:
            self.ctx.tell(e, "forget_run", run_id=engine.run_id)
        self._flush()
        self._forget_journal(engine.run_id)
        for w in run.waiters:
            w.resolve(self._snapshot(run))
        run.waiters.clear()

    def _pump(self) -> None:
        """Send ready tasks to executors in batches, least-loaded first, within each one's cap."""
        batches: dict[str, list[Task]] = {}
        # Down marks do not change during one pump: the executors that may take tasks, found once, not per task.
        up = [e for e in self.executors if not self._is_down(e)] if self.down else list(self.executors)
        for run in self.runs.values():
            while run.ready:
                task = run.ready[0]
                executor = run.sticky.pop(task.node_id, None) if run.sticky else None
                target = extension_target(task.type)
                if target is not None:      # an extension's node type runs in its actor
                    executor = target
                    self.load.setdefault(target, 0)
                elif executor is None or executor not in up:
                    if not up:  # every executor restarting: their "started" events (or repump) send it
                        break
                    executor = min(up, key=self.load.__getitem__)
                if self.load[executor] >= MAX_IN_FLIGHT:
                    break
                run.ready.popleft()
                self.load[executor] += 1
                self.assigned[(task.run_id, task.key)] = executor
                batches.setdefault(executor, []).append(task)
                if task.timeout_s:
                    self.ctx.call_later(task.timeout_s + TIMEOUT_GRACE_S, "timeout_check", run_id=task.run_id,
                                        node_id=task.node_id, item=task.item, attempt=task.attempt,
                                        timeout=task.timeout_s)
        if not batches:
            return
        # The checkpoint must say which executor holds a task before the task leaves (exactly-once recovery).
        for executor, tasks in batches.items():
            for t in tasks:
                if t.item < 0:
                    self._log.setdefault(t.run_id, []).append(["a", t.node_id, t.attempt, executor])
                    self._dirty_runs.add(t.run_id)
        self._flush()
        for executor, tasks in batches.items():
            for i in range(0, len(tasks), BATCH_MAX):
                chunk = tasks[i:i + BATCH_MAX]
                if executor in self.executors:
                    self.ctx.tell(executor, "run_batch", tasks=chunk)
                else:  # a request, so that an extension that is not loaded answers NotFoundError
                    self.ctx.request(executor, "run_batch", {"tasks": chunk}, reply="on_dispatched",
                                     context=(executor, [(t.run_id, t.key) for t in chunk]))

    def _is_down(self, executor: str) -> bool:
        at = self.down.get(executor)
        if at is None:
            return False
        if time.monotonic() - at < DOWN_GRACE_S:
            return True
        del self.down[executor]
        return False

    def repump(self) -> None:
        """After an executor's down mark lapsed: send what waited for it."""
        self._pump()

    def on_dispatched(self, result: Any = None, error: Any = None, context: Any = None) -> None:
        """An extension actor took a batch, or could not be reached: then its tasks fail with NotFoundError."""
        if error is None or not isinstance(context, tuple):
            return
        target, keys = context
        ext_id = target.removeprefix(EXTENSION_PREFIX)
        err = NotFoundError(f"extension {ext_id} is not loaded (no actor {target}); load it first "
                            f"(symphony ext load {ext_id})", extension=ext_id, service=target).to_wire()
        for run_id, key in keys:
            if self.assigned.pop((run_id, tuple(key)), None) is None:
                continue
            self.load[target] = max(0, self.load.get(target, 1) - 1)
            run = self.runs.get(run_id)
            if run is not None and run.status == "running":
                self._apply(run, run.engine.failed(tuple(key), err))
        self._flush()
        self._pump()

    def on_results(self, executor: str, results: list[tuple[Any, ...]],
                   attempts: list[dict[str, Any]] | None = None) -> None:
        """Results from an executor: (run, node, item, attempt, ok, value, artifact, error, started, seconds),
        with their attempts' records (kept first, in the same message: see :meth:`on_attempts`)."""
        if attempts:
            self.on_attempts(attempts)
        t0 = time.perf_counter()
        touched: dict[str, Decision] = {}
        for run_id, node_id, item, attempt, ok, value, artifact, error, _started, _secs in results:
            key = (node_id, item, attempt)
            if self.assigned.pop((run_id, key), None) is not None:
                self.load[executor] = max(0, self.load.get(executor, 1) - 1)
            run = self.runs.get(run_id)
            if run is None or run.status not in ("running", "cancelling"):
                continue
            d = touched.setdefault(run_id, Decision())
            start = run.engine.started(key)
            if start is not None:
                d.transitions.append(start)
            d.extend(run.engine.succeeded(key, value, artifact) if ok else run.engine.failed(key, error))
            self.tasks_done += 1
        self.bookkeeping_s += time.perf_counter() - t0
        for run_id, d in touched.items():
            self._apply(self.runs[run_id], d)
        self._flush()
        self._pump()

    def retry(self, run_id: str, node_id: str, item: int) -> None:
        run = self.runs.get(run_id)
        if run is not None and run.status == "running":
            self._apply(run, run.engine.retry_now(node_id, item))
            self._flush()
            self._pump()

    def timeout_check(self, run_id: str, node_id: str, item: int, attempt: int, timeout: float) -> None:
        key = (node_id, item, attempt)
        executor = self.assigned.pop((run_id, key), None)
        run = self.runs.get(run_id)
        if executor is None or run is None:
            return  # answered in time
        self.load[executor] = max(0, self.load.get(executor, 1) - 1)
        self._apply(run, run.engine.timed_out(key, timeout))
        self._flush()
        self._pump()

    def on_event(self, topic: str, payload: Any) -> None:
        """An executor exited: its tasks in flight whose results it journaled are answered from the journal;
        the others run again (at-least-once: once per lost executor, whatever their retry policies)."""
        if not isinstance(payload, dict) or payload.get("child") not in self.load:
            return
        executor = payload["child"]
        if topic.endswith(".started"):  # back: send it what waited
            if self.down.pop(executor, None) is not None:
                self._pump()
            return
        if executor in self.executors:
            self.down[executor] = time.monotonic()
            self.ctx.call_later(DOWN_GRACE_S, "repump")
        lost = [(rid, key) for (rid, key), e in self.assigned.items() if e == executor]
        error = ServiceCrashed(f"executor {executor} crashed while running the task", executor=executor).to_wire()
        journaled = {rid: self._journaled(rid) for rid in {rid for rid, _ in lost}}  # finished before it died
        for rid, key in lost:
            self.assigned.pop((rid, key), None)
            run = self.runs.get(rid)
            if run is not None and run.status == "running":
                result = journaled[rid].get(key)
                self._apply(run, self._outcome(run, key, result) if result is not None
                            else run.engine.lost(key, error))
        self.load[executor] = 0
        self._flush()
        self._pump()

    # ------------------------------------------------------------------ checkpoint
    def _flush(self) -> None:
        if self.store is None or not self._dirty_runs:
            return
        runs, logs = [], []
        for rid in self._dirty_runs:
            run = self.runs.get(rid)
            if run is None:
                continue
            records = self._log.pop(rid, None)
            if records:
                logs.append((rid, run.seq, records))
            finished = time.time() if run.status not in ("running", "queued", "cancelling") else None
            runs.append((run.status, run.started, finished, run.seq, encode(dict(run.engine.counts)),
                         encode(run.error), rid))
        self.store.write(logs, runs)
        self._dirty_runs.clear()
        if len(self.runs) > 100:  # keep recent runs in memory for fast status; the rest is on disk
            for rid in [r for r, run in self.runs.items()
                        if run.status not in ("running", "cancelling", "queued") and not run.waiters][:50]:
                del self.runs[rid]

    # ------------------------------------------------------------------ queries
    def _snapshot(self, run: _Run, nodes: bool = False) -> dict[str, Any]:
        snap = run.engine.snapshot(nodes)
        snap.update(status=run.status, seq=run.seq, started=run.started, error=run.error,
                    reused_count=len(run.reused), retry_of=run.retry_of)
        if nodes:  # which nodes were reused; the nodes nothing depends on (the CLI prints their results)
            snap["reused"] = list(run.reused)
            snap["terminal"] = [nid for nid, out in zip(run.engine.ids, run.engine.out_edges, strict=True) if not out]
        return snap

    @staticmethod
    def _origin(run: _Run, started: dict[str, Any]) -> None:
        run.reused = tuple(started.get("reused") or ())
        run.retry_of = started.get("retry_of")

    def status(self, run_id: str, nodes: bool = False) -> dict[str, Any]:
        """The state of a run at once: status, counts per node state, and each node's state if ``nodes``."""
        run = self.runs.get(run_id)
        if run is not None:
            return self._snapshot(run, nodes)
        assert self.store is not None
        info = self.store.run(run_id)
        origin = self.store.started_event(run_id)
        info.update(reused_count=len(origin.get("reused") or ()), retry_of=origin.get("retry_of"))
        if nodes:
            info["reused"] = list(origin.get("reused") or ())
            info["nodes"] = {n: {"status": st[0], "attempts": st[1], "artifact": st[4], "error": st[5]}
                             for n, st in self.store.node_states(run_id).items()}
            wf = to_workflow(self.store.workflow(run_id), {})
            sources = {e.source for e in wf.edges}
            info["terminal"] = [n.id for n in wf.nodes if n.id not in sources]
        return info

    def result(self, run_id: str, node_id: str, with_artifact: bool = False) -> Any:
        """A node's result as plain data (dicts and lists, as a user wrote it: never a read-only mapping).

        With ``with_artifact``: ``{"value", "artifact"}``; a value too large to travel inline is ``None``
        there, and the caller reads it from the artifact."""
        run = self.runs.get(run_id)
        if run is not None and node_id in run.engine.index:
            e = run.engine
            value, artifact = thaw(e.result_of(node_id)), e.artifacts[e.index[node_id]]
        else:
            assert self.store is not None
            state = self.store.node_states(run_id).get(node_id)
            if state is None:
                raise NotFoundError(f"run {run_id!r} has no node {node_id!r}", run_id=run_id, node=node_id)
            value, artifact = state[3], state[4]
        return {"value": value, "artifact": artifact} if with_artifact else value

    def outcome(self, run_id: str) -> dict[str, Any]:
        """What a retry needs of a run: its workflow document, status, and each node's final state with
        its artifact and result (``{"workflow", "status", "nodes": {id: {"status", "artifact", "result"}}}``)."""
        assert self.store is not None
        self._flush()
        run = self.runs.get(run_id)
        status = run.status if run is not None else self.store.run(run_id)["status"]
        if run is not None:
            e = run.engine
            nodes = {nid: {"status": e.status[i], "artifact": e.artifacts[i], "result": thaw(e.results[i])}
                     for i, nid in enumerate(e.ids)}
        else:
            nodes = {n: {"status": st[0], "artifact": st[4], "result": st[3]}
                     for n, st in self.store.node_states(run_id).items()}
        return {"run_id": run_id, "workflow": self.store.workflow(run_id), "status": status, "nodes": nodes}

    def list_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        assert self.store is not None
        self._flush()
        return self.store.runs(limit)

    def events(self, run_id: str, after: int = 0, limit: int = 1000) -> dict[str, Any]:
        """Stored events of a run after sequence number ``after`` (resume from a cursor)."""
        assert self.store is not None
        self._flush()
        events = self.store.events(run_id, after, min(max(1, limit), 10_000))
        if not events and run_id not in self.runs:
            self.store.run(run_id)  # NotFoundError for an unknown run
        run = self.runs.get(run_id)
        last = run.seq if run is not None else (events[-1]["seq"] if events else after)
        done = run is None or run.status not in ("running", "cancelling")
        return {"events": events, "cursor": events[-1]["seq"] if events else after, "last": last, "done": done}

    def cancel(self, run_id: str) -> dict[str, Any]:
        run = self.runs.get(run_id)
        if run is None:
            assert self.store is not None
            info = self.store.run(run_id)
            if info["status"] == "queued":
                return self._cancel_held(run_id, info)
            return {"run_id": run_id, "status": info["status"], "cancelled": False}
        if run.status != "running":
            return {"run_id": run_id, "status": run.status, "cancelled": False}
        run.status = "cancelling"
        run.ready.clear()
        for key in [k for k in self.assigned if k[0] == run_id]:
            executor = self.assigned.pop(key)
            self.load[executor] = max(0, self.load.get(executor, 1) - 1)
        self._apply(run, run.engine.cancel())
        self._flush()
        return {"run_id": run_id, "status": run.status, "cancelled": True}

    def _cancel_held(self, run_id: str, info: dict[str, Any]) -> dict[str, Any]:
        """Cancel a run waiting for admission: it never starts (the ``runs`` service withdraws it)."""
        assert self.store is not None
        seq = int(info["seq"]) + 1
        payload = {"run_id": run_id, "seq": seq, "outcome": "cancelled", "counts": {}, "seconds": 0.0,
                   "error": None, "detail": "cancelled while queued"}
        self.store.write([(run_id, seq, [["r", seq, time.time(), "cancelled", payload]])],
                         [("cancelled", None, time.time(), seq, encode({}), None, run_id)])
        if self.ctx is not None:
            self.ctx.publish(f"run.{run_id}.cancelled", payload)
        snap = self.status(run_id)
        for w in self.held_waiters.pop(run_id, []):
            w.resolve(snap)
        return {"run_id": run_id, "status": "cancelled", "cancelled": True}

    def wait(self, run_id: str, within: float = 60.0) -> Any:
        """The run's snapshot once it has finished, or after ``within`` seconds (``finished`` says which)."""
        run = self.runs.get(run_id)
        if run is None:
            info = self.status(run_id)
            if (info.get("status") != "queued" and run_id not in self.recovering) or self.ctx is None:
                return info
            waiter = self.ctx.defer()  # waits through the admission queue
            self.held_waiters.setdefault(run_id, []).append(waiter)
            self.ctx.call_later(max(0.0, within), "wake_waiters", run_id=run_id, token=id(waiter))
            return waiter
        if run.status not in ("running", "cancelling") or self.ctx is None:
            return self._snapshot(run)
        waiter = self.ctx.defer()
        run.waiters.append(waiter)
        self.ctx.call_later(max(0.0, within), "wake_waiters", run_id=run_id, token=id(waiter))
        return waiter

    def wake_waiters(self, run_id: str, token: int) -> None:
        run = self.runs.get(run_id)
        if run is None:
            held = self.held_waiters.get(run_id, [])
            for w in [w for w in held if id(w) == token]:
                held.remove(w)
                w.resolve(self.status(run_id))
            return
        for w in [w for w in run.waiters if id(w) == token]:
            run.waiters.remove(w)
            w.resolve(self._snapshot(run))

    def on_attempts(self, attempts: list[dict[str, Any]]) -> None:
        """Attempt records from an executor or extension actor (times, worker, host, output); kept with the run."""
        assert self.store is not None
        self.store.write_attempts(attempts)

    def logs(self, run_id: str, node: str | None = None, output: bool = True) -> dict[str, Any]:
        """Every attempt of a run (or of ``node``): start and end times, worker, host, and unless ``output`` is
        False its stdout, stderr and log lines."""
        assert self.store is not None
        attempts = self.store.attempts(run_id, node, output)
        if not attempts:
            if run_id not in self.runs:
                self.store.run(run_id)  # NotFoundError for an unknown run
            index = self.runs[run_id].engine.index if run_id in self.runs else None
            if node is not None and index is not None and node not in index:
                raise NotFoundError(f"run {run_id!r} has no node {node!r}", run_id=run_id, node=node)
        return {"run_id": run_id, "node": node, "attempts": attempts}

    def stats(self) -> dict[str, Any]:
        active = sum(1 for r in self.runs.values() if r.status == "running")
        per_task = self.bookkeeping_s / self.tasks_done * 1e6 if self.tasks_done else 0.0
        return {"active_runs": active, "tasks_done": self.tasks_done, "in_flight": dict(self.load),
                "bookkeeping_us_per_task": per_task, "executors": list(self.executors)}

    def runtime_stats(self) -> dict[str, Any]:
        return self.stats()


def build(settings: ServiceSettings) -> DagService:
    return DagService(settings)
