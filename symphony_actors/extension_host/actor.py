"""The extension actor: one per loaded extension (``ext:<id>``), owning its confined worker.

Started by the extension host under the ``extensions`` supervisor with the load step in its
options. In :meth:`ExtensionActor.on_start` it starts a :class:`~.sandbox.Zygote` (audit log:
``<data>/extensions/audit.jsonl``, shared with the host's grant checks, so ``symphony ext audit``
shows sandbox kills and denials too) and spawns the worker from the policy
:func:`~.policy_map.policy_for_step` derives from the manifest's grants and limits. The worker
runs :class:`~.worker_entry.Adapter`, which loads the extension with the SDK.

Bus publishes, artifact writes and log lines made by extension code come back with each reply
as *effects*; they are checked here against the grants (:class:`AccessGuard`, audited) before
they are carried out, because the worker is untrusted.

A worker that dies during a request (crash, timeout, memory, CPU, forbidden syscall) gives the
caller ``ExtensionFailed`` with its ``reason``, publishes ``extensions.<id>.failed`` and is
restarted (re-activated if it was active). Other extensions live in other actors and workers.

Methods: ``ready``, ``activate``, ``deactivate``, ``send(operation, payload)``,
``hook(name, args)``, ``run_batch(tasks)`` (answers the DAG tracker like an executor),
``health``, ``status``, ``restart``.

DAG tasks run on a task thread (:class:`~symphony_actors.pit.dag.runner.TaskRunner`), not on
the actor loop, so a long instrument call never looks like a hang: the loop keeps answering
pings, and a ``send``/``hook`` that arrives while the worker is busy waits on a helper thread
(its reply is deferred). A task's limit is its node's ``timeout``, else the manifest's
``limits.timeout_s`` (the sandbox kills the worker then); ``ctx.log`` lines of the call are kept
with the attempt (``symphony logs``).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import cbor2

from symphony_actors.domain.errors import (
    ExtensionFailed,
    NotFoundError,
    PermissionDenied,
    SymphonyError,
    UsageError,
    error_from_wire,
)
from symphony_actors.extension_host.permissions import AccessGuard, AuditLog, GrantSet
from symphony_actors.extension_host.policy_map import policy_for_step
from symphony_actors.extension_host.sandbox import (
    DEFAULT_PRELOAD,
    HostCapabilities,
    SandboxedWorker,
    SandboxPolicy,
    Zygote,
    session_listen_ports,
)
from symphony_actors.ports.service import ActorContext, ServiceSettings

if TYPE_CHECKING:   # tasks arrive pickled; importing the engine here would slow every actor's start
    from symphony_actors.pit.dag.engine import Task
from symphony_actors.pit.dag.engine import has_refs, resolve_refs
from symphony_actors.pit.dag.runner import TaskRunner, current_attempt, run_inline
from symphony_actors.pit.dag.store import read_value
from symphony_actors.pit.dag.tasks import TaskQueue

__all__ = ["ADAPTER", "ExtensionActor", "actor_name", "build", "summarise_guarantees"]

ADAPTER_MODULE = "symphony_actors.extension_host.worker_entry"
ADAPTER = f"{ADAPTER_MODULE}:Adapter"
#: Worker deaths (the process is gone): restart it. ``exception`` means the extension raised, worker fine.
DEAD_REASONS = frozenset({"crash", "timeout", "memory", "cpu", "syscall", "not_running", "killed"})
#: Values up to this size also travel inline to downstream nodes; a larger one travels as its artifact
#: (an ArtifactRef in the next node's inputs, read where that node runs). Executors: 64 KiB.
INLINE_MAX = 4 * 1024 * 1024
DONE_MAX = 20_000         # results kept to answer a re-dispatch after a tracker restart
PRELOAD = (*DEFAULT_PRELOAD, ADAPTER_MODULE)
WATCH_S = 1.0              # how often the loop checks a running task's limit
LIMIT_MARGIN_S = 5.0       # added to the runner's limits: the sandbox's own timeout acts first


def actor_name(extension_id: str) -> str:
    return f"ext:{extension_id}"


def _replace_ids(value: Any, ids: dict[str, str]) -> Any:
    if not ids:
        return value
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, list):
        return [_replace_ids(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _replace_ids(v, ids) for k, v in value.items()}
    return value


class ExtensionActor:
    EXPORTS: ClassVar[frozenset[str]] = frozenset({
        "ready", "activate", "deactivate", "send", "hook", "run_batch", "work", "watchdog", "health", "status",
        "restart", "forget_run"})

    def __init__(self, settings: ServiceSettings) -> None:
        opts = settings.options
        self.step: dict[str, Any] = dict(opts["step"])
        self.id = str(self.step["id"])
        self.models: list[dict[str, Any]] = [dict(m) for m in opts.get("models") or ()]
        self.allow_unconfined = bool(opts.get("allow_unconfined", False))
        self.trusted = bool(opts.get("trusted", False))
        self.use_cgroups = bool(opts.get("use_cgroups", True))
        caps = opts.get("capabilities")   # an override of the host probe (tests, diagnostics): never widens
        self.capabilities = HostCapabilities(**dict(caps)) if caps else None
        self.tracker = str(opts.get("tracker", "dag"))
        self.host = str(opts.get("host", "exthost"))
        self.data_dir = settings.data_dir
        self.audit_path = settings.data_dir / "extensions" / "audit.jsonl"
        self.ctx: ActorContext | None = None
        self.zygote: Zygote | None = None
        self.worker: SandboxedWorker | None = None
        self.policy: SandboxPolicy | None = None
        self.state = "starting"          # loaded | active | failed
        self.start_error: dict[str, Any] | None = None
        self.described: dict[str, Any] = {}
        self.failures = 0
        self.restarts = 0
        self.calls = 0
        self.last_error: dict[str, Any] | None = None
        self.logs: deque[dict[str, Any]] = deque(maxlen=200)
        self.startup_ms: dict[str, float] = {}
        self.tasks = TaskQueue(DONE_MAX)
        self.working = False
        self.watching = False
        self.runner: TaskRunner | None = None
        self._post: Callable[..., None] | None = None
        self._loop_thread = threading.current_thread()
        self._stores = threading.local()   # one artifact store per thread (SQLite connections are per thread)
        self._store: Any = None
        self.audit = AuditLog(self.audit_path)
        self.guards: dict[str, AccessGuard] = {}
        for spec in [self.step, *self.models]:
            grants = GrantSet(str(spec["id"]), tuple(spec.get("granted") or ()), dict(spec.get("variables") or {}))
            # Refusals at the boundary are written by this actor with source=host (see _apply_effects).
            self.guards[str(spec["id"])] = AccessGuard(grants, AuditLog(None))

    # ------------------------------------------------------------------ lifecycle
    def on_start(self, ctx: ActorContext) -> None:
        self.ctx = ctx
        self._loop_thread = threading.current_thread()
        self._post = getattr(ctx, "call_soon_threadsafe", None)
        try:
            self.policy = policy_for_step(self.step, trusted=self.trusted,
                                          extra_read=[str(m["path"]) for m in self.models])
            self._spawn()
            self.state = "loaded"
            if self._post is not None:
                post = self._post
                self.runner = TaskRunner(actor_name(self.id), self.tasks, self._run_task, lambda: post(self._deliver),
                                         default_limit=self.policy.call_timeout_seconds, margin=LIMIT_MARGIN_S)
        except Exception as exc:  # noqa: BLE001 - never a crash loop: the actor stays up and reports why
            err = exc if isinstance(exc, SymphonyError) else ExtensionFailed(
                f"extension {self.id} could not start: {type(exc).__name__}: {exc}", extension=self.id,
                reason="crash", phase="start", error_type=type(exc).__name__)
            self.start_error = err.to_wire()   # the host stops this actor when ready() reports it
            self.state = "failed"
            self._close_zygote()

    def on_stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()
        if self.worker is not None and self.worker.alive:
            with contextlib.suppress(SymphonyError):
                self.worker.call("teardown", None, timeout=2.0)
        self._close_zygote()
        if self._store is not None:
            with contextlib.suppress(Exception):
                self._store.close()

    def _close_zygote(self) -> None:
        if self.zygote is not None:
            self.zygote.close()
        self.zygote = None
        self.worker = None

    def _spawn(self) -> None:
        assert self.policy is not None
        t0 = time.perf_counter()
        if self.zygote is None or not self.zygote.alive:
            self._close_zygote()
            self.zygote = Zygote(self.audit_path, allow_unconfined=self.allow_unconfined,
                                 use_cgroups=self.use_cgroups, preload=PRELOAD,
                                 capabilities=self.capabilities,
                                 system_ports=session_listen_ports()).start()  # the admin's session: its ports
        t1 = time.perf_counter()
        init = {"id": self.id, "path": self.step["path"], "granted": list(self.step.get("granted") or ()),
                "variables": dict(self.step.get("variables") or {}), "config": self.step.get("config"),
                "models": [{"id": m["id"], "path": m["path"], "granted": list(m.get("granted") or ()),
                            "variables": dict(m.get("variables") or {}), "config": m.get("config")}
                           for m in self.models]}
        self.worker = self.zygote.spawn(self.policy, ADAPTER, init=init)
        t2 = time.perf_counter()
        self.described = self.worker.call("describe", None, timeout=10.0)["ok"]
        self.startup_ms = {"zygote": round((t1 - t0) * 1000, 1), "spawn": round((t2 - t1) * 1000, 1),
                           "first_call": round((time.perf_counter() - t2) * 1000, 1)}

    def _respawn(self) -> None:
        """A fresh worker (same policy); re-activated if the extension was active."""
        was_active = self.state == "active"
        try:
            if self.worker is not None and self.zygote is not None and self.zygote.alive:
                self.worker.restart()
                self.described = self.worker.call("describe", None, timeout=10.0)["ok"]
            else:
                self._spawn()
            self.state = "loaded"
            if was_active:
                self._worker_call("activate", None)
                self.state = "active"
        except SymphonyError as exc:
            self.state = "failed"
            self.last_error = exc.to_wire()

    # ------------------------------------------------------------------ calling the worker
    def _worker_call(self, method: str, payload: Any, timeout: float | None = None) -> Any:
        if self.worker is None:
            raise ExtensionFailed(f"extension {self.id} has no worker", extension=self.id, reason="not_running",
                                  last_failure=self.start_error)
        self.calls += 1
        try:
            reply = self.worker.call(method, payload, timeout)
        except ExtensionFailed as exc:
            self._failed(exc)
            reason = str(exc.details.get("reason", "crash"))
            if reason in DEAD_REASONS:
                if reason in ("crash", "not_running"):  # the sandbox audits kills; a crash is recorded here
                    self.audit.append(self.id, "worker.crash", f"{method}: {exc}", decision="failed", source="host",
                                      reason=reason, signal=exc.details.get("signal"),
                                      exit_code=exc.details.get("exit_code"))
                if self.ctx is not None:
                    self._on_loop(self.ctx.publish, f"extensions.{self.id}.failed", {
                        "id": self.id, "reason": reason, "method": method, "error": exc.to_wire(),
                        "pid": self.worker.pid if self.worker else None, "at": time.time()})
                self.restarts += 1
                self._respawn()
            raise
        except PermissionDenied as exc:   # the kernel refused an action; the sandbox audited it
            self._failed(exc)
            raise
        if not isinstance(reply, dict):
            raise ExtensionFailed(f"extension {self.id} answered {method} with a malformed reply",
                                  extension=self.id, reason="protocol")
        ids = self._apply_effects(reply.get("effects") or [])
        if "error" in reply:
            err = error_from_wire(reply["error"])
            if isinstance(err, PermissionDenied):
                d = err.details
                self.audit.append(str(d.get("extension") or self.id), str(d.get("permission", "unknown")),
                                  str(d.get("target", "")), decision="denied",
                                  source="worker" if d.get("origin") == "os" else "context", method=method)
            if isinstance(err, ExtensionFailed):
                self._failed(err)
            raise err
        return _replace_ids(reply.get("ok"), ids)

    def _failed(self, exc: SymphonyError) -> None:
        self.failures += 1
        self.last_error = exc.to_wire()

    def _apply_effects(self, effects: list[Any]) -> dict[str, str]:
        """Check every effect against its extension's grants (all or nothing), then carry them out."""
        checked: list[tuple[AccessGuard, dict[str, Any]]] = []
        for effect in effects:
            if not isinstance(effect, dict):
                continue
            guard = self.guards.get(str(effect.get("extension")), self.guards[self.id])
            kind = effect.get("kind")
            try:
                if kind == "publish":
                    guard.check_publish(str(effect.get("topic")))
                elif kind == "artifact":
                    guard.check_artifact_write(str(effect.get("media_type")))
            except SymphonyError as exc:
                permission = "bus.publish" if kind == "publish" else "artifact.write"
                target = str(effect.get("topic") if kind == "publish" else effect.get("media_type"))
                self.audit.append(guard.extension, permission, target, decision="denied", source="host")
                if isinstance(exc, PermissionDenied):
                    raise
                raise PermissionDenied(f"extension {guard.extension} may not {permission} {target!r}: {exc}",
                                       extension=guard.extension, permission=permission, target=target) from exc
            checked.append((guard, effect))
        ids: dict[str, str] = {}
        for guard, effect in checked:
            kind = effect.get("kind")
            if kind == "publish" and self.ctx is not None:
                self._on_loop(self.ctx.publish, str(effect["topic"]), effect.get("payload"))
            elif kind == "artifact":
                data = base64.b64decode(str(effect.get("data", "")))
                real = self._artifact_store().store(data, name=f"ext/{guard.extension}",
                                                    media_type=str(effect.get("media_type")))
                ids[str(effect.get("id"))] = str(real)
            elif kind == "log":
                self.logs.append({k: effect.get(k) for k in ("extension", "level", "message", "fields")})
                attempt = current_attempt()   # a DAG task's call: the line is kept with its attempt too
                if attempt is not None:
                    fields = effect.get("fields")
                    attempt.add_line(str(effect.get("level", "info")), str(effect.get("message", "")),
                                     dict(fields) if isinstance(fields, dict) else None)
        return ids

    def _artifact_store(self) -> Any:
        from symphony_actors.pit.artifacts.store import ArtifactStore

        if threading.current_thread() is not self._loop_thread:
            store = getattr(self._stores, "store", None)
            if store is None:
                store = self._stores.store = ArtifactStore.open(self.data_dir)
            return store
        if self._store is None:
            self._store = ArtifactStore.open(self.data_dir)
        return self._store

    # ------------------------------------------------------------------ threads
    def _on_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` on the actor loop: now if this is the loop, else posted (ctx is not thread-safe)."""
        if self._post is not None and threading.current_thread() is not self._loop_thread:
            self._post(fn, *args)
        else:
            fn(*args)

    def _worker_busy(self) -> bool:
        """A DAG task holds (or is about to hold) the worker: a call now would block the loop."""
        return self.runner is not None and (self.runner.busy or bool(len(self.tasks)))

    def _off_loop(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on a helper thread, which waits for the worker; the reply is deferred, the loop free."""
        assert self.ctx is not None and self._post is not None
        post = self._post
        try:
            deferred: Any = self.ctx.defer()
        except RuntimeError:   # a tell: nobody waits for the answer
            deferred = None

        def run() -> None:
            try:
                value = fn()
            except BaseException as exc:  # noqa: BLE001 - every outcome goes back to the caller
                if deferred is not None:
                    post(deferred.fail, exc)
                else:
                    post(self._failed_quietly, exc)
                return
            if deferred is not None:
                post(deferred.resolve, value)

        threading.Thread(target=run, name=f"{actor_name(self.id)}-call", daemon=True).start()
        return deferred

    def _failed_quietly(self, exc: BaseException) -> None:
        if isinstance(exc, SymphonyError):
            raise exc   # the runtime turns it into a dead letter on the bus
        raise ExtensionFailed(f"extension {self.id}: {type(exc).__name__}: {exc}", extension=self.id,
                              reason="crash")

    def _require(self, *states: str) -> None:
        if self.state == "failed" and self.start_error is not None:
            raise error_from_wire(self.start_error)
        if self.state not in states:
            raise UsageError(f"extension {self.id} is {self.state}, not {' or '.join(states)}", extension=self.id)

    # ------------------------------------------------------------------ API
    def ready(self) -> dict[str, Any]:
        """The status once the worker answers; the start error (e.g. SandboxError) if it could not start."""
        if self.start_error is not None:
            raise error_from_wire(self.start_error)
        return self.status()

    def activate(self) -> dict[str, Any]:
        if self._worker_busy() and threading.current_thread() is self._loop_thread:
            return self._off_loop(self.activate)  # type: ignore[no-any-return]
        self._require("loaded", "active")
        if self.state != "active":
            self._worker_call("activate", None)
            self.state = "active"
        return {"id": self.id, "state": self.state}

    def deactivate(self) -> dict[str, Any]:
        if self._worker_busy() and threading.current_thread() is self._loop_thread:
            return self._off_loop(self.deactivate)  # type: ignore[no-any-return]
        self._require("loaded", "active")
        if self.state == "active":
            self.state = "loaded"
            self._worker_call("deactivate", None)
        return {"id": self.id, "state": self.state}

    def send(self, operation: str, payload: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        """Run one request (``process``, ``infer``, ``command``, ``hook``) in the worker.

        The host sends only to extensions it activated; an actor that is merely ``loaded`` here was
        restarted by its supervisor (a fresh process), so it activates again first."""
        if self._worker_busy() and threading.current_thread() is self._loop_thread:
            return self._off_loop(lambda: self.send(operation, payload, timeout))
        if self.state == "loaded":
            self.activate()
        if operation == "hook":
            reply = self._worker_call("call", {"operation": "hook", "payload": payload or {}}, timeout)
            return reply.get("value") if isinstance(reply, dict) else None
        return self._worker_call("call", {"operation": operation, "payload": payload or {}}, timeout)

    def hook(self, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """``{"implemented": bool, "value": ...}``: whether this extension has the hook, and its answer."""
        if self._worker_busy() and threading.current_thread() is self._loop_thread:
            return self._off_loop(lambda: self.hook(name, args))  # type: ignore[no-any-return]
        if self.state == "loaded":   # restarted by its supervisor: the host only broadcasts to active addons
            self.activate()
        if name not in self.described.get("hooks", ()):
            return {"implemented": False}
        reply = self._worker_call("call", {"operation": "hook", "payload": {"hook": name, "args": args or {}}})
        return dict(reply) if isinstance(reply, dict) else {"implemented": True, "value": reply}

    def restart(self) -> dict[str, Any]:
        """A fresh worker and instance, restoring the state (active stays active); clears the last error."""
        if self._worker_busy() and threading.current_thread() is self._loop_thread:
            return self._off_loop(self.restart)  # type: ignore[no-any-return]
        if self.state == "failed" and self.policy is not None and self.start_error is not None:
            self.start_error = None
            self.state = "loaded"
        self.restarts += 1
        if self.worker is not None:
            self._respawn()
        else:
            try:
                self._spawn()
                self.state = "loaded"
            except SymphonyError as exc:
                self.start_error, self.state = exc.to_wire(), "failed"
        if self.state != "failed":
            self.last_error = None
        return self.health()

    def health(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state,
                "healthy": self.last_error is None and self.state != "failed" and self.start_error is None,
                "restarts": self.restarts, "failures": self.failures,
                "last_error": self.last_error or self.start_error}

    def status(self) -> dict[str, Any]:
        ws = self.worker.status() if self.worker is not None else None
        guarantees = ws.guarantees.to_wire() if ws is not None and ws.guarantees is not None else None
        return {"id": self.id, "version": self.step.get("version"), "type": self.step.get("type"),
                "state": self.state, "pid": ws.pid if ws else None, "worker_state": ws.state if ws else None,
                "calls": self.calls, "worker_calls": ws.calls if ws else 0,
                "restarts": self.restarts, "worker_restarts": ws.restarts if ws else 0,
                "failures": self.failures, "last_error": self.last_error or self.start_error,
                "peak_memory_bytes": ws.peak_memory_bytes if ws else None,
                "cpu_seconds": ws.cpu_seconds if ws else None,
                "guarantees": guarantees, "guarantee_summary": summarise_guarantees(guarantees),
                "zygote_pid": self.zygote.zygote_pid if self.zygote else None,
                "hooks": list(self.described.get("hooks", ())), "logs": list(self.logs)[-20:],
                "startup_ms": self.startup_ms}

    def runtime_stats(self) -> dict[str, Any]:
        return {"state": self.state, "calls": self.calls, "failures": self.failures, "queued": len(self.tasks)}

    # ------------------------------------------------------------------ DAG tasks
    def run_batch(self, tasks: list[Task]) -> int:
        """Queue tasks from the tracker; each result goes to its ``on_results`` as an executor's would."""
        # Re-dispatches after a tracker restart come from the cache.
        replies = self.runner.offer(tasks) if self.runner is not None else self.tasks.offer(tasks)
        if replies and self.ctx is not None:
            self.ctx.tell(self.tracker, "on_results", executor=actor_name(self.id), results=replies)
        if self.ctx is None:
            return len(tasks)
        if self.runner is not None:
            if not self.watching:
                self.watching = True
                self.ctx.call_later(WATCH_S, "watchdog")
        elif self.tasks and not self.working:
            self.working = True
            self.ctx.call_later(0, "work")
        return len(tasks)

    def watchdog(self) -> None:
        """While tasks run: fail one past its limit at once, and deliver what finished."""
        if self.runner is None or self.ctx is None:
            return
        more = self.runner.check()
        self._deliver()
        self.watching = more
        if more:
            self.ctx.call_later(WATCH_S, "watchdog")

    def _deliver(self) -> None:
        assert self.runner is not None and self.ctx is not None
        done = self.runner.take()
        if done:
            self.ctx.tell(self.tracker, "on_results", executor=actor_name(self.id),
                          results=[result for result, _ in done], attempts=[record for _, record in done])

    def work(self) -> None:
        """Without a task thread: run one queued task, report it, come back for more."""
        task = self.tasks.pop()
        if task is not None:
            result, record = run_inline(actor_name(self.id), task, self._run_task)
            self.tasks.done(task, result)
            if self.ctx is not None:
                self.ctx.tell(self.tracker, "on_results", executor=actor_name(self.id), results=[result],
                              attempts=[record])
        if self.tasks and self.ctx is not None:
            self.ctx.call_later(0, "work")
        else:
            self.working = False

    def forget_run(self, run_id: str) -> int:
        if self.runner is not None:
            return self.runner.forget_run(run_id)
        return self.tasks.forget_run(run_id)

    def runtime_hung(self) -> str | None:
        """The heartbeat's verdict: why the task thread is hung (past its limit and grace), else None."""
        return self.runner.hung() if self.runner is not None else None

    def _run_task(self, task: Task) -> tuple[Any, ...]:
        t0 = time.time()
        try:
            value = self._task_value(task)
            artifact = self._record(task, value)
            if artifact is not None and len(cbor2.dumps(value)) > INLINE_MAX:
                value = None
            return (task.run_id, task.node_id, task.item, task.attempt, True, value, artifact, None, t0,
                    time.time() - t0)
        except SymphonyError as exc:
            err = exc.to_wire()
        return (task.run_id, task.node_id, task.item, task.attempt, False, None, None, err, t0, time.time() - t0)

    def _task_value(self, task: Task) -> Any:
        ext_id, _, node = task.type.partition("/")
        if ext_id != self.id:
            raise NotFoundError(f"{actor_name(self.id)} does not run node type {task.type!r}", type=task.type)
        nodes = self.step.get("nodes") or []
        spec = next((n for n in nodes if n.get("name") == node), None)
        if spec is None:
            raise NotFoundError(f"extension {self.id} has no node {node!r}; it has: "
                                + (", ".join(n.get("name", "?") for n in nodes) or "none"), type=task.type)
        if self.state == "loaded":   # a workflow uses it: activate, and tell the host
            self.activate()
            if self.ctx is not None:
                self._on_loop(functools.partial(self.ctx.tell, self.host, "on_ext_activated", extension_id=self.id))
        self._require("active")
        operation = "infer" if self.step.get("type") == "instrument" else "process"
        limit = self.policy.call_timeout_seconds if self.policy else None
        timeout = min(task.timeout_s, limit) if task.timeout_s and limit else (task.timeout_s or limit)
        inputs = task.inputs
        if has_refs(inputs):  # large upstream results: read here; the sandboxed worker never sees the store
            inputs = resolve_refs(inputs, lambda aid: read_value(self._artifact_store(), aid))
        outputs = self.send(operation, {"inputs": dict(inputs), "params": dict(task.params or {}),
                                        "idempotency_key": task.idempotency_key}, timeout=timeout)
        ports = [p.get("name") for p in spec.get("outputs") or ()]
        if len(ports) == 1 and isinstance(outputs, dict):
            return outputs.get(ports[0])
        return outputs

    def _record(self, task: Task, value: Any) -> str | None:
        if value is None:
            return None
        try:
            data = cbor2.dumps(value)
        except (cbor2.CBOREncodeError, TypeError, ValueError) as exc:
            raise UsageError(f"node {task.node_id!r} returned a value that is not plain data: {exc}") from exc
        item = "" if task.item < 0 else f"[{task.item}]"
        return str(self._artifact_store().store(data, name=f"{task.run_id}/{task.node_id}{item}",
                                                media_type="application/cbor", run_id=task.run_id,
                                                node_id=task.node_id, parents=task.parents))


def summarise_guarantees(guarantees: dict[str, Any] | None) -> str:
    """One line: ``enforced: a, b; best_effort: c; none: d`` (dimensions grouped by level)."""
    if not guarantees:
        return "not running"
    groups: dict[str, list[str]] = {}
    for dim, level in guarantees.items():
        if dim != "notes":
            groups.setdefault(str(level), []).append(dim)
    order = ("enforced", "best_effort", "none", "not_requested")
    parts = [f"{lvl}: {', '.join(groups[lvl])}" for lvl in order if lvl in groups]
    if all(lvl == "enforced" or lvl == "not_requested" for lvl in groups):
        return "all enforced" + (f" ({len(groups.get('not_requested', []))} not requested)"
                                 if groups.get("not_requested") else "")
    return "; ".join(parts)


def build(settings: ServiceSettings) -> ExtensionActor:
    return ExtensionActor(settings)

