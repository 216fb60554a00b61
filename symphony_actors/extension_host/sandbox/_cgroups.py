"""cgroup v1 controllers (memory, cpu, pids) for workers, created under the host's own cgroups.

Each worker gets ``<controller mount>/<host's cgroup>/symphony-sandbox-<host pid>/w<n>``, so the
host's own accounting still includes its workers. v1 only: on a cgroup v2 host the probe reports
the controllers as not writable and the watchdog takes over (see docs/sandbox.md).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CgroupRoot", "WorkerCgroup", "find_root"]

_CONTROLLERS = ("memory", "cpu", "pids")
_PERIOD_US = 100_000


def _mounts() -> dict[str, Path]:
    """controller -> v1 mount point."""
    out: dict[str, Path] = {}
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        pre, _, post = line.partition(" - ")
        fields = post.split()
        if len(fields) < 3 or fields[0] != "cgroup":
            continue
        options = set(fields[2].split(","))
        for controller in _CONTROLLERS:
            if controller in options and controller not in out:
                out[controller] = Path(pre.split()[4])
    return out


def _own_paths() -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            out[controller] = path
    return out


@dataclass
class CgroupRoot:
    """This host's sandbox directory in each writable controller."""

    dirs: dict[str, Path]
    counter: int = 0

    def create(self) -> WorkerCgroup:
        """A worker's cgroup in every writable controller, without limits yet (see ``set_limits``).

        Made ahead of time for the spare worker: limits can be set while the task is already inside.
        """
        self.counter += 1
        name = f"w{self.counter}"
        made: dict[str, Path] = {}
        try:
            for controller, parent in self.dirs.items():
                d = parent / name
                d.mkdir()
                made[controller] = d
        except OSError:
            WorkerCgroup(made).remove()
            raise
        return WorkerCgroup(made)

    def remove(self) -> None:
        for d in self.dirs.values():
            with contextlib.suppress(OSError):  # still has a worker that has not been reaped: left for the OS
                d.rmdir()


@dataclass
class WorkerCgroup:
    dirs: dict[str, Path]

    def set_limits(self, memory_limit: int | None, cpu_share: float | None, max_processes: int | None) -> None:
        """Write the limits (``None``: leave that controller unlimited, accounting only)."""
        d = self.dirs.get("memory")
        if memory_limit is not None and d is not None:
            (d / "memory.limit_in_bytes").write_text(str(memory_limit))
            if (d / "memory.memsw.limit_in_bytes").exists():  # no escape into swap
                (d / "memory.memsw.limit_in_bytes").write_text(str(memory_limit))
            with contextlib.suppress(OSError):  # not settable on every kernel; the limit holds regardless
                (d / "memory.swappiness").write_text("0")
        d = self.dirs.get("cpu")
        if cpu_share is not None and d is not None:
            (d / "cpu.cfs_period_us").write_text(str(_PERIOD_US))
            (d / "cpu.cfs_quota_us").write_text(str(max(1000, int(cpu_share * _PERIOD_US))))
        d = self.dirs.get("pids")
        if max_processes is not None and d is not None:
            (d / "pids.max").write_text(str(max_processes))

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def _read(self, controller: str, name: str) -> str | None:
        d = self.dirs.get(controller)
        if d is None:
            return None
        try:
            return (d / name).read_text()
        except OSError:
            return None

    def oom_kills(self) -> int:
        text = self._read("memory", "memory.oom_control") or ""
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        failcnt = self._read("memory", "memory.failcnt")
        return 1 if failcnt and int(failcnt) > 0 else 0  # kernels before 4.13 have no oom_kill counter

    def peak_memory(self) -> int | None:
        text = self._read("memory", "memory.max_usage_in_bytes")
        return int(text) if text else None

    def fork_refusals(self) -> int:
        text = self._read("pids", "pids.events") or ""
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "max":
                return int(value)
        return 0

    def kill_all(self) -> None:
        """SIGKILL every process still in these cgroups (descendants a spawning worker left)."""
        for d in self.dirs.values():
            try:
                pids = [int(p) for p in (d / "cgroup.procs").read_text().split()]
            except OSError:
                continue
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)

    def remove(self, wait: float = 0.0) -> bool:
        """rmdir each directory; a task still dying keeps one busy, so poll up to ``wait`` seconds."""
        deadline = time.monotonic() + wait
        pending = [d for d in self.dirs.values() if d.exists()]
        while True:
            still = []
            for d in pending:
                try:
                    d.rmdir()
                except FileNotFoundError:
                    continue
                except OSError:
                    still.append(d)
            pending = still
            if not pending or time.monotonic() >= deadline:
                return not pending
            threading.Event().wait(0.01)


_STALE = re.compile(r"^symphony-(?:sandbox|probe)-(\d+)(?:-\d+)?$")


def _collect_stale(parent: Path) -> None:
    """Remove empty sandbox directories left by hosts that died (their pid no longer exists)."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for entry in entries:
        match = _STALE.match(entry.name)
        if match is None or not entry.is_dir():
            continue
        try:
            os.kill(int(match.group(1)), 0)
            continue  # that host still runs (or the pid was reused): leave it
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        WorkerCgroup({str(i): d for i, d in enumerate(entry.glob("w*"))}).remove()
        with contextlib.suppress(OSError):
            entry.rmdir()


def find_root(name: str) -> CgroupRoot:
    """Create the directory ``name`` under this process's cgroup in each v1 controller we may write."""
    mounts = _mounts()
    own = _own_paths()
    dirs: dict[str, Path] = {}
    for controller, mount in mounts.items():
        rel = own.get(controller, "/").lstrip("/")
        _collect_stale(mount / rel)
        d = mount / rel / name
        try:
            d.mkdir(exist_ok=True)
        except OSError:
            continue
        if os.access(d, os.W_OK):
            dirs[controller] = d
    return CgroupRoot(dirs)
