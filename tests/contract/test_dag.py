"""The DagPort contract against the in-memory fake, the client in-process, and the client on a real system."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from symphony_actors.pit.dag.client import DagClient
from symphony_actors.ports.dag import DagPort
from symphony_actors.testing.fake_dag import FakeDag
from tests.contract.dag_contract import DagContract


class TestFakeDag(DagContract):
    @pytest.fixture
    def port(self) -> Iterator[DagPort]:
        fake = FakeDag()
        yield fake
        fake.close()


class TestDagClientInProcess(DagContract):
    @pytest.fixture
    def port(self, tmp_path: Path) -> Iterator[DagPort]:
        fake = FakeDag(data_dir=tmp_path, db=None)  # the service with its real SQLite file on disk
        assert (tmp_path / "dag" / "runs.sqlite").exists()
        yield fake
        fake.close()


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from symphony_actors.testing.trees import dag_tree
    from tests.integration.conftest import running_system

    with running_system(dag_tree(), tmp_path_factory.mktemp("dag-contract")) as (_, client):
        yield client


@pytest.mark.integration
class TestDagClientOnARealSystem(DagContract):
    @pytest.fixture
    def port(self, system: object) -> DagPort:
        return DagClient(system)  # type: ignore[arg-type]
