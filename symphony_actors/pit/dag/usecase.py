"""The "run a workflow" use case, written against ports only.

:class:`RunWorkflow` is what happens around the DAG tracker when a user runs
a workflow:

1. **admission**: the Arbitration Engine decides whether the run may start now
   (priorities, fair share, quotas, per-tag limits); a run it does not grant now
   waits in the durable queue (:mod:`.runtable`, shown by the tracker as ``queued``)
   and starts when it is granted (:meth:`RunWorkflow.admit_granted`); only a run
   that can never fit is refused (``BusyError``). Grants are tied to run ids and
   reconciled with the run table (:meth:`RunWorkflow.reconcile`);
2. **incremental re-run**: the Stale Manager says which nodes are still fresh
   from earlier runs (same type, parameters, inputs and extension versions, as
   make and Bazel do); those are not run again, their artifacts are reused;
3. **instrument choice**: for each instrument node offering ``candidates``, the
   Conductor decides which instrument serves it (``params.model``), and the Pool
   Manager is told which models the run will reach so it can warm them;
4. **execution**: the DAG tracker runs it.

When the run ends, :meth:`finish` returns the admitted capacity (first, so a
failure further on cannot leak it), gives the Conductor its feedback, and records
every produced artifact's derivation with the Stale Manager.

It talks only to :class:`DagPort`, :class:`ArbitrationPort`, :class:`PoolPort`,
:class:`StalePort`, :class:`ConductorPort` and :class:`ArtifactPort`: the
``runs`` service wires it to the real services, unit tests to the fakes. Any
port may be ``None`` (that step is then skipped), so a system without, say,
a conductor still runs workflows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cbor2

from symphony_actors.domain.errors import (
    BusyError,
    ConflictError,
    NotFoundError,
    Problem,
    SymphonyError,
    UsageError,
    ValidationError,
)
from symphony_actors.domain.ids import new_run_id
from symphony_actors.domain.workflow import Edge, EdgeKind, NodeKind, Workflow, dumps_binary, freeze, to_workflow
from symphony_actors.pit.dag.runtable import RunRecord, RunTable

__all__ = ["RunPlan", "RunWorkflow"]

log = logging.getLogger(__name__)
PREFIX = "run:"                    # arbitration request ids of runs: run:<run id>
ENDED = ("succeeded", "failed", "cancelled")
MAX_END_TRIES = 10                 # end-of-run processing attempts before giving up on lineage/feedback
RECORD_BATCH = 2_000              # lineage records per call to the stale manager


def _edges_into(wf: Workflow) -> dict[str, list[Edge]]:
    """Each node's incoming edges, in one pass (``wf.edges_into`` per node would be O(N * E))."""
    into: dict[str, list[Edge]] = {}
    for e in wf.edges:
        into.setdefault(e.target, []).append(e)
    return into


@dataclass
class RunPlan:
    """What :meth:`RunWorkflow.start` decided, kept until :meth:`RunWorkflow.finish`."""

    run_id: str
    workflow: Workflow
    order: tuple[str, ...] = ()                                     # topological, from the one validation
    admission: dict[str, Any] | None = None
    reused: dict[str, str] = field(default_factory=dict)            # node -> artifact
    decisions: dict[str, str] = field(default_factory=dict)         # node -> conductor decision id
    models: list[str] = field(default_factory=list)


class RunWorkflow:
    def __init__(self, dag: Any, *, arbitration: Any = None, pool: Any = None, stale: Any = None,
                 conductor: Any = None, artifacts: Any = None, table: RunTable | None = None,
                 node_types: Callable[[], Sequence[Mapping[str, Any]]] | None = None) -> None:
        self.dag, self.arbitration, self.pool = dag, arbitration, pool
        self.node_types = node_types  # the installed extensions' node types (the extension host), if any
        self.stale, self.conductor, self.artifacts = stale, conductor, artifacts
        self.plans: dict[str, RunPlan] = {}
        self.table = table if table is not None else RunTable(":memory:")
        self._granted_later: list[str] = []

    # ------------------------------------------------------------------ start
    def start(self, workflow: Any, params: dict[str, Any] | None = None, *, user: str = "",
              priority: int = 0, reuse: bool = True, tags: Sequence[str] = ()) -> dict[str, Any]:
        """Admit and start a run, or queue it: ``{"run_id", "queued", "reused", "instruments", "admission"}``."""
        wf = to_workflow(workflow, params)
        order = wf.validate().order  # validated once; the order is reused below
        self.check_candidates(wf)
        as_sent = isinstance(workflow, bytes)
        record = RunRecord(new_run_id(), workflow if as_sent else dumps_binary(wf, level=3),
                           dict(params or {}) if as_sent else {}, wf.name, user, int(priority),
                           sorted({str(t) for t in tags}), reuse, self.table.next_seq())
        self.table.put(record)  # durable first: whatever dies from here on, reconciliation finds it
        try:
            # listed as queued; validated here already, so the tracker stores it without decoding it
            self.dag.submit(record.document, record.params, record.run_id, hold=True,
                            summary={"name": wf.name, "nodes": len(wf.nodes)})
            decision = self._submit(record)
        except BaseException:
            self._drop(record)
            self._cancel_held(record.run_id)
            raise
        if decision is not None and decision.get("verdict") == "rejected":
            self._drop(record)
            self._cancel_held(record.run_id)
            raise BusyError(f"run of {wf.name!r} can never be admitted: {decision.get('reason', '')}",
                            verdict="rejected")
        if decision is not None and decision.get("verdict") != "granted":
            return {"run_id": record.run_id, "queued": True, "reused": [], "instruments": {},
                    "admission": decision}
        plan = RunPlan(record.run_id, wf, order, admission=decision)
        return self._launch(plan, record, workflow, params)

    def _submit(self, record: RunRecord) -> dict[str, Any] | None:
        """Ask for admission (idempotent per run). A run holds one executor slot while it runs (the unit of
        concurrency admitted: its nodes share the executors with every other admitted run), and one unit of
        each of its tags (limited when the policy's capacity names ``tag:NAME``)."""
        if self.arbitration is None:
            return None
        demands = {"executors": 1.0, **{f"tag:{t}": 1.0 for t in record.tags}}
        result: dict[str, Any] = self.arbitration.submit(
            request_id=record.request_id, run=record.run_id, demands=demands, user=record.user,
            workflow=record.workflow, priority=record.priority)
        return result

    def _drop(self, record: RunRecord) -> None:
        """Forget a run that will not run: delete its record, withdraw its admission (if the engine cannot
        be reached now, reconciliation withdraws it: no record, no live run)."""
        self.table.delete(record.run_id)
        if self.arbitration is not None:
            try:
                self.arbitration.release(request_id=record.request_id)
            except NotFoundError:
                log.debug("run %s: no admission request to withdraw", record.run_id)
            except SymphonyError as exc:
                log.warning("run %s: admission not withdrawn now (reconciliation will): %s", record.run_id, exc)

    def _launch(self, plan: RunPlan, record: RunRecord, workflow: Any, params: dict[str, Any] | None,
                requeue: bool = False) -> dict[str, Any]:
        """Admitted: re-use, instrument choice, then the tracker starts the held run."""
        wf, reuse = plan.workflow, record.reuse
        try:
            reused_values: dict[str, Any] = {}
            if reuse and self.stale is not None:
                plan.reused = self._fresh(wf, plan.order)
                reused_values = self._values(plan.reused)
            chosen = self._choose_instruments(plan, wf)
            # A document that came as bytes and was not changed goes on as it came (no re-encoding).
            document = workflow if chosen is wf and isinstance(workflow, bytes) and not params \
                else dumps_binary(chosen, level=3)
            record.state, record.reused, record.decisions = "started", dict(plan.reused), dict(plan.decisions)
            record.models = {n.id: n.type for n in chosen.nodes if n.id in plan.decisions}
            self.table.put(record)  # before the tracker starts it: its end is always processed
            run_id = self.dag.submit(document, {}, plan.run_id,
                                     **({"reuse": {n: {"artifact": a, "value": reused_values.get(n)}
                                                   for n, a in plan.reused.items()}} if plan.reused else {}))
        except ConflictError:  # cancelled while it was queued: it never starts
            self._release(plan)
            self.table.delete(plan.run_id)
            return {"run_id": plan.run_id, "queued": False, "cancelled": True, "reused": [], "instruments": {},
                    "admission": None}
        except SymphonyError as exc:
            if requeue and record.tries + 1 < MAX_END_TRIES:  # a service restarting: keep grant and place
                record.state, record.tries = "queued", record.tries + 1
                self.table.put(record)
                raise
            self._release(plan)
            self.table.delete(plan.run_id)
            self._cancel_held(plan.run_id)
            log.warning("run %s could not start: %s", plan.run_id, exc)
            raise
        self.plans[run_id] = plan
        return {"run_id": run_id, "queued": False, "reused": sorted(plan.reused),
                "instruments": dict(plan.decisions), "admission": plan.admission}

    def _cancel_held(self, run_id: str) -> None:
        try:
            self.dag.cancel(run_id)
        except NotFoundError:
            log.debug("run %s: the tracker never held it", run_id)
        except SymphonyError as exc:
            log.warning("run %s could not start and could not be cancelled: %s", run_id, exc)

    def _admit_now(self, plan: RunPlan, document: bytes, user: str, priority: int) -> RunRecord:
        """Admission for a retry: granted at once or refused (a retry's reuse map lives only in this call,
        so it is not queued). Its record is durable before admission, so reconciliation releases the grant
        whatever dies later, as for every run."""
        record = RunRecord(plan.run_id, document, {}, plan.workflow.name, user, int(priority), [], False,
                           self.table.next_seq(), state="started", reused=dict(plan.reused))
        self.table.put(record)
        try:
            decision = self._submit(record)
        except BaseException:
            self._drop(record)
            raise
        plan.admission = decision
        if decision is not None and decision.get("verdict") != "granted":
            self._drop(record)
            raise BusyError(f"retry of {plan.workflow.name!r} not admitted now: "
                            f"{decision.get('reason', 'no capacity')}; try again when a run ends",
                            verdict=decision.get("verdict"))
        return record

    # ------------------------------------------------------------------ retry
    def retry(self, run_id: str, from_node: str | None = None, *, user: str = "", priority: int = 0) -> dict[str, Any]:
        """Run a finished run again as a new run linked to it (``retry_of``), reusing what it computed.

        Without ``from_node``: the nodes that did not succeed run again. With it: that node and everything
        downstream of it. Every other node that succeeded is taken from the original run (its result and
        artifact), control nodes (map, branch, join) included, so the new run routes as the original did.
        """
        original = self.dag.outcome(run_id)
        if original["status"] in ("queued", "running", "cancelling"):
            raise ConflictError(f"run {run_id} is still {original['status']}: wait for it or cancel it, then retry",
                                run_id=run_id)
        wf = to_workflow(original["workflow"], {})
        plan = RunPlan(new_run_id(), wf, wf.validate().order)
        nodes: dict[str, dict[str, Any]] = original["nodes"]
        if from_node is not None:
            if from_node not in nodes and from_node not in plan.order:
                raise NotFoundError(f"run {run_id} has no node {from_node!r}", run_id=run_id, node=from_node)
            rerun = _downstream(wf, [from_node])
        else:
            rerun = {n for n in plan.order if nodes.get(n, {}).get("status") != "succeeded"}
            if not rerun:
                raise UsageError(f"run {run_id} succeeded: nothing failed to retry (retry --from NODE runs a node "
                                 f"and everything downstream of it again)", run_id=run_id)
        reuse = self._reusable(wf, plan.order, nodes, rerun)
        plan.reused = {n: str(info.get("artifact") or "") for n, info in reuse.items()}
        document = original["workflow"]
        self._admit_now(plan, document if isinstance(document, bytes) else dumps_binary(wf, level=3), user, priority)
        try:
            new_id = self.dag.submit(document, {}, plan.run_id, reuse=reuse,
                                     retry_of={"run_id": run_id, "from_node": from_node})
        except BaseException:
            self._release(plan)
            self.table.delete(plan.run_id)
            raise
        self.plans[new_id] = plan
        return {"run_id": new_id, "retry_of": run_id, "from_node": from_node, "reused": sorted(reuse),
                "rerun": [n for n in plan.order if n not in reuse], "admission": plan.admission}

    def _reusable(self, wf: Workflow, order: tuple[str, ...], nodes: dict[str, dict[str, Any]],
                  rerun: set[str]) -> dict[str, dict[str, Any]]:
        """The succeeded nodes outside ``rerun`` with their values; a node whose large result was kept only
        as an artifact that is gone now runs again, with everything downstream of it."""
        out: dict[str, dict[str, Any]] = {}
        for node_id in order:
            info = nodes.get(node_id, {})
            if node_id in rerun or info.get("status") != "succeeded":
                continue
            value, artifact = info.get("result"), info.get("artifact")
            large = value is None and artifact and wf.node(node_id).kind is not NodeKind.CONTROL
            if large and self.artifacts is not None:
                try:
                    value = cbor2.loads(self.artifacts.retrieve(artifact))
                except NotFoundError:
                    rerun |= _downstream(wf, [node_id])
                    continue
            out[node_id] = {"artifact": artifact, "value": value, "detail": "reused: from the retried run"}
        return {n: v for n, v in out.items() if n not in rerun}

    def _fresh(self, wf: Workflow, order: tuple[str, ...]) -> dict[str, str]:
        """Nodes whose earlier output is still fresh (control nodes are cheap and always re-evaluated)."""
        into = _edges_into(wf)  # one pass over the edges, not one per node
        specs = []
        for node_id in order:
            node = wf.node(node_id)
            deps = [e.source for e in into.get(node_id, ())]
            specs.append({"node": node_id, "type": node.type, "params": dict(node.params), "deps": deps})
        answer = self.stale.fresh_nodes(nodes=specs)
        fresh = dict(answer.get("fresh", {}))
        return {n: a for n, a in fresh.items() if wf.node(n).kind is not NodeKind.CONTROL
                and self._upstream_all(into.get(n, ()), fresh)}

    @staticmethod
    def _upstream_all(edges: list[Edge] | tuple[Edge, ...], fresh: dict[str, str]) -> bool:
        return all(e.source in fresh or e.kind is not EdgeKind.DATA for e in edges)

    def _values(self, reused: dict[str, str]) -> dict[str, Any]:
        if self.artifacts is None:
            return {}
        out = {}
        for node, artifact in reused.items():
            out[node] = cbor2.loads(self.artifacts.retrieve(artifact))
        return out

    def check_candidates(self, wf: Workflow) -> None:
        """Every candidate of an instrument node must be an installed instrument providing that node's
        contract (its connected input and output ports): else ``ValidationError`` listing each problem.
        Not checked when this system has no extension host to ask."""
        nodes = [(i, n, c) for i, n in enumerate(wf.nodes) for c in [candidates_of(n)[0]] if c]
        if not nodes or self.node_types is None:
            return
        try:
            installed = {f"{t['extension']}/{t['node']}": t for t in self.node_types()}
        except SymphonyError as exc:  # no extension host here, or it is restarting or failing
            log.info("conductor candidates of %s not checked: %s", wf.name, exc)
            return
        edges = _edges_into(wf)
        fed_from: dict[str, set[str]] = {}
        for e in wf.edges:
            if e.kind is EdgeKind.DATA and e.source_port:
                fed_from.setdefault(e.source, set()).add(e.source_port)
        problems = []
        for i, node, candidates in nodes:
            needs_in = {e.target_port for e in edges.get(node.id, ()) if e.kind is EdgeKind.DATA and e.target_port}
            needs_out = fed_from.get(node.id, set())
            for c in candidates:
                path = f"nodes[{i}].candidates"
                t = instrument_type(c, node.type)
                found = installed.get(t)
                if found is None:
                    problems.append(Problem(path, f"candidate {c!r}: no installed extension provides {t!r}"))
                    continue
                if found.get("type") != "instrument":
                    problems.append(Problem(path, f"candidate {c!r}: {found['extension']} is an "
                                                  f"{found.get('type')}, not an instrument"))
                    continue
                has_in = {str(p.get("name")) for p in found.get("inputs") or ()}
                has_out = {str(p.get("name")) for p in found.get("outputs") or ()}
                missing = sorted(needs_in - has_in) + sorted(needs_out - has_out)
                if missing:
                    problems.append(Problem(path, f"candidate {c!r}: {t} has no port {', '.join(missing)} "
                                                  f"that node {node.id!r} connects"))
        if problems:
            raise ValidationError(problems, subject=f"workflow {wf.name!r}")

    def _choose_instruments(self, plan: RunPlan, wf: Workflow) -> Workflow:
        """Each instrument node with candidates runs on the instrument the conductor picks: its type
        becomes the chosen extension's node; its params are not touched (a legacy ``params.candidates`` is
        taken out, as a strict schema would refuse it)."""
        changed = []
        for node in wf.nodes:
            candidates, params = candidates_of(node)
            if not candidates or self.conductor is None or node.id in plan.reused:
                continue
            decision = self.conductor.decide(task=node.type, candidates=list(candidates),
                                             context={"workflow": wf.name},
                                             decision_id=f"{plan.run_id}/{node.id}")
            plan.decisions[node.id] = decision["decision_id"]
            plan.models.append(decision["instrument"])
            changed.append(node.replace(type=instrument_type(decision["instrument"], node.type), params=params))
        if plan.models and self.pool is not None:
            self.pool.lookahead(models=sorted(set(plan.models)), run=plan.run_id)
        if not changed:
            return wf
        by_id = {n.id: n for n in changed}
        return wf.replace(nodes=tuple(by_id.get(n.id, n) for n in wf.nodes))

    # ------------------------------------------------------------------ finish
    def finish(self, run_id: str) -> dict[str, Any]:
        """After the run ended: release admission, feed the conductor, record lineage. Idempotent; a step
        that fails (a service restarting) is retried by :meth:`reconcile`, the release is never lost."""
        record = self.table.get(run_id)
        plan = self.plans.get(run_id)
        if record is not None and record.state == "queued":
            if self.dag.status(run_id).get("status") == "cancelled":  # cancelled while it waited
                self._drop(record)
                return {"run_id": run_id, "known": True, "status": "cancelled", "recorded": 0, "feedback": 0}
            return {"run_id": run_id, "known": True, "status": "queued"}
        if plan is None and record is not None:
            plan = self._plan_of(record)
        if plan is None:
            return {"run_id": run_id, "known": False}
        try:
            snap = self.dag.status(run_id, nodes=True)
        except NotFoundError:  # the tracker never got it: end it here
            snap = {"run_id": run_id, "status": "cancelled", "nodes": {}}
        if snap.get("status") not in ENDED:
            self.plans[run_id] = plan
            return {"run_id": run_id, "known": True, "status": snap.get("status")}
        self.plans.pop(run_id, None)
        if record is not None and record.state != "ending":
            self._release(plan)
            plan.admission = None
            record.state = "ending"
            self.table.put(record)
        elif record is None:
            self._release(plan)
        try:
            out = self._record_end(run_id, plan, snap)
        except SymphonyError as exc:
            if record is not None and record.tries + 1 < MAX_END_TRIES:
                record.tries += 1
                self.table.put(record)
                raise
            log.warning("run %s: lineage and feedback not recorded after %d tries: %s", run_id,
                        MAX_END_TRIES, exc)
            out = {"run_id": run_id, "known": True, "status": snap.get("status"), "recorded": 0, "feedback": 0}
        self.table.delete(run_id)
        self._start_granted()
        return out

    def _start_granted(self) -> None:
        """Start the runs a release just granted (a failure here is retried by :meth:`reconcile`)."""
        granted, self._granted_later = self._granted_later, []
        try:
            self.admit_granted(granted)
        except SymphonyError as exc:
            log.warning("starting granted runs %s: %s", granted, exc)

    def _record_end(self, run_id: str, plan: RunPlan, snap: dict[str, Any]) -> dict[str, Any]:
        nodes = snap.get("nodes", {})
        if self.conductor is not None:
            for node_id, decision_id in plan.decisions.items():
                info = nodes.get(node_id, {})
                self.conductor.feedback(decision_id=decision_id, success=info.get("status") == "succeeded",
                                        latency_s=self._latency(run_id, node_id))
        recorded = unrecorded = 0
        if self.stale is not None:
            into = _edges_into(plan.workflow)
            records = []
            for node_id in plan.order:
                info = nodes.get(node_id, {})
                artifact = info.get("artifact")
                if not artifact or node_id in plan.reused or info.get("status") != "succeeded":
                    continue
                node = plan.workflow.node(node_id)
                parents = [nodes.get(e.source, {}).get("artifact") for e in into.get(node_id, ())]
                records.append({"artifact": artifact, "node_type": node.type, "params": dict(node.params),
                                "inputs": [p for p in parents if p], "node": node_id, "run": run_id})
            # A few calls per run, not one per node. Stale down or restarting (a SymphonyFailure) propagates:
            # finish() is tried again by reconcile; a node whose data is refused does not stop the others.
            for i in range(0, len(records), RECORD_BATCH):
                out = self.stale.record_many(records=records[i:i + RECORD_BATCH])
                for bad in out.get("refused", ()):
                    log.warning("run %s: lineage of node %s not recorded: %s", run_id, bad.get("node"),
                                bad.get("error"))
                    unrecorded += 1
            recorded = len(records) - unrecorded
        return {"run_id": run_id, "known": True, "status": snap.get("status"), "recorded": recorded,
                "unrecorded": unrecorded, "feedback": len(plan.decisions)}

    def _latency(self, run_id: str, node_id: str) -> float | None:
        """The seconds the node's last attempt took (its attempt record), for the conductor's feedback."""
        logs = getattr(self.dag, "logs", None)
        if logs is None:
            return None
        try:
            attempts = logs(run_id, node_id, output=False).get("attempts") or []
        except SymphonyError:
            return None
        last = attempts[-1] if attempts else {}
        start, end = last.get("started"), last.get("ended")
        if isinstance(start, int | float) and isinstance(end, int | float):
            return max(0.0, float(end) - float(start))
        return None

    def _release(self, plan: RunPlan) -> None:
        """Give the run's admission back and start the queued runs that got it."""
        if self.arbitration is None:
            return
        try:
            released = self.arbitration.release(request_id=f"{PREFIX}{plan.run_id}")
        except NotFoundError:  # the engine forgot it (released before its restart): nothing is held
            log.debug("run %s: no admission to release", plan.run_id)
            return
        plan.admission = None
        self._granted_later.extend(self.granted_in(released.get("granted", [])))

    def _plan_of(self, record: RunRecord) -> RunPlan:
        """Rebuild what :meth:`start` decided from the durable record (after a restart of the service)."""
        wf = to_workflow(record.document, record.params or None)
        if record.models:
            wf = wf.replace(nodes=tuple(n.replace(params=freeze({**n.params, "model": record.models[n.id]}))
                                        if n.id in record.models else n for n in wf.nodes))
        return RunPlan(record.run_id, wf, wf.validate().order, admission=None, reused=dict(record.reused),
                       decisions=dict(record.decisions), models=sorted(set(record.models.values())))

    # ------------------------------------------------------------------ the queue and reconciliation
    def admit_granted(self, run_ids: Sequence[str]) -> list[str]:
        """Start the queued runs among ``run_ids`` (their admission was granted); returns those started."""
        started = []
        for run_id in run_ids:
            record = self.table.get(run_id)
            if record is None or record.state != "queued":
                continue
            wf = to_workflow(record.document, record.params or None)
            plan = RunPlan(run_id, wf, wf.validate().order, admission={"verdict": "granted"})
            if not self._launch(plan, record, record.document, record.params or None,
                                requeue=True).get("cancelled"):
                started.append(run_id)
        return started

    def granted_in(self, decisions: Sequence[dict[str, Any]]) -> list[str]:
        """Run ids granted by these arbitration decisions (``release``'s ``granted``, decision events)."""
        return [str(d["run"]) for d in decisions if d.get("verdict") == "granted"
                and str(d.get("request_id", "")).startswith(PREFIX)]

    def reconcile(self, executors: int | None = None) -> dict[str, Any]:
        """Make the admission state agree with the run table: process the end of started runs that ended
        (also while this service was down), queue again what the engine lost, release grants and
        withdraw requests of runs that are not live, start queued runs that were granted. Idempotent."""
        if executors is not None and self.arbitration is not None:
            self.arbitration.set_capacity(capacity={"executors": float(executors)})
        ended = []
        for record in self.table.in_state("started") + self.table.in_state("ending"):
            status = "ending" if record.state == "ending" else self._status(record.run_id)
            if status == "queued" and record.run_id not in self.plans:
                record.state = "queued"  # admitted, but the tracker never started it: start it again
                self.table.put(record)
            elif status in ("ending", *ENDED):
                try:
                    self.finish(record.run_id)
                    ended.append(record.run_id)
                except SymphonyError as exc:  # its admission is released; lineage is tried again next time
                    log.warning("run %s: end not fully processed yet: %s", record.run_id, exc)
        if self.arbitration is None:
            return {"ended": ended, "released": [], "started": self.admit_granted(
                [r.run_id for r in self.table.in_state("queued")])}
        live = [r.run_id for r in self.table.records.values() if r.state in ("queued", "started")]
        released = self.arbitration.reconcile(prefix=PREFIX, live=live)
        status = self.arbitration.status()
        known = {q["run"] for q in status.get("queue", [])}
        granted = {str(rid)[len(PREFIX):] for rid in status.get("granted", []) if str(rid).startswith(PREFIX)}
        for record in self.table.in_state("queued"):
            if record.run_id not in known and record.run_id not in granted:
                decision = self._submit(record)  # the engine lost it (or never got it): in line again
                if decision is not None and decision.get("verdict") == "granted":
                    granted.add(record.run_id)
        started = self.admit_granted([r.run_id for r in self.table.in_state("queued") if r.run_id in granted])
        return {"ended": ended, "released": released, "started": started}

    def _status(self, run_id: str) -> str:
        try:
            return str(self.dag.status(run_id).get("status"))
        except NotFoundError:
            return "cancelled"  # the tracker never got it: nothing runs

    def queued(self) -> list[dict[str, Any]]:
        """Runs waiting for admission, in arrival order."""
        return [{"run_id": r.run_id, "workflow": r.workflow, "user": r.user, "priority": r.priority,
                 "tags": list(r.tags), "seq": r.seq} for r in self.table.in_state("queued")]


def _downstream(wf: Workflow, roots: list[str]) -> set[str]:
    """``roots`` and every node reachable from them (any edge kind), in O(nodes + edges)."""
    succ: dict[str, list[str]] = {}
    for e in wf.edges:
        succ.setdefault(e.source, []).append(e.target)
    seen, stack = set(roots), list(roots)
    while stack:
        for t in succ.get(stack.pop(), ()):
            if t not in seen:
                seen.add(t)
                stack.append(t)
    return seen


def candidates_of(node: Any) -> tuple[tuple[str, ...], Any]:
    """An instrument node's candidates (``meta.candidates``, or a legacy ``params.candidates``) and the
    params to run it with (without ``candidates``)."""
    if node.kind is not NodeKind.INSTRUMENT:
        return (), node.params
    meta = node.meta.get("candidates") if node.meta else None
    if meta:
        return tuple(str(c) for c in meta), node.params
    legacy = node.params.get("candidates") if node.params else None
    if legacy:
        return tuple(str(c) for c in legacy), freeze({k: v for k, v in node.params.items() if k != "candidates"})
    return (), node.params


def instrument_type(candidate: str, node_type: str) -> str:
    """The node type a candidate runs: ``ext/node`` as given, or an extension id with the node's own name."""
    if "/" in candidate:
        return candidate
    return f"{candidate}/{node_type.partition('/')[2]}" if "/" in node_type else candidate
