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

Options: ``ports``: which of arbitration, pool, stale, conductor and artifacts
this system has (default: all five); ``tick_s`` (1.0): the reconciliation period
while runs are queued or running (5 times that when idle).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

from symphony_actors.conductor.client import ConductorClient
from symphony_actors.domain.errors import SymphonyError
from symphony_actors.pit.arbitration.client import ArbitrationClient
from symphony_actors.pit.artifacts.client import ArtifactClient
from symphony_actors.pit.dag.client import DagClient
from symphony_actors.pit.dag.runtable import RunTable
from symphony_actors.pit.dag.usecase import RunWorkflow
from symphony_actors.pit.pool.client import PoolClient
from symphony_actors.pit.stale.client import StaleClient
from symphony_actors.ports.service import ServiceSettings

__all__ = ["RunsService", "build"]

PORTS = ("arbitration", "pool", "stale", "conductor", "artifacts")
ENDINGS = ("finished", "failed", "cancelled")
IDLE_FACTOR = 5
log = logging.getLogger(__name__)


class _ContextCaller:
    """The Caller protocol over ``ctx.call`` (synchronous calls from inside a service)."""

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def call(self, service: str, method: str, /, *, timeout: float | None = None, **kwargs: Any) -> Any:
        return self._ctx.call(service, method, timeout=timeout or 60.0, **kwargs)

    def tell(self, service: str, method: str, /, **kwargs: Any) -> None:
        self._ctx.tell(service, method, **kwargs)


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
        self.reconciled = False
        self.failures = 0

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
        self.usecase = RunWorkflow(DagClient(self.caller), table=RunTable(self.table_path), **ports)
        ctx.call_later(0.2, "tick")  # the first reconciliation, once the callees are resolved

    def on_stop(self) -> None:
        if self.usecase is not None:
            self.usecase.table.close()

    def start(self, workflow: Any, params: dict[str, Any] | None = None, user: str = "", priority: int = 0,
              reuse: bool = True, tags: list[str] | None = None) -> dict[str, Any]:
        """Admit, plan and start a run, or queue it: ``{"run_id", "queued", "reused", "instruments",
        "admission"}``; ``tags`` count against the policy's per-tag limits (capacity ``tag:NAME``)."""
        assert self.usecase is not None
        return self.usecase.start(workflow, params, user=user, priority=priority, reuse=reuse, tags=tags or ())

    def retry(self, run_id: str, from_node: str | None = None, user: str = "", priority: int = 0) -> dict[str, Any]:
        """Retry a finished run as a new, linked run: its failed part, or ``from_node`` and what is downstream;
        ``{"run_id", "retry_of", "from_node", "reused", "rerun", "admission"}``."""
        assert self.usecase is not None
        return self.usecase.retry(run_id, from_node, user=user, priority=priority)

    def finish(self, run_id: str) -> dict[str, Any]:
        assert self.usecase is not None
        return self.usecase.finish(run_id)

    def pending(self) -> list[str]:
        """Runs started here whose end has not been processed yet."""
        if self.usecase is None:
            return []
        return sorted(r.run_id for r in self.usecase.table.records.values() if r.state != "queued")

    def queued(self) -> list[dict[str, Any]]:
        """Runs waiting for admission, in arrival order."""
        return self.usecase.queued() if self.usecase else []

    def reconcile(self) -> dict[str, Any]:
        """Reconcile now (the timer does it too); see :meth:`RunWorkflow.reconcile`."""
        assert self.usecase is not None and self.caller is not None
        executors = None
        if not self.reconciled:  # at start and after arbitration or dag restarted: the executors they have
            names = self.caller.call("dag", "stats").get("executors")
            executors = len(names) if isinstance(names, list) and names else None
        result = self.usecase.reconcile(executors)
        self.reconciled = True
        return result

    def tick(self) -> None:
        """Timer: reconcile; sooner while runs are queued or running."""
        try:
            self.reconcile()
        except SymphonyError as exc:  # a callee restarting: the next tick tries again
            self.failures += 1
            first = not self.reconciled and self.failures <= 20  # callees still being resolved at start
            self.reconciled = False
            log.log(logging.INFO if first else logging.WARNING, "runs: reconciliation failed (%d so far): %s",
                    self.failures, exc)
        busy = self.usecase is not None and bool(self.usecase.table.records)
        self.ctx.call_later(self.tick_s if busy or not self.reconciled else self.tick_s * IDLE_FACTOR, "tick")

    def on_event(self, topic: str, payload: Any) -> None:
        if self.usecase is None or not isinstance(payload, dict):
            return
        try:
            if topic == "arbitration.decision":
                self.usecase.admit_granted(self.usecase.granted_in([payload]))
            elif topic == "supervisor.child.started":
                if payload.get("child") in ("arbitration", "dag"):
                    self.reconciled = False  # the next tick reconciles with the restarted service
            elif topic.rsplit(".", 1)[-1] in ENDINGS:
                run_id = payload.get("run_id")
                if isinstance(run_id, str) and self.usecase.table.get(run_id) is not None:
                    self.usecase.finish(run_id)
        except SymphonyError as exc:  # the reconciliation finishes the job
            log.warning("runs: %s: %s", topic, exc)


def build(settings: ServiceSettings) -> RunsService:
    return RunsService(settings)
