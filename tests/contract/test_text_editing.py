"""The TextEditingPort contract against the fake, the bridge in-process and the client over LocalRuntime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from symphony_actors.editor.client import TextEditingClient
from symphony_actors.ports.text_editing import TextEditingPort
from symphony_actors.testing.fake_text_editing import FakeTextEditing
from tests.contract.text_editing_contract import TextEditingContract
from tests.editor_support import hosted_bridge


class TestFakeTextEditing(TextEditingContract):
    @pytest.fixture
    def port(self) -> TextEditingPort:
        return FakeTextEditing()


class TestEditorBridge(TextEditingContract):
    """The bridge service object, its real editor subprocess behind it."""

    @pytest.fixture
    def port(self, data_dir: Path) -> Iterator[TextEditingPort]:
        with hosted_bridge(data_dir) as (_, bridge):
            yield bridge


class TestTextEditingClient(TextEditingContract):
    """The client adapter calling the bridge hosted in LocalRuntime (events from the runtime's bus)."""

    @pytest.fixture
    def port(self, data_dir: Path) -> Iterator[TextEditingPort]:
        with hosted_bridge(data_dir) as (runtime, _):
            yield TextEditingClient(runtime)
