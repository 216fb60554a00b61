"""The zygote process: import once, stay single-threaded, fork a confined worker per request.

Started by :class:`~symphony_actors.extension_host.sandbox.zygote.Zygote` as
``python -s -m symphony_actors.extension_host.sandbox._zygote_main FD [MODULE ...]``; ``FD`` is a
``SOCK_SEQPACKET`` control socket to the host. Requests: ``{"op": "spawn", "req", "spec"}`` with the
worker's end of its socketpair attached (SCM_RIGHTS). Events to the host: ``hello``, ``spawned``,
``spawn_failed`` and ``exit`` (pid, wait status, CPU seconds, peak RSS). When the host goes away
(EOF) the zygote kills every worker and exits.
"""

from __future__ import annotations

import base64
import importlib
import os
import select
import signal
import site
import socket
import sys
import sysconfig
from pathlib import Path
from typing import Any

import orjson

from symphony_actors.extension_host.sandbox import _confine, _landlock, _netguard, _seccomp, _worker_main

_MAX_MESSAGE = 1 << 20


def system_read_paths() -> list[str]:
    """What every worker may read: the interpreter, the stdlib, site-packages, shared libraries, this package."""
    paths: set[str] = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p:
            paths.add(p)
    paths.update(site.getsitepackages())
    paths.update(p for p in sys.path if p and "site-packages" in p and Path(p).is_dir())
    paths.add(str(Path(__file__).resolve().parents[2]))  # the symphony_actors package
    paths.add(os.path.realpath(sys.executable))
    paths.update(("/usr/lib", "/lib", "/lib64", "/usr/lib64", "/usr/local/lib", "/etc/ld.so.cache",
                  "/etc/localtime", "/usr/share/zoneinfo"))
    return sorted(p for p in paths if Path(p).exists())


def _thread_count() -> int:
    """Threads in this process: forking is only safe with one (a preload that starts a thread is refused)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 1


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.send(orjson.dumps(message))


def _shutdown(state: _State) -> None:
    """The host went away: kill every worker and wait for them (so their cgroups empty)."""
    _drop_spare(state)
    for pid in state.children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    for pid in state.children:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            continue


def _reap(sock: socket.socket, state: _State) -> None:
    while state.children:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            state.children.clear()
            return
        if pid == 0:
            return
        state.children.discard(pid)
        if state.spare is not None and state.spare[0] == pid:
            _drop_spare(state)
        _send(sock, {"op": "exit", "pid": pid, "status": status, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                     "max_rss_bytes": usage.ru_maxrss * 1024})


class _State:
    def __init__(self) -> None:
        self.children: set[int] = set()
        self.spare: tuple[int, socket.socket, list[str]] | None = None  # pid, channel, cgroups it joined
        self.programs: dict[_seccomp.SeccompSpec, str] = {}
        self.net_rulesets: dict[_netguard.Ranges, int] = {}  # reserved ranges -> prebuilt TCP ruleset fd


def _net_ruleset(state: _State, spec: dict[str, Any]) -> int | None:
    """The TCP layer a ``connect_any_port`` worker stacks: every port but the reserved ones (built once)."""
    if not spec["policy"].get("connect_any_port") or int(spec.get("landlock_abi", 0)) < 4:
        return None
    reserved = _confine.reserved_of(spec)
    fd = state.net_rulesets.get(reserved)
    if fd is None:
        fd = _landlock.connect_ruleset(_netguard.allowed_ranges(reserved))
        state.net_rulesets[reserved] = fd
    return fd


def _seccomp_program(state: _State, spec: dict[str, Any]) -> str | None:
    if not spec.get("seccomp"):
        return None
    variant = _confine.seccomp_spec(spec)
    program = state.programs.get(variant)
    if program is None:
        program = base64.b64encode(_seccomp.compile_filter(variant)).decode()
        state.programs[variant] = program
    return program


def _prefork(ctrl: socket.socket, msg: dict[str, Any], state: _State) -> None:
    _drop_spare(state)
    procs = [str(p) for p in msg.get("cgroup_procs", [])]
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    zygote_pid = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        ours.close()
        theirs.close()
        return
    if pid == 0:  # the spare: never return into the zygote loop
        code = 72
        try:
            ctrl.close()
            ours.close()
            code = _worker_main.spare(theirs.detach(), zygote_pid, procs)
        finally:
            os._exit(code)
    theirs.close()
    state.children.add(pid)
    state.spare = (pid, ours, procs)


def _drop_spare(state: _State) -> None:
    if state.spare is not None:
        state.spare[1].close()  # the spare reads EOF and exits
        state.spare = None


def _spawn(ctrl: socket.socket, msg: dict[str, Any], fds: list[int], state: _State) -> None:
    req = msg.get("req")
    if len(fds) != 1:
        for fd in fds:
            os.close(fd)
        _send(ctrl, {"op": "spawn_failed", "req": req, "message": "expected exactly one socket"})
        return
    spec = msg["spec"]
    spec["zygote_pid"] = os.getpid()
    try:
        spec["seccomp_bpf"] = _seccomp_program(state, spec)
        net_fd = _net_ruleset(state, spec)
    except OSError as exc:
        os.close(fds[0])
        _send(ctrl, {"op": "spawn_failed", "req": req, "message": f"seccomp/landlock: {exc}"})
        return
    spec["net_ruleset_fd"] = net_fd
    spare = state.spare
    if spare is not None and spare[2] == list(spec.get("cgroup_procs", [])):
        state.spare = None
        pid, channel, _ = spare
        try:
            socket.send_fds(channel, [orjson.dumps(spec)], [fds[0]] + ([net_fd] if net_fd is not None else []))
        except OSError:
            pass  # the spare died: fork a fresh worker below
        else:
            os.close(fds[0])
            _send(ctrl, {"op": "spawned", "req": req, "pid": pid, "spare": True})
            return
        finally:
            channel.close()
    try:
        pid = os.fork()
    except OSError as exc:
        os.close(fds[0])
        _send(ctrl, {"op": "spawn_failed", "req": req, "message": str(exc)})
        return
    if pid == 0:  # the worker: never return into the zygote loop
        code = 70
        try:
            ctrl.close()
            code = _worker_main.run(fds[0], spec)
        finally:
            os._exit(code)
    os.close(fds[0])
    state.children.add(pid)
    _send(ctrl, {"op": "spawned", "req": req, "pid": pid, "spare": False})


def main(argv: list[str]) -> int:
    ctrl = socket.socket(fileno=int(argv[0]))
    for name in argv[1:]:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported to the host, which refuses to start
            _send(ctrl, {"op": "failed", "message": f"preload {name!r}: {type(exc).__name__}: {exc}"})
            return 1
    _seccomp.available()  # load libseccomp now, not in every worker
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal ^C goes to the host, which closes us
    state = _State()
    _send(ctrl, {"op": "hello", "pid": os.getpid(), "system_read_paths": system_read_paths(),
                 "threads": _thread_count()})
    poller = select.poll()
    poller.register(ctrl.fileno(), select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    while True:
        try:
            events = poller.poll()
        except InterruptedError:
            continue
        for fd, _ in events:
            if fd == wake_r:
                while True:
                    try:
                        if not os.read(wake_r, 4096):
                            break
                    except BlockingIOError:
                        break
                _reap(ctrl, state)
                continue
            data, fds, _flags, _addr = socket.recv_fds(ctrl, _MAX_MESSAGE, 4)
            if not data:
                _shutdown(state)
                return 0
            msg = orjson.loads(data)
            if msg.get("op") == "spawn":
                _spawn(ctrl, msg, fds, state)
            elif msg.get("op") == "prefork":
                _prefork(ctrl, msg, state)
            elif msg.get("op") == "ping":
                _send(ctrl, {"op": "pong", "req": msg.get("req")})
            _reap(ctrl, state)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
