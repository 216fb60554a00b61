"""An in-process, synchronous stand-in for the actor runtime.

:class:`LocalRuntime` hosts the same service objects the real runtime hosts,
implements :class:`~symphony_actors.ports.service.Caller` for tests and the
:class:`~symphony_actors.ports.service.ActorContext` each service receives. Time
is a :class:`FakeClock`: ``call_later`` timers fire only when the test advances
it, so tests are deterministic and never sleep.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symphony_actors.domain.errors import NotFoundError, SymphonyError, UsageError
from symphony_actors.domain.topics import check_pattern, matches
from symphony_actors.hosting import call_method, load_factory
from symphony_actors.ports.service import ChildSpec, ServiceSettings

__all__ = ["FakeClock", "LocalDeferred", "LocalRuntime", "PublishedEvent"]


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True, slots=True)
class PublishedEvent:
    topic: str
    payload: Any
    sender: str


@dataclass(slots=True)
class LocalDeferred:
    """A deferred reply; ``LocalRuntime.call`` returns its value once resolved."""

    value: Any = None
    error: BaseException | None = None
    done: bool = False

    def resolve(self, value: Any) -> None:
        self.value, self.done = value, True

    def fail(self, error: BaseException) -> None:
        self.error, self.done = error, True


@dataclass(order=True)
class _Timer:
    due: float
    seq: int
    service: str = field(compare=False)
    method: str = field(compare=False)
    kwargs: dict[str, Any] = field(compare=False)


class _Context:
    def __init__(self, runtime: LocalRuntime, name: str, data_dir: Path) -> None:
        self._runtime, self._name, self._data_dir = runtime, name, data_dir
        self._deferred: LocalDeferred | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    def publish(self, topic: str, payload: Any = None) -> None:
        self._runtime._publish(PublishedEvent(topic, payload, self._name))

    def tell(self, service: str, method: str, /, **kwargs: Any) -> None:
        self._runtime.tell(service, method, **kwargs)

    def call_later(self, delay: float, method: str, /, **kwargs: Any) -> None:
        self._runtime._schedule(delay, self._name, method, kwargs)

    def defer(self) -> LocalDeferred:
        self._deferred = LocalDeferred()
        return self._deferred

    def request(self, service: str, method: str, args: dict[str, Any], *, reply: str, context: Any = None,
                timeout: float | None = None) -> None:
        """Delivered like the real runtime does: the answer comes back as a later call of ``reply``."""
        self._runtime._requests.append((self._name, service, method, dict(args), reply, context))
        self._runtime.drain()  # waits until the current method returns

    def subscribe(self, pattern: str) -> None:
        target = self._runtime.services[self._name]
        hook = getattr(target, "on_event", None)
        if hook is None:
            raise UsageError(f"{self._name} subscribes to {pattern!r} but has no on_event(topic, payload)")
        def deliver(ev: PublishedEvent) -> None:
            hook(topic=ev.topic, payload=ev.payload)

        self._runtime.subscribe(pattern, deliver)

    def exit(self) -> None:
        self._runtime._exiting.append(self._name)

    def watch(self, *services: str) -> None:
        return None

    def call(self, service: str, method: str, /, *, timeout: float = 30.0, **kwargs: Any) -> Any:
        return self._runtime.call(service, method, timeout=timeout, **kwargs)

    def start_child(self, supervisor: str, spec: ChildSpec) -> None:
        self._runtime.add_service(spec.name, load_factory(spec.factory)(
            ServiceSettings(spec.name, self._data_dir, dict(spec.options))))

    def stop_child(self, supervisor: str, name: str) -> None:
        self._runtime.remove_service(name)


class LocalRuntime:
    """Hosts services in this process; ``tell`` is queued and delivered by :meth:`drain`."""

    def __init__(self, data_dir: Path | str, clock: FakeClock | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.clock = clock or FakeClock()
        self.services: dict[str, object] = {}
        self.events: list[PublishedEvent] = []
        self._contexts: dict[str, _Context] = {}
        self._timers: list[_Timer] = []
        self._seq = itertools.count()
        self._mailbox: deque[tuple[str, str, dict[str, Any]]] = deque()
        self._subscribers: list[tuple[str, Callable[[PublishedEvent], None]]] = []
        self._draining = False
        self._handling = 0  # > 0 while a service method or hook runs: what it sends waits until it returns
        self._requests: deque[tuple[str, str, str, dict[str, Any], str, Any]] = deque()
        self._exiting: list[str] = []

    # ---------------------------------------------------------------- hosting
    def add_service(self, name: str, service: object) -> object:
        if name in self.services:
            raise UsageError(f"service {name!r} is already hosted")
        ctx = _Context(self, name, self.data_dir)
        self.services[name], self._contexts[name] = service, ctx
        on_start = getattr(service, "on_start", None)
        if on_start is not None:
            self._handling += 1
            try:
                on_start(ctx)
            except BaseException:
                # A service whose on_start failed is not running (as in the real runtime).
                self.services.pop(name, None)
                self._contexts.pop(name, None)
                raise
            finally:
                self._handling -= 1
            self.drain()
        return service

    def start(self, name: str, factory: str, **options: Any) -> object:
        """Build a service from its factory path, as the real runtime does, and host it."""
        service = load_factory(factory)(ServiceSettings(name, self.data_dir, options))
        return self.add_service(name, service)

    def remove_service(self, name: str) -> None:
        service = self.services.pop(name, None)
        self._contexts.pop(name, None)
        on_stop = getattr(service, "on_stop", None)
        if on_stop is not None:
            on_stop()

    def close(self) -> None:
        for name in reversed(list(self.services)):
            self.remove_service(name)

    # ---------------------------------------------------------------- Caller
    def call(self, service: str, method: str, /, *, timeout: float | None = None, **kwargs: Any) -> Any:
        target = self.services.get(service)
        if target is None:
            raise NotFoundError(f"no service named {service!r}", service=service)
        ctx = self._contexts[service]
        ctx._deferred = None
        # As in an actor, what the method sends is delivered after it returns (or raises).
        self._handling += 1
        try:
            result = call_method(target, method, kwargs)
        finally:
            self._handling -= 1
            self.drain()
        if isinstance(result, LocalDeferred):
            if not result.done:
                raise UsageError(f"{service}.{method} deferred its reply and nothing resolved it")
            if result.error is not None:
                raise result.error
            return result.value
        self.drain()
        return result

    def tell(self, service: str, method: str, /, **kwargs: Any) -> None:
        """Queue a call: delivered at once when a test tells, after the current method when a service does."""
        self._mailbox.append((service, method, kwargs))
        self.drain()

    def drain(self) -> None:
        """Deliver queued ``tell`` calls until none are left (in order)."""
        if self._draining or self._handling:
            return
        self._draining = True
        try:
            while self._mailbox or self._requests or self._exiting:
                while self._exiting:
                    self.remove_service(self._exiting.pop(0))
                if self._requests:
                    self._deliver_request(*self._requests.popleft())
                    continue
                if not self._mailbox:
                    continue
                service, method, kwargs = self._mailbox.popleft()
                target = self.services.get(service)
                if target is None:
                    self._publish(PublishedEvent("dead_letter", {"service": service, "method": method,
                                                                 "error": NotFoundError(
                                                                     f"no service named {service!r}",
                                                                     service=service).to_wire()},
                                                 "runtime"))
                    continue
                try:
                    call_method(target, method, kwargs)
                except SymphonyError as exc:  # a tell has no caller: record it as the bus would
                    self._publish(PublishedEvent("dead_letter", {"service": service, "method": method,
                                                                 "error": exc.to_wire()}, "runtime"))
        finally:
            self._draining = False

    def _deliver_request(self, caller: str, service: str, method: str, args: dict[str, Any], reply: str,
                         context: Any) -> None:
        result: Any = None
        error: SymphonyError | None = None
        try:
            target = self.services.get(service)
            if target is None:
                raise NotFoundError(f"no service named {service!r}", service=service)
            result = call_method(target, method, args)
            if isinstance(result, LocalDeferred):
                if not result.done:
                    raise UsageError(f"{service}.{method} deferred its reply and nothing resolved it")
                if result.error is not None:
                    raise result.error
                result = result.value
        except SymphonyError as exc:
            error, result = exc, None
        back = self.services.get(caller)
        if back is not None:
            call_method(back, reply, {"result": result, "error": error, "context": context})

    # ---------------------------------------------------------------- events and time
    def subscribe(self, pattern: str, callback: Callable[[PublishedEvent], None]) -> None:
        self._subscribers.append((check_pattern(pattern), callback))

    def events_matching(self, pattern: str) -> Iterator[PublishedEvent]:
        return (e for e in self.events if matches(pattern, e.topic))

    def _publish(self, ev: PublishedEvent) -> None:
        self.events.append(ev)
        for pattern, callback in self._subscribers:
            if matches(pattern, ev.topic):
                callback(ev)

    def _schedule(self, delay: float, service: str, method: str, kwargs: dict[str, Any]) -> None:
        heapq.heappush(self._timers, _Timer(self.clock.now + delay, next(self._seq), service, method, kwargs))

    def advance(self, seconds: float) -> int:
        """Move the fake clock and fire every timer now due, in order; returns how many fired.

        The clock steps to each timer's due time before it fires, so a handler sees the
        time it was scheduled for, and timers it schedules within the window fire too.
        """
        if seconds < 0:
            raise UsageError(f"cannot move the clock back ({seconds} s)")
        target = self.clock.now + seconds
        fired = 0
        while self._timers and self._timers[0].due <= target:
            t = heapq.heappop(self._timers)
            if t.due > self.clock.now:
                self.clock.advance(t.due - self.clock.now)
            self.tell(t.service, t.method, **t.kwargs)
            fired += 1
        if target > self.clock.now:
            self.clock.advance(target - self.clock.now)
        return fired

    @property
    def pending_timers(self) -> int:
        return len(self._timers)
