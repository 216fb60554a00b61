"""The sandbox's audit trail: one JSON object per line, appended with a single ``write``.

Records have the same shape as :class:`symphony_actors.extension_host.permissions.AuditLog`
(``time``, ``extension``, ``permission``, ``target``, ``decision``, extra fields), so both can
share one file. Sandbox records add ``source``: ``worker`` (reported by the worker's runtime
wrapper, which an extension could suppress by catching the error itself) or ``host`` (observed by
the host: kills for memory, CPU, time, forbidden syscalls).

Permission names: ``fs.read``, ``fs.write``, ``net.connect``, ``net.bind``, ``process.spawn``,
``process.signal`` (worker reports); ``resource.memory``, ``resource.cpu``, ``resource.time``,
``syscall`` (host observations).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson

__all__ = ["AuditLog", "read_audit"]


class AuditLog:
    """Append-only JSONL log at ``path`` (created with mode 0600 on first write)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, extension: str, permission: str, target: str | None, decision: str = "denied",
               **extra: Any) -> dict[str, Any]:
        now = time.time()
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z",
                  "extension": extension, "permission": permission, "target": target, "decision": decision,
                  **extra}
        line = orjson.dumps(record, default=str) + b"\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        return record

    def read(self, extension: str | None = None) -> list[dict[str, Any]]:
        return read_audit(self.path, extension)


def read_audit(path: Path | str, extension: str | None = None) -> list[dict[str, Any]]:
    """Every record, oldest first, optionally only one extension's.

    Without a filter an unreadable line is kept as a ``decision: unreadable-line`` record (it is evidence).
    """
    p = Path(path)
    if not p.exists():
        return []
    out: list[dict[str, Any]] = []
    with p.open("rb") as fh:
        for raw in fh:
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError:
                if extension is not None:
                    continue
                out.append({"time": None, "extension": None, "permission": None, "target": None,
                            "decision": "unreadable-line"})
                continue
            if isinstance(record, dict) and (extension is None or record.get("extension") == extension):
                out.append(record)
    return out
