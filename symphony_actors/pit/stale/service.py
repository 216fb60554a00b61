"""The Stale Manager service: :class:`Lineage` with a TTL timer, events and a store.

Options: ``tick_interval_s`` (default 1.0; TTL expiry and saving), ``reclaimer`` (a callable
``(artifact_ids) -> (removed_ids, bytes_freed)`` or a ``"pkg.mod:factory"`` path called with the
settings; default: forget the lineage and count the ``size_bytes`` given to ``record``; wire the artifact
store with :class:`~symphony_actors.pit.stale.reclaim.ArtifactStoreReclaimer`), ``clock`` (in-process
only). Lineage is kept in ``<data_dir>/pit/stale.sqlite3``, written in batches each tick and on stop.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from symphony_actors.domain.errors import StorageError, UsageError
from symphony_actors.pit._hosting import ServiceBase, clock_from, plugin_from
from symphony_actors.pit.kvstore import KVStore
from symphony_actors.pit.stale.core import Lineage, Reclaimer
from symphony_actors.ports.service import ServiceSettings

__all__ = ["StaleService", "build"]

_EVENT_SAMPLE = 100  # artifacts named in a stale.marked event; the count is always exact
log = logging.getLogger(__name__)


class StaleService(ServiceBase):
    """Hosts :class:`Lineage`; methods are :class:`~symphony_actors.ports.pit.StalePort`'s plus ``tick``."""

    TIMER = "tick"
    EXPORTS: ClassVar[frozenset[str]] = frozenset({
        "record", "record_many", "mark_stale", "file_changed", "extension_updated", "query", "stale", "lineage",
        "fresh_nodes", "cleanup", "tick", "stats"})

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.clock = clock_from(settings.options)
        self.timer_s = float(settings.options.get("tick_interval_s", 1.0))
        self.core = Lineage(self.clock)
        self.reclaim: Reclaimer = plugin_from(settings, "reclaimer", self.core.recorded_sizes())
        self.store = KVStore(settings.data_dir / "pit" / f"{settings.name}.sqlite3")
        self.failures = 0
        self.last_failure = ""
        self.core.load((data for _, data in self.store.items("d")), dict(self.store.items("s")))

    def _close(self) -> None:
        self.store.close()

    def _save(self) -> None:
        """Write changed lineage; a record that cannot be written is reported (logged, counted, published
        as ``stale.error``) and kept in memory, and the others are saved: a bad record never stops the
        service nor costs the rest of the batch."""
        core = self.core
        if core.dirty:
            rows: list[tuple[str, Any]] = [(a, core.records[a].to_dict()) for a in sorted(core.dirty)
                                           if a in core.records]
            core.dirty.clear()
            self._put("d", rows)
        if core.stale_dirty:
            marks: list[tuple[str, Any]] = [(a, [core.records[a].stale_since, core.records[a].stale_reason])
                                            for a in core.stale_dirty if a in core.records]
            core.stale_dirty.clear()
            self._put("s", marks)
        if core.removed:
            try:
                self.store.delete_many("d", sorted(core.removed))
                self.store.delete_many("s", sorted(core.removed))
            except StorageError as exc:
                self._failed("delete", exc, list(core.removed))
            core.removed.clear()

    def _put(self, ns: str, rows: list[tuple[str, Any]]) -> None:
        try:
            self.store.put_many(ns, rows)
            return
        except (TypeError, ValueError, StorageError) as exc:
            if len(rows) == 1:
                self._failed("save", exc, [rows[0][0]])
                return
        for row in rows:  # find the bad ones; the batch path above is the usual one
            try:
                self.store.put_many(ns, [row])
            except (TypeError, ValueError, StorageError) as exc:
                self._failed("save", exc, [row[0]])

    def _failed(self, what: str, exc: Exception, artifacts: list[str]) -> None:
        self.failures += 1
        self.last_failure = f"{what}: {type(exc).__name__}: {exc}"
        log.error("stale: cannot %s lineage of %s: %s: %s", what, artifacts[:5], type(exc).__name__, exc)
        self._publish("stale.error", {"what": what, "error": f"{type(exc).__name__}: {exc}",
                                      "artifacts": artifacts[:_EVENT_SAMPLE], "failures": self.failures})

    def stats(self) -> dict[str, Any]:
        """Records kept, stale ones, and failures to save (with the last one's message)."""
        return {"records": len(self.core.records), "stale": len(self.core.stale_order),
                "failures": self.failures, "last_failure": self.last_failure}

    def runtime_stats(self) -> dict[str, Any]:
        return self.stats()

    def _announce(self, result: dict[str, Any], reason: str) -> dict[str, Any]:
        if result["count"]:
            self._publish("stale.marked", {"count": result["count"], "reason": reason,
                                           "artifacts": result["marked"][:_EVENT_SAMPLE]})
        return result

    def tick(self) -> None:
        """Timer: TTL expiry, then save changed lineage."""
        def work() -> None:
            try:
                marked = self.core.tick()
                self._announce({"count": len(marked), "marked": marked}, "ttl expired")
                self._save()
            except Exception as exc:  # noqa: BLE001 - reported (logged, counted, published); the timer goes on
                self._failed("tick", exc, [])
        self._repeat(work)

    # ------------------------------------------------------------------ StalePort
    def record(self, *, artifact: str, node_type: str, params: Mapping[str, Any] | None = None,
               inputs: Sequence[str] = (), files: Mapping[str, str] | None = None,
               extensions: Mapping[str, str] | None = None, ttl_s: float | None = None,
               size_bytes: int = 0, node: str = "", run: str = "") -> dict[str, Any]:
        return self.core.record(artifact, node_type, params, inputs, files, extensions, ttl_s, size_bytes, node, run)

    def record_many(self, *, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """:meth:`record` for each item (same keyword names): one call for a whole run's lineage. An item
        whose data is refused (a :class:`UsageError`) is listed under ``refused`` and the others still count."""
        recorded, refused = [], []
        for r in records:
            try:
                recorded.append(self.record(**dict(r)))
            except UsageError as exc:
                refused.append({"node": r.get("node", ""), "artifact": r.get("artifact", ""), "error": str(exc)})
        return {"recorded": recorded, "refused": refused}

    def mark_stale(self, *, artifacts: Sequence[str], reason: str = "changed") -> dict[str, Any]:
        return self._announce(self.core.mark_stale(artifacts, reason), reason)

    def file_changed(self, *, path: str, digest: str) -> dict[str, Any]:
        return self._announce(self.core.file_changed(path, digest), f"file {path} changed")

    def extension_updated(self, *, extension: str, version: str) -> dict[str, Any]:
        return self._announce(self.core.extension_updated(extension, version), f"extension {extension} updated")

    def query(self, *, artifacts: Sequence[str]) -> dict[str, dict[str, Any]]:
        return self.core.query(artifacts)

    def stale(self, *, limit: int = 1000) -> list[str]:
        return self.core.stale(limit)

    def lineage(self, *, artifact: str) -> dict[str, Any]:
        return self.core.lineage(artifact)

    def fresh_nodes(self, *, nodes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return self.core.fresh_nodes(nodes)

    def cleanup(self, *, dry_run: bool = False, limit: int | None = None) -> dict[str, Any]:
        report = self.core.cleanup(self.reclaim, dry_run, limit)
        if not dry_run:
            self._save()
            self._publish("stale.cleaned", {"count": report["count"], "bytes_freed": report["bytes_freed"]})
        return report


def build(settings: ServiceSettings) -> StaleService:
    """Factory for the runtime: ``symphony_actors.pit.stale.service:build``."""
    return StaleService(settings)
