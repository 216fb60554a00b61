"""The ``runs`` service: hosts :class:`~.usecase.RunWorkflow`, wired to the real Pit services.

Clients start runs here (``client.run_workflow`` does); the service admits,
plans and submits them, and when the tracker announces that a run ended
(``run.<id>.finished|failed|cancelled`` on the bus) it releases the run's
admission, gives the conductor its feedback and records lineage with the stale
manager. It reaches the other services with synchronous calls over the data
plane (``ctx.call``); none of them ever calls back into it.

Options: ``ports``: which of arbitration, pool, stale, conductor and artifacts
this system has (default: all five).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from symphony_actors.conductor.client import ConductorClient
from symphony_actors.domain.errors import SymphonyError
from symphony_actors.pit.arbitration.client import ArbitrationClient
from symphony_actors.pit.artifacts.client import ArtifactClient
from symphony_actors.pit.dag.client import DagClient
from symphony_actors.pit.dag.usecase import RunWorkflow
from symphony_actors.pit.pool.client import PoolClient
from symphony_actors.pit.stale.client import StaleClient
from symphony_actors.ports.service import ServiceSettings

__all__ = ["RunsService", "build"]

PORTS = ("arbitration", "pool", "stale", "conductor", "artifacts")
ENDINGS = ("finished", "failed", "cancelled")
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
    EXPORTS: ClassVar[frozenset[str]] = frozenset({"start", "finish", "pending", "on_event", "retry"})

    def __init__(self, settings: ServiceSettings) -> None:
        self.ports = tuple(p for p in settings.options.get("ports", PORTS) if p in PORTS)
        self.usecase: RunWorkflow | None = None

    def on_start(self, ctx: Any) -> None:
        ctx.watch("dag", *self.ports)
        for ending in ENDINGS:
            ctx.subscribe(f"run.*.{ending}")
        caller = _ContextCaller(ctx)
        make = {"arbitration": ArbitrationClient, "pool": PoolClient, "stale": StaleClient,
                "conductor": ConductorClient, "artifacts": ArtifactClient}
        ports = {name: make[name](caller) for name in self.ports}
        self.usecase = RunWorkflow(DagClient(caller), **ports)

    def start(self, workflow: Any, params: dict[str, Any] | None = None, user: str = "", priority: int = 0,
              reuse: bool = True) -> dict[str, Any]:
        """Admit, plan and start a run; ``{"run_id", "reused", "instruments", "admission"}``."""
        assert self.usecase is not None
        return self.usecase.start(workflow, params, user=user, priority=priority, reuse=reuse)

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
        return sorted(self.usecase.plans) if self.usecase else []

    def on_event(self, topic: str, payload: Any) -> None:
        if topic.rsplit(".", 1)[-1] not in ENDINGS or not isinstance(payload, dict):
            return
        run_id = payload.get("run_id")
        if not isinstance(run_id, str) or self.usecase is None or run_id not in self.usecase.plans:
            return
        try:
            self.usecase.finish(run_id)
        except SymphonyError as exc:  # the run is over either way; say what could not be recorded
            log.warning("finishing run %s: %s", run_id, exc)


def build(settings: ServiceSettings) -> RunsService:
    return RunsService(settings)
