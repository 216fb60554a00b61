"""The ArbitrationPort contract against the fake, the service in-process, and the client over LocalRuntime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from symphony_actors.pit.arbitration.client import ArbitrationClient
from symphony_actors.pit.arbitration.service import build
from symphony_actors.ports.pit import ArbitrationPort
from symphony_actors.ports.service import ServiceSettings
from symphony_actors.testing.fake_pit import FakeArbitration
from symphony_actors.testing.runtime import FakeClock, LocalRuntime
from tests.contract.arbitration_contract import POLICY, ArbitrationContract


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class TestFakeArbitration(ArbitrationContract):
    @pytest.fixture
    def port(self, clock: FakeClock) -> ArbitrationPort:
        return FakeArbitration(POLICY, clock=clock.time)


class TestArbitrationService(ArbitrationContract):
    @pytest.fixture
    def port(self, data_dir: Path, clock: FakeClock) -> Iterator[ArbitrationPort]:
        service = build(ServiceSettings("arbitration", data_dir, {"policy": POLICY, "clock": clock.time}))
        yield service
        service.on_stop()


class TestArbitrationClient(ArbitrationContract):
    @pytest.fixture
    def port(self, data_dir: Path, clock: FakeClock) -> Iterator[ArbitrationPort]:
        runtime = LocalRuntime(data_dir, clock=clock)
        runtime.start("arbitration", "symphony_actors.pit.arbitration.service:build", policy=POLICY,
                      clock=clock.time)
        yield ArbitrationClient(runtime)
        runtime.close()


def test_every_implementation_satisfies_the_protocol(data_dir: Path) -> None:
    """isinstance against the runtime-checkable Protocol holds for all three."""
    runtime = LocalRuntime(data_dir)
    runtime.start("arbitration", "symphony_actors.pit.arbitration.service:build")
    try:
        for impl in (FakeArbitration(), runtime.services["arbitration"], ArbitrationClient(runtime)):
            assert isinstance(impl, ArbitrationPort)
    finally:
        runtime.close()


def test_the_service_keeps_grants_and_the_queue_across_a_restart_without_a_tick(data_dir: Path) -> None:
    """Every change is written before the call answers: a crash right after a grant loses nothing."""
    clock = FakeClock()
    first = build(ServiceSettings("arbitration", data_dir, {"policy": POLICY, "clock": clock.time}))
    for i in range(5):
        first.submit(request_id=f"run:r{i}", run=f"r{i}", demands={"executors": 1})
    first.release(request_id="run:r0")
    first.store.close()  # no on_stop, no tick: as after kill -9
    again = build(ServiceSettings("arbitration", data_dir, {"policy": POLICY, "clock": clock.time}))
    try:
        status = again.status()
        assert sorted(status["granted"]) == ["run:r1", "run:r2", "run:r3", "run:r4"]
        assert status["used"] == {"executors": 4.0}
    finally:
        again.on_stop()
