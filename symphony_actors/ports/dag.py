"""The DAG tracker's port: submit a workflow, follow its run, cancel it.

Implemented by :class:`~symphony_actors.pit.dag.client.DagClient` (the tracker
service called by name: in-process, or in a running system through
``connect()``) and by :class:`~symphony_actors.testing.fake_dag.FakeDag` (a
complete in-memory tracker with in-process executors, for unit tests).

A *workflow* argument is a :class:`~symphony_actors.domain.workflow.Workflow`
or :class:`~symphony_actors.domain.workflow.Template`, or its document as JSON
or binary bytes. Snapshots are dicts: ``run_id``, ``status`` (running,
succeeded, failed, cancelled), ``counts`` per node state, ``finished``, and
with ``nodes=True`` each node's ``status``, ``attempts``, ``artifact`` and
``error``. Events are dicts with ``seq`` (per run, from 1), ``at``, ``topic``
(``run.<id>.<what>`` or ``run.<id>.node.<status>``) and ``payload``.

Errors: ``ValidationError`` (the workflow or its parameters, every problem),
``NotFoundError`` (unknown run or node), ``ConflictError`` (a run id in use).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["DagPort"]


@runtime_checkable
class DagPort(Protocol):
    def submit(self, workflow: Any, params: dict[str, Any] | None = None, run_id: str | None = None,
               reuse: dict[str, dict[str, Any]] | None = None, hold: bool = False,
               retry_of: dict[str, Any] | None = None, summary: dict[str, Any] | None = None) -> str:
        """Validate and start a run; returns its id. ``reuse`` marks fresh nodes done (see the tracker).
        ``hold`` stores it as ``queued`` (waiting for admission: listed, waited on, cancellable) without
        starting it; submitting it again under the same id starts it (``ConflictError`` if it was cancelled).
        ``retry_of`` links a retry to the run it retries. ``summary`` (``{"name", "nodes"}``, with ``hold``)
        comes from a caller that validated the document already: the held run is stored without decoding
        it (it is decoded and validated when it starts)."""
        ...

    def status(self, run_id: str, nodes: bool = False) -> dict[str, Any]:
        """The run's snapshot at once."""
        ...

    def wait(self, run_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The snapshot once the run finished, or after ``timeout`` (``finished`` tells which)."""
        ...

    def events(self, run_id: str, after: int = 0, limit: int = 1000) -> dict[str, Any]:
        """``{"events": [...], "cursor": last seq returned, "last": newest seq, "done": run finished}``."""
        ...

    def result(self, run_id: str, node_id: str) -> Any:
        """The result value of a node that succeeded (None otherwise)."""
        ...

    def cancel(self, run_id: str) -> dict[str, Any]:
        """Stop the run: nothing more is dispatched, unfinished nodes become cancelled."""
        ...

    def list_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """Recent runs, newest first."""
        ...

    def outcome(self, run_id: str) -> dict[str, Any]:
        """What a retry needs: ``{"workflow": document, "status", "nodes": {id: {"status", "artifact",
        "result"}}}``."""
        ...
