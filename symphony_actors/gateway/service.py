"""The ``gateway`` service: starts the WebSocket gateway process and keeps it running.

Options: ``system_port`` (the admin port of this system; the launcher fills it
in), ``port`` (the WebSocket port; default ``system_port + 1``). The access
token is made at start and written to ``<data>/run/gateway-<port>.token``
(mode 0600); the page is at ``http://127.0.0.1:<port>/?token=<token>``. A
crashed gateway process is restarted within a second and the restart is
published as ``gateway.restarted``.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

from symphony_actors.domain.errors import ConfigError
from symphony_actors.ports.service import ServiceSettings

__all__ = ["GatewayService", "build"]

TICK_S = 1.0


class GatewayService:
    EXPORTS: ClassVar[frozenset[str]] = frozenset({"status", "tick"})

    def __init__(self, settings: ServiceSettings) -> None:
        opts = settings.options
        if "system_port" not in opts:
            raise ConfigError("the gateway needs option system_port (the launcher sets it)")
        self.system_port = int(opts["system_port"])
        self.port = int(opts.get("port") or self.system_port + 1)
        run_dir = settings.data_dir / "run"
        self.token_file = Path(opts.get("token_file") or run_dir / f"gateway-{self.port}.token")
        self.token = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.ctx: Any = None

    def on_start(self, ctx: Any) -> None:
        self.ctx = ctx
        self.token_file.parent.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_urlsafe(24)
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.token + "\n")
        self._spawn()
        ctx.call_later(TICK_S, "tick")

    def _spawn(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "symphony_actors.gateway", "--system-port", str(self.system_port),
             "--port", str(self.port), "--token-file", str(self.token_file)],
            stdin=subprocess.DEVNULL, close_fds=True)

    def tick(self) -> None:
        """Restart the gateway process if it exited."""
        if self.proc is not None and self.proc.poll() is not None:
            code = self.proc.returncode
            self.restarts += 1
            self._spawn()
            if self.ctx is not None:
                self.ctx.publish("gateway.restarted", {"exit_code": code, "restarts": self.restarts,
                                                       "pid": self.proc.pid if self.proc else None})
        if self.ctx is not None:
            self.ctx.call_later(TICK_S, "tick")

    def status(self) -> dict[str, Any]:
        pid = self.proc.pid if self.proc is not None and self.proc.poll() is None else None
        return {"port": self.port, "pid": pid, "restarts": self.restarts,
                "url": f"http://127.0.0.1:{self.port}/?token=<see {self.token_file}>",
                "token_file": str(self.token_file)}

    def on_stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=3)
        self.token_file.unlink(missing_ok=True)


def build(settings: ServiceSettings) -> GatewayService:
    return GatewayService(settings)
