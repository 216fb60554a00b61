"""Control messages between runtime actors (pickled by Thespian; internal to runtime/).

Data messages are :class:`~symphony_actors.domain.envelope.Envelope` (one, from
an external client) or :class:`Batch` (many, between actors, under credit-based
flow control: at most ``WINDOW`` unacknowledged batches per sender/target pair).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from symphony_actors.domain.envelope import Envelope
from symphony_actors.ports.service import ChildSpec, SupervisorSpec

WINDOW = 4          # unacknowledged batches per sender -> target (THESPIAN.md: 170k env/s at 4 x 100)
BATCH_MAX = 256     # envelopes per batch
OUTBOX_MAX = 20_000  # envelopes queued per target before senders get BusyError


@dataclass(frozen=True, slots=True)
class Init:
    """First message to every runtime actor: what it is and where it sits in the tree."""

    spec: ChildSpec | SupervisorSpec
    path: str            # "root/pit/dag"
    parent: Any          # parent supervisor address (None for the root)
    root: Any            # root supervisor address (registry); None for the root itself
    data_dir: str
    generation: int      # restart count of this child, for status
    port: int = 0        # the system's admin port (names the direct-socket directory)


@dataclass(frozen=True, slots=True)
class Started:
    name: str
    pid: int
    address: Any
    error: dict[str, Any] | None = None  # wire form of the error if on_start failed
    direct: str | None = None            # its Unix socket for the direct data plane


@dataclass(frozen=True, slots=True)
class Batch:
    """Envelopes for the service ``target``, sent by ``sender`` (a service name)."""

    target: str
    sender: str
    seq: int
    envelopes: tuple[Envelope, ...]
    acks: tuple[int, ...] = ()   # batches from ``target`` this sender has processed (piggybacked Ack)

    def __reduce__(self) -> tuple[Any, ...]:  # positional: much cheaper to pickle than slot state
        return (Batch, (self.target, self.sender, self.seq, self.envelopes, self.acks))


@dataclass(frozen=True, slots=True)
class Ack:
    sender: str   # the acknowledging service
    seq: int
    seqs: tuple[int, ...] = ()  # all acknowledged batch numbers (``seq`` is the last)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Ack, (self.sender, self.seq, self.seqs))


@dataclass(frozen=True, slots=True)
class Lookup:
    name: str
    watch: bool = True   # push AddressUpdate to the asker whenever the name moves


@dataclass(frozen=True, slots=True)
class AddressUpdate:
    name: str
    address: Any         # None while the service is down
    pid: int | None = None
    known: bool = True   # False: no such name in the tree (queued sends are undeliverable)
    direct: str | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    token: int
    sent_at: float


@dataclass(frozen=True, slots=True)
class Pong:
    token: int
    name: str
    pid: int
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CrashNow:
    """Make the receiving actor's process die as by a hard crash (``symphony kill``)."""

    reason: str = "killed on request"


@dataclass(frozen=True, slots=True)
class RegistryUpdate:
    """From a supervisor to the root: one node of the tree changed."""

    name: str
    parent: str | None
    kind: str            # "service" | "supervisor"
    address: Any
    pid: int | None
    state: str           # starting | running | restarting | stopped | failed
    restarts: int
    started_at: float | None
    detail: str = ""
    direct: str | None = None


@dataclass(frozen=True, slots=True)
class StatusRequest:
    pass


@dataclass(frozen=True, slots=True)
class StatusReply:
    nodes: tuple[dict[str, Any], ...]
    healthy: bool
    escalated: str | None
    admin_pid: int
    session_id: int
    auth_rejected: int = 0  # connections/frames refused by the system's processes (runtime/auth.py)


@dataclass(frozen=True, slots=True)
class StartChild:
    supervisor: str
    spec: ChildSpec


@dataclass(frozen=True, slots=True)
class StopChild:
    supervisor: str
    name: str


@dataclass(frozen=True, slots=True)
class ChildCommandDone:
    supervisor: str
    name: str
    ok: bool
    error: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Escalate:
    """From a supervisor whose restart intensity was exceeded, to its parent, before it exits."""

    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class StopTree:
    """Orderly shutdown, children in reverse start order, each bounded by its timeout."""

    reason: str = "shutdown requested"


@dataclass(frozen=True, slots=True)
class TreeStopped:
    name: str


@dataclass(frozen=True, slots=True)
class Timer:
    """Payload of a Thespian wake-up: call ``method`` of the hosted service."""

    method: str
    kwargs: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SupervisorTick:
    pass


@dataclass(frozen=True, slots=True)
class ExitingNormally:
    """From a service that ends by itself (``ctx.exit()``): a ``transient`` child is then not restarted."""

    name: str
