"""A complete in-memory DAG tracker: the real scheduling engine and operators, in-process, on a fake clock.

``FakeDag`` hosts the real :class:`DagService` and two :class:`Executor` services
in a private :class:`LocalRuntime` with an in-memory checkpoint database and an
in-memory artifact store. Time is virtual: retries' backoffs and timeouts elapse
when ``wait`` advances the clock, so tests of retry policies take no real time.
(``builtin.sleep`` still sleeps for real: it is an operator doing its job.)
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from symphony_actors.pit.dag.client import DagClient
from symphony_actors.pit.dag.executor import Executor
from symphony_actors.pit.dag.service import DagService
from symphony_actors.ports.service import ServiceSettings
from symphony_actors.testing.fake_artifacts import FakeArtifacts
from symphony_actors.testing.runtime import LocalRuntime

__all__ = ["FakeDag"]


class _BusStub:
    def subscribe(self, subscriber: str, pattern: str) -> bool:
        return True


class FakeDag:
    """Implements :class:`~symphony_actors.ports.dag.DagPort`."""

    def __init__(self, executors: int = 2, data_dir: Path | None = None, db: str | None = ":memory:") -> None:
        """``db=None`` checkpoints to ``<data_dir>/dag/runs.sqlite`` as the real tracker does."""
        self._tmp = None if data_dir is not None else tempfile.TemporaryDirectory(prefix="fake-dag-")
        root = data_dir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.artifacts = FakeArtifacts()
        self.runtime = LocalRuntime(root)
        self.runtime.add_service("bus", _BusStub())
        for i in range(executors):
            self.runtime.add_service(f"exec-{i}", Executor(ServiceSettings(f"exec-{i}", root, {}), self.artifacts))
        self.runtime.add_service("dag", DagService(ServiceSettings("dag", root, {"executors": executors,
                                                                                "db": db})))
        self._client = DagClient(self.runtime)

    def _settle(self) -> None:
        for _ in range(1_000_000):
            if not self.runtime.advance(0):
                return

    def submit(self, workflow: Any, params: dict[str, Any] | None = None, run_id: str | None = None,
               reuse: dict[str, dict[str, Any]] | None = None, hold: bool = False,
               retry_of: dict[str, Any] | None = None, summary: dict[str, Any] | None = None) -> str:
        rid = self._client.submit(workflow, params, run_id, reuse, hold, retry_of, summary)
        self._settle()
        return rid

    def status(self, run_id: str, nodes: bool = False) -> dict[str, Any]:
        return self._client.status(run_id, nodes)

    def wait(self, run_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Advance virtual time in 50 ms steps until the run finished or ``timeout`` virtual seconds passed."""
        waited = 0.0
        self._settle()
        while not self.status(run_id)["finished"] and waited < timeout:
            self.runtime.advance(0.05)
            self._settle()
            waited += 0.05
        return self.status(run_id)

    def events(self, run_id: str, after: int = 0, limit: int = 1000) -> dict[str, Any]:
        return self._client.events(run_id, after, limit)

    def result(self, run_id: str, node_id: str) -> Any:
        return self._client.result(run_id, node_id)

    def cancel(self, run_id: str) -> dict[str, Any]:
        out = self._client.cancel(run_id)
        self._settle()
        return out

    def list_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        return self._client.list_runs(limit)

    def outcome(self, run_id: str) -> dict[str, Any]:
        return self._client.outcome(run_id)

    def close(self) -> None:
        self.runtime.close()
        if self._tmp is not None:
            self._tmp.cleanup()
