"""Run checkpoints in SQLite (WAL) under ``<data>/dag/runs.sqlite``.

The tracker writes in batches: every state change of a flush window goes in one
transaction (node rows upserted, events appended, run rows updated), so
checkpointing costs one commit per batch of results rather than one per node.
What is committed survives a crash of the tracker; a restarted tracker reloads
every unfinished run and resumes it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cbor2

from symphony_actors.domain.errors import NotFoundError, StorageError

__all__ = ["DagStore", "decode", "encode"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs(
    run_id TEXT PRIMARY KEY, name TEXT NOT NULL, workflow BLOB NOT NULL, params BLOB,
    status TEXT NOT NULL, created REAL NOT NULL, started REAL, finished REAL,
    seq INTEGER NOT NULL DEFAULT 0, counts BLOB, error BLOB);
CREATE TABLE IF NOT EXISTS nodes(
    run_id TEXT NOT NULL, node_id TEXT NOT NULL, status TEXT NOT NULL, attempt INTEGER NOT NULL,
    executor TEXT, result BLOB, artifact TEXT, error BLOB, updated REAL NOT NULL,
    PRIMARY KEY(run_id, node_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events(
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, at REAL NOT NULL, topic TEXT NOT NULL, payload BLOB,
    PRIMARY KEY(run_id, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status);
"""


def encode(value: Any) -> bytes | None:
    return None if value is None else cbor2.dumps(value)


def decode(blob: bytes | None) -> Any:
    return None if blob is None else cbor2.loads(blob)


class DagStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=5000")
            self.db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the run database {path}: {exc}", path=str(path)) from exc
        self.path = path

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ writes
    def create_run(self, run_id: str, name: str, workflow: bytes, params: dict[str, Any]) -> None:
        self.db.execute("INSERT INTO runs(run_id, name, workflow, params, status, created) VALUES (?,?,?,?,?,?)",
                        (run_id, name, workflow, encode(params), "queued", time.time()))

    def write(self, runs: Iterable[tuple[Any, ...]], nodes: Iterable[tuple[Any, ...]],
              events: Iterable[tuple[Any, ...]]) -> None:
        """One transaction: run updates (status, started, finished, seq, counts, error, run_id),
        node rows (run_id, node_id, status, attempt, executor, result, artifact, error, updated),
        events (run_id, seq, at, topic, payload)."""
        try:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO nodes VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(run_id, node_id) DO UPDATE SET "
                "status=excluded.status, attempt=excluded.attempt, executor=coalesce(excluded.executor, executor),"
                " result=excluded.result, artifact=excluded.artifact, error=excluded.error, updated=excluded.updated",
                nodes)
            self.db.executemany("INSERT OR IGNORE INTO events VALUES (?,?,?,?,?)", events)
            self.db.executemany(
                "UPDATE runs SET status=?, started=coalesce(?, started), finished=?, seq=?, counts=?, error=? "
                "WHERE run_id=?", runs)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise StorageError(f"checkpoint write failed: {exc}") from exc

    # ------------------------------------------------------------------ reads
    def run(self, run_id: str) -> dict[str, Any]:
        row = self.db.execute("SELECT run_id, name, status, created, started, finished, seq, counts, error, params "
                              "FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no run {run_id!r}", run_id=run_id)
        return {"run_id": row[0], "workflow": row[1], "status": row[2], "created": row[3], "started": row[4],
                "finished": row[5], "seq": row[6], "counts": decode(row[7]) or {}, "error": decode(row[8]),
                "params": decode(row[9]) or {}}

    def runs(self, limit: int = 50, status: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT run_id FROM runs" + (" WHERE status=?" if status else "") + " ORDER BY created DESC LIMIT ?"
        args: tuple[Any, ...] = (status, limit) if status else (limit,)
        return [self.run(r[0]) for r in self.db.execute(sql, args).fetchall()]

    def unfinished(self) -> list[tuple[str, bytes, dict[str, Any], int]]:
        rows = self.db.execute("SELECT run_id, workflow, params, seq FROM runs "
                               "WHERE status IN ('queued', 'running', 'cancelling') ORDER BY created").fetchall()
        return [(r[0], r[1], decode(r[2]) or {}, r[3]) for r in rows]

    def node_rows(self, run_id: str) -> list[tuple[str, str, int, str | None, Any, str | None, Any]]:
        rows = self.db.execute("SELECT node_id, status, attempt, executor, result, artifact, error FROM nodes "
                               "WHERE run_id=?", (run_id,)).fetchall()
        return [(r[0], r[1], r[2], r[3], decode(r[4]), r[5], decode(r[6])) for r in rows]

    def events(self, run_id: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT seq, at, topic, payload FROM events WHERE run_id=? AND seq>? "
                               "ORDER BY seq LIMIT ?", (run_id, after, limit)).fetchall()
        return [{"seq": r[0], "at": r[1], "topic": r[2], "payload": decode(r[3])} for r in rows]
