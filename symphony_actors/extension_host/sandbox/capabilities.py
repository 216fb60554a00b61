"""What this host can enforce (:func:`probe`) and what a worker actually got (:class:`Guarantees`).

For ``audit`` the levels mean: ``enforced`` every refusal is recorded by the host whatever the
extension does, ``best_effort`` some refusals are reported by the worker itself (an extension can
suppress those), ``none`` only what escapes a call is reported.

Levels: ``enforced`` (the kernel, or for call timeouts the host's SIGKILL, stops it whatever the
extension does), ``best_effort`` (a host-side watchdog that polls; bounded overshoot), ``none``
(requested but nothing on this host can enforce it), ``not_requested`` (the policy sets no limit).
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from symphony_actors.extension_host.sandbox import _cgroups, _landlock, _seccomp

__all__ = ["DIMENSIONS", "Guarantees", "HostCapabilities", "Level", "probe"]

Level = Literal["enforced", "best_effort", "none", "not_requested"]
DIMENSIONS = ("filesystem", "network", "syscalls", "signals", "processes", "memory", "cpu", "call_timeout",
              "file_limits", "file_metadata", "audit")


@dataclass(frozen=True, slots=True)
class HostCapabilities:
    """What confinement this host supports, as measured by :func:`probe`."""

    landlock_abi: int
    seccomp: bool
    cgroup_version: int  # 1, 2, or 0 when no cgroup file system is mounted
    cgroup_memory_writable: bool
    cgroup_cpu_writable: bool
    cgroup_pids_writable: bool
    root: bool
    seccomp_notify: bool = False  # SECCOMP_RET_USER_NOTIF: the host audits refused syscalls itself

    @property
    def can_confine(self) -> bool:
        """Whether untrusted code can be confined at all (Landlock is the file-system wall)."""
        return self.landlock_abi >= 1

    def to_wire(self) -> dict[str, Any]:
        out = asdict(self)
        out["can_confine"] = self.can_confine
        return out


def _seccomp_kernel() -> bool:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Seccomp:"):
                return True
    return False


def _cgroup_version() -> int:
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return 2
    if Path("/sys/fs/cgroup/memory").is_dir() or Path("/sys/fs/cgroup/cpu").is_dir():
        return 1
    return 0


@functools.lru_cache(maxsize=1)
def _probe_cached() -> HostCapabilities:
    root = _cgroups.find_root(f"symphony-probe-{os.getpid()}")
    writable = set(root.dirs)
    root.remove()
    return HostCapabilities(
        landlock_abi=_landlock.abi_version(),
        seccomp=_seccomp.available() and _seccomp_kernel(),
        cgroup_version=_cgroup_version(),
        cgroup_memory_writable="memory" in writable,
        cgroup_cpu_writable="cpu" in writable,
        cgroup_pids_writable="pids" in writable,
        root=os.geteuid() == 0,
        seccomp_notify=_seccomp.available() and _seccomp.notify_available(),
    )


def probe(refresh: bool = False) -> HostCapabilities:
    """Measure what this host can do (Landlock ABI, seccomp, writable cgroups); cached after the first call."""
    if refresh:
        _probe_cached.cache_clear()
    return _probe_cached()


@dataclass(frozen=True, slots=True)
class Guarantees:
    """The level achieved per dimension for one worker, with notes on known gaps."""

    filesystem: Level
    network: Level
    syscalls: Level
    signals: Level
    processes: Level
    memory: Level
    cpu: Level
    call_timeout: Level
    file_limits: Level
    file_metadata: Level = "none"  # chmod/chown/utime/xattrs (seccomp; Landlock has no right for them)
    audit: Level = "none"  # enforced: the host records every refusal; best_effort: some are the worker's word
    notes: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {d: getattr(self, d) for d in DIMENSIONS}
        out["notes"] = list(self.notes)
        return out
