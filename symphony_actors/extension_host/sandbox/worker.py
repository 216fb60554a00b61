"""The host's handle on one confined worker process: call it, watch it, kill it, restart it.

Every way a worker can fail reaches the caller of the call in flight as a typed error:
``PermissionDenied`` (the worker reported a refused action), ``ExtensionFailed`` with
``details["reason"]`` one of ``crash``, ``timeout``, ``memory``, ``cpu``, ``syscall``
(the process is gone; :meth:`SandboxedWorker.restart` brings it back) or ``exception``
(the extension raised; the worker lives on).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import psutil

from symphony_actors.domain.errors import ExtensionFailed, InvalidTypeError, PermissionDenied, SandboxError
from symphony_actors.extension_host.sandbox import _framing, _netguard, _notify
from symphony_actors.extension_host.sandbox._cgroups import WorkerCgroup
from symphony_actors.extension_host.sandbox._levels import _Modes, guarantees_for
from symphony_actors.extension_host.sandbox.capabilities import Guarantees
from symphony_actors.extension_host.sandbox.policy import SandboxPolicy

if TYPE_CHECKING:
    from symphony_actors.extension_host.sandbox.zygote import Zygote

__all__ = ["SandboxedWorker", "WorkerStatus", "guarantees_for"]

State = Literal["starting", "ready", "busy", "dead"]
_AUDITED = {"memory": "resource.memory", "cpu": "resource.cpu", "timeout": "resource.time", "syscall": "syscall"}
_MAX_AUDIT_FRAMES_PER_CALL = 64
_CPU_BURST_SECONDS = 0.1  # duty cycling may run ahead of its share by at most this much CPU time
_HOST_AUDITS_PER_SECOND = 64  # past this, refusals are counted and summed up in one record per second


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """A snapshot of one worker for ``symphony ext info`` / ``symphony status``."""

    extension_id: str
    pid: int | None
    state: State
    calls: int
    restarts: int
    guarantees: Guarantees | None
    peak_memory_bytes: int | None
    cpu_seconds: float | None
    last_failure: dict[str, Any] | None


class SandboxedWorker:
    """One extension's worker; built by :meth:`Zygote.spawn`, never directly."""

    def __init__(self, zygote: Zygote, policy: SandboxPolicy, entry: str, modes: _Modes, init: Any = None) -> None:
        self.policy = policy
        self.entry = entry
        self.init = init
        self._zygote = zygote
        self._modes = modes
        self._lock = threading.Lock()  # one call at a time
        self._pidfd_lock = threading.Lock()
        self._ids = itertools.count(1)
        self.pid: int | None = None
        self.guarantees: Guarantees | None = None
        self.startup_timings_ms: dict[str, float] = {}  # inside the worker: confinement steps, load
        self._calls = 0
        self._restarts = -1
        self._last_failure: dict[str, Any] | None = None
        self._host_denied: set[tuple[str, str]] = set()  # (permission, target) the host recorded this call
        self._audit_window = (0.0, 0, 0)  # (window start, records written, records suppressed)
        self._reserved: _netguard.Ranges = ()  # TCP ports reserved at the last spawn
        self._reset()

    def _reset(self) -> None:
        self._state: State = "starting"
        self._sock: socket.socket | None = None
        self._reader: _framing.FrameReader | None = None
        self._pidfd: int | None = None
        self._reaped = False
        self._proc: psutil.Process | None = None
        self._cgroup: WorkerCgroup | None = None
        self._exited = threading.Event()
        self._exit: dict[str, Any] | None = None
        self._kill_reason: str | None = None
        self._kill_detail: dict[str, Any] = {}
        self._peak_sample = 0
        self._cpu_last: float | None = None
        self._cpu_clock = 0.0
        self._cpu_budget = 0.0
        self._stopped = False
        self._in_flight: str | None = None

    # ------------------------------------------------------------------ lifecycle (driven by the zygote)

    def _attach(self, sock: socket.socket, cgroup: WorkerCgroup | None) -> None:
        self._reset()
        self._sock = sock
        self._reader = _framing.FrameReader(sock)
        self._cgroup = cgroup
        self._restarts += 1

    def _spawned(self, pid: int) -> None:
        self.pid = pid
        with self._pidfd_lock:
            if self._reaped:  # the zygote already reported its exit: the pid may be reused
                return
            try:
                self._pidfd = os.pidfd_open(pid)
            except ProcessLookupError:
                return  # already gone: the exit report follows
        try:
            self._proc = psutil.Process(pid)
        except psutil.NoSuchProcess:
            self._proc = None

    def _await_ready(self, deadline: float) -> None:
        assert self._reader is not None
        fds: list[int] = []
        try:
            msg = self._reader.read(deadline, fds)
            if msg.get("notify") is True:
                self._take_listener(fds)
                msg = self._reader.read(deadline)
            elif self._zygote._notifier is not None and "fatal" not in msg:
                self._kill_for("crash", {"phase": "startup", "protocol_error": "expected the seccomp listener"})
                for fd in fds:
                    os.close(fd)
                raise self._failure("startup", wait=True)
        except _framing.FrameError as exc:
            if exc.kind == "timeout":
                self._kill_for("timeout", {"phase": "startup"})
            else:
                self._kill_for("crash", {"phase": "startup"})
            raise self._failure("startup", wait=True) from None
        if "fatal" in msg:
            fatal = msg["fatal"] if isinstance(msg["fatal"], dict) else {}
            self._kill_for("crash", {"phase": "startup"})
            self._exited.wait(5)
            self._last_failure = {"reason": "crash", "phase": "startup", **{k: str(v) for k, v in fatal.items()}}
            if fatal.get("kind") == "confinement":
                raise SandboxError(f"extension {self.policy.extension_id}: confinement failed: {fatal.get('message')}",
                                   extension=self.policy.extension_id, step=str(fatal.get("step")))
            raise ExtensionFailed(f"extension {self.policy.extension_id} failed to load {self.entry}: "
                                  f"{fatal.get('type')}: {fatal.get('message')}",
                                  extension=self.policy.extension_id, reason="crash", phase="load",
                                  error_type=str(fatal.get("type")), traceback=str(fatal.get("traceback", "")))
        if msg.get("ready") is not True:
            self._kill_for("crash", {"phase": "startup", "protocol_error": "expected the ready frame"})
            raise self._failure("startup", wait=True)
        # Levels come from what the host asked for, not from the worker's report: extension code has
        # run (its import) before that frame and could forge it. A failed step never gets that far.
        caps = self._zygote.capabilities
        self.guarantees = guarantees_for(self.policy, self._modes, {
            "landlock_abi": caps.landlock_abi, "seccomp_instructions": 1 if caps.seccomp else 0,
            "seccomp_notify": self._zygote._notifier is not None, "reserved_ports": [list(r) for r in self._reserved],
            "system_ports": sorted(self._zygote.system_ports)})
        applied = msg.get("applied") if isinstance(msg.get("applied"), dict) else {}
        timings = applied.get("timings_ms") if isinstance(applied, dict) else None
        self.startup_timings_ms = dict(timings) if isinstance(timings, dict) else {}
        self._state = "ready"

    def _take_listener(self, fds: list[int]) -> None:
        """The worker's first frame carries its seccomp listener: hand it to the zygote's notifier."""
        notifier = self._zygote._notifier
        good = [fd for fd in fds if _notify.is_listener(fd)]
        for fd in fds:
            if fd not in good[:1]:
                os.close(fd)
        if notifier is None or len(good) != 1 or len(fds) != 1:
            if good:
                os.close(good[0])
            self._kill_for("crash", {"phase": "startup", "protocol_error": "bad seccomp listener frame"})
            raise self._failure("startup", wait=True)
        notifier.add(good[0], self)

    def _reserve(self, ranges: list[list[int]]) -> list[list[int]]:
        """Remember the reserved ports this worker is spawned with (to judge its connects); returns them."""
        self._reserved = tuple((lo, hi) for lo, hi in ranges)
        return ranges

    def _tcp_refusal(self, port: int) -> str | None:
        """Why Landlock refuses this worker a TCP connect to ``port`` (None: allowed, or no TCP filter here)."""
        p = self.policy
        if self._zygote.capabilities.landlock_abi < 4:
            return None
        if _netguard.is_reserved(port, self._reserved):
            return "a port of the system (reserved whatever the grant)"
        dns = 53 if p.connect_ports and not p.allow_udp else None
        if not p.connect_any_port and port not in p.connect_ports and port != dns:
            return "port not granted"
        return None

    def _host_denial(self, denial: _notify.Denial) -> None:
        """A refused syscall the kernel handed to the host (notifier thread): one audit record, rate-limited."""
        self._host_denied.add((denial.permission, denial.target))
        now = time.monotonic()
        start, written, suppressed = self._audit_window
        audit = self._zygote.audit
        if now - start >= 1.0:
            if suppressed:
                audit.append(self.policy.extension_id, "audit.suppressed", f"{suppressed} more refusals",
                             decision="denied", source="host", pid=self.pid)
            start, written, suppressed = now, 0, 0
        if written >= _HOST_AUDITS_PER_SECOND:
            self._audit_window = (start, written, suppressed + 1)
            return
        self._audit_window = (start, written + 1, suppressed)
        extra = {"message": denial.message} if denial.message else {}
        audit.append(self.policy.extension_id, denial.permission, denial.target, decision="denied", source="host",
                     syscall=denial.syscall, method=self._in_flight, pid=denial.tid, **extra)

    def _on_exit(self, report: dict[str, Any]) -> None:
        """Called by the zygote reader thread when the zygote reaped this worker."""
        status = int(report.get("status", 0))
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        cgroup = self._cgroup
        oom = cgroup.oom_kills() if cgroup else 0
        peak = cgroup.peak_memory() if cgroup and self._modes.memory == "cgroup" else None
        if peak is None:  # the watchdog's last sample, or the kernel's peak RSS from wait4 if higher
            peak = max(self._peak_sample, int(report.get("max_rss_bytes", 0) or 0)) or None
        cpu_seconds = float(report.get("cpu_seconds", 0.0))
        if self.policy.allow_spawn and self.pid:
            # Children it left behind: the worker led its own session and process group, and its
            # cgroups list every descendant; a live group's id cannot be reused, so this hits only them.
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
            if cgroup:
                cgroup.kill_all()
        if cgroup:
            cgroup.remove()
        reason = self._kill_reason
        if reason is None:
            if sig == signal.SIGSYS:
                reason = "syscall"
            elif sig == signal.SIGKILL and oom > 0:
                reason = "memory"
            elif sig == signal.SIGXCPU or (
                    sig == signal.SIGKILL and self.policy.cpu_time_limit_seconds is not None
                    and cpu_seconds >= self.policy.cpu_time_limit_seconds):
                reason = "cpu"
            else:
                reason = "crash"
        self._exit = {"reason": reason, "signal": sig, "exit_code": code, "cpu_seconds": cpu_seconds,
                      "peak_memory_bytes": peak, "peak_rss_bytes": int(report.get("max_rss_bytes", 0) or 0) or None,
                      "method": self._in_flight, **self._kill_detail}
        if reason in _AUDITED:
            self._zygote.audit.append(self.policy.extension_id, _AUDITED[reason], _target(reason, self._exit,
                                                                                       self.policy),
                                      decision="killed", source="host", reason=reason, signal=sig, pid=self.pid)
        if reason != "killed":
            self._last_failure = dict(self._exit)
        self._state = "dead"
        self._zygote._watchdog.discard(self)
        with self._pidfd_lock:  # never signal through a descriptor number that may be reused
            self._reaped = True
            if self._pidfd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._pidfd)
                self._pidfd = None
        self._exited.set()

    # ------------------------------------------------------------------ the host-facing API

    def call(self, method: str, payload: Any = None, timeout: float | None = None) -> Any:
        """Call ``method(payload)`` in the worker; JSON values in and out.

        Raises ``PermissionDenied`` for a refused action, ``ExtensionFailed`` for everything else
        (``reason`` in details); a timeout kills the worker (SIGKILL).
        """
        call_id = next(self._ids)
        try:
            frame = _framing.encode({"id": call_id, "method": method, "payload": payload})
        except (TypeError, _framing.FrameError) as exc:  # orjson's encode error is a TypeError
            raise InvalidTypeError(f"the payload for {method} is not JSON-encodable or too large: {exc}",
                                   extension=self.policy.extension_id, method=method) from exc
        with self._lock:
            if self._state != "ready" or self._sock is None or self._reader is None:
                raise ExtensionFailed(f"extension {self.policy.extension_id} is not running",
                                      extension=self.policy.extension_id, reason="not_running",
                                      last_failure=self._last_failure)
            limit = self.policy.call_timeout_seconds if timeout is None else timeout
            self._in_flight = method
            self._host_denied = set()
            self._state = "busy"
            self._calls += 1
            try:
                try:
                    self._sock.sendall(frame)
                except OSError:
                    raise self._failure(method, wait=True) from None
                deadline = time.monotonic() + limit
                audits = 0
                while True:
                    try:
                        msg = self._reader.read(deadline)
                    except _framing.FrameError as exc:
                        if exc.kind == "timeout":
                            self._kill_for("timeout", {"timeout_seconds": limit})
                        elif exc.kind == "protocol":
                            self._kill_for("crash", {"protocol_error": str(exc)})
                        raise self._failure(method, wait=True) from None
                    if "audit" in msg:
                        audits += 1
                        if audits <= _MAX_AUDIT_FRAMES_PER_CALL:
                            self._audit_from_worker(msg["audit"])
                        continue
                    if msg.get("id") != call_id:
                        continue
                    return self._result(method, msg)
            finally:
                self._in_flight = None
                if self._state == "busy":
                    self._state = "ready"

    def kill(self) -> None:
        """SIGKILL the worker (by pidfd: no pid-reuse race) and wait until the zygote reaped it."""
        if self._state == "dead":
            return
        self._kill_for("killed", {})
        self._exited.wait(5)

    def restart(self) -> None:
        """Kill the worker if it still runs and start a fresh one with the same policy and entry."""
        with self._lock:
            self.kill()
            self._close_socket()
            self._zygote._start(self)

    def status(self) -> WorkerStatus:
        cpu: float | None = None
        if self._state != "dead" and self._proc is not None:
            with contextlib.suppress(psutil.Error):
                times = self._proc.cpu_times()
                cpu = times.user + times.system
        elif self._exit is not None:
            cpu = self._exit.get("cpu_seconds")
        peak = self._exit.get("peak_memory_bytes") if self._exit else None
        if peak is None and self._cgroup is not None and self._modes.memory == "cgroup":
            peak = self._cgroup.peak_memory()
        if peak is None and self._peak_sample:
            peak = self._peak_sample
        return WorkerStatus(self.policy.extension_id, self.pid, self._state, self._calls, max(0, self._restarts),
                            self.guarantees, peak, cpu, self._last_failure)

    @property
    def alive(self) -> bool:
        return self._state in ("ready", "busy")

    # ------------------------------------------------------------------ internals

    def _result(self, method: str, msg: dict[str, Any]) -> Any:
        if "ok" in msg:
            return msg["ok"]
        error = msg.get("error") if isinstance(msg.get("error"), dict) else {}
        assert isinstance(error, dict)
        kind = error.get("kind")
        ext = self.policy.extension_id
        if kind == "permission":
            raise PermissionDenied(f"extension {ext} was refused {error.get('permission')} on {error.get('target')}",
                                   extension=ext, permission=str(error.get("permission")),
                                   target=str(error.get("target")), method=method)
        if kind == "memory":
            self._kill_for("memory", {"detail": "MemoryError at the data rlimit"})
            raise self._failure(method, wait=True)
        raise ExtensionFailed(f"extension {ext}.{method} raised {error.get('type', kind)}: {error.get('message')}",
                              extension=ext, reason="exception", method=method,
                              error_type=str(error.get("type", kind)), traceback=str(error.get("traceback", "")))

    def _audit_from_worker(self, report: object) -> None:
        if not isinstance(report, dict):
            return
        permission = str(report.get("permission", "unknown"))[:64]
        target = str(report.get("target", ""))[:1024]
        if (permission, target) in self._host_denied:
            return  # the host already recorded this refusal from the kernel's own report
        self._zygote.audit.append(self.policy.extension_id, permission, target, decision="denied", source="worker",
                                  method=self._in_flight, pid=self.pid)

    def _kill_for(self, reason: str, detail: dict[str, Any]) -> None:
        if self._kill_reason is None:
            self._kill_reason = reason
            self._kill_detail = detail
        self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> bool:
        """Signal the worker through its pidfd (no pid-reuse race); False if it is gone."""
        with self._pidfd_lock:
            if self._pidfd is None:
                return False
            try:
                signal.pidfd_send_signal(self._pidfd, sig)
            except OSError:
                return False
            return True

    def _failure(self, method: str, wait: bool) -> ExtensionFailed:
        if wait and not self._exited.wait(5):
            self._kill_for("crash", {})
            self._exited.wait(5)
        info = dict(self._exit or {"reason": "crash"})
        info["method"] = method
        reason = info.get("reason", "crash")
        ext = self.policy.extension_id
        what = {"timeout": "timed out", "memory": "exceeded its memory limit", "cpu": "exceeded its CPU limit",
                "syscall": "made a forbidden system call", "crash": "crashed", "killed": "was killed"}
        how = f" (signal {info['signal']})" if info.get("signal") else (
            f" (exit code {info['exit_code']})" if info.get("exit_code") is not None else "")
        self._close_socket()
        return ExtensionFailed(f"extension {ext} {what.get(str(reason), 'failed')} during {method}{how}",
                               extension=ext, **info)

    def _close_socket(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock = None
        self._reader = None

    def _watch_tick(self, now: float) -> None:
        """One watchdog sample (host thread, every 10 ms): memory cap and CPU duty cycle."""
        proc = self._proc
        if proc is None or self._state == "dead" or self._kill_reason is not None:
            return
        try:
            limit = self.policy.memory_limit_bytes
            if self._modes.memory == "watchdog" and limit is not None:
                rss = int(proc.memory_info().rss)
                self._peak_sample = max(self._peak_sample, rss)
                if rss > limit:
                    self._kill_for("memory", {"sampled_rss_bytes": rss})
                    return
            share = self.policy.cpu_share
            if self._modes.cpu == "duty" and share is not None and self._pidfd is not None:
                times = proc.cpu_times()
                used = times.user + times.system
                if self._cpu_last is None:
                    self._cpu_last, self._cpu_clock = used, now
                    return
                # token bucket: earn share*dt, pay what was used; stop while in debt
                self._cpu_budget += share * (now - self._cpu_clock) - (used - self._cpu_last)
                self._cpu_budget = min(self._cpu_budget, share * _CPU_BURST_SECONDS)
                self._cpu_last, self._cpu_clock = used, now
                if not self._stopped and self._cpu_budget < 0:
                    self._stopped = self._signal(signal.SIGSTOP)
                elif self._stopped and self._cpu_budget >= 0:
                    self._stopped = not self._signal(signal.SIGCONT)
        except (psutil.Error, OSError):
            return  # gone: the zygote's exit report settles it

    def __repr__(self) -> str:
        return f"<SandboxedWorker {self.policy.extension_id} pid={self.pid} {self._state}>"


def _target(reason: str, info: dict[str, Any], policy: SandboxPolicy) -> str:
    if reason == "memory":
        return f"{info.get('peak_memory_bytes')} bytes (limit {policy.memory_limit_bytes})"
    if reason == "timeout":
        return f"{info.get('method')} after {info.get('timeout_seconds', policy.call_timeout_seconds)} s"
    if reason == "cpu":
        return f"{info.get('cpu_seconds'):.1f} CPU s (limit {policy.cpu_time_limit_seconds})"
    return f"signal {info.get('signal')}"
