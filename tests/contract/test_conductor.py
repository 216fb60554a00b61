"""The ConductorPort contract against the fake, the service in-process, and the client over LocalRuntime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from symphony_actors.conductor.client import ConductorClient
from symphony_actors.conductor.service import build
from symphony_actors.ports.conductor import ConductorPort
from symphony_actors.ports.service import ServiceSettings
from symphony_actors.testing.fake_conductor import FakeConductor
from symphony_actors.testing.runtime import LocalRuntime
from tests.contract.conductor_contract import ConductorContract


class TestFakeConductor(ConductorContract):
    @pytest.fixture
    def port(self) -> ConductorPort:
        return FakeConductor()


class TestConductorService(ConductorContract):
    @pytest.fixture
    def port(self, data_dir: Path) -> Iterator[ConductorPort]:
        service = build(ServiceSettings("conductor", data_dir))
        yield service
        service.on_stop()


class TestConductorClient(ConductorContract):
    @pytest.fixture
    def port(self, data_dir: Path) -> Iterator[ConductorPort]:
        runtime = LocalRuntime(data_dir)
        runtime.start("conductor", "symphony_actors.conductor.service:build")
        yield ConductorClient(runtime)
        runtime.close()


def test_every_implementation_satisfies_the_protocol(data_dir: Path) -> None:
    """isinstance against the runtime-checkable Protocol holds for all three."""
    runtime = LocalRuntime(data_dir)
    runtime.start("conductor", "symphony_actors.conductor.service:build")
    try:
        for impl in (FakeConductor(), runtime.services["conductor"], ConductorClient(runtime)):
            assert isinstance(impl, ConductorPort)
    finally:
        runtime.close()
