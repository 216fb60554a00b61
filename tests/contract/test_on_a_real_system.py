"""Every Pit port's contract suite once more, through the client, against its service hosted by a real
actor system: what crosses processes (arguments, results, errors) must behave exactly as in-process.

Each test gets a fresh, uniquely named service started inside one running system; tests that drive a
fake clock are skipped here (a service in another process keeps real time).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from symphony_actors.conductor.client import ConductorClient
from symphony_actors.pit.arbitration.client import ArbitrationClient
from symphony_actors.pit.artifacts.client import ArtifactClient
from symphony_actors.pit.pool.client import PoolClient
from symphony_actors.pit.stale.client import StaleClient
from tests.contract.arbitration_contract import ArbitrationContract
from tests.contract.artifacts_contract import ArtifactContract
from tests.contract.conductor_contract import ConductorContract
from tests.contract.pool_contract import PoolContract
from tests.contract.stale_contract import StaleContract
from tests.contract.test_arbitration import POLICY

pytestmark = pytest.mark.integration
_ids = itertools.count()


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from symphony_actors.testing.trees import flat_tree
    from tests.integration.conftest import running_system

    with running_system(flat_tree(max_restarts=100), tmp_path_factory.mktemp("contracts")) as (_, client):
        yield client


@pytest.fixture
def hosted(system: Any) -> Iterator[Callable[..., str]]:
    """Start a fresh service of a kind under the root supervisor; stopped after the test."""
    started: list[str] = []

    def start(kind: str, factory: str, **options: Any) -> str:
        name = f"{kind}-{next(_ids)}"
        system.start_service(name, factory, **options)
        started.append(name)
        return name

    yield start
    for name in started:
        system.stop_service(name)


@pytest.fixture
def clock() -> None:
    pytest.skip("drives a fake clock, which a service in another process does not share")


class TestPoolOnARealSystem(PoolContract):
    @pytest.fixture
    def port(self, system: Any, hosted: Callable[..., str]) -> Any:
        return PoolClient(system, hosted("pool", "symphony_actors.pit.pool.service:build", memory_budget_mb=1000))


class TestArbitrationOnARealSystem(ArbitrationContract):
    @pytest.fixture
    def port(self, system: Any, hosted: Callable[..., str]) -> Any:
        return ArbitrationClient(system, hosted("arbitration", "symphony_actors.pit.arbitration.service:build",
                                                policy=POLICY))


class TestStaleOnARealSystem(StaleContract):
    @pytest.fixture
    def port(self, system: Any, hosted: Callable[..., str]) -> Any:
        return StaleClient(system, hosted("stale", "symphony_actors.pit.stale.service:build"))


class TestConductorOnARealSystem(ConductorContract):
    @pytest.fixture
    def port(self, system: Any, hosted: Callable[..., str]) -> Any:
        return ConductorClient(system, hosted("conductor", "symphony_actors.conductor.service:build"))


class TestArtifactsOnARealSystem(ArtifactContract):
    @pytest.fixture
    def port(self, system: Any, hosted: Callable[..., str], tmp_path: Path) -> Any:
        return ArtifactClient(system, hosted("artifacts", "symphony_actors.pit.artifacts.service:build",
                                             data_dir=str(tmp_path / "store")))
