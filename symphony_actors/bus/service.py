"""The bus router: publish/subscribe by topic pattern, client subscriptions, dead letters.

Services publish with ``ctx.publish``; the runtime batches those events to this
service, which fans each one out to:

* service subscribers (``ctx.subscribe(pattern)``), forwarded in batches through
  the runtime's credit-based outboxes;
* client subscriptions (``open``/``poll``/``close``): a bounded queue per
  subscription with a cursor. A full queue discards its oldest event and counts
  it, and the next ``poll`` reports the gap (``dropped``), so a slow notebook
  never grows the bus's memory and never loses events without being told.

Dead letters (a ``tell`` whose handler failed, a send to a name that does not
exist, a queue overflow) are counted, kept (the last 200) and visible in
``symphony status``. Request/reply does not pass through here: callers send
straight to the target's address (one hop).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

from symphony_actors.domain.envelope import Envelope
from symphony_actors.domain.errors import NotFoundError, UsageError
from symphony_actors.domain.topics import check_pattern, matches
from symphony_actors.ports.service import ServiceSettings

__all__ = ["BusService", "build"]

DEFAULT_CAPACITY = 10_000
MAX_CAPACITY = 100_000
DEAD_LETTERS_KEPT = 200


@dataclass(slots=True)
class _ClientSub:
    pattern: str
    capacity: int
    events: deque[dict[str, Any]] = field(default_factory=deque)
    next_seq: int = 1
    dropped: int = 0
    waiter: Any = None
    waiter_max: int = 100
    last_poll: float = field(default_factory=time.time)


class BusService:
    EXPORTS: ClassVar[frozenset[str]] = frozenset({
        "subscribe", "unsubscribe", "open", "poll", "close", "stats", "dead_letters", "wake_poll",
        "publish"})

    def __init__(self, settings: ServiceSettings | None = None) -> None:
        self.ctx: Any = None
        self._service_subs: dict[str, set[str]] = {}       # pattern -> service names
        self._clients: dict[str, _ClientSub] = {}
        self._ids = itertools.count(1)
        self.published = 0
        self.delivered = 0
        self.dead_count = 0
        self._dead: deque[dict[str, Any]] = deque(maxlen=DEAD_LETTERS_KEPT)
        self._route_cache: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}

    def on_start(self, ctx: Any) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------------ service subscriptions
    def subscribe(self, subscriber: str, pattern: str) -> bool:
        self._service_subs.setdefault(check_pattern(pattern), set()).add(subscriber)
        self._route_cache.clear()
        return True

    def unsubscribe(self, subscriber: str, pattern: str) -> bool:
        subs = self._service_subs.get(pattern)
        if subs is None or subscriber not in subs:
            return False
        subs.discard(subscriber)
        if not subs:
            del self._service_subs[pattern]
        self._route_cache.clear()
        return True

    # ------------------------------------------------------------------ client subscriptions
    def open(self, pattern: str, capacity: int = DEFAULT_CAPACITY) -> str:
        if not 1 <= capacity <= MAX_CAPACITY:
            raise UsageError(f"subscription capacity {capacity} out of range 1..{MAX_CAPACITY}")
        sub_id = f"sub-{next(self._ids)}"
        self._clients[sub_id] = _ClientSub(check_pattern(pattern), capacity)
        self._route_cache.clear()
        return sub_id

    def close(self, subscription: str) -> bool:
        sub = self._clients.pop(subscription, None)
        self._route_cache.clear()
        if sub is not None and sub.waiter is not None:
            sub.waiter.resolve({"events": [], "dropped": sub.dropped, "closed": True})
        return sub is not None

    def poll(self, subscription: str, max: int = 100, wait: float = 0.0) -> Any:
        """Events after the last poll, oldest first; waits up to ``wait`` s when there are none."""
        sub = self._clients.get(subscription)
        if sub is None:
            raise NotFoundError(f"no subscription {subscription!r} (closed, or the bus restarted)",
                                subscription=subscription)
        sub.last_poll = time.time()
        if sub.events or wait <= 0 or self.ctx is None:
            return self._take(sub, max)
        if sub.waiter is not None:  # one waiting poll per subscription: the older one answers empty now
            sub.waiter.resolve({"events": [], "dropped": 0})
        sub.waiter = self.ctx.defer()
        sub.waiter_max = max
        self.ctx.call_later(min(wait, 30.0), "wake_poll", subscription=subscription, token=id(sub.waiter))
        return sub.waiter

    def wake_poll(self, subscription: str, token: int) -> None:
        sub = self._clients.get(subscription)
        if sub is not None and sub.waiter is not None and id(sub.waiter) == token:
            waiter, sub.waiter = sub.waiter, None
            waiter.resolve(self._take(sub, sub.waiter_max))

    def _take(self, sub: _ClientSub, max_events: int) -> dict[str, Any]:
        n = min(max(1, max_events), len(sub.events))
        events = [sub.events.popleft() for _ in range(n)]
        dropped, sub.dropped = sub.dropped, 0
        return {"events": events, "dropped": dropped}

    # ------------------------------------------------------------------ routing
    def publish(self, topic: str, payload: Any = None) -> int:
        """Publish on behalf of a client; returns the number of subscriptions reached."""
        from symphony_actors.domain.envelope import event

        return self.on_envelope(event(topic, payload, sender="client"))

    def _routes(self, topic: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        cached = self._route_cache.get(topic)
        if cached is None:
            services = {s for p, subs in self._service_subs.items() if matches(p, topic) for s in subs}
            clients = tuple(cid for cid, c in self._clients.items() if matches(c.pattern, topic))
            cached = (tuple(sorted(services)), clients)
            if len(self._route_cache) > 10_000:
                self._route_cache.clear()
            self._route_cache[topic] = cached
        return cached

    def on_envelope(self, envelope: Envelope) -> int:
        """Fan one event out (called by the runtime for every event envelope it receives)."""
        topic = envelope.topic
        self.published += 1
        if topic == "bus.dead_letter":
            self.dead_count += 1
            self._dead.append({"topic": topic, "sender": envelope.sender, **(envelope.payload or {})})
        services, clients = self._routes(topic)
        for name in services:
            if name != envelope.sender and self.ctx is not None:
                self.ctx.forward(name, envelope)
        for cid in clients:
            sub = self._clients[cid]
            if len(sub.events) >= sub.capacity:
                sub.events.popleft()
                sub.dropped += 1
                self.dead_count += 1
            sub.events.append({"seq": sub.next_seq, "topic": topic, "payload": envelope.payload,
                               "sender": envelope.sender, "at": envelope.created_at})
            sub.next_seq += 1
            if sub.waiter is not None:
                waiter, sub.waiter = sub.waiter, None
                waiter.resolve(self._take(sub, sub.waiter_max))
        reached = len(services) + len(clients)
        self.delivered += reached
        return reached

    def dead_letter(self, record: dict[str, Any]) -> None:
        self.dead_count += 1
        self._dead.append(record)

    # ------------------------------------------------------------------ status
    def stats(self) -> dict[str, Any]:
        return {"published": self.published, "delivered": self.delivered, "dead_letters": self.dead_count,
                "service_subscriptions": sum(len(s) for s in self._service_subs.values()),
                "client_subscriptions": len(self._clients),
                "queued_for_clients": sum(len(c.events) for c in self._clients.values())}

    def runtime_stats(self) -> dict[str, Any]:
        return self.stats()

    def dead_letters(self, limit: int = 50) -> list[dict[str, Any]]:
        return list(self._dead)[-limit:]


def build(settings: ServiceSettings) -> BusService:
    return BusService(settings)
