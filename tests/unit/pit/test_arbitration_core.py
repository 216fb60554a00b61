"""Arbiter: weighted fair share, aging, reservations, deadlines by timer, restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from symphony_actors.pit.arbitration.client import ArbitrationClient
from symphony_actors.pit.arbitration.core import Arbiter
from symphony_actors.testing.runtime import FakeClock, LocalRuntime


def arbiter(**policy: Any) -> tuple[Arbiter, FakeClock]:
    clock = FakeClock()
    return Arbiter(clock.time, {"capacity": {"executors": 4}, **policy}), clock


def test_the_tenant_with_the_smaller_share_gets_the_next_slot() -> None:
    a, _ = arbiter()
    for i in range(3):
        a.submit(f"alice-{i}", "ra", {"executors": 1}, user="alice")
    a.submit("bob-0", "rb", {"executors": 1}, user="bob")
    a.submit("alice-3", "ra", {"executors": 1}, user="alice")
    a.submit("bob-1", "rb", {"executors": 1}, user="bob")
    granted = a.release("alice-0")["granted"]
    assert [d["request_id"] for d in granted] == ["bob-1"]  # bob holds 1/4, alice 2/4


def test_weights_scale_the_fair_share() -> None:
    a, _ = arbiter(weights={"users": {"alice": 4}, "workflows": {}})
    for i in range(2):
        a.submit(f"alice-{i}", "ra", {"executors": 1}, user="alice")
    a.submit("bob-0", "rb", {"executors": 1}, user="bob")
    a.submit("filler", "rf", {"executors": 1}, user="carol")
    a.submit("bob-1", "rb", {"executors": 1}, user="bob")
    a.submit("alice-2", "ra", {"executors": 1}, user="alice")
    granted = a.release("filler")["granted"]
    assert [d["request_id"] for d in granted] == ["alice-2"]  # 2/4/4 = 0.125 < bob's 1/4


def test_aging_lets_a_low_priority_request_overtake() -> None:
    a, clock = arbiter(aging_s=10.0, reserve_after_s=1e9)
    a.submit("hold", "r0", {"executors": 4})
    a.submit("low", "r1", {"executors": 4}, priority=0)
    clock.advance(35)
    a.submit("high", "r2", {"executors": 4}, priority=2)
    assert [d["request_id"] for d in a.release("hold")["granted"]] == ["low"]


def test_a_long_waiting_request_reserves_capacity_against_backfill() -> None:
    a, clock = arbiter(reserve_after_s=10.0, aging_s=0)
    a.submit("small-0", "r0", {"executors": 2})
    a.submit("big", "rb", {"executors": 4})
    assert a.submit("small-1", "r1", {"executors": 1})["verdict"] == "granted"  # backfills
    clock.advance(11)
    a.release("small-1")
    assert a.submit("small-2", "r2", {"executors": 1})["verdict"] == "queued"  # big holds the reservation
    granted = a.release("small-0")["granted"]
    assert [d["request_id"] for d in granted] == ["big"]


def test_tick_rejects_requests_whose_deadline_passed() -> None:
    a, clock = arbiter()
    a.submit("hold", "r0", {"executors": 4})
    a.submit("q", "r1", {"executors": 1}, deadline=clock.time() + 5)
    clock.advance(6)
    out = a.tick()
    assert [(d["request_id"], d["verdict"]) for d in out] == [("q", "rejected")]


def test_requests_and_policy_survive_a_restart(data_dir: Path) -> None:
    rt = LocalRuntime(data_dir)
    rt.start("arbitration", "symphony_actors.pit.arbitration.service:build", clock=rt.clock.time)
    arb = ArbitrationClient(rt)
    arb.set_policy(policy={"capacity": {"executors": 2}}, merge=True)
    arb.submit(request_id="g", run="r1", demands={"executors": 2})
    arb.submit(request_id="q", run="r2", demands={"executors": 1})
    arb.claim(kind="buffer", name="notes.md", run="r1")
    arb.claim(kind="buffer", name="notes.md", run="r2")
    rt.advance(1.0)  # a tick saves the changed requests and claims
    rt.close()
    rt2 = LocalRuntime(data_dir)
    rt2.start("arbitration", "symphony_actors.pit.arbitration.service:build", clock=rt2.clock.time)
    arb2 = ArbitrationClient(rt2)
    assert arb2.get_policy()["capacity"] == {"executors": 2.0}
    st = arb2.status()
    assert st["granted"] == ["g"] and [q["request_id"] for q in st["queue"]] == ["q"]
    assert [d["request_id"] for d in arb2.release(request_id="g")["granted"]] == ["q"]
    assert st["claims"] == [{"kind": "buffer", "name": "notes.md", "holder": "r1", "waiting": ["r2"]}]
    rt2.close()


def test_grants_from_the_queue_are_published(data_dir: Path) -> None:
    rt = LocalRuntime(data_dir)
    rt.start("arbitration", "symphony_actors.pit.arbitration.service:build", clock=rt.clock.time,
             policy={"capacity": {"executors": 1}})
    arb = ArbitrationClient(rt)
    arb.submit(request_id="a", run="r1", demands={"executors": 1})
    arb.submit(request_id="b", run="r2", demands={"executors": 1})
    arb.release(request_id="a")
    granted = [e.payload["request_id"] for e in rt.events_matching("arbitration.decision")
               if e.payload["verdict"] == "granted"]
    assert granted == ["b"]
    rt.close()
