"""Confinement applied inside a freshly forked worker, before any extension code is imported.

Order matters: join cgroups and set rlimits while still privileged, drop capabilities, set
no-new-privs, then Landlock, then seccomp (which forbids what the earlier steps needed).
Everything here runs in a single-threaded child of the zygote.
"""

from __future__ import annotations

import base64
import ctypes
import errno
import math
import os
import resource
import signal
import time
from pathlib import Path
from typing import Any

from symphony_actors.extension_host.sandbox import _landlock, _netguard, _seccomp

__all__ = ["ConfinementFailed", "confine"]

_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_PR_SET_PDEATHSIG = 1
_PR_CAPBSET_DROP = 24
_PR_SET_SECUREBITS = 28
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_SECUREBITS_LOCKED_NOROOT = 0xEF  # NOROOT, NO_SETUID_FIXUP, NO_CAP_AMBIENT_RAISE (+ locks), KEEP_CAPS_LOCKED
_CAP_VERSION_3 = 0x20080522
DNS_PORT = 53  # with a network grant, names resolve over TCP (RES_OPTIONS=use-vc): UDP is refused


class ConfinementFailed(Exception):
    """A confinement step failed; the worker must not run extension code."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _prctl_call(option: int, arg: int = 0) -> int:
    rc = int(_prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)))
    return rc if rc >= 0 else -ctypes.get_errno()


def set_pdeathsig(expected_parent: int) -> None:
    """Die with SIGKILL when the zygote dies; exit now if it already has."""
    _prctl_call(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != expected_parent:
        os._exit(0)


def _drop_capabilities() -> bool:
    """Drop every capability (root keeps uid 0 but no privilege); True if any were held."""
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    _libc.capget(ctypes.byref(header), data)
    held = any(d.effective or d.permitted for d in data)
    if held:
        _prctl_call(_PR_SET_SECUREBITS, _SECUREBITS_LOCKED_NOROOT)
        for cap in range(64):
            if _prctl_call(_PR_CAPBSET_DROP, cap) == -errno.EINVAL:
                break
    rc = int(_prctl(_PR_CAP_AMBIENT, ctypes.c_ulong(_PR_CAP_AMBIENT_CLEAR_ALL), ctypes.c_ulong(0),
                    ctypes.c_ulong(0), ctypes.c_ulong(0)))
    del rc  # fails with EINVAL on kernels without ambient caps; nothing to clear then
    empty = (_CapData * 2)()
    if _libc.capset(ctypes.byref(_CapHeader(_CAP_VERSION_3, 0)), empty) != 0:
        raise ConfinementFailed("capabilities", os.strerror(ctypes.get_errno()))
    return held


def _user_process_count(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += 1
            except OSError:
                continue
    return count


def _set_rlimits(spec: dict[str, Any], policy: dict[str, Any]) -> None:
    limits: list[tuple[int, int]] = [
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NOFILE, int(policy["max_open_files"])),
        (resource.RLIMIT_FSIZE, int(policy["max_file_size_bytes"])),
    ]
    if spec.get("rlimit_data"):
        limits.append((resource.RLIMIT_DATA, int(spec["rlimit_data"])))
    if policy["allow_spawn"] and os.getuid() != 0:
        # RLIMIT_NPROC counts every process of the real uid, so the cap is "current + allowed".
        limits.append((resource.RLIMIT_NPROC, _user_process_count(os.getuid()) + int(policy["max_processes"])))
    for which, value in limits:
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError) as exc:
            raise ConfinementFailed("rlimits", f"{which}: {exc}") from exc
    if policy.get("cpu_time_limit_seconds"):
        soft = math.ceil(float(policy["cpu_time_limit_seconds"]))
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))


def _landlock_rules(spec: dict[str, Any], policy: dict[str, Any]) -> _landlock.LandlockRules:
    rules = _landlock.LandlockRules(int(spec["landlock_abi"]))
    execute = _landlock.EXECUTE if policy["allow_spawn"] else 0
    read = _landlock.READ | execute
    rules.allow(spec["system_read_paths"], read)
    rules.allow([policy["extension_folder"], *policy["read_paths"]], read)
    rules.allow([policy["data_folder"], *policy["write_paths"]], read | _landlock.WRITE)
    rules.allow(["/dev/null"], _landlock.READ_FILE | _landlock.WRITE_FILE)
    rules.allow(["/dev/urandom", "/dev/random"], _landlock.READ_FILE)
    if policy["connect_any_port"]:
        rules.restrict_tcp_connect = False  # the zygote's prebuilt layer (every port but the reserved) does it
    reserved = reserved_of(spec)
    rules.connect_ports = {p for p in policy["connect_ports"] if not _netguard.is_reserved(p, reserved)}
    if policy["connect_ports"] and not policy.get("allow_udp") and not _netguard.is_reserved(DNS_PORT, reserved):
        rules.connect_ports.add(DNS_PORT)
    rules.bind_ports = set(policy["bind_ports"])
    return rules


def reserved_of(spec: dict[str, Any]) -> _netguard.Ranges:
    """The reserved port ranges the host sent (the system's ports and the ephemeral range)."""
    return tuple((int(lo), int(hi)) for lo, hi in spec.get("reserved_ports") or ())


def seccomp_spec(spec: dict[str, Any]) -> _seccomp.SeccompSpec:
    """The seccomp variant a spawn request needs (the zygote caches one compiled program per variant)."""
    policy = spec["policy"]
    return _seccomp.SeccompSpec(allow_spawn=bool(policy["allow_spawn"]),
                                allow_inet=bool(policy["connect_ports"] or policy["bind_ports"]
                                                or policy["connect_any_port"] or policy.get("allow_udp")),
                                protected_pids=tuple(sorted(int(p) for p in spec["protected_pids"])),
                                allow_metadata=bool(policy.get("allow_metadata")),
                                allow_udp=bool(policy.get("allow_udp")),
                                notify=bool(spec.get("seccomp_notify")))


def prepare(zygote_pid: int, cgroup_procs: list[str], keep_fds: list[int]) -> float:
    """The policy-independent first steps: own session, PDEATHSIG, cgroups, signals, fds.

    A pre-forked spare worker runs these ahead of time: joining a cgroup v1 waits for an RCU grace
    period (0.5-20 ms measured here), too slow for the spawn path. Returns the milliseconds spent.
    """
    t0 = time.perf_counter()
    os.setsid()  # own process group: kill(0, ...) cannot reach the zygote or the host
    set_pdeathsig(zygote_pid)
    for procs in cgroup_procs:
        try:
            Path(procs).write_text(str(os.getpid()))
        except OSError as exc:
            raise ConfinementFailed("cgroups", f"{procs}: {exc}") from exc
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.close(null)
    low = 3
    for fd in sorted(keep_fds):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 20)
    return (time.perf_counter() - t0) * 1000


def confine(spec: dict[str, Any]) -> dict[str, Any]:
    """Apply the policy in ``spec`` to this (prepared) process; returns what was applied (for guarantee levels)."""
    policy = spec["policy"]
    applied: dict[str, Any] = {"cgroups": list(spec.get("cgroup_procs", [])), "landlock_abi": 0,
                               "seccomp_instructions": 0, "capabilities_dropped": False}
    marks: dict[str, float] = {}
    applied["timings_ms"] = marks
    t0 = time.perf_counter()

    def mark(step: str) -> None:
        marks[step] = round((time.perf_counter() - t0) * 1000, 3)

    data = Path(policy["data_folder"])
    (data / "tmp").mkdir(parents=True, exist_ok=True)
    os.environ.clear()
    os.environ.update({k: str(v) for k, v in spec.get("env", {}).items()})
    os.environ.update({"HOME": str(data), "TMPDIR": str(data / "tmp")})
    if (policy["connect_ports"] or policy["connect_any_port"]) and not policy.get("allow_udp"):
        os.environ["RES_OPTIONS"] = "use-vc"  # glibc's resolver over TCP: internet sockets are TCP only
    mark("env")
    _set_rlimits(spec, policy)
    applied["capabilities_dropped"] = _drop_capabilities()
    if _prctl_call(_PR_SET_NO_NEW_PRIVS, 1) != 0:
        raise ConfinementFailed("no_new_privs", os.strerror(ctypes.get_errno()))
    mark("rlimits_caps")
    if int(spec["landlock_abi"]) > 0:
        rules = _landlock_rules(spec, policy)
        try:
            _landlock.restrict(rules)
        except OSError as exc:
            raise ConfinementFailed("landlock", str(exc)) from exc
        applied["landlock_abi"] = rules.abi
        applied["landlock_skipped"] = rules.skipped
        if policy["connect_any_port"] and rules.abi >= 4:
            _stack_net_layer(spec)
    mark("landlock")
    if spec.get("seccomp"):
        try:
            program = base64.b64decode(spec["seccomp_bpf"]) if spec.get("seccomp_bpf") else \
                _seccomp.compile_filter(seccomp_spec(spec))
            applied["seccomp_instructions"], applied["notify_fd"] = _seccomp.load_program(
                program, listener=bool(spec.get("seccomp_notify")))
        except (OSError, ValueError) as exc:
            raise ConfinementFailed("seccomp", str(exc)) from exc
    mark("seccomp")
    os.chdir(data)
    return applied


def _stack_net_layer(spec: dict[str, Any]) -> None:
    """``connect_any_port``: stack the zygote's prebuilt "every port but the reserved ones" ruleset."""
    fd = spec.get("net_ruleset_fd")
    if not isinstance(fd, int):
        raise ConfinementFailed("landlock", "no prebuilt TCP ruleset for connect_any_port")
    try:
        _landlock.restrict_with(fd)
    except OSError as exc:
        raise ConfinementFailed("landlock", str(exc)) from exc
    finally:
        os.close(fd)
