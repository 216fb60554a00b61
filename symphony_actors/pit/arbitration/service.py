"""The Arbitration Engine service: :class:`Arbiter` with a timer for deadlines and aging, and a store.

Options: ``policy`` (the initial policy mapping; a stored policy, set at run time, wins over it),
``tick_interval_s`` (default 1.0), ``clock`` (in-process only). The policy, the queued and granted
requests and the claims are kept in ``<data_dir>/pit/arbitration.sqlite3``: every call that changes them is
written before it answers (a grant is never lost, nor one released counted again after a crash); the tick
saves what deadlines and aging changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from symphony_actors.pit._hosting import ServiceBase, clock_from
from symphony_actors.pit.arbitration.core import Arbiter
from symphony_actors.pit.kvstore import KVStore
from symphony_actors.ports.service import ServiceSettings

__all__ = ["ArbitrationService", "build"]

T = TypeVar("T")


class ArbitrationService(ServiceBase):
    """Hosts :class:`Arbiter`; methods are :class:`~symphony_actors.ports.pit.ArbitrationPort`'s plus ``tick``."""

    TIMER = "tick"
    EXPORTS: ClassVar[frozenset[str]] = frozenset({
        "submit", "release", "decision", "claim", "unclaim", "decisions", "get_policy", "set_policy", "status",
        "tick", "reconcile", "set_capacity"})

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.clock = clock_from(settings.options)
        self.timer_s = float(settings.options.get("tick_interval_s", 1.0))
        self.store = KVStore(settings.data_dir / "pit" / f"{settings.name}.sqlite3")
        stored = self.store.get("policy", "current")
        self.core = Arbiter(self.clock, stored or settings.options.get("policy"), self._publish)
        self.core.restore([data for _, data in self.store.items("request")])
        self.core.load_claims(self.store.get("claims", "all", []))

    def _close(self) -> None:
        self.store.close()

    def _save(self) -> None:
        if self.core.claims_dirty:
            self.store.put("claims", "all", self.core.claims_data())
            self.core.claims_dirty = False
        if not self.core.dirty:
            return
        live, gone = [], []
        for rid in sorted(self.core.dirty):
            req = self.core.requests.get(rid)
            if req is not None and req.state in ("queued", "granted"):
                live.append((rid, req.to_dict()))
            else:
                gone.append(rid)
        self.store.put_many("request", live)
        self.store.delete_many("request", gone)
        self.core.dirty.clear()

    def tick(self) -> None:
        """Timer: deadlines and aging, then save changed requests and claims."""
        def work() -> None:
            self.core.tick()
            self.core.forget_finished()
            self._save()
        self._repeat(work)

    # ------------------------------------------------------------------ ArbitrationPort
    def _saved(self, result: T) -> T:
        self._save()
        return result

    def submit(self, *, request_id: str, run: str, demands: Mapping[str, float], user: str = "",
               workflow: str = "", priority: int = 0, deadline: float | None = None) -> dict[str, Any]:
        return self._saved(self.core.submit(request_id, run, demands, user, workflow, priority,
                                            deadline))

    def release(self, *, request_id: str) -> dict[str, Any]:
        return self._saved(self.core.release(request_id))

    def reconcile(self, *, prefix: str, live: list[str]) -> list[str]:
        """Release the requests under ``prefix`` whose run is not in ``live`` (see :meth:`Arbiter.reconcile`)."""
        return self._saved(self.core.reconcile(prefix, frozenset(live)))

    def set_capacity(self, *, capacity: Mapping[str, float]) -> dict[str, Any]:
        """Set some resources' amounts (the ``runs`` service sets ``executors`` to the executors configured)."""
        result = self.core.set_capacity(capacity)
        self.store.put("policy", "current", result)
        return self._saved(result)

    def decision(self, *, request_id: str) -> dict[str, Any]:
        return self.core.decision(request_id)

    def claim(self, *, kind: str, name: str, run: str, priority: int = 0) -> dict[str, Any]:
        return self._saved(self.core.claim(kind, name, run, priority))

    def unclaim(self, *, kind: str, name: str, run: str) -> dict[str, Any]:
        return self._saved(self.core.unclaim(kind, name, run))

    def decisions(self, *, request_id: str | None = None, run: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
        return self.core.decisions(request_id, run, limit)

    def get_policy(self) -> dict[str, Any]:
        return dict(self.core.policy.data)

    def set_policy(self, *, policy: Mapping[str, Any], merge: bool = False) -> dict[str, Any]:
        result = self.core.set_policy(policy, merge)
        self.store.put("policy", "current", result)
        return self._saved(result)

    def status(self) -> dict[str, Any]:
        return self.core.status()


def build(settings: ServiceSettings) -> ArbitrationService:
    """Factory for the runtime: ``symphony_actors.pit.arbitration.service:build``."""
    return ArbitrationService(settings)
