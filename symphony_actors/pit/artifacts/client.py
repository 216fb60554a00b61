"""``ArtifactClient``: the ArtifactPort adapter that calls the hosted ``artifacts`` service by name.

Payloads travel in parts of at most :data:`~symphony_actors.ports.artifacts.MAX_PART_BYTES`:
``store`` of more than that goes through ``begin_upload``/``upload_part``/``finish_upload``,
and ``retrieve`` reads ``read_range`` parts until a short one, so one small artifact costs
one round trip and no message carries more than ~1 MiB.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from symphony_actors.domain.errors import SymphonyError
from symphony_actors.domain.ids import ArtifactId
from symphony_actors.ports.artifacts import (
    DEFAULT_MEDIA_TYPE,
    MAX_PART_BYTES,
    ArtifactInfo,
    DeleteReport,
    Direction,
    GcReport,
    LineageEntry,
    SearchHit,
    StoreStats,
    VerifyReport,
)
from symphony_actors.ports.service import Caller

__all__ = ["ArtifactClient"]


class ArtifactClient:
    """Implements :class:`~symphony_actors.ports.artifacts.ArtifactPort` over a :class:`Caller`."""

    def __init__(self, caller: Caller, service: str = "artifacts", *, part_size: int = MAX_PART_BYTES,
                 timeout: float | None = None) -> None:
        if not 0 < part_size <= MAX_PART_BYTES:
            raise ValueError(f"part_size must be 1..{MAX_PART_BYTES}")
        self.caller, self.service, self.part_size, self.timeout = caller, service, part_size, timeout

    def _call(self, method: str, **kwargs: Any) -> Any:
        return self.caller.call(self.service, method, timeout=self.timeout, **kwargs)

    def store(self, data: bytes, *, name: str = "", media_type: str = DEFAULT_MEDIA_TYPE, tags: Sequence[str] = (),
              run_id: str | None = None, node_id: str | None = None, parents: Sequence[str] = ()) -> ArtifactId:
        meta = {"name": name, "media_type": media_type, "tags": _plain(tags), "run_id": run_id, "node_id": node_id,
                "parents": _plain(parents)}
        view = memoryview(data)
        if len(view) <= self.part_size:
            return ArtifactId(self._call("store", data=bytes(view), **meta))
        upload_id = self._call("begin_upload")
        try:
            for start in range(0, len(view), self.part_size):
                self._call("upload_part", upload_id=upload_id, data=bytes(view[start:start + self.part_size]))
            return ArtifactId(self._call("finish_upload", upload_id=upload_id, **meta))
        except SymphonyError:
            self._abort(upload_id)
            raise

    def _abort(self, upload_id: str) -> None:
        try:
            self._call("abort_upload", upload_id=upload_id)
        except SymphonyError:  # the upload expires by itself; the original error matters more
            return

    def retrieve(self, artifact_id: str) -> bytes:
        parts = []
        offset = 0
        while True:
            part = self._call("read_range", artifact_id=artifact_id, offset=offset, length=self.part_size)
            parts.append(part)
            offset += len(part)
            if len(part) < self.part_size:
                return b"".join(parts)

    def read_range(self, artifact_id: str, *, offset: int = 0, length: int = MAX_PART_BYTES) -> bytes:
        return bytes(self._call("read_range", artifact_id=artifact_id, offset=offset, length=length))

    def info(self, artifact_id: str) -> ArtifactInfo:
        result: ArtifactInfo = self._call("info", artifact_id=artifact_id)
        return result

    def list(self, *, name: str | None = None, tag: str | None = None, run_id: str | None = None,
             node_id: str | None = None, media_type: str | None = None, limit: int = 100,
             offset: int = 0) -> builtins.list[ArtifactInfo]:
        return builtins.list(self._call("list", name=name, tag=tag, run_id=run_id, node_id=node_id,
                                        media_type=media_type, limit=limit, offset=offset))

    def lineage(self, artifact_id: str, *, direction: Direction = "ancestors",
                max_depth: int | None = None) -> builtins.list[LineageEntry]:
        return builtins.list(self._call("lineage", artifact_id=artifact_id, direction=direction,
                                        max_depth=max_depth))

    def delete(self, artifact_id: str, *, force: bool = False) -> DeleteReport:
        result: DeleteReport = self._call("delete", artifact_id=artifact_id, force=force)
        return result

    def search(self, query: str, *, media_type: str | None = None, tag: str | None = None,
               run_id: str | None = None, limit: int = 10) -> builtins.list[SearchHit]:
        return builtins.list(self._call("search", query=query, media_type=media_type, tag=tag, run_id=run_id,
                                        limit=limit))

    def verify(self, artifact_id: str | None = None) -> VerifyReport:
        result: VerifyReport = self._call("verify", artifact_id=artifact_id)
        return result

    def gc(self) -> GcReport:
        result: GcReport = self._call("gc")
        return result

    def stats(self) -> StoreStats:
        result: StoreStats = self._call("stats")
        return result


def _plain(values: Sequence[str]) -> Any:
    """A list to send; a lone string is passed as it is so that the service refuses it, as in-process."""
    return values if isinstance(values, str) else builtins.list(values)
