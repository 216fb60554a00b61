"""Addon hooks from real editor events.

The extension host subscribes to the editor bridge's buffer events
(``editor.buffer.opened|changed|saved|closed``) and calls the matching hook
(``on_buffer_opened``, ``on_buffer_changed``, ``on_buffer_saved``,
``on_buffer_closed``) on every active addon that implements it, with the
arguments its hookspec names (:mod:`symphony_actors.sdk.hookspecs`): the
buffer's full text, read from the editor when the event arrives, its version
(the editor's revision), its path and a language guessed from the path.

Typing makes many events: per buffer, one round of hooks runs at a time, and
the events that arrive meanwhile collapse into one round with the latest text
afterwards (a closed buffer's round is never dropped). Nobody waits for these
calls; an addon that fails is logged and published as ``ext.hook.failed``
(``{"extension", "hook", "buffer_id", "error"}``), and the next event calls it
again.
"""

from __future__ import annotations

import logging
from pathlib import PurePath
from typing import Any

from symphony_actors.extension_host.loader import Job, LoaderMixin

__all__ = ["EDITOR_HOOKS", "EditorHooksMixin", "language_of"]

log = logging.getLogger(__name__)

EDITOR_HOOKS = {"editor.buffer.opened": "on_buffer_opened", "editor.buffer.changed": "on_buffer_changed",
                "editor.buffer.saved": "on_buffer_saved", "editor.buffer.closed": "on_buffer_closed"}
FAILED_TOPIC = "ext.hook.failed"
_LANGUAGES = {".py": "python", ".pyi": "python", ".md": "markdown", ".txt": "text", ".rst": "rst",
              ".js": "javascript", ".ts": "typescript", ".json": "json", ".toml": "toml", ".yaml": "yaml",
              ".yml": "yaml", ".rs": "rust", ".go": "go", ".c": "c", ".h": "c", ".cpp": "cpp", ".java": "java",
              ".sh": "shell", ".html": "html", ".css": "css", ".sql": "sql"}


def language_of(path: str | None) -> str:
    """A language id from a file name (``"text"`` when there is none or it is not known)."""
    return _LANGUAGES.get(PurePath(path).suffix.lower(), "text") if path else "text"


class _Round:
    """The end of one buffer's round of hooks (a Deferred nobody waits on)."""

    def __init__(self, host: EditorHooksMixin, buffer_id: str, hook: str) -> None:
        self.host, self.buffer_id, self.hook = host, buffer_id, hook

    def resolve(self, value: Any) -> None:
        errors = value.get("errors") if isinstance(value, dict) else None
        for ext_id, error in (errors or {}).items():
            self.host._hook_failed(ext_id, self.hook, self.buffer_id, error)
        self.host._round_done(self.buffer_id)

    def fail(self, error: BaseException) -> None:
        wire = error.to_wire() if hasattr(error, "to_wire") else {"message": str(error)}
        self.host._hook_failed(None, self.hook, self.buffer_id, wire)
        self.host._round_done(self.buffer_id)


class EditorHooksMixin(LoaderMixin):
    """Mixed into the extension host after :meth:`LoaderMixin._loader_init`; call
    :meth:`_editor_hooks_start` from ``on_start`` and :meth:`on_editor_event` from ``on_event``."""

    _rounds: dict[str, tuple[str, dict[str, Any]] | None]

    def _editor_hooks_start(self) -> None:
        assert self._ctx is not None
        self._rounds = {}  # buffer id -> the event waiting for the running round (None: nothing waits)
        for topic in EDITOR_HOOKS:
            self._ctx.subscribe(topic)

    def on_editor_event(self, topic: str, payload: Any) -> bool:
        """Start (or queue) the hooks for an editor event; False if ``topic`` is not one."""
        hook = EDITOR_HOOKS.get(topic)
        if hook is None:
            return False
        if not isinstance(payload, dict) or not isinstance(payload.get("buffer_id"), str):
            return True
        buffer_id = payload["buffer_id"]
        if buffer_id in self._rounds:  # a round runs: this event replaces any that waited (latest text wins)
            waiting = self._rounds[buffer_id]
            if waiting is None or waiting[0] != "on_buffer_closed":
                self._rounds[buffer_id] = (hook, payload)
            return True
        if not self._active_addons():
            return True
        self._rounds[buffer_id] = None
        self._step(self._editor_round(hook, payload), _Round(self, buffer_id, hook), None, None)  # type: ignore[arg-type]
        return True

    def _round_done(self, buffer_id: str) -> None:
        waiting = self._rounds.pop(buffer_id, None)
        if waiting is not None:
            self.on_editor_event(next(t for t, h in EDITOR_HOOKS.items() if h == waiting[0]), waiting[1])

    def _editor_round(self, hook: str, payload: dict[str, Any]) -> Job:
        buffer_id = payload["buffer_id"]
        args: dict[str, Any] = {"buffer_id": buffer_id}
        if hook != "on_buffer_closed":
            info = yield "editor", "info", {"buffer_id": buffer_id}
            text = yield "editor", "content", {"buffer_id": buffer_id}
            path = info.get("path") if isinstance(info, dict) else getattr(info, "path", None)
            revision = info.get("revision") if isinstance(info, dict) else getattr(info, "revision", None)
            args.update(text=text, version=revision if revision is not None else payload.get("revision"),
                        path=path, language=language_of(path))
        return (yield from self._broadcast_steps(hook, args))

    def _hook_failed(self, ext_id: str | None, hook: str, buffer_id: str, error: Any) -> None:
        log.warning("%s of %s for buffer %s failed: %s", hook, ext_id or "the addons", buffer_id, error)
        if self._ctx is not None:
            self._ctx.publish(FAILED_TOPIC, {"extension": ext_id, "hook": hook, "buffer_id": buffer_id,
                                             "error": error})
