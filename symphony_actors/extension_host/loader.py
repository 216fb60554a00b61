"""The loader half of the extension host: start, drive and stop one extension actor per loaded extension.

:class:`LoaderMixin` gives :class:`~.service.ExtensionHost` the rest of the ExtensionPort on the
real actor system: ``load`` (resolve, check grants, start ``ext:<id>`` actors under the
``extensions`` supervisor, dependencies first, each answering before the next starts),
``unload``, ``activate``, ``deactivate``, ``send``, ``broadcast``, ``health``, ``restart``,
``loaded_extensions`` (for ``symphony status``) and ``info`` with the guarantees achieved.

Everything that waits on an extension actor is a small generator *job*: it yields requests
``(service, method, args)`` and receives their answers (or has their errors thrown in); the
host drives it with ``ctx.request`` and answers its own caller through a deferred reply, so it
never blocks. Jobs that change what is loaded run one at a time, in arrival order.

Which extensions are loaded or active is kept in ``<data>/extensions/loaded.json`` so a
restarted host knows the actors its predecessor started (they keep running).
"""

from __future__ import annotations

import builtins
import itertools
import json
from collections import deque
from collections.abc import Generator
from pathlib import Path
from typing import Any

from symphony_actors.domain.errors import ConflictError, NotFoundError, SymphonyError, UsageError
from symphony_actors.extension_host.actor import actor_name
from symphony_actors.extension_host.permissions import parse_permission
from symphony_actors.extension_host.plan import LoadStep, plan_load
from symphony_actors.extension_host.registry import Registry
from symphony_actors.ports.service import ActorContext, ChildSpec, Deferred

__all__ = ["ACTOR_FACTORY", "SUPERVISOR", "LoaderMixin"]

ACTOR_FACTORY = "symphony_actors.extension_host.actor:build"
SUPERVISOR = "extensions"
HANG_MARGIN_S = 15.0     # the supervisor's hang timeout is the call timeout plus this
STOP_WAIT_S = 10.0       # an unload waits this long at most for the supervisor to report the actor gone
WAIT_STOPPED = "__wait_stopped__"

Request = tuple[str, str, dict[str, Any]]
Job = Generator[Request, Any, Any]


class LoaderMixin:
    """Mixed into ExtensionHost: needs ``registry``, ``root``, ``workspace``, ``settings`` and ``_ctx``."""

    registry: Registry
    root: Path
    workspace: str | None
    _ctx: ActorContext | None

    LOADER_EXPORTS = frozenset({"load", "unload", "activate", "deactivate", "send", "broadcast", "health", "restart",
                                "loaded_extensions", "on_job_reply", "on_ext_activated", "on_verify_reply",
                                "on_event", "on_stop_wait_timeout"})

    def _loader_init(self, options: dict[str, Any]) -> None:
        self.loaded: dict[str, str] = {}           # id -> "loaded" | "active"
        self.allow_unconfined = bool(options.get("allow_unconfined", False))
        self.use_cgroups = bool(options.get("use_cgroups", True))
        self.trusted_ids = frozenset(options.get("trusted") or ())
        self.capabilities = options.get("capabilities")
        self._jobs: dict[int, tuple[Job, Deferred]] = {}
        self._job_ids = itertools.count(1)
        self._exclusive: deque[tuple[Job, Deferred]] = deque()
        self._exclusive_running = False
        self._stop_waits: dict[str, tuple[Job, Deferred, bool]] = {}
        self._state_file = self.root / "loaded.json"
        try:
            data = json.loads(self._state_file.read_text())
            self.loaded = {str(k): str(v) for k, v in data.items() if v in ("loaded", "active")}
        except (OSError, ValueError, AttributeError):
            self.loaded = {}

    def _save_loaded(self) -> None:
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.loaded, sort_keys=True))
        tmp.replace(self._state_file)

    # ------------------------------------------------------------------ jobs
    def _job(self, job: Job, *, exclusive: bool = False) -> Any:
        assert self._ctx is not None, "the loader runs inside an actor system"
        deferred = self._ctx.defer()
        if exclusive:
            self._exclusive.append((job, deferred))
            if not self._exclusive_running:
                self._next_exclusive()
        else:
            self._step(job, deferred, None, None)
        return deferred

    def _next_exclusive(self) -> None:
        if self._exclusive:
            self._exclusive_running = True
            job, deferred = self._exclusive.popleft()
            self._step(job, deferred, None, None, exclusive=True)
        else:
            self._exclusive_running = False

    def _step(self, job: Job, deferred: Deferred, value: Any, error: BaseException | None,
              exclusive: bool = False) -> None:
        assert self._ctx is not None
        try:
            request = job.throw(error) if error is not None else job.send(value)
        except StopIteration as stop:
            deferred.resolve(stop.value)
            if exclusive:
                self._next_exclusive()
            return
        except SymphonyError as exc:
            deferred.fail(exc)
            if exclusive:
                self._next_exclusive()
            return
        service, method, args = request
        if service == WAIT_STOPPED:   # resumes on the supervisor's "stopped" event for that child
            self._stop_waits[method] = (job, deferred, exclusive)
            self._ctx.call_later(STOP_WAIT_S, "on_stop_wait_timeout", name=method)
            return
        job_id = next(self._job_ids)
        self._jobs[job_id] = (job, deferred)
        self._ctx.request(service, method, args, reply="on_job_reply", context=(job_id, exclusive))

    def on_job_reply(self, result: Any = None, error: BaseException | None = None, context: Any = None) -> None:
        """The answer to a job's request (runtime callback)."""
        if not isinstance(context, tuple) or len(context) != 2:
            return
        job_id, exclusive = context
        entry = self._jobs.pop(job_id, None)
        if entry is None:
            return
        self._step(entry[0], entry[1], result, error, exclusive=bool(exclusive))

    def on_event(self, topic: str, payload: Any) -> None:
        """``supervisor.child.stopped``: an unloaded extension's actor is gone."""
        if isinstance(payload, dict) and payload.get("supervisor") == SUPERVISOR:
            self._stopped(str(payload.get("child")))

    def on_stop_wait_timeout(self, name: str) -> None:
        self._stopped(name)

    def _stopped(self, name: str) -> None:
        entry = self._stop_waits.pop(name, None)
        if entry is not None:
            self._step(entry[0], entry[1], None, None, exclusive=entry[2])

    def _verify_loaded(self) -> None:
        """After a restart of this host: keep only the extensions whose actors still answer."""
        if self._ctx is None:
            return
        for ext_id in list(self.loaded):
            self._ctx.request(actor_name(ext_id), "health", {}, reply="on_verify_reply", context=ext_id)

    def on_verify_reply(self, result: Any = None, error: BaseException | None = None, context: Any = None) -> None:
        if isinstance(context, str) and isinstance(error, NotFoundError) and context in self.loaded:
            del self.loaded[context]
            self._save_loaded()

    def _forget_loaded(self) -> None:
        self.loaded = {}
        self._state_file.unlink(missing_ok=True)

    def on_ext_activated(self, extension_id: str) -> None:
        """An extension actor activated itself (a workflow node needed it)."""
        if self.loaded.get(extension_id) == "loaded":
            self.loaded[extension_id] = "active"
            self._save_loaded()

    # ------------------------------------------------------------------ helpers
    def _state(self, extension_id: str) -> str:
        return self.loaded.get(extension_id, "installed")

    def _dependents(self, extension_id: str, states: tuple[str, ...]) -> builtins.list[str]:
        return sorted(d for d in self.registry.dependents(extension_id) if self._state(d) in states)

    def _step_options(self, step: LoadStep, steps: tuple[LoadStep, ...], allow_unconfined: bool) -> dict[str, Any]:
        ext = self.registry.get(step.id)
        manifest = ext.manifest.to_dict()
        data = step.to_dict()
        data["nodes"] = manifest["contributes"]["nodes"]
        models = []
        for other in steps:
            if other.id != step.id and other.type == "instrument":
                od = other.to_dict()
                od["nodes"] = self.registry.get(other.id).manifest.to_dict()["contributes"]["nodes"]
                models.append(od)
        return {"step": data, "models": models, "allow_unconfined": allow_unconfined or self.allow_unconfined,
                "trusted": step.id in self.trusted_ids, "use_cgroups": self.use_cgroups,
                "hang_timeout": float(step.limits.timeout_s) + HANG_MARGIN_S, "capabilities": self.capabilities}

    def _check_grants(self, step: LoadStep) -> None:
        """Grants must still be well-formed and requested by the installed manifest."""
        requested = set(self.registry.get(step.id).manifest.permission_strings)
        for g in step.granted:
            p = str(parse_permission(g))
            if p not in requested:
                raise UsageError(f"{step.id}: granted {p} is not requested by its manifest", extension=step.id)

    def _load_job(self, extension_id: str, allow_unconfined: bool) -> Generator[Request, Any, builtins.list[str]]:
        """Start the actors of every step not loaded yet, all at once (each starts its own zygote, the
        slow part), then wait for each to answer ``ready`` in dependency order. If one fails, the
        ones this job started are stopped again and the error goes to the caller."""
        steps = plan_load(self.registry, extension_id, workspace=self.workspace)
        assert self._ctx is not None
        new = [s for s in steps if s.id not in self.loaded]
        for step in new:
            self._check_grants(step)
        for step in new:
            self._ctx.start_child(SUPERVISOR, ChildSpec(actor_name(step.id), ACTOR_FACTORY, restart="permanent",
                                                        options=self._step_options(step, steps, allow_unconfined),
                                                        shutdown_timeout=5.0))
        for i, step in enumerate(new):
            try:
                yield actor_name(step.id), "ready", {}
            except SymphonyError:
                for other in new[i:]:
                    self._ctx.stop_child(SUPERVISOR, actor_name(other.id))
                raise
            self.loaded[step.id] = "loaded"
            self._save_loaded()
            self._ctx.publish(f"extensions.{step.id}.loaded", {"id": step.id, "version": step.version})
        return [s.id for s in steps]

    # ------------------------------------------------------------------ ExtensionPort on the actor system
    def load(self, extension_id: str, allow_unconfined: bool = False) -> Any:
        """Resolve, check grants and start the extension's actor and its dependencies', in order."""
        self.registry.get(extension_id)

        def job() -> Job:
            order = yield from self._load_job(extension_id, allow_unconfined)
            return {"id": extension_id, "state": self._state(extension_id), "order": order}
        return self._job(job(), exclusive=True)

    def activate(self, extension_id: str, allow_unconfined: bool = False) -> Any:
        """Load if needed, then activate dependencies first."""
        self.registry.get(extension_id)

        def job() -> Job:
            order = yield from self._load_job(extension_id, allow_unconfined)
            for ext_id in order:
                if self._state(ext_id) != "active":
                    yield actor_name(ext_id), "activate", {}
                    self.loaded[ext_id] = "active"
                    self._save_loaded()
                    assert self._ctx is not None
                    self._ctx.publish(f"extensions.{ext_id}.activated", {"id": ext_id})
            return {"id": extension_id, "state": "active", "order": order}
        return self._job(job(), exclusive=True)

    def deactivate(self, extension_id: str) -> Any:
        self.registry.get(extension_id)
        active = self._dependents(extension_id, ("active",))
        if active:
            raise ConflictError(f"cannot deactivate {extension_id}: active {', '.join(active)} depend on it",
                                extension=extension_id, dependents=active)

        def job() -> Job:
            if self._state(extension_id) == "active":
                self.loaded[extension_id] = "loaded"
                self._save_loaded()
                yield actor_name(extension_id), "deactivate", {}
            return {"id": extension_id, "state": self._state(extension_id)}
        return self._job(job(), exclusive=True)

    def unload(self, extension_id: str) -> Any:
        """Deactivate if needed and stop the extension's actor (and its worker)."""
        self.registry.get(extension_id)
        loaded = self._dependents(extension_id, ("loaded", "active"))
        if loaded:
            raise ConflictError(f"cannot unload {extension_id}: loaded {', '.join(loaded)} depend on it",
                                extension=extension_id, dependents=loaded)

        def job() -> Job:
            assert self._ctx is not None
            if self._state(extension_id) == "active":
                try:
                    yield actor_name(extension_id), "deactivate", {}
                except SymphonyError:
                    pass  # a failing deactivation must not keep it loaded
            if extension_id in self.loaded:
                self._ctx.stop_child(SUPERVISOR, actor_name(extension_id))
                del self.loaded[extension_id]
                self._save_loaded()
                # Answer once it is gone, so that loading it again never races with the old actor.
                yield WAIT_STOPPED, actor_name(extension_id), {}
                self._ctx.publish(f"extensions.{extension_id}.unloaded", {"id": extension_id})
            return {"id": extension_id, "state": "installed"}
        return self._job(job(), exclusive=True)

    def send(self, extension_id: str, operation: str, payload: dict[str, Any] | None = None) -> Any:
        """One request to an active extension (``process``, ``infer``, ``command``, ``hook``)."""
        self.registry.get(extension_id)
        state = self._state(extension_id)
        if state != "active":
            raise UsageError(f"extension {extension_id} is {state}, not active; activate it first",
                             extension=extension_id)

        def job() -> Job:
            return (yield actor_name(extension_id), "send", {"operation": operation, "payload": payload})
        return self._job(job())

    def broadcast(self, hook: str, args: dict[str, Any] | None = None) -> Any:
        """Call ``hook`` on every active addon that implements it, dependencies first."""
        return self._job(self._broadcast_steps(hook, args or {}))

    def _active_addons(self) -> builtins.list[str]:
        return [i for i in self._activation_order() if self._state(i) == "active"
                and self.registry.get(i).manifest.type == "addon"]

    def _broadcast_steps(self, hook: str, args: dict[str, Any]) -> Job:
        """The job of a broadcast: ``{"results": {addon: value}, "errors": {addon: error}}``."""
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for ext_id in self._active_addons():
            try:
                reply = yield actor_name(ext_id), "hook", {"name": hook, "args": args}
            except SymphonyError as exc:
                errors[ext_id] = exc.to_wire()
                continue
            if isinstance(reply, dict) and reply.get("implemented"):
                results[ext_id] = reply.get("value")
        return {"results": results, "errors": errors}

    def _activation_order(self) -> builtins.list[str]:
        order: list[str] = []
        for ext_id in sorted(self.loaded):
            try:
                ids = [m.id for m in self.registry.resolve(ext_id).order]
            except SymphonyError:
                ids = [ext_id]
            for i in ids:
                if i not in order:
                    order.append(i)
        return order

    def health(self, extension_id: str) -> Any:
        self.registry.get(extension_id)
        if extension_id not in self.loaded:
            return {"id": extension_id, "state": "installed", "healthy": True, "restarts": 0, "failures": 0,
                    "last_error": None}

        def job() -> Job:
            reply = yield actor_name(extension_id), "health", {}
            return reply
        return self._job(job())

    def restart(self, extension_id: str) -> Any:
        """A fresh worker and instance for a loaded extension (its state restored); counts restarts."""
        self.registry.get(extension_id)
        if extension_id not in self.loaded:
            return self.health(extension_id)

        def job() -> Job:
            return (yield actor_name(extension_id), "restart", {})
        return self._job(job(), exclusive=True)

    def loaded_extensions(self) -> Any:
        """Each loaded extension's runtime status: pid, state, calls, restarts, guarantees (for ``status``)."""
        ids = sorted(self.loaded)
        if not ids:
            return []

        def job() -> Job:
            out = []
            for ext_id in ids:
                try:
                    out.append((yield actor_name(ext_id), "status", {}))
                except SymphonyError as exc:
                    out.append({"id": ext_id, "state": "unreachable", "last_error": exc.to_wire(),
                                "guarantee_summary": "unknown"})
            return out
        return self._job(job())

    def _runtime_info(self, info: dict[str, Any]) -> Any:
        """``info`` plus state, health and guarantees from the actor when loaded."""
        ext_id = str(info["id"])
        info["state"] = self._state(ext_id)
        if ext_id not in self.loaded or self._ctx is None:
            info["health"] = {"id": ext_id, "state": "installed", "healthy": True, "restarts": 0, "failures": 0,
                              "last_error": None}
            info["runtime"] = None
            return info

        def job() -> Job:
            try:
                status = yield actor_name(ext_id), "status", {}
            except SymphonyError as exc:
                status = {"state": "unreachable", "last_error": exc.to_wire()}
            info["runtime"] = status
            info["guarantees"] = status.get("guarantees")
            info["health"] = {"id": ext_id, "state": info["state"],
                              "healthy": status.get("last_error") is None and status.get("state") != "failed",
                              "restarts": status.get("restarts", 0), "failures": status.get("failures", 0),
                              "last_error": status.get("last_error")}
            return info
        return self._job(job())
