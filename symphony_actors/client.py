"""Attach to a running Symphony system from any process: a notebook, a script, the CLI.

    import symphony_actors
    with symphony_actors.connect() as sym:          # port from $SYMPHONY_PORT or 19500 (or port=N)
        sym.status()                                 # the supervision tree
        sym.ask("bus", "stats")                      # call a service method
        sym.call("bus", "poll", subscription=s, wait=1.0)
        sym.publish("notes.hello", {"text": "hi"})
        for event in sym.subscribe("supervisor.#"):  # the tree as it is (supervisor.tree), then live events
            ...
        run = sym.run_workflow(wf)                   # a RunHandle: wait, result, events, retry, cancel

Errors are typed: :class:`NotRunningError` (nothing listens there),
:class:`DeadlineExceeded` (no reply in time), :class:`BusyError` (a queue is
full: back off), :class:`ServiceCrashed` (the service crashed on the request),
and the remote service's own error class (``NotFoundError``, ``ValidationError``,
...). An unknown remote error type becomes :class:`RemoteError` with its type
and message.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from symphony_actors.config import resolve
from symphony_actors.domain.errors import (
    ConflictError,
    DeadlineExceeded,
    NotFoundError,
    ServiceCrashed,
    UsageError,
)
from symphony_actors.domain.topics import matches

__all__ = ["Client", "RunHandle", "Subscription", "connect"]

TREE_TOPIC = "supervisor.tree"
RESTART_GRACE_S = 120.0  # how long a run's handle waits for a restarting tracker before giving up


class Subscription:
    """Live events matching a pattern; iterate it, or ``get(timeout)`` one batch at a time."""

    def __init__(self, client: Client, pattern: str, capacity: int, initial: bool = True) -> None:
        self._client = client
        self.pattern = pattern
        self.id: str = client.call("bus", "open", pattern=pattern, capacity=capacity)
        self.dropped = 0
        self.closed = False
        # A subscription that covers ``supervisor.tree`` first yields the tree as it is now (one event,
        # ``retained: True``), then live events: a healthy system publishes nothing, and a user watching
        # the supervisors should see what they watch before anything changes.
        self._backlog: list[dict[str, Any]] = []
        if initial and matches(pattern, TREE_TOPIC):
            tree = client.status()
            self._backlog.append({"seq": 0, "topic": TREE_TOPIC, "sender": "client", "at": time.time(),
                                  "retained": True, "payload": {k: tree[k] for k in
                                                                ("healthy", "escalated", "nodes")}})

    def get(self, timeout: float = 1.0, max_events: int = 500) -> list[dict[str, Any]]:
        """The events that arrived since the last call (waits up to ``timeout`` s for the first)."""
        if self.closed:
            raise UsageError("subscription is closed")
        if self._backlog:
            backlog, self._backlog = self._backlog, []
            return backlog
        reply = self._client.call("bus", "poll", subscription=self.id, max=max_events, wait=timeout,
                                  timeout=timeout + 10.0)
        self.dropped += int(reply.get("dropped", 0))
        events: list[dict[str, Any]] = reply.get("events", [])
        return events

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while not self.closed:
            yield from self.get()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self._client.call("bus", "close", subscription=self.id)
            except (NotFoundError, DeadlineExceeded):
                return

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RunHandle:
    """A workflow run in a running system: follow its events, wait for it, query, retry or cancel it.

    Queries survive a restart of the DAG tracker: the tracker reloads the run from its checkpoint and
    goes on, so a query that meets the restart (``ServiceCrashed``, or no answer while it reloads) is sent
    again to the new tracker, for up to ``restart_grace`` seconds; ``restarts_seen`` counts them."""

    def __init__(self, client: Client, run_id: str, restart_grace: float = RESTART_GRACE_S) -> None:
        self._client = client
        self.run_id = run_id
        self.restart_grace = restart_grace
        self.restarts_seen = 0

    def __repr__(self) -> str:
        return f"RunHandle({self.run_id!r})"

    def _dag(self, method: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        """An idempotent call to the tracker about this run, resent across the tracker's restarts."""
        deadline = time.monotonic() + self.restart_grace
        while True:
            try:
                return self._client.call("dag", method, run_id=self.run_id, timeout=timeout, **kwargs)
            except (ServiceCrashed, DeadlineExceeded) as exc:
                if time.monotonic() >= deadline:
                    raise
                if isinstance(exc, ServiceCrashed):
                    self.restarts_seen += 1
                time.sleep(0.05)  # the tracker is restarting: poll it again against the deadline

    def status(self, nodes: bool = False) -> dict[str, Any]:
        """The run's state at once: status, counts per node state, ``reused_count`` (nodes taken from earlier
        runs) and ``retry_of`` (the run this one retries, or None); with ``nodes``, each node's state, the
        ``reused`` node ids and the ``terminal`` ones (nothing depends on them)."""
        result: dict[str, Any] = self._dag("status", nodes=nodes)
        return result

    def poll(self, within: float = 2.0) -> dict[str, Any]:
        """The run's snapshot as soon as it finished, or after ``within`` seconds (``finished`` says which)."""
        snap: dict[str, Any] = self._dag("wait", within=within, timeout=within + 10.0)
        return snap

    def wait(self, timeout: float = 300.0) -> dict[str, Any]:
        """Block until the run finished (or ``timeout``); returns its final snapshot."""
        deadline = time.monotonic() + timeout
        while True:
            left = max(0.0, deadline - time.monotonic())
            snap: dict[str, Any] = self._dag("wait", within=min(left, 30.0), timeout=min(left, 30.0) + 10.0)
            if snap.get("finished") or snap.get("status") not in ("running", "queued", "cancelling"):
                return snap
            if time.monotonic() >= deadline:
                raise DeadlineExceeded(f"run {self.run_id} did not finish within {timeout:g} s",
                                       run_id=self.run_id)

    def events(self, after: int = 0, *, follow: bool = True, poll: float = 0.1) -> Iterator[dict[str, Any]]:
        """Every event of the run after sequence number ``after``, in order; ``follow`` waits for more
        until the run has finished. Resume an interrupted iteration by passing the last ``seq`` seen."""
        cursor = after
        while True:
            page = self._dag("events", after=cursor, limit=2000)
            yield from page["events"]
            cursor = page["cursor"]
            if page["events"]:
                continue
            if page["done"] or not follow:
                return
            time.sleep(poll)  # polling a remote cursor, not waiting for a test

    def result(self, node_id: str) -> Any:
        """The result value of a finished node, as plain data (dicts and lists); one too large to travel
        inline (over 64 KiB from an executor) is read from its artifact."""
        from symphony_actors.domain.workflow import thaw

        got = self._dag("result", node_id=node_id, with_artifact=True)
        value = got["value"]
        if value is None and got["artifact"]:
            import cbor2

            from symphony_actors.pit.artifacts.client import ArtifactClient

            value = cbor2.loads(ArtifactClient(self._client).retrieve(got["artifact"]))
        return thaw(value)

    def feedback(self, node_id: str, *, quality: float | None = None, cost: float | None = None) -> dict[str, Any]:
        """Rate how the conductor's choice for ``node_id`` did: a quality score (higher is better) and/or a
        cost, merged into the feedback the run's end gives (before or after it). ``NotFoundError`` if the
        conductor made no decision for that node."""
        result: dict[str, Any] = self._client.call("conductor", "rate", decision_id=f"{self.run_id}/{node_id}",
                                                   quality=quality, cost=cost)
        return result

    def retry(self, from_node: str | None = None) -> RunHandle:
        """Run this (finished) run again as a new run linked to it, reusing what it computed.

        Without ``from_node`` only the part that did not succeed runs again (failed, skipped, cancelled
        nodes); with it, that node and everything downstream of it. The other nodes' results are taken
        from this run. Returns the new run's handle; its status names this run in ``retry_of``."""
        try:
            started: dict[str, Any] = self._client.call("runs", "retry", run_id=self.run_id,
                                                        from_node=from_node, timeout=120)
        except NotFoundError as exc:
            if exc.details.get("service") != "runs":
                raise
            from symphony_actors.pit.dag.client import DagClient
            from symphony_actors.pit.dag.usecase import RunWorkflow

            started = RunWorkflow(DagClient(self._client)).retry(self.run_id, from_node)
        return RunHandle(self._client, started["run_id"], self.restart_grace)

    def cancel(self) -> dict[str, Any]:
        result: dict[str, Any] = self._client.call("dag", "cancel", run_id=self.run_id)
        return result

    def logs(self, node: str | None = None, *, output: bool = True) -> list[dict[str, Any]]:
        """Every attempt of the run (or of ``node``), in start order: ``started``, ``ended``, ``seconds``,
        ``worker``, ``host``, ``ok``, and unless ``output`` is False its ``stdout``, ``stderr``, ``log`` lines."""
        page: dict[str, Any] = self._client.call("dag", "logs", run_id=self.run_id, node=node, output=output)
        attempts: list[dict[str, Any]] = page["attempts"]
        return attempts


class Client:
    """A connection to one running system (see the module docstring)."""

    def __init__(self, port: int, timeout: float = 10.0, data_dir: str | os.PathLike[str] | None = None) -> None:
        from symphony_actors.runtime.endpoint import Endpoint

        self.port = port
        self.timeout = timeout
        self._endpoint = Endpoint(port, timeout, data_dir)  # data_dir: where the system's key is
        self._subs: list[Subscription] = []

    # ------------------------------------------------------------------ Caller
    def call(self, service: str, method: str, /, *, timeout: float | None = None, **kwargs: Any) -> Any:
        """Call ``method`` of ``service`` with keyword arguments and return its result."""
        return self._endpoint.request(service, method, kwargs, timeout)

    def tell(self, service: str, method: str | dict[str, Any], /, **kwargs: Any) -> None:
        """Call without waiting for the result."""
        name, args = _split(method, kwargs)
        self._endpoint.tell(service, name, args)

    def ask(self, service: str, payload: str | dict[str, Any], timeout: float | None = None) -> Any:
        """Notebook form: ``ask("bus", "stats")`` or ``ask("bus", {"method": "poll", "subscription": s})``."""
        name, args = _split(payload, {})
        return self._endpoint.request(service, name, args, timeout)

    # ------------------------------------------------------------------ bus
    def publish(self, topic: str, payload: Any = None) -> int:
        """Publish an event; returns how many subscriptions it reached."""
        result: int = self.call("bus", "publish", topic=topic, payload=payload)
        return result

    def subscribe(self, pattern: str, capacity: int = 10_000, *, initial: bool = True) -> Subscription:
        """Live events matching ``pattern``. A pattern covering ``supervisor.tree`` (``supervisor.#``, ``#``)
        first yields the current tree as one ``supervisor.tree`` event (unless ``initial=False``)."""
        sub = Subscription(self, pattern, capacity, initial)
        self._subs.append(sub)
        return sub

    # ------------------------------------------------------------------ workflows
    def run_workflow(self, workflow: Any, params: dict[str, Any] | None = None, *,
                     max_size: int | None = None) -> RunHandle:
        """Start a run of a workflow or template: an object, a file path, or document bytes.

        A file larger than 64 MiB is refused unless ``max_size`` (bytes) allows it."""
        from pathlib import Path

        from symphony_actors.domain.workflow import Template, Workflow, dumps_binary
        from symphony_actors.domain.workflow.formats import read_bytes

        if isinstance(workflow, Workflow | Template):
            document: bytes = dumps_binary(workflow, level=3)
        elif isinstance(workflow, str | Path):
            from symphony_actors.domain.workflow._decode import DEFAULT_LIMITS, Limits

            document = read_bytes(workflow, DEFAULT_LIMITS if max_size is None else Limits(max_bytes=max_size))
            if document[:1] == b"{" and b'"schemaVersion"' in document[:4096]:
                import orjson

                from symphony_actors.domain.workflow import import_wfformat, is_wfformat

                parsed = orjson.loads(document)
                if is_wfformat(parsed):  # a WfCommons instance: import it into our model first
                    document = dumps_binary(import_wfformat(parsed), level=3)
        elif isinstance(workflow, bytes):
            document = workflow
        else:
            raise UsageError(f"run_workflow takes a Workflow, a Template, a path or bytes, not "
                             f"{type(workflow).__name__}")
        try:  # through the runs service: admission, incremental re-runs, instrument choice
            started: dict[str, Any] = self.call("runs", "start", workflow=document, params=params or {},
                                                timeout=max(120.0, self.timeout))
            run_id: str = started["run_id"]
        except NotFoundError as exc:
            if exc.details.get("service") != "runs":
                raise
            run_id = self.call("dag", "submit", workflow=document, params=params or {},
                               timeout=max(120.0, self.timeout))
        return RunHandle(self, run_id)

    def run(self, run_id: str) -> RunHandle:
        """A handle on an existing run."""
        return RunHandle(self, run_id)

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("dag", "list_runs", limit=limit)
        return result

    # ------------------------------------------------------------------ system
    def status(self) -> dict[str, Any]:
        """The tree: each actor with its pid, state, restarts and uptime; plus bus counters."""
        st = self._endpoint.status()
        out: dict[str, Any] = {"port": self.port, "healthy": st.healthy, "escalated": st.escalated,
                               "admin_pid": st.admin_pid, "nodes": [dict(n) for n in st.nodes],
                               "auth_rejected": st.auth_rejected}
        try:
            out["bus"] = self.call("bus", "stats", timeout=2.0)
        except Exception as exc:  # noqa: BLE001 - status must show the tree even when the bus is down
            out["bus"] = {"error": str(exc)}
        return out

    def start_service(self, name: str, factory: str, *, supervisor: str = "root", timeout: float = 10.0,
                      restart: str = "temporary", **options: Any) -> None:
        """Start a service (``"package.module:build"``) under a supervisor of the running system, and wait
        until it answers; ``options`` reach its factory. Temporary by default: not restarted if it exits."""
        from symphony_actors.ports.service import ChildSpec

        nodes = {n["name"]: n for n in self._endpoint.status().nodes}
        if nodes.get(supervisor, {}).get("kind") != "supervisor":
            raise NotFoundError(f"no supervisor named {supervisor!r} in this system", supervisor=supervisor)
        if name in nodes:
            raise ConflictError(f"a service named {name!r} exists already", service=name)
        self._endpoint.start_child(supervisor, ChildSpec(name, factory, restart=restart,  # type: ignore[arg-type]
                                                         options=options))
        deadline = time.monotonic() + timeout
        while True:
            node = next((n for n in self._endpoint.status().nodes if n["name"] == name), None)
            if node is not None and node["state"] == "running":
                return
            if time.monotonic() > deadline:
                raise DeadlineExceeded(f"service {name!r} did not start within {timeout:g} s "
                                       f"(state: {node['state'] if node else 'unknown'})", service=name)
            time.sleep(0.005)  # polling the tree's state against a deadline

    def stop_service(self, name: str, *, supervisor: str = "root") -> None:
        """Stop a service started with :meth:`start_service` (or any child) and forget it."""
        self._endpoint.stop_child(supervisor, name)

    def kill(self, name: str) -> int | None:
        """Crash the named actor (for demos and fault tests); its supervisor restarts it."""
        return self._endpoint.crash(name)

    def wait_healthy(self, timeout: float = 10.0, *, after_pid_of: tuple[str, int | None] | None = None) -> None:
        """Wait until every actor runs (and, optionally, until ``name`` runs with a pid other than ``pid``)."""
        deadline = time.monotonic() + timeout
        while True:
            st = self._endpoint.status()
            ok = st.healthy
            if ok and after_pid_of is not None:
                name, old = after_pid_of
                node = next((n for n in st.nodes if n["name"] == name), None)
                ok = node is not None and node["state"] == "running" and node["pid"] not in (None, old)
            if ok:
                return
            if time.monotonic() > deadline:
                raise DeadlineExceeded(f"the system did not become healthy within {timeout:g} s")
            time.sleep(0.01)  # polling a remote status against a deadline

    def close(self) -> None:
        for sub in self._subs:
            try:
                sub.close()
            except Exception:  # noqa: BLE001 - closing is best effort; the bus drops it on restart anyway
                continue
        self._endpoint.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _split(payload: str | dict[str, Any], kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if isinstance(payload, str):
        return payload, kwargs
    if isinstance(payload, dict) and isinstance(payload.get("method"), str):
        args = {k: v for k, v in payload.items() if k != "method"}
        return payload["method"], {**args, **kwargs}
    raise UsageError("payload must be a method name or a dict with a 'method' key", payload=repr(payload)[:100])


def connect(address: str | int | None = None, *, port: int | None = None,
            data_dir: str | os.PathLike[str] | None = None, timeout: float = 10.0) -> Client:
    """Attach to a running system.

    ``address`` is a port, ``"host:port"`` (loopback only) or ``None``; ``port=`` says the same by name
    (give one of the two). Without either, the port comes from ``$SYMPHONY_PORT``, else from the one system
    running on ``data_dir`` (its run file), else 19500. ``timeout`` is the default per-call timeout, in seconds.
    """
    if address is not None and port is not None and str(address).rpartition(":")[2] != str(port):
        raise UsageError(f"connect() got both address {address!r} and port={port}: give one")
    chosen: int | str | None = port if port is not None else address
    if isinstance(chosen, str) and ":" in chosen:
        host, _sep, chosen = chosen.rpartition(":")
        if host not in ("127.0.0.1", "localhost", ""):
            raise UsageError(f"{host}: only local systems can be attached (the transport binds to loopback)")
    if chosen is None and data_dir is not None and not os.environ.get("SYMPHONY_PORT"):
        chosen = _port_in(resolve(None, data_dir).run_dir)
    if not isinstance(timeout, int | float) or timeout <= 0:
        raise UsageError(f"connect(timeout={timeout!r}): a number of seconds > 0")
    addr = resolve(chosen, data_dir)
    return Client(addr.port, timeout, data_dir=addr.data_dir if data_dir is not None else None)


def _port_in(run_dir: Path) -> int | None:
    """The port of the one system whose run file is in ``run_dir`` (None if none or several)."""
    ports = [p.stem.removeprefix("symphony-") for p in run_dir.glob("symphony-*.pid")]
    numbers = [int(p) for p in ports if p.isdigit()]
    return numbers[0] if len(numbers) == 1 else None
