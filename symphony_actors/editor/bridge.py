"""The editor bridge: the ``editor`` service that owns the ``symphony-editor`` process.

It implements :class:`~symphony_actors.ports.text_editing.TextEditingPort` by
JSON-RPC calls to the editor and keeps the editor alive:

* health pings on ``ctx.call_later`` ticks (every ``ping_interval`` seconds; an
  unanswered ping is a hang after ``hang_timeout``: detected within
  ``ping_interval + hang_timeout`` = 1 s by default);
* restart on exit, crash, broken pipe or hang (the old process is SIGKILLed by
  pid), at most ``max_restarts`` within ``within_seconds``, then
  :class:`ServiceCrashed` so the supervisor above takes over;
* resynchronisation: a :class:`~symphony_actors.editor.journal.BufferRecord` per
  buffer (file digest or initial text, changes since the last save, undo/redo
  mirror, views) restores every buffer in the new process with the same ids,
  text and revisions; a request cut short by the crash is retried (three tries at most; an edit
  whose ``update`` already arrived is not applied twice);
* buffer events on the bus: ``editor.buffer.changed`` / ``opened`` / ``saved`` /
  ``closed`` and ``editor.process.restarted``.

Waiting on the editor is bounded: a reader thread queues its output and every
wait and write has a deadline.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from symphony_actors.domain.errors import (
    DeadlineExceeded,
    NotFoundError,
    ProtocolError,
    RemoteError,
    ServiceCrashed,
    SymphonyError,
    UsageError,
    error_from_wire,
)
from symphony_actors.domain.ids import BufferId, ViewId
from symphony_actors.domain.text import Position, Range
from symphony_actors.editor.buffer import normalize
from symphony_actors.editor.journal import BufferRecord
from symphony_actors.editor.jsonrpc import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    encode,
    request,
)
from symphony_actors.editor.process import EOF, EditorDied, EditorHung, EditorProcess
from symphony_actors.ports.service import ActorContext, ServiceSettings
from symphony_actors.ports.text_editing import (
    TOPIC_RESTARTED,
    BufferEvent,
    BufferInfo,
    EditResult,
    Unsubscribe,
    ViewInfo,
    as_position,
    as_range,
    inserted_range,
)

__all__ = ["EditorBridge", "build"]

log = logging.getLogger(__name__)

_SLOW_METHODS = frozenset({"buffer.open", "buffer.save", "buffer.save_as", "buffer.reload", "buffer.restore",
                           "buffer.content", "buffer.new", "initialize"})
_EDITS = frozenset({"edit.insert", "edit.delete", "edit.replace", "edit.undo", "edit.redo"})
_PIPE_BYTES_PER_S = 20e6  # allowance for big payloads on top of a request's timeout
_ATTEMPTS = 3  # tries per request across editor crashes or hangs
# A hang in a file method comes from the file (a FIFO swapped in, a stalled mount): retrying repeats it, and
# the retries would block this service past its supervisor's hang timeout (10 s), whose restart of the
# bridge loses every buffer's journal. So those are tried once, and io_timeout stays below that timeout.
_FILE_METHODS = frozenset({"buffer.open", "buffer.save", "buffer.save_as", "buffer.reload"})
_COMPACT_CHANGES = 5_000  # journal length that triggers compaction (bounds restart time and memory)
_COMPACT_CHARS = 32 * 1024 * 1024


def build(settings: ServiceSettings) -> EditorBridge:
    """The factory the runtime calls (``symphony_actors.editor.bridge:build``)."""
    return EditorBridge(settings)


class EditorBridge:
    """TextEditingPort over a supervised editor process. Options (``settings.options``):
    ``command`` (argv list), ``env`` (extra environment), ``ping_interval`` (0.25 s), ``hang_timeout`` (0.75 s),
    ``request_timeout`` (1.0 s), ``io_timeout`` (6 s, file and bulk methods: below the supervisor's 10 s
    hang timeout, whose restart of this service would lose the buffers' journals),
    ``max_restarts`` (5) within ``within_seconds`` (10 s)."""

    EXPORTS: ClassVar[frozenset[str]] = frozenset({
        "create_buffer", "open_buffer", "close_buffer", "content", "info", "buffers", "save", "save_as",
        "reload", "insert", "delete", "replace", "undo", "redo", "create_view", "close_view", "cursor",
        "selection", "health_tick", "status"})

    def __init__(self, settings: ServiceSettings) -> None:
        opts: Mapping[str, Any] = settings.options
        self._settings = settings
        self._command: list[str] | None = list(opts["command"]) if opts.get("command") else None
        self._env: dict[str, str] = {str(k): str(v) for k, v in (opts.get("env") or {}).items()}
        self.ping_interval = float(opts.get("ping_interval", 0.25))
        self.hang_timeout = float(opts.get("hang_timeout", 0.75))
        self.request_timeout = float(opts.get("request_timeout", 1.0))
        self.io_timeout = float(opts.get("io_timeout", 6.0))
        self.max_restarts = int(opts.get("max_restarts", 5))
        self.within_seconds = float(opts.get("within_seconds", 10.0))
        self._ctx: ActorContext | None = None
        self._proc: EditorProcess | None = None
        self._records: dict[str, BufferRecord] = {}
        self._view_buffer: dict[str, str] = {}
        self._listeners: list[Callable[[BufferEvent], None]] = []
        self._ids = itertools.count(1)
        self._ping: tuple[str, float] | None = None
        self._effect: dict[str, Any] | None = None  # the update the request in flight produced
        self._restart_times: deque[float] = deque()
        self._stopped = False
        self.restarts = 0
        self.last_restart_ms: float | None = None

    # ================================================================ lifecycle
    def on_start(self, ctx: ActorContext) -> None:
        self._ctx = ctx
        self._proc = self._spawn()
        ctx.call_later(self.ping_interval, "health_tick")

    def on_stop(self) -> None:
        self._stopped = True
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.send(encode(request("bye", "shutdown")), time.monotonic() + 0.2)
            except (EditorDied, EditorHung):
                pass  # it is going away either way: stop() kills it by pid
            proc.stop(grace=1.0)

    @property
    def pid(self) -> int | None:
        """The editor's process id (``None`` before start or after stop)."""
        return None if self._proc is None else self._proc.pid

    def status(self) -> dict[str, Any]:
        return {"pid": self.pid, "restarts": self.restarts, "last_restart_ms": self.last_restart_ms,
                "buffers": len(self._records), "views": len(self._view_buffer)}

    def _log_path(self) -> Path:
        data_dir = self._ctx.data_dir if self._ctx is not None else self._settings.data_dir
        return Path(data_dir) / "editor" / "editor.log"

    def _spawn(self) -> EditorProcess:
        proc = EditorProcess(self._command, self._log_path(), self._env)
        try:
            deadline = time.monotonic() + max(self.io_timeout, 10.0)
            proc.send(encode(request("hello", "initialize", {"client": "symphony-bridge"})), deadline)
            while True:
                msg = proc.receive(deadline)
                if msg is EOF:
                    raise EditorDied(f"editor pid {proc.pid} exited during start-up (see {self._log_path()})")
                if isinstance(msg, dict) and msg.get("id") == "hello":
                    break
        except (EditorDied, EditorHung):
            proc.kill()
            raise
        self._ping = None
        return proc

    def _restart(self, reason: str, save_in_flight: str | None = None) -> None:
        """Kill the editor by pid, start a new one and restore every buffer; bounded by the restart intensity."""
        started = time.monotonic()
        while True:
            now = time.monotonic()
            self._restart_times.append(now)
            while self._restart_times and self._restart_times[0] < now - self.within_seconds:
                self._restart_times.popleft()
            old, self._proc = self._proc, None
            old_pid = None if old is None else old.pid
            if old is not None:
                old.kill()
            if len(self._restart_times) > self.max_restarts:
                raise ServiceCrashed(f"the editor failed {len(self._restart_times)} times within "
                                     f"{self.within_seconds:g} s (last: {reason}); giving up",
                                     reason=reason, restarts=self.restarts)
            log.warning("restarting editor (pid %s): %s", old_pid, reason)
            try:
                self._proc = self._spawn()
                failed = self._restore_all(save_in_flight)
                break
            except (EditorDied, EditorHung) as exc:
                reason = f"failed while restoring buffers: {exc}"
        self.restarts += 1
        self.last_restart_ms = (time.monotonic() - started) * 1000
        self._publish(TOPIC_RESTARTED, {"reason": reason, "old_pid": old_pid, "pid": self.pid,
                                        "buffers": len(self._records), "lost": failed,
                                        "ms": round(self.last_restart_ms, 3)})

    def _restore_all(self, save_in_flight: str | None) -> list[dict[str, Any]]:
        """Send every ``buffer.restore`` at once, then read the replies; returns the buffers that failed."""
        proc = self._proc
        assert proc is not None
        pending: dict[str, BufferRecord] = {}
        deadline = time.monotonic() + self.io_timeout
        for rec in self._records.values():
            req_id = f"restore-{next(self._ids)}"
            pending[req_id] = rec
            params = rec.restore_params(save_in_flight=rec.buffer_id == save_in_flight)
            proc.send(encode(request(req_id, "buffer.restore", params)), deadline)
        failed: list[dict[str, Any]] = []
        while pending:
            msg = proc.receive(deadline)
            if msg is EOF:
                raise EditorDied(f"editor pid {proc.pid} exited while restoring buffers")
            rec_or_none = pending.pop(str(msg.get("id")), None) if isinstance(msg, dict) else None
            if rec_or_none is None:
                continue
            rec = rec_or_none
            if "error" in msg:
                # The buffer cannot be rebuilt (its file changed on disk behind a journal): say so, drop it.
                failed.append({"buffer_id": rec.buffer_id, "error": msg["error"]})
                self._forget(rec.buffer_id)
                continue
            info = msg["result"]
            if rec.buffer_id == save_in_flight and info["saved_revision"] == info["revision"]:
                rec.rebase_on_file(info)
        for item in failed:
            self._publish("editor.buffer.lost", item)
        return failed

    def health_tick(self) -> None:
        """Timer: check the last ping was answered, send the next one; restart on exit or hang."""
        if self._stopped:
            return
        try:
            self._check_health()
        except SymphonyError as exc:  # restart intensity exhausted: report, keep ticking for the supervisor
            log.error("editor health check: %s", exc)
            self._publish("editor.process.failed", exc.to_wire())
        finally:
            if self._ctx is not None and not self._stopped:
                self._ctx.call_later(self.ping_interval, "health_tick")

    def _check_health(self) -> None:
        proc = self._proc
        if proc is None:
            self._restart("not running")
            return
        try:
            while self._ping is not None:  # wait for the outstanding pong, at most until its deadline
                self._dispatch(proc.receive(self._ping[1]), proc)
            if not proc.alive:
                raise EditorDied(f"editor pid {proc.pid} exited")
            while (msg := proc.poll()) is not None:
                self._dispatch(msg, proc)
            ping_id = f"ping-{next(self._ids)}"
            deadline = time.monotonic() + self.hang_timeout
            proc.send(encode(request(ping_id, "ping")), deadline)
            self._ping = (ping_id, deadline)
        except EditorHung:
            self._restart(f"editor pid {proc.pid} did not answer a ping within {self.hang_timeout:g} s")
        except EditorDied as exc:
            self._restart(str(exc))

    def _dispatch(self, msg: Any, proc: EditorProcess) -> Any:
        """Handle one message that is not the awaited reply: notifications, pongs, stray replies."""
        if msg is EOF:
            raise EditorDied(f"editor pid {proc.pid} closed its output (exited or was killed)")
        if not isinstance(msg, dict):
            return None
        if "method" in msg and "id" not in msg:
            if msg["method"] == "update":
                self._on_update(msg.get("params") or {})
            return None
        if self._ping is not None and msg.get("id") == self._ping[0]:
            self._ping = None
        return None

    # ================================================================ requests
    def _call(self, method: str, params: dict[str, Any] | None = None, *, buffer_id: str | None = None) -> Any:
        """One request, answered or failed with a typed error. If the editor dies or hangs meanwhile it is
        restarted (buffers restored) and the request retried; an edit it already applied is not redone. A
        request that fails ``_ATTEMPTS`` times in a row is refused (a poison request must not loop)."""
        for attempt in range(_ATTEMPTS):
            try:
                if self._proc is None or not self._proc.alive:
                    raise EditorDied("editor not running" if self._proc is None else "editor exited")
                while (pending := self._proc.poll()) is not None:  # earlier news first: updates, pongs, EOF
                    self._dispatch(pending, self._proc)
            except EditorDied as exc:
                self._restart(str(exc))
            proc = self._proc
            assert proc is not None
            req_id = next(self._ids)
            data = encode(request(req_id, method, params))
            timeout = self.io_timeout if method in _SLOW_METHODS else self.request_timeout
            deadline = time.monotonic() + timeout + len(data) / _PIPE_BYTES_PER_S
            self._effect = None
            try:
                proc.send(data, deadline)
                while True:
                    msg = proc.receive(deadline)
                    if isinstance(msg, dict) and msg.get("id") == req_id:
                        break
                    self._dispatch(msg, proc)
            except (EditorDied, EditorHung) as exc:
                effect, hung = self._effect, isinstance(exc, EditorHung)
                self._restart(str(exc), save_in_flight=buffer_id if method.startswith("buffer.save") else None)
                if effect is not None and method in _EDITS:
                    start = Position.from_wire(effect["range"]["start"])
                    return {"revision": effect["revision"], "range": inserted_range(start, effect["text"]).to_wire()}
                if effect is not None and method == "buffer.reload":
                    return self._call("buffer.info", {"buffer_id": buffer_id})
                if attempt == _ATTEMPTS - 1 or (hung and method in _FILE_METHODS):
                    if hung:
                        raise DeadlineExceeded(f"editor did not answer {method} ({attempt + 1} "
                                               f"{'try' if attempt == 0 else 'tries'}); it was restarted each time",
                                               method=method) from exc
                    raise ServiceCrashed(f"editor crashed on {method} {_ATTEMPTS} times; it was restarted each time",
                                         method=method) from exc
                continue
            finally:
                self._effect = None
            if "error" in msg:
                raise _error(msg["error"], method)
            return msg.get("result")
        raise AssertionError("unreachable")

    def _on_update(self, params: dict[str, Any]) -> None:
        self._effect = params
        rec = self._records.get(params.get("buffer_id", ""))
        if rec is not None:
            rec.apply_update(params)
        rng = params["range"]
        self._emit(BufferEvent(params["buffer_id"], params["kind"], params["revision"], Range.from_wire(rng),
                               params["text"]))

    def _emit(self, event: BufferEvent) -> None:
        self._publish(event.topic, event.to_wire())
        for callback in list(self._listeners):
            try:
                callback(event)
            except Exception:  # a subscriber's bug must not break editing: log it (with traceback), go on
                log.exception("editor event subscriber %r failed on %s", callback, event.kind)

    def _publish(self, topic: str, payload: Any) -> None:
        if self._ctx is not None:
            self._ctx.publish(topic, payload)

    def _record(self, buffer_id: str) -> BufferRecord:
        rec = self._records.get(buffer_id)
        if rec is None:
            raise NotFoundError(f"no buffer {buffer_id!r}", buffer_id=buffer_id)
        return rec

    def _forget(self, buffer_id: str) -> None:
        self._records.pop(buffer_id, None)
        for view_id in [v for v, b in self._view_buffer.items() if b == buffer_id]:
            del self._view_buffer[view_id]

    def _maybe_compact(self, rec: BufferRecord) -> None:
        if len(rec.journal) < _COMPACT_CHANGES and rec.journal_chars < _COMPACT_CHARS:
            return
        if rec.base_text is None and rec.journal_chars < _COMPACT_CHARS and rec.path is not None \
                and len(rec.journal) < 4 * _COMPACT_CHANGES:
            return  # a file-backed buffer replays cheaply; compact only when the journal gets long
        result = self._call("buffer.content", {"buffer_id": rec.buffer_id})
        rec.rebase_on_text(result["text"], result["revision"])

    # ================================================================ TextEditingPort: buffers
    def create_buffer(self, text: str = "", eol: str = "\n") -> BufferInfo:
        info = self._call("buffer.new", {"text": text, "eol": eol})
        self._records[info["buffer_id"]] = BufferRecord.from_info(info, base_text=normalize(text))
        self._emit(BufferEvent(info["buffer_id"], "created", info["revision"]))
        return BufferInfo.from_wire(info)

    def open_buffer(self, path: str) -> BufferInfo:
        if not isinstance(path, str):
            raise UsageError(f"'path' must be a string, not {type(path).__name__}")
        info = self._call("buffer.open", {"path": path})
        if info["buffer_id"] not in self._records:
            self._records[info["buffer_id"]] = BufferRecord.from_info(info)
            self._emit(BufferEvent(info["buffer_id"], "opened", info["revision"]))
        return BufferInfo.from_wire(info)

    def close_buffer(self, buffer_id: BufferId) -> None:
        self._call("buffer.close", {"buffer_id": buffer_id})
        rec = self._records.get(buffer_id)
        self._forget(buffer_id)
        self._emit(BufferEvent(buffer_id, "closed", rec.revision if rec else 0))

    def content(self, buffer_id: BufferId, range: Range | None = None) -> str:
        params: dict[str, Any] = {"buffer_id": buffer_id}
        if range is not None:
            params["range"] = as_range(range).to_wire()
        return str(self._call("buffer.content", params)["text"])

    def info(self, buffer_id: BufferId) -> BufferInfo:
        return BufferInfo.from_wire(self._call("buffer.info", {"buffer_id": buffer_id}))

    def buffers(self) -> list[BufferInfo]:
        return [BufferInfo.from_wire(i) for i in self._call("buffer.list")]

    def _saved(self, info: dict[str, Any]) -> BufferInfo:
        rec = self._records.get(info["buffer_id"])
        if rec is not None:
            rec.rebase_on_file(info)
        self._emit(BufferEvent(info["buffer_id"], "saved", info["revision"]))
        return BufferInfo.from_wire(info)

    def save(self, buffer_id: BufferId) -> BufferInfo:
        return self._saved(self._call("buffer.save", {"buffer_id": buffer_id}, buffer_id=buffer_id))

    def save_as(self, buffer_id: BufferId, path: str) -> BufferInfo:
        return self._saved(self._call("buffer.save_as", {"buffer_id": buffer_id, "path": path},
                                      buffer_id=buffer_id))

    def reload(self, buffer_id: BufferId) -> BufferInfo:
        info = self._call("buffer.reload", {"buffer_id": buffer_id}, buffer_id=buffer_id)
        rec = self._records.get(buffer_id)
        if rec is not None:
            rec.rebase_on_file(info)
        return BufferInfo.from_wire(info)

    # ================================================================ edits
    def _edited(self, buffer_id: BufferId, result: dict[str, Any] | None) -> EditResult | None:
        rec = self._records.get(buffer_id)
        if rec is not None:
            self._maybe_compact(rec)
        if result is None:
            return None
        return EditResult(buffer_id, result["revision"], Range.from_wire(result["range"]))

    def insert(self, buffer_id: BufferId, position: Position, text: str) -> EditResult:
        result = self._call("edit.insert", {"buffer_id": buffer_id, "position": as_position(position).to_wire(),
                                            "text": text})
        edited = self._edited(buffer_id, result)
        assert edited is not None
        return edited

    def delete(self, buffer_id: BufferId, range: Range) -> EditResult:
        result = self._call("edit.delete", {"buffer_id": buffer_id, "range": as_range(range).to_wire()})
        edited = self._edited(buffer_id, result)
        assert edited is not None
        return edited

    def replace(self, buffer_id: BufferId, range: Range, text: str) -> EditResult:
        result = self._call("edit.replace", {"buffer_id": buffer_id, "range": as_range(range).to_wire(),
                                             "text": text})
        edited = self._edited(buffer_id, result)
        assert edited is not None
        return edited

    def undo(self, buffer_id: BufferId) -> EditResult | None:
        return self._edited(buffer_id, self._call("edit.undo", {"buffer_id": buffer_id}))

    def redo(self, buffer_id: BufferId) -> EditResult | None:
        return self._edited(buffer_id, self._call("edit.redo", {"buffer_id": buffer_id}))

    # ================================================================ views
    def _viewed(self, info: dict[str, Any]) -> ViewInfo:
        rec = self._records.get(info["buffer_id"])
        if rec is not None:
            rec.views[info["view_id"]] = info
        self._view_buffer[info["view_id"]] = info["buffer_id"]
        return ViewInfo.from_wire(info)

    def create_view(self, buffer_id: BufferId) -> ViewInfo:
        return self._viewed(self._call("view.new", {"buffer_id": buffer_id}))

    def close_view(self, view_id: ViewId) -> None:
        self._call("view.close", {"view_id": view_id})
        buffer_id = self._view_buffer.pop(view_id, None)
        rec = self._records.get(buffer_id or "")
        if rec is not None:
            rec.views.pop(view_id, None)

    def cursor(self, view_id: ViewId, position: Position | None = None) -> Position:
        params: dict[str, Any] = {"view_id": view_id}
        if position is not None:
            params["position"] = as_position(position).to_wire()
        return self._viewed(self._call("view.cursor", params)).cursor

    def selection(self, view_id: ViewId, range: Range | None = None) -> Range:
        params: dict[str, Any] = {"view_id": view_id}
        if range is not None:
            params["range"] = as_range(range).to_wire()
        return self._viewed(self._call("view.selection", params)).selection

    # ================================================================ events (in-process only)
    def subscribe(self, callback: Callable[[BufferEvent], None]) -> Unsubscribe:
        """In-process listeners; remote subscribers use the bus topics ``editor.buffer.*``."""
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe


def _error(error: Any, method: str) -> SymphonyError:
    """The project error a JSON-RPC error stands for (the editor sends it in ``data``)."""
    if not isinstance(error, dict):
        return RemoteError(f"editor sent a malformed error for {method}: {error!r}", method=method)
    data, code, message = error.get("data"), error.get("code"), str(error.get("message", ""))
    if isinstance(data, dict) and "code" in data and "message" in data:
        return error_from_wire(data)
    if code == INVALID_PARAMS:
        return UsageError(message, method=method)
    if code == METHOD_NOT_FOUND:
        return NotFoundError(message, method=method)
    if code in (PARSE_ERROR, INVALID_REQUEST):
        return ProtocolError(message, method=method)
    return RemoteError(message, method=method, rpc_code=code)
