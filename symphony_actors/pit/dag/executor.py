"""Executor service: runs operator and instrument tasks dispatched by the DAG tracker.

One executor actor per core (``exec-0``, ``exec-1``, ...). Tasks arrive in
batches; the executor works through them in slices of ~20 ms, returning to
the actor loop between slices so results leave promptly (one batched message
per slice) and cancellations get through. Each task runs under a SIGALRM
timeout when it has one. Non-empty results are recorded as artifacts (through
an :class:`ArtifactPort`, with the run, node and parent artifacts as lineage)
and their small values travel back inline for downstream inputs and predicates.

Exactly once: results are cached by task key (run, node, item, attempt). A
restarted tracker re-dispatches unfinished tasks to the same executor with the
same key; the executor answers a task it already ran from the cache, and one
still waiting in its queue only once.
"""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType
from typing import Any, ClassVar

import cbor2

from symphony_actors.domain.errors import (
    DeadlineExceeded,
    ServiceCrashed,
    StorageError,
    SymphonyError,
    UsageError,
)
from symphony_actors.pit.dag import operators
from symphony_actors.pit.dag.engine import Task
from symphony_actors.pit.dag.journal import ResultJournal
from symphony_actors.pit.dag.tasks import TaskQueue
from symphony_actors.ports.service import ServiceSettings

__all__ = ["Executor", "build"]

SLICE_S = 0.02
CACHE_MAX = 200_000
INLINE_MAX = 64 * 1024  # results larger than this travel as an artifact reference only
log = logging.getLogger(__name__)


class _TaskTimeout(BaseException):
    """Raised by SIGALRM inside a task that overran its timeout (BaseException: operators can't swallow it)."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _TaskTimeout()


class Executor:
    EXPORTS: ClassVar[frozenset[str]] = frozenset({"run_batch", "work", "stats", "forget_run"})

    def __init__(self, settings: ServiceSettings, artifacts: Any = None) -> None:
        self.name = settings.name
        self.data_dir = settings.data_dir
        self.tracker = str(settings.options.get("tracker", "dag"))
        self.record_artifacts = bool(settings.options.get("artifacts", True))
        self._artifacts = artifacts
        self.ctx: Any = None
        self.tasks = TaskQueue(CACHE_MAX)
        self.ran = 0
        self.working = False
        self.journal: ResultJournal | None = None

    def on_start(self, ctx: Any) -> None:
        self.ctx = ctx
        signal.signal(signal.SIGALRM, _alarm)

    # ------------------------------------------------------------------ API
    def run_batch(self, tasks: list[Task]) -> int:
        """Queue tasks; results go to the tracker's ``on_results`` in slices."""
        replies = self.tasks.offer(tasks)  # a re-dispatch after a tracker restart is answered from the cache
        if replies:
            self.ctx.tell(self.tracker, "on_results", executor=self.name, results=replies)
        if self.tasks and not self.working:
            self.working = True
            self.ctx.call_later(0, "work")
        return len(tasks)

    def work(self) -> None:
        """Run queued tasks for one slice, report their results, and come back for the rest."""
        deadline = time.perf_counter() + SLICE_S
        results: list[tuple[Any, ...]] = []
        while self.tasks and (not results or time.perf_counter() < deadline):
            task = self.tasks.pop()
            assert task is not None
            result = self._run(task)
            self.tasks.done(task, result)
            results.append(result)
        if results:
            self._journal(results)  # before reporting: a recorded result is never run again (journal.py)
            self.ctx.tell(self.tracker, "on_results", executor=self.name, results=results)
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
        return self.tasks.forget_run(run_id)

    def stats(self) -> dict[str, Any]:
        return {"ran": self.ran, "queued": len(self.tasks), "cached": self.tasks.cached}

    def runtime_stats(self) -> dict[str, Any]:
        return self.stats()

    # ------------------------------------------------------------------ one task
    def _run(self, task: Task) -> tuple[Any, ...]:
        """(run, node, item, attempt, ok, value, artifact, error, started_at, seconds)."""
        t0 = time.time()
        timer = task.timeout_s is not None and task.timeout_s > 0
        operators.CURRENT = task
        try:
            op = operators.resolve_operator(task.type)
            if timer:
                signal.setitimer(signal.ITIMER_REAL, float(task.timeout_s or 0))
            try:
                value = op(task.params, task.inputs)
            finally:
                if timer:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            self.ran += 1
            artifact = self._record(task, value)
            if artifact is not None and _size(value) > INLINE_MAX:
                value = None
            return (task.run_id, task.node_id, task.item, task.attempt, True, value, artifact, None, t0,
                    time.time() - t0)
        except _TaskTimeout:
            err: SymphonyError = DeadlineExceeded(f"node {task.node_id!r} did not finish within "
                                                  f"{task.timeout_s:g} s", node=task.node_id)
        except SymphonyError as exc:
            err = exc
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

    def _store(self) -> Any:
        if self._artifacts is None:
            from symphony_actors.pit.artifacts.store import ArtifactStore

            self._artifacts = ArtifactStore.open(self.data_dir)
        return self._artifacts


def _size(value: Any) -> int:
    if isinstance(value, bytes | str):
        return len(value)
    try:
        return len(cbor2.dumps(value))
    except (cbor2.CBOREncodeError, TypeError, ValueError):
        return INLINE_MAX + 1


def build(settings: ServiceSettings) -> Executor:
    return Executor(settings)
