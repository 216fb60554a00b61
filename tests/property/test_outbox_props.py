"""The outbox never loses, reorders or exceeds its window, whatever acks and restarts do (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_actors.domain.envelope import event
from symphony_actors.runtime.messages import Batch
from symphony_actors.runtime.outbox import Outbox

ops = st.lists(st.one_of(
    st.tuples(st.just("put"), st.integers(1, 40)),
    st.tuples(st.just("ack"), st.integers(0, 3)),
    st.tuples(st.just("flush"), st.just(0)),
    st.tuples(st.just("restart"), st.just(0)),
    st.tuples(st.just("down_up"), st.just(0)),
), max_size=60)


@settings(max_examples=200, deadline=None)
@given(ops, st.integers(1, 4), st.integers(1, 16))
def test_every_envelope_reaches_the_current_target_in_order(steps: list[tuple[str, int]], window: int,
                                                           batch_max: int) -> None:
    sent: list[tuple[Any, Batch]] = []
    box = Outbox("me", lambda addr, msg: sent.append((addr, msg)), lambda name: None,
                 window=window, batch_max=batch_max, limit=10_000)
    incarnation = 0
    box.address_update("t", f"addr{incarnation}")
    delivered: dict[int, Any] = {}   # value -> last batch seq that carried it to the live incarnation
    acked: set[int] = set()
    next_value = 0
    for op, n in steps:
        if op == "put":
            for _ in range(n):
                box.put("t", event("x", next_value))
                next_value += 1
        elif op == "ack":
            live = [m for a, m in sent if a == f"addr{incarnation}" and isinstance(m, Batch)
                    and m.seq not in acked]
            for m in live[:n]:
                acked.add(m.seq)
                box.ack("t", (m.seq,))
        elif op == "flush":
            box.flush()
        elif op == "restart":  # the target moves at once: unacknowledged batches go to the new incarnation
            incarnation += 1
            box.address_update("t", f"addr{incarnation}")
        else:  # as the root reports a restart: down (no address) first, then the new incarnation
            box.address_update("t", None)
            box.flush()
            incarnation += 1
            box.address_update("t", f"addr{incarnation}")
        live_unacked = [m for a, m in sent if a == f"addr{incarnation}" and isinstance(m, Batch)
                        and m.seq not in acked]
        assert len(live_unacked) <= window
    # Drain: ack everything the live incarnation has, until nothing more is sent.
    box.flush()
    while True:
        live = [m for a, m in sent if a == f"addr{incarnation}" and isinstance(m, Batch) and m.seq not in acked]
        if not live:
            break
        for m in live:
            acked.add(m.seq)
            box.ack("t", (m.seq,))
    # Processed = acknowledged by whichever incarnation received it (an ack means it was handled there).
    for _a, m in sent:
        if isinstance(m, Batch) and m.seq in acked:
            for e in m.envelopes:
                delivered[e.payload] = m.seq
    assert sorted(delivered) == list(range(next_value))  # nothing lost
    for k in range(incarnation + 1):  # each incarnation received its envelopes in order
        seen = [e.payload for a, m in sent if a == f"addr{k}" and isinstance(m, Batch) for e in m.envelopes]
        assert seen == sorted(seen)
