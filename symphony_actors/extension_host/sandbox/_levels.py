"""The guarantee level per dimension one worker gets, from its policy, the host-side modes and what was applied."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from symphony_actors.extension_host.sandbox.capabilities import Guarantees, Level
from symphony_actors.extension_host.sandbox.policy import SandboxPolicy

__all__ = ["_Modes", "guarantees_for"]


@dataclass(frozen=True, slots=True)
class _Modes:
    memory: Literal["cgroup", "watchdog"] | None
    cpu: Literal["cgroup", "duty"] | None
    pids: bool  # a pids cgroup caps the process count
    root: bool


def guarantees_for(policy: SandboxPolicy, modes: _Modes, applied: dict[str, Any]) -> Guarantees:
    """The level per dimension, from what the host asked the worker to apply and the host-side modes."""
    abi = int(applied.get("landlock_abi", 0) or 0)
    seccomp = int(applied.get("seccomp_instructions", 0) or 0) > 0
    notes: list[str] = []
    network = _network_level(policy, abi, seccomp, applied, notes)
    if policy.allow_spawn:
        processes: Level = "enforced" if modes.pids or not modes.root else "none"
        if not modes.pids:
            notes.append("process count capped by RLIMIT_NPROC (per user)" if not modes.root
                         else "no process cap: root ignores RLIMIT_NPROC and no pids cgroup is writable")
    else:
        processes = "enforced" if seccomp else "none"
    if abi >= 6:
        signals: Level = "enforced"
    elif seccomp:
        signals = "best_effort"
        notes.append("signals: only the host, the zygote, init and kill(-1) are protected (Landlock ABI < 6)")
    else:
        signals = "none"
    memory: Level = ("not_requested" if modes.memory is None else
                     "enforced" if modes.memory == "cgroup" else "best_effort")
    cpu: Level = "not_requested" if modes.cpu is None else "enforced" if modes.cpu == "cgroup" else "best_effort"
    if modes.memory == "watchdog" or modes.cpu == "duty":
        notes.append("watchdog limits cover the worker process, not children it spawns")
    if policy.allow_metadata:
        notes.append("fs.metadata: chmod/chown/utime/xattrs allowed on every file its user owns that it can "
                     "name (seccomp sees no paths); setuid/setgid bits still refused")
    if seccomp and applied.get("seccomp_notify"):
        audit: Level = "best_effort"
        notes.append("audit: refused syscalls (metadata, sockets, spawn, signals) and TCP connects are recorded "
                     "by the host; refused file accesses by the worker itself, which an extension can suppress")
    else:
        audit = "best_effort" if seccomp else "none"
        notes.append("audit: refusals are reported by the worker itself (no seccomp notifications here)")
    return Guarantees(filesystem="enforced" if abi >= 1 else "none", network=network,
                      syscalls="enforced" if seccomp else "none", signals=signals, processes=processes,
                      memory=memory, cpu=cpu, call_timeout="enforced", file_limits="enforced",
                      file_metadata="enforced" if seccomp else "none", audit=audit, notes=tuple(notes))


def _network_level(policy: SandboxPolicy, abi: int, seccomp: bool, applied: dict[str, Any],
                   notes: list[str]) -> Level:
    if not policy.net_granted:
        return "enforced" if seccomp or abi >= 4 else "none"
    reserved = ", ".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in applied.get("reserved_ports") or ())
    if abi < 4:
        notes.append("TCP ports are not filtered on this kernel (Landlock ABI < 4): the system's own ports "
                     f"({reserved or 'admin and actor ports'}) are reachable")
        return "none"
    notes.append(f"TCP connect never reaches the system's ports ({reserved}) whatever the grant: outside "
                 "services on those ports are unreachable too")
    if not applied.get("system_ports"):
        notes.append("no system ports were named to this sandbox: only the kernel's ephemeral range is reserved")
    if policy.connect_any_port:
        notes.append("TCP connect is allowed to every other port (connect_any_port)")
    if seccomp and policy.allow_udp:
        notes.append("UDP is allowed to every address and port (net.udp): nothing filters it, loopback "
                     "services included (the system itself listens on no UDP port)")
        return "enforced"
    if seccomp:
        notes.append("internet sockets are TCP only (UDP, SCTP refused); names resolve over TCP port 53 "
                     "(a resolver that answers only UDP needs net.udp)")
        return "enforced"
    notes.append("UDP and other non-TCP internet sockets are not filtered (no seccomp)")
    return "best_effort"
