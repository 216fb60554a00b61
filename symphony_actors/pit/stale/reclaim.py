"""Reclaimers: how the Stale Manager frees stale artifacts and learns the bytes that freed.

``ArtifactStoreReclaimer`` works with the artifact store's port: it deletes each stale artifact (forced,
since what was derived from it is stale too and goes in the same cleanup) and then runs the store's
garbage collection, whose report gives the bytes freed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from symphony_actors.domain.errors import NotFoundError

__all__ = ["ArtifactStoreReclaimer"]


class _Deleting(Protocol):
    """The part of ``ArtifactPort`` a reclaimer needs."""

    def delete(self, artifact_id: str, *, force: bool = False) -> Any: ...

    def gc(self) -> Any: ...


class ArtifactStoreReclaimer:
    """Deletes through an artifact store (``ArtifactPort`` or its client) and reports its GC's bytes freed."""

    def __init__(self, store: _Deleting) -> None:
        self.store = store

    def __call__(self, artifacts: Sequence[str]) -> tuple[list[str], int]:
        removed: list[str] = []
        for a in artifacts:
            try:
                self.store.delete(a, force=True)
            except NotFoundError:
                removed.append(a)  # already gone from the store: its lineage can go too
                continue
            removed.append(a)
        report = self.store.gc()
        freed = report.get("bytes_freed", 0) if isinstance(report, dict) else getattr(report, "bytes_freed", 0)
        return removed, int(freed)
