"""The outbox: batching, the credit window, bounded queues, resends after a restart."""

from __future__ import annotations

from typing import Any

import pytest

from symphony_actors.domain.envelope import event
from symphony_actors.domain.errors import BusyError
from symphony_actors.runtime.messages import Ack, Batch
from symphony_actors.runtime.outbox import Outbox


class Wire:
    def __init__(self) -> None:
        self.sent: list[tuple[Any, Any]] = []
        self.lookups: list[str] = []
        self.undeliverable: list[tuple[str, int]] = []

    def outbox(self, **kw: Any) -> Outbox:
        return Outbox("me", lambda a, m: self.sent.append((a, m)), self.lookups.append,
                      lambda t, envs: self.undeliverable.append((t, len(envs))), **kw)

    def batches(self) -> list[Batch]:
        return [m for _, m in self.sent if isinstance(m, Batch)]


def fill(box: Outbox, target: str, n: int) -> None:
    for i in range(n):
        box.put(target, event("t", i))


def test_envelopes_wait_for_a_lookup_then_leave_in_batches():
    wire = Wire()
    box = wire.outbox(batch_max=10, window=2)
    fill(box, "b", 25)
    box.flush()
    assert wire.lookups == ["b"] and wire.sent == []
    box.flush()
    assert wire.lookups == ["b"]  # one lookup per name: the root pushes later moves
    box.address_update("b", "addr-b")
    assert [len(b.envelopes) for b in wire.batches()] == [10, 10]  # the window holds the third
    box.ack("b", (wire.batches()[0].seq,))
    assert [len(b.envelopes) for b in wire.batches()] == [10, 10, 5]
    assert [e.payload for b in wire.batches() for e in b.envelopes] == list(range(25))


def test_a_full_queue_refuses_instead_of_growing():
    box = Wire().outbox(limit=5)
    fill(box, "b", 5)
    with pytest.raises(BusyError, match="outbox to 'b' is full"):
        box.put("b", event("t", 5))
    assert box.queued("b") == 5


def test_unacknowledged_batches_are_resent_in_order_to_a_restarted_target():
    wire = Wire()
    box = wire.outbox(batch_max=3, window=2)
    box.address_update("b", "old")
    fill(box, "b", 9)
    box.flush()
    first_two = [e.payload for b in wire.batches() for e in b.envelopes]
    assert first_two == [0, 1, 2, 3, 4, 5]
    wire.sent.clear()
    box.address_update("b", "new")
    resent = [(a, [e.payload for e in m.envelopes]) for a, m in wire.sent]
    assert resent == [("new", [0, 1, 2]), ("new", [3, 4, 5])]


def test_acks_ride_on_the_next_batch_or_go_alone():
    wire = Wire()
    box = wire.outbox()
    box.address_update("b", "addr-b")
    box.owe_ack("b", "addr-b", 7)
    box.put("b", event("t", 1))
    box.flush()
    assert wire.batches()[0].acks == (7,)
    wire.sent.clear()
    box.owe_ack("c", "addr-c", 3)
    box.owe_ack("c", "addr-c", 4)
    box.flush()
    assert wire.sent == [("addr-c", Ack("me", 4, (3, 4)))]


def test_sends_to_a_name_that_does_not_exist_are_handed_back():
    wire = Wire()
    box = wire.outbox()
    fill(box, "ghost", 3)
    box.flush()
    box.address_update("ghost", None, known=False)
    assert wire.undeliverable == [("ghost", 3)]
    assert box.queued("ghost") == 0


def test_batches_in_flight_when_the_target_went_down_are_resent_when_it_is_back():
    wire = Wire()
    box = wire.outbox(batch_max=2, window=2)
    box.address_update("b", "old")
    fill(box, "b", 6)
    box.flush()
    assert len(wire.batches()) == 2  # the window is full
    wire.sent.clear()
    box.address_update("b", None)   # the root: 'b' is restarting
    box.address_update("b", "new")  # ... and is back at a new address
    resent = [(a, [e.payload for e in m.envelopes]) for a, m in wire.sent]
    assert resent == [("new", [0, 1]), ("new", [2, 3])]
