"""The ``artifacts`` service: the Artifact Store as a plain service object, hosted by the runtime.

Built by :func:`build` (``symphony_actors.pit.artifacts.service:build``) as the
``artifacts`` child of the ``pit`` supervisor. Its public methods are the
:class:`~symphony_actors.ports.artifacts.ArtifactPort` plus streaming, so that no
message carries more than :data:`~symphony_actors.ports.artifacts.MAX_PART_BYTES`:

* ``begin_upload()`` -> upload id; ``upload_part(upload_id=, data=)`` (<= 1 MiB each);
  ``finish_upload(upload_id=, name=, media_type=, tags=, run_id=, node_id=, parents=)`` -> artifact id;
  ``abort_upload(upload_id=)``;
* ``read_range(artifact_id=, offset=, length=)`` (<= 1 MiB) for reading back.

``store`` and ``retrieve`` refuse payloads above ``max_message_bytes`` (default 1 MiB) with a
``UsageError`` that says to stream: :class:`~symphony_actors.pit.artifacts.client.ArtifactClient`
does so by itself.

Events published: ``artifacts.stored`` ``{artifact_id, size, media_type, name, run_id, node_id, parents}``
(new artifacts only), ``artifacts.deleted`` ``{artifact_id, forced, unlinked_children}``,
``artifacts.gc`` ``{chunks_removed, bytes_freed}``.

Options (``ServiceSettings.options``): ``index_delay`` (seconds between the timer's looks at
the search queue, default 1.0; a search also applies up to 2,000 queued changes first),
``index_batch`` (changes applied per timer tick, default 500, so the actor stays responsive), ``upload_ttl``
(default 3600 s), ``index_text_limit`` (bytes of a text artifact indexed, default 1 MiB),
``max_uploads`` (open uploads at once, default 64), ``max_message_bytes`` (default 1 MiB).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any, ClassVar

from symphony_actors.domain.errors import BusyError, NotFoundError, UsageError
from symphony_actors.domain.ids import ArtifactId
from symphony_actors.pit.artifacts.store import ArtifactStore, Upload
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
from symphony_actors.ports.service import ActorContext, ServiceSettings

__all__ = ["ArtifactService", "build"]


class ArtifactService:
    """The Artifact Store service (implements ``ArtifactPort``; the store opens on start or first use)."""

    EXPORTS: ClassVar[frozenset[str]] = frozenset({
        "store", "retrieve", "read_range", "info", "list", "lineage", "delete", "search", "verify", "gc", "stats",
        "begin_upload", "upload_part", "finish_upload", "abort_upload", "flush_index", "reindex",
    })

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        opts = settings.options
        self.index_delay = float(opts.get("index_delay", 1.0))
        self.index_batch = int(opts.get("index_batch", 500))
        self.max_uploads = int(opts.get("max_uploads", 64))
        self.max_message_bytes = int(opts.get("max_message_bytes", MAX_PART_BYTES))
        self._store_options = {k: opts[k] for k in ("upload_ttl", "index_text_limit") if k in opts}
        self._store: ArtifactStore | None = None
        self._ctx: ActorContext | None = None
        self._uploads: dict[str, Upload] = {}
        self._flush_scheduled = False

    # ------------------------------------------------------------------ hosting hooks
    def on_start(self, ctx: ActorContext) -> None:
        self._ctx = ctx
        self._open()
        self._flush_scheduled = True
        ctx.call_later(self.index_delay, "flush_index")

    def on_stop(self) -> None:
        for upload in self._uploads.values():
            upload.abort()
        self._uploads.clear()
        if self._store is not None:
            self._store.close()
            self._store = None

    def _open(self) -> ArtifactStore:
        if self._store is None:
            root = self.settings.options.get("data_dir") or self.settings.data_dir  # option: a store of its own
            self._store = ArtifactStore.open(root, **self._store_options)
        return self._store

    def _publish(self, topic: str, payload: dict[str, Any]) -> None:
        if self._ctx is not None:
            self._ctx.publish(topic, payload)

    def _changed(self) -> None:
        """Have the search index catch up a little later (a search catches up at once anyway)."""
        if self._ctx is not None and not self._flush_scheduled:
            self._flush_scheduled = True
            self._ctx.call_later(self.index_delay, "flush_index")

    def _stored(self, artifact_id: ArtifactId, created: bool) -> ArtifactId:
        if created:
            info = self._open().info(artifact_id)
            self._publish("artifacts.stored", {
                "artifact_id": artifact_id, "size": info.size, "media_type": info.media_type, "name": info.name,
                "run_id": info.run_id, "node_id": info.node_id, "parents": list(info.parents)})
        self._changed()
        return artifact_id

    # ------------------------------------------------------------------ the port
    def store(self, data: bytes, *, name: str = "", media_type: str = DEFAULT_MEDIA_TYPE, tags: Sequence[str] = (),
              run_id: str | None = None, node_id: str | None = None, parents: Sequence[str] = ()) -> ArtifactId:
        """Store up to ``max_message_bytes`` (1 MiB) in one message; larger payloads go through uploads."""
        if isinstance(data, bytes | bytearray) and len(data) > self.max_message_bytes:
            raise UsageError(f"{len(data)} bytes is more than one message carries ({self.max_message_bytes}): "
                             "stream it with begin_upload/upload_part/finish_upload (ArtifactClient does)")
        artifact_id, created = self._open().put(data, name=name, media_type=media_type, tags=tags, run_id=run_id,
                                                node_id=node_id, parents=parents)
        return self._stored(artifact_id, created)

    def retrieve(self, artifact_id: str) -> bytes:
        """The whole artifact in one reply, up to ``max_message_bytes``; read larger ones with ``read_range``."""
        store = self._open()
        size = store.info(artifact_id).size
        if size > self.max_message_bytes:
            raise UsageError(f"artifact {artifact_id} has {size} bytes, more than one message carries "
                             f"({self.max_message_bytes}): read it with read_range (ArtifactClient does)",
                             artifact_id=artifact_id, size=size)
        return store.retrieve(artifact_id)

    def read_range(self, artifact_id: str, *, offset: int = 0, length: int = MAX_PART_BYTES) -> bytes:
        return self._open().read_range(artifact_id, offset=offset, length=length)

    def info(self, artifact_id: str) -> ArtifactInfo:
        return self._open().info(artifact_id)

    def list(self, *, name: str | None = None, tag: str | None = None, run_id: str | None = None,
             node_id: str | None = None, media_type: str | None = None, limit: int = 100,
             offset: int = 0) -> builtins.list[ArtifactInfo]:
        return self._open().list(name=name, tag=tag, run_id=run_id, node_id=node_id, media_type=media_type,
                                 limit=limit, offset=offset)

    def lineage(self, artifact_id: str, *, direction: Direction = "ancestors",
                max_depth: int | None = None) -> builtins.list[LineageEntry]:
        return self._open().lineage(artifact_id, direction=direction, max_depth=max_depth)

    def delete(self, artifact_id: str, *, force: bool = False) -> DeleteReport:
        report = self._open().delete(artifact_id, force=force)
        self._publish("artifacts.deleted", {"artifact_id": report.artifact_id, "forced": report.forced,
                                            "unlinked_children": list(report.unlinked_children)})
        self._changed()
        return report

    def search(self, query: str, *, media_type: str | None = None, tag: str | None = None,
               run_id: str | None = None, limit: int = 10) -> builtins.list[SearchHit]:
        return self._open().search(query, media_type=media_type, tag=tag, run_id=run_id, limit=limit)

    def verify(self, artifact_id: str | None = None) -> VerifyReport:
        return self._open().verify(artifact_id)

    def gc(self) -> GcReport:
        report = self._open().gc()
        self._publish("artifacts.gc", {"chunks_removed": report.chunks_removed, "bytes_freed": report.bytes_freed,
                                       "uploads_expired": report.uploads_expired})
        return report

    def stats(self) -> StoreStats:
        return self._open().stats()

    # ------------------------------------------------------------------ streaming
    def begin_upload(self) -> str:
        """Open an upload; send its parts with ``upload_part`` and end it with ``finish_upload``."""
        if len(self._uploads) >= self.max_uploads:
            raise BusyError(f"{len(self._uploads)} uploads are open already; finish or abort one first")
        upload = self._open().begin_upload()
        self._uploads[upload.upload_id] = upload
        return upload.upload_id

    def _upload(self, upload_id: str) -> Upload:
        upload = self._uploads.get(upload_id)
        if upload is None:
            raise NotFoundError(f"no open upload {upload_id!r} (finished, aborted, expired, or the service "
                                "restarted): start again", upload_id=upload_id)
        return upload

    def upload_part(self, upload_id: str, data: bytes) -> int:
        """Append up to 1 MiB to an open upload; returns the bytes received so far."""
        if isinstance(data, bytes | bytearray) and len(data) > self.max_message_bytes:
            raise UsageError(f"an upload part carries at most {self.max_message_bytes} bytes, not {len(data)}")
        upload = self._upload(upload_id)
        try:
            return upload.write(data)
        except NotFoundError:
            self._uploads.pop(upload_id, None)
            raise

    def finish_upload(self, upload_id: str, *, name: str = "", media_type: str = DEFAULT_MEDIA_TYPE,
                      tags: Sequence[str] = (), run_id: str | None = None, node_id: str | None = None,
                      parents: Sequence[str] = ()) -> ArtifactId:
        upload = self._upload(upload_id)
        existed = None
        try:
            artifact_id = upload.finish(name=name, media_type=media_type, tags=tags, run_id=run_id,
                                        node_id=node_id, parents=parents)
            existed = upload.existed
        finally:
            if upload.done:
                self._uploads.pop(upload_id, None)
        return self._stored(artifact_id, not existed)

    def abort_upload(self, upload_id: str) -> None:
        upload = self._uploads.pop(upload_id, None)
        if upload is not None:
            upload.abort()

    # ------------------------------------------------------------------ maintenance
    def flush_index(self) -> int:
        """Apply up to ``index_batch`` pending index changes; the service's timer calls this every
        ``index_delay`` seconds, sooner while a backlog remains (writers in other processes add to it)."""
        self._flush_scheduled = False
        store = self._open()
        applied = store.flush_index(max_docs=self.index_batch)
        if self._ctx is not None:
            self._flush_scheduled = True
            self._ctx.call_later(0.01 if applied and store.index_pending() else self.index_delay, "flush_index")
        return applied

    def reindex(self) -> int:
        """Rebuild the search index from the database."""
        return self._open().reindex()


def build(settings: ServiceSettings) -> ArtifactService:
    """The factory the runtime calls (``symphony_actors.pit.artifacts.service:build``); no I/O here."""
    return ArtifactService(settings)
