"""The ArtifactPort contract against the fake, the store in-process, and the client over LocalRuntime.

The service object itself is not an ArtifactPort on its own: it refuses single messages above 1 MiB
(the client streams them), so it is tested through the client and in ``tests/unit/artifacts``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from symphony_actors.pit.artifacts.client import ArtifactClient
from symphony_actors.pit.artifacts.store import ArtifactStore
from symphony_actors.ports.artifacts import ArtifactPort
from symphony_actors.testing.fake_artifacts import FakeArtifacts
from symphony_actors.testing.runtime import LocalRuntime
from tests.contract.artifacts_contract import ArtifactContract


class TestFakeArtifacts(ArtifactContract):
    @pytest.fixture
    def port(self) -> ArtifactPort:
        return FakeArtifacts()


class TestArtifactStore(ArtifactContract):
    @pytest.fixture
    def port(self, data_dir: Path) -> Iterator[ArtifactPort]:
        with ArtifactStore.open(data_dir) as store:
            yield store


class TestArtifactClient(ArtifactContract):
    @pytest.fixture
    def port(self, data_dir: Path) -> Iterator[ArtifactPort]:
        runtime = LocalRuntime(data_dir)
        runtime.start("artifacts", "symphony_actors.pit.artifacts.service:build")
        yield ArtifactClient(runtime)
        runtime.close()


def test_every_implementation_satisfies_the_protocol(data_dir: Path) -> None:
    """isinstance against the runtime-checkable Protocol holds for all four."""
    runtime = LocalRuntime(data_dir)
    runtime.start("artifacts", "symphony_actors.pit.artifacts.service:build")
    try:
        store = runtime.services["artifacts"]
        for impl in (FakeArtifacts(), store, ArtifactClient(runtime)):
            assert isinstance(impl, ArtifactPort)
    finally:
        runtime.close()
