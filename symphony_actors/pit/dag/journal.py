"""The result journal: what executors finished, written before they report it to the tracker.

Executors append each slice's results here (one transaction per slice) *before*
telling the tracker; the tracker reads it back only when it might otherwise run a
task again: when it resumes runs after a restart or a stop, and when an executor
exits with tasks in flight. A task whose result is in the journal is answered from
it, so a node whose result was recorded is never executed again, whatever crashed.
What the journal cannot save is a task that was *running* when its executor was
killed (or finished in the slice being written): that one runs again, once per
kill (at-least-once; see docs/dag.md).

``<data>/dag/results.sqlite`` (WAL): one row per run per slice (a CBOR list of
result tuples, as the checkpoint log does), so journaling a slice costs one insert
and one commit; a run's rows are dropped when it ends. Values are plain data only.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cbor2

from symphony_actors.domain.errors import StorageError

__all__ = ["ResultJournal", "journal_path"]

log = logging.getLogger(__name__)
Key = tuple[str, int, int]  # (node, item, attempt), as the engine's TaskKey
_SCHEMA = ("CREATE TABLE IF NOT EXISTS slices(run_id TEXT NOT NULL, results BLOB NOT NULL);"
           "CREATE INDEX IF NOT EXISTS slices_by_run ON slices(run_id);")


def journal_path(data_dir: Path) -> Path:
    return data_dir / "dag" / "results.sqlite"


class ResultJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10.0)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # survives a process crash; an OS crash may lose a slice
            self.db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot open the result journal {path}: {exc}", path=str(path)) from exc
        self.unrecorded = 0  # results that could not be encoded (they are reported, not journaled)

    @classmethod
    def open(cls, data_dir: Path) -> ResultJournal:
        return cls(journal_path(data_dir))

    def close(self) -> None:
        self.db.close()

    def record(self, results: Iterable[tuple[Any, ...]]) -> None:
        """Append executor results ``(run, node, item, attempt, ok, value, artifact, error, started, secs)``."""
        by_run: dict[str, list[tuple[Any, ...]]] = {}
        for r in results:
            by_run.setdefault(r[0], []).append(r)
        rows = []
        for run_id, slice_ in by_run.items():
            try:
                rows.append((run_id, cbor2.dumps(slice_)))
            except (cbor2.CBOREncodeError, TypeError, ValueError):
                rows.append((run_id, self._encodable(slice_)))
        try:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO slices VALUES (?,?)", rows)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise StorageError(f"cannot write the result journal {self.path}: {exc}", path=str(self.path)) from exc

    def _encodable(self, results: list[tuple[Any, ...]]) -> bytes:
        """The results that are plain data (the others are reported, not journaled: they may run again)."""
        kept = []
        for r in results:
            try:
                cbor2.dumps(r)
                kept.append(r)
            except (cbor2.CBOREncodeError, TypeError, ValueError) as exc:
                self.unrecorded += 1
                log.warning("result of %s/%s not journaled (not plain data): %s", r[0], r[1], exc)
        return cbor2.dumps(kept)

    def of_run(self, run_id: str) -> dict[Key, tuple[Any, ...]]:
        """Every journaled result of a run, by task key (a later result of the same key wins)."""
        try:
            rows = self.db.execute("SELECT results FROM slices WHERE run_id=? ORDER BY rowid", (run_id,)).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read the result journal {self.path}: {exc}", path=str(self.path)) from exc
        out: dict[Key, tuple[Any, ...]] = {}
        for (blob,) in rows:
            for r in cbor2.loads(blob):
                out[(r[1], r[2], r[3])] = tuple(r)
        return out

    def forget(self, run_id: str) -> None:
        """Drop an ended run's results (its checkpoint holds them now)."""
        try:
            self.db.execute("DELETE FROM slices WHERE run_id=?", (run_id,))
        except sqlite3.Error as exc:
            raise StorageError(f"cannot write the result journal {self.path}: {exc}", path=str(self.path)) from exc
