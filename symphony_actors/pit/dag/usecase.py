"""The "run a workflow" use case, written against ports only.

:class:`RunWorkflow` is what happens around the DAG tracker when a user runs
a workflow:

1. **admission**: the Arbitration Engine decides whether the run may start now
   (priorities, fair share, quotas); a run it does not grant is refused with a
   ``BusyError`` carrying the engine's reason;
2. **incremental re-run**: the Stale Manager says which nodes are still fresh
   from earlier runs (same type, parameters, inputs and extension versions, as
   make and Bazel do); those are not run again, their artifacts are reused;
3. **instrument choice**: for each instrument node offering ``candidates``, the
   Conductor decides which instrument serves it (``params.model``), and the Pool
   Manager is told which models the run will reach so it can warm them;
4. **execution**: the DAG tracker runs it.

When the run ends, :meth:`finish` returns the admitted capacity, gives the
Conductor its feedback, and records every produced artifact's derivation with
the Stale Manager.

It talks only to :class:`DagPort`, :class:`ArbitrationPort`, :class:`PoolPort`,
:class:`StalePort`, :class:`ConductorPort` and :class:`ArtifactPort`: the
``runs`` service wires it to the real services, unit tests to the fakes. Any
port may be ``None`` (that step is then skipped), so a system without, say,
a conductor still runs workflows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import cbor2

from symphony_actors.domain.errors import BusyError, ConflictError, NotFoundError, SymphonyError, UsageError
from symphony_actors.domain.ids import new_run_id
from symphony_actors.domain.workflow import EdgeKind, NodeKind, Workflow, dumps_binary, to_workflow

__all__ = ["RunPlan", "RunWorkflow"]

log = logging.getLogger(__name__)


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
                 conductor: Any = None, artifacts: Any = None) -> None:
        self.dag, self.arbitration, self.pool = dag, arbitration, pool
        self.stale, self.conductor, self.artifacts = stale, conductor, artifacts
        self.plans: dict[str, RunPlan] = {}

    # ------------------------------------------------------------------ start
    def start(self, workflow: Any, params: dict[str, Any] | None = None, *, user: str = "",
              priority: int = 0, reuse: bool = True) -> dict[str, Any]:
        wf = to_workflow(workflow, params)
        plan = RunPlan(new_run_id(), wf, wf.validate().order)  # validated once; the order is reused below
        self._admit(plan, user, priority)
        try:
            reused_values: dict[str, Any] = {}
            if reuse and self.stale is not None:
                plan.reused = self._fresh(wf, plan.order)
                reused_values = self._values(plan.reused)
            chosen = self._choose_instruments(plan, wf)
            # A document that came as bytes and was not changed goes on as it came (no re-encoding).
            document = workflow if chosen is wf and isinstance(workflow, bytes) and not params \
                else dumps_binary(chosen, level=3)
            run_id = self.dag.submit(document, {}, plan.run_id,
                                     **({"reuse": {n: {"artifact": a, "value": reused_values.get(n)}
                                                   for n, a in plan.reused.items()}} if plan.reused else {}))
        except BaseException:
            self._release(plan)
            raise
        self.plans[run_id] = plan
        return {"run_id": run_id, "reused": sorted(plan.reused), "instruments": dict(plan.decisions),
                "admission": plan.admission}

    def _admit(self, plan: RunPlan, user: str, priority: int) -> None:
        wf = plan.workflow
        if self.arbitration is not None:
            # A run holds one executor slot while it runs (the unit of concurrency admitted): its nodes
            # share the executors with every other admitted run.
            decision = self.arbitration.submit(request_id=f"run:{plan.run_id}", run=plan.run_id,
                                               demands={"executors": 1.0}, user=user,
                                               workflow=wf.name, priority=priority)
            plan.admission = decision
            if decision.get("verdict") != "granted":
                if decision.get("verdict") == "queued":
                    self.arbitration.release(request_id=f"run:{plan.run_id}")
                raise BusyError(f"run of {wf.name!r} not admitted now: {decision.get('reason', 'no capacity')}",
                                verdict=decision.get("verdict"))

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
        self._admit(plan, user, priority)
        try:
            new_id = self.dag.submit(original["workflow"], {}, plan.run_id, reuse=reuse,
                                     retry_of={"run_id": run_id, "from_node": from_node})
        except BaseException:
            self._release(plan)
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
        specs = []
        for node_id in order:
            node = wf.node(node_id)
            deps = [e.source for e in wf.edges_into(node_id)]
            specs.append({"node": node_id, "type": node.type, "params": dict(node.params), "deps": deps})
        answer = self.stale.fresh_nodes(nodes=specs)
        fresh = dict(answer.get("fresh", {}))
        return {n: a for n, a in fresh.items() if wf.node(n).kind is not NodeKind.CONTROL
                and self._upstream_all(wf, n, fresh)}

    @staticmethod
    def _upstream_all(wf: Workflow, node_id: str, fresh: dict[str, str]) -> bool:
        return all(e.source in fresh or e.kind is not EdgeKind.DATA for e in wf.edges_into(node_id))

    def _values(self, reused: dict[str, str]) -> dict[str, Any]:
        if self.artifacts is None:
            return {}
        out = {}
        for node, artifact in reused.items():
            out[node] = cbor2.loads(self.artifacts.retrieve(artifact))
        return out

    def _choose_instruments(self, plan: RunPlan, wf: Workflow) -> Workflow:
        changed = []
        for node in wf.nodes:
            candidates = node.params.get("candidates") if node.kind is NodeKind.INSTRUMENT else None
            if not candidates or self.conductor is None or node.id in plan.reused:
                continue
            decision = self.conductor.decide(task=node.type, candidates=list(candidates),
                                             context={"workflow": wf.name},
                                             decision_id=f"{plan.run_id}/{node.id}")
            plan.decisions[node.id] = decision["decision_id"]
            plan.models.append(decision["instrument"])
            from symphony_actors.domain.workflow import freeze

            changed.append(node.replace(params=freeze({**node.params, "model": decision["instrument"]})))
        if plan.models and self.pool is not None:
            self.pool.lookahead(models=sorted(set(plan.models)), run=plan.run_id)
        if not changed:
            return wf
        by_id = {n.id: n for n in changed}
        return wf.replace(nodes=tuple(by_id.get(n.id, n) for n in wf.nodes))

    # ------------------------------------------------------------------ finish
    def finish(self, run_id: str) -> dict[str, Any]:
        """After the run ended: release admission, feed the conductor, record lineage. Idempotent."""
        plan = self.plans.pop(run_id, None)
        if plan is None:
            return {"run_id": run_id, "known": False}
        snap = self.dag.status(run_id, nodes=True)
        nodes = snap.get("nodes", {})
        if self.conductor is not None:
            for node_id, decision_id in plan.decisions.items():
                self.conductor.feedback(decision_id=decision_id,
                                        success=nodes.get(node_id, {}).get("status") == "succeeded")
        recorded = unrecorded = 0
        if self.stale is not None:
            for node_id in plan.order:
                info = nodes.get(node_id, {})
                artifact = info.get("artifact")
                if not artifact or node_id in plan.reused or info.get("status") != "succeeded":
                    continue
                node = plan.workflow.node(node_id)
                parents = [nodes.get(e.source, {}).get("artifact") for e in plan.workflow.edges_into(node_id)]
                try:
                    self.stale.record(artifact=artifact, node_type=node.type, params=dict(node.params),
                                      inputs=[p for p in parents if p], node=node_id, run=run_id)
                except SymphonyError as exc:  # one node's lineage; the others' and the admission still count
                    log.warning("run %s: lineage of node %s not recorded: %s", run_id, node_id, exc)
                    unrecorded += 1
                    continue
                recorded += 1
        self._release(plan)
        return {"run_id": run_id, "known": True, "status": snap.get("status"), "recorded": recorded,
                "unrecorded": unrecorded, "feedback": len(plan.decisions)}

    def _release(self, plan: RunPlan) -> None:
        if self.arbitration is not None and plan.admission is not None:
            self.arbitration.release(request_id=f"run:{plan.run_id}")
            plan.admission = None


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
