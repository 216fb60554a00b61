"""The result journal: what executors finished, written before they report it to the tracker.

Executors append each slice's results here (one transaction per slice) *before*
telling the tracker; the tracker reads it back only when it might otherwise run a
task again: when it resumes runs after a restart or a stop, and when an executor
exits with tasks in flight. A task whose result is in the journal is answered from
it, so a node whose result was recorded is never executed again, whatever crashed.
What the journal cannot save is a task that was *running* when its executor was
killed (or finished in the slice being written): that one runs again, once per
kill (at-least-once; see docs/dag.md).

``<data>/dag/results.sqlite`` (WAL), rows keyed by (run, node, item, attempt); a
run's rows are dropped when it ends. Values are CBOR (plain data only).
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
_SCHEMA = ("CREATE TABLE IF NOT EXISTS results(run_id TEXT NOT NULL, node TEXT NOT NULL, item INTEGER NOT NULL, "
           "attempt INTEGER NOT NULL, result BLOB NOT NULL, PRIMARY KEY(run_id, node, item, attempt)) WITHOUT ROWID")


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
            self.db.execute(_SCHEMA)
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
        rows = []
        for r in results:
            try:
                rows.append((r[0], r[1], r[2], r[3], cbor2.dumps(list(r))))
            except (cbor2.CBOREncodeError, TypeError, ValueError) as exc:
                self.unrecorded += 1
                log.warning("result of %s/%s not journaled (not plain data): %s", r[0], r[1], exc)
        if not rows:
            return
        try:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?)", rows)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise StorageError(f"cannot write the result journal {self.path}: {exc}", path=str(self.path)) from exc

    def of_run(self, run_id: str) -> dict[Key, tuple[Any, ...]]:
        """Every journaled result of a run, by task key."""
        try:
            rows = self.db.execute("SELECT node, item, attempt, result FROM results WHERE run_id=?",
                                   (run_id,)).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read the result journal {self.path}: {exc}", path=str(self.path)) from exc
        return {(node, item, attempt): tuple(cbor2.loads(blob)) for node, item, attempt, blob in rows}

    def forget(self, run_id: str) -> None:
        """Drop an ended run's results (its checkpoint holds them now)."""
        try:
            self.db.execute("DELETE FROM results WHERE run_id=?", (run_id,))
        except sqlite3.Error as exc:
            raise StorageError(f"cannot write the result journal {self.path}: {exc}", path=str(self.path)) from exc
