"""The one message envelope every component speaks.

An :class:`Envelope` carries a payload plus the transport facts around it (ids,
kind, topic, sender, deadline, schema version). Domain payloads stay free of
those fields. Envelopes are frozen and slotted: cheap to build, safe to share.

Kinds:

* ``request``: ``topic`` is the method to call on the target service, ``payload``
  its keyword arguments; the reply carries the request's ``id`` as ``correlation_id``.
* ``reply``: ``payload`` is the return value.
* ``error``: ``payload`` is an error in wire form (:meth:`SymphonyError.to_wire`).
* ``event``: ``topic`` is a dotted name (``run.<id>.node.succeeded``); subscribers
  match it with ``*`` (one segment) and ``#`` (any number of trailing segments).

Schema versions: :data:`SCHEMA_VERSION` is what we write. A decoder accepts any
version from :data:`MIN_SCHEMA_VERSION` up to :data:`SCHEMA_VERSION`; anything
newer is refused with ``ProtocolError(reason="bad_version")`` naming both
versions, because silently dropping fields a newer peer relies on loses data.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = [
    "KINDS",
    "MIN_SCHEMA_VERSION",
    "SCHEMA_VERSION",
    "Envelope",
    "Kind",
    "error_for",
    "event",
    "make",
    "next_id",
    "reply_to",
    "request",
]

Kind = Literal["request", "reply", "event", "error"]
KINDS: Final[frozenset[str]] = frozenset({"request", "reply", "event", "error"})
SCHEMA_VERSION: Final[int] = 1
MIN_SCHEMA_VERSION: Final[int] = 1

# Ids: a per-process random prefix plus a counter. Unique across processes
# (8 random bytes per process) and ~10x cheaper than uuid4 on the hot path.
_PREFIX = os.urandom(6).hex()
_counter = itertools.count(1)
_pid = os.getpid()


def next_id() -> str:
    """A process-unique, globally distinct message id (re-seeded after ``fork``)."""
    global _PREFIX, _counter, _pid
    if os.getpid() != _pid:  # forked actor processes must not repeat the parent's ids
        _PREFIX, _counter, _pid = os.urandom(6).hex(), itertools.count(1), os.getpid()
    return f"{_PREFIX}-{next(_counter):x}"


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message. ``deadline`` is absolute (``time.time()`` seconds) or ``None`` for none."""

    id: str
    kind: Kind
    topic: str
    payload: Any = None
    correlation_id: str | None = None
    sender: str | None = None
    reply_to: str | None = None
    created_at: float = field(default_factory=time.time)
    deadline: float | None = None
    schema: int = SCHEMA_VERSION

    def __reduce__(self) -> tuple[Any, ...]:
        # Every message between processes is pickled: rebuild positionally through the slots (see make()).
        return (make, (self.id, self.kind, self.topic, self.payload, self.correlation_id, self.sender,
                       self.reply_to, self.created_at, self.deadline, self.schema))

    def expired(self, now: float | None = None) -> bool:
        return self.deadline is not None and (time.time() if now is None else now) > self.deadline


_new = object.__new__
# A frozen dataclass's __init__ sets each field through object.__setattr__ (~4 us for ten fields
# here); the slots' own descriptors do the same job in about a third of that. Messages are built
# and unpickled by the hundred thousand, so the hot paths use make().
(_set_id, _set_kind, _set_topic, _set_payload, _set_corr, _set_sender, _set_reply, _set_created,
 _set_deadline, _set_schema) = (Envelope.__dict__[n].__set__ for n in (
    "id", "kind", "topic", "payload", "correlation_id", "sender", "reply_to", "created_at", "deadline",
    "schema"))


def make(id: str, kind: Kind, topic: str, payload: Any = None, correlation_id: str | None = None,
         sender: str | None = None, reply_to: str | None = None, created_at: float | None = None,
         deadline: float | None = None, schema: int = SCHEMA_VERSION) -> Envelope:
    """Build an envelope without the dataclass __init__ (same fields, no checks: for trusted hot paths)."""
    e: Envelope = _new(Envelope)
    _set_id(e, id)
    _set_kind(e, kind)
    _set_topic(e, topic)
    _set_payload(e, payload)
    _set_corr(e, correlation_id)
    _set_sender(e, sender)
    _set_reply(e, reply_to)
    _set_created(e, time.time() if created_at is None else created_at)
    _set_deadline(e, deadline)
    _set_schema(e, schema)
    return e


def request(topic: str, payload: Any = None, *, sender: str | None = None, reply_to: str | None = None,
            timeout: float | None = None) -> Envelope:
    now = time.time()
    return make(next_id(), "request", topic, payload, None, sender, reply_to, now,
                None if timeout is None else now + timeout)


def reply_to(req: Envelope, payload: Any, *, sender: str | None = None) -> Envelope:
    return make(next_id(), "reply", req.topic, payload, req.id, sender)


def error_for(req: Envelope, error_wire: dict[str, Any], *, sender: str | None = None) -> Envelope:
    return make(next_id(), "error", req.topic, error_wire, req.id, sender)


def event(topic: str, payload: Any = None, *, sender: str | None = None) -> Envelope:
    return make(next_id(), "event", topic, payload, None, sender)
