"""The ``runs`` service's durable table: every run it accepted and has not finished processing.

A record is written *before* the run is admitted, so that nothing the service did
is lost when it (or the whole system) dies: a queued run keeps its place, a
started run's admission is released when it ends even if that happens while the
service is down, and the grants in the Arbitration Engine can always be checked
against it (reconciliation). States:

* ``queued``: waiting for admission (its document, parameters, priority, tags are here);
* ``started``: admitted and handed to the tracker (what the use case decided travels along:
  re-used nodes, conductor decisions, chosen models);
* ``ending``: the run ended; its admission is released, lineage/feedback not yet recorded.

Stored in ``<data_dir>/pit/runs.sqlite3`` (a :class:`~symphony_actors.pit.kvstore.KVStore`); ``":memory:"``
for unit tests.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from symphony_actors.pit.kvstore import KVStore

__all__ = ["RunRecord", "RunTable"]

NS = "run"


@dataclass
class RunRecord:
    run_id: str
    document: bytes
    params: dict[str, Any]
    workflow: str
    user: str = ""
    priority: int = 0
    tags: list[str] = field(default_factory=list)
    reuse: bool = True
    seq: int = 0
    state: str = "queued"                       # queued, started, ending
    reused: dict[str, str] = field(default_factory=dict)
    decisions: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)   # node -> chosen instrument
    tries: int = 0                              # failed attempts at end-of-run processing

    @property
    def request_id(self) -> str:
        return f"run:{self.run_id}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["document"] = base64.b64encode(self.document).decode("ascii")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        return cls(**{**data, "document": base64.b64decode(data["document"])})


class RunTable:
    """Records by run id, written through to SQLite; ``queued()`` in arrival order."""

    def __init__(self, path: Path | str) -> None:
        self.store = KVStore(Path(path))
        self.records: dict[str, RunRecord] = {k: RunRecord.from_json(v) for k, v in self.store.items(NS)}
        self._seq = itertools.count(max((r.seq for r in self.records.values()), default=0) + 1)

    def next_seq(self) -> int:
        return next(self._seq)

    def put(self, record: RunRecord) -> None:
        self.store.put(NS, record.run_id, record.to_json())
        self.records[record.run_id] = record

    def delete(self, run_id: str) -> None:
        self.store.delete_many(NS, [run_id])
        self.records.pop(run_id, None)

    def get(self, run_id: str) -> RunRecord | None:
        return self.records.get(run_id)

    def in_state(self, state: str) -> list[RunRecord]:
        return sorted((r for r in self.records.values() if r.state == state), key=lambda r: r.seq)

    def close(self) -> None:
        self.store.close()
