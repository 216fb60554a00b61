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

from dataclasses import dataclass, field
from typing import Any

import cbor2

from symphony_actors.domain.errors import BusyError
from symphony_actors.domain.ids import new_run_id
from symphony_actors.domain.workflow import Edge, EdgeKind, NodeKind, Workflow, dumps_binary, to_workflow

__all__ = ["RunPlan", "RunWorkflow"]

RECORD_BATCH = 2_000  # lineage records per call to the stale manager


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
                 conductor: Any = None, artifacts: Any = None) -> None:
        self.dag, self.arbitration, self.pool = dag, arbitration, pool
        self.stale, self.conductor, self.artifacts = stale, conductor, artifacts
        self.plans: dict[str, RunPlan] = {}

    # ------------------------------------------------------------------ start
    def start(self, workflow: Any, params: dict[str, Any] | None = None, *, user: str = "",
              priority: int = 0, reuse: bool = True) -> dict[str, Any]:
        wf = to_workflow(workflow, params)
        plan = RunPlan(new_run_id(), wf, wf.validate().order)  # validated once; the order is reused below
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
        recorded = 0
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
            for i in range(0, len(records), RECORD_BATCH):  # a few calls per run, not one per node
                self.stale.record_many(records=records[i:i + RECORD_BATCH])
            recorded = len(records)
        self._release(plan)
        return {"run_id": run_id, "known": True, "status": snap.get("status"), "recorded": recorded,
                "feedback": len(plan.decisions)}

    def _release(self, plan: RunPlan) -> None:
        if self.arbitration is not None and plan.admission is not None:
            self.arbitration.release(request_id=f"run:{plan.run_id}")
            plan.admission = None
