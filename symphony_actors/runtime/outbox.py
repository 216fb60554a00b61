"""Batching and credit-based flow control for one actor's outgoing envelopes.

Thespian sends one message at a time per sender/target pair and blocks (then
drops) past ~950 queued transmits (THESPIAN.md §3.3). The outbox keeps us far
below that: envelopes for a target queue here, leave in batches of up to
``BATCH_MAX``, and at most ``WINDOW`` batches are unacknowledged per target.
A full queue refuses with :class:`BusyError` rather than growing or dropping.
Batches not acknowledged when a target moves (it was restarted) are sent again
to its new address: delivery is at-least-once, and receivers are idempotent.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from typing import Any

from symphony_actors.domain.envelope import Envelope
from symphony_actors.domain.errors import BusyError
from symphony_actors.runtime.messages import BATCH_MAX, OUTBOX_MAX, WINDOW, Ack, Batch

__all__ = ["Outbox"]


class Outbox:
    def __init__(self, me: str, send: Callable[[Any, Any], None], lookup: Callable[[str], None],
                 undeliverable: Callable[[str, list[Envelope]], None] | None = None,
                 *, window: int = WINDOW, batch_max: int = BATCH_MAX, limit: int = OUTBOX_MAX) -> None:
        self.me = me
        self._send = send
        self._lookup = lookup
        self._undeliverable = undeliverable
        self.window, self.batch_max, self.limit = window, batch_max, limit
        self.addresses: dict[str, Any] = {}
        self._asked: set[str] = set()
        self._pending: dict[str, deque[Envelope]] = {}
        self._unacked: dict[str, dict[int, Batch]] = {}
        self._seq = itertools.count(1)
        # Acks owed to peers, keyed by peer name: sent on the next batch to that peer, or alone at flush.
        self._owed: dict[str, tuple[Any, list[int]]] = {}
        self.sent_batches = 0
        self.sent_envelopes = 0

    def put(self, target: str, env: Envelope) -> None:
        q = self._pending.get(target)
        if q is None:
            q = self._pending[target] = deque()
        if len(q) >= self.limit:
            raise BusyError(f"{self.me}: outbox to {target!r} is full ({self.limit} envelopes waiting); "
                            "back off and retry", target=target, queued=len(q))
        q.append(env)

    def queued(self, target: str | None = None) -> int:
        if target is not None:
            q = self._pending.get(target)
            return len(q) if q else 0
        return sum(len(q) for q in self._pending.values())

    def owe_ack(self, peer: str, address: Any, seq: int) -> None:
        """Record that a batch from ``peer`` was processed; the ack rides on our next batch to it."""
        owed = self._owed.get(peer)
        if owed is None:
            self._owed[peer] = (address, [seq])
        else:
            owed[1].append(seq)

    def flush(self) -> None:
        for target in [t for t, q in self._pending.items() if q]:
            self._flush(target)
        if self._owed:  # nothing went back to these peers: acknowledge on its own
            owed, self._owed = self._owed, {}
            for address, seqs in owed.values():
                self._send(address, Ack(self.me, seqs[-1], tuple(seqs)))

    def _flush(self, target: str) -> None:
        q = self._pending.get(target)
        if not q:
            return
        addr = self.addresses.get(target)
        if addr is None:
            if target not in self._asked:
                self._asked.add(target)
                self._lookup(target)
            return
        unacked = self._unacked.setdefault(target, {})
        while q and len(unacked) < self.window:
            n = min(len(q), self.batch_max)
            envs = tuple(q.popleft() for _ in range(n))
            owed = self._owed.pop(target, None)
            batch = Batch(target, self.me, next(self._seq), envs, tuple(owed[1]) if owed else ())
            unacked[batch.seq] = batch
            self._send(addr, batch)
            self.sent_batches += 1
            self.sent_envelopes += n

    def ack(self, target: str, seqs: tuple[int, ...]) -> None:
        unacked = self._unacked.get(target)
        if unacked is not None:
            for seq in seqs:
                unacked.pop(seq, None)
        self._flush(target)

    def address_update(self, target: str, address: Any, known: bool = True) -> None:
        """A target's address changed (restart) or became unknown (``None``).

        Lookups watch the name, so the root pushes every later move: one lookup per name.
        """
        old = self.addresses.get(target)
        if address is None:
            self.addresses.pop(target, None)
            if not known:
                self._asked.discard(target)  # ask again if someone sends to it later
                q = self._pending.pop(target, None)
                if q and self._undeliverable is not None:
                    self._undeliverable(target, list(q))
            return
        self.addresses[target] = address
        if old != address:
            # A new incarnation (also after a down period, when ``old`` is None): batches still in flight to
            # the dead one are sent again, in order, ahead of queued ones, and the credit window starts over.
            unacked = self._unacked.pop(target, {})
            if unacked:
                q = self._pending.setdefault(target, deque())
                for seq in sorted(unacked, reverse=True):
                    q.extendleft(reversed(unacked[seq].envelopes))
        self._flush(target)

    def watch(self, target: str) -> None:
        """Look ``target`` up now (and follow its moves), before anything is sent to it."""
        if target not in self._asked:
            self._asked.add(target)
            self._lookup(target)

    def watching(self, target: str) -> bool:
        return target in self._asked
