"""Ports of the Pit's Pool Manager, Arbitration Engine and Stale Manager.

Each port is implemented three ways: the real service object (in-process), a
client adapter that calls the hosted service by name, and a complete in-memory
fake in :mod:`symphony_actors.testing.fake_pit`. All arguments are keywords and
all values plain data, so every call crosses a process boundary unchanged.

Errors (all :class:`~symphony_actors.domain.errors.SymphonyError`)::

    NotFoundError        unknown model, lease, request, artifact
    UsageError           a bad argument (negative size, unknown policy key, ...)
    BusyError            pool: no instance free and none can be loaded now
    InstanceFailed       pool: the leased instance died or got stuck (symphony_actors.pit.pool.errors)
    LeaseExpired         pool: the lease ran past its deadline without renewal

:class:`PitPort` composes the five Pit ports (pool, DAG, artifacts, arbitration,
stale) for code that talks to the whole Pit through one object. It composes by
attribute (``pit.pool.allocate(...)``), not by inheritance: the five ports share
method names with different meanings (``status``, ``release``, ``submit``,
``lineage``). :class:`Pit` is the plain container that satisfies it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from symphony_actors.ports.artifacts import ArtifactPort
from symphony_actors.ports.dag import DagPort

__all__ = ["ArbitrationPort", "Pit", "PitPort", "PoolPort", "StalePort"]


@runtime_checkable
class PoolPort(Protocol):
    """Model instances: cold -> loading -> warm -> busy -> draining, or failed; leases on warm instances."""

    def register_model(self, *, model: str, size_mb: float, load_cost_s: float = 1.0, max_instances: int = 1,
                       keep_alive_s: float | None = None) -> dict[str, Any]:
        """Declare (or update) a model: its memory size, how long it takes to load, how many instances."""
        ...

    def allocate(self, *, model: str, holder: str, lease_s: float | None = None) -> dict[str, Any]:
        """A lease on an instance of ``model``: ``state`` is ``active`` (warm hit) or ``loading`` (cold start).

        Raises ``NotFoundError`` (unknown model) or ``BusyError`` (no instance free, none can be loaded)."""
        ...

    def lease(self, *, lease_id: str) -> dict[str, Any]:
        """The lease's current form; raises ``InstanceFailed``/``LeaseExpired`` if it was lost."""
        ...

    def renew(self, *, lease_id: str, lease_s: float | None = None) -> dict[str, Any]:
        """Extend the lease (keep-alive of the holder); raises as :meth:`lease` does."""
        ...

    def release(self, *, lease_id: str) -> dict[str, Any]:
        """Give the instance back (idempotent); raises ``InstanceFailed`` if the instance failed meanwhile."""
        ...

    def heartbeat(self, *, instance: str) -> None:
        """An instance says it is alive (the health check's push half)."""
        ...

    def loaded(self, *, instance: str) -> None:
        """The loader reports that ``instance`` finished loading."""
        ...

    def failed(self, *, instance: str, reason: str) -> None:
        """The loader (or anyone) reports that ``instance`` died."""
        ...

    def lookahead(self, *, models: Sequence[str], horizon_s: float = 60.0, run: str = "") -> dict[str, Any]:
        """Warm ``models`` that active runs will reach within ``horizon_s``; they are not evicted meanwhile."""
        ...

    def drain(self, *, model: str) -> dict[str, Any]:
        """Unload a model's instances as soon as their leases end; no new leases until re-registered."""
        ...

    def status(self, *, model: str | None = None) -> dict[str, Any]:
        """Models, instances and their states, memory used and budget, each model's keep-alive windows."""
        ...


@runtime_checkable
class ArbitrationPort(Protocol):
    """Admission of competing requests for scarce resources, and conflicts on named things."""

    def submit(self, *, request_id: str, run: str, demands: Mapping[str, float], user: str = "",
               workflow: str = "", priority: int = 0, deadline: float | None = None) -> dict[str, Any]:
        """Ask for ``demands`` (resource -> amount); the decision's ``verdict`` is granted, queued or rejected."""
        ...

    def release(self, *, request_id: str) -> dict[str, Any]:
        """Return a granted request's resources (or withdraw a queued one); lists requests granted as a result."""
        ...

    def decision(self, *, request_id: str) -> dict[str, Any]:
        """The latest decision on a request."""
        ...

    def claim(self, *, kind: str, name: str, run: str, priority: int = 0) -> dict[str, Any]:
        """Ask to be the writer of a named thing (``kind`` artifact or buffer); decided by the conflict policy."""
        ...

    def unclaim(self, *, kind: str, name: str, run: str) -> dict[str, Any]:
        """Stop writing; a queued claimant may be granted (listed in the result)."""
        ...

    def decisions(self, *, request_id: str | None = None, run: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
        """The decision log, newest last, each with its reason."""
        ...

    def get_policy(self) -> dict[str, Any]:
        """The policy in force, as data."""
        ...

    def set_policy(self, *, policy: Mapping[str, Any], merge: bool = False) -> dict[str, Any]:
        """Replace the policy (``merge``: update only the keys given); validated, every problem reported at
        once (``ValidationError``); queued requests are re-decided under the new policy."""
        ...

    def reconcile(self, *, prefix: str, live: list[str]) -> list[str]:
        """Release every queued or granted request whose id starts with ``prefix`` and whose ``run`` is not
        in ``live`` (what a holder that ended without releasing left behind); returns the released ids."""
        ...

    def set_capacity(self, *, capacity: Mapping[str, float]) -> dict[str, Any]:
        """Set some resources' capacity (others keep theirs); the queue is re-decided. Returns the policy."""
        ...

    def status(self) -> dict[str, Any]:
        """Capacity, usage, the queue in order, and claims."""
        ...


@runtime_checkable
class StalePort(Protocol):
    """Lineage of derived artifacts, staleness (transitive and by TTL), cleanup and incremental re-runs."""

    def record(self, *, artifact: str, node_type: str, params: Mapping[str, Any] | None = None,
               inputs: Sequence[str] = (), files: Mapping[str, str] | None = None,
               extensions: Mapping[str, str] | None = None, ttl_s: float | None = None,
               size_bytes: int = 0, node: str = "", run: str = "") -> dict[str, Any]:
        """Record how ``artifact`` was derived; returns its derivation ``key``."""
        ...

    def record_many(self, *, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """:meth:`record` for each mapping of its keyword arguments; ``{"recorded": [...], "refused": [...]}``:
        the recorded in order, and ``{"node", "artifact", "error"}`` for each item whose data was refused."""
        ...

    def mark_stale(self, *, artifacts: Sequence[str], reason: str = "changed") -> dict[str, Any]:
        """Mark ``artifacts`` and everything derived from them stale; ``marked`` lists the newly stale."""
        ...

    def file_changed(self, *, path: str, digest: str) -> dict[str, Any]:
        """A file input now has ``digest``: artifacts derived from another digest of it go stale, transitively."""
        ...

    def extension_updated(self, *, extension: str, version: str) -> dict[str, Any]:
        """Artifacts made by another version of ``extension`` go stale, transitively."""
        ...

    def query(self, *, artifacts: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Per artifact: ``stale`` (bool), ``reason``, ``since``; unknown artifacts are reported as unknown."""
        ...

    def stale(self, *, limit: int = 1000) -> list[str]:
        """Stale artifacts, oldest first."""
        ...

    def lineage(self, *, artifact: str) -> dict[str, Any]:
        """The record of ``artifact``: key, inputs, files, params, extensions, and what was derived from it."""
        ...

    def fresh_nodes(self, *, nodes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Which nodes of a re-run can be skipped: ``fresh`` maps node -> artifact, ``rerun`` node -> reason.

        Each node is ``{"node", "type", "params", "inputs" (artifact ids), "deps" (earlier nodes of the same
        list whose output it consumes), "files", "extensions"}``, in topological order."""
        ...

    def cleanup(self, *, dry_run: bool = False, limit: int | None = None) -> dict[str, Any]:
        """Reclaim stale artifacts: ``{"count", "bytes_freed", "artifacts"}``."""
        ...


@runtime_checkable
class PitPort(Protocol):
    """The five Pit services through one object, one attribute per port."""

    @property
    def pool(self) -> PoolPort: ...

    @property
    def dag(self) -> DagPort: ...

    @property
    def artifacts(self) -> ArtifactPort: ...

    @property
    def arbitration(self) -> ArbitrationPort: ...

    @property
    def stale(self) -> StalePort: ...


@dataclass(frozen=True, slots=True)
class Pit:
    """A :class:`PitPort` made of five adapters (clients, services or fakes)."""

    pool: PoolPort
    dag: DagPort
    artifacts: ArtifactPort
    arbitration: ArbitrationPort
    stale: StalePort
