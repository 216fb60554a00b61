"""The Pool Manager's logic: model instances, leases, keep-alive, eviction, prewarming and health.

Plain and deterministic: time comes from an injected clock, loading goes
through a :class:`~symphony_actors.pit.pool.loaders.ModelLoader`, events go to
an ``emit(topic, payload)`` callback. The service wraps it; benchmarks and the
trace simulator drive it directly.

Instance states: ``loading -> warm <-> busy``, ``busy -> draining`` (unloaded
once released), any live state ``-> failed``; an unloaded instance is simply
gone, so a model with no instance is *cold*.

Keep-alive: when the last lease of a model ends, its idle-time histogram
(:mod:`.histogram`) gives a prewarm and a keep-alive window. With a prewarm
window the warm instances are unloaded at once and one is loaded again when the
window ends; either way they stay warm until the keep-alive window ends.
Lookahead marks a model *expected* for a while: it is loaded now and neither
unloaded nor evicted until the expectation lapses.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from symphony_actors.domain.errors import BusyError, ConflictError, NotFoundError, UsageError
from symphony_actors.pit.pool.errors import InstanceFailed, LeaseExpired
from symphony_actors.pit.pool.histogram import HistogramConfig, IdleHistogram, Windows
from symphony_actors.pit.pool.loaders import LoadRequest, ModelLoader

__all__ = ["ModelSpec", "PoolConfig", "PoolCore"]

Emit = Callable[[str, dict[str, Any]], None]
LeaseState = Literal["loading", "active", "released", "failed", "expired"]

LOADING, WARM, BUSY, DRAINING, FAILED = "loading", "warm", "busy", "draining", "failed"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model the pool may load: memory it takes, seconds a load costs, how many instances at most."""

    model: str
    size_mb: float
    load_cost_s: float = 1.0
    max_instances: int = 1
    keep_alive_s: float | None = None  # overrides the fallback keep-alive for this model

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "size_mb": self.size_mb, "load_cost_s": self.load_cost_s,
                "max_instances": self.max_instances, "keep_alive_s": self.keep_alive_s}


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """Pool-wide settings; ``policy`` ``hybrid`` learns windows per model, ``fixed`` always keeps alive."""

    memory_budget_mb: float = 16384.0
    default_lease_s: float = 300.0
    heartbeat_timeout_s: float | None = None  # if set, warm/busy instances must heartbeat this often
    load_timeout_factor: float = 3.0          # loading longer than factor * load_cost (>= min) is stuck
    min_load_timeout_s: float = 5.0
    policy: Literal["hybrid", "fixed"] = "hybrid"
    histogram: HistogramConfig = field(default_factory=HistogramConfig)
    lookahead_grace_s: float = 30.0
    max_replacements: int = 3                 # consecutive failures of a model before it is not replaced
    memory_parity: bool = True                # adapt the budgeted windows' slack so that the pool's memory-time
    #                                           stays at what a fixed keep-alive would have used ...
    memory_parity_target: float = 0.95        # ... times this (expected memory is an estimate: keep a margin)
    finished_leases_kept: int = 10_000


@dataclass(slots=True)
class _Instance:
    id: str
    model: str
    state: str
    since: float
    last_used: float
    last_beat: float
    lease: str | None = None


@dataclass(slots=True)
class _Lease:
    id: str
    model: str
    holder: str
    instance: str
    state: LeaseState
    granted_at: float
    expires_at: float
    cold: bool
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"lease_id": self.id, "model": self.model, "holder": self.holder, "instance": self.instance,
                "state": self.state, "expires_at": self.expires_at, "cold": self.cold}


@dataclass(slots=True)
class _Model:
    spec: ModelSpec
    hist: IdleHistogram
    instances: dict[str, _Instance] = field(default_factory=dict)
    idle: list[str] = field(default_factory=list)  # warm instances without a lease, most recently used last
    leases: int = 0                                 # leases loading or active
    last_release: float | None = None
    first_use: float | None = None
    first_until: float | None = None  # two-phase windows: stay warm until then, unload, prewarm later
    prewarm_at: float | None = None
    keep_until: float | None = None
    expected_until: float = float("-inf")
    draining: bool = False
    failures_in_a_row: int = 0
    hits: int = 0
    cold_starts: int = 0
    loads: int = 0
    failures: int = 0


class PoolCore:
    """Model instances and leases under a memory budget; see the module docstring."""

    def __init__(self, loader: ModelLoader, clock: Callable[[], float], config: PoolConfig | None = None,
                 emit: Emit | None = None) -> None:
        self.loader, self.clock = loader, clock
        self.cfg = config or PoolConfig()
        self.emit: Emit = emit or (lambda topic, payload: None)
        self._models: dict[str, _Model] = {}
        self._instances: dict[str, _Instance] = {}
        self._leases: dict[str, _Lease] = {}
        self._finished: OrderedDict[str, _Lease] = OrderedDict()
        self._boot = os.urandom(3).hex()
        self._n = 0
        self.used_mb = 0.0
        self._mem_t = clock()
        self.mem_time_mb_s = 0.0
        self.failed_log: list[dict[str, Any]] = []
        self.dirty: set[str] = set()  # models whose spec or histogram changed since the last save
        self.slack = self.cfg.histogram.memory_slack
        self._parity_n = 0

    # ------------------------------------------------------------------ models
    def register_model(self, spec: ModelSpec, histogram: dict[str, Any] | None = None) -> dict[str, Any]:
        if spec.size_mb < 0 or spec.load_cost_s < 0 or spec.max_instances < 1:
            raise UsageError("size_mb and load_cost_s must be >= 0 and max_instances >= 1", model=spec.model)
        if spec.size_mb > self.cfg.memory_budget_mb:
            raise UsageError(f"model {spec.model!r} needs {spec.size_mb} MB, more than the whole budget "
                             f"({self.cfg.memory_budget_mb} MB)", model=spec.model)
        hcfg = self.cfg.histogram
        if spec.keep_alive_s is not None:
            hcfg = HistogramConfig(**{**_asdict(hcfg), "fixed_keep_alive_s": spec.keep_alive_s})
        m = self._models.get(spec.model)
        if m is None:
            hist = IdleHistogram.from_dict(hcfg, histogram) if histogram else IdleHistogram(hcfg)
            m = self._models[spec.model] = _Model(spec, hist)
        else:
            m.spec, m.draining = spec, False
            if m.hist.cfg != hcfg:
                m.hist = IdleHistogram.from_dict(hcfg, m.hist.to_dict())
        self.dirty.add(spec.model)
        return self._model_status(m)

    def _model(self, model: str) -> _Model:
        m = self._models.get(model)
        if m is None:
            raise NotFoundError(f"no model {model!r} is registered with the pool", model=model)
        return m

    def windows(self, model: str) -> Windows:
        m = self._model(model)
        if self.cfg.policy == "fixed":
            return Windows(0.0, m.hist.cfg.fixed_keep_alive_s, "fixed")
        return m.hist.windows(self.slack if self.cfg.memory_parity else None)

    def _parity(self, now: float) -> None:
        """Nudge the budgeted windows' slack so the pool's expected memory-time matches a fixed keep-alive's.

        Each model's histogram knows the expected memory-seconds per idle period of its chosen windows and
        of the fixed keep-alive; weighted by size and by how often the model goes idle, their ratio says
        whether the pool may spend more (slack up: models whose windows buy many warm starts per MB-second
        get what periodic ones save) or must spend less."""
        chosen = fixed = 0.0
        for m in self._models.values():
            if m.first_use is None or m.hist.total < m.hist.cfg.min_samples or now <= m.first_use:
                continue
            rate = m.spec.size_mb * m.hist.total / (now - m.first_use)
            chosen += rate * m.hist.expected[0]
            fixed += rate * m.hist.expected[1]
        if fixed <= 0:
            return
        ratio = chosen / fixed
        target = self.cfg.memory_parity_target
        if ratio < target - 0.03:
            self.slack = min(self.slack * 1.05, 16.0)
        elif ratio > target:
            self.slack = max(self.slack / 1.05, 0.25)

    # ------------------------------------------------------------------ leases
    def allocate(self, model: str, holder: str, lease_s: float | None = None) -> dict[str, Any]:
        """A lease on a warm instance (``active``) or on one being loaded (``loading``); see PoolPort."""
        m = self._models.get(model)
        if m is None:
            raise NotFoundError(f"no model {model!r} is registered with the pool", model=model)
        if m.draining:
            raise ConflictError(f"model {model!r} is draining", model=model)
        now = self.clock()
        if m.leases == 0:
            if m.first_use is None:
                m.first_use = now
            if m.last_release is not None:
                m.hist.add(now - m.last_release)
                self.dirty.add(model)
            m.first_until = m.prewarm_at = m.keep_until = None
        self._n += 1
        lid = f"{self._boot}-{self._n}"
        expires = now + (self.cfg.default_lease_s if lease_s is None else lease_s)
        if m.idle:  # the hot path: a warm hit
            inst = m.instances[m.idle.pop()]
            inst.state, inst.lease, inst.last_used = BUSY, lid, now
            lease = _Lease(lid, model, holder, inst.id, "active", now, expires, False)
            m.hits += 1
            m.leases += 1
            self._leases[lid] = lease
            return lease.to_dict()
        lease = _Lease(lid, model, holder, "", "loading", now, expires, True)
        self._leases[lid] = lease
        m.leases += 1
        waiting = self._waiting_instance(m)
        if waiting is not None:
            waiting.lease, lease.instance = lid, waiting.id
        else:
            try:
                self._start_instance(m, now, wanted_by=holder, lease=lease)
            except BusyError:
                del self._leases[lid]
                m.leases -= 1
                raise
        m.cold_starts += 1
        return lease.to_dict()

    def _waiting_instance(self, m: _Model) -> _Instance | None:
        for inst in m.instances.values():
            if inst.state == LOADING and inst.lease is None:
                return inst
        return None

    def _get_lease(self, lease_id: str) -> _Lease:
        lease = self._leases.get(lease_id) or self._finished.get(lease_id)
        if lease is None:
            raise NotFoundError(f"no lease {lease_id!r}", lease_id=lease_id)
        if lease.state in ("loading", "active") and lease.expires_at < self.clock():
            self._end_lease(lease, "expired", self.clock())
        if lease.state == "failed":
            raise InstanceFailed(f"instance {lease.instance} of model {lease.model!r} failed: {lease.error}",
                                 lease_id=lease_id, model=lease.model, instance=lease.instance, reason=lease.error)
        if lease.state == "expired":
            raise LeaseExpired(f"lease {lease_id} expired and instance {lease.instance} was taken back",
                               lease_id=lease_id, model=lease.model, instance=lease.instance)
        return lease

    def lease(self, lease_id: str) -> dict[str, Any]:
        return self._get_lease(lease_id).to_dict()

    def renew(self, lease_id: str, lease_s: float | None = None) -> dict[str, Any]:
        lease = self._get_lease(lease_id)
        if lease.state in ("loading", "active"):
            lease.expires_at = self.clock() + (self.cfg.default_lease_s if lease_s is None else lease_s)
        return lease.to_dict()

    def release(self, lease_id: str) -> dict[str, Any]:
        lease = self._get_lease(lease_id)
        if lease.state == "released":
            return lease.to_dict()
        self._end_lease(lease, "released", self.clock())
        return lease.to_dict()

    def _end_lease(self, lease: _Lease, state: LeaseState, now: float, error: str = "") -> None:
        was_live = lease.state in ("loading", "active")
        lease.state, lease.error = state, error
        del self._leases[lease.id]
        self._finished[lease.id] = lease
        if len(self._finished) > self.cfg.finished_leases_kept:
            self._finished.popitem(last=False)
        m = self._models[lease.model]
        inst = self._instances.get(lease.instance)
        if inst is not None and inst.lease == lease.id:
            inst.lease = None
            inst.last_used = now
            if inst.state == BUSY:
                inst.state = WARM
                m.idle.append(inst.id)
            elif inst.state == DRAINING:
                self._unload(inst, now, "drained")
        if was_live:
            m.leases -= 1
            if m.leases == 0:
                m.last_release = now
                self._parity_n += 1
                if self.cfg.memory_parity and self._parity_n % 16 == 0:
                    self._parity(now)
                self._schedule_idle(m, now)

    def _schedule_idle(self, m: _Model, now: float) -> None:
        w = self.windows(m.spec.model)
        if m.draining:
            return
        if w.prewarm_s > 0:
            if w.first_keep_s > 0:
                m.first_until = now + w.first_keep_s
            else:
                m.first_until = None
                for iid in list(m.idle):
                    self._unload(m.instances[iid], now, "prewarm window")
            m.prewarm_at = now + w.prewarm_s
            m.keep_until = m.prewarm_at + w.keep_alive_s
        else:
            m.first_until = m.prewarm_at = None
            m.keep_until = now + w.keep_alive_s

    # ------------------------------------------------------------------ instances
    def _start_instance(self, m: _Model, now: float, wanted_by: str, lease: _Lease | None = None) -> _Instance:
        live = sum(1 for i in m.instances.values() if i.state != DRAINING)
        if live >= m.spec.max_instances:
            raise BusyError(f"all {m.spec.max_instances} instance(s) of model {m.spec.model!r} are busy",
                            model=m.spec.model, reason="instances")
        if not self._make_room(m.spec.size_mb, now):
            raise BusyError(f"no memory for model {m.spec.model!r}: needs {m.spec.size_mb} MB, "
                            f"{self.cfg.memory_budget_mb - self.used_mb:.0f} MB free and nothing evictable",
                            model=m.spec.model, reason="memory")
        self._n += 1
        inst = _Instance(f"{m.spec.model}#{self._boot}-{self._n}", m.spec.model, LOADING, now, now, now)
        if lease is not None:
            inst.lease, lease.instance = lease.id, inst.id
        m.instances[inst.id] = inst
        self._instances[inst.id] = inst
        self._mem(now, m.spec.size_mb)
        m.loads += 1
        self.emit("pool.instance.loading", {"model": m.spec.model, "instance": inst.id, "for": wanted_by})
        if self.loader.load(LoadRequest(inst.id, m.spec.model, m.spec.size_mb, m.spec.load_cost_s)):
            self._ready(inst, now)
        return inst

    def _ready(self, inst: _Instance, now: float) -> None:
        m = self._models[inst.model]
        m.failures_in_a_row = 0
        inst.since = inst.last_beat = inst.last_used = now
        if inst.lease is not None:
            inst.state = BUSY
            lease = self._leases[inst.lease]
            lease.state = "active"
            self.emit("pool.lease.ready", {"lease_id": lease.id, "holder": lease.holder, "model": inst.model,
                                           "instance": inst.id})
        elif m.draining:
            self._unload(inst, now, "drained")
            return
        else:
            inst.state = WARM
            m.idle.append(inst.id)
        self.emit("pool.instance.warm", {"model": inst.model, "instance": inst.id})

    def _unload(self, inst: _Instance, now: float, reason: str) -> None:
        m = self._models[inst.model]
        del m.instances[inst.id]
        del self._instances[inst.id]
        if inst.state == WARM:
            m.idle.remove(inst.id)
        if inst.state != FAILED:
            self._mem(now, -m.spec.size_mb)
        self.loader.unload(inst.id)
        self.emit("pool.instance.unloaded", {"model": inst.model, "instance": inst.id, "reason": reason})

    def _mem(self, now: float, delta: float) -> None:
        self.mem_time_mb_s += self.used_mb * (now - self._mem_t)
        self._mem_t = now
        self.used_mb += delta

    def memory_time(self) -> float:
        """MB x seconds of loaded (or loading) instances so far."""
        return self.mem_time_mb_s + self.used_mb * (self.clock() - self._mem_t)

    def _make_room(self, need_mb: float, now: float) -> bool:
        """Evict idle warm instances (not expected by lookahead) until ``need_mb`` fits; False if it cannot."""
        free = self.cfg.memory_budget_mb - self.used_mb
        if need_mb <= free:
            return True
        candidates = []
        for m in self._models.values():
            if m.expected_until > now:
                continue
            for iid in m.idle:
                inst = m.instances[iid]
                # Keep what is costly to reload per MB and recently used; evict the cheap, big and stale.
                recency = 1.0 / (1.0 + (now - inst.last_used) / 60.0)
                candidates.append((recency * (m.spec.load_cost_s + 0.1) / max(m.spec.size_mb, 1e-3), iid))
        if free + sum(self._models[self._instances[i].model].spec.size_mb for _, i in candidates) < need_mb:
            return False
        candidates.sort()
        for _, iid in candidates:
            if self.cfg.memory_budget_mb - self.used_mb >= need_mb:
                break
            self._unload(self._instances[iid], now, "evicted")
        return True

    def _fail(self, inst: _Instance, now: float, reason: str) -> None:
        m = self._models[inst.model]
        was_wanted = inst.lease is not None or m.expected_until > now
        lease = self._leases.get(inst.lease) if inst.lease else None
        inst.lease = None
        if inst.state == WARM:
            m.idle.remove(inst.id)
        self._mem(now, -m.spec.size_mb)
        inst.state = FAILED
        m.failures += 1
        m.failures_in_a_row += 1
        self._unload(inst, now, f"failed: {reason}")
        record = {"model": inst.model, "instance": inst.id, "reason": reason, "at": now}
        self.failed_log = [*self.failed_log[-99:], record]
        self.emit("pool.instance.failed", record)
        if lease is not None:
            self._end_lease(lease, "failed", now, reason)
            self.emit("pool.lease.failed", {"lease_id": lease.id, "holder": lease.holder, "model": inst.model,
                                            "instance": inst.id, "reason": reason})
        if was_wanted and not m.draining and m.failures_in_a_row <= self.cfg.max_replacements:
            try:
                self._start_instance(m, now, wanted_by="replacement")
            except BusyError as exc:
                self.emit("pool.instance.not_replaced", {"model": inst.model, "reason": exc.message})

    # ------------------------------------------------------------------ notifications
    def heartbeat(self, instance: str) -> None:
        inst = self._instances.get(instance)
        if inst is None:
            raise NotFoundError(f"no live instance {instance!r} (it may have been replaced)", instance=instance)
        inst.last_beat = self.clock()

    def loaded(self, instance: str) -> None:
        inst = self._instances.get(instance)
        if inst is None:
            raise NotFoundError(f"no live instance {instance!r}", instance=instance)
        if inst.state == LOADING:
            self._ready(inst, self.clock())

    def failed(self, instance: str, reason: str) -> None:
        inst = self._instances.get(instance)
        if inst is None:
            raise NotFoundError(f"no live instance {instance!r}", instance=instance)
        self._fail(inst, self.clock(), reason)

    # ------------------------------------------------------------------ lookahead and drain
    def lookahead(self, models: Iterable[str], horizon_s: float = 60.0, run: str = "") -> dict[str, Any]:
        """Warm models that runs will reach within ``horizon_s``; keep them from eviction until then."""
        now = self.clock()
        warming: list[str] = []
        ready: list[str] = []
        skipped: dict[str, str] = {}
        for model in dict.fromkeys(models):
            m = self._models.get(model)
            if m is None:
                skipped[model] = "unknown model"
                continue
            if m.draining:
                skipped[model] = "draining"
                continue
            m.expected_until = max(m.expected_until, now + horizon_s + self.cfg.lookahead_grace_s)
            if m.idle or self._waiting_instance(m) is not None:
                ready.append(model)
                continue
            try:
                self._start_instance(m, now, wanted_by=f"lookahead:{run}" if run else "lookahead")
                warming.append(model)
            except BusyError as exc:
                skipped[model] = exc.message
        return {"warming": warming, "ready": ready, "skipped": skipped}

    def drain(self, model: str) -> dict[str, Any]:
        m = self._model(model)
        now = self.clock()
        m.draining = True
        m.first_until = m.prewarm_at = m.keep_until = None
        for inst in list(m.instances.values()):
            if inst.state == WARM:
                self._unload(inst, now, "drained")
            elif inst.state == BUSY:
                inst.state = DRAINING
        self.dirty.add(model)
        return self._model_status(m)

    # ------------------------------------------------------------------ time
    def tick(self) -> None:
        """Expire leases, run health checks, apply keep-alive and prewarm windows (call often)."""
        now = self.clock()
        for lease in [le for le in self._leases.values() if le.expires_at < now]:
            self.emit("pool.lease.expired", {"lease_id": lease.id, "holder": lease.holder, "model": lease.model})
            self._end_lease(lease, "expired", now)
        self._health(now)
        for m in self._models.values():
            if m.leases or m.draining:
                continue
            if m.first_until is not None and m.first_until <= now:
                m.first_until = None
                if m.expected_until <= now:
                    for iid in list(m.idle):
                        self._unload(m.instances[iid], now, "first keep-alive window ended")
            if m.prewarm_at is not None and m.prewarm_at <= now:
                m.prewarm_at = None
                if not m.instances:
                    try:
                        self._start_instance(m, now, wanted_by="prewarm")
                    except BusyError as exc:
                        self.emit("pool.prewarm.skipped", {"model": m.spec.model, "reason": exc.message})
            if m.keep_until is not None and m.keep_until <= now and m.expected_until <= now and (
                    m.prewarm_at is None):
                m.keep_until = None
                for iid in list(m.idle):
                    self._unload(m.instances[iid], now, "keep-alive ended")
                for inst in [i for i in m.instances.values() if i.state == LOADING and i.lease is None]:
                    self._unload(inst, now, "keep-alive ended")

    def _health(self, now: float) -> None:
        hb = self.cfg.heartbeat_timeout_s
        for inst in list(self._instances.values()):
            probe = self.loader.probe(inst.id)
            if probe == "dead":
                self._fail(inst, now, "dead")
            elif probe == "stuck":
                self._fail(inst, now, "stuck")
            elif inst.state == LOADING:
                if probe == "ready":
                    self._ready(inst, now)
                else:
                    spec = self._models[inst.model].spec
                    if now - inst.since > max(self.cfg.min_load_timeout_s,
                                              self.cfg.load_timeout_factor * spec.load_cost_s):
                        self._fail(inst, now, "stuck loading")
            elif hb is not None and now - inst.last_beat > hb:
                self._fail(inst, now, f"no heartbeat for {now - inst.last_beat:.3f} s")

    def next_due(self) -> float:
        """The earliest time a prewarm or keep-alive window ends (inf if none): for event-driven replay."""
        due = float("inf")
        for m in self._models.values():
            if m.first_until is not None:
                due = min(due, m.first_until)
            if m.prewarm_at is not None:
                due = min(due, m.prewarm_at)
            if m.keep_until is not None:
                due = min(due, max(m.keep_until, m.expected_until))
        return due

    # ------------------------------------------------------------------ status and persistence
    def _model_status(self, m: _Model) -> dict[str, Any]:
        states: dict[str, int] = {}
        for inst in m.instances.values():
            states[inst.state] = states.get(inst.state, 0) + 1
        return {**m.spec.to_dict(), "state": "draining" if m.draining else ("cold" if not m.instances else "live"),
                "instances": {i.id: i.state for i in m.instances.values()}, "counts": states,
                "leases": m.leases, "windows": self.windows(m.spec.model).to_dict(),
                "first_until": m.first_until, "prewarm_at": m.prewarm_at, "keep_until": m.keep_until,
                "expected_until": m.expected_until if m.expected_until > float("-inf") else None,
                "hits": m.hits, "cold_starts": m.cold_starts, "loads": m.loads, "failures": m.failures}

    def status(self, model: str | None = None) -> dict[str, Any]:
        models = [self._model(model)] if model is not None else list(self._models.values())
        return {"memory_budget_mb": self.cfg.memory_budget_mb, "memory_used_mb": self.used_mb,
                "memory_time_mb_s": self.memory_time(), "policy": self.cfg.policy,
                "models": {m.spec.model: self._model_status(m) for m in models},
                "leases": len(self._leases), "recent_failures": list(self.failed_log[-10:])}

    def saved_models(self, names: Iterable[str]) -> list[tuple[str, dict[str, Any]]]:
        """Spec and histogram of each named model, for the store."""
        return [(n, {"spec": self._models[n].spec.to_dict(), "draining": self._models[n].draining,
                     "histogram": self._models[n].hist.to_dict()}) for n in names if n in self._models]


def _asdict(cfg: HistogramConfig) -> dict[str, Any]:
    return {name: getattr(cfg, name) for name in cfg.__dataclass_fields__}
