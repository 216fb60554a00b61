"""A client endpoint: how another process (a notebook, the CLI) talks to a running system.

It attaches to the admin (never starting one: that would fork the caller, a
hazard in a multi-threaded Jupyter kernel), finds services by name through the
root supervisor, and sends requests straight to their actors. Thespian's
``ask`` returns whatever arrives first, including a late reply to an earlier
request that timed out (THESPIAN.md §5.3), so every reply is matched to its
request by correlation id and strays are set aside. While it waits, the
endpoint checks every 250 ms whether the target was restarted, so a crash
during a request becomes ``ServiceCrashed`` at once rather than a timeout.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from thespian.actors import ActorSystemException, PoisonMessage

from symphony_actors.domain import envelope as env_mod
from symphony_actors.domain.envelope import Envelope
from symphony_actors.domain.errors import (
    DeadlineExceeded,
    NotFoundError,
    NotRunningError,
    ServiceCrashed,
    error_from_wire,
)
from symphony_actors.runtime.auth import KEYRING, SystemKey, load_key
from symphony_actors.runtime.direct import TIMEOUT, ClientSocket, existing_socket_dir
from symphony_actors.runtime.direct import enabled as direct_enabled
from symphony_actors.runtime.messages import (
    AddressUpdate,
    CrashNow,
    Lookup,
    StartChild,
    StatusReply,
    StatusRequest,
    StopChild,
    StopTree,
    TreeStopped,
)
from symphony_actors.runtime.system import ROOT_NAME
from symphony_actors.runtime.transport import admin_listening, attach, require_listening

__all__ = ["Endpoint", "client_key"]


def client_key(port: int, data_dir: str | os.PathLike[str] | None = None) -> SystemKey:
    """The key to talk to the system on ``port`` with, from (in order): the explicit ``data_dir``; the key this
    process already holds for that port (it started the system, or is one of its actors); the data
    directory the running system recorded in its private socket directory; ``SYMPHONY_HOME`` or the
    default data directory. Raises ``AuthenticationError`` naming the key file when there is none."""
    from symphony_actors.config import resolve
    from symphony_actors.runtime.system import DATA_DIR_POINTER

    if data_dir is not None:
        return load_key(Path(data_dir).expanduser())
    known = KEYRING.for_port(port)
    if known is not None:
        return known
    sdir = existing_socket_dir(port)  # UnsafePathError if another user planted it
    pointer = sdir / DATA_DIR_POINTER if sdir is not None else None
    if pointer is not None and pointer.is_file():
        return load_key(Path(pointer.read_text().strip()))
    return load_key(resolve(port, None).data_dir)


class _NotDelivered(Exception):
    """A request could not be written to its service's socket at all (so it is safe to send again)."""

CHECK_EVERY = 0.25


class Endpoint:
    def __init__(self, port: int, timeout: float = 10.0, data_dir: str | os.PathLike[str] | None = None) -> None:
        from symphony_actors.runtime.supervisor import Supervisor

        self.port = port
        self.default_timeout = timeout
        require_listening(port)
        existing_socket_dir(port)  # the data plane's sockets: refuse a directory another user could touch
        self._asys = attach(port, client_key(port, data_dir))
        self._lock = threading.RLock()
        self._addresses: dict[str, Any] = {}
        self._stray: dict[str, Envelope] = {}
        self._crashed: dict[str, Any] = {}
        self._direct_paths: dict[str, str] = {}
        self._sockets: dict[str, ClientSocket] = {}
        self.use_direct = direct_enabled()
        # The root supervisor has a global name; the admin hands back the running one.
        self._root = self._asys.createActor(Supervisor, globalName=ROOT_NAME)
        self.closed = False

    # ------------------------------------------------------------------ lookup
    def lookup(self, name: str, timeout: float | None = None) -> Any:
        with self._lock:
            addr = self._addresses.get(name)
            if addr is not None:
                return addr
            wait_until = time.monotonic() + (timeout or self.default_timeout)
            update = self._resolve(name, timeout or self.default_timeout)
            crashed = self._crashed.get(name)
            while (update.address is None or update.address == crashed) and update.known \
                    and time.monotonic() < wait_until:
                time.sleep(0.005)  # the restart is under way (milliseconds): poll against the deadline
                update = self._resolve(name, timeout or self.default_timeout)
            self._crashed.pop(name, None)
            if update.direct:
                self._direct_paths[name] = update.direct
            if update.address is None:
                if not update.known:
                    raise NotFoundError(f"no service named {name!r} in this system", service=name)
                raise ServiceCrashed(f"service {name!r} is not running right now (restarting?)", service=name)
            self._addresses[name] = update.address
            return update.address

    def _resolve(self, name: str, timeout: float) -> AddressUpdate:
        reply = self._exchange(self._root, Lookup(name, watch=False),
                               lambda m: isinstance(m, AddressUpdate) and m.name == name, timeout)
        assert isinstance(reply, AddressUpdate)
        return reply

    # ------------------------------------------------------------------ requests
    def request(self, service: str, method: str, kwargs: dict[str, Any], timeout: float | None) -> Any:
        timeout = self.default_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._lock:
            addr = self.lookup(service, timeout)
            req = env_mod.request(method, kwargs, sender="client", timeout=timeout)
            sock = self._socket(service)
            if sock is not None:
                try:
                    reply = self._exchange_direct(sock, service, addr, req, timeout, deadline)
                except _NotDelivered:
                    # The socket's process is gone (restarted since we looked it up) and nothing was
                    # delivered: safe to send once more, to the replacement.
                    addr = self.lookup(service, max(0.1, deadline - time.monotonic()))
                    sock = self._socket(service)
                    if sock is None:
                        raise ServiceCrashed(f"{service} is restarting; retry the request", service=service) \
                            from None
                    reply = self._exchange_direct(sock, service, addr, req, timeout, deadline)
            else:
                reply = self._exchange(addr, req, lambda m: isinstance(m, Envelope) and m.correlation_id == req.id,
                                       timeout, check=(service, addr), deadline=deadline)
        assert isinstance(reply, Envelope)
        if reply.kind == "error":
            error = error_from_wire(reply.payload)
            if isinstance(error, ServiceCrashed):  # it restarts at a new address: do not send to the old one
                self._crashed[service] = self._addresses.pop(service, addr)
                self._drop(service)
            raise error
        return reply.payload

    def tell(self, service: str, method: str, kwargs: dict[str, Any]) -> None:
        with self._lock:
            addr = self.lookup(service)
            msg = env_mod.Envelope(env_mod.next_id(), "request", method, kwargs, None, "client")
            sock = self._socket(service)
            if sock is not None:
                try:
                    sock.send(msg)
                    return
                except ConnectionError:
                    self._drop(service)
            self._asys.tell(addr, msg)

    # ------------------------------------------------------------------ the direct data plane
    def _socket(self, service: str) -> ClientSocket | None:
        if not self.use_direct:
            return None
        sock = self._sockets.get(service)
        if sock is None:
            path = self._direct_paths.get(service)
            if path is None:
                return None
            try:
                sock = ClientSocket(path)
            except ConnectionError:
                self._direct_paths.pop(service, None)
                return None
            self._sockets[service] = sock
        return sock

    def _drop(self, service: str) -> None:
        sock = self._sockets.pop(service, None)
        if sock is not None:
            sock.close()
        self._direct_paths.pop(service, None)

    def _exchange_direct(self, sock: ClientSocket, service: str, addr: Any, req: Envelope, timeout: float,
                         deadline: float) -> Envelope:
        try:
            sock.send(req)
        except ConnectionError:
            self._drop(service)
            self._crashed[service] = self._addresses.pop(service, addr)
            raise _NotDelivered() from None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceeded(f"no reply to {req.topic!r} within {timeout:g} s", timeout=timeout)
            try:
                got = sock.recv(min(remaining, 1.0))
            except ConnectionError:
                self._drop(service)
                self._crashed[service] = self._addresses.pop(service, addr)
                raise ServiceCrashed(f"{service} crashed while handling the request (it is being restarted)",
                                     service=service) from None
            if got is TIMEOUT:
                continue
            if isinstance(got, Envelope) and got.correlation_id == req.id:
                return got
            # Anything else is a late reply to an earlier request that timed out: never this answer.

    def status(self, timeout: float = 5.0) -> StatusReply:
        with self._lock:
            reply = self._exchange(self._root, StatusRequest(), lambda m: isinstance(m, StatusReply), timeout)
        assert isinstance(reply, StatusReply)
        return reply

    def crash(self, name: str) -> int | None:
        """Make the named actor die as by a hard crash; returns its pid before the crash."""
        with self._lock:
            update = self._resolve(name, self.default_timeout)
            if update.address is None:
                if not update.known:
                    raise NotFoundError(f"no service named {name!r} in this system", service=name)
                raise ServiceCrashed(f"{name!r} is not running right now")
            self._addresses.pop(name, None)
            self._drop(name)
            self._crashed[name] = update.address  # the next lookup waits for the replacement
            self._asys.tell(update.address, CrashNow(f"symphony kill {name}"))
            return update.pid

    def start_child(self, supervisor: str, spec: Any) -> None:
        """Ask ``supervisor`` to start and supervise a new child (returns at once; look it up to wait)."""
        with self._lock:
            self._asys.tell(self._root, StartChild(supervisor, spec))

    def stop_child(self, supervisor: str, name: str) -> None:
        with self._lock:
            self._addresses.pop(name, None)
            self._drop(name)
            self._asys.tell(self._root, StopChild(supervisor, name))

    def stop_tree(self, timeout: float = 20.0) -> bool:
        with self._lock:
            try:
                self._exchange(self._root, StopTree("stop requested by a client"),
                               lambda m: isinstance(m, TreeStopped), timeout)
                return True
            except DeadlineExceeded:
                return False

    # ------------------------------------------------------------------ the exchange loop
    def _exchange(self, addr: Any, msg: Any, match: Any, timeout: float, check: tuple[str, Any] | None = None,
                  deadline: float | None = None) -> Any:
        deadline = deadline if deadline is not None else time.monotonic() + timeout
        first = True
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if first:  # ask = send + first wait in one transport run (a separate tell costs an extra ACK wait)
                first = False
                try:
                    got = self._asys.ask(addr, msg, min(remaining, CHECK_EVERY))
                except ActorSystemException as exc:
                    raise NotRunningError(f"cannot reach the system on port {self.port}: {exc}") from exc
            else:
                got = self._asys.listen(min(remaining, CHECK_EVERY))
            if got is None:
                if check is not None:
                    self._check_alive(*check)
                    for key, stray in list(self._stray.items()):  # arrived during the check
                        if match(stray):
                            del self._stray[key]
                            return stray
                elif not admin_listening(self.port):
                    raise NotRunningError(f"the system on port {self.port} stopped")
                continue
            if match(got):
                return got
            if isinstance(got, PoisonMessage):
                raise ServiceCrashed(f"the request crashed its target twice: {got.details[-300:]}")
            if isinstance(got, Envelope) and got.correlation_id:
                self._stray[got.correlation_id] = got  # a late reply: never the answer to this request
                if len(self._stray) > 1000:
                    self._stray.clear()
        what = getattr(msg, "topic", type(msg).__name__)
        raise DeadlineExceeded(f"no reply to {what!r} within {timeout:g} s", timeout=timeout)

    def _check_alive(self, service: str, addr: Any) -> None:
        update = self._exchange(self._root, Lookup(service, watch=False),
                                lambda m: isinstance(m, AddressUpdate) and m.name == service, 5.0)
        if update.address != addr:
            self._crashed[service] = self._addresses.pop(service, addr)
            raise ServiceCrashed(f"{service} crashed while handling the request (it is being restarted)",
                                 service=service)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            for name in list(self._sockets):
                self._drop(name)
            # Never shutdown(): that would stop the shared system for everybody.
            try:
                self._asys._systemBase.transport.close()
            except Exception:  # noqa: BLE001 - closing our endpoint is best effort
                pass
