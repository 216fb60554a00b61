"""The generic service actor: hosts one plain service object in its own process.

It builds the service from its factory, hands it an :class:`ActorContext`,
and turns request envelopes into method calls and return values (or raised
errors) into replies. A ``SymphonyError`` is an answer; any other exception is
a bug: the caller gets ``ServiceCrashed`` and the actor crashes on purpose so
its supervisor restarts it with fresh state (Erlang's "let it crash"). Nothing
the service raises reaches Thespian, so Thespian never retries a message.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from thespian.actors import ActorExitRequest

from symphony_actors.domain import envelope as env_mod
from symphony_actors.domain.envelope import Envelope
from symphony_actors.domain.errors import (
    BusyError,
    DeadlineExceeded,
    NotFoundError,
    ServiceCrashed,
    SymphonyError,
    error_from_wire,
)
from symphony_actors.hosting import call_method, load_factory
from symphony_actors.ports.service import ChildSpec, ServiceSettings
from symphony_actors.runtime.base import RuntimeActor
from symphony_actors.runtime.direct import ClientSocket, DirectListener, PeerLink
from symphony_actors.runtime.direct import enabled as direct_enabled
from symphony_actors.runtime.messages import (
    AddressUpdate,
    Batch,
    ChildCommandDone,
    CrashNow,
    ExitingNormally,
    Init,
    StartChild,
    Started,
    StopChild,
    Timer,
)
from symphony_actors.runtime.waker import Waker

__all__ = ["ServiceActor"]

BUS = "bus"


@dataclass(slots=True)
class _Origin:
    """Who asked: an external client (address) or a service (name)."""

    request: Envelope
    address: Any = None
    service: str | None = None


class _Deferred:
    __slots__ = ("_actor", "_origin", "done")

    def __init__(self, actor: ServiceActor, origin: _Origin) -> None:
        self._actor, self._origin, self.done = actor, origin, False

    def resolve(self, value: Any) -> None:
        if not self.done:
            self.done = True
            self._actor._answer(self._origin, value, None)
            self._actor._flush()

    def fail(self, error: BaseException) -> None:
        if not self.done:
            self.done = True
            self._actor._answer(self._origin, None, error)
            self._actor._flush()


class _Context:
    """The ActorContext a hosted service receives."""

    def __init__(self, actor: ServiceActor, name: str, data_dir: Path) -> None:
        self._actor, self._name, self._data_dir = actor, name, data_dir
        self.subscriptions: set[str] = set()  # sent again whenever the bus restarts (it keeps them in memory)

    @property
    def name(self) -> str:
        return self._name

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    def publish(self, topic: str, payload: Any = None) -> None:
        self._actor._put(BUS, env_mod.event(topic, payload, sender=self._name))

    def tell(self, service: str, method: str, /, **kwargs: Any) -> None:
        self._actor._put(service, env_mod.make(env_mod.next_id(), "request", method, kwargs, None, self._name))

    def request(self, service: str, method: str, args: dict[str, Any], *, reply: str, context: Any = None,
                timeout: float | None = None) -> None:
        req = env_mod.request(method, args, sender=self._name, reply_to=self._name, timeout=timeout)
        self._actor._pending[req.id] = (reply, context, req.deadline)
        self._actor._put(service, req)

    def call_later(self, delay: float, method: str, /, **kwargs: Any) -> None:
        self._actor.wakeupAfter(timedelta(seconds=max(0.0, delay)), payload=Timer(method, kwargs))

    def call_soon_threadsafe(self, callback: Callable[..., Any], /, *args: Any) -> None:
        """Run ``callback(*args)`` on this actor's loop soon; the one context method safe from any thread."""
        self._actor.waker.post(callback, *args)

    def defer(self) -> _Deferred:
        origin = self._actor._current
        if origin is None:
            raise RuntimeError("defer() called outside a request")
        d = _Deferred(self._actor, origin)
        self._actor._deferred_now = d
        return d

    def subscribe(self, pattern: str) -> None:
        self.subscriptions.add(pattern)
        self.tell(BUS, "subscribe", subscriber=self._name, pattern=pattern)

    def unsubscribe(self, pattern: str) -> None:
        self.subscriptions.discard(pattern)
        self.tell(BUS, "unsubscribe", subscriber=self._name, pattern=pattern)

    def resubscribe(self) -> None:
        """The bus restarted with empty tables: subscribe again to everything this service listens to."""
        for pattern in sorted(self.subscriptions):
            self.tell(BUS, "subscribe", subscriber=self._name, pattern=pattern)

    def start_child(self, supervisor: str, spec: ChildSpec) -> None:
        self._actor.send(self._actor.root, StartChild(supervisor, spec))

    def stop_child(self, supervisor: str, name: str) -> None:
        self._actor.send(self._actor.root, StopChild(supervisor, name))

    def watch(self, *services: str) -> None:
        """Resolve these services now, so that :meth:`call` can reach them."""
        for s in services:
            self._actor.outbox.watch(s)  # type: ignore[union-attr]

    def call(self, service: str, method: str, /, *, timeout: float = 30.0, **kwargs: Any) -> Any:
        """Call another service and wait for its answer, over the direct data plane.

        For orchestration services only: this actor is blocked meanwhile, so the callee must never
        call back into it. ``watch`` the service first (in ``on_start``).
        """
        return self._actor._call_sync(service, method, kwargs, timeout)

    def exit(self) -> None:
        """End this service normally (a ``transient`` child is then not restarted)."""
        self._actor.send(self._actor.parent, ExitingNormally(self._name))
        self._actor.send(self._actor.myAddress, ActorExitRequest())

    def forward(self, service: str, envelope: Envelope) -> None:
        """Runtime-level: put an existing envelope in the outbox to ``service`` (the bus fans out)."""
        self._actor._put(service, envelope)

    def reply_to_address(self, address: Any, value: Any) -> None:
        self._actor.send(address, value)


class ServiceActor(RuntimeActor):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.service: Any = None
        self.ctx: _Context | None = None
        self._bus_pid: int | None = None
        self._bus_down = False
        self._current: _Origin | None = None
        self._deferred_now: _Deferred | None = None
        self._pending: dict[str, tuple[str, Any, float | None]] = {}
        self._handled = itertools.count()
        self._count = 0
        self._crash_after_reply = False
        self._sync_sockets: dict[tuple[str, int], ClientSocket] = {}
        self._loop_thread = threading.get_ident()
        self.waker = Waker()

    # ------------------------------------------------------------------ lifecycle
    def on_init(self, msg: Init, sender: Any) -> None:
        spec = msg.spec
        assert isinstance(spec, ChildSpec)
        self.make_outbox(spec.name)
        if direct_enabled() and msg.port:
            try:
                self.direct = DirectListener(msg.port, spec.name)
            except OSError:
                self.direct = None  # no socket: everything goes through Thespian
        data_dir = Path(msg.data_dir)
        error: dict[str, Any] | None = None
        try:
            factory = load_factory(spec.factory)
            self.service = factory(ServiceSettings(spec.name, data_dir, dict(spec.options)))
            self.ctx = _Context(self, spec.name, data_dir)
            on_start = getattr(self.service, "on_start", None)
            if on_start is not None:
                on_start(self.ctx)
        except SymphonyError as exc:
            error = exc.to_wire()
        except Exception as exc:  # noqa: BLE001 - a broken factory must reach the supervisor, not Thespian
            error = ServiceCrashed(f"{spec.name} failed to start: {type(exc).__name__}: {exc}",
                                   remote_type=type(exc).__name__,
                                   traceback=traceback.format_exc(limit=8)).to_wire()
        self.send(sender, Started(spec.name, os.getpid(), self.myAddress, error,
                                  self.direct.path if self.direct is not None else None))
        if error is not None:
            self._crash_after_reply = True
            self.send(self.myAddress, CrashNow("start failed"))

    def on_address(self, msg: AddressUpdate) -> None:
        """A new bus (seen down, or at another pid than before) has none of our subscriptions: send them again."""
        if msg.name != BUS:
            return
        if msg.address is None:
            self._bus_down = True
            return
        moved = self._bus_down or (self._bus_pid is not None and msg.pid is not None and msg.pid != self._bus_pid)
        if moved and self.ctx is not None:
            self.ctx.resubscribe()
        self._bus_down = False
        self._bus_pid = msg.pid if msg.pid is not None else self._bus_pid

    def on_exit(self) -> None:
        on_stop = getattr(self.service, "on_stop", None)
        try:
            if on_stop is not None:
                on_stop()
        except Exception:  # noqa: BLE001 - shutting down: log, never block the exit
            traceback.print_exc()
        finally:
            self.waker.close()

    # ------------------------------------------------------------------ callbacks from other threads
    def watch_fds(self) -> list[int]:
        return [] if self.waker.closed else [self.waker.fileno()]

    def on_watch_ready(self, fds: list[int]) -> None:
        if self.waker.closed or self.waker.fileno() not in fds:
            return
        for callback, args in self.waker.drain():
            e = Envelope(env_mod.next_id(), "request", getattr(callback, "__name__", "callback"), None, None,
                         self.name)
            self._call(e, None, None, {}, hook=_bind(callback, args))

    # ------------------------------------------------------------------ messages
    def on_message(self, msg: Any, sender: Any) -> None:
        if isinstance(msg, Envelope):           # one request from an external client
            self._handle(msg, _Origin(msg, address=sender))
        elif isinstance(msg, ChildCommandDone):  # a start_child/stop_child this service asked for was refused
            if not msg.ok and msg.error is not None:
                self._put(BUS, env_mod.event("bus.dead_letter", {
                    "reason": "child_command_refused", "service": self.name, "supervisor": msg.supervisor,
                    "child": msg.name, "error": msg.error, "at": time.time()}, sender=self.name))
        elif isinstance(msg, Batch):             # many envelopes from another actor
            assert self.outbox is not None
            if msg.acks:
                self.outbox.ack(msg.sender, msg.acks)
            for e in msg.envelopes:
                self._handle(e, _Origin(e, service=msg.sender))
            self.outbox.owe_ack(msg.sender, sender, msg.seq)

    def on_wakeup(self, payload: Any) -> None:
        if isinstance(payload, Timer):
            self._handle(Envelope(env_mod.next_id(), "request", payload.method, payload.kwargs, None, self.name),
                         None)

    def _handle(self, e: Envelope, origin: _Origin | None) -> None:
        self._count += 1
        kind = e.kind
        if kind == "request":
            if e.expired():
                if origin is not None:
                    self._answer(origin, None, DeadlineExceeded(f"request {e.topic!r} to {self.name} expired "
                                                                "before it was handled", method=e.topic))
                return
            self._call(e, origin, e.topic, e.payload)
        elif kind == "event":
            route = getattr(self.service, "on_envelope", None)  # the bus takes whole envelopes
            if route is not None:
                self._call(e, None, None, {"envelope": e}, hook=route)
                return
            hook = getattr(self.service, "on_event", None)
            if hook is not None:
                self._call(e, None, None, {"topic": e.topic, "payload": e.payload}, hook=hook)
        elif kind in ("reply", "error"):
            self._on_reply(e)

    def _call(self, e: Envelope, origin: _Origin | None, method: str | None, kwargs: Any,
              hook: Any = None) -> None:
        want_reply = origin is not None and (origin.address is not None or e.reply_to is not None)
        self._current = origin if want_reply else None
        self._deferred_now = None
        try:
            result = hook(**kwargs) if hook is not None else call_method(self.service, method or "", kwargs)
        except SymphonyError as exc:
            if want_reply and origin is not None:
                self._answer(origin, None, exc)
            elif origin is None or not want_reply:
                self._dead_letter(e, exc)
            return
        except Exception as exc:  # noqa: BLE001 - a bug: answer, then crash so we restart clean
            crash = ServiceCrashed(f"{self.name} crashed handling {method or e.topic!r}: "
                                   f"{type(exc).__name__}: {exc}", service=self.name,
                                   remote_type=type(exc).__name__, traceback=traceback.format_exc(limit=8))
            if want_reply and origin is not None:
                self._answer(origin, None, crash)
            else:
                self._dead_letter(e, crash)
            if not self._crash_after_reply:
                self._crash_after_reply = True
                self.send(self.myAddress, CrashNow(str(crash)))
            return
        finally:
            self._current = None
        if want_reply and origin is not None and not (isinstance(result, _Deferred) and result is self._deferred_now):
            self._answer(origin, result, None)

    def _answer(self, origin: _Origin, value: Any, error: BaseException | None) -> None:
        req = origin.request
        if error is None:
            out = env_mod.reply_to(req, value, sender=self.name)
        else:
            wire = error.to_wire() if isinstance(error, SymphonyError) else ServiceCrashed(
                f"{type(error).__name__}: {error}", remote_type=type(error).__name__).to_wire()
            out = env_mod.error_for(req, wire, sender=self.name)
        if origin.address is not None:
            self.send(origin.address, out)
        elif req.reply_to is not None:
            self._put(req.reply_to, out)

    def _on_reply(self, e: Envelope) -> None:
        pending = self._pending.pop(e.correlation_id or "", None)
        if pending is None:
            return  # a late reply after its deadline: the caller was told already
        method, context, _deadline = pending
        error = error_from_wire(e.payload) if e.kind == "error" else None
        result = None if error is not None else e.payload
        self._call(e, None, method, {"result": result, "error": error, "context": context})

    def _call_sync(self, service: str, method: str, kwargs: dict[str, Any], timeout: float) -> Any:
        assert self.outbox is not None
        route = self.outbox.addresses.get(service)
        on_loop = threading.get_ident() == self._loop_thread
        if not isinstance(route, PeerLink):
            if on_loop:
                self.outbox.watch(service)
            else:
                self.waker.post(self.outbox.watch, service)
            raise BusyError(f"{self.name} cannot reach {service!r} directly yet (not resolved, or no data "
                            "plane); retry shortly", service=service)
        # one socket per service and thread: a service's own worker thread may call while its loop does
        key = (service, threading.get_ident())
        sock = self._sync_sockets.get(key)
        if sock is None or sock.path != route.path:
            if sock is not None:
                sock.close()
            try:
                sock = ClientSocket(route.path)
            except ConnectionError as exc:
                raise ServiceCrashed(f"{service} is not reachable: {exc}", service=service) from None
            self._sync_sockets[key] = sock
        req = env_mod.request(method, kwargs, sender=self.name, timeout=timeout)
        deadline = time.monotonic() + timeout
        try:
            sock.send(req)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DeadlineExceeded(f"{service}.{method} did not answer within {timeout:g} s",
                                           service=service, method=method)
                got = sock.recv(min(left, 1.0))
                if isinstance(got, Envelope) and got.correlation_id == req.id:
                    break
        except ConnectionError:
            self._sync_sockets.pop(key, None)
            raise ServiceCrashed(f"{service} crashed while handling {method!r}", service=service) from None
        if got.kind == "error":
            raise error_from_wire(got.payload)
        return got.payload

    def on_undeliverable(self, target: str, envelopes: list[Envelope]) -> None:
        missing = NotFoundError(f"no service named {target!r}", service=target)
        for e in envelopes:
            if e.kind == "request" and e.id in self._pending:
                self._on_reply(env_mod.error_for(e, missing.to_wire(), sender="runtime"))
            elif target != BUS:
                self._put(BUS, env_mod.event("bus.dead_letter", {
                    "reason": "unknown_service", "service": target, "topic": e.topic, "kind": e.kind,
                    "at": time.time()}, sender=self.name))

    def _dead_letter(self, e: Envelope, exc: SymphonyError) -> None:
        if self.name != BUS:
            self._put(BUS, env_mod.event("bus.dead_letter", {
                "reason": "error", "service": self.name, "topic": e.topic, "error": exc.to_wire(),
                "at": time.time()}, sender=self.name))

    # ------------------------------------------------------------------ plumbing
    def _put(self, target: str, e: Envelope) -> None:
        assert self.outbox is not None
        self.outbox.put(target, e)

    def _flush(self) -> None:
        if self.outbox is not None:
            self.outbox.flush()

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"handled": self._count}
        if self.outbox is not None:
            out["queued"] = self.outbox.queued()
        hung = getattr(self.service, "runtime_hung", None)
        if hung is not None:  # the heartbeat: a task runner stuck past its limit and grace says why
            try:
                reason = hung()
            except Exception as exc:  # noqa: BLE001 - stats must never crash the actor
                reason = None
                out["stats_error"] = str(exc)
            if reason:
                out["hung"] = str(reason)
        extra = getattr(self.service, "runtime_stats", None)
        if extra is not None:
            try:
                out.update(extra())
            except Exception as exc:  # noqa: BLE001 - stats must never crash the actor
                out["stats_error"] = str(exc)
        return out


def _bind(callback: Callable[..., Any], args: tuple[Any, ...]) -> Callable[[], Any]:
    def run() -> Any:
        return callback(*args)

    return run
