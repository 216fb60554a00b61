"""What every runtime actor does: die with its parent, answer pings, resolve names, batch sends."""

from __future__ import annotations

import ctypes
import os
import signal
import time
from datetime import timedelta
from typing import Any

from thespian.actors import (
    Actor,
    ActorExitRequest,
    ChildActorExited,
    PoisonMessage,
    ThespianWatch,
    WakeupMessage,
    WatchMessage,
)

from symphony_actors.domain.envelope import Envelope
from symphony_actors.runtime.direct import Conn, DirectListener, PeerLink
from symphony_actors.runtime.messages import (
    Ack,
    AddressUpdate,
    CrashNow,
    Init,
    Lookup,
    Ping,
    Pong,
)
from symphony_actors.runtime.outbox import Outbox

__all__ = ["RuntimeActor", "set_parent_death_signal"]

_PR_SET_PDEATHSIG = 1


def set_parent_death_signal(sig: int = signal.SIGKILL) -> None:
    """Have the kernel kill this process when its parent dies (Thespian orphans children otherwise)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: supervisors still stop children in order
        return


def set_title(title: str) -> None:
    try:
        import setproctitle

        setproctitle.setproctitle(title)
    except ImportError:
        return


class _DirectFlush:
    """Wake-up payload: retry writing direct-socket backlogs."""


class RuntimeActor(Actor):  # type: ignore[misc]
    """Shared plumbing; subclasses implement ``on_init`` and ``on_message``."""

    name: str = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.init: Init | None = None
        self.root: Any = None
        self.parent: Any = None
        self.outbox: Outbox | None = None
        self.direct: DirectListener | None = None
        self._flush_scheduled = False
        self.started_at = time.time()
        set_parent_death_signal()

    # ----------------------------------------------------------------- plumbing
    def _lookup(self, target: str) -> None:
        if self.root is not None:
            self.send(self.root, Lookup(target, watch=True))

    def make_outbox(self, name: str) -> Outbox:
        self.outbox = Outbox(name, self.send, self._lookup, self.on_undeliverable)
        return self.outbox

    def on_undeliverable(self, target: str, envelopes: list[Envelope]) -> None:
        """Envelopes queued for a name that does not exist in the tree."""
        return None

    def send(self, targetAddr: Any, msg: Any) -> None:
        """Thespian's send, or a frame on the direct data plane when the target is a socket."""
        if isinstance(targetAddr, PeerLink):
            try:
                targetAddr.send(msg)
                return
            except ConnectionError:
                targetAddr = targetAddr.fallback  # its socket is gone: Thespian still knows the way
                if targetAddr is None:
                    return
        elif isinstance(targetAddr, Conn):
            try:
                targetAddr.send(msg)
            except ConnectionError:
                return  # the peer (a client or an actor) went away; nothing waits for this any more
            return
        super().send(targetAddr, msg)

    def receiveMessage(self, msg: Any, sender: Any) -> Any:
        try:
            if isinstance(msg, WatchMessage):
                ready = list(msg.ready)
                self.on_watch_ready(ready)
                if self.direct is not None:
                    for conn, frame in self.direct.ready(ready):
                        self.dispatch(frame, conn)
            elif isinstance(msg, WakeupMessage) and isinstance(msg.payload, _DirectFlush):
                self._flush_scheduled = False
            else:
                self.dispatch(msg, sender)
        finally:
            if self.outbox is not None:
                self.outbox.flush()
        extra = self.watch_fds()
        if self.direct is None:
            return ThespianWatch(extra) if extra else None
        if self.direct.pump() and not self._flush_scheduled:
            self._flush_scheduled = True
            self.wakeupAfter(timedelta(milliseconds=1), payload=_DirectFlush())
        # Thespian resets the watch list after every message: hand it back each time.
        return ThespianWatch([*self.direct.filenos(), *extra])

    def route(self, address: Any, direct: str | None) -> Any:
        """Where to send to a peer: its socket when it has one and we have a data plane, else Thespian."""
        if direct and self.direct is not None:
            return PeerLink(direct, self.direct.add, fallback=address)
        return address

    def dispatch(self, msg: Any, sender: Any) -> None:
        if isinstance(msg, Init):
            self.init = msg
            self.name = msg.spec.name
            self.root = msg.root if msg.root is not None else self.myAddress
            self.parent = msg.parent
            set_title(f"symphony {msg.path}")
            self.on_init(msg, sender)
        elif isinstance(msg, Ping):
            self.send(sender, Pong(msg.token, self.name, os.getpid(), self.stats()))
        elif isinstance(msg, Ack):
            if self.outbox is not None:
                self.outbox.ack(msg.sender, msg.seqs or (msg.seq,))
        elif isinstance(msg, AddressUpdate):
            if self.outbox is not None:
                route = self.route(msg.address, msg.direct) if msg.address is not None else None
                self.outbox.address_update(msg.name, route, msg.known)
            self.on_address(msg)
        elif isinstance(msg, CrashNow):
            os.kill(os.getpid(), signal.SIGKILL)
        elif isinstance(msg, ActorExitRequest):
            try:
                self.on_exit()
            finally:
                if self.direct is not None:
                    self.direct.close()
        elif isinstance(msg, ChildActorExited):
            self.on_child_exited(msg.childAddress)
        elif isinstance(msg, WakeupMessage):
            self.on_wakeup(msg.payload)
        elif isinstance(msg, PoisonMessage):
            self.on_poison(msg.poisonMessage, msg.details)
        else:
            self.on_message(msg, sender)

    # ----------------------------------------------------------------- hooks
    def on_init(self, msg: Init, sender: Any) -> None:
        raise NotImplementedError

    def on_message(self, msg: Any, sender: Any) -> None:
        raise NotImplementedError

    def on_address(self, msg: AddressUpdate) -> None:
        return None

    def on_exit(self) -> None:
        return None

    def on_child_exited(self, address: Any) -> None:
        return None

    def on_wakeup(self, payload: Any) -> None:
        return None

    def on_poison(self, message: Any, details: str) -> None:
        return None

    def watch_fds(self) -> list[int]:
        """More descriptors for the loop to watch (besides the data plane), e.g. a wake-up pipe."""
        return []

    def on_watch_ready(self, fds: list[int]) -> None:
        """Some watched descriptors are readable (the data plane's are handled after this)."""
        return None

    def stats(self) -> dict[str, Any]:
        return {}

