"""A client speaking raw JSON-RPC 2.0 to the ``symphony-editor`` process over its pipes."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.editor_support import assert_gone

PARSE, INVALID_REQUEST, NO_METHOD, INVALID_PARAMS, NOT_FOUND = -32700, -32600, -32601, -32602, -32001


class RawClient:
    """Writes bytes to the editor's stdin, reads its stdout line by line with a deadline."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "symphony_actors.editor", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.stdout, selectors.EVENT_READ)
        self._buf = b""
        self._next_id = 0

    def write(self, raw: bytes) -> None:
        self.stdin.write(raw)
        self.stdin.flush()

    def read(self, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "the editor did not answer in time"
            if self._sel.select(remaining):
                chunk = os.read(self.stdout.fileno(), 1 << 16)
                assert chunk, "the editor closed its output"
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, method: str, params: Any = None) -> Any:
        """Send a request; return (notifications before the reply, the reply)."""
        self._next_id += 1
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.write(json.dumps(msg).encode() + b"\n")
        notes: list[Any] = []
        while True:
            reply = self.read()
            if "id" in reply:
                assert self._next_id == reply["id"]
                return notes, reply
            notes.append(reply)

    def alive_and_well(self) -> None:
        _, reply = self.call("ping")
        assert reply["result"] == "pong"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.stdin, self.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        assert_gone({self.proc.pid})


@pytest.fixture
def editor() -> Iterator[RawClient]:
    client = RawClient()
    try:
        yield client
    finally:
        client.close()


def pos(line: int, character: int) -> dict[str, int]:
    return {"line": line, "character": character}


def test_example_session(editor: RawClient, tmp_path: Path) -> None:
    """The session of docs/editor-protocol.md: initialize, open, edit, update, undo, save, shutdown."""
    f = tmp_path / "hello.txt"
    f.write_bytes(b"hello\r\nworld\r\n")
    _, init = editor.call("initialize", {"client": "test"})
    assert ("symphony-editor", 1, editor.proc.pid) == (init["result"]["name"], init["result"]["protocol"],
                                                       init["result"]["pid"])
    _, opened = editor.call("buffer.open", {"path": str(f)})
    info = opened["result"]
    assert (info["eol"], info["line_count"], info["revision"]) == ("\r\n", 3, 0)
    buf = info["buffer_id"]
    notes, reply = editor.call("edit.insert", {"buffer_id": buf, "position": pos(1, 5), "text": "!"})
    assert {"revision": 1, "range": {"start": pos(1, 5), "end": pos(1, 6)}} == reply["result"]
    (update,) = notes
    assert ("update", 1, "edit", {"start": pos(1, 5), "end": pos(1, 5)}, "!") == (
        update["method"], update["params"]["revision"], update["params"]["kind"], update["params"]["range"],
        update["params"]["text"])
    assert "id" not in update
    notes, reply = editor.call("edit.undo", {"buffer_id": buf})
    assert (reply["result"]["revision"], notes[0]["params"]["kind"]) == (2, "undo")
    editor.call("edit.redo", {"buffer_id": buf})
    _, saved = editor.call("buffer.save", {"buffer_id": buf})
    assert (saved["result"]["revision"], saved["result"]["saved_revision"],
                             saved["result"]["dirty"]) == (3, 3, False)
    assert f.read_bytes() == b"hello\r\nworld!\r\n"
    _, bye = editor.call("shutdown")
    assert bye["result"] is None
    assert editor.proc.wait(timeout=10) == 0


def test_end_of_input_stops_the_editor(editor: RawClient) -> None:
    editor.alive_and_well()
    editor.stdin.close()
    assert editor.proc.wait(timeout=10) == 0


MALFORMED: list[tuple[str, bytes, int]] = [
    ("not json", b"hello there", PARSE),
    ("truncated object", b'{"jsonrpc": "2.0", "id": 1, "method": "ping"', PARSE),
    ("invalid utf-8", b'{"jsonrpc": "2.0", "id": 1, "method": "\xff\xfe"}', PARSE),
    ("NaN literal", b'{"jsonrpc": "2.0", "id": NaN, "method": "ping"}', PARSE),
    ("trailing garbage", b'{"jsonrpc": "2.0", "id": 1, "method": "ping"} extra', PARSE),
    ("nested too deep", b"[" * 2000 + b"]" * 2000, PARSE),
    ("a number", b"42", INVALID_REQUEST),
    ("a string", b'"ping"', INVALID_REQUEST),
    ("null", b"null", INVALID_REQUEST),
    ("empty batch", b"[]", INVALID_REQUEST),
    ("no jsonrpc member", b'{"id": 1, "method": "ping"}', INVALID_REQUEST),
    ("jsonrpc 1.0", b'{"jsonrpc": "1.0", "id": 1, "method": "ping"}', INVALID_REQUEST),
    ("method not a string", b'{"jsonrpc": "2.0", "id": 1, "method": 7}', INVALID_REQUEST),
    ("no method", b'{"jsonrpc": "2.0", "id": 1}', INVALID_REQUEST),
    ("a response sent to the editor", b'{"jsonrpc": "2.0", "id": 1, "result": 5}', INVALID_REQUEST),
    ("id is an object", b'{"jsonrpc": "2.0", "id": {}, "method": "ping"}', INVALID_REQUEST),
    ("id is a boolean", b'{"jsonrpc": "2.0", "id": true, "method": "ping"}', INVALID_REQUEST),
    ("id is a fraction", b'{"jsonrpc": "2.0", "id": 1.5, "method": "ping"}', INVALID_REQUEST),
    ("params is a string", b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": "x"}', INVALID_REQUEST),
    ("unknown method", b'{"jsonrpc": "2.0", "id": 1, "method": "buffer.explode"}', NO_METHOD),
    ("rpc. method", b'{"jsonrpc": "2.0", "id": 1, "method": "rpc.discover"}', NO_METHOD),
    ("positional params", b'{"jsonrpc": "2.0", "id": 1, "method": "buffer.info", "params": ["b"]}', INVALID_PARAMS),
    ("missing param", b'{"jsonrpc": "2.0", "id": 1, "method": "buffer.info", "params": {}}', INVALID_PARAMS),
    ("unknown param", b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": 1}}', INVALID_PARAMS),
    ("wrong param type", b'{"jsonrpc": "2.0", "id": 1, "method": "buffer.new", "params": {"text": 5}}',
     INVALID_PARAMS),
    ("bad eol", b'{"jsonrpc": "2.0", "id": 1, "method": "buffer.new", "params": {"eol": "x"}}', INVALID_PARAMS),
    ("unknown buffer", b'{"jsonrpc": "2.0", "id": 1, "method": "buffer.info", "params": {"buffer_id": "b"}}',
     NOT_FOUND),
    ("unknown view", b'{"jsonrpc": "2.0", "id": 1, "method": "view.cursor", "params": {"view_id": "v"}}',
     NOT_FOUND),
]


@pytest.mark.parametrize(("raw", "code"), [(raw, code) for _, raw, code in MALFORMED],
                         ids=[name for name, _, _ in MALFORMED])
def test_malformed_input_gets_its_error_and_the_editor_keeps_serving(
        editor: RawClient, raw: bytes, code: int) -> None:
    """Each kind of bad input gets the right JSON-RPC error object; the next request is answered."""
    editor.write(raw + b"\n")
    reply = editor.read()
    assert reply["jsonrpc"] == "2.0"
    assert code == reply["error"]["code"], reply
    assert isinstance(reply["error"]["message"], str) and reply["error"]["message"]
    editor.alive_and_well()


def test_all_malformed_inputs_in_one_session(editor: RawClient) -> None:
    """The whole list back to back on one process: one error each, in order, then still serving."""
    editor.write(b"".join(raw + b"\n" for _, raw, _ in MALFORMED))
    assert [code for _, _, code in MALFORMED] == [editor.read()["error"]["code"] for _ in MALFORMED]
    editor.alive_and_well()


def test_bad_positions_are_invalid_params(editor: RawClient) -> None:
    """Out-of-range, negative and reversed positions are -32602 and change nothing."""
    _, reply = editor.call("buffer.new", {"text": "abc\nde"})
    buf = reply["result"]["buffer_id"]
    bad: list[tuple[str, dict[str, Any]]] = [("edit.insert", {"position": pos(2, 0), "text": "x"}),
           ("edit.insert", {"position": pos(1, 3), "text": "x"}),
           ("edit.insert", {"position": {"line": -1, "character": 0}, "text": "x"}),
           ("edit.insert", {"position": {"line": 0}, "text": "x"}),
           ("edit.delete", {"range": {"start": pos(0, 2), "end": pos(0, 1)}}),
           ("edit.replace", {"range": {"start": pos(0, 0), "end": pos(5, 0)}, "text": ""}),
           ("buffer.content", {"range": {"start": pos(0, 0), "end": pos(0, 9)}})]
    for method, params in bad:
        notes, reply = editor.call(method, {"buffer_id": buf, **params})
        assert (notes, reply["error"]["code"]) == ([], INVALID_PARAMS), (method, params, reply)
        assert reply["error"]["data"]["code"] == "usage"
    _, content = editor.call("buffer.content", {"buffer_id": buf})
    assert content["result"] == {"text": "abc\nde", "revision": 0}


def test_notifications_get_no_reply_even_on_error(editor: RawClient) -> None:
    """A request without an id is done but not answered, even if it fails; its update is still sent."""
    _, reply = editor.call("buffer.new", {})
    buf = reply["result"]["buffer_id"]
    editor.write(json.dumps({"jsonrpc": "2.0", "method": "no.such"}).encode() + b"\n")
    editor.write(json.dumps({"jsonrpc": "2.0", "method": "edit.insert",
                             "params": {"buffer_id": buf, "position": pos(0, 0), "text": "hi"}}).encode() + b"\n")
    notes, reply = editor.call("buffer.content", {"buffer_id": buf})
    assert [n["method"] for n in notes] == ["update"]
    assert reply["result"]["text"] == "hi"


def test_batch_answers_each_request_in_one_array(editor: RawClient) -> None:
    """A batch gets one array with a reply per request (none for notifications), errors included."""
    batch = [{"jsonrpc": "2.0", "id": "a", "method": "ping"}, 5,
             {"jsonrpc": "2.0", "method": "ping"},
             {"jsonrpc": "2.0", "id": "b", "method": "nope"}]
    editor.write(json.dumps(batch).encode() + b"\n")
    replies = editor.read()
    answers = [(r["id"], r.get("result", r.get("error", {}).get("code"))) for r in replies]
    assert answers == [("a", "pong"), (None, INVALID_REQUEST), ("b", NO_METHOD)]
    editor.alive_and_well()


def test_blank_lines_are_ignored(editor: RawClient) -> None:
    editor.write(b"\n   \n\t\n")
    editor.alive_and_well()


def test_oversized_message_is_refused_and_skipped() -> None:
    """A line longer than --max-message-bytes is an invalid request; the next line is read normally."""
    client = RawClient("--max-message-bytes", "1000")
    try:
        client.write(b'{"jsonrpc": "2.0", "id": 1, "method": "buffer.new", "params": {"text": "'
                     + b"x" * 5000 + b'"}}\n')
        assert client.read()["error"]["code"] == INVALID_REQUEST
        client.alive_and_well()
    finally:
        client.close()


def test_string_ids_and_null_id_are_echoed(editor: RawClient) -> None:
    editor.write(b'{"jsonrpc": "2.0", "id": "abc", "method": "ping"}\n')
    assert (lambda r: (r["id"], r["result"]))(editor.read()) == ("abc", "pong")
    editor.write(b'{"jsonrpc": "2.0", "id": null, "method": "ping"}\n')
    assert (lambda r: (r["id"], r["result"]))(editor.read()) == (None, "pong")


def test_file_errors_carry_typed_data(editor: RawClient, tmp_path: Path) -> None:
    """Opening a missing file is -32001 with the project's error in data."""
    _, reply = editor.call("buffer.open", {"path": str(tmp_path / "missing.txt")})
    assert (reply["error"]["code"], reply["error"]["data"]["code"]) == (NOT_FOUND, "not_found")
    editor.alive_and_well()


def test_large_buffer_round_trip(editor: RawClient) -> None:
    """A 10 MB buffer travels in one line and edits in its middle work."""
    text = ("x" * 99 + "\n") * 100_000
    _, reply = editor.call("buffer.new", {"text": text})
    buf = reply["result"]["buffer_id"]
    assert reply["result"]["line_count"] == 100_001
    _, reply = editor.call("edit.insert", {"buffer_id": buf, "position": pos(50_000, 10), "text": "MID"})
    assert reply["result"]["revision"] == 1
    _, reply = editor.call("buffer.content", {"buffer_id": buf, "range": {"start": pos(50_000, 8),
                                                                          "end": pos(50_000, 15)}})
    assert reply["result"]["text"] == "xxMIDxx"


def test_editor_exits_when_its_parent_is_gone() -> None:
    """With --parent-pid, an editor whose parent died exits on its own (no orphan survives the bridge)."""
    import psutil

    script = ("import subprocess, sys, os\n"
              "p = subprocess.Popen([sys.executable, '-m', 'symphony_actors.editor', '--parent-pid', str(os.getpid())],"
              " stdout=subprocess.DEVNULL)\n"
              "print(p.pid, flush=True)\n"
              "sys.stdin.read()\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        editor_pid = int(parent.stdout.readline())
        editor = psutil.Process(editor_pid)
        # The editor shares the parent's stdin, whose writing end this test holds open: its input never
        # ends, so only the parent watcher can make it exit.
        parent.kill()
        parent.wait(timeout=10)
        _, alive = psutil.wait_procs([editor], timeout=10)
        assert [p.pid for p in alive] == []
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.wait(timeout=10)
        for stream in (parent.stdin, parent.stdout):
            if stream is not None:
                stream.close()
