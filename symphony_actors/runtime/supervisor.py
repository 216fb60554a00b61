"""OTP-style supervision on top of Thespian's ``ChildActorExited``.

Thespian tells a parent that a child exited (sometimes twice) and never
restarts it (THESPIAN.md §1.3). A :class:`Supervisor` does what Erlang/OTP
supervisors do:

* strategies ``one_for_one`` (restart the child), ``one_for_all`` (stop the
  others, restart all in order), ``rest_for_one`` (restart the child and those
  started after it);
* restart types ``permanent`` (always), ``transient`` (after abnormal exits),
  ``temporary`` (never);
* restart intensity: more than ``max_restarts`` in ``within_seconds`` stops
  every child and escalates to the parent; the root then stops the system and
  records why;
* ordered start (each child answers ``Started`` before the next starts) and
  ordered shutdown (reverse order, each bounded by its ``shutdown_timeout``,
  then SIGKILL by pid);
* hang detection: children are pinged every second; one silent for longer
  than its ``hang_timeout`` option (default 10 s) is killed and restarted.
  Long work does not look like a hang: services run tasks off their loop and
  keep answering. A task runner stuck past its task's limit and grace says so
  in its pong (the heartbeat's ``hung`` reason), and is killed and restarted
  at once (``supervisor.child.hang_killed``).

Exit notices are matched by address, which de-duplicates Thespian's doubles.
The root supervisor is also the name registry: it knows every node of the tree,
answers lookups and pushes address changes to those who looked a name up.
Every start, exit, restart, kill and escalation is published on the bus as
``supervisor.<event>`` and written as one line to the system log
(``<data>/logs/symphony-<port>.log``, the file ``symphony start`` sends the
system's output to).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from thespian.actors import ActorExitRequest

from symphony_actors.config import SystemAddress
from symphony_actors.domain import envelope as env_mod
from symphony_actors.domain.errors import NotFoundError, UsageError
from symphony_actors.ports.service import ChildSpec, SupervisorSpec
from symphony_actors.runtime import auth
from symphony_actors.runtime.base import RuntimeActor
from symphony_actors.runtime.messages import (
    AddressUpdate,
    ChildCommandDone,
    Escalate,
    ExitingNormally,
    Init,
    Lookup,
    Ping,
    Pong,
    RegistryUpdate,
    StartChild,
    Started,
    StatusReply,
    StatusRequest,
    StopChild,
    StopTree,
    SupervisorTick,
    TreeStopped,
)

__all__ = ["Supervisor"]

TICK = 1.0
# A tick later than this means the supervisor itself did not run (stopped, swapped, starved of CPU):
# its children's silence over that gap says nothing about them, so it is not counted against them.
STALL = 3 * TICK
DEFAULT_HANG_TIMEOUT = 10.0


@dataclass(slots=True)
class _Child:
    spec: ChildSpec | SupervisorSpec
    address: Any = None
    pid: int | None = None
    state: str = "stopped"    # starting | running | stopping | stopped | failed
    restarts: int = 0
    started_at: float | None = None
    last_pong: float = 0.0
    kill_at: float | None = None
    detail: str = ""
    direct: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> str:
        return "supervisor" if isinstance(self.spec, SupervisorSpec) else "service"

    @property
    def hang_timeout(self) -> float | None:
        if isinstance(self.spec, SupervisorSpec):
            return DEFAULT_HANG_TIMEOUT
        value = self.spec.options.get("hang_timeout", DEFAULT_HANG_TIMEOUT)
        return None if value is None else float(value)


@dataclass(slots=True)
class _Registry:
    """The root's view of the whole tree, and who watches which name."""

    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    watchers: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {str(address): address}


class Supervisor(RuntimeActor):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spec: SupervisorSpec | None = None
        self.children: list[_Child] = []
        self.restart_times: deque[float] = deque()
        self.phase = "init"           # init | starting | running | stopping | escalating | stopped
        self.start_queue: list[_Child] = []
        self.stop_queue: list[_Child] = []
        self.stop_waiter: Any = None
        self.stop_reason = ""
        self.escalated: str | None = None
        self.started_reported = False
        self.registry: _Registry | None = None
        self.is_root = False
        self.started_by: Any = None
        self.last_tick = time.time()

    # ------------------------------------------------------------------ start
    def on_init(self, msg: Init, sender: Any) -> None:
        assert isinstance(msg.spec, SupervisorSpec)
        self.spec = msg.spec
        self.is_root = msg.parent is None
        self.started_by = sender
        if self.is_root:
            self.registry = _Registry()
        self.make_outbox(self.name)
        self.children = [_Child(c) for c in msg.spec.children]
        self._register_self("starting")
        self.phase = "starting"
        self.start_queue = list(self.children)
        self._start_next()
        self.wakeupAfter(timedelta(seconds=TICK), payload=SupervisorTick())

    def _child_init(self, child: _Child) -> Init:
        assert self.init is not None
        return Init(child.spec, f"{self.init.path}/{child.name}", self.myAddress, self.root,
                    self.init.data_dir, child.restarts, self.init.port)

    def _start_child(self, child: _Child) -> None:
        from symphony_actors.runtime.service_actor import ServiceActor

        cls = Supervisor if isinstance(child.spec, SupervisorSpec) else ServiceActor
        child.address = self.createActor(cls)
        child.pid = None
        child.state = "starting"
        child.kill_at = None
        child.last_pong = time.time()
        self.send(child.address, self._child_init(child))
        self._report(child)

    def _start_next(self) -> None:
        while self.start_queue:
            child = self.start_queue[0]
            if child.state in ("starting", "restarting"):
                return  # wait for its Started, or for the exit of its old incarnation
            if child.state == "running":
                self.start_queue.pop(0)
                continue
            self._start_child(child)
            return
        if self.phase == "starting":
            self.phase = "running"
            self._register_self("running")
            if not self.started_reported:
                self.started_reported = True
                target = self.parent if self.parent is not None else self.started_by
                if target is not None:
                    self.send(target, Started(self.name, os.getpid(), self.myAddress))

    def _on_started(self, msg: Started) -> None:
        child = self._by_name(msg.name)
        if child is None or child.address != msg.address:
            return
        child.pid = msg.pid
        child.address = msg.address  # the child's own view of its address: a direct TCP address
        child.direct = msg.direct
        if msg.error is not None:
            child.state = "failed"
            child.detail = str(msg.error.get("message", "start failed"))
            self._report(child)
            return  # the child crashes itself; its exit drives the restart policy
        child.state = "running"
        child.started_at = time.time()
        child.last_pong = time.time()
        child.detail = ""
        self._report(child)
        self._publish("supervisor.child.started", child)
        if self.start_queue and self.start_queue[0] is child:
            self.start_queue.pop(0)
        self._start_next()

    # ------------------------------------------------------------------ exits and restarts
    def on_child_exited(self, address: Any) -> None:
        child = next((c for c in self.children if c.address == address), None)
        if child is None:
            return  # a duplicate notice, or a child we already replaced
        was = child.state
        child.address, child.pid, child.kill_at, child.direct = None, None, None, None
        if was == "restarting":  # stopped on purpose by one_for_all / rest_for_one: start it in turn
            child.state = "stopped"
            self._report(child)
            self._start_next()
            return
        if was == "stopping":
            child.state = "stopped"
            self._report(child)
            self._publish("supervisor.child.stopped", child)
            if self.phase in ("stopping", "escalating"):
                self._continue_stop()
            elif child.spec.restart == "temporary":  # stop_child: forget it
                self.children.remove(child)
                self._forget(child)
            return
        child.state = "stopped"
        child.detail = child.detail or "exited"
        self._report(child)
        self._publish("supervisor.child.exited", child, reason=child.detail)
        if self.phase in ("stopping", "escalating", "stopped"):
            self._continue_stop()
            return
        restart = child.spec.restart
        if restart == "temporary" or (restart == "transient" and child.detail == "normal"):
            self.children.remove(child)
            self._forget(child)
            return
        if self._intensity_exceeded():
            self._escalate(f"{self.name}: more than {self.spec.max_restarts if self.spec else '?'} restarts in "
                           f"{self.spec.within_seconds if self.spec else '?'} s (last: {child.name}, {child.detail})")
            return
        self._restart(child)

    def _intensity_exceeded(self) -> bool:
        assert self.spec is not None
        now = time.time()
        self.restart_times.append(now)
        while self.restart_times and now - self.restart_times[0] > self.spec.within_seconds:
            self.restart_times.popleft()
        return len(self.restart_times) > self.spec.max_restarts

    def _restart(self, failed: _Child) -> None:
        assert self.spec is not None
        strategy = self.spec.strategy
        index = self.children.index(failed)
        if strategy == "one_for_one":
            group = [failed]
        elif strategy == "one_for_all":
            group = list(self.children)
        else:  # rest_for_one
            group = self.children[index:]
        failed.restarts += 1
        others = [c for c in group if c is not failed and c.state in ("running", "starting")]
        self._publish("supervisor.child.restarting", failed, strategy=strategy,
                      also=[c.name for c in others])
        for c in reversed(others):
            c.restarts += 1
            c.detail = f"restarted with {failed.name} ({strategy})"
            self._stop_one(c, then_restart=True)
        self.start_queue = [c for c in self.children if c in group]
        if self.phase == "running":
            self.phase = "starting"
        if not others:
            self._start_next()

    # ------------------------------------------------------------------ stopping
    def _stop_one(self, child: _Child, then_restart: bool = False) -> None:
        if child.address is None:
            return
        child.state = "stopping" if not then_restart else "restarting"
        if isinstance(child.spec, SupervisorSpec):
            self.send(child.address, StopTree(f"stopped by {self.name}"))
        else:
            self.send(child.address, ActorExitRequest())
        child.kill_at = time.time() + child.spec.shutdown_timeout
        self._report(child)

    def _begin_stop(self, reason: str, waiter: Any) -> None:
        if self.phase in ("stopping", "stopped"):
            if waiter is not None and self.phase == "stopped":
                self.send(waiter, TreeStopped(self.name))
            return
        self.phase = "stopping" if self.phase != "escalating" else "escalating"
        self.stop_reason = reason
        self.stop_waiter = waiter
        self.start_queue = []
        self.stop_queue = [c for c in self.children if c.address is not None]
        self._continue_stop()

    def _continue_stop(self) -> None:
        if self.phase not in ("stopping", "escalating"):
            return
        # One child at a time, last started first.
        while self.stop_queue:
            child = self.stop_queue[-1]
            if child.address is None:
                self.stop_queue.pop()
                continue
            if child.state != "stopping":
                self._stop_one(child)
            return
        self._finish_stop()

    def _finish_stop(self) -> None:
        escalating = self.phase == "escalating"
        self.phase = "stopped"
        self._register_self("stopped" if not escalating else "failed", detail=self.stop_reason)
        if self.stop_waiter is not None:
            self.send(self.stop_waiter, TreeStopped(self.name))
        if escalating:
            if self.is_root:
                self.escalated = self.stop_reason
            elif self.parent is not None:
                self.send(self.parent, Escalate(self.name, self.stop_reason))
                self.send(self.myAddress, ActorExitRequest())

    def _escalate(self, reason: str) -> None:
        self._publish_raw("supervisor.escalated", {"supervisor": self.name, "reason": reason})
        self.phase = "escalating"
        self.stop_reason = reason
        self.stop_waiter = None
        self.start_queue = []
        self.stop_queue = [c for c in self.children if c.address is not None]
        self._continue_stop()

    # ------------------------------------------------------------------ periodic checks
    def on_wakeup(self, payload: Any) -> None:
        if not isinstance(payload, SupervisorTick):
            return
        now = time.time()
        stalled = now - self.last_tick > STALL
        self.last_tick = now
        for child in self.children:
            if child.address is None:
                continue
            if stalled:  # this process was stopped or starved, not the child: its pongs may be queued
                child.last_pong = max(child.last_pong, now - TICK)
            if child.kill_at is not None and now > child.kill_at and child.pid:
                if child.detail != "killed after its shutdown timeout":
                    child.detail = "killed after its shutdown timeout"
                    self._publish("supervisor.child.killed", child)
                self._kill(child)
            elif child.state == "starting":
                limit = child.hang_timeout
                if limit is not None and now - child.last_pong > limit and child.pid:
                    self._hang_kill(child, f"hung while starting for {limit:g} s")
            elif child.state == "running":
                limit = child.hang_timeout
                if limit is not None and now - child.last_pong > limit and child.pid:
                    self._hang_kill(child, f"hung: no answer to pings for {limit:g} s")
                else:
                    self.send(child.address, Ping(0, now))
        if self.phase != "stopped":
            self.wakeupAfter(timedelta(seconds=TICK), payload=SupervisorTick())

    def _kill(self, child: _Child) -> None:
        try:
            if child.pid:
                os.kill(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            return

    def _hang_kill(self, child: _Child, detail: str) -> None:
        if child.detail == detail:
            return  # killed already; its exit notice is on the way
        child.detail = detail
        self._publish("supervisor.child.hang_killed", child)
        self._kill(child)

    # ------------------------------------------------------------------ other messages
    def on_message(self, msg: Any, sender: Any) -> None:
        if isinstance(msg, Started):
            self._on_started(msg)
        elif isinstance(msg, Pong):
            child = self._by_name(msg.name)
            if child is not None:
                child.last_pong = time.time()
                if child.pid is None:
                    child.pid = msg.pid
                hung = msg.stats.get("hung") if isinstance(msg.stats, dict) else None
                if hung and child.state == "running" and child.pid == msg.pid:
                    self._hang_kill(child, f"hung: {hung}")
        elif isinstance(msg, ExitingNormally):
            child = self._by_name(msg.name)
            if child is not None and child.address == sender:
                child.detail = "normal"
        elif isinstance(msg, Escalate):
            child = self._by_name(msg.name)
            if child is not None:
                child.detail = f"escalated: {msg.reason}"
        elif isinstance(msg, StopTree):
            self._begin_stop(msg.reason, sender)
        elif isinstance(msg, TreeStopped):
            child = self._by_name(msg.name)
            if child is not None and child.address is not None:
                self.send(child.address, ActorExitRequest())
        elif isinstance(msg, RegistryUpdate):
            self._apply_registry(msg)
        elif isinstance(msg, Lookup):
            self._lookup_reply(msg, sender)
        elif isinstance(msg, StatusRequest):
            self.send(sender, self._status())
        elif isinstance(msg, StartChild | StopChild):
            self._child_command(msg, sender)
        elif isinstance(msg, ChildCommandDone):
            pass

    def _child_command(self, msg: StartChild | StopChild, sender: Any) -> None:
        if msg.supervisor != self.name:
            if self.registry is None:
                return
            node = self.registry.nodes.get(msg.supervisor)
            if node is None or node.get("kind") != "supervisor" or node.get("address") is None:
                err = NotFoundError(f"no supervisor named {msg.supervisor!r}").to_wire()
                self.send(sender, ChildCommandDone(msg.supervisor, getattr(msg, "name", ""), False, err))
                return
            if isinstance(msg, StartChild) and msg.spec.name not in self.registry.nodes:
                # Known from now on, so sends racing the start wait for it instead of failing.
                self.registry.nodes[msg.spec.name] = {
                    "name": msg.spec.name, "parent": msg.supervisor, "kind": "service", "address": None,
                    "pid": None, "state": "starting", "restarts": 0, "started_at": None, "detail": ""}
            self.send(node["address"], msg)
            return
        if isinstance(msg, StartChild):
            existing = self._by_name(msg.spec.name)
            if existing is not None and existing.state in ("running", "starting"):
                return  # idempotent: already supervised
            if existing is not None:
                self.children.remove(existing)
            child = _Child(msg.spec)
            self.children.append(child)
            self.start_queue.append(child)
            if self.phase == "running":
                self.phase = "starting"
            self._start_next()
        else:
            found = self._by_name(msg.name)
            if found is None:
                return
            child = found
            child.spec = _as_temporary(child.spec)
            child.detail = "normal"
            if child.address is not None:
                self._stop_one(child)  # forgotten when its exit arrives
            else:
                self.children.remove(child)
                self._forget(child)

    # ------------------------------------------------------------------ registry (root) and reporting
    def _register_self(self, state: str, detail: str = "") -> None:
        parent_name = None if self.init is None or self.is_root else self.init.path.split("/")[-2]
        update = RegistryUpdate(self.name, parent_name, "supervisor", self.myAddress, os.getpid(), state,
                                self.init.generation if self.init else 0, self.started_at, detail)
        self._send_registry(update)

    def _report(self, child: _Child) -> None:
        self._send_registry(RegistryUpdate(child.name, self.name, child.kind, child.address, child.pid,
                                           child.state, child.restarts, child.started_at, child.detail,
                                           child.direct))

    def _forget(self, child: _Child) -> None:
        self._send_registry(RegistryUpdate(child.name, self.name, child.kind, None, None, "removed",
                                           child.restarts, None, child.detail))

    def _send_registry(self, update: RegistryUpdate) -> None:
        if self.is_root:
            self._apply_registry(update)
        elif self.root is not None:
            self.send(self.root, update)

    def _apply_registry(self, u: RegistryUpdate) -> None:
        reg = self.registry
        if reg is None:
            return
        old = reg.nodes.get(u.name)
        if u.state == "removed":
            reg.nodes.pop(u.name, None)
        else:
            reg.nodes[u.name] = {"name": u.name, "parent": u.parent, "kind": u.kind, "address": u.address,
                                 "pid": u.pid, "state": u.state, "restarts": u.restarts,
                                 "started_at": u.started_at, "detail": u.detail, "direct": u.direct}
        # Services are reachable once running; push moves to everyone who looked the name up.
        new_addr = u.address if u.state == "running" else None
        old_addr = old["address"] if old and old.get("state") == "running" else None
        if new_addr != old_addr:
            direct = u.direct if new_addr is not None else None
            for w in list(reg.watchers.get(u.name, {}).values()):
                self.send(w, AddressUpdate(u.name, new_addr, u.pid, direct=direct))
            if new_addr is None and old_addr is not None:
                key = str(old_addr)
                for ws in reg.watchers.values():  # a dead actor watches nothing
                    ws.pop(key, None)

    def _lookup_reply(self, msg: Lookup, sender: Any) -> None:
        reg = self.registry
        if reg is None:
            return
        node = reg.nodes.get(msg.name)
        running = node is not None and node.get("state") == "running"
        if msg.watch:
            reg.watchers.setdefault(msg.name, {})[str(sender)] = sender
        self.send(sender, AddressUpdate(msg.name, node["address"] if running and node else None,
                                        node.get("pid") if node else None, known=node is not None,
                                        direct=node.get("direct") if running and node else None))

    def _status(self) -> StatusReply:
        reg = self.registry
        nodes: list[dict[str, Any]] = []
        now = time.time()
        if reg is not None:
            for n in reg.nodes.values():
                d = {k: v for k, v in n.items() if k not in ("address", "direct")}
                d["uptime"] = (now - n["started_at"]) if n.get("started_at") and n["state"] == "running" else None
                nodes.append(d)
        healthy = bool(nodes) and all(n["state"] == "running" for n in nodes) and self.escalated is None
        return StatusReply(tuple(nodes), healthy, self.escalated, os.getppid(), os.getsid(0),
                           auth.rejected_count())

    def _publish(self, topic: str, child: _Child, **extra: Any) -> None:
        self._publish_raw(topic, {"supervisor": self.name, "child": child.name, "kind": child.kind,
                                  "pid": child.pid, "restarts": child.restarts, "detail": child.detail,
                                  **extra})

    def _publish_raw(self, topic: str, payload: dict[str, Any]) -> None:
        payload["at"] = time.time()
        self._syslog(topic, payload)
        if self.outbox is None:
            return
        try:
            self.outbox.put("bus", env_mod.event(topic, payload, sender=self.name))
        except UsageError:
            return

    def _syslog(self, topic: str, payload: dict[str, Any]) -> None:
        """One line per decision in the system log (appended with one write, as the launcher's lines are)."""
        if self.init is None or not self.init.port:
            return
        words = [topic.removeprefix("supervisor.").removeprefix("child."), str(payload.get("child") or "")]
        words += [f"{k}={payload[k]}" for k in ("pid", "restarts", "strategy", "also") if payload.get(k)]
        why = payload.get("detail") or payload.get("reason") or ""
        line = (f"{time.strftime('%Y-%m-%d %H:%M:%S')} supervisor {self.name}[{os.getpid()}]: "
                f"{' '.join(w for w in words if w)}{': ' + str(why) if why else ''}\n")
        path = SystemAddress(self.init.port, Path(self.init.data_dir)).log_file
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode(errors="replace"))
            finally:
                os.close(fd)
        except OSError as exc:  # the log is out of reach (disk full, removed): say so where the output goes
            print(f"supervisor {self.name}: cannot write the system log {path}: {exc}: {line}", end="",
                  file=sys.stderr, flush=True)

    def _by_name(self, name: str) -> _Child | None:
        return next((c for c in self.children if c.name == name), None)

    def stats(self) -> dict[str, Any]:
        return {"children": len(self.children), "phase": self.phase}


def _as_temporary(spec: ChildSpec | SupervisorSpec) -> ChildSpec | SupervisorSpec:
    from dataclasses import replace

    return replace(spec, restart="temporary")

