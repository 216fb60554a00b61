"""The PoolPort contract against the fake, the service in-process, and the client over LocalRuntime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from symphony_actors.pit.pool.client import PoolClient
from symphony_actors.pit.pool.service import build
from symphony_actors.ports.pit import PoolPort
from symphony_actors.ports.service import ServiceSettings
from symphony_actors.testing.fake_pit import FakePool
from symphony_actors.testing.runtime import FakeClock, LocalRuntime
from tests.contract.pool_contract import PoolContract


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class TestFakePool(PoolContract):
    @pytest.fixture
    def port(self, clock: FakeClock) -> PoolPort:
        return FakePool(memory_budget_mb=1000, clock=clock.time)


class TestPoolService(PoolContract):
    @pytest.fixture
    def port(self, data_dir: Path, clock: FakeClock) -> Iterator[PoolPort]:
        service = build(ServiceSettings("pool", data_dir, {"memory_budget_mb": 1000, "clock": clock.time}))
        yield service
        service.on_stop()


class TestPoolClient(PoolContract):
    @pytest.fixture
    def port(self, data_dir: Path, clock: FakeClock) -> Iterator[PoolPort]:
        runtime = LocalRuntime(data_dir, clock=clock)
        runtime.start("pool", "symphony_actors.pit.pool.service:build", memory_budget_mb=1000, clock=clock.time)
        yield PoolClient(runtime)
        runtime.close()


def test_every_implementation_satisfies_the_protocol(data_dir: Path) -> None:
    """isinstance against the runtime-checkable Protocol holds for all three."""
    runtime = LocalRuntime(data_dir)
    runtime.start("pool", "symphony_actors.pit.pool.service:build")
    try:
        for impl in (FakePool(), runtime.services["pool"], PoolClient(runtime)):
            assert isinstance(impl, PoolPort)
    finally:
        runtime.close()
