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


@pytest.fixture(scope="module")
def editor_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from symphony_actors.ports.service import ChildSpec
    from symphony_actors.testing.trees import flat_tree
    from tests.integration.conftest import running_system

    tree = flat_tree(ChildSpec("editor", "symphony_actors.editor.bridge:build"))
    with running_system(tree, tmp_path_factory.mktemp("editor-contract")) as (_, client):
        yield client


@pytest.mark.integration
class TestTextEditingOnARealSystem(TextEditingContract):
    """The client adapter against the bridge actor of a real system, its editor process behind it."""

    @pytest.fixture
    def port(self, editor_system: object) -> TextEditingPort:
        return TextEditingClient(editor_system)  # type: ignore[arg-type]

    def test_events_report_every_change(self, port: TextEditingPort, tmp_path: Path,
                                        editor_system: object) -> None:
        """Across processes events arrive through the bus, asynchronously: same events, same order."""
        from symphony_actors.domain.text import Position, Range
        from symphony_actors.testing.waiting import wait_for

        sub = editor_system.subscribe("editor.buffer.#")  # type: ignore[attr-defined]
        buf = port.create_buffer("ab").buffer_id
        port.replace(buf, Range(Position(0, 0), Position(0, 1)), "XY")
        port.undo(buf)
        port.save_as(buf, str(tmp_path / "e.txt"))
        port.close_buffer(buf)
        seen: list[dict[str, object]] = []

        def kinds() -> list[object]:
            seen.extend(e["payload"] for e in sub.get(timeout=0.2))
            return [e["kind"] for e in seen if e.get("buffer_id") == buf]

        assert wait_for(lambda: k if len(k := kinds()) >= 5 else None, what="five buffer events") == [
            "created", "edit", "undo", "saved", "closed"]
        sub.close()
