"""``StaleClient``: the StalePort over a :class:`~symphony_actors.ports.service.Caller`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from symphony_actors.ports.service import Caller

__all__ = ["StaleClient"]


class StaleClient:
    """Calls the hosted ``stale`` service by name."""

    def __init__(self, caller: Caller, service: str = "stale") -> None:
        self.caller, self.service = caller, service

    def _call(self, method: str, **kwargs: Any) -> Any:
        return self.caller.call(self.service, method, **kwargs)

    def record(self, *, artifact: str, node_type: str, params: Mapping[str, Any] | None = None,
               inputs: Sequence[str] = (), files: Mapping[str, str] | None = None,
               extensions: Mapping[str, str] | None = None, ttl_s: float | None = None,
               size_bytes: int = 0, node: str = "", run: str = "") -> dict[str, Any]:
        return self._call("record", artifact=artifact, node_type=node_type,  # type: ignore[no-any-return]
                          params=None if params is None else dict(params), inputs=list(inputs),
                          files=None if files is None else dict(files),
                          extensions=None if extensions is None else dict(extensions), ttl_s=ttl_s,
                          size_bytes=size_bytes, node=node, run=run)

    def record_many(self, *, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return self._call("record_many", records=[dict(r) for r in records])  # type: ignore[no-any-return]

    def mark_stale(self, *, artifacts: Sequence[str], reason: str = "changed") -> dict[str, Any]:
        return self._call("mark_stale", artifacts=list(artifacts), reason=reason)  # type: ignore[no-any-return]

    def file_changed(self, *, path: str, digest: str) -> dict[str, Any]:
        return self._call("file_changed", path=path, digest=digest)  # type: ignore[no-any-return]

    def extension_updated(self, *, extension: str, version: str) -> dict[str, Any]:
        return self._call("extension_updated", extension=extension, version=version)  # type: ignore[no-any-return]

    def query(self, *, artifacts: Sequence[str]) -> dict[str, dict[str, Any]]:
        return self._call("query", artifacts=list(artifacts))  # type: ignore[no-any-return]

    def stale(self, *, limit: int = 1000) -> list[str]:
        return self._call("stale", limit=limit)  # type: ignore[no-any-return]

    def lineage(self, *, artifact: str) -> dict[str, Any]:
        return self._call("lineage", artifact=artifact)  # type: ignore[no-any-return]

    def fresh_nodes(self, *, nodes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return self._call("fresh_nodes", nodes=[dict(n) for n in nodes])  # type: ignore[no-any-return]

    def cleanup(self, *, dry_run: bool = False, limit: int | None = None) -> dict[str, Any]:
        return self._call("cleanup", dry_run=dry_run, limit=limit)  # type: ignore[no-any-return]
