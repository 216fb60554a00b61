"""In-memory fakes of the Pit's PoolPort, ArbitrationPort and StalePort, for tests of their users.

Each is a complete working implementation of its port, simpler than the service: the pool loads
instantly, evicts the least recently used idle instance and has no prewarming policy; arbitration
orders by priority then arrival (no fair share, aging or reservations); the stale fake walks the whole
graph. They pass the same contract suites as the services (``tests/contract/``).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from symphony_actors.domain.errors import BusyError, ConflictError, NotFoundError, UsageError
from symphony_actors.pit.arbitration.policy import DEFAULT_POLICY as ARBITRATION_DEFAULT
from symphony_actors.pit.arbitration.policy import parse_policy
from symphony_actors.pit.pool.errors import InstanceFailed, LeaseExpired
from symphony_actors.ports.pit import Pit

__all__ = ["FakeArbitration", "FakePool", "FakeStale", "fake_pit"]

Clock = Callable[[], float]


def _zero() -> float:
    return 0.0


class FakePool:
    """PoolPort: instant loads, LRU eviction of idle instances under a memory budget."""

    def __init__(self, memory_budget_mb: float = 16384.0, clock: Clock = _zero, default_lease_s: float = 300.0) -> None:
        self.budget, self.clock, self.default_lease_s = memory_budget_mb, clock, default_lease_s
        self.models: dict[str, dict[str, Any]] = {}
        self.instances: dict[str, dict[str, Any]] = {}  # id -> {model, lease, last_used}
        self.leases: dict[str, dict[str, Any]] = {}
        self.n = 0

    def register_model(self, *, model: str, size_mb: float, load_cost_s: float = 1.0, max_instances: int = 1,
                       keep_alive_s: float | None = None) -> dict[str, Any]:
        if size_mb < 0 or load_cost_s < 0 or max_instances < 1 or size_mb > self.budget:
            raise UsageError(f"bad model spec for {model!r}", model=model)
        self.models[model] = {"model": model, "size_mb": size_mb, "load_cost_s": load_cost_s,
                              "max_instances": max_instances, "keep_alive_s": keep_alive_s, "draining": False}
        return dict(self.status(model=model)["models"][model])

    def _used(self) -> float:
        return float(sum(self.models[i["model"]]["size_mb"] for i in self.instances.values()))

    def _check(self, lease: dict[str, Any]) -> dict[str, Any]:
        if lease["state"] in ("loading", "active") and lease["expires_at"] < self.clock():
            lease["state"] = "expired"
            inst = self.instances.get(lease["instance"])
            if inst is not None:
                inst["lease"] = None
        if lease["state"] == "failed":
            raise InstanceFailed(f"instance {lease['instance']} failed", lease_id=lease["lease_id"])
        if lease["state"] == "expired":
            raise LeaseExpired(f"lease {lease['lease_id']} expired", lease_id=lease["lease_id"])
        return dict(lease)

    def allocate(self, *, model: str, holder: str, lease_s: float | None = None) -> dict[str, Any]:
        spec = self.models.get(model)
        if spec is None:
            raise NotFoundError(f"no model {model!r}", model=model)
        if spec["draining"]:
            raise ConflictError(f"model {model!r} is draining", model=model)
        for lease in list(self.leases.values()):
            if lease["state"] == "active" and lease["expires_at"] < self.clock():
                self._check_quiet(lease)
        mine = [iid for iid, i in self.instances.items() if i["model"] == model]
        idle = [iid for iid in mine if self.instances[iid]["lease"] is None]
        cold = not idle
        if idle:
            iid = idle[-1]
        else:
            if len(mine) >= spec["max_instances"]:
                raise BusyError(f"all instances of {model!r} are busy", model=model)
            lru = sorted((i["last_used"], iid) for iid, i in self.instances.items() if i["lease"] is None)
            while self._used() + spec["size_mb"] > self.budget and lru:
                del self.instances[lru.pop(0)[1]]
            if self._used() + spec["size_mb"] > self.budget:
                raise BusyError(f"no memory for {model!r}", model=model)
            self.n += 1
            iid = f"{model}#{self.n}"
            self.instances[iid] = {"model": model, "lease": None, "last_used": self.clock()}
        self.n += 1
        lid = f"fake-lease-{self.n}"
        self.instances[iid]["lease"] = lid
        self.leases[lid] = {"lease_id": lid, "model": model, "holder": holder, "instance": iid, "state": "active",
                            "expires_at": self.clock() + (self.default_lease_s if lease_s is None else lease_s),
                            "cold": cold}
        return dict(self.leases[lid])

    def _check_quiet(self, lease: dict[str, Any]) -> None:
        try:
            self._check(lease)
        except LeaseExpired:
            return

    def _lease(self, lease_id: str) -> dict[str, Any]:
        lease = self.leases.get(lease_id)
        if lease is None:
            raise NotFoundError(f"no lease {lease_id!r}", lease_id=lease_id)
        return lease

    def lease(self, *, lease_id: str) -> dict[str, Any]:
        return self._check(self._lease(lease_id))

    def renew(self, *, lease_id: str, lease_s: float | None = None) -> dict[str, Any]:
        lease = self._lease(lease_id)
        self._check(lease)
        if lease["state"] == "active":
            lease["expires_at"] = self.clock() + (self.default_lease_s if lease_s is None else lease_s)
        return dict(lease)

    def release(self, *, lease_id: str) -> dict[str, Any]:
        lease = self._lease(lease_id)
        self._check(lease)
        if lease["state"] == "active":
            lease["state"] = "released"
            inst = self.instances.get(lease["instance"])
            if inst is not None:
                inst["lease"], inst["last_used"] = None, self.clock()
                if self.models[lease["model"]]["draining"]:
                    del self.instances[lease["instance"]]
        return dict(lease)

    def heartbeat(self, *, instance: str) -> None:
        if instance not in self.instances:
            raise NotFoundError(f"no live instance {instance!r}", instance=instance)

    def loaded(self, *, instance: str) -> None:
        self.heartbeat(instance=instance)

    def failed(self, *, instance: str, reason: str) -> None:
        inst = self.instances.pop(instance, None)
        if inst is None:
            raise NotFoundError(f"no live instance {instance!r}", instance=instance)
        if inst["lease"] is not None:
            self.leases[inst["lease"]]["state"] = "failed"

    def lookahead(self, *, models: Sequence[str], horizon_s: float = 60.0, run: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {"warming": [], "ready": [], "skipped": {}}
        for model in dict.fromkeys(models):
            spec = self.models.get(model)
            if spec is None or spec["draining"]:
                out["skipped"][model] = "unknown model" if spec is None else "draining"
            elif any(i["model"] == model and i["lease"] is None for i in self.instances.values()):
                out["ready"].append(model)
            elif self._used() + spec["size_mb"] <= self.budget and sum(
                    1 for i in self.instances.values() if i["model"] == model) < spec["max_instances"]:
                self.n += 1
                self.instances[f"{model}#{self.n}"] = {"model": model, "lease": None, "last_used": self.clock()}
                out["warming"].append(model)
            else:
                out["skipped"][model] = "no room"
        return out

    def drain(self, *, model: str) -> dict[str, Any]:
        if model not in self.models:
            raise NotFoundError(f"no model {model!r}", model=model)
        self.models[model]["draining"] = True
        for iid in [k for k, i in self.instances.items() if i["model"] == model and i["lease"] is None]:
            del self.instances[iid]
        return dict(self.status(model=model)["models"][model])

    def status(self, *, model: str | None = None) -> dict[str, Any]:
        if model is not None and model not in self.models:
            raise NotFoundError(f"no model {model!r}", model=model)
        names = [model] if model is not None else list(self.models)
        out = {}
        for name in names:
            spec = self.models[name]
            insts = {iid: ("busy" if i["lease"] else "warm") for iid, i in self.instances.items() if i["model"] == name}
            out[name] = {**{k: v for k, v in spec.items() if k != "draining"}, "instances": insts,
                         "state": "draining" if spec["draining"] else ("live" if insts else "cold")}
        return {"memory_budget_mb": self.budget, "memory_used_mb": self._used(), "models": out,
                "leases": sum(1 for le in self.leases.values() if le["state"] == "active")}


class FakeArbitration:
    """ArbitrationPort: priority then arrival order, capacity, quotas, deadlines and conflict rules."""

    def __init__(self, policy: Mapping[str, Any] | None = None, clock: Clock = _zero) -> None:
        self.clock = clock
        self.policy = parse_policy(policy or ARBITRATION_DEFAULT)
        self.requests: dict[str, dict[str, Any]] = {}
        self.log: list[dict[str, Any]] = []
        self.claims: dict[tuple[str, str], dict[str, Any]] = {}

    def _decide(self, req: dict[str, Any], verdict: str, reason: str) -> dict[str, Any]:
        req["state"], req["reason"] = verdict, reason
        d = {"seq": len(self.log) + 1, "at": self.clock(), "request_id": req["request_id"], "run": req["run"],
             "verdict": verdict, "reason": reason}
        self.log.append(d)
        return d

    def _usage(self, key: str | None = None, value: str = "") -> dict[str, float]:
        used: dict[str, float] = {}
        for r in self.requests.values():
            if r["state"] == "granted" and (key is None or r[key] == value):
                for k, v in r["demands"].items():
                    used[k] = used.get(k, 0.0) + v
        return used

    def _blocker(self, req: dict[str, Any], alone: bool) -> str:
        cap = self.policy.capacity
        used = {} if alone else self._usage()
        for r, amount in req["demands"].items():
            if r not in cap:
                return f"unknown resource {r}"
            if used.get(r, 0.0) + amount > cap[r] + 1e-9:
                return f"{r}: capacity"
        for key, table in (("user", self.policy.user_quotas), ("workflow", self.policy.workflow_quotas)):
            quota = self.policy.quota(table, req[key]) if req[key] else None
            held = {} if alone else self._usage(key, req[key])
            for r, amount in req["demands"].items():
                if quota and r in quota and held.get(r, 0.0) + amount > quota[r] + 1e-9:
                    return f"{key} quota on {r}"
        return ""

    def submit(self, *, request_id: str, run: str, demands: Mapping[str, float], user: str = "",
               workflow: str = "", priority: int = 0, deadline: float | None = None) -> dict[str, Any]:
        old = self.requests.get(request_id)
        if old is not None and old["state"] in ("queued", "granted"):
            return self.decision(request_id=request_id)
        if any(isinstance(v, bool) or not isinstance(v, int | float) or v < 0 for v in demands.values()):
            raise UsageError("demands must be numbers >= 0", request_id=request_id)
        req = {"request_id": request_id, "run": run, "user": user, "workflow": workflow, "priority": priority,
               "deadline": deadline, "demands": {k: float(v) for k, v in demands.items()
                                                 if v and (k in self.policy.capacity or not k.startswith("tag:"))},
               "seq": len(self.requests), "state": "new", "reason": ""}
        self.requests[request_id] = req
        never = self._blocker(req, alone=True)
        if never:
            return self._decide(req, "rejected", f"can never fit: {never}")
        if deadline is not None and deadline <= self.clock():
            return self._decide(req, "rejected", "deadline already passed")
        req["state"] = "queued"
        self._pass()
        if req["state"] == "granted":
            return self.log[-1] if self.log[-1]["request_id"] == request_id else self.decision(request_id=request_id)
        return self._decide(req, "queued", f"waiting: {self._blocker(req, alone=False) or 'behind others'}")

    def _pass(self) -> list[dict[str, Any]]:
        out = []
        queued = sorted((r for r in self.requests.values() if r["state"] == "queued"),
                        key=lambda r: (-r["priority"], r["seq"]))
        for req in queued:
            if req["deadline"] is not None and req["deadline"] <= self.clock():
                out.append(self._decide(req, "rejected", "deadline passed while queued"))
            elif not self._blocker(req, alone=False):
                out.append(self._decide(req, "granted", "fits"))
        return out

    def release(self, *, request_id: str) -> dict[str, Any]:
        req = self.requests.get(request_id)
        if req is None:
            raise NotFoundError(f"no request {request_id!r}", request_id=request_id)
        if req["state"] in ("queued", "granted"):
            self._decide(req, "released", "released by its holder")
        return {"request_id": request_id, "state": req["state"], "granted": self._pass()}

    def decision(self, *, request_id: str) -> dict[str, Any]:
        req = self.requests.get(request_id)
        if req is None:
            raise NotFoundError(f"no request {request_id!r}", request_id=request_id)
        return {"request_id": request_id, "run": req["run"], "verdict": req["state"], "reason": req["reason"]}

    def reconcile(self, *, prefix: str, live: list[str]) -> list[str]:
        stale = [rid for rid, r in self.requests.items()
                 if rid.startswith(prefix) and r["state"] in ("queued", "granted") and r["run"] not in set(live)]
        for rid in stale:
            self.release(request_id=rid)
        return stale

    def set_capacity(self, *, capacity: Mapping[str, float]) -> dict[str, Any]:
        return self.set_policy(policy={"capacity": {**self.policy.data["capacity"], **dict(capacity)}}, merge=True)

    def claim(self, *, kind: str, name: str, run: str, priority: int = 0) -> dict[str, Any]:
        rule = self.policy.conflicts.get(kind)
        if rule is None:
            raise UsageError(f"no conflict policy for kind {kind!r}", kind=kind)
        c = self.claims.get((kind, name))
        if c is None or c["holder"] == run:
            self.claims[(kind, name)] = c or {"holder": run, "priority": priority, "waiting": []}
            return self._claim(kind, name, run, "granted", "free" if c is None else "already held by this run")
        if rule == "queue":
            if run not in [w[0] for w in c["waiting"]]:
                c["waiting"].append((run, priority))
            return self._claim(kind, name, run, "queued", f"held by run {c['holder']}")
        if rule == "first_wins" or (rule == "priority" and priority <= c["priority"]):
            return self._claim(kind, name, run, "rejected", f"held by run {c['holder']} (policy {rule})")
        loser = c["holder"]
        c["holder"], c["priority"] = run, priority
        self._claim(kind, name, loser, "preempted", f"taken over by run {run}")
        return self._claim(kind, name, run, "granted", f"took over from run {loser} (policy {rule})")

    def _claim(self, kind: str, name: str, run: str, verdict: str, reason: str) -> dict[str, Any]:
        c = self.claims.get((kind, name))
        d = {"seq": len(self.log) + 1, "at": self.clock(), "request_id": f"{kind}:{name}", "run": run,
             "verdict": verdict, "reason": reason, "kind": kind, "name": name, "holder": c["holder"] if c else None}
        self.log.append(d)
        return d

    def unclaim(self, *, kind: str, name: str, run: str) -> dict[str, Any]:
        c = self.claims.get((kind, name))
        if c is None or c["holder"] != run:
            if c is not None:
                c["waiting"] = [w for w in c["waiting"] if w[0] != run]
            return {"kind": kind, "name": name, "released": False, "granted": []}
        if not c["waiting"]:
            del self.claims[(kind, name)]
            return {"kind": kind, "name": name, "released": True, "granted": []}
        best = max(range(len(c["waiting"])), key=lambda i: (c["waiting"][i][1], -i))
        c["holder"], c["priority"] = c["waiting"].pop(best)
        return {"kind": kind, "name": name, "released": True,
                "granted": [self._claim(kind, name, c["holder"], "granted", f"released by run {run}")]}

    def decisions(self, *, request_id: str | None = None, run: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
        rows = [d for d in self.log if (request_id is None or d["request_id"] == request_id)
                and (run is None or d["run"] == run)]
        return rows[-limit:] if limit > 0 else []

    def get_policy(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.policy.data))

    def set_policy(self, *, policy: Mapping[str, Any], merge: bool = False) -> dict[str, Any]:
        self.policy = parse_policy(policy, self.policy.data if merge else None)
        self._pass()
        return self.get_policy()

    def status(self) -> dict[str, Any]:
        queued = sorted((r for r in self.requests.values() if r["state"] == "queued"),
                        key=lambda r: (-r["priority"], r["seq"]))
        return {"capacity": dict(self.policy.capacity), "used": self._usage(),
                "queue": [{"request_id": r["request_id"], "run": r["run"], "reason": r["reason"]} for r in queued],
                "granted": [r["request_id"] for r in self.requests.values() if r["state"] == "granted"],
                "claims": [{"kind": k, "name": n, "holder": c["holder"], "waiting": [w[0] for w in c["waiting"]]}
                           for (k, n), c in self.claims.items()]}


class FakeStale:
    """StalePort over plain dicts; walks the whole graph for each change."""

    def __init__(self, clock: Clock = _zero) -> None:
        self.clock = clock
        self.records: dict[str, dict[str, Any]] = {}
        self.stale_ext: dict[str, str] = {}

    @staticmethod
    def _key(node_type: str, params: Any, inputs: Sequence[str], files: Any, extensions: Any) -> str:
        blob = json.dumps([node_type, params or {}, list(inputs), files or {}, extensions or {}], sort_keys=True,
                          separators=(",", ":"), default=str)
        return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()

    def _expire(self) -> None:
        now = self.clock()
        due = [a for a, r in self.records.items()
               if r["ttl_s"] is not None and r["since"] is None and r["created"] + r["ttl_s"] <= now]
        if due:
            self._mark(due, "ttl expired")

    def _mark(self, roots: Sequence[str], reason: str) -> list[str]:
        todo, seen, marked = list(roots), set(roots), []
        while todo:
            a = todo.pop(0)
            r = self.records.get(a)
            if r is None:
                self.stale_ext[a] = reason
            elif r["since"] is None:
                r["since"], r["reason"] = self.clock(), reason
                marked.append(a)
            for child, cr in self.records.items():
                if a in cr["inputs"] and child not in seen:
                    seen.add(child)
                    todo.append(child)
        return marked

    def _stale(self, a: str) -> bool:
        r = self.records.get(a)
        return r["since"] is not None if r is not None else a in self.stale_ext

    def record(self, *, artifact: str, node_type: str, params: Mapping[str, Any] | None = None,
               inputs: Sequence[str] = (), files: Mapping[str, str] | None = None,
               extensions: Mapping[str, str] | None = None, ttl_s: float | None = None,
               size_bytes: int = 0, node: str = "", run: str = "") -> dict[str, Any]:
        if not artifact or not node_type or artifact in inputs or (ttl_s is not None and ttl_s <= 0):
            raise UsageError("bad lineage record", artifact=artifact)
        self._expire()
        key = self._key(node_type, params, inputs, files, extensions)
        stale_in = [i for i in inputs if self._stale(i)]
        self.records[artifact] = {"artifact": artifact, "key": key, "node_type": node_type,
                                  "params": dict(params or {}), "inputs": list(inputs), "files": dict(files or {}),
                                  "extensions": dict(extensions or {}), "created": self.clock(), "ttl_s": ttl_s,
                                  "size_bytes": size_bytes, "node": node, "run": run,
                                  "since": self.clock() if stale_in else None,
                                  "reason": f"derived from stale {stale_in[0]}" if stale_in else "",
                                  "order": len(self.records)}
        return {"artifact": artifact, "key": key, "stale": bool(stale_in)}

    def record_many(self, *, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        recorded, refused = [], []
        for r in records:
            try:
                recorded.append(self.record(**dict(r)))
            except UsageError as exc:
                refused.append({"node": r.get("node", ""), "artifact": r.get("artifact", ""), "error": str(exc)})
        return {"recorded": recorded, "refused": refused}

    def _result(self, marked: list[str], roots: Sequence[str]) -> dict[str, Any]:
        return {"marked": marked, "count": len(marked), "roots": sorted(roots)}

    def mark_stale(self, *, artifacts: Sequence[str], reason: str = "changed") -> dict[str, Any]:
        self._expire()
        return self._result(self._mark(list(artifacts), reason), artifacts)

    def file_changed(self, *, path: str, digest: str) -> dict[str, Any]:
        self._expire()
        roots = sorted(a for a, r in self.records.items() if path in r["files"] and r["files"][path] != digest)
        return self._result(self._mark(roots, f"file {path} changed"), roots)

    def extension_updated(self, *, extension: str, version: str) -> dict[str, Any]:
        self._expire()
        roots = sorted(a for a, r in self.records.items()
                       if extension in r["extensions"] and r["extensions"][extension] != version)
        return self._result(self._mark(roots, f"extension {extension} is now {version}"), roots)

    def query(self, *, artifacts: Sequence[str]) -> dict[str, dict[str, Any]]:
        self._expire()
        out = {}
        for a in artifacts:
            r = self.records.get(a)
            if r is None:
                out[a] = {"known": False, "stale": a in self.stale_ext, "reason": self.stale_ext.get(a, ""),
                          "since": None}
            else:
                out[a] = {"known": True, "stale": r["since"] is not None, "reason": r["reason"], "since": r["since"],
                          "key": r["key"]}
        return out

    def stale(self, *, limit: int = 1000) -> list[str]:
        self._expire()
        rows = sorted((r["since"], r["order"], a) for a, r in self.records.items() if r["since"] is not None)
        return [a for _, _, a in rows][:limit]

    def lineage(self, *, artifact: str) -> dict[str, Any]:
        r = self.records.get(artifact)
        if r is None:
            raise NotFoundError(f"no lineage for {artifact!r}", artifact=artifact)
        out = {k: v for k, v in r.items() if k not in ("since", "reason", "order")}
        return {**out, "stale_since": r["since"], "stale_reason": r["reason"],
                "derived": sorted(a for a, c in self.records.items() if artifact in c["inputs"])}

    def fresh_nodes(self, *, nodes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        self._expire()
        fresh: dict[str, str] = {}
        rerun: dict[str, str] = {}
        keys: dict[str, str] = {}
        for spec in nodes:
            node = str(spec.get("node", ""))
            if not node or "type" not in spec:
                raise UsageError("each node needs 'node' and 'type'", node=node)
            deps = list(spec.get("deps", ()))
            for dep in deps:
                if dep not in fresh and dep not in rerun:
                    raise UsageError(f"node {node!r} depends on {dep!r}, not earlier in the list", node=node)
            if any(dep in rerun for dep in deps):
                rerun[node] = "upstream re-runs"
                continue
            inputs = list(spec.get("inputs", ())) + [fresh[d] for d in deps]
            keys[node] = key = self._key(str(spec["type"]), spec.get("params"), inputs, spec.get("files"),
                                         spec.get("extensions"))
            match = [a for a, r in sorted(self.records.items(), key=lambda kv: kv[1]["order"]) if r["key"] == key]
            if not match:
                rerun[node] = "no result for these inputs"
            elif self.records[match[-1]]["since"] is not None:
                rerun[node] = f"result {match[-1]} is stale"
            else:
                fresh[node] = match[-1]
        return {"fresh": fresh, "rerun": rerun, "keys": keys}

    def cleanup(self, *, dry_run: bool = False, limit: int | None = None) -> dict[str, Any]:
        victims = self.stale(limit=limit if limit is not None else len(self.records))
        if dry_run:
            return {"count": len(victims), "bytes_freed": 0, "artifacts": victims, "dry_run": True,
                    "bytes_recorded": sum(self.records[a]["size_bytes"] for a in victims)}
        freed = sum(self.records.pop(a)["size_bytes"] for a in victims)
        return {"count": len(victims), "bytes_freed": freed, "artifacts": victims, "kept": [], "dry_run": False}


def fake_pit(clock: Clock = _zero) -> Pit:
    """A whole in-memory Pit: these three fakes with the DAG tracker's and the artifact store's own fakes."""
    from symphony_actors.testing.fake_artifacts import FakeArtifacts  # imported here: other areas' fakes
    from symphony_actors.testing.fake_dag import FakeDag

    return Pit(pool=FakePool(clock=clock), dag=FakeDag(executors=1), artifacts=FakeArtifacts(),
               arbitration=FakeArbitration(clock=clock), stale=FakeStale(clock=clock))
