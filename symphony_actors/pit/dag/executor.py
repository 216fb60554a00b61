"""Executor service: runs operator and instrument tasks dispatched by the DAG tracker.

One executor actor per core (``exec-0``, ``exec-1``, ...). Tasks arrive in
batches and run one at a time on the executor's task thread
(:class:`~.runner.TaskRunner`), never on the actor loop: the loop keeps
answering pings and new batches, and delivers each result (with its attempt's
output, log lines and times, in the same ``on_results`` message) as soon as it exists. Each
attempt has a time limit (the node's ``timeout``, else ``task_time_limit``,
default one hour); past it the task fails with ``DeadlineExceeded`` at once, and
a task thread that does not return within ``hang_grace`` (default 10 s) more
makes the executor report itself hung, so its supervisor replaces the process
(see :mod:`.runner`). Non-empty results are recorded as artifacts (through an
:class:`ArtifactPort`, with the run, node and parent artifacts as lineage) and
their small values travel back inline for downstream inputs and predicates.

In-process runtimes without threads (``LocalRuntime``: its context has no
``call_soon_threadsafe``) get the old behaviour: tasks run inline in slices.

Exactly once: results are cached by task key (run, node, item, attempt). A
restarted tracker re-dispatches unfinished tasks to the same executor with the
same key; the executor answers a task it already ran from the cache, and one
still waiting in its queue only once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, ClassVar

import cbor2

from symphony_actors.domain.errors import (
    NotFoundError,
    ServiceCrashed,
    StorageError,
    SymphonyError,
    UsageError,
)
from symphony_actors.pit.dag import operators
from symphony_actors.pit.dag.engine import Task, has_refs, resolve_refs
from symphony_actors.pit.dag.journal import ResultJournal
from symphony_actors.pit.dag.runner import (
    DEFAULT_GRACE_S,
    DEFAULT_LIMIT_S,
    TaskRunner,
    install_output_capture,
    run_inline,
)
from symphony_actors.pit.dag.store import read_value
from symphony_actors.pit.dag.tasks import TaskQueue
from symphony_actors.ports.service import ServiceSettings

__all__ = ["Executor", "build"]

SLICE_S = 0.02
STOP_DRAIN_S = 1.2  # at a graceful stop, how long the running task may take to finish
CACHE_MAX = 200_000
INLINE_MAX = 64 * 1024  # results larger than this travel as an artifact reference only
WATCH_S = 1.0           # how often the loop checks a running task's limit
log = logging.getLogger(__name__)


class Executor:
    EXPORTS: ClassVar[frozenset[str]] = frozenset({"run_batch", "work", "watchdog", "deliver", "stats",
                                                   "forget_run"})

    def __init__(self, settings: ServiceSettings, artifacts: Any = None) -> None:
        self.name = settings.name
        self.data_dir = settings.data_dir
        self.tracker = str(settings.options.get("tracker", "dag"))
        self.record_artifacts = bool(settings.options.get("artifacts", True))
        self.time_limit = float(settings.options.get("task_time_limit", DEFAULT_LIMIT_S))
        self.grace = float(settings.options.get("hang_grace", DEFAULT_GRACE_S))
        self._artifacts = artifacts
        self._thread_stores = threading.local()   # a task thread's own artifact store (SQLite is per thread)
        self.ctx: Any = None
        self.tasks = TaskQueue(CACHE_MAX)
        self.runner: TaskRunner | None = None
        self.ran = 0
        self.working = False
        self.watching = False
        self.journal: ResultJournal | None = None
        self.delivered_at = 0.0
        self.delivery_due = False

    def on_start(self, ctx: Any) -> None:
        self.ctx = ctx
        post = getattr(ctx, "call_soon_threadsafe", None)
        if post is not None:  # a real actor: tasks run on the task thread
            install_output_capture()
            self.runner = TaskRunner(self.name, self.tasks, self._run, lambda: post(self._woken),
                                     default_limit=self.time_limit, grace=self.grace)

    def on_stop(self) -> None:
        """A graceful stop: the running task may finish (within ``STOP_DRAIN_S``, under the supervisor's
        2 s shutdown timeout) and every finished result is journaled before the process exits, so that no
        recorded work runs again after the next start. A task still running then is cancelled (it runs
        again: at least once)."""
        if self.runner is None:
            return
        done = self.runner.drain(STOP_DRAIN_S)
        if done:
            self._journal([result for result, _ in done])
        self.runner.stop()

    # ------------------------------------------------------------------ API
    def run_batch(self, tasks: list[Task]) -> int:
        """Queue tasks; each result goes to the tracker's ``on_results`` as soon as it is ready."""
        # A re-dispatch after a tracker restart is answered from the cache.
        replies = self.runner.offer(tasks) if self.runner is not None else self.tasks.offer(tasks)
        if replies:
            self.ctx.tell(self.tracker, "on_results", executor=self.name, results=replies)
        if self.runner is not None:
            if not self.watching:
                self.watching = True
                self.ctx.call_later(WATCH_S, "watchdog")
        elif self.tasks and not self.working:
            self.working = True
            self.ctx.call_later(0, "work")
        return len(tasks)

    def watchdog(self) -> None:
        """While tasks run: fail one past its limit at once (see :mod:`.runner`), every ``WATCH_S``."""
        if self.runner is None:
            return
        more = self.runner.check()
        self.deliver()
        self.watching = more
        if more:
            self.ctx.call_later(WATCH_S, "watchdog")

    def _woken(self) -> None:
        """A result is ready: send it now, or with the others finishing within the same ``SLICE_S``
        (many tiny tasks then cost the tracker one message and one checkpoint per slice, not per task).
        Nothing running or queued: send it at once, since no other result is coming to share the message
        (a chain of nodes would otherwise wait out the slice at every hop)."""
        if self.delivery_due:
            return
        wait = self.delivered_at + SLICE_S - time.perf_counter()
        if wait <= 0 or self.runner is None or not self.runner.more_coming:
            self.deliver()
        else:
            self.delivery_due = True
            self.ctx.call_later(wait, "deliver")

    def deliver(self) -> None:
        """On the loop: send the results finished so far, with their attempts' records first."""
        if self.runner is None:
            return
        self.delivery_due = False
        self.delivered_at = time.perf_counter()
        done = self.runner.take()
        if done:
            results = [result for result, _ in done]
            self._journal(results)  # before reporting: a recorded result is never run again (journal.py)
            self.ctx.tell(self.tracker, "on_results", executor=self.name, results=results,
                          attempts=[record for _, record in done])

    def work(self) -> None:
        """Without task threads: run queued tasks for one slice, report them, and come back for the rest."""
        deadline = time.perf_counter() + SLICE_S
        results: list[tuple[Any, ...]] = []
        records: list[dict[str, Any]] = []
        while self.tasks and (not results or time.perf_counter() < deadline):
            task = self.tasks.pop()
            assert task is not None
            result, record = run_inline(self.name, task, self._run, self.time_limit)
            self.tasks.done(task, result)
            results.append(result)
            records.append(record)
        if results:
            self._journal(results)  # before reporting: a recorded result is never run again (journal.py)
            self.ctx.tell(self.tracker, "on_results", executor=self.name, results=results, attempts=records)
        if self.tasks:
            self.ctx.call_later(0, "work")
        else:
            self.working = False

    def _journal(self, results: list[tuple[Any, ...]]) -> None:
        try:
            if self.journal is None:
                self.journal = ResultJournal.open(self.data_dir)
            self.journal.record(results)
        except StorageError as exc:  # reported anyway; only a crash before the tracker records them re-runs them
            log.warning("%s: results not journaled: %s", self.name, exc)

    def forget_run(self, run_id: str) -> int:
        """Drop cached results and queued tasks of a finished or cancelled run."""
        if self.runner is not None:
            return self.runner.forget_run(run_id)
        return self.tasks.forget_run(run_id)

    def stats(self) -> dict[str, Any]:
        return {"ran": self.ran, "queued": len(self.tasks), "cached": self.tasks.cached,
                "busy": self.runner is not None and self.runner.busy}

    def runtime_stats(self) -> dict[str, Any]:
        return self.stats()

    def runtime_hung(self) -> str | None:
        """The heartbeat's verdict: why the task thread is hung (past its limit and grace), else None."""
        return self.runner.hung() if self.runner is not None else None

    # ------------------------------------------------------------------ one task
    def _run(self, task: Task) -> tuple[Any, ...]:
        """(run, node, item, attempt, ok, value, artifact, error, started_at, seconds); on the task thread."""
        t0 = time.time()
        operators.CURRENT = task
        try:
            op = operators.resolve_operator(task.type)
            inputs = resolve_refs(task.inputs, self._read) if has_refs(task.inputs) else task.inputs
            value = op(task.params, inputs)
            self.ran += 1
            artifact = self._record(task, value)
            if artifact is not None and task.item < 0 and _size(value) > INLINE_MAX:
                value = None  # downstream nodes get an ArtifactRef and read it (a map item's value stays inline)
            return (task.run_id, task.node_id, task.item, task.attempt, True, value, artifact, None, t0,
                    time.time() - t0)
        except SymphonyError as exc:
            err: SymphonyError = exc
        except Exception as exc:  # noqa: BLE001 - an operator's bug is that node's failure, not the executor's
            err = ServiceCrashed(f"node {task.node_id!r} ({task.type}) raised {type(exc).__name__}: {exc}",
                                 node=task.node_id, remote_type=type(exc).__name__)
        finally:
            operators.CURRENT = None
        self.ran += 1
        return (task.run_id, task.node_id, task.item, task.attempt, False, None, None, err.to_wire(), t0,
                time.time() - t0)

    def _record(self, task: Task, value: Any) -> str | None:
        if value is None or not self.record_artifacts:
            return None
        try:
            data = cbor2.dumps(value)
        except (cbor2.CBOREncodeError, TypeError, ValueError) as exc:
            raise UsageError(f"node {task.node_id!r} returned a value that is not plain data: {exc}") from exc
        store = self._store()
        if store is None:
            return None
        item = "" if task.item < 0 else f"[{task.item}]"
        return str(store.store(data, name=f"{task.run_id}/{task.node_id}{item}", media_type="application/cbor",
                               run_id=task.run_id, node_id=task.node_id, parents=task.parents))

    def _read(self, artifact_id: str) -> Any:
        """A large upstream result, from the artifact store (on the task thread)."""
        store = self._store()
        if store is None:
            raise NotFoundError(f"artifact {artifact_id} cannot be read: this executor has no artifact store",
                                artifact=artifact_id)
        return read_value(store, artifact_id)

    def _store(self) -> Any:
        if self._artifacts is not None:
            return self._artifacts
        store = getattr(self._thread_stores, "store", None)
        if store is None:
            from symphony_actors.pit.artifacts.store import ArtifactStore

            store = self._thread_stores.store = ArtifactStore.open(self.data_dir)
        return store


def _size(value: Any) -> int:
    if isinstance(value, bytes | str):
        return len(value)
    try:
        return len(cbor2.dumps(value))
    except (cbor2.CBOREncodeError, TypeError, ValueError):
        return INLINE_MAX + 1


def build(settings: ServiceSettings) -> Executor:
    return Executor(settings)
