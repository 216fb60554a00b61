"""TODO finder: notes in comments, per buffer, updated on every change and published on the bus."""

from __future__ import annotations

import re
from typing import Any

from symphony_actors.sdk import Addon, UsageError, command

TOPIC = "ext.todo-finder.found"
# A comment opener, then the tag as a whole word, an optional (owner), an optional colon, then the note.
_COMMENT = r"(?:#|//|/\*|<!--|--|;|^\s*\*)"


def compile_tags(tags: list[str]) -> re.Pattern[str]:
    names = "|".join(re.escape(t) for t in sorted(tags, key=len, reverse=True))
    return re.compile(rf"{_COMMENT}[^\n]*?\b(?P<tag>{names})\b(?:\((?P<owner>[^)\n]*)\))?:?[ \t]*(?P<note>[^\n]*)")


def scan(text: str, pattern: re.Pattern[str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        m = pattern.search(line)
        if m is None:
            continue
        note = re.sub(r"\s*(\*/|-->)\s*$", "", m.group("note")).strip()
        items.append({"line": number, "column": m.start("tag") + 1, "tag": m.group("tag"),
                      "owner": (m.group("owner") or "").strip() or None, "text": note})
    return items


class TodoFinder(Addon):
    def on_activate(self) -> None:
        self.pattern = compile_tags(list(self.ctx.config.get("tags", ["TODO", "FIXME"])))
        self.by_buffer: dict[str, dict[str, Any]] = {}

    def on_deactivate(self) -> None:
        self.by_buffer = {}

    def on_buffer_opened(self, buffer_id: str, text: str, path: str | None = None) -> list[dict[str, Any]]:
        return self.on_buffer_changed(buffer_id, text, path)

    def on_buffer_changed(self, buffer_id: str, text: str, path: str | None = None) -> list[dict[str, Any]]:
        items = scan(text, self.pattern)
        previous = self.by_buffer.get(buffer_id, {}).get("items")
        self.by_buffer[buffer_id] = {"path": path, "items": items}
        if self.ctx.config.get("publish", True) and items != previous:
            self.ctx.publish(TOPIC, {"buffer_id": buffer_id, "path": path, "count": len(items), "items": items})
        return items

    def on_buffer_closed(self, buffer_id: str) -> None:
        self.by_buffer.pop(buffer_id, None)

    @command("todo.list")
    def list_notes(self, args: dict[str, Any]) -> dict[str, Any]:
        buffer_id = args.get("buffer_id")
        if buffer_id is not None:
            entry = self.by_buffer.get(str(buffer_id))
            return {str(buffer_id): entry["items"] if entry else []}
        return {b: e["items"] for b, e in sorted(self.by_buffer.items())}

    @command("todo.scan")
    def scan_text(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        text = args.get("text")
        if not isinstance(text, str):
            raise UsageError("todo.scan needs args {'text': str}")
        return scan(text, self.pattern)
