"""The Arbitration Engine's logic: admission by priority, weighted fair share, quotas and deadlines.

Requests ask for amounts of named resources (``{"executors": 1, "memory_mb": 2000}``). A request is
granted when it fits the free capacity and its user's and workflow's quotas; otherwise it queues (or is
rejected if it could never fit). Whenever capacity frees, the queue is served in rank order:

1. effective priority, highest first: ``priority + floor(waited / aging_s)`` (aging: nobody starves
   behind a stream of higher priorities);
2. weighted fair share, lowest first: the tenant's dominant share (max over resources of its granted
   amount / capacity) divided by its weight (Dominant Resource Fairness, Ghodsi et al., NSDI 2011);
   the tenant is the user, or the run when there is no user;
3. earliest deadline; 4. submission order.

Decisions on queued requests (grants, deadline rejections) are also emitted as ``arbitration.decision``
events, so a waiting run learns of them without polling.

Smaller requests may pass one that does not fit (backfilling) until it has waited ``reserve_after_s``;
from then on its demand is reserved and nothing ranked below it may take that capacity, so it is granted
as soon as enough is released. Every decision is recorded with its reason. Deterministic: the same calls
at the same clock readings give the same decisions.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from symphony_actors.domain.errors import BusyError, NotFoundError, UsageError
from symphony_actors.pit.arbitration.policy import DEFAULT_POLICY, Policy, parse_policy

__all__ = ["Arbiter", "Request"]

Emit = Callable[[str, dict[str, Any]], None]
INF = float("inf")
TAG = "tag:"  # a resource ``tag:NAME`` is limited only if the capacity names it (per-tag concurrency limits)
SKIPPED = "does not fit what is left after requests ranked above it"


@dataclass(slots=True)
class Request:
    id: str
    run: str
    user: str
    workflow: str
    demands: dict[str, float]
    priority: int
    deadline: float | None
    submitted: float
    seq: int
    state: str = "queued"  # queued, granted, rejected, released
    reason: str = ""

    @property
    def tenant(self) -> str:
        return self.user or f"run:{self.run}"

    def to_dict(self) -> dict[str, Any]:
        return {"request_id": self.id, "run": self.run, "user": self.user, "workflow": self.workflow,
                "demands": dict(self.demands), "priority": self.priority, "deadline": self.deadline,
                "submitted": self.submitted, "seq": self.seq, "state": self.state, "reason": self.reason}


@dataclass(slots=True)
class _Claim:
    holder: str
    priority: int
    waiting: list[tuple[str, int]] = field(default_factory=list)


class Arbiter:
    """Capacity, usage, the queue, claims and the decision log; see the module docstring."""

    def __init__(self, clock: Callable[[], float], policy: Mapping[str, Any] | None = None,
                 emit: Emit | None = None, log_size: int = 10_000) -> None:
        self.clock = clock
        self.policy: Policy = parse_policy(policy or DEFAULT_POLICY)
        self.emit: Emit = emit or (lambda topic, payload: None)
        self.requests: dict[str, Request] = {}
        self.queue: dict[str, Request] = {}  # queued requests, in submission order
        self.used: dict[str, float] = {}
        self.tenant_used: dict[str, dict[str, float]] = {}
        self.workflow_used: dict[str, dict[str, float]] = {}
        self.claims: dict[tuple[str, str], _Claim] = {}
        self._reserved: dict[str, float] = {}  # capacity held for long-waiting requests at the last pass
        self.log: deque[dict[str, Any]] = deque(maxlen=log_size)
        self._seq = itertools.count(1)
        self._decision_seq = itertools.count(1)
        self.dirty: set[str] = set()  # request ids changed since the last save
        self.claims_dirty = False

    # ------------------------------------------------------------------ decisions
    def _decide(self, req: Request, verdict: str, reason: str, now: float) -> dict[str, Any]:
        req.reason = reason
        d = {"seq": next(self._decision_seq), "at": now, "request_id": req.id, "run": req.run,
             "verdict": verdict, "reason": reason}
        self.log.append(d)
        self.dirty.add(req.id)
        return d

    def _dominant(self, tenant: str) -> float:
        """The tenant's dominant share: max over resources of its granted amount / capacity."""
        used = self.tenant_used.get(tenant)
        if not used:
            return 0.0
        cap = self.policy.capacity
        return max((amount / cap[r] if cap.get(r) else 0.0) for r, amount in used.items())

    def _quota_hit(self, req: Request, extra_only: bool) -> tuple[str, str, str, float, float, float] | None:
        """The quota ``req`` would break now (or, with ``extra_only=False``, even alone):
        ``(label, name, resource, held, asked, quota)``; None if none."""
        p = self.policy
        for label, table, name, usage in (("user", p.user_quotas, req.user, self.tenant_used.get(req.tenant, {})),
                                          ("workflow", p.workflow_quotas, req.workflow,
                                           self.workflow_used.get(req.workflow, {}))):
            if not name:
                continue
            quota = p.quota(table, name)
            if not quota:
                continue
            for r, amount in req.demands.items():
                if r in quota:
                    held = usage.get(r, 0.0) if extra_only else 0.0
                    if held + amount > quota[r] + 1e-9:
                        return label, name, r, held, amount, quota[r]
        return None

    def _quota_problem(self, req: Request, extra_only: bool) -> str:
        """Why ``req`` would break a quota (see :meth:`_quota_hit`); '' if it would not."""
        hit = self._quota_hit(req, extra_only)
        if hit is None:
            return ""
        label, name, r, held, amount, quota = hit
        return f"{label} {name!r} quota on {r}: {held:g} held + {amount:g} asked > {quota:g}"

    def _fits(self, demands: Mapping[str, float], reserved: Mapping[str, float]) -> str:
        cap = self.policy.capacity
        for r, amount in demands.items():
            free = cap.get(r, 0.0) - self.used.get(r, 0.0) - reserved.get(r, 0.0)
            if amount > free + 1e-9:
                return f"{r}: {amount:g} asked, {max(free, 0.0):g} free"
        return ""

    def _grant(self, req: Request, now: float, reason: str) -> dict[str, Any]:
        req.state = "granted"
        self.queue.pop(req.id, None)
        for target in (self.used, self.tenant_used.setdefault(req.tenant, {}),
                       self.workflow_used.setdefault(req.workflow, {})):
            for r, amount in req.demands.items():
                target[r] = target.get(r, 0.0) + amount
        return self._decide(req, "granted", reason, now)

    def _ungrant(self, req: Request) -> None:
        for target in (self.used, self.tenant_used.get(req.tenant, {}), self.workflow_used.get(req.workflow, {})):
            for r, amount in req.demands.items():
                left = target.get(r, 0.0) - amount
                if left > 1e-9:
                    target[r] = left
                else:
                    target.pop(r, None)

    def _reject(self, req: Request, now: float, reason: str) -> dict[str, Any]:
        req.state = "rejected"
        self.queue.pop(req.id, None)
        return self._decide(req, "rejected", reason, now)

    # ------------------------------------------------------------------ API
    def submit(self, request_id: str, run: str, demands: Mapping[str, float], user: str = "", workflow: str = "",
               priority: int = 0, deadline: float | None = None) -> dict[str, Any]:
        """Decide on a new request; the decision's ``verdict`` is granted, queued or rejected."""
        old = self.requests.get(request_id)
        if old is not None and old.state in ("queued", "granted"):
            return self.decision(request_id)  # a retried submit is answered, not double-counted
        now = self.clock()
        clean: dict[str, float] = {}
        for r, amount in demands.items():
            if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
                raise UsageError(f"demand {r!r} must be a number >= 0, not {amount!r}", request_id=request_id)
            if amount:
                clean[str(r)] = float(amount)
        cap = self.policy.capacity
        clean = {r: a for r, a in clean.items() if r in cap or not r.startswith(TAG)}  # unlimited tags
        req = Request(request_id, run, user, workflow, clean, int(priority), deadline, now, next(self._seq))
        self.requests[request_id] = req
        unknown = [r for r in clean if r not in cap]
        if unknown:
            return self._reject(req, now, f"unknown resource(s) {', '.join(sorted(unknown))}; capacity has "
                                          f"{', '.join(sorted(cap)) or 'none'}")
        over = [f"{r}: {a:g} > capacity {cap[r]:g}" for r, a in clean.items() if a > cap[r] + 1e-9]
        if over:
            return self._reject(req, now, "can never fit: " + "; ".join(over))
        quota = self._quota_problem(req, extra_only=False)
        if quota:
            return self._reject(req, now, "can never fit: " + quota)
        if deadline is not None and deadline <= now:
            return self._reject(req, now, f"deadline {deadline:g} already passed at {now:g}")
        if len(self.queue) >= self.policy.max_queue:
            del self.requests[request_id]
            raise BusyError(f"arbitration queue is full ({self.policy.max_queue} requests)", request_id=request_id)
        self.queue[request_id] = req
        # Capacity has not grown since the last pass (release, tick and set_policy run one), so only the
        # newcomer can be granted now: it may take what is free beyond the capacity reserved for
        # long-waiting requests. This keeps a decision O(resources); the next pass re-ranks everyone.
        problem = self._quota_problem(req, extra_only=True) or self._fits(clean, self._reserved)
        if not problem:
            return self._grant(req, now, f"granted at once: fits ({self._usage_text(clean)})")
        return self._decide(req, "queued", f"waiting: {problem}", now)

    def _usage_text(self, demands: Mapping[str, float]) -> str:
        cap = self.policy.capacity
        return ", ".join(f"{r} {self.used.get(r, 0.0) + a:g}/{cap[r]:g}" for r, a in demands.items() if r in cap)

    def release(self, request_id: str) -> dict[str, Any]:
        """Return a granted request's resources or withdraw a queued one; ``granted`` lists who got them."""
        req = self.requests.get(request_id)
        if req is None:
            raise NotFoundError(f"no arbitration request {request_id!r}", request_id=request_id)
        now = self.clock()
        if req.state == "granted":
            self._ungrant(req)
        if req.state in ("granted", "queued"):
            self.queue.pop(request_id, None)
            req.state = "released"
            self._decide(req, "released", "released by its holder", now)
        granted = self._pass(now)
        return {"request_id": request_id, "state": req.state, "granted": granted}

    def reconcile(self, prefix: str, live: set[str] | frozenset[str]) -> list[str]:
        """Release every queued or granted request whose id starts with ``prefix`` and whose run is not in
        ``live`` (grants left by holders that ended without releasing); returns the released ids."""
        stale = [rid for rid, r in self.requests.items()
                 if rid.startswith(prefix) and r.state in ("granted", "queued") and r.run not in live]
        for rid in stale:
            self.release(rid)
        return stale

    def set_capacity(self, capacity: Mapping[str, float]) -> dict[str, Any]:
        """Set the amounts of some resources (others keep theirs), e.g. the executors actually configured."""
        merged = {**self.policy.data["capacity"], **{str(k): v for k, v in capacity.items()}}
        if merged == dict(self.policy.data["capacity"]):
            return dict(self.policy.data)
        return self.set_policy({"capacity": merged}, merge=True)

    def decision(self, request_id: str) -> dict[str, Any]:
        req = self.requests.get(request_id)
        if req is None:
            raise NotFoundError(f"no arbitration request {request_id!r}", request_id=request_id)
        verdict = {"granted": "granted", "queued": "queued", "rejected": "rejected"}.get(req.state, req.state)
        return {"request_id": req.id, "run": req.run, "verdict": verdict, "reason": req.reason}

    def tick(self) -> list[dict[str, Any]]:
        """Apply deadlines and aging; grant what now may be granted."""
        return self._pass(self.clock())

    # ------------------------------------------------------------------ the pass
    def _rank(self, req: Request, now: float, shares: dict[str, float] | None = None
              ) -> tuple[float, float, float, int]:
        """Sort key: effective priority (aged), weighted dominant share, deadline, arrival."""
        p = self.policy
        boost = int((now - req.submitted) // p.aging_s) if p.aging_s > 0 else 0
        if shares is None:
            dom = self._dominant(req.tenant)
        else:
            dom = shares.get(req.tenant)  # type: ignore[assignment]
            if dom is None:
                dom = shares[req.tenant] = self._dominant(req.tenant)
        share = dom / (p.user_weights.get(req.user, 1.0) * p.workflow_weights.get(req.workflow, 1.0))
        return (-(req.priority + boost), share, req.deadline if req.deadline is not None else INF, req.seq)

    def _pass(self, now: float) -> list[dict[str, Any]]:
        """Serve the queue in rank order; returns the grant (and deadline rejection) decisions made."""
        out: list[dict[str, Any]] = []
        if not self.queue:
            self._reserved = {}
            return out
        for req in [r for r in self.queue.values() if r.deadline is not None and r.deadline <= now]:
            out.append(self._reject(req, now, f"deadline {req.deadline:g} passed while queued"))
        # Resources every queued request needs, with the least amount asked: once less than that is free,
        # nothing more can be granted in this pass and the rest of the queue need not be visited.
        cap = self.policy.capacity
        queue = self.queue.values()
        need = {k: m for k in cap if (m := min((r.demands.get(k, 0.0) for r in queue), default=0.0)) > 0}
        shares: dict[str, float] = {}
        heap = [(self._rank(r, now, shares), r.id) for r in queue]
        heapq.heapify(heap)
        reserved: dict[str, float] = {}
        fit_floor: dict[str, float] = {}                      # resource -> least amount that did not fit
        quota_floor: dict[tuple[str, str, str], float] = {}   # (user, workflow, resource) -> least over quota
        position = 0
        while heap:
            if need and any(cap.get(k, 0.0) - self.used.get(k, 0.0) - reserved.get(k, 0.0) < v - 1e-9
                            for k, v in need.items()):
                for _, rest in heap:  # nothing more fits; still hold capacity for the long-waiting
                    late = self.queue[rest]
                    if now - late.submitted >= self.policy.reserve_after_s:
                        for r, amount in late.demands.items():
                            reserved[r] = reserved.get(r, 0.0) + amount
                break
            key, rid = heapq.heappop(heap)
            req = self.queue[rid]
            fresh = self._rank(req, now, shares)
            if fresh != key:  # its tenant's share grew since it was ranked
                heapq.heappush(heap, (fresh, rid))
                continue
            position += 1
            # Within a pass usage and reservations only grow: what failed for an amount fails for more.
            demands = req.demands
            if any(a >= quota_floor.get((req.user, req.workflow, r), INF) for r, a in demands.items()):
                continue  # over the same quota as an earlier request of this user and workflow
            hit = self._quota_hit(req, extra_only=True)
            if hit is not None:
                key3 = (req.user, req.workflow, hit[2])
                quota_floor[key3] = min(quota_floor.get(key3, INF), hit[4])
                req.reason = self._quota_problem(req, extra_only=True)
                continue
            if any(a >= fit_floor.get(r, INF) for r, a in demands.items()):
                problem = SKIPPED
            else:
                problem = self._fits(demands, reserved)
                if problem:
                    for r, a in demands.items():
                        if a > cap.get(r, 0.0) - self.used.get(r, 0.0) - reserved.get(r, 0.0) + 1e-9:
                            fit_floor[r] = min(fit_floor.get(r, INF), a)
            if not problem:
                out.append(self._grant(req, now, f"granted: rank {position} (priority {-key[0]:g}, share "
                                                 f"{key[1]:.3g}), fits ({self._usage_text(req.demands)})"))
                shares.pop(req.tenant, None)
                continue
            req.reason = problem
            if now - req.submitted >= self.policy.reserve_after_s:
                for r, amount in req.demands.items():
                    reserved[r] = reserved.get(r, 0.0) + amount
                req.reason = f"{problem}; capacity reserved for it (waited {now - req.submitted:g} s)"
        self._reserved = reserved
        for d in out:
            self.emit("arbitration.decision", d)
        return out

    # ------------------------------------------------------------------ conflicts
    def claim(self, kind: str, name: str, run: str, priority: int = 0) -> dict[str, Any]:
        """Decide who writes a named thing, by the policy for ``kind``."""
        rule = self.policy.conflicts.get(kind)
        if rule is None:
            known = ", ".join(sorted(self.policy.conflicts))
            raise UsageError(f"no conflict policy for kind {kind!r} (known: {known})", kind=kind)
        now = self.clock()
        key = (kind, name)
        c = self.claims.get(key)
        if c is None:
            self.claims[key] = _Claim(run, priority)
            return self._claim_decision(kind, name, run, "granted", "free", now)
        if c.holder == run:
            c.priority = max(c.priority, priority)
            return self._claim_decision(kind, name, run, "granted", "already held by this run", now)
        if rule == "first_wins":
            return self._claim_decision(kind, name, run, "rejected",
                                        f"held by run {c.holder} (policy first_wins)", now)
        if rule == "queue":
            if all(r != run for r, _ in c.waiting):
                c.waiting.append((run, priority))
            return self._claim_decision(kind, name, run, "queued", f"held by run {c.holder} (policy queue, "
                                                                   f"position {len(c.waiting)})", now)
        if rule == "priority" and priority <= c.priority:
            why = f"held by run {c.holder} at priority {c.priority} >= {priority} (policy priority)"
            return self._claim_decision(kind, name, run, "rejected", why, now)
        loser = c.holder
        self.claims[key] = _Claim(run, priority, c.waiting)
        self._claim_decision(kind, name, loser, "preempted", f"taken over by run {run} (policy {rule})", now)
        return self._claim_decision(kind, name, run, "granted", f"took over from run {loser} (policy {rule})", now)

    def unclaim(self, kind: str, name: str, run: str) -> dict[str, Any]:
        now = self.clock()
        c = self.claims.get((kind, name))
        if c is None:
            return {"kind": kind, "name": name, "released": False, "granted": []}
        if c.holder != run:
            c.waiting = [(r, p) for r, p in c.waiting if r != run]
            self.claims_dirty = True
            return {"kind": kind, "name": name, "released": False, "granted": []}
        granted: list[dict[str, Any]] = []
        if c.waiting:
            nxt = max(range(len(c.waiting)), key=lambda i: (c.waiting[i][1], -i))
            r, p = c.waiting.pop(nxt)
            self.claims[(kind, name)] = _Claim(r, p, c.waiting)
            granted.append(self._claim_decision(kind, name, r, "granted", f"released by run {run}", now))
        else:
            del self.claims[(kind, name)]
            self.claims_dirty = True
        return {"kind": kind, "name": name, "released": True, "granted": granted}

    def claims_data(self) -> list[list[Any]]:
        """Claims as plain rows ``[kind, name, holder, priority, [[run, priority], ...]]`` for the store."""
        return [[k, n, c.holder, c.priority, [list(w) for w in c.waiting]] for (k, n), c in self.claims.items()]

    def load_claims(self, rows: list[list[Any]]) -> None:
        self.claims = {(k, n): _Claim(h, int(p), [(str(r), int(q)) for r, q in w]) for k, n, h, p, w in rows}
        self.claims_dirty = False

    def _claim_decision(self, kind: str, name: str, run: str, verdict: str, reason: str,
                        now: float) -> dict[str, Any]:
        self.claims_dirty = True
        c = self.claims.get((kind, name))
        d = {"seq": next(self._decision_seq), "at": now, "request_id": f"{kind}:{name}", "run": run,
             "verdict": verdict, "reason": reason, "kind": kind, "name": name,
             "holder": c.holder if c else None}
        self.log.append(d)
        self.emit("arbitration.claim", d)
        return d

    # ------------------------------------------------------------------ policy, status, persistence
    def set_policy(self, data: Mapping[str, Any], merge: bool = False) -> dict[str, Any]:
        """Replace the policy (or merge into it); the queue is re-decided under the new one."""
        self.policy = parse_policy(data, self.policy.data if merge else None)
        self.log.append({"seq": next(self._decision_seq), "at": self.clock(), "request_id": "", "run": "",
                         "verdict": "policy", "reason": "policy replaced"})
        self._pass(self.clock())
        return dict(self.policy.data)

    def decisions(self, request_id: str | None = None, run: str | None = None, limit: int = 100
                  ) -> list[dict[str, Any]]:
        rows = [d for d in self.log if (request_id is None or d["request_id"] == request_id)
                and (run is None or d["run"] == run)]
        return rows[-limit:] if limit > 0 else []

    def status(self) -> dict[str, Any]:
        now = self.clock()
        order = sorted(self.queue.values(), key=lambda r: self._rank(r, now))
        return {"capacity": dict(self.policy.capacity), "used": dict(self.used),
                "queue": [{"request_id": r.id, "run": r.run, "reason": r.reason} for r in order],
                "granted": [r.id for r in self.requests.values() if r.state == "granted"],
                "claims": [{"kind": k, "name": n, "holder": c.holder, "waiting": [r for r, _ in c.waiting]}
                           for (k, n), c in self.claims.items()]}

    def restore(self, saved: list[dict[str, Any]]) -> None:
        """Reload queued and granted requests saved before a restart (in their original order)."""
        for data in sorted(saved, key=lambda d: int(d["seq"])):
            req = Request(data["request_id"], data["run"], data["user"], data["workflow"],
                          {k: float(v) for k, v in data["demands"].items()}, int(data["priority"]),
                          data["deadline"], float(data["submitted"]), int(data["seq"]), "queued", data["reason"])
            self.requests[req.id] = req
            if data["state"] == "granted":
                self._grant(req, float(data["submitted"]), data["reason"])
                self.log.pop()
            else:
                self.queue[req.id] = req
        top = max((int(d["seq"]) for d in saved), default=0)
        self._seq = itertools.count(top + 1)
        self.dirty.clear()

    def forget_finished(self, keep: int = 10_000) -> None:
        """Drop the oldest finished requests beyond ``keep`` (their decisions stay in the log)."""
        finished = [rid for rid, r in self.requests.items() if r.state in ("released", "rejected")]
        for rid in finished[: max(0, len(finished) - keep)]:
            del self.requests[rid]
