"""The DAG tracker and two executors hosted in-process (LocalRuntime, fake clock, fake artifact store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from symphony_actors.pit.dag.executor import Executor
from symphony_actors.pit.dag.service import DagService
from symphony_actors.ports.service import ServiceSettings
from symphony_actors.testing import LocalRuntime
from symphony_actors.testing.fake_artifacts import FakeArtifacts


class Tracker:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.artifacts = FakeArtifacts()
        self.rt = LocalRuntime(tmp)
        self.rt.add_service("bus", _Sink())
        for i in range(2):
            self.rt.add_service(f"exec-{i}", Executor(ServiceSettings(f"exec-{i}", tmp, {}), self.artifacts))
        self.dag: DagService = self.rt.add_service(  # type: ignore[assignment]
            "dag", DagService(ServiceSettings("dag", tmp, {"executors": 2})))

    def settle(self, max_rounds: int = 10_000) -> None:
        """Deliver timers due now until nothing is left to do at this instant."""
        for _ in range(max_rounds):
            if not self.rt.advance(0):
                return
        raise AssertionError("the tracker did not settle")

    def run(self, wf: Any, params: dict[str, Any] | None = None, advance: float = 0.0) -> dict[str, Any]:
        rid = self.rt.call("dag", "submit", workflow=wf, params=params)
        self.settle()
        waited = 0.0
        while not self.rt.call("dag", "status", run_id=rid)["finished"] and waited <= advance:
            self.rt.advance(0.5)
            waited += 0.5
            self.settle()
        return self.rt.call("dag", "status", run_id=rid, nodes=True)

    def restart(self) -> None:
        """Throw the tracker away and start a new one on the same data directory (a crash and restart)."""
        self.rt.services.pop("dag")
        self.rt._contexts.pop("dag")
        self.dag = self.rt.add_service(  # type: ignore[assignment]
            "dag", DagService(ServiceSettings("dag", self.tmp, {"executors": 2})))


class _Sink:
    """Stands in for the bus: service subscriptions are accepted, events land in LocalRuntime.events."""

    def subscribe(self, subscriber: str, pattern: str) -> bool:
        return True


@pytest.fixture
def tracker(tmp_path: Path) -> Tracker:
    return Tracker(tmp_path)
