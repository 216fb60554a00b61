"""Length-prefixed orjson frames over a stream socket: 4-byte big-endian length, then JSON.

Never pickle: the worker is untrusted, and unpickling its bytes would run its code in the host.
A frame larger than :data:`MAX_FRAME` or that is not a JSON object is a protocol violation.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from typing import Any

import orjson

__all__ = ["MAX_FRAME", "FrameError", "FrameReader", "send_frame"]

MAX_FRAME = 64 * 1024 * 1024
_HEADER = struct.Struct(">I")


class FrameError(Exception):
    """The peer closed the stream (``eof``), sent a bad frame, or no frame came before the deadline."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind  # "eof" | "timeout" | "protocol"


def encode(message: dict[str, Any]) -> bytes:
    body = orjson.dumps(message)
    if len(body) > MAX_FRAME:
        raise FrameError(f"frame of {len(body)} bytes exceeds {MAX_FRAME}", "protocol")
    return _HEADER.pack(len(body)) + body


def send_frame(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(encode(message))


class FrameReader:
    """Reads whole frames from a blocking socket, optionally against a monotonic deadline."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = bytearray()
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)

    def read(self, deadline: float | None = None, fds: list[int] | None = None) -> dict[str, Any]:
        """The next frame; with ``fds``, descriptors passed along (SCM_RIGHTS) are appended to it."""
        while True:
            frame = self._take()
            if frame is not None:
                return frame
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._poll.poll(max(0, int(remaining * 1000) + 1)):
                    if time.monotonic() >= deadline:
                        raise FrameError("no reply before the deadline", "timeout")
                    continue
            try:
                if fds is None:
                    chunk = self.sock.recv(1 << 20)
                else:
                    chunk, got, _flags, _addr = socket.recv_fds(self.sock, 1 << 20, 4)
                    fds.extend(got)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise FrameError("the peer closed the connection", "eof")
            self._buf += chunk

    def _take(self) -> dict[str, Any] | None:
        if len(self._buf) < 4:
            return None
        (size,) = _HEADER.unpack_from(self._buf)
        if size > MAX_FRAME:
            raise FrameError(f"frame of {size} bytes exceeds {MAX_FRAME}", "protocol")
        if len(self._buf) < 4 + size:
            return None
        body = bytes(self._buf[4:4 + size])
        del self._buf[:4 + size]
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise FrameError(f"frame is not JSON: {exc}", "protocol") from exc
        if not isinstance(message, dict):
            raise FrameError(f"frame is a {type(message).__name__}, not an object", "protocol")
        return message
