"""Run checkpoints in SQLite (WAL) under ``<data>/dag/runs.sqlite``, event-sourced.

A run's checkpoint *is* its event log: every node transition (with the
node's result when it succeeded) and every run event, plus which executor
holds each dispatched task. The tracker appends one row per run per flush
(a CBOR list of records), so checkpointing a batch of 256 results costs one
insert and one commit, not one row per node. Recovery replays the log; the
events API reads the same rows, so subscribers can resume from any cursor,
across tracker restarts.

Records (lists, CBOR-encoded together):

* ``["n", seq, at, node, status, attempt, detail, error, artifact, result]``: a node transition
* ``["r", seq, at, topic_suffix, payload]``: a run event (queued, started, finished, ...)
* ``["a", node, attempt, executor]``: a task handed to an executor (not an event)

Attempts (table ``attempts``, one row per run, node, item and attempt): when it
ran, on which worker (executor or extension actor) and host, and what it left
behind (stdout, stderr, ``log`` lines; bounded per attempt by the runner, with a
truncation marker). Written as executors report them, read by ``DagService.logs``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import cbor2

from symphony_actors.domain.errors import NotFoundError, ProtocolError, StorageError

__all__ = ["DagStore", "NodeState", "decode", "encode", "read_value"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs(
    run_id TEXT PRIMARY KEY, name TEXT NOT NULL, workflow BLOB NOT NULL, params BLOB,
    status TEXT NOT NULL, created REAL NOT NULL, started REAL, finished REAL,
    seq INTEGER NOT NULL DEFAULT 0, counts BLOB, error BLOB);
CREATE TABLE IF NOT EXISTS log(
    run_id TEXT NOT NULL, last_seq INTEGER NOT NULL, part INTEGER NOT NULL, records BLOB NOT NULL,
    PRIMARY KEY(run_id, part)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status);
CREATE TABLE IF NOT EXISTS attempts(
    run_id TEXT NOT NULL, node TEXT NOT NULL, item INTEGER NOT NULL, attempt INTEGER NOT NULL,
    worker TEXT, host TEXT, started REAL, ended REAL, ok INTEGER, output BLOB,
    PRIMARY KEY(run_id, node, item, attempt)) WITHOUT ROWID;
"""
OUTPUT_MAX = 256 * 1024   # bytes of encoded output kept per attempt, whatever the worker sent

NodeState = tuple[str, int, str | None, Any, str | None, Any]  # status, attempt, executor, result, artifact, error


def encode(value: Any) -> bytes | None:
    return None if value is None else cbor2.dumps(value)


def decode(blob: bytes | None) -> Any:
    return None if blob is None else cbor2.loads(blob)


def read_value(artifacts: Any, artifact_id: str) -> Any:
    """A node's result that travelled as an artifact (executors and extension actors store results as CBOR)."""
    try:
        return cbor2.loads(artifacts.retrieve(artifact_id))
    except cbor2.CBORDecodeError as exc:
        raise ProtocolError(f"artifact {artifact_id} is not a node result (CBOR): {exc}",
                            artifact=artifact_id) from None


class DagStore:
    def __init__(self, path: Path) -> None:
        if str(path) != ":memory:":
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
        self._parts: dict[str, int] = {}

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ writes
    def create_run(self, run_id: str, name: str, workflow: bytes, params: dict[str, Any],
                   status: str = "queued") -> None:
        try:
            self.db.execute("INSERT INTO runs(run_id, name, workflow, params, status, created) VALUES (?,?,?,?,?,?)",
                            (run_id, name, workflow, encode(params), status, time.time()))
        except sqlite3.IntegrityError as exc:
            from symphony_actors.domain.errors import ConflictError

            raise ConflictError(f"run {run_id!r} exists already", run_id=run_id) from exc

    def start_held(self, run_id: str, workflow: bytes) -> int | None:
        """A run held in the queue starts: its workflow (as admitted) replaces the queued one. Returns its
        last event seq; None if there is no such run; ``ConflictError`` if it is no longer queued."""
        row = self.db.execute("SELECT status, seq FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            return None
        if row[0] != "queued":
            from symphony_actors.domain.errors import ConflictError

            raise ConflictError(f"run {run_id!r} is {row[0]}, not queued", run_id=run_id, status=row[0])
        self.db.execute("UPDATE runs SET workflow=?, status='running' WHERE run_id=?", (workflow, run_id))
        return int(row[1])

    def _next_part(self, run_id: str) -> int:
        part = self._parts.get(run_id)
        if part is None:
            row = self.db.execute("SELECT max(part) FROM log WHERE run_id=?", (run_id,)).fetchone()
            part = row[0] if row and row[0] is not None else 0
        part += 1
        self._parts[run_id] = part
        return part

    def write(self, logs: Iterable[tuple[str, int, list[list[Any]]]], runs: Iterable[tuple[Any, ...]]) -> None:
        """One transaction: a log row per run (run_id, last seq, records) and run row updates
        (status, started, finished, seq, counts, error, run_id)."""
        try:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO log VALUES (?,?,?,?)",
                                [(rid, last, self._next_part(rid), cbor2.dumps(recs)) for rid, last, recs in logs])
            self.db.executemany(
                "UPDATE runs SET status=?, started=coalesce(?, started), finished=?, seq=?, counts=?, error=? "
                "WHERE run_id=?", runs)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            self._parts.clear()
            raise StorageError(f"checkpoint write failed: {exc}") from exc

    def write_attempts(self, attempts: Iterable[dict[str, Any]]) -> int:
        """Store attempt records (``runner.Attempt.record``); a record seen again replaces the first."""
        rows = []
        get = dict.get
        for a in attempts:
            quiet = not (get(a, "stdout") or get(a, "stderr") or get(a, "log") or get(a, "error"))
            output = {} if quiet else {k: a.get(k) for k in ("stdout", "stderr", "log", "error", "truncated")
                                       if a.get(k)}
            blob = cbor2.dumps(output) if output else None
            if blob is not None and len(blob) > OUTPUT_MAX:  # an unbounded worker's output: cut here, and say so
                output = {"stdout": str(output.get("stdout") or "")[:OUTPUT_MAX // 4],
                          "stderr": str(output.get("stderr") or "")[:OUTPUT_MAX // 4],
                          "log": list(output.get("log") or [])[:100], "error": output.get("error"),
                          "truncated": True}
                blob = cbor2.dumps(output)
            rows.append((str(a["run_id"]), str(a["node"]), int(a.get("item", -1)), int(a.get("attempt", 1)),
                         a.get("worker"), a.get("host"), a.get("started"), a.get("ended"),
                         int(bool(a.get("ok"))), blob))
        if not rows:
            return 0
        try:
            self.db.execute("BEGIN")   # one commit for the batch (autocommit would commit every row)
            self.db.executemany("INSERT OR REPLACE INTO attempts VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise StorageError(f"cannot record task attempts: {exc}") from exc
        return len(rows)

    def attempts(self, run_id: str, node: str | None = None, output: bool = True) -> list[dict[str, Any]]:
        """Attempts of a run (or of one node), in the order they started."""
        cols = "node, item, attempt, worker, host, started, ended, ok" + (", output" if output else "")
        sql = f"SELECT {cols} FROM attempts WHERE run_id=?" + (" AND node=?" if node is not None else "")
        args: tuple[Any, ...] = (run_id, node) if node is not None else (run_id,)
        out: list[dict[str, Any]] = []
        for row in self.db.execute(sql + " ORDER BY started, node, item, attempt", args):
            rec: dict[str, Any] = {"node": row[0], "item": row[1], "attempt": row[2], "worker": row[3],
                                   "host": row[4], "started": row[5], "ended": row[6], "ok": bool(row[7]),
                                   "seconds": (row[6] - row[5]) if row[5] is not None and row[6] is not None
                                   else None}
            if output:
                rec.update({"stdout": "", "stderr": "", "log": [], "error": None, "truncated": False})
                rec.update(decode(row[8]) or {})
            out.append(rec)
        return out

    # ------------------------------------------------------------------ reads
    def run(self, run_id: str) -> dict[str, Any]:
        row = self.db.execute("SELECT run_id, name, status, created, started, finished, seq, counts, error, params "
                              "FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no run {run_id!r}", run_id=run_id)
        return {"run_id": row[0], "workflow": row[1], "status": row[2], "created": row[3], "started": row[4],
                "finished": row[5], "seq": row[6], "counts": decode(row[7]) or {}, "error": decode(row[8]),
                "params": decode(row[9]) or {}}

    def workflow(self, run_id: str) -> bytes:
        """The workflow document of a run, as it was checkpointed."""
        row = self.db.execute("SELECT workflow FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no run {run_id!r}", run_id=run_id)
        return bytes(row[0])

    def started_event(self, run_id: str) -> dict[str, Any]:
        """The payload of a run's ``started`` event (what it reused, which run it retries), or {}."""
        for rec in self.records(run_id):
            if rec[0] == "r" and rec[3] == "started":
                return dict(rec[4])
        return {}

    def runs(self, limit: int = 50, status: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT run_id FROM runs" + (" WHERE status=?" if status else "") + " ORDER BY created DESC LIMIT ?"
        args: tuple[Any, ...] = (status, limit) if status else (limit,)
        return [self.run(r[0]) for r in self.db.execute(sql, args).fetchall()]

    def unfinished(self) -> list[tuple[str, bytes, dict[str, Any], int]]:
        rows = self.db.execute("SELECT run_id, workflow, params, seq FROM runs "
                               "WHERE status IN ('running', 'cancelling') ORDER BY created").fetchall()
        return [(r[0], r[1], decode(r[2]) or {}, r[3]) for r in rows]

    def records(self, run_id: str, after: int = 0) -> Iterator[list[Any]]:
        for (blob,) in self.db.execute("SELECT records FROM log WHERE run_id=? AND last_seq>? ORDER BY part",
                                       (run_id, after)):
            yield from cbor2.loads(blob)

    def node_states(self, run_id: str) -> dict[str, NodeState]:
        """The last recorded state of every node (replaying the log)."""
        states: dict[str, list[Any]] = {}
        for rec in self.records(run_id):
            if rec[0] == "n":
                _, _seq, _at, node, status, attempt, _detail, error, artifact, result = rec
                if status == "retried":
                    prev = states.get(node)
                    states[node] = ["retrying", attempt, prev[2] if prev else None, None, None, error]
                else:
                    prev = states.get(node)
                    states[node] = [status, attempt, prev[2] if prev else None, result, artifact, error]
            elif rec[0] == "a":
                _, node, attempt, executor = rec
                prev = states.get(node)
                states[node] = ["queued", attempt, executor, None, None, None] if prev is None or \
                    prev[0] not in ("succeeded", "failed", "skipped", "cancelled") else prev
        return {k: (v[0], v[1], v[2], v[3], v[4], v[5]) for k, v in states.items()}

    def events(self, run_id: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for rec in self.records(run_id, after):
            if rec[0] == "a" or rec[1] <= after:
                continue
            if rec[0] == "n":
                _, seq, at, node, status, attempt, detail, error, artifact, _result = rec
                name = "started" if status == "running" else status
                payload: dict[str, Any] = {"node": node, "status": status, "attempt": attempt}
                if detail:
                    payload["detail"] = detail
                if error:
                    payload["error"] = error
                if artifact:
                    payload["artifact"] = artifact
                out.append({"seq": seq, "at": at, "topic": f"run.{run_id}.node.{name}", "payload": payload})
            else:
                _, seq, at, what, payload = rec
                out.append({"seq": seq, "at": at, "topic": f"run.{run_id}.{what}", "payload": payload})
            if len(out) >= limit:
                break
        return out
