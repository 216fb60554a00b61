"""How a plain service object is hosted by the runtime, and how it is called.

A *service* is a plain Python object (no Thespian) whose public methods are
its API. The runtime hosts each one in a generic service actor: it decodes a
request envelope (``topic`` = method name, ``payload`` = keyword arguments),
calls the method, and replies with its return value, or with the error it
raised in wire form. The same object runs in-process under
:class:`symphony_actors.testing.LocalRuntime` for unit tests.

A service may define any of these hooks (all optional):

* ``on_start(ctx: ActorContext) -> None``: called once in its actor process,
  before the first request; keep ``ctx`` for sending, publishing and timers.
* ``on_stop() -> None``: called on orderly shutdown (not on a crash).
* ``EXPORTS: ClassVar[frozenset[str]]``: the callable methods; without it every
  public method that is not a hook is callable.

A method that cannot answer at once returns ``ctx.defer()`` and later calls
``resolve(value)`` or ``fail(error)`` on it (long polls, waits for a run).

Services are built by a *factory* named by import path (``"pkg.mod:build"``),
called as ``factory(settings)`` in the actor's own process, so nothing is
pickled but the path and the settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "ActorContext",
    "Caller",
    "ChildSpec",
    "Deferred",
    "RestartType",
    "ServiceSettings",
    "Strategy",
    "SupervisorSpec",
]

RestartType = Literal["permanent", "transient", "temporary"]
Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """What a service factory receives: its name, the data directory and its own options."""

    name: str
    data_dir: Path
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """A service child of a supervisor.

    ``factory`` is ``"package.module:callable"`` returning the service object.
    ``shutdown_timeout`` bounds its orderly stop before it is killed.
    """

    name: str
    factory: str
    restart: RestartType = "permanent"
    options: Mapping[str, Any] = field(default_factory=dict)
    shutdown_timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class SupervisorSpec:
    """A supervisor child: its strategy, restart intensity and children, started in order."""

    name: str
    children: tuple[ChildSpec | SupervisorSpec, ...] = ()
    strategy: Strategy = "one_for_one"
    max_restarts: int = 5
    within_seconds: float = 10.0
    restart: RestartType = "permanent"
    shutdown_timeout: float = 10.0


class Deferred(Protocol):
    """A reply to be given later by a service method that returned it."""

    def resolve(self, value: Any) -> None: ...

    def fail(self, error: BaseException) -> None: ...

    @property
    def done(self) -> bool: ...


@runtime_checkable
class ActorContext(Protocol):
    """What the runtime offers a hosted service; implemented by the real runtime and by LocalRuntime."""

    @property
    def name(self) -> str: ...

    @property
    def data_dir(self) -> Path: ...

    def publish(self, topic: str, payload: Any = None) -> None:
        """Publish an event on the bus (delivered to every subscription whose pattern matches)."""

    def tell(self, service: str, method: str, /, **kwargs: Any) -> None:
        """Call ``method`` on another service without waiting for a reply."""

    def call_later(self, delay: float, method: str, /, **kwargs: Any) -> None:
        """Call ``method`` on this service after ``delay`` seconds (timers, retries, heartbeats)."""

    def defer(self) -> Deferred:
        """A reply handle for the request being handled; return it from the method."""

    def request(self, service: str, method: str, args: dict[str, Any], *, reply: str, context: Any = None,
                timeout: float | None = None) -> None:
        """Call another service; its answer arrives later as ``self.<reply>(result=, error=, context=)``."""

    def subscribe(self, pattern: str) -> None:
        """Receive events matching ``pattern`` as calls of ``self.on_event(topic=, payload=)``."""

    def exit(self) -> None:
        """End this service normally (a ``transient`` child is then not restarted)."""

    def watch(self, *services: str) -> None:
        """Resolve these services now (before :meth:`call` needs them)."""

    def call(self, service: str, method: str, /, *, timeout: float = 30.0, **kwargs: Any) -> Any:
        """Call another service and wait for the answer; for orchestration services whose callees never
        call back (the caller is blocked meanwhile)."""

    def start_child(self, supervisor: str, spec: ChildSpec) -> None:
        """Ask a supervisor to start (and from then on supervise) a new child."""

    def stop_child(self, supervisor: str, name: str) -> None:
        """Ask a supervisor to stop and forget a child."""


@runtime_checkable
class Caller(Protocol):
    """Calls methods of services by name; the client and LocalRuntime implement it."""

    def call(self, service: str, method: str, /, *, timeout: float | None = None, **kwargs: Any) -> Any:
        """Call and wait for the reply; raises the remote error's own class."""

    def tell(self, service: str, method: str, /, **kwargs: Any) -> None:
        """Call without waiting for a reply."""


ServiceFactory = Callable[[ServiceSettings], object]
