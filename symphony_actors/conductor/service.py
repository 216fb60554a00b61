"""The Conductor service: :class:`Bandit` hosted with a store for what it learned.

Options: ``policy`` (initial; a stored policy set at run time wins), ``save_interval_s`` (default 5),
``history_size``. Arm statistics, the policy, counters and the running flag survive a restart in
``<data_dir>/conductor/<name>.sqlite3`` (saved each ``save_interval_s`` and on stop); decisions awaiting
feedback do not (feedback for them after a restart gets ``NotFoundError``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from symphony_actors.conductor.bandit import ALGORITHMS, Arm, Bandit
from symphony_actors.pit._hosting import ServiceBase
from symphony_actors.pit.kvstore import KVStore
from symphony_actors.ports.service import ServiceSettings

__all__ = ["ConductorService", "build"]


class ConductorService(ServiceBase):
    """Hosts :class:`Bandit`; methods are :class:`~symphony_actors.ports.conductor.ConductorPort`'s plus ``save``."""

    TIMER = "save"
    EXPORTS: ClassVar[frozenset[str]] = frozenset({
        "start", "stop", "status", "decide", "feedback", "rate", "history", "policies", "set_policy", "metrics",
        "save"})

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.timer_s = float(settings.options.get("save_interval_s", 5.0))
        self.store = KVStore(settings.data_dir / "conductor" / f"{settings.name}.sqlite3")
        policy = self.store.get("state", "policy") or settings.options.get("policy") or {}
        self.core = Bandit(policy, history_size=int(settings.options.get("history_size", 10_000)))
        self.core.arms = {k: Arm.from_list(v) for k, v in self.store.items("arm")}
        counters = self.store.get("state", "counters", {})
        self.core.decisions = int(counters.get("decisions", 0))
        self.core.feedbacks = int(counters.get("feedback", 0))
        self.core.explorations = int(counters.get("explorations", 0))
        self.core.decided = {k: int(v) for k, v in counters.get("decided", {}).items()}
        self.core.running = bool(self.store.get("state", "running", True))

    def _close(self) -> None:
        self.store.close()

    def _save(self) -> None:
        core = self.core
        if core.dirty:
            self.store.put_many("arm", [(k, core.arms[k].to_list()) for k in sorted(core.dirty)])
            core.dirty.clear()
        self.store.put("state", "counters", {"decisions": core.decisions, "feedback": core.feedbacks,
                                             "explorations": core.explorations, "decided": core.decided})

    def save(self) -> None:
        """Timer: write learned statistics."""
        self._repeat(self._save)

    # ------------------------------------------------------------------ ConductorPort
    def start(self) -> dict[str, Any]:
        self.core.running = True
        self.store.put("state", "running", True)
        self._publish("conductor.started", {})
        return self.core.status()

    def stop(self) -> dict[str, Any]:
        self.core.running = False
        self.store.put("state", "running", False)
        self._publish("conductor.stopped", {})
        return self.core.status()

    def status(self) -> dict[str, Any]:
        return self.core.status()

    def decide(self, *, task: str, candidates: Sequence[str], context: Mapping[str, Any] | None = None,
               decision_id: str | None = None) -> dict[str, Any]:
        return self.core.decide(task, candidates, context, decision_id)

    def feedback(self, *, decision_id: str, quality: float | None = None, cost: float | None = None,
                 latency_s: float | None = None, success: bool = True) -> dict[str, Any]:
        return self.core.feedback(decision_id, quality, cost, latency_s, success)

    def rate(self, *, decision_id: str, quality: float | None = None, cost: float | None = None) -> dict[str, Any]:
        return self.core.rate(decision_id, quality, cost)

    def history(self, *, task: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return self.core.history(task, limit)

    def policies(self) -> dict[str, Any]:
        return {"current": dict(self.core.policy), "algorithms": list(ALGORITHMS)}

    def set_policy(self, *, policy: Mapping[str, Any], merge: bool = False) -> dict[str, Any]:
        result = self.core.set_policy(policy, merge)
        self.store.put("state", "policy", result)
        self._publish("conductor.policy", {"algorithm": result["algorithm"]})
        return result

    def metrics(self, *, task: str | None = None) -> dict[str, Any]:
        return self.core.metrics(task)


def build(settings: ServiceSettings) -> ConductorService:
    """Factory for the runtime: ``symphony_actors.conductor.service:build``."""
    return ConductorService(settings)
