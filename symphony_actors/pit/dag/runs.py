"""The ``runs`` service: hosts :class:`~.usecase.RunWorkflow`, wired to the real Pit services.

Clients start runs here (``client.run_workflow`` does); the service admits,
plans and submits them, or queues them (durably: ``<data_dir>/pit/runs.sqlite3``)
until the Arbitration Engine grants them. When a run ends it releases the run's
admission, gives the conductor its feedback and records lineage with the stale
manager. It learns of ends and grants from the bus (``run.<id>.finished|failed|
cancelled``, ``arbitration.decision``) and, since events can be lost (the bus
restarts, this service is down), from a periodic reconciliation
(:meth:`~.usecase.RunWorkflow.reconcile`): at start, then every ``tick_s``. It
also sets the engine's ``executors`` capacity to the executors the tracker has.
It reaches the other services with synchronous calls over the data plane
(``ctx.call``); none of them ever calls back into it.

The use case runs on the service's own thread (:class:`JobThread`), never on
the actor's loop: starting a 10k-node run takes seconds (decoding, the reuse check,
the tracker's own submit), and a loop busy that long stops answering its
supervisor's pings and is killed as hung. The loop only queues each request,
event and tick, in arrival order, and sends the answer when the thread has one.

Options: ``ports``: which of arbitration, pool, stale, conductor and artifacts
this system has (default: all five); ``tick_s`` (1.0): the reconciliation period
while runs are queued or running (5 times that when idle).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from symphony_actors.conductor.client import ConductorClient
from symphony_actors.domain.errors import BusyError, SymphonyError
from symphony_actors.pit.arbitration.client import ArbitrationClient
from symphony_actors.pit.artifacts.client import ArtifactClient
from symphony_actors.pit.dag.client import DagClient
from symphony_actors.pit.dag.runtable import RunTable
from symphony_actors.pit.dag.usecase import RunWorkflow
from symphony_actors.pit.jobs import JobThread
from symphony_actors.pit.pool.client import PoolClient
from symphony_actors.pit.stale.client import StaleClient
from symphony_actors.ports.service import ServiceSettings

__all__ = ["RunsService", "build"]

PORTS = ("arbitration", "pool", "stale", "conductor", "artifacts")
ENDINGS = ("finished", "failed", "cancelled")
IDLE_FACTOR = 5
log = logging.getLogger(__name__)


class _ContextCaller:
    """The Caller protocol over ``ctx.call`` (synchronous calls over the data plane, safe from the use
    case's thread); a ``tell`` is handed to the loop, which owns the outbox."""

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def call(self, service: str, method: str, /, *, timeout: float | None = None, **kwargs: Any) -> Any:
        return self._ctx.call(service, method, timeout=timeout or 60.0, **kwargs)

    def tell(self, service: str, method: str, /, **kwargs: Any) -> None:
        self._ctx.call_soon_threadsafe(functools.partial(self._ctx.tell, service, method, **kwargs))


class RunsService:
    EXPORTS: ClassVar[frozenset[str]] = frozenset({"start", "finish", "pending", "on_event", "queued", "tick",
                                                   "reconcile", "retry"})

    def __init__(self, settings: ServiceSettings) -> None:
        self.ports = tuple(p for p in settings.options.get("ports", PORTS) if p in PORTS)
        self.tick_s = float(settings.options.get("tick_s", 1.0))
        self.table_path: Path | str = settings.options.get("db") or settings.data_dir / "pit" / "runs.sqlite3"
        self.usecase: RunWorkflow | None = None
        self.ctx: Any = None
        self.caller: _ContextCaller | None = None
        self.worker: JobThread | None = None
        self.reconciled = False
        self.failures = 0
        self.busy = False         # runs queued or running, as the last reconciliation saw (sets the tick period)
        self.tick_queued = False

    def on_start(self, ctx: Any) -> None:
        self.ctx = ctx
        ctx.watch("dag", *self.ports)
        for ending in ENDINGS:
            ctx.subscribe(f"run.*.{ending}")
        ctx.subscribe("arbitration.decision")
        ctx.subscribe("supervisor.child.started")
        self.caller = _ContextCaller(ctx)
        make = {"arbitration": ArbitrationClient, "pool": PoolClient, "stale": StaleClient,
                "conductor": ConductorClient, "artifacts": ArtifactClient}
        ports = {name: make[name](self.caller) for name in self.ports}
        caller = self.caller

        def node_types() -> list[dict[str, Any]]:
            """Installed extensions' nodes, to check conductor candidates (on the job thread: the first call
            resolves the extension host, so a BusyError is retried for up to 2 s)."""
            for _ in range(20):
                try:
                    result: list[dict[str, Any]] = caller.call("exthost", "node_types")
                    return result
                except BusyError:
                    time.sleep(0.1)
            raise BusyError("the extension host cannot be reached to check the candidates", service="exthost")

        self.usecase = RunWorkflow(DagClient(self.caller), table=RunTable(self.table_path),
                                   node_types=node_types if "conductor" in self.ports else None,
                                   **ports)
        self.worker = JobThread(ctx, "runs")
        ctx.call_later(0.2, "tick")  # the first reconciliation, once the callees are resolved

    def on_stop(self) -> None:
        if self.worker is not None:
            self.worker.stop(timeout=10.0)
        if self.usecase is not None:
            self.usecase.table.close()

    def _later(self, job: Callable[[], Any], what: str) -> Any:
        """Run ``job`` on the use case's thread; the request is answered when it is done."""
        assert self.worker is not None and self.ctx is not None
        return self.worker.put(job, self.ctx.defer(), what)

    def start(self, workflow: Any, params: dict[str, Any] | None = None, user: str = "", priority: int = 0,
              reuse: bool = True, tags: list[str] | None = None) -> Any:
        """Admit, plan and start a run, or queue it: ``{"run_id", "queued", "reused", "instruments",
        "admission"}``; ``tags`` count against the policy's per-tag limits (capacity ``tag:NAME``)."""
        assert self.usecase is not None
        usecase = self.usecase

        def start() -> dict[str, Any]:
            self._first_reconcile()  # admission needs the real capacity (the executors the tracker has)
            return usecase.start(workflow, params, user=user, priority=priority, reuse=reuse, tags=tags or ())

        return self._later(start, "start")

    def _first_reconcile(self) -> None:
        if not self.reconciled:
            try:
                self._reconcile()
            except SymphonyError as exc:  # the tick tries again; admission goes on with what it has
                log.info("runs: reconciliation before a start failed: %s", exc)

    def retry(self, run_id: str, from_node: str | None = None, user: str = "", priority: int = 0) -> Any:
        """Retry a finished run as a new, linked run: its failed part, or ``from_node`` and what is downstream;
        ``{"run_id", "retry_of", "from_node", "reused", "rerun", "admission"}``."""
        assert self.usecase is not None
        usecase = self.usecase

        def retry() -> dict[str, Any]:
            self._first_reconcile()
            return usecase.retry(run_id, from_node, user=user, priority=priority)

        return self._later(retry, "retry")

    def finish(self, run_id: str) -> Any:
        assert self.usecase is not None
        usecase = self.usecase
        return self._later(lambda: usecase.finish(run_id), "finish")

    def pending(self) -> Any:
        """Runs started here whose end has not been processed yet."""
        if self.usecase is None:
            return []
        table = self.usecase.table
        return self._later(lambda: sorted(r.run_id for r in table.records.values() if r.state != "queued"),
                           "pending")

    def queued(self) -> Any:
        """Runs waiting for admission, in arrival order."""
        if self.usecase is None:
            return []
        return self._later(self.usecase.queued, "queued")

    def reconcile(self) -> Any:
        """Reconcile now (the timer does it too); see :meth:`RunWorkflow.reconcile`."""
        return self._later(self._reconcile, "reconcile")

    def _reconcile(self) -> dict[str, Any]:
        assert self.usecase is not None and self.caller is not None
        executors = None
        if not self.reconciled:  # at start and after arbitration or dag restarted: the executors they have
            names = self.caller.call("dag", "stats").get("executors")
            executors = len(names) if isinstance(names, list) and names else None
        result = self.usecase.reconcile(executors)
        self.reconciled = True
        return result

    def tick(self) -> None:
        """Timer: reconcile (on the use case's thread, never two queued at once); sooner while runs are
        queued or running."""
        assert self.worker is not None and self.ctx is not None
        if not self.tick_queued:
            self.tick_queued = True
            self.worker.put(self._tick, None, "tick")
        self.ctx.call_later(self.tick_s if self.busy or not self.reconciled else self.tick_s * IDLE_FACTOR, "tick")

    def _tick(self) -> None:
        self.tick_queued = False
        try:
            self._reconcile()
        except SymphonyError as exc:  # a callee restarting: the next tick tries again
            self.failures += 1
            first = not self.reconciled and self.failures <= 20  # callees still being resolved at start
            self.reconciled = False
            log.log(logging.INFO if first else logging.WARNING, "runs: reconciliation failed (%d so far): %s",
                    self.failures, exc)
        self.busy = self.usecase is not None and bool(self.usecase.table.records)

    def on_event(self, topic: str, payload: Any) -> None:
        if self.usecase is None or not isinstance(payload, dict):
            return
        if topic == "supervisor.child.started":
            if payload.get("child") in ("arbitration", "dag"):
                self.reconciled = False  # the next tick reconciles with the restarted service
            return
        assert self.worker is not None
        self.worker.put(functools.partial(self._on_event, topic, payload), None, topic)

    def _on_event(self, topic: str, payload: dict[str, Any]) -> None:
        assert self.usecase is not None
        if topic == "arbitration.decision":
            self.usecase.admit_granted(self.usecase.granted_in([payload]))
        elif topic.rsplit(".", 1)[-1] in ENDINGS:
            run_id = payload.get("run_id")
            if isinstance(run_id, str) and self.usecase.table.get(run_id) is not None:
                self.usecase.finish(run_id)
        self.busy = bool(self.usecase.table.records)

    def runtime_stats(self) -> dict[str, Any]:
        """In the heartbeat: what the use case's thread is doing, and for how long."""
        return self.worker.stats() if self.worker is not None else {}


def build(settings: ServiceSettings) -> RunsService:
    return RunsService(settings)
