"""The Artifact Store port: content-addressed, deduplicated, verified, searchable bytes with lineage.

Every node output, file snapshot and model result lands here; the DAG tracker
passes artifact ids, not bytes. An artifact is immutable: its bytes plus its
*provenance* (name, media type, the run and node that produced it, its parents).
Its id is derived from both, so storing the same bytes with the same provenance
twice yields the same id (and stores nothing new), while the same bytes made by
another node get their own id and lineage but share every stored chunk.
Tags are labels, not identity: storing again with more tags adds them.

Implementations: :class:`symphony_actors.pit.artifacts.store.ArtifactStore`
(in-process, SQLite), the hosted service
(:mod:`symphony_actors.pit.artifacts.service`), the client adapter
:class:`symphony_actors.pit.artifacts.client.ArtifactClient` (streams payloads
above :data:`MAX_PART_BYTES` in parts) and the in-memory fake
:class:`symphony_actors.testing.fake_artifacts.FakeArtifacts`.

Errors (all :class:`~symphony_actors.domain.errors.SymphonyError`)::

    NotFoundError     no such artifact (or parent, or upload)
    UsageError        a bad argument: media type, tag, range, limit, query syntax
    ConflictError     delete of an artifact that others list as a parent, without force=True
    IntegrityError    stored bytes do not match their hash; names the artifact and chunk; never wrong bytes
    StorageError      the data directory or its database cannot be used
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from symphony_actors.domain.ids import ArtifactId

__all__ = [
    "DEFAULT_MEDIA_TYPE",
    "MAX_PART_BYTES",
    "ArtifactInfo",
    "ArtifactPort",
    "DeleteReport",
    "Direction",
    "GcReport",
    "IntegrityProblem",
    "LineageEntry",
    "SearchHit",
    "StoreStats",
    "VerifyReport",
]

DEFAULT_MEDIA_TYPE = "application/octet-stream"
MAX_PART_BYTES = 1 << 20
"""The most payload bytes one message carries (one ``upload_part`` or one ``read_range``): 1 MiB."""

Direction = Literal["ancestors", "descendants"]


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    """What is known about one artifact (everything but its bytes)."""

    artifact_id: ArtifactId
    digest: str
    """BLAKE3 of the bytes, 64 hex digits (``b3sum`` prints the same)."""
    name: str
    media_type: str
    size: int
    tags: tuple[str, ...]
    created: float
    run_id: str | None
    node_id: str | None
    parents: tuple[ArtifactId, ...]


@dataclass(frozen=True, slots=True)
class LineageEntry:
    """An ancestor or descendant at ``depth`` generations (1 = parent or child), with its producer."""

    artifact_id: ArtifactId
    depth: int
    name: str
    media_type: str
    run_id: str | None
    node_id: str | None


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One ranked search result (higher ``score`` is better)."""

    artifact_id: ArtifactId
    score: float
    name: str
    media_type: str
    size: int
    tags: tuple[str, ...]
    run_id: str | None
    node_id: str | None


@dataclass(frozen=True, slots=True)
class IntegrityProblem:
    """One thing ``verify`` found wrong; ``chunk`` is the chunk's BLAKE3 hex where one is to blame."""

    artifact_id: str | None
    chunk: str | None
    message: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The result of checking artifacts: every chunk re-hashed, every artifact re-assembled and re-hashed."""

    artifacts_checked: int
    chunks_checked: int
    bytes_checked: int
    problems: tuple[IntegrityProblem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class DeleteReport:
    """What a delete did; ``unlinked_children`` lost ``artifact_id`` as a parent (only with ``force``)."""

    artifact_id: ArtifactId
    forced: bool
    unlinked_children: tuple[ArtifactId, ...] = ()


@dataclass(frozen=True, slots=True)
class GcReport:
    """What garbage collection removed; ``bytes_freed`` counts stored (compressed) chunk bytes."""

    chunks_removed: int
    bytes_freed: int
    uploads_expired: int = 0


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Sizes of the store.

    ``logical_bytes`` sums every artifact's size; ``unique_bytes`` the distinct chunks' sizes;
    ``stored_bytes`` what those chunks take compressed. ``dedup_ratio`` = logical / unique,
    ``compression_ratio`` = unique / stored. ``reclaimable_bytes``: stored bytes that ``gc`` would free.
    """

    artifacts: int
    chunks: int
    logical_bytes: int
    unique_bytes: int
    stored_bytes: int
    reclaimable_bytes: int

    @property
    def dedup_ratio(self) -> float:
        return self.logical_bytes / self.unique_bytes if self.unique_bytes else 1.0

    @property
    def compression_ratio(self) -> float:
        return self.unique_bytes / self.stored_bytes if self.stored_bytes else 1.0


@runtime_checkable
class ArtifactPort(Protocol):
    """Store, read, relate, search, check and collect artifacts. All but the first argument are keywords."""

    def store(self, data: bytes, *, name: str = "", media_type: str = DEFAULT_MEDIA_TYPE,
              tags: Sequence[str] = (), run_id: str | None = None, node_id: str | None = None,
              parents: Sequence[str] = ()) -> ArtifactId:
        """Store ``data`` with its provenance; returns its id. ``parents`` must exist (``NotFoundError``)."""
        ...

    def retrieve(self, artifact_id: str) -> bytes:
        """The artifact's bytes, verified against their hashes (``IntegrityError`` otherwise)."""
        ...

    def read_range(self, artifact_id: str, *, offset: int = 0, length: int = MAX_PART_BYTES) -> bytes:
        """Up to ``length`` (<= MAX_PART_BYTES) bytes from ``offset``; short or empty at the end. Verified."""
        ...

    def info(self, artifact_id: str) -> ArtifactInfo:
        """Metadata and direct parents of one artifact."""
        ...

    def list(self, *, name: str | None = None, tag: str | None = None, run_id: str | None = None,
             node_id: str | None = None, media_type: str | None = None, limit: int = 100,
             offset: int = 0) -> builtins.list[ArtifactInfo]:
        """Artifacts matching every given filter, newest first."""
        ...

    def lineage(self, artifact_id: str, *, direction: Direction = "ancestors",
                max_depth: int | None = None) -> builtins.list[LineageEntry]:
        """Transitive ancestors (inputs) or descendants (derived artifacts), nearest first, each once."""
        ...

    def delete(self, artifact_id: str, *, force: bool = False) -> DeleteReport:
        """Remove an artifact; ``ConflictError`` if others list it as a parent unless ``force``.

        Its chunks are freed by :meth:`gc` once nothing else references them."""
        ...

    def search(self, query: str, *, media_type: str | None = None, tag: str | None = None,
               run_id: str | None = None, limit: int = 10) -> builtins.list[SearchHit]:
        """Ranked full-text search over text artifacts' contents and every artifact's name and tags.

        ``media_type`` may end in ``/*`` (``text/*``)."""
        ...

    def verify(self, artifact_id: str | None = None) -> VerifyReport:
        """Check one artifact, or the whole store (chunks, manifests, reference counts)."""
        ...

    def gc(self) -> GcReport:
        """Free chunks no artifact references; report the bytes freed."""
        ...

    def stats(self) -> StoreStats:
        """Counts and sizes: logical, unique and stored bytes."""
        ...
