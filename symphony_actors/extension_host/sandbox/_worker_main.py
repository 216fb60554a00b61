"""The worker's own runtime: confine, import the entry, then serve calls over the frame socket.

Runs in the forked child of the zygote. Messages from the host: ``{"id", "method", "payload"}``.
Replies: ``{"id", "ok": result}`` or ``{"id", "error": {...}}``; a refused action is reported
as ``{"audit": {"permission", "target"}}`` before the reply. The reports are the worker's word
(untrusted); kills for memory, CPU, time and syscalls are observed by the host itself.
"""

from __future__ import annotations

import importlib
import os
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import orjson

from symphony_actors.extension_host.sandbox import _confine, _framing, _netguard, _notify

__all__ = ["run"]

_O_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_FS_WRITE_EVENTS = frozenset({"os.mkdir", "os.remove", "os.rmdir", "os.rename", "os.symlink", "os.link",
                              "os.truncate", "shutil.rmtree", "shutil.copyfile", "shutil.move"})
_METADATA_EVENTS = frozenset({"os.chmod", "os.chown", "os.utime", "os.setxattr", "os.removexattr"})
_FS_READ_EVENTS = frozenset({"os.listdir", "os.scandir", "glob.glob", "os.chdir"})
_SPAWN_EVENTS = frozenset({"subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "os.system",
                           "os.fork", "os.forkpty", "pty.spawn"})
_WATCHED = frozenset({"open", "socket.connect", "socket.bind", "socket.__new__", "os.kill", "os.killpg",
                      "signal.pthread_kill"}) | _FS_WRITE_EVENTS | _FS_READ_EVENTS | _SPAWN_EVENTS | _METADATA_EVENTS
_last: list[Any] = [None]
_MAX_PENDING = 64
# Refused TCP connects seen by the hook, sent to the host before the call's reply (even when the
# extension catches the error). Landlock refuses them whatever the hook does; this is the record.
_pending: list[dict[str, str]] = []
_tcp: list[tuple[bool, frozenset[int], _netguard.Ranges] | None] = [None]  # any port, granted, reserved


def _audit_hook(event: str, args: tuple[Any, ...]) -> None:
    # Runs for every audited action: keep it to one set lookup and one store.
    if event in _WATCHED:
        _last[0] = (event, args)
        if event == "socket.connect":
            _check_connect(args)


def _check_connect(args: tuple[Any, ...]) -> None:
    rules = _tcp[0]
    if rules is None or len(args) < 2 or len(_pending) >= _MAX_PENDING:
        return
    sock, address = args[0], args[1]
    if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
        return
    port = address[1] if len(address) >= 2 else None
    if not isinstance(port, int) or isinstance(port, bool):
        return
    any_port, granted, reserved = rules
    if _netguard.is_reserved(port, reserved):
        why = "a port of the system (reserved whatever the grant)"
    elif not any_port and port not in granted:
        why = "port not granted"
    else:
        return
    _pending.append({"permission": "net.connect", "target": f"{address[0]}:{port}", "message": why})


def _flush_pending(sock: socket.socket) -> None:
    for record in _pending:
        _framing.send_frame(sock, {"audit": record})
    _pending.clear()


def _classify(exc: PermissionError) -> tuple[str, str]:
    """(permission, target) of the refused action, from the last audited event and the error."""
    last = _last[0]
    filename = exc.filename
    if last is not None:
        event, args = last
        if event == "open":
            path, mode, flags = [*args, None, None, None][:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _O_WRITE)
            if filename is None or str(filename) == str(path):
                return ("fs.write" if writing else "fs.read"), str(path)
        elif event in _FS_WRITE_EVENTS:
            return "fs.write", str(filename if filename is not None else args[0])
        elif event in _METADATA_EVENTS:
            return "fs.metadata", str(filename if filename is not None else args[0])
        elif event in _FS_READ_EVENTS:
            return "fs.read", str(filename if filename is not None else (args[0] if args else ""))
        elif event == "socket.connect":
            return "net.connect", _address(args[1])
        elif event == "socket.bind":
            return "net.bind", _address(args[1])
        elif event == "socket.__new__":
            return "net.connect", _notify.socket_target(int(args[1]), int(args[2]), int(args[3]))
        elif event in _SPAWN_EVENTS:
            target = args[0] if args else event
            return "process.spawn", str(filename if filename is not None else target)
        elif event in ("os.kill", "os.killpg", "signal.pthread_kill"):
            return "process.signal", f"pid {args[0]}"
    if filename is not None:
        return "fs.read", str(filename)
    return "unknown", str(exc)


def _address(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return str(addr)


def _load_entry(entry: str, folder: str, init: Any) -> Any:
    """Import ``module:attr`` (from the extension folder, or a ``symphony_actors`` adapter) and build it.

    A class is instantiated once (with ``init`` when the host gave one); another callable is called
    with ``init`` only when one was given; anything else is used as is.
    """
    module_name, _, attr = entry.partition(":")
    top = module_name.split(".")[0]
    existing = sys.modules.get(top)
    if existing is not None and top != "symphony_actors":
        origin = getattr(existing, "__file__", None) or ""
        if not origin.startswith(folder.rstrip("/") + "/"):
            raise ImportError(f"extension module {module_name!r} shadows the preloaded module {top!r}")
    sys.path.insert(0, folder)
    module = importlib.import_module(module_name)
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part)
    if isinstance(target, type):
        return target() if init is None else target(init)
    if init is not None and callable(target):
        return target(init)
    return target


def _serve(sock: socket.socket, reader: _framing.FrameReader, target: Any) -> None:
    while True:
        try:
            msg = reader.read()
        except _framing.FrameError:
            return
        call_id = msg.get("id")
        method = msg.get("method")
        if not isinstance(method, str) or method.startswith("_") or not callable(getattr(target, method, None)):
            _framing.send_frame(sock, {"id": call_id, "error": {"kind": "no_method", "message":
                                                               f"the extension has no method {method!r}"}})
            continue
        _last[0] = None
        try:
            result = getattr(target, method)(msg.get("payload"))
            frame = _framing.encode({"id": call_id, "ok": result})
        except PermissionError as exc:
            permission, target_name = _classify(exc)
            if not any(r["permission"] == permission and r["target"] == target_name for r in _pending):
                _framing.send_frame(sock, {"audit": {"permission": permission, "target": target_name,
                                                     "message": str(exc)}})
            frame = _framing.encode({"id": call_id, "error": {"kind": "permission", "permission": permission,
                                                              "target": target_name, "message": str(exc)}})
        except MemoryError:
            frame = _framing.encode({"id": call_id, "error": {"kind": "memory", "message": "MemoryError"}})
        except Exception as exc:  # noqa: BLE001 - any extension error is reported to the caller, the worker lives on
            frame = _framing.encode({"id": call_id, "error": {
                "kind": "exception", "type": type(exc).__name__, "message": str(exc)[:2000],
                "traceback": "".join(traceback.format_exception(exc, limit=8))[-4000:]}})
        _flush_pending(sock)
        sock.sendall(frame)


def run(fd: int, spec: dict[str, Any], prepared_ms: float | None = None) -> int:
    """The whole life of a worker; returns the exit code. ``prepared_ms`` is set when a spare ran
    :func:`_confine.prepare` ahead of time; otherwise it runs here first."""
    started = time.perf_counter()
    prepare_error: _confine.ConfinementFailed | None = None
    net_fd = spec.get("net_ruleset_fd")
    if prepared_ms is None:
        try:
            keep = [fd] + ([net_fd] if isinstance(net_fd, int) else [])
            prepared_ms = _confine.prepare(int(spec["zygote_pid"]), list(spec.get("cgroup_procs", [])), keep)
        except _confine.ConfinementFailed as exc:
            prepare_error = exc
    if net_fd == 3 and fd != 3:
        spec["net_ruleset_fd"] = os.dup(3)  # 3 becomes the worker socket below
        os.close(3)
    if fd != 3:
        os.dup2(fd, 3)
        os.close(fd)
        fd = 3
    sock = socket.socket(fileno=fd)
    reader = _framing.FrameReader(sock)
    try:
        if prepare_error is not None:
            raise prepare_error
        # The environment comes straight from the host over this socket, never through the zygote,
        # whose freed memory every later worker inherits.
        first = reader.read(time.monotonic() + 10)
        env = first.get("env")
        spec["env"] = env if isinstance(env, dict) else {}
        applied = _confine.confine(spec)
        notify_fd = applied.pop("notify_fd", None)
        if notify_fd is not None:
            # The host answers (refuses and audits) what the filter notifies; this process must not
            # keep the listener (a thread of the extension could answer "continue" itself).
            socket.send_fds(sock, [_framing.encode({"notify": True})], [notify_fd])
            os.close(notify_fd)
    except _framing.FrameError as exc:
        _framing.send_frame(sock, {"fatal": {"kind": "confinement", "step": "env", "message": str(exc)}})
        return 70
    except _confine.ConfinementFailed as exc:
        _framing.send_frame(sock, {"fatal": {"kind": "confinement", "step": exc.step, "message": str(exc)}})
        return 70
    policy = spec["policy"]
    if int(applied.get("landlock_abi") or 0) >= 4 and not spec.get("seccomp_notify"):  # else the host judges
        granted = {int(p) for p in policy["connect_ports"]}
        if granted and not policy.get("allow_udp"):
            granted.add(_confine.DNS_PORT)
        _tcp[0] = (bool(policy["connect_any_port"]), frozenset(granted), _confine.reserved_of(spec))
    sys.addaudithook(_audit_hook)
    # Bytecode of the (read-only) extension folder is cached in its own data folder: compiling the
    # source on every spawn costs milliseconds. A tampered cache can only change the extension itself.
    sys.pycache_prefix = str(Path(spec["policy"]["data_folder"]) / ".pycache")
    sys.dont_write_bytecode = False
    timings = applied["timings_ms"]
    timings["confined"] = round((time.perf_counter() - started) * 1000, 3)
    try:
        target = _load_entry(str(spec["entry"]), str(spec["policy"]["extension_folder"]), spec.get("init"))
    except BaseException as exc:  # noqa: BLE001 - a broken extension is reported, never run
        _framing.send_frame(sock, {"fatal": {"kind": "load", "type": type(exc).__name__, "message": str(exc)[:2000],
                                             "traceback": "".join(traceback.format_exception(exc, limit=8))[-4000:]}})
        return 71
    timings["prepare"] = round(prepared_ms or 0.0, 3)
    timings["loaded"] = round((time.perf_counter() - started) * 1000, 3)
    _framing.send_frame(sock, {"ready": True, "pid": os.getpid(), "applied": applied})
    _serve(sock, reader, target)
    return 0


def spare(spare_fd: int, zygote_pid: int, cgroup_procs: list[str]) -> int:
    """A pre-forked spare: prepare now, then wait for a spawn request (spec + worker socket) and run it."""
    try:
        prepared_ms = _confine.prepare(zygote_pid, cgroup_procs, [spare_fd])
    except _confine.ConfinementFailed:
        return 72
    channel = socket.socket(fileno=spare_fd)
    data, fds, _flags, _addr = socket.recv_fds(channel, 1 << 20, 2)
    channel.close()
    if not data or not 1 <= len(fds) <= 2:
        return 0
    spec = orjson.loads(data)
    spec["net_ruleset_fd"] = fds[1] if len(fds) == 2 else None
    return run(fds[0], spec, prepared_ms)
