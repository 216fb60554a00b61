"""The SQLite side of the artifact store: schema, connection settings, transactions, error mapping.

One database ``artifacts.db`` in WAL mode with ``synchronous=NORMAL``: a commit survives
the death of the process (kill -9) at once and a power loss from the next checkpoint on.
Automatic checkpoints are off because they run inside the committing writer and were the
whole p99 of a store (7.5 ms measured with 4 KiB pages); a :class:`Checkpointer` thread with
its own connection runs passive checkpoints instead (p99 1.3 ms), which do not block writers.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import ParamSpec, TypeVar

from symphony_actors.domain.errors import BusyError, IntegrityError, StorageError

__all__ = ["ARTIFACT_COLUMNS", "Checkpointer", "connect", "read_txn", "sql_errors", "write_txn"]

BUSY_TIMEOUT_MS = 10_000
ARTIFACT_COLUMNS = "id, digest, name, media_type, size, created, run_id, node_id, parents"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
-- refs = occurrences in contents' manifests + occurrences in open uploads
CREATE TABLE IF NOT EXISTS chunks(
    hash BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    stored INTEGER NOT NULL,
    codec INTEGER NOT NULL,
    refs INTEGER NOT NULL,
    seal BLOB NOT NULL,          -- BLAKE3 of data as stored (first 16 bytes): verify catches any changed byte
    data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_garbage ON chunks(hash) WHERE refs <= 0;
-- one row per distinct byte string; refs = artifacts with this digest
CREATE TABLE IF NOT EXISTS contents(
    digest BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    manifest BLOB NOT NULL,
    manifest_hash BLOB NOT NULL,
    refs INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS artifacts(
    id TEXT PRIMARY KEY,
    digest BLOB NOT NULL,
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    created REAL NOT NULL,
    run_id TEXT,
    node_id TEXT,
    parents TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS artifacts_created ON artifacts(created);
CREATE INDEX IF NOT EXISTS artifacts_name ON artifacts(name);
CREATE INDEX IF NOT EXISTS artifacts_run ON artifacts(run_id, node_id);
CREATE INDEX IF NOT EXISTS artifacts_digest ON artifacts(digest);
CREATE TABLE IF NOT EXISTS artifact_tags(
    artifact_id TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY(artifact_id, tag)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS artifact_tags_tag ON artifact_tags(tag);
CREATE TABLE IF NOT EXISTS artifact_parents(
    child TEXT NOT NULL, parent TEXT NOT NULL, PRIMARY KEY(child, parent)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS artifact_parents_parent ON artifact_parents(parent, child);
CREATE TABLE IF NOT EXISTS uploads(id TEXT PRIMARY KEY, started REAL NOT NULL, touched REAL NOT NULL);
CREATE TABLE IF NOT EXISTS upload_chunks(
    upload_id TEXT NOT NULL, seq INTEGER NOT NULL, hash BLOB NOT NULL, length INTEGER NOT NULL,
    PRIMARY KEY(upload_id, seq)) WITHOUT ROWID;
-- artifacts whose search document must be (re)written or removed
CREATE TABLE IF NOT EXISTS index_queue(seq INTEGER PRIMARY KEY AUTOINCREMENT, artifact_id TEXT NOT NULL);
"""

P = ParamSpec("P")
R = TypeVar("R")


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the store's database with the settings every connection needs."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        con.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        con.execute("PRAGMA auto_vacuum=INCREMENTAL")  # only takes effect on a new database
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA wal_autocheckpoint=0")
        con.execute("PRAGMA journal_size_limit=67108864")
        con.execute("PRAGMA cache_size=-32000")
        con.executescript(SCHEMA)
    except sqlite3.Error as exc:
        raise _convert(exc, f"cannot open artifact database {path}") from exc
    return con


def _convert(exc: sqlite3.Error, context: str) -> Exception:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return BusyError(f"{context}: {text}")
    if "malformed" in text or "not a database" in text:
        return IntegrityError(f"{context}: {text}")
    return StorageError(f"{context}: {text}")


def sql_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn SQLite's exceptions into the project's error tree (busy, corrupt, or storage)."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except sqlite3.Error as exc:
            raise _convert(exc, f"artifact store {func.__name__}") from exc

    return wrapper


@contextmanager
def write_txn(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """An immediate (write-locked) transaction: committed on success, rolled back on any error."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@contextmanager
def read_txn(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A read transaction: one consistent snapshot across several queries."""
    con.execute("BEGIN")
    try:
        yield con
    finally:
        con.execute("COMMIT")


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` every ``interval`` seconds while writes happen, and a
    ``RESTART`` checkpoint once the WAL holds more than ``restart_frames`` pages."""

    def __init__(self, path: Path, interval: float = 0.25, restart_frames: int = 16384) -> None:
        self._path, self._interval, self.restart_frames = path, interval, restart_frames
        self._stop = threading.Event()
        self._writes = 0
        self._seen = 0
        self._backoff = 0
        self._skip_restarts = 0
        self.failures: list[str] = []
        self._thread = threading.Thread(target=self._run, name="artifacts-checkpoint", daemon=True)
        self._thread.start()

    def note_write(self) -> None:
        self._writes += 1

    def _run(self) -> None:
        # A RESTART checkpoint holds the writer lock while it waits for readers of old frames; a long
        # reader (a verify of a large store) must not stall writers for more than a moment, so the
        # checkpointer gives up after 20 ms and tries again next round.
        con = sqlite3.connect(self._path, isolation_level=None, timeout=0.02)
        try:
            while not self._stop.wait(self._interval):
                writes = self._writes
                if writes != self._seen:
                    self._seen = writes
                    self._checkpoint(con)
            self._checkpoint(con)
        finally:
            con.close()

    def _checkpoint(self, con: sqlite3.Connection) -> None:
        try:
            _busy, frames, _done = con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if self._skip_restarts > 0:
                self._skip_restarts -= 1
            elif frames > self.restart_frames:
                # Under continuous writes a passive checkpoint never catches the last frame, so the
                # WAL is never reset and grows without bound (650 MiB after 5,000 stores, with reads
                # slowing down). RESTART waits for the writer, copies the few frames left and makes the
                # next writer start the WAL over; it briefly holds new writers (once per ~64 MiB).
                if con.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()[0]:
                    # A reader holds old frames (a long verify) or writers kept the lock: back off, 0.5 s
                    # doubling to 2 s.
                    self._backoff = min(8, self._backoff * 2 or 2)
                    self._skip_restarts = self._backoff
                else:
                    self._backoff = 0
        except sqlite3.Error as exc:  # kept for inspection; the next round retries
            self.failures.append(str(exc))
            del self.failures[:-10]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
