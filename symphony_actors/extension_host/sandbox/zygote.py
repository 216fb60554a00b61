"""The host side of the zygote: start it once, ask it for confined workers, watch them.

One :class:`Zygote` per host process is enough; it owns two threads (the control-socket reader
that learns of worker exits, and the 10 ms watchdog that runs only while some worker needs
best-effort memory or CPU limits) and, where cgroup v1 controllers are writable, a cgroup
directory under the host's own.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

from symphony_actors.domain.errors import SandboxError
from symphony_actors.extension_host.sandbox import _cgroups, _netguard
from symphony_actors.extension_host.sandbox._framing import encode
from symphony_actors.extension_host.sandbox._levels import _Modes
from symphony_actors.extension_host.sandbox._notify import Denial, Notifier
from symphony_actors.extension_host.sandbox.audit import AuditLog
from symphony_actors.extension_host.sandbox.capabilities import HostCapabilities, probe
from symphony_actors.extension_host.sandbox.policy import SandboxPolicy
from symphony_actors.extension_host.sandbox.worker import SandboxedWorker

__all__ = ["DEFAULT_PRELOAD", "Zygote"]

#: Imported once in the zygote so workers start warm (measured: see docs/perf-notes/sandbox.md).
DEFAULT_PRELOAD: tuple[str, ...] = (
    "json", "re", "dataclasses", "typing", "pathlib", "collections", "functools", "itertools", "math",
    "random", "datetime", "enum", "base64", "hashlib", "uuid", "decimal", "textwrap", "string", "struct",
    "importlib.util", "traceback", "subprocess", "threading", "logging", "tempfile", "shutil", "glob", "fnmatch",
    "copy", "csv", "io", "urllib.parse", "asyncio",
)
_NET_READ_PATHS = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/gai.conf", "/etc/services",
                   "/etc/protocols", "/etc/ssl", "/usr/share/ca-certificates", "/etc/ca-certificates")
_PACKAGE_ROOT = Path(__file__).resolve().parents[3]
_instances = itertools.count(1)


def _granted_env(names: Sequence[str]) -> dict[str, str]:
    """The host's values for the granted names (``PREFIX_*`` grants every name with that prefix)."""
    exact = {n for n in names if not n.endswith("*")}
    prefixes = tuple(n[:-1] for n in names if n.endswith("*"))
    return {k: v for k, v in os.environ.items() if k in exact or (prefixes and k.startswith(prefixes))}


class _Watchdog:
    """A host thread sampling watched workers every ``period`` seconds (psutil, ~30 us a sample)."""

    def __init__(self, period: float) -> None:
        self.period = period
        self._workers: set[SandboxedWorker] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None

    def add(self, worker: SandboxedWorker) -> None:
        with self._lock:
            self._workers.add(worker)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sandbox-watchdog", daemon=True)
                self._thread.start()
        self._wake.set()

    def discard(self, worker: SandboxedWorker) -> None:
        with self._lock:
            self._workers.discard(worker)

    def stop(self) -> None:
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(2)

    def _run(self) -> None:
        next_tick = time.monotonic()
        while not self._stop:
            with self._lock:
                workers = list(self._workers)
            if not workers:
                self._wake.wait()
                self._wake.clear()
                next_tick = time.monotonic()
                continue
            now = time.monotonic()
            for w in workers:
                w._watch_tick(now)
            next_tick += self.period
            delay = next_tick - time.monotonic()
            if delay < 0:  # fell behind (a loaded machine): do not burst to catch up
                next_tick = time.monotonic()
                delay = 0
            self._wake.wait(delay)
            self._wake.clear()


class Zygote:
    """A warm, single-threaded process that forks confined workers on request.

    ``audit_log`` is the JSONL file where every refused action and every kill is appended.
    ``stderr`` (a file descriptor or file) receives the zygote's and the workers' stdout and stderr
    (default: the host's stderr).
    ``allow_unconfined`` lets untrusted extensions run on a host without Landlock (refused
    otherwise). ``use_cgroups=False`` forces the watchdog and duty cycling (what a non-root host
    without a delegated cgroup gets). ``capabilities`` overrides the host probe (tests).
    ``system_ports`` are the TCP ports the system itself listens on (the Thespian admin port, the
    gateway's): with the kernel's ephemeral range (where actors listen) they are *reserved*, and no
    worker connects to them whatever its grants (see ``_netguard``).
    """

    def __init__(self, audit_log: Path | str | AuditLog, *, allow_unconfined: bool = False,
                 use_cgroups: bool = True, capabilities: HostCapabilities | None = None,
                 preload: Sequence[str] = DEFAULT_PRELOAD, stderr: int | IO[Any] | None = None,
                 watchdog_period: float = 0.010, system_ports: Iterable[int] = ()) -> None:
        self.system_ports = frozenset(int(p) for p in system_ports)
        self.audit = audit_log if isinstance(audit_log, AuditLog) else AuditLog(audit_log)
        self.allow_unconfined = allow_unconfined
        self.capabilities = capabilities if capabilities is not None else probe()
        self._use_cgroups = use_cgroups
        self._preload = tuple(preload)
        self._stderr = stderr
        self._watchdog = _Watchdog(watchdog_period)
        caps = self.capabilities
        self._notifier = Notifier(self._denied, self._tcp_refusal) if caps.seccomp and caps.seccomp_notify else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._ctrl: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._spawn_lock = threading.Lock()
        self._reqs = itertools.count(1)
        self._pending: dict[int, tuple[threading.Event, SandboxedWorker, list[dict[str, Any]]]] = {}
        self._by_pid: dict[int, SandboxedWorker] = {}
        self._workers: list[SandboxedWorker] = []
        self._hello = threading.Event()
        self._system_paths: list[str] = []
        self._zygote_threads = 1
        self._start_error: str | None = None
        self._reader: threading.Thread | None = None
        self._cgroups: _cgroups.CgroupRoot | None = None
        self._spare: _cgroups.WorkerCgroup | None = None  # the cgroup the spare worker joined
        self._spare_forked = False
        self._closed = False
        self.zygote_pid: int | None = None

    # ------------------------------------------------------------------ start / stop

    def start(self, timeout: float = 30.0) -> Zygote:
        """Start the zygote process and wait for its hello (imports done)."""
        if self._proc is not None:
            return self
        host_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(_PACKAGE_ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
        for name in ("LANG", "LC_ALL", "TZ"):
            if name in os.environ:
                env[name] = os.environ[name]
        cmd = [sys.executable, "-s", "-m", "symphony_actors.extension_host.sandbox._zygote_main",
               str(zygote_end.fileno()), *self._preload]
        # Workers inherit the zygote's stdout: point it at stderr so an extension's print() can never
        # corrupt a host that speaks a protocol on its own stdout.
        err = self._stderr if self._stderr is not None else 2
        self._proc = subprocess.Popen(cmd, pass_fds=[zygote_end.fileno()], stdin=subprocess.DEVNULL,
                                      stdout=err, stderr=err, env=env, close_fds=True)
        zygote_end.close()
        self._ctrl = host_end
        self.zygote_pid = self._proc.pid
        self._reader = threading.Thread(target=self._read_loop, name="sandbox-zygote-reader", daemon=True)
        self._reader.start()
        if not self._hello.wait(timeout):
            self.close()
            raise SandboxError("the sandbox zygote did not start", timeout=timeout)
        if self._start_error is not None:
            self.close()
            raise SandboxError(f"the sandbox zygote could not start: {self._start_error}",
                               preload=list(self._preload))
        if self._zygote_threads != 1:
            self.close()
            raise SandboxError(f"the zygote has {self._zygote_threads} threads after its preloads; forking it "
                               "is only safe single-threaded (remove the module that starts a thread)",
                               preload=list(self._preload))
        if self._use_cgroups:
            root = _cgroups.find_root(f"symphony-sandbox-{os.getpid()}-{next(_instances)}")
            self._cgroups = root if root.dirs else None
        self._replenish()
        return self

    def _replenish(self) -> None:
        """Have the zygote pre-fork a spare worker (fork, session, cgroup join) off the spawn path."""
        if self._spare_forked or self._ctrl is None or self._closed:
            return
        spare = None
        if self._cgroups is not None:
            try:
                spare = self._cgroups.create()
            except OSError:
                return  # spawns fall back to forking and joining on their own path
        try:
            with self._send_lock:
                self._ctrl.send(orjson.dumps({"op": "prefork",
                                              "cgroup_procs": spare.procs_files if spare else []}))
        except OSError:
            if spare is not None:
                spare.remove()
            return
        self._spare, self._spare_forked = spare, True

    def close(self) -> None:
        """Kill every worker (by pid), stop the zygote (by pid) and remove the cgroup directories."""
        if self._closed:
            return
        zygote_died = self._proc is not None and self._proc.poll() is not None
        self._closed = True
        for w in list(self._workers):
            w._kill_for("killed", {})
        for w in list(self._workers):
            w._exited.wait(2)
            w._close_socket()
        self._watchdog.stop()
        if self._notifier is not None:
            self._notifier.close()
        if self._ctrl is not None:
            with contextlib.suppress(OSError):
                self._ctrl.shutdown(socket.SHUT_RDWR)
            self._ctrl.close()
        if self._proc is not None:
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        if self._reader is not None:
            self._reader.join(2)
        # A worker or spare orphaned by a dead zygote is reaped by init (~1 s measured here) before
        # its cgroup can go; what still fails is collected by the next host's find_root.
        for cgroup in [w._cgroup for w in self._workers] + [self._spare]:
            if cgroup is not None:
                cgroup.remove(wait=5.0 if zygote_died else 2.0)
        if self._cgroups is not None:
            self._cgroups.remove()

    def __enter__(self) -> Zygote:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        """Whether the zygote process still runs (if not, close it and start a new one)."""
        return self._proc is not None and self._proc.poll() is None and not self._closed

    @property
    def workers(self) -> list[SandboxedWorker]:
        return list(self._workers)

    # ------------------------------------------------------------------ spawning

    def spawn(self, policy: SandboxPolicy, entry: str, *, init: Any = None,
              startup_timeout: float = 10.0) -> SandboxedWorker:
        """Fork a worker confined by ``policy`` and load ``entry`` ("module:attr") in it.

        ``module`` is imported from the extension folder (or is a ``symphony_actors`` adapter module).
        ``attr`` may be a class (instantiated once, with ``init`` if given: any JSON value), a factory
        (called with ``init`` if given) or any object; calls go to its public methods.
        Raises ``SandboxError`` when the host cannot confine an untrusted extension or confinement
        fails, ``ExtensionFailed`` when the extension does not load.
        """
        if not isinstance(policy, SandboxPolicy):
            raise SandboxError("spawn needs a SandboxPolicy")
        if self._proc is None:
            self.start()
        module, sep, attr = entry.partition(":")
        if not sep or not module or not attr:
            raise SandboxError(f"entry must look like 'module:attr', got {entry!r}", entry=entry)
        caps = self.capabilities
        if not caps.can_confine and not (policy.trusted or self.allow_unconfined):
            raise SandboxError(
                f"this host cannot confine extension {policy.extension_id} (no Landlock); refusing untrusted code. "
                "Start the host with allow_unconfined=True to run it anyway.", extension=policy.extension_id,
                landlock_abi=caps.landlock_abi)
        if not policy.extension_folder.is_dir():
            raise SandboxError(f"extension folder {policy.extension_folder} does not exist",
                               extension=policy.extension_id)
        policy.data_folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        cg = self._cgroups.dirs if self._cgroups is not None else {}
        modes = _Modes(
            memory=None if policy.memory_limit_bytes is None else "cgroup" if "memory" in cg else "watchdog",
            cpu=None if policy.cpu_share is None else "cgroup" if "cpu" in cg else "duty",
            pids=policy.allow_spawn and "pids" in cg, root=caps.root)
        worker = SandboxedWorker(self, policy, entry, modes, init)
        self._start(worker, startup_timeout)
        self._workers.append(worker)
        return worker

    def _send_spawn(self, worker: SandboxedWorker) -> tuple[int, threading.Event, list[dict[str, Any]],
                                                            _cgroups.WorkerCgroup | None]:
        assert self._ctrl is not None
        policy, modes = worker.policy, worker._modes
        cgroup = None
        if self._cgroups is not None:
            try:
                cgroup, self._spare = self._spare or self._cgroups.create(), None
                cgroup.set_limits(policy.memory_limit_bytes if modes.memory == "cgroup" else None,
                                  policy.cpu_share if modes.cpu == "cgroup" else None,
                                  policy.max_processes if modes.pids else None)
            except OSError as exc:
                if cgroup is not None:
                    cgroup.remove()
                raise SandboxError(f"cannot set up cgroups for {policy.extension_id}: {exc}",
                                   extension=policy.extension_id) from exc
        self._spare_forked = False  # the zygote hands this request to its spare, if it has one
        host_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        worker._attach(host_end, cgroup)
        # Granted environment values go to the worker directly (first frame), not through the zygote.
        host_end.sendall(encode({"env": _granted_env(policy.env_names)}))
        read_paths = list(self._system_paths)
        if policy.net_granted:
            read_paths += [p for p in _NET_READ_PATHS if Path(p).exists()]
        host_pgid = os.getpgid(0)
        spec = {
            "policy": policy.to_wire(), "entry": worker.entry, "init": worker.init,
            "landlock_abi": self.capabilities.landlock_abi, "seccomp": self.capabilities.seccomp,
            "seccomp_notify": self._notifier is not None, "reserved_ports": worker._reserve(self.reserved_ports()),
            "system_read_paths": read_paths,
            "protected_pids": sorted({os.getpid(), host_pgid, self.zygote_pid or 0} - {0}),
            # RLIMIT_DATA backs the RSS watchdog: an allocation far past the limit fails at once.
            "rlimit_data": int(policy.memory_limit_bytes * 1.05)
            if modes.memory == "watchdog" and policy.memory_limit_bytes else None,
            "cgroup_procs": cgroup.procs_files if cgroup else [],
        }
        req = next(self._reqs)
        done = threading.Event()
        box: list[dict[str, Any]] = []
        self._pending[req] = (done, worker, box)
        try:
            with self._send_lock:
                socket.send_fds(self._ctrl, [orjson.dumps({"op": "spawn", "req": req, "spec": spec})],
                                [worker_end.fileno()])
        except OSError as exc:
            self._pending.pop(req, None)
            if cgroup is not None:
                cgroup.remove(wait=2.0)
            raise SandboxError(f"the zygote is gone: {exc}") from exc
        finally:
            worker_end.close()
        return req, done, box, cgroup

    def _start(self, worker: SandboxedWorker, startup_timeout: float = 10.0) -> None:
        if self._ctrl is None or self._closed:
            raise SandboxError("the zygote is not running")
        policy, modes = worker.policy, worker._modes
        deadline = time.monotonic() + startup_timeout
        with self._spawn_lock:  # the spare is one shared resource
            req, done, box, cgroup = self._send_spawn(worker)
        if not done.wait(max(0.0, deadline - time.monotonic())) or not box or box[0].get("op") != "spawned":
            self._pending.pop(req, None)
            message = box[0].get("message") if box else "no answer"
            if cgroup is not None:
                cgroup.remove()
            raise SandboxError(f"the zygote could not fork a worker for {policy.extension_id}: {message}",
                               extension=policy.extension_id)
        worker._spawned(int(box[0]["pid"]))
        if modes.memory == "watchdog" or modes.cpu == "duty":
            self._watchdog.add(worker)
        try:
            worker._await_ready(deadline)
        finally:
            with self._spawn_lock:  # the next spare is forked after this worker is up, not competing with it
                self._replenish()

    def reserved_ports(self) -> list[list[int]]:
        """Inclusive port ranges no worker may connect to: ``system_ports`` and the kernel's ephemeral range."""
        return [[low, high] for low, high in _netguard.reserved_ranges(self.system_ports)]

    def _tcp_refusal(self, owner: object, port: int) -> str | None:
        """Why a worker's TCP connect to ``port`` is refused (notifier thread), None if it may go on."""
        return owner._tcp_refusal(port) if isinstance(owner, SandboxedWorker) else None

    def _denied(self, owner: object, denial: Denial) -> None:
        """A syscall the kernel refused and handed to the host (notifier thread): audit it."""
        if isinstance(owner, SandboxedWorker):
            owner._host_denial(denial)

    # ------------------------------------------------------------------ the control-socket reader

    def _read_loop(self) -> None:
        ctrl = self._ctrl
        assert ctrl is not None
        while True:
            try:
                data = ctrl.recv(1 << 20)
            except OSError:
                data = b""
            if not data:
                break
            try:
                msg = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue
            op = msg.get("op")
            if op == "failed":
                self._start_error = str(msg.get("message", "failed"))
                self._hello.set()
            elif op == "hello":
                self._system_paths = [str(p) for p in msg.get("system_read_paths", [])]
                self._zygote_threads = int(msg.get("threads", 1))
                self._hello.set()
            elif op in ("spawned", "spawn_failed"):
                pending = self._pending.pop(int(msg.get("req", 0)), None)
                if pending is not None:
                    done, worker, box = pending
                    if op == "spawned":
                        self._by_pid[int(msg["pid"])] = worker
                        worker.pid = int(msg["pid"])
                    box.append(msg)
                    done.set()
            elif op == "exit":
                exited = self._by_pid.pop(int(msg.get("pid", 0)), None)
                if exited is not None:
                    exited._on_exit(msg)
        # The zygote is gone: its workers died with it (PDEATHSIG).
        for pid, worker in list(self._by_pid.items()):
            del self._by_pid[pid]
            worker._on_exit({"status": 9, "cpu_seconds": 0.0})
        for done, _worker, _box in list(self._pending.values()):
            done.set()
