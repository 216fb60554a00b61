"""The StalePort contract against the fake, the service in-process, and the client over LocalRuntime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from symphony_actors.pit.stale.client import StaleClient
from symphony_actors.pit.stale.service import build
from symphony_actors.ports.pit import StalePort
from symphony_actors.ports.service import ServiceSettings
from symphony_actors.testing.fake_pit import FakeStale
from symphony_actors.testing.runtime import FakeClock, LocalRuntime
from tests.contract.stale_contract import StaleContract


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class TestFakeStale(StaleContract):
    @pytest.fixture
    def port(self, clock: FakeClock) -> StalePort:
        return FakeStale(clock=clock.time)


class TestStaleService(StaleContract):
    @pytest.fixture
    def port(self, data_dir: Path, clock: FakeClock) -> Iterator[StalePort]:
        service = build(ServiceSettings("stale", data_dir, {"clock": clock.time}))
        yield service
        service.on_stop()


class TestStaleClient(StaleContract):
    @pytest.fixture
    def port(self, data_dir: Path, clock: FakeClock) -> Iterator[StalePort]:
        runtime = LocalRuntime(data_dir, clock=clock)
        runtime.start("stale", "symphony_actors.pit.stale.service:build", clock=clock.time)
        yield StaleClient(runtime)
        runtime.close()


def test_every_implementation_satisfies_the_protocol(data_dir: Path) -> None:
    """isinstance against the runtime-checkable Protocol holds for all three."""
    runtime = LocalRuntime(data_dir)
    runtime.start("stale", "symphony_actors.pit.stale.service:build")
    try:
        for impl in (FakeStale(), runtime.services["stale"], StaleClient(runtime)):
            assert isinstance(impl, StalePort)
    finally:
        runtime.close()
