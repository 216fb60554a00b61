"""A small SQLite (WAL) key -> JSON store for service state that must survive a restart.

Services of the Pit and the Conductor keep their learned state (histograms,
policies, bandit statistics) here, one database file per service under the data
directory. Writes are batched by the caller (``put_many`` in one transaction).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from symphony_actors.domain.errors import StorageError

__all__ = ["KVStore", "connect"]


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating folders) a WAL-mode SQLite database; ``StorageError`` if it cannot be used."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(f"cannot open database {path}: {exc}", path=str(path)) from exc
    return db


class KVStore:
    """Namespaced keys to JSON values in table ``kv``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS kv (ns TEXT, key TEXT, value TEXT, PRIMARY KEY (ns, key))")

    def get(self, ns: str, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM kv WHERE ns=? AND key=?", (ns, key)).fetchone()
        return default if row is None else json.loads(row[0])

    def items(self, ns: str) -> list[tuple[str, Any]]:
        rows = self.db.execute("SELECT key, value FROM kv WHERE ns=? ORDER BY key", (ns,)).fetchall()
        return [(k, json.loads(v)) for k, v in rows]

    def put(self, ns: str, key: str, value: Any) -> None:
        self.put_many(ns, [(key, value)])

    def put_many(self, ns: str, items: Iterable[tuple[str, Any]]) -> None:
        rows = [(ns, k, json.dumps(v, sort_keys=True)) for k, v in items]
        if not rows:
            return
        try:
            with self.db:
                self.db.execute("BEGIN")
                self.db.executemany("INSERT OR REPLACE INTO kv (ns, key, value) VALUES (?, ?, ?)", rows)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot write {self.path}: {exc}", path=str(self.path)) from exc

    def delete_many(self, ns: str, keys: Iterable[str]) -> None:
        rows = [(ns, k) for k in keys]
        if not rows:
            return
        try:
            with self.db:
                self.db.execute("BEGIN")
                self.db.executemany("DELETE FROM kv WHERE ns=? AND key=?", rows)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot write {self.path}: {exc}", path=str(self.path)) from exc

    def close(self) -> None:
        self.db.close()
