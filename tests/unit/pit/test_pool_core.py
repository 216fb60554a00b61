"""PoolCore: loading, health checks, keep-alive and prewarm windows, eviction, lookahead."""

from __future__ import annotations

from typing import Any

import pytest

from symphony_actors.domain.errors import BusyError
from symphony_actors.pit.pool.core import ModelSpec, PoolConfig, PoolCore
from symphony_actors.pit.pool.errors import InstanceFailed
from symphony_actors.pit.pool.histogram import HistogramConfig
from symphony_actors.pit.pool.loaders import ScriptedLoader
from symphony_actors.testing.runtime import FakeClock


class Pool:
    """A PoolCore on a fake clock with a scripted loader, recording its events."""

    def __init__(self, **cfg: Any) -> None:
        self.clock = FakeClock()
        self.loader = ScriptedLoader(self.clock.time)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.core = PoolCore(self.loader, self.clock.time, PoolConfig(**cfg),
                             lambda t, p: self.events.append((t, p)))

    def run(self, seconds: float, step: float = 0.1) -> None:
        end = self.clock.now + seconds
        while self.clock.now < end - 1e-9:
            self.clock.advance(min(step, end - self.clock.now))
            self.core.tick()

    def topics(self) -> list[str]:
        return [t for t, _ in self.events]


def test_a_cold_lease_becomes_active_when_loading_ends() -> None:
    """allocate() answers at once with state loading; the lease turns active and is announced."""
    p = Pool()
    p.core.register_model(ModelSpec("m", 100, load_cost_s=2.0))
    lease = p.core.allocate("m", "run-1")
    assert lease["state"] == "loading"
    p.run(1.0)
    assert p.core.lease(lease["lease_id"])["state"] == "loading"
    p.run(1.1)
    assert p.core.lease(lease["lease_id"])["state"] == "active"
    assert ("pool.lease.ready", {"lease_id": lease["lease_id"], "holder": "run-1", "model": "m",
                                 "instance": lease["instance"]}) in p.events


def test_a_dead_instance_is_detected_replaced_and_its_holder_told() -> None:
    p = Pool()
    p.core.register_model(ModelSpec("m", 100, load_cost_s=0.0))
    lease = p.core.allocate("m", "run-1")
    p.loader.kill(lease["instance"])
    p.run(0.1)
    failed = [e for t, e in p.events if t == "pool.lease.failed"]
    assert failed == [{"lease_id": lease["lease_id"], "holder": "run-1", "model": "m",
                       "instance": lease["instance"], "reason": "dead"}]
    with pytest.raises(InstanceFailed) as info:
        p.core.release(lease["lease_id"])
    assert info.value.details["reason"] == "dead"
    replacement = p.core.status("m")["models"]["m"]["instances"]
    assert len(replacement) == 1 and lease["instance"] not in replacement


def test_a_stuck_instance_is_detected() -> None:
    p = Pool()
    p.core.register_model(ModelSpec("m", 100, load_cost_s=0.0))
    lease = p.core.allocate("m", "run-1")
    p.loader.hang(lease["instance"])
    p.run(0.1)
    with pytest.raises(InstanceFailed) as info:
        p.core.lease(lease["lease_id"])
    assert info.value.details["reason"] == "stuck"


def test_a_missing_heartbeat_counts_as_stuck() -> None:
    p = Pool(heartbeat_timeout_s=0.5)
    p.core.register_model(ModelSpec("m", 100, load_cost_s=0.0))
    lease = p.core.allocate("m", "run-1")
    for _ in range(5):
        p.run(0.3)
        p.core.heartbeat(lease["instance"])
    assert p.core.lease(lease["lease_id"])["state"] == "active"
    p.run(0.7)
    with pytest.raises(InstanceFailed):
        p.core.lease(lease["lease_id"])


def test_loading_far_longer_than_its_cost_is_stuck() -> None:
    p = Pool(min_load_timeout_s=1.0, load_timeout_factor=3.0)
    p.core.register_model(ModelSpec("m", 100, load_cost_s=1.0))
    p.loader.load_time_s = 100.0
    lease = p.core.allocate("m", "run-1")
    p.run(3.2)
    with pytest.raises(InstanceFailed) as info:
        p.core.lease(lease["lease_id"])
    assert info.value.details["reason"] == "stuck loading"


def test_a_crash_looping_model_stops_being_replaced() -> None:
    p = Pool(max_replacements=2)
    p.core.register_model(ModelSpec("m", 100, load_cost_s=0.0))
    p.loader.fail_models = frozenset({"m"})
    p.core.lookahead(["m"], horizon_s=60)  # wanted: each death is replaced, twice at most in a row
    p.run(1.0)
    assert p.core.status("m")["models"]["m"]["failures"] == 3
    assert p.core.status("m")["models"]["m"]["instances"] == {}


def test_fixed_keep_alive_unloads_after_the_window() -> None:
    p = Pool(policy="fixed", histogram=HistogramConfig(fixed_keep_alive_s=10.0))
    p.core.register_model(ModelSpec("m", 100, load_cost_s=0.0))
    p.core.release(p.core.allocate("m", "r")["lease_id"])
    p.run(9.5, step=0.5)
    assert p.core.status("m")["models"]["m"]["counts"] == {"warm": 1}
    p.run(1.0, step=0.5)
    assert p.core.status("m")["models"]["m"]["instances"] == {}


def test_the_hybrid_policy_learns_a_periodic_model() -> None:
    """Every 100 s: after enough samples the instance is unloaded while idle and prewarmed before use."""
    p = Pool(histogram=HistogramConfig(bin_s=10.0, range_s=400.0, min_samples=5))
    p.core.register_model(ModelSpec("m", 100, load_cost_s=0.0))
    cold = []
    for _ in range(12):
        lease = p.core.allocate("m", "r")
        cold.append(lease["cold"])
        p.run(1.0, step=1.0)
        p.core.release(lease["lease_id"])
        p.run(99.0, step=1.0)
    w = p.core.windows("m")
    assert w.mode == "hybrid" and 80.0 <= w.prewarm_s <= 100.0 and w.keep_alive_s >= 10.0
    assert cold[-5:] == [False] * 5
    status = p.core.status("m")["models"]["m"]
    assert status["loads"] > 5  # it unloads between uses rather than keeping warm throughout


def test_eviction_keeps_what_is_costly_to_reload() -> None:
    p = Pool(memory_budget_mb=1000)
    p.core.register_model(ModelSpec("cheap", 400, load_cost_s=0.1))
    p.core.register_model(ModelSpec("dear", 400, load_cost_s=30.0))
    p.core.register_model(ModelSpec("new", 400, load_cost_s=1.0))
    for m in ("dear", "cheap"):
        p.core.release(p.core.allocate(m, "r")["lease_id"])
    p.run(1.0)
    p.core.allocate("new", "r")
    models = p.core.status()["models"]
    assert (models["cheap"]["state"], models["dear"]["state"]) == ("cold", "live")
    assert ("pool.instance.unloaded", "evicted") in [(t, e.get("reason")) for t, e in p.events]


def test_lookahead_protects_from_eviction_until_it_lapses() -> None:
    p = Pool(memory_budget_mb=1000, lookahead_grace_s=0.0)
    p.core.register_model(ModelSpec("soon", 600, load_cost_s=0.0))
    p.core.register_model(ModelSpec("other", 600, load_cost_s=0.0))
    assert p.core.lookahead(["soon"], horizon_s=5.0)["warming"] == ["soon"]
    with pytest.raises(BusyError):
        p.core.allocate("other", "r")
    p.run(5.5, step=0.5)
    assert p.core.allocate("other", "r")["state"] == "active"


def test_memory_time_integrates_loaded_megabytes() -> None:
    p = Pool(policy="fixed", histogram=HistogramConfig(fixed_keep_alive_s=10.0))
    p.core.register_model(ModelSpec("m", 100, load_cost_s=0.0))
    p.core.release(p.core.allocate("m", "r")["lease_id"])
    p.run(20.0, step=1.0)
    assert p.core.memory_time() == pytest.approx(100 * 10.0, abs=100 * 1.0)


def test_lease_holder_gets_loading_instance_started_by_prewarm() -> None:
    p = Pool()
    p.core.register_model(ModelSpec("m", 100, load_cost_s=5.0))
    p.core.lookahead(["m"])
    p.run(1.0)
    lease = p.core.allocate("m", "r")
    assert lease["state"] == "loading" and p.loader.loads == 1
    p.run(4.1)
    assert p.core.lease(lease["lease_id"])["state"] == "active"
