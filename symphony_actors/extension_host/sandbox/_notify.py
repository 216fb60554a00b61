"""The host's answer to seccomp notifications: refuse every notified call with EPERM and audit it.

Each worker hands the host its filter's listener (``SECCOMP_FILTER_FLAG_NEW_LISTENER``) before any
extension code runs. One host thread polls every listener; a notification is a syscall the filter
refuses (file metadata, sockets, spawn, signals to protected pids, io_uring). The call never runs:
the host answers EPERM, so what it reads of the arguments (a path from ``/proc/<tid>/mem``, a
descriptor's target) only names the attempt in the audit record; another thread of the worker may
rewrite that memory meanwhile, which can only make the record inaccurate. Because the kernel reports
the attempt, ``syscall()`` through ctypes is recorded like ``os.chmod``.

The one exception is ``connect()`` of a worker with a network grant: the host reads the address,
refuses (and audits) a reserved or ungranted TCP port, and lets any other call *continue*. Continuing
is not a security decision here: Landlock checks the port again in the kernel, so a worker that
rewrites the address after the host read it gets refused by Landlock, only without a record.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import select
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from symphony_actors.extension_host.sandbox import _seccomp

__all__ = ["Denial", "Notifier", "is_listener", "socket_target"]

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]


class _Data(ctypes.Structure):
    _fields_ = [("nr", ctypes.c_int), ("arch", ctypes.c_uint32), ("ip", ctypes.c_uint64),
                ("args", ctypes.c_uint64 * 6)]


class _Notif(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("pid", ctypes.c_uint32), ("flags", ctypes.c_uint32), ("data", _Data)]


class _Resp(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("val", ctypes.c_int64), ("error", ctypes.c_int32),
                ("flags", ctypes.c_uint32)]


def _iowr(nr: int, size: int) -> int:
    return (3 << 30) | (size << 16) | (ord("!") << 8) | nr


_RECV = _iowr(0, ctypes.sizeof(_Notif))
_SEND = _iowr(1, ctypes.sizeof(_Resp))
_ID_VALID = (1 << 30) | (8 << 16) | (ord("!") << 8) | 2
_FLAG_CONTINUE = 1
_PATH_ARG = {"chmod": 0, "chown": 0, "lchown": 0, "utime": 0, "utimes": 0, "setxattr": 0, "lsetxattr": 0,
             "removexattr": 0, "lremovexattr": 0, "fchmodat": 1, "fchmodat2": 1, "fchownat": 1, "utimensat": 1,
             "futimesat": 1, "setxattrat": 1, "removexattrat": 1, "execve": 0, "execveat": 1}
_FD_ARG = {"fchmod": 0, "fchown": 0, "fsetxattr": 0, "fremovexattr": 0, "file_setattr": 0}
_SPAWN = frozenset(_seccomp.SPAWN) | {"clone"}
_FAMILIES = {socket.AF_UNIX: "AF_UNIX", socket.AF_INET: "AF_INET", socket.AF_INET6: "AF_INET6", 17: "AF_PACKET"}
_TYPES = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM", 5: "SOCK_SEQPACKET", 10: "SOCK_PACKET"}


def is_listener(fd: int) -> bool:
    """Whether ``fd`` is a seccomp notification descriptor (what a worker's first frame must carry)."""
    try:
        return str(Path(f"/proc/self/fd/{fd}").readlink()) == "anon_inode:seccomp notify"
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class Denial:
    """One refused call: the permission it needed, what it targeted, the syscall, the thread."""

    permission: str
    target: str
    syscall: str
    tid: int
    message: str = ""


def _read_string(tid: int, address: int, limit: int = 4096) -> str | None:
    if not address:
        return None
    try:
        with Path(f"/proc/{tid}/mem").open("rb", buffering=0) as mem:
            mem.seek(address)
            raw = mem.read(limit)
    except (OSError, OverflowError, ValueError):
        return None
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def describe(name: str, tid: int, args: tuple[int, ...]) -> Denial:
    """Permission and target of a notified call (read before the answer, while the thread waits)."""
    if name in _PATH_ARG:
        path = _read_string(tid, args[_PATH_ARG[name]])
        if name in ("fchmodat", "fchmodat2", "fchownat", "utimensat", "futimesat", "setxattrat",
                    "removexattrat", "execveat") and path is not None and not path.startswith("/"):
            dirfd = ctypes.c_int32(args[0] & 0xFFFFFFFF).value
            base = "." if dirfd == -100 else _fd_target(tid, dirfd)
            path = f"{base}/{path}" if path else base
        target = path if path is not None else f"{name}(0x{args[0]:x})"
    elif name in _FD_ARG:
        target = _fd_target(tid, ctypes.c_int32(args[0] & 0xFFFFFFFF).value)
    elif name == "socket":
        target = socket_target(args[0] & 0xFFFFFFFF, args[1], ctypes.c_int32(args[2] & 0xFFFFFFFF).value)
    elif name in _seccomp.SIGNALS:
        target = f"pid {ctypes.c_int32(args[0] & 0xFFFFFFFF).value}"
    else:
        target = name
    if name in _seccomp.METADATA:
        permission = "fs.metadata"
    elif name == "socket":
        permission = "net.connect"
    elif name in _SPAWN:
        permission = "process.spawn"
    elif name in _seccomp.SIGNALS:
        permission = "process.signal"
    else:
        permission = "syscall"
    return Denial(permission, target, name, tid)


def socket_target(family: int, kind: int, proto: int) -> str:
    """``socket(AF_UNIX, SOCK_STREAM, 0)``: how host and worker name a refused socket (the same way)."""
    kind &= 0xF
    return f"socket({_FAMILIES.get(family, family)}, {_TYPES.get(kind, kind)}, {proto})"


def _read_bytes(tid: int, address: int, size: int) -> bytes:
    if not address or size <= 0:
        return b""
    try:
        with Path(f"/proc/{tid}/mem").open("rb", buffering=0) as mem:
            mem.seek(address)
            return mem.read(size)
    except (OSError, OverflowError, ValueError):
        return b""


def tcp_address(raw: bytes) -> tuple[str, int] | None:
    """(address, port) of a ``sockaddr_in``/``sockaddr_in6``; None for another family or a short read."""
    if len(raw) < 8:
        return None
    family = int.from_bytes(raw[:2], sys.byteorder)
    port = int.from_bytes(raw[2:4], "big")
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[4:8]), port
    if family == socket.AF_INET6 and len(raw) >= 24:
        return socket.inet_ntop(socket.AF_INET6, raw[8:24]), port
    return None


def _fd_target(tid: int, fd: int) -> str:
    try:
        return str(Path(f"/proc/{tid}/fd/{fd}").readlink())
    except OSError:
        return f"fd {fd}"


class Notifier:
    """One daemon thread answering the listeners of every worker of a zygote.

    ``on_denial(owner, denial)`` runs on that thread just before the refusal is sent (it must not block);
    ``tcp_refusal(owner, port)`` says why a TCP connect to ``port`` is refused, or None to let it continue.
    """

    def __init__(self, on_denial: Callable[[object, Denial], None],
                 tcp_refusal: Callable[[object, int], str | None] = lambda owner, port: None) -> None:
        self._on_denial = on_denial
        self._tcp_refusal = tcp_refusal
        self._names = _seccomp.syscall_names()
        self._owners: dict[int, object] = {}
        self._lock = threading.Lock()
        self._wake_r = self._wake_w = -1  # made with the thread (a zygote that never spawns holds no pipe)
        self._stop = False
        self._thread: threading.Thread | None = None

    def add(self, fd: int, owner: object) -> None:
        """Answer ``fd`` (now owned by the notifier) on behalf of ``owner``."""
        with self._lock:
            self._owners[fd] = owner
            if self._thread is None:
                self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
                self._thread = threading.Thread(target=self._run, name="sandbox-seccomp-notify", daemon=True)
                self._thread.start()
        self._wake()

    def close(self) -> None:
        self._stop = True
        self._wake()
        if self._thread is not None:
            self._thread.join(2)
        with self._lock:
            for fd in self._owners:
                os.close(fd)
            self._owners.clear()
        if self._wake_r >= 0:
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1

    def _wake(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(BlockingIOError):
                os.write(self._wake_w, b"x")

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        watched: set[int] = set()
        while not self._stop:
            with self._lock:
                current = set(self._owners)
            for fd in current - watched:
                poller.register(fd, select.POLLIN)
            for fd in watched - current:
                poller.unregister(fd)
            watched = current
            for fd, events in poller.poll():
                if fd == self._wake_r:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
                elif events & select.POLLIN:
                    self._answer(fd)
                elif events & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                    self._drop(fd)  # every process under this filter is gone

    def _judge_connect(self, owner: object, tid: int, args: tuple[int, ...]) -> Denial | None:
        address = tcp_address(_read_bytes(tid, args[1], min(int(args[2] & 0xFFFFFFFF), 128)))
        if address is None or owner is None:
            return None  # not an internet address (or unreadable): Landlock decides
        host, port = address
        why = self._tcp_refusal(owner, port)
        if why is None:
            return None
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return Denial("net.connect", target, "connect", tid, why)

    def _drop(self, fd: int) -> None:
        with self._lock:
            if self._owners.pop(fd, None) is not None:
                os.close(fd)

    def _answer(self, fd: int) -> None:
        notif = _Notif()
        if _libc.ioctl(fd, _RECV, ctypes.byref(notif)) != 0:
            return  # ENOENT: the caller died (or was interrupted) before we got to it
        name = self._names.get(int(notif.data.nr), f"syscall {notif.data.nr}")
        args = tuple(int(a) for a in notif.data.args)
        with self._lock:
            owner = self._owners.get(fd)
        if name == "connect":
            denial: Denial | None = self._judge_connect(owner, int(notif.pid), args)
        else:
            denial = describe(name, int(notif.pid), args)
        if _libc.ioctl(fd, _ID_VALID, ctypes.byref(ctypes.c_uint64(notif.id))) != 0:
            return  # the caller died while we read its arguments: they may name another process's memory
        if denial is None:  # Landlock decides (see the module docstring)
            _libc.ioctl(fd, _SEND, ctypes.byref(_Resp(notif.id, 0, 0, _FLAG_CONTINUE)))
            return
        if owner is not None:  # recorded before the answer: the worker's own report comes after it
            self._on_denial(owner, denial)
        resp = _Resp(notif.id, 0, -errno.EPERM, 0)
        _libc.ioctl(fd, _SEND, ctypes.byref(resp))  # fails only if the caller died meanwhile
