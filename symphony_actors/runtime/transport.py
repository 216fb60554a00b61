"""Starting and attaching to a Thespian ``multiprocTCPBase`` system, safely.

Thespian binds every actor and its admin to all interfaces and unpickles
whatever arrives (THESPIAN.md §5.6). :func:`bind_loopback_only` patches its
address class so every listening socket binds to 127.0.0.1 instead; the patch
is applied in the launcher before the admin forks, so every actor process
inherits it, and in clients before they open their endpoint. A multi-host
setup is an explicit opt-in (``SYMPHONY_MULTI_HOST=1``).

Loopback alone still lets every local user in, so :func:`install_auth` also
patches the transport to seal every frame it sends (and its ACKs) with the
system's key and to verify every frame it receives *before* ``pickle.loads``
(:mod:`symphony_actors.runtime.auth`, docs/security.md). A connection whose frame
fails is answered with a plain ``REJECT`` marker, closed, counted and logged.
:func:`attach` first proves, in a short handshake, that the admin holds the same
key (and the admin that the client does), so a wrong key is a clear error at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import socket
from pathlib import Path
from typing import Any

from thespian.actors import ActorSystem
from thespian.system.transport import IPBase
from thespian.system.transport import TCPTransport as TT
from thespian.system.transport.streamBuffer import ReceiveBuffer, ackDataErrPacket, ackPacket

from symphony_actors.domain.errors import AuthenticationError, ConfigError, NotRunningError
from symphony_actors.runtime.auth import (
    KEYRING,
    MAGIC_PREFIX,
    PROBE,
    PROBE_REPLY,
    REJECT,
    THESPIAN,
    Keyring,
    SystemKey,
    audit_to,
    reject,
)

__all__ = [
    "SYSTEM_BASE",
    "admin_listening",
    "attach",
    "bind_loopback_only",
    "capabilities",
    "install_auth",
    "port_owner",
    "require_listening",
    "start_system",
]

SYSTEM_BASE = "multiprocTCPBase"
LOOPBACK = "127.0.0.1"
MAX_FRAME = 256 * 1024 * 1024
PROBE_TIMEOUT = 5.0
_patched = False
_auth_installed = False
security_log = logging.getLogger("symphony.security")
#: (key, port, count file, log file) of the system whose admin this process is about to fork.
_pending_admin: tuple[SystemKey, int, Path | None, Path | None] | None = None


def multi_host() -> bool:
    return os.environ.get("SYMPHONY_MULTI_HOST", "") in {"1", "true", "yes"}


def bind_loopback_only() -> None:
    """Make every Thespian TCP socket in this process (and its forks) bind to loopback."""
    global _patched
    if _patched or multi_host():
        return
    os.environ["THESPIAN_BASE_IPADDR"] = LOOPBACK  # the address actors advertise
    original = IPBase.IPActorAddress.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        # Thespian binds externally reachable addresses to ('', port): all interfaces.
        if self.bindname and self.bindname[0] == "":
            self.bindname = (LOOPBACK, self.bindname[1])

    IPBase.IPActorAddress.__init__ = __init__
    _patched = True


def _frame(payload: bytes) -> bytes:
    return b"%d>" % len(payload) + payload


class _SealedPickle:
    """Stands in for the ``pickle`` module that Thespian's TCP transport serialises with."""

    @staticmethod
    def dumps(obj: Any) -> bytes:
        return KEYRING.seal(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), THESPIAN)

    @staticmethod
    def loads(data: bytes) -> Any:  # never used for received frames: _AuthBuffer opens them
        raise AuthenticationError("unsealed Thespian data reached pickle.loads")


class _AuthBuffer(ReceiveBuffer):  # type: ignore[misc]
    """Thespian's receive buffer, but a frame is unpickled only after its tag checks out."""

    def __init__(self, _serializer: Any = None) -> None:
        super().__init__(pickle.loads)
        self.bad: str | None = None
        self._verdict: tuple[memoryview | None, str] | None = None

    def addMore(self, buf: bytes) -> None:
        if self.bad is not None:
            return
        try:
            super().addMore(buf)
        except ValueError:
            self.bad = "malformed length prefix"
        if self._size is not None and self._size > MAX_FRAME:
            self.bad = f"frame of {self._size} bytes is over the limit"
        elif self._size is None and len(self._buf) > 40:  # Thespian would buffer this forever
            self.bad = "no length prefix"

    def isDone(self) -> bool:
        return self.bad is not None or bool(super().isDone())

    def remainingAmount(self) -> int:
        return 1 if self.bad is not None else int(super().remainingAmount())

    def payload(self) -> bytes | None:
        if self.bad is None and self._size is not None and self._blen == self._size:
            return bytes(self._buf)
        return None

    def verdict(self) -> tuple[memoryview | None, str]:
        if self._verdict is None:
            raw = self.payload()
            if raw is None:
                self._verdict = (None, self.bad or "not a length-prefixed frame")
            else:
                self._verdict = KEYRING.open(raw, THESPIAN)
        return self._verdict

    def completed(self) -> tuple[Any, bytes] | None:
        body, why = self.verdict()
        if body is None:
            if self.payload() == REJECT:
                security_log.warning("a peer refused our frames: it does not hold this process's system key")
            elif self.payload() is not None or self.bad is not None:
                reject("thespian (reply to a send)", "the peer sent to", why)
            return None
        return pickle.loads(body), self._extra


def _peer(sock: socket.socket | None) -> str:
    try:
        host, port = sock.getpeername()[:2] if sock is not None else ("?", 0)
    except OSError:
        return "unknown peer"
    return f"{host}:{port}"


_ack_generation = -1


def _refresh_acks() -> None:
    global _ack_generation
    if _ack_generation != KEYRING.generation and len(KEYRING):
        TT.ackMsg = _frame(_SealedPickle.dumps(ackPacket))
        TT.ackDataErrMsg = _frame(_SealedPickle.dumps(ackDataErrPacket))
        _ack_generation = KEYRING.generation


def _answer_probe(inc: Any, raw: bytes, where: str) -> None:
    body, why = KEYRING.open(raw, PROBE)
    with contextlib.suppress(OSError):
        if body is None or len(body) != 16:
            reject(where, _peer(inc.socket), f"key probe: {why or 'malformed'}")
            inc.socket.send(_frame(REJECT))
        else:
            inc.socket.send(_frame(KEYRING.seal(bytes(body), PROBE_REPLY)))
    inc.close()


def install_auth() -> None:
    """Patch Thespian's TCP transport in this process (and its forks): sealed frames only."""
    global _auth_installed
    if _auth_installed:
        return
    original = TT.TCPTransport._addedDataToIncoming
    probe_magic = MAGIC_PREFIX + bytes((PROBE,))

    def _addedDataToIncoming(self: Any, inc: Any, skipFinish: bool = False,
                             has_exclusive_flag: bool = False) -> Any:
        buf = inc._rData
        if isinstance(buf, _AuthBuffer) and inc.receivedAllData():
            where = f"thespian {self.myAddress}"
            raw = buf.payload()
            if raw is not None and raw[:4] == probe_magic:
                _answer_probe(inc, raw, where)
                return None
            body, why = buf.verdict()
            if body is None:  # never unpickled: answer with a plain marker and hang up
                reject(where, _peer(inc.socket), why)
                with contextlib.suppress(OSError):
                    inc.socket.send(_frame(REJECT))
                inc.close()
                return None
            _refresh_acks()
        return original(self, inc, skipFinish, has_exclusive_flag)

    TT.serializer = _SealedPickle
    TT.ReceiveBuffer = _AuthBuffer
    TT.TCPTransport._addedDataToIncoming = _addedDataToIncoming
    os.register_at_fork(after_in_child=_after_fork)
    _auth_installed = True


def _after_fork() -> None:
    """In the admin forked by :func:`start_system`: hold only this system's key, count into its files."""
    if _pending_admin is not None:
        key, port, count_file, log_file = _pending_admin
        KEYRING.only(key, port)
        audit_to(count_file, log_file)


def prove_key(port: int, key: SystemKey, timeout: float = PROBE_TIMEOUT) -> None:
    """Check, before any pickle is exchanged, that the admin on ``port`` and this process hold the same key.

    Raises :class:`AuthenticationError` naming the key file when the admin refuses the key or cannot
    prove it holds it, :class:`NotRunningError` when nothing answers."""
    import secrets

    nonce = secrets.token_bytes(16)
    source = key.path or "the key given in memory"
    ring = Keyring()  # this key alone, whatever else this process holds
    ring.add(key)
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(_frame(ring.seal(nonce, PROBE)))
            data = b""
            while b">" not in data[:24]:
                chunk = s.recv(64)
                if not chunk:
                    break
                data += chunk
            head, _sep, rest = data.partition(b">")
            size = int(head) if head.isdigit() and len(head) < 10 else -1
            while size >= 0 and len(rest) < size:
                chunk = s.recv(size - len(rest))
                if not chunk:
                    break
                rest += chunk
    except TimeoutError:
        raise NotRunningError(f"the process on port {port} did not answer the key handshake within "
                              f"{timeout:g} s", port=port) from None
    except OSError as exc:
        raise NotRunningError(f"cannot reach the system on port {port}: {exc.strerror}", port=port) from None
    if rest == REJECT:
        raise AuthenticationError(f"the system on port {port} refused the key in {source}: it is not that "
                                  "system's key (connect with the data directory it was started with)",
                                  port=port, path=str(source))
    body, _why = ring.open(rest, PROBE_REPLY)
    if body is None or bytes(body) != nonce:
        raise AuthenticationError(f"the process on port {port} could not prove it holds the key in {source}: "
                                  "it is not a Symphony system started with that key", port=port,
                                  path=str(source))


def capabilities(port: int) -> dict[str, Any]:
    return {"Admin Port": port, "Process Startup Method": "fork"}


def admin_listening(port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on loopback ``port``."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.settimeout(timeout)
        return s.connect_ex((LOOPBACK, port)) == 0


def port_owner(port: int) -> tuple[int | None, str]:
    """The pid and name of the process listening on ``port`` (None when unknown)."""
    import psutil

    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None, "unknown"
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
            try:
                return c.pid, psutil.Process(c.pid).name()
            except psutil.Error:
                return c.pid, "unknown"
    return None, "unknown"


def start_system(port: int, key: SystemKey | None = None, *, count_file: Path | None = None,
                 log_file: Path | None = None) -> Any:
    """Start a new admin on ``port`` (this process becomes its starter).

    The admin and every process it forks hold only ``key`` (a fresh one if None) and record refused
    connections in ``count_file``/``log_file``; this process adds ``key`` to the keys it holds."""
    global _pending_admin
    bind_loopback_only()
    install_auth()
    if admin_listening(port):
        pid, name = port_owner(port)
        raise ConfigError(f"port {port} is already in use by {name} (pid {pid}); "
                          "choose another with --port or stop that process", port=port)
    key = key or SystemKey.generate()
    KEYRING.add(key, port)
    _pending_admin = (key, port, count_file, log_file)
    try:
        return ActorSystem(SYSTEM_BASE, capabilities(port), transientUnique=True)
    finally:
        _pending_admin = None


def require_listening(port: int) -> None:
    if not admin_listening(port):
        raise NotRunningError(f"no Symphony system is listening on port {port}; start one with "
                              f"'symphony start --port {port}'", port=port)


def attach(port: int, key: SystemKey | None = None) -> Any:
    """Attach to the running admin on ``port``; never starts one (that would fork this process).

    ``key`` (or the key this process already holds for ``port``) must be the system's: checked first."""
    bind_loopback_only()
    install_auth()
    require_listening(port)
    key = key or KEYRING.for_port(port)
    if key is None:
        raise AuthenticationError(f"no key for the system on port {port}: connect with its data directory",
                                  port=port)
    prove_key(port, key)
    KEYRING.add(key, port)
    return ActorSystem(SYSTEM_BASE, capabilities(port), transientUnique=True)
