"""Starting and attaching to a Thespian ``multiprocTCPBase`` system, safely.

Thespian binds every actor and its admin to all interfaces and unpickles
whatever arrives (THESPIAN.md §5.6). :func:`bind_loopback_only` patches its
address class so every listening socket binds to 127.0.0.1 instead; the patch
is applied in the launcher before the admin forks, so every actor process
inherits it, and in clients before they open their endpoint. A multi-host
setup is an explicit opt-in (``SYMPHONY_MULTI_HOST=1``).
"""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Any

from thespian.actors import ActorSystem
from thespian.system.transport import IPBase

from symphony_actors.domain.errors import ConfigError, NotRunningError

__all__ = [
    "SYSTEM_BASE",
    "admin_listening",
    "attach",
    "bind_loopback_only",
    "capabilities",
    "port_owner",
    "start_system",
]

SYSTEM_BASE = "multiprocTCPBase"
LOOPBACK = "127.0.0.1"
_patched = False


def multi_host() -> bool:
    return os.environ.get("SYMPHONY_MULTI_HOST", "") in {"1", "true", "yes"}


def bind_loopback_only() -> None:
    """Make every Thespian TCP socket in this process (and its forks) bind to loopback."""
    global _patched
    if _patched or multi_host():
        return
    os.environ["THESPIAN_BASE_IPADDR"] = LOOPBACK  # the address actors advertise
    original = IPBase.IPActorAddress.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        # Thespian binds externally reachable addresses to ('', port): all interfaces.
        if self.bindname and self.bindname[0] == "":
            self.bindname = (LOOPBACK, self.bindname[1])

    IPBase.IPActorAddress.__init__ = __init__
    _patched = True


def capabilities(port: int) -> dict[str, Any]:
    return {"Admin Port": port, "Process Startup Method": "fork"}


def admin_listening(port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on loopback ``port``."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.settimeout(timeout)
        return s.connect_ex((LOOPBACK, port)) == 0


def port_owner(port: int) -> tuple[int | None, str]:
    """The pid and name of the process listening on ``port`` (None when unknown)."""
    import psutil

    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None, "unknown"
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
            try:
                return c.pid, psutil.Process(c.pid).name()
            except psutil.Error:
                return c.pid, "unknown"
    return None, "unknown"


def start_system(port: int) -> Any:
    """Start a new admin on ``port`` (this process becomes its starter)."""
    bind_loopback_only()
    if admin_listening(port):
        pid, name = port_owner(port)
        raise ConfigError(f"port {port} is already in use by {name} (pid {pid}); "
                          "choose another with --port or stop that process", port=port)
    return ActorSystem(SYSTEM_BASE, capabilities(port), transientUnique=True)


def attach(port: int) -> Any:
    """Attach to the running admin on ``port``; never starts one (that would fork this process)."""
    bind_loopback_only()
    if not admin_listening(port):
        raise NotRunningError(f"no Symphony system is listening on port {port}; start one with "
                              f"'symphony start --port {port}'", port=port)
    return ActorSystem(SYSTEM_BASE, capabilities(port), transientUnique=True)
