"""TextEditingClient: the TextEditingPort through a :class:`~symphony_actors.ports.service.Caller`.

Each method is ``caller.call("editor", method, **kwargs)`` on the bridge
service. Events come from the bus: pass ``events`` (anything with
``subscribe(pattern, callback)``, such as ``LocalRuntime``); by default the
caller itself is used when it can subscribe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from symphony_actors.domain.errors import UsageError
from symphony_actors.domain.ids import BufferId, ViewId
from symphony_actors.domain.text import Position, Range
from symphony_actors.ports.service import Caller
from symphony_actors.ports.text_editing import (
    BUFFER_TOPICS,
    BufferEvent,
    BufferInfo,
    EditResult,
    Unsubscribe,
    ViewInfo,
)

__all__ = ["EventSource", "TextEditingClient"]


@runtime_checkable
class EventSource(Protocol):
    def subscribe(self, pattern: str, callback: Callable[[Any], None]) -> Any: ...


def _info(value: Any) -> BufferInfo:
    return value if isinstance(value, BufferInfo) else BufferInfo.from_wire(value)


def _edit(value: Any) -> EditResult | None:
    if value is None or isinstance(value, EditResult):
        return value
    return EditResult(BufferId(value["buffer_id"]), value["revision"], Range.from_wire(value["range"]))


def _view(value: Any) -> ViewInfo:
    return value if isinstance(value, ViewInfo) else ViewInfo.from_wire(value)


class TextEditingClient:
    """Implements :class:`~symphony_actors.ports.text_editing.TextEditingPort` by calls to the bridge."""

    def __init__(self, caller: Caller, service: str = "editor", events: EventSource | None = None) -> None:
        self._caller, self._service = caller, service
        self._events = events if events is not None else (caller if isinstance(caller, EventSource) else None)

    def _call(self, method: str, **kwargs: Any) -> Any:
        return self._caller.call(self._service, method, **kwargs)

    # ---------------------------------------------------------------- buffers
    def create_buffer(self, text: str = "", eol: str = "\n") -> BufferInfo:
        return _info(self._call("create_buffer", text=text, eol=eol))

    def open_buffer(self, path: str) -> BufferInfo:
        return _info(self._call("open_buffer", path=path))

    def close_buffer(self, buffer_id: BufferId) -> None:
        self._call("close_buffer", buffer_id=buffer_id)

    def content(self, buffer_id: BufferId, range: Range | None = None) -> str:
        return str(self._call("content", buffer_id=buffer_id, range=range))

    def info(self, buffer_id: BufferId) -> BufferInfo:
        return _info(self._call("info", buffer_id=buffer_id))

    def buffers(self) -> list[BufferInfo]:
        return [_info(i) for i in self._call("buffers")]

    def save(self, buffer_id: BufferId) -> BufferInfo:
        return _info(self._call("save", buffer_id=buffer_id))

    def save_as(self, buffer_id: BufferId, path: str) -> BufferInfo:
        return _info(self._call("save_as", buffer_id=buffer_id, path=path))

    def reload(self, buffer_id: BufferId) -> BufferInfo:
        return _info(self._call("reload", buffer_id=buffer_id))

    # ---------------------------------------------------------------- edits
    def insert(self, buffer_id: BufferId, position: Position, text: str) -> EditResult:
        result = _edit(self._call("insert", buffer_id=buffer_id, position=position, text=text))
        assert result is not None
        return result

    def delete(self, buffer_id: BufferId, range: Range) -> EditResult:
        result = _edit(self._call("delete", buffer_id=buffer_id, range=range))
        assert result is not None
        return result

    def replace(self, buffer_id: BufferId, range: Range, text: str) -> EditResult:
        result = _edit(self._call("replace", buffer_id=buffer_id, range=range, text=text))
        assert result is not None
        return result

    def undo(self, buffer_id: BufferId) -> EditResult | None:
        return _edit(self._call("undo", buffer_id=buffer_id))

    def redo(self, buffer_id: BufferId) -> EditResult | None:
        return _edit(self._call("redo", buffer_id=buffer_id))

    # ---------------------------------------------------------------- views
    def create_view(self, buffer_id: BufferId) -> ViewInfo:
        return _view(self._call("create_view", buffer_id=buffer_id))

    def close_view(self, view_id: ViewId) -> None:
        self._call("close_view", view_id=view_id)

    def cursor(self, view_id: ViewId, position: Position | None = None) -> Position:
        value = self._call("cursor", view_id=view_id, position=position)
        return value if isinstance(value, Position) else Position.from_wire(value)

    def selection(self, view_id: ViewId, range: Range | None = None) -> Range:
        value = self._call("selection", view_id=view_id, range=range)
        return value if isinstance(value, Range) else Range.from_wire(value)

    # ---------------------------------------------------------------- events
    def subscribe(self, callback: Callable[[BufferEvent], None]) -> Unsubscribe:
        """Bus events ``editor.buffer.*`` turned into :class:`BufferEvent`; the result stops delivery."""
        if self._events is None:
            raise UsageError("this client has no event source: pass events= (something with subscribe())")
        active = [True]

        def deliver(published: Any) -> None:
            payload = getattr(published, "payload", published)
            if active[0] and isinstance(payload, Mapping):
                callback(BufferEvent.from_wire(payload))

        self._events.subscribe(BUFFER_TOPICS, deliver)

        def unsubscribe() -> None:
            active[0] = False

        return unsubscribe
