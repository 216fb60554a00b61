"""The system's own ports, which no worker may connect to whatever its grants say.

Landlock filters TCP connect by port only, never by address, and the system listens on loopback:
the Thespian admin on a fixed port, every actor on a kernel-ephemeral port (Thespian's TCP transport
unpickles whatever arrives). So the *reserved* set is the admin port (and any other port the host
names, e.g. the gateway's) plus the kernel's whole ephemeral range
(``/proc/sys/net/ipv4/ip_local_port_range``, read at each spawn). A ``net.connect:*:*`` grant becomes
"every port but the reserved ones"; a narrow grant loses the reserved ports it lists. The price:
outside services listening on an ephemeral port (e.g. 32768-60999) are unreachable too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

import psutil

__all__ = ["allowed_ranges", "ephemeral_range", "is_reserved", "merge", "reserved_ranges",
           "session_listen_ports"]

Ranges = tuple[tuple[int, int], ...]
_DEFAULT_EPHEMERAL = (32768, 60999)


def ephemeral_range(path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> tuple[int, int]:
    """The kernel's ephemeral port range (where Thespian's actors listen); the Linux default if unreadable."""
    try:
        low, high = (int(x) for x in path.read_text().split()[:2])
    except (OSError, ValueError):
        return _DEFAULT_EPHEMERAL
    return (low, high) if 1 <= low <= high <= 65535 else _DEFAULT_EPHEMERAL


def merge(ranges: Iterable[tuple[int, int]]) -> Ranges:
    """Sorted, non-overlapping inclusive ranges covering the same ports."""
    out: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if out and low <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], high))
        else:
            out.append((low, high))
    return tuple(out)


def reserved_ranges(system_ports: Iterable[int], ephemeral: tuple[int, int] | None = None) -> Ranges:
    """The ports no worker may connect to: the system's listening ports and the ephemeral range."""
    return merge([ephemeral or ephemeral_range(), *((p, p) for p in system_ports if 1 <= p <= 65535)])


def allowed_ranges(reserved: Ranges) -> Ranges:
    """The complement of ``reserved`` in 1-65535 (what ``connect_any_port`` compiles to)."""
    out: list[tuple[int, int]] = []
    nxt = 1
    for low, high in merge(reserved):
        if low > nxt:
            out.append((nxt, low - 1))
        nxt = max(nxt, high + 1)
    if nxt <= 65535:
        out.append((nxt, 65535))
    return tuple(out)


def is_reserved(port: int, reserved: Ranges) -> bool:
    return any(low <= port <= high for low, high in reserved)


def session_listen_ports(sid: int | None = None) -> frozenset[int]:
    """TCP ports that processes of session ``sid`` (default: this process's) listen on.

    An extension actor runs in the Thespian admin's session (the admin calls ``setsid``), so this finds
    the admin port and every actor's port, plus the gateway it started. Processes it may not inspect
    are skipped (they are not the system's: the system runs as one user).
    """
    session = os.getsid(0) if sid is None else sid
    ports: set[int] = set()
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getsid(proc.pid) != session:
                continue
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr:
                    ports.add(int(conn.laddr.port))
    return frozenset(ports)
