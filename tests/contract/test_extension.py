"""Runs the ExtensionPort contract against the in-memory fake and the extension host on a real actor system."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from symphony_actors.ports.extension import ExtensionPort
from symphony_actors.testing.fake_extension import FakeExtensionPort
from symphony_actors.testing.waiting import wait_for
from tests.contract.extension_contract import ExtensionPortContract


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "workspace"
    ws.mkdir()
    return ws


class TestFakeExtensionPort(ExtensionPortContract):
    @pytest.fixture
    def port(self, workspace: Path) -> Iterator[FakeExtensionPort]:
        port = FakeExtensionPort(workspace=workspace)
        yield port
        port.close()


@pytest.fixture(scope="module")
def ext_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, Path]]:
    import psutil

    from symphony_actors.client import Client
    from symphony_actors.runtime.system import boot, session_pids
    from symphony_actors.testing.trees import extensions_tree
    from tests.integration.conftest import free_port

    root = tmp_path_factory.mktemp("ext-contract")
    ws = root / "workspace"
    ws.mkdir()
    s = boot(extensions_tree({"workspace": str(ws), "executors": 1}), free_port(), root / "data")
    client = Client(s.port, timeout=60)
    workers: set[int] = set()
    try:
        yield client, ws
        workers.update(_worker_pids(client))
    finally:  # the system is stopped whatever happened above
        client.close()
        s.stop()
    assert session_pids(s.session_id) == []
    assert [p for p in workers if psutil.pid_exists(p)] == []


def _worker_pids(client: object) -> set[int]:
    from symphony_actors.extension_host.service import ExtensionPortClient

    return {int(e["pid"]) for e in ExtensionPortClient(client).loaded_extensions()  # type: ignore[arg-type]
            if e.get("pid")}


@pytest.mark.integration
class TestExtensionPortOnARealSystem(ExtensionPortContract):
    """The extension host and one sandboxed actor per loaded extension, on a real actor system."""

    @pytest.fixture
    def workspace(self, ext_system: tuple[object, Path]) -> Path:
        return ext_system[1]

    @pytest.fixture
    def port(self, ext_system: tuple[object, Path]) -> Iterator[ExtensionPort]:
        import psutil

        from symphony_actors.extension_host.service import ExtensionPortClient

        port = ExtensionPortClient(ext_system[0])  # type: ignore[arg-type]
        yield port
        workers = _worker_pids(ext_system[0])
        # Reset for the next test: unload dependents first, then remove everything.
        loaded = [e["id"] for e in port.list() if e["state"] != "installed"]
        while loaded:
            for ext_id in list(loaded):
                if not set(port.info(ext_id)["dependents"]) & set(loaded):
                    port.unload(ext_id)
                    loaded.remove(ext_id)
        for e in port.list():
            port.remove(e["id"], force=True)
        wait_for(lambda: not any(psutil.pid_exists(p) for p in workers), timeout=10,
                 what="the unloaded extensions' workers to exit")
