"""What every PoolPort does: fixtures give ``port`` (memory budget 1000 MB, instant loading) and ``clock``."""

from __future__ import annotations

import pytest

from symphony_actors.domain.errors import BusyError, ConflictError, NotFoundError, UsageError
from symphony_actors.pit.pool.errors import InstanceFailed, LeaseExpired
from symphony_actors.ports.pit import PoolPort
from symphony_actors.testing.runtime import FakeClock


class PoolContract:
    def test_first_allocation_is_cold_and_the_next_is_warm(self, port: PoolPort) -> None:
        """A lease on a new instance is a cold start; after release the same model is a warm hit."""
        port.register_model(model="m", size_mb=100)
        first = port.allocate(model="m", holder="run-1")
        assert (first["state"], first["cold"], first["model"], first["holder"]) == ("active", True, "m", "run-1")
        port.release(lease_id=first["lease_id"])
        second = port.allocate(model="m", holder="run-2")
        assert (second["state"], second["cold"]) == ("active", False)
        assert second["instance"] == first["instance"]

    def test_unknown_model_is_not_found(self, port: PoolPort) -> None:
        with pytest.raises(NotFoundError):
            port.allocate(model="nope", holder="r")

    def test_a_model_bigger_than_the_budget_is_refused(self, port: PoolPort) -> None:
        with pytest.raises(UsageError):
            port.register_model(model="huge", size_mb=5000)

    def test_all_instances_busy_is_busy(self, port: PoolPort) -> None:
        """With max_instances=1, a second concurrent lease is refused with BusyError."""
        port.register_model(model="m", size_mb=100, max_instances=1)
        port.allocate(model="m", holder="a")
        with pytest.raises(BusyError):
            port.allocate(model="m", holder="b")

    def test_more_instances_serve_concurrent_holders(self, port: PoolPort) -> None:
        port.register_model(model="m", size_mb=100, max_instances=2)
        a = port.allocate(model="m", holder="a")
        b = port.allocate(model="m", holder="b")
        assert a["instance"] != b["instance"]

    def test_release_is_idempotent(self, port: PoolPort) -> None:
        port.register_model(model="m", size_mb=100)
        lease = port.allocate(model="m", holder="a")
        assert port.release(lease_id=lease["lease_id"])["state"] == "released"
        assert port.release(lease_id=lease["lease_id"])["state"] == "released"

    def test_unknown_lease_is_not_found(self, port: PoolPort) -> None:
        with pytest.raises(NotFoundError):
            port.lease(lease_id="no-such-lease")

    def test_a_failed_instance_gives_its_holder_a_typed_error(self, port: PoolPort) -> None:
        """After the instance fails, lease() and release() raise InstanceFailed; a new allocation works."""
        port.register_model(model="m", size_mb=100)
        lease = port.allocate(model="m", holder="a")
        port.failed(instance=lease["instance"], reason="segfault")
        with pytest.raises(InstanceFailed):
            port.lease(lease_id=lease["lease_id"])
        with pytest.raises(InstanceFailed):
            port.release(lease_id=lease["lease_id"])
        again = port.allocate(model="m", holder="a")
        assert again["instance"] != lease["instance"]

    def test_an_unrenewed_lease_expires(self, port: PoolPort, clock: FakeClock) -> None:
        port.register_model(model="m", size_mb=100)
        lease = port.allocate(model="m", holder="a", lease_s=10)
        clock.advance(5)
        port.renew(lease_id=lease["lease_id"], lease_s=10)
        clock.advance(8)
        assert port.lease(lease_id=lease["lease_id"])["state"] == "active"
        clock.advance(5)
        with pytest.raises(LeaseExpired):
            port.lease(lease_id=lease["lease_id"])

    def test_idle_instances_are_evicted_to_fit_the_budget(self, port: PoolPort) -> None:
        """Two 600 MB models in 1000 MB: the idle one makes room; a busy one cannot."""
        port.register_model(model="a", size_mb=600)
        port.register_model(model="b", size_mb=600)
        la = port.allocate(model="a", holder="r")
        with pytest.raises(BusyError):
            port.allocate(model="b", holder="r")
        port.release(lease_id=la["lease_id"])
        lb = port.allocate(model="b", holder="r")
        assert lb["state"] == "active"
        status = port.status()
        assert status["memory_used_mb"] <= status["memory_budget_mb"] == 1000
        assert status["models"]["a"]["state"] == "cold"

    def test_lookahead_warms_a_model_before_it_is_needed(self, port: PoolPort) -> None:
        port.register_model(model="m", size_mb=100)
        result = port.lookahead(models=["m", "unknown"], horizon_s=30, run="run-1")
        assert result["warming"] == ["m"] and "unknown" in result["skipped"]
        assert port.lookahead(models=["m"])["ready"] == ["m"]
        assert port.allocate(model="m", holder="run-1")["cold"] is False

    def test_draining_refuses_new_leases(self, port: PoolPort) -> None:
        port.register_model(model="m", size_mb=100)
        lease = port.allocate(model="m", holder="a")
        port.drain(model="m")
        with pytest.raises(ConflictError):
            port.allocate(model="m", holder="b")
        port.release(lease_id=lease["lease_id"])
        assert port.status(model="m")["models"]["m"]["instances"] == {}
        port.register_model(model="m", size_mb=100)
        assert port.allocate(model="m", holder="b")["state"] == "active"

    def test_heartbeat_of_an_unknown_instance_is_not_found(self, port: PoolPort) -> None:
        with pytest.raises(NotFoundError):
            port.heartbeat(instance="ghost")

    def test_status_lists_models_and_memory(self, port: PoolPort) -> None:
        port.register_model(model="m", size_mb=100, load_cost_s=2, max_instances=2)
        port.allocate(model="m", holder="a")
        st = port.status()
        assert st["memory_used_mb"] == 100
        m = st["models"]["m"]
        assert (m["size_mb"], m["load_cost_s"], m["max_instances"]) == (100, 2, 2)
        assert list(m["instances"].values()) == ["busy"]
