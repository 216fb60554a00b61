"""Runs the ExtensionPort contract against the in-memory fake (the actor-backed adapter joins with the loader)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from symphony_actors.testing.fake_extension import FakeExtensionPort
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
