"""Addon hooks fire from real editor events: the editor process, the bridge, the bus, the extension host
and a sandboxed addon (the example ``todo-finder``), on the production tree."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from symphony_actors.bootstrap import default_tree
from symphony_actors.domain.text import Position
from symphony_actors.editor.client import TextEditingClient
from symphony_actors.extension_host.service import ExtensionPortClient
from symphony_actors.testing.waiting import wait_for

from .conftest import running_system

pytestmark = pytest.mark.integration

TODO = "symphony.todo-finder"
EXAMPLES = Path(__file__).resolve().parents[2] / "extensions"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Any]]:
    root = tmp_path_factory.mktemp("hooks")
    with running_system(default_tree({"dag": {"executors": 1}}), root / "data") as (_system, client):
        port = ExtensionPortClient(client)
        port.install(str(EXAMPLES / "todo-finder"))
        port.activate(TODO)
        yield client, TextEditingClient(client), port


def found(port: Any, buffer_id: str) -> list[dict[str, Any]]:
    listed = port.send(TODO, "command", {"command": "todo.list", "args": {"buffer_id": buffer_id}})
    return list(listed.get(buffer_id) or [])


def test_typing_a_todo_in_the_editor_reaches_the_addon_and_the_bus(env: tuple[Any, Any, Any]) -> None:
    client, editor, port = env
    events = client.subscribe("ext.todo-finder.#")
    try:
        buf = editor.create_buffer("x = 1\n")
        assert found(port, buf.buffer_id) == []  # opened: scanned, nothing to find
        editor.insert(buf.buffer_id, Position(1, 0), "# TODO: tidy up\n")
        items = wait_for(lambda: found(port, buf.buffer_id), timeout=20, what="the addon to see the TODO")
        assert [i["text"] for i in items] == ["tidy up"], items
        got = wait_for(lambda: [e for e in events.get(timeout=0.5) if e["payload"].get("count")], timeout=20,
                       what="ext.todo-finder.found on the bus")
        assert got[0]["payload"]["buffer_id"] == buf.buffer_id
    finally:
        events.close()


def test_a_burst_of_edits_ends_with_the_latest_text(env: tuple[Any, Any, Any]) -> None:
    _client, editor, port = env
    buf = editor.create_buffer("")
    for i in range(30):  # faster than a round of hooks: rounds collapse, the last one sees all 30 lines
        editor.insert(buf.buffer_id, Position(i, 0), f"# FIXME {i}\n")
    wait_for(lambda: len(found(port, buf.buffer_id)) == 30, timeout=30, what="all 30 notes")
    editor.close_buffer(buf.buffer_id)
    wait_for(lambda: found(port, buf.buffer_id) == [], timeout=20, what="on_buffer_closed to forget the buffer")
