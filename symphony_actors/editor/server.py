"""``symphony-editor``: the editor process, JSON-RPC 2.0 over stdin/stdout, one JSON value per line.

It reads requests one line at a time, answers each (notifications first: an
``update`` for every change to a buffer, then the response) and keeps serving
whatever arrives: bad JSON, bad requests, unknown methods and bad parameters
each get their JSON-RPC error. The protocol is described in
``docs/editor-protocol.md``. It exits on end of input or after ``shutdown``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from typing import IO, Any

import orjson

from symphony_actors.domain.errors import SymphonyError
from symphony_actors.editor.core import EditorCore
from symphony_actors.editor.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    RpcError,
    code_for,
    encode,
    error_response,
    notification,
    result_response,
)

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "Server", "main"]

DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024


class Server:
    """Turns input lines into output bytes; no I/O of its own, so tests can drive it directly."""

    def __init__(self, log: IO[str] | None = None) -> None:
        self._out: list[bytes] = []
        self.core = EditorCore(self._notify)
        self._log = log or sys.stderr

    def _notify(self, method: str, params: dict[str, Any]) -> None:
        self._out.append(encode(notification(method, params)))

    def handle_line(self, line: bytes) -> bytes:
        """Everything to write back for one input line (possibly nothing)."""
        self._out = []
        if not line.strip():
            return b""
        try:
            msg = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            self._out.append(encode(error_response(None, PARSE_ERROR, f"parse error: {exc}")))
            return b"".join(self._out)
        if isinstance(msg, list):
            if not msg:
                self._out.append(encode(error_response(None, INVALID_REQUEST, "empty batch")))
            else:
                replies = [r for r in (self._handle(m) for m in msg) if r is not None]
                if replies:
                    self._out.append(encode(replies))
        else:
            reply = self._handle(msg)
            if reply is not None:
                self._out.append(encode(reply))
        return b"".join(self._out)

    def _handle(self, msg: Any) -> dict[str, Any] | None:
        if not isinstance(msg, dict):
            return error_response(None, INVALID_REQUEST, "a request must be a JSON object")
        has_id = "id" in msg
        req_id = msg.get("id")
        if has_id and not (req_id is None or isinstance(req_id, str) or type(req_id) is int):
            return error_response(None, INVALID_REQUEST, "'id' must be a string, an integer or null")
        if msg.get("jsonrpc") != "2.0":
            return error_response(req_id, INVALID_REQUEST, "'jsonrpc' must be \"2.0\"")
        method = msg.get("method")
        if not isinstance(method, str):
            return error_response(req_id, INVALID_REQUEST, "'method' must be a string")
        params = msg.get("params", {})
        if not isinstance(params, dict | list):
            return error_response(req_id, INVALID_REQUEST, "'params' must be an object or an array")
        try:
            if isinstance(params, list):
                if params:
                    raise RpcError(INVALID_PARAMS, "params must be given by name (an object)")
                params = {}
            result = self.core.call(method, params)
        except RpcError as exc:
            reply = error_response(req_id, exc.code, exc.message, exc.data)
        except SymphonyError as exc:
            reply = error_response(req_id, code_for(exc), exc.message, exc.to_wire())
        except Exception as exc:  # noqa: BLE001  (a bug must not stop the editor: report it, keep serving)
            traceback.print_exc(file=self._log)
            reply = error_response(req_id, INTERNAL_ERROR, f"internal error: {type(exc).__name__}: {exc}")
        else:
            reply = result_response(req_id, result)
        return reply if has_id else None


def _skip_rest_of_line(stream: IO[bytes], limit: int) -> None:
    while True:
        chunk = stream.readline(limit)
        if not chunk or chunk.endswith(b"\n"):
            return


def serve(stdin: IO[bytes], stdout: IO[bytes], max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> int:
    server = Server()
    while not server.core.exit_requested:
        line = stdin.readline(max_message_bytes + 1)
        if not line:
            break
        if len(line) > max_message_bytes and not line.endswith(b"\n"):
            _skip_rest_of_line(stdin, 1 << 20)
            out = encode(error_response(None, INVALID_REQUEST, f"message longer than {max_message_bytes} bytes"))
        else:
            out = server.handle_line(line)
        if out:
            try:
                stdout.write(out)
                stdout.flush()
            except BrokenPipeError:
                return 0
    return 0


def _exit_with_parent(parent: int, interval: float = 0.5) -> None:
    """Exit once the process that started us (the bridge) is gone, so no editor outlives it.

    A watcher thread checks the parent pid twice a second. (``PR_SET_PDEATHSIG`` would be immediate but
    fires when the *thread* that forked us ends, which a runtime's worker threads may well do.)
    """
    if os.getppid() != parent:
        sys.exit(0)

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="symphony-editor",
                                     description="Symphony's editor process: JSON-RPC 2.0 on stdin/stdout, "
                                                 "one message per line (see docs/editor-protocol.md).")
    parser.add_argument("--parent-pid", type=int, default=None,
                        help="exit when this process (the bridge that started the editor) is gone")
    parser.add_argument("--max-message-bytes", type=int, default=DEFAULT_MAX_MESSAGE_BYTES,
                        help="longest accepted input line (default %(default)s)")
    args = parser.parse_args(argv)
    if args.parent_pid is not None:
        _exit_with_parent(args.parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bridge, not the terminal, decides when we stop
    return serve(sys.stdin.buffer, sys.stdout.buffer, args.max_message_bytes)


if __name__ == "__main__":
    sys.exit(main())
