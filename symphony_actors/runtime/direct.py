"""A direct data plane: Unix-domain sockets between service actors and to clients.

Thespian stays the control plane (creating actors, exit notices, supervision),
but each of its messages costs a TCP round of its own plus an acknowledgement
(~0.4 ms per request/reply on this 2-core machine, THESPIAN.md §3). Service
actors therefore also listen on a Unix socket in a private directory (0700)
and register its path with the root; peers and clients that know it send
frames straight to it. The actor's Thespian loop watches these sockets
(``ThespianWatch``), so a frame wakes the actor like any message.

Frames are a 4-byte big-endian length and a pickle sealed with the system's key
(:mod:`symphony_actors.runtime.auth`): a frame whose tag does not check out is
never unpickled; its connection is closed, counted and logged. The directory is
made with ``mkdir`` 0700 or, if it exists, verified (ours, 0700, not a symlink);
anything else is an :class:`UnsafePathError`. Sockets are
non-blocking: what cannot be written at once waits in a per-connection buffer
and is retried on the next wake-up, so two actors sending to each other can
never block each other. A peer that closes its socket (its process died) is
noticed at once.

Disable with ``SYMPHONY_DIRECT=0`` (every message then goes through Thespian).
"""

from __future__ import annotations

import contextlib
import errno
import os
import pickle
import socket
import struct
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from symphony_actors.domain.errors import AuthenticationError
from symphony_actors.runtime.auth import DIRECT, KEYRING, ensure_private_dir, reject

__all__ = ["Conn", "DirectListener", "PeerLink", "enabled", "existing_socket_dir", "socket_dir"]

HEADER = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024
READ_CHUNK = 1 << 20


def enabled() -> bool:
    return os.environ.get("SYMPHONY_DIRECT", "1") not in {"0", "false", "no"}


def _base_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"symphony-{os.getuid()}"


def socket_dir(port: int) -> Path:
    """A private directory for the sockets of the system on ``port`` (short: socket paths max 107 bytes).

    Made 0700 if missing, else verified: :class:`UnsafePathError` if someone else could have touched it."""
    return ensure_private_dir(ensure_private_dir(_base_dir()) / str(port))


def existing_socket_dir(port: int) -> Path | None:
    """The verified socket directory of the system on ``port``, or None if there is none (a client's view)."""
    d = _base_dir() / str(port)
    if not os.path.lexists(_base_dir()) or not os.path.lexists(d):
        return None
    ensure_private_dir(_base_dir(), create=False)
    return ensure_private_dir(d, create=False)


def encode(msg: Any) -> bytes:
    body = KEYRING.seal(pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL), DIRECT)
    return HEADER.pack(len(body)) + body


def _peer(sock: socket.socket) -> str:
    try:
        pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                             struct.calcsize("3i")))
    except OSError:
        return "unix peer"
    return f"unix peer pid {pid} uid {uid}"


class Conn:
    """One connected, non-blocking socket: framed writes with a backlog, framed reads."""

    def __init__(self, sock: socket.socket, label: str = "") -> None:
        sock.setblocking(False)
        self.sock = sock
        self.label = label
        self.fd = sock.fileno()
        self._in = bytearray()
        self._out: deque[memoryview] = deque()
        self.closed = False

    def send(self, msg: Any) -> None:
        self.write(encode(msg))

    def write(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionError(f"connection {self.label} is closed")
        if self._out:
            self._out.append(memoryview(data))
            return
        view = memoryview(data)
        try:
            n = self.sock.send(view)
        except BlockingIOError:
            n = 0
        except OSError as exc:
            self.close()
            raise ConnectionError(f"connection {self.label}: {exc}") from exc
        if n < len(view):
            self._out.append(view[n:])

    @property
    def backlog(self) -> bool:
        return bool(self._out)

    def pump(self) -> None:
        """Write what is waiting, as far as the socket takes it now."""
        while self._out and not self.closed:
            view = self._out[0]
            try:
                n = self.sock.send(view)
            except BlockingIOError:
                return
            except OSError:
                self.close()
                return
            if n < len(view):
                self._out[0] = view[n:]
                return
            self._out.popleft()

    def read(self) -> list[Any] | None:
        """Every complete frame available now; None when the peer closed."""
        eof = False
        while True:
            try:
                chunk = self.sock.recv(READ_CHUNK)
            except BlockingIOError:
                break
            except OSError:
                eof = True
                break
            if not chunk:
                eof = True
                break
            self._in += chunk
            if len(chunk) < READ_CHUNK:
                break
        frames: list[Any] = []
        buf = self._in
        pos = 0
        while len(buf) - pos >= HEADER.size:
            (size,) = HEADER.unpack_from(buf, pos)
            if size > MAX_FRAME:
                reject(f"data plane {self.label}", _peer(self.sock), f"frame of {size} bytes is over the limit")
                eof = True  # a corrupt or hostile stream: drop the connection
                break
            if len(buf) - pos - HEADER.size < size:
                break
            body, why = KEYRING.open(buf[pos + HEADER.size:pos + HEADER.size + size], DIRECT)
            if body is None:  # never unpickled: drop the connection
                reject(f"data plane {self.label}", _peer(self.sock), why)
                eof = True
                break
            frames.append(pickle.loads(body))
            pos += HEADER.size + size
        if pos:
            del buf[:pos]
        if eof:
            self.close()
            return frames or None
        return frames

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.close()


class ClientSocket:
    """A client's blocking connection to one service: send a frame, read frames with a timeout."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except OSError as exc:
            self.sock.close()
            raise ConnectionError(f"cannot connect to {path}: {exc}") from exc
        self._in = bytearray()

    def send(self, msg: Any) -> None:
        try:
            self.sock.sendall(encode(msg))
        except OSError as exc:
            raise ConnectionError(f"{self.path}: {exc}") from exc

    def recv(self, timeout: float) -> Any:
        """The next frame, or ``TIMEOUT``; ConnectionError when the service's process closed the socket."""
        while True:
            if len(self._in) >= HEADER.size:
                (size,) = HEADER.unpack_from(self._in, 0)
                if size > MAX_FRAME:
                    raise ConnectionError(f"{self.path}: frame of {size} bytes is over the limit")
                if len(self._in) >= HEADER.size + size:
                    body, why = KEYRING.open(self._in[HEADER.size:HEADER.size + size], DIRECT)
                    if body is None:
                        reject(f"data plane client of {self.path}", _peer(self.sock), why)
                        raise AuthenticationError(f"{self.path}: a reply failed authentication ({why})",
                                                  path=self.path)
                    frame = pickle.loads(body)
                    del self._in[:HEADER.size + size]
                    return frame
            self.sock.settimeout(max(0.0005, timeout))
            try:
                chunk = self.sock.recv(READ_CHUNK)
            except TimeoutError:
                return TIMEOUT
            except OSError as exc:
                raise ConnectionError(f"{self.path}: {exc}") from exc
            if not chunk:
                raise ConnectionError(f"{self.path}: closed by the service")
            self._in += chunk

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


TIMEOUT = object()


class PeerLink:
    """How an actor reaches another service directly: connects on first use, reconnects after a restart."""

    def __init__(self, path: str, on_open: Callable[[Conn], None], fallback: Any = None) -> None:
        self.path = path
        self._on_open = on_open
        self.fallback = fallback  # the peer's Thespian address, used if the socket cannot be reached
        self.conn: Conn | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PeerLink) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def send(self, msg: Any) -> None:
        if self.conn is None or self.conn.closed:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self.path)
            except OSError as exc:
                sock.close()
                raise ConnectionError(f"cannot connect to {self.path}: {exc}") from exc
            self.conn = Conn(sock, self.path)
            self._on_open(self.conn)
        self.conn.send(msg)


class DirectListener:
    """The listening socket of one actor and its accepted connections."""

    def __init__(self, port: int, name: str) -> None:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:40]
        self.path = str(socket_dir(port) / f"{safe}-{os.getpid()}.sock")
        Path(self.path).unlink(missing_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(128)
        self.sock.setblocking(False)
        self.conns: dict[int, Conn] = {}

    def add(self, conn: Conn) -> None:
        self.conns[conn.fd] = conn

    def filenos(self) -> list[int]:
        return [self.sock.fileno(), *self.conns]

    def accept(self) -> None:
        while True:
            try:
                sock, _ = self.sock.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE):
                    return
                raise
            conn = Conn(sock, self.path)
            self.conns[conn.fd] = conn

    def ready(self, fds: list[int]) -> list[tuple[Conn, Any]]:
        """Accept and read what the watched ``fds`` have; returns (connection, message) pairs in order."""
        out: list[tuple[Conn, Any]] = []
        for fd in fds:
            if fd == self.sock.fileno():
                self.accept()
                continue
            conn = self.conns.get(fd)
            if conn is None:
                continue
            frames = conn.read()
            if frames:
                out.extend((conn, f) for f in frames)
            if conn.closed:
                del self.conns[fd]
        return out

    def pump(self) -> bool:
        """Flush write backlogs; True while some remain."""
        pending = False
        for fd, conn in list(self.conns.items()):
            conn.pump()
            if conn.closed:
                del self.conns[fd]
            elif conn.backlog:
                pending = True
        return pending

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()
        self.conns.clear()
        with contextlib.suppress(OSError):
            self.sock.close()
        Path(self.path).unlink(missing_ok=True)
