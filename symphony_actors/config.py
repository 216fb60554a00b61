"""Where a Symphony system lives: its admin port and data directory.

Resolved from, in order: explicit arguments (CLI flags), the environment
(``SYMPHONY_PORT``, ``SYMPHONY_HOME``), then defaults. Nothing here runs at
import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from symphony_actors.domain.errors import ConfigError

__all__ = ["DEFAULT_PORT", "SystemAddress", "resolve"]

DEFAULT_PORT = 19500


@dataclass(frozen=True, slots=True)
class SystemAddress:
    """One system: its Thespian admin port on loopback and its data directory."""

    port: int
    data_dir: Path

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"symphony-{self.port}.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "logs" / f"symphony-{self.port}.log"


def _default_home(env: Mapping[str, str]) -> Path:
    xdg = env.get("XDG_DATA_HOME")
    # The XDG spec: a relative XDG_DATA_HOME is invalid and must be ignored.
    if xdg and Path(xdg).is_absolute():
        base = Path(xdg)
    else:
        base = Path(env.get("HOME") or str(Path.home())) / ".local" / "share"
    return base / "symphony"


def resolve(port: int | str | None = None, data_dir: str | os.PathLike[str] | None = None,
            env: Mapping[str, str] | None = None) -> SystemAddress:
    """Resolve the address of a system from arguments, then environment, then defaults."""
    env = os.environ if env is None else env
    # An empty SYMPHONY_PORT (``SYMPHONY_PORT= symphony ...``) means unset, as SYMPHONY_HOME does.
    raw_port: int | str = port if port is not None else (env.get("SYMPHONY_PORT") or DEFAULT_PORT)
    try:
        port_num = int(raw_port)
    except (TypeError, ValueError):
        raise ConfigError(f"port {raw_port!r} is not a number (from --port or SYMPHONY_PORT)") from None
    if not 1024 <= port_num <= 65535:
        raise ConfigError(f"port {port_num} is out of range: use 1024-65535", port=port_num)
    raw_dir = data_dir if data_dir is not None else env.get("SYMPHONY_HOME")
    path = Path(raw_dir).expanduser() if raw_dir else _default_home(env)
    return SystemAddress(port_num, path.resolve())
