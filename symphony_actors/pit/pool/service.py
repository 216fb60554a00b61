"""The Pool Manager service: :class:`PoolCore` hosted with timers, events and a store for what it learned.

Options (``ServiceSettings.options``): any field of :class:`PoolConfig` (``memory_budget_mb``, ``policy``
hybrid|fixed, ``default_lease_s``, ``heartbeat_timeout_s``, ``memory_parity``, ...), ``health_interval_s``
(default 0.1), ``save_interval_s`` (default 5), ``histogram`` (a mapping of :class:`HistogramConfig`
fields), ``models`` (specs registered at start), ``loader`` (a :class:`ModelLoader` or
``"pkg.mod:factory"`` called with the settings; default :class:`InstantLoader`), ``clock`` (in-process
only). Model specs and idle-time histograms survive a restart in ``<data_dir>/pit/pool.sqlite3``;
instances and leases do not (a restarted pool starts cold).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from symphony_actors.pit._hosting import ServiceBase, clock_from, plugin_from
from symphony_actors.pit.kvstore import KVStore
from symphony_actors.pit.pool.core import ModelSpec, PoolConfig, PoolCore
from symphony_actors.pit.pool.histogram import HistogramConfig
from symphony_actors.pit.pool.loaders import InstantLoader
from symphony_actors.ports.service import ServiceSettings

__all__ = ["PoolService", "build"]


class PoolService(ServiceBase):
    """Hosts :class:`PoolCore`; its methods are :class:`~symphony_actors.ports.pit.PoolPort`'s plus ``tick``."""

    TIMER = "tick"
    EXPORTS: ClassVar[frozenset[str]] = frozenset({
        "register_model", "allocate", "lease", "renew", "release", "heartbeat", "loaded", "failed",
        "lookahead", "drain", "status", "tick"})

    def __init__(self, settings: ServiceSettings) -> None:
        opts = settings.options
        self.settings = settings
        self.clock = clock_from(opts)
        hist = HistogramConfig(**dict(opts.get("histogram", {})))
        given = {name: opts[name] for name in PoolConfig.__dataclass_fields__ if name in opts and name != "histogram"}
        cfg = PoolConfig(**given, histogram=hist)
        self.timer_s = float(opts.get("health_interval_s", 0.1))
        self.save_interval_s = float(opts.get("save_interval_s", 5.0))
        self.core = PoolCore(plugin_from(settings, "loader", InstantLoader()), self.clock, cfg, self._publish)
        self._store: KVStore | None = None
        self._last_save = self.clock()
        self._restore()
        for spec in opts.get("models", ()):
            self.register_model(**spec)

    # ------------------------------------------------------------------ hosting
    def _close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    @property
    def store(self) -> KVStore:
        if self._store is None:
            self._store = KVStore(self.settings.data_dir / "pit" / f"{self.settings.name}.sqlite3")
        return self._store

    def _restore(self) -> None:
        for name, saved in self.store.items("model"):
            spec = ModelSpec(**saved["spec"])
            self.core.register_model(spec, histogram=saved.get("histogram"))
            if saved.get("draining"):
                self.core.drain(name)
        self.core.dirty.clear()

    def _save(self, force: bool = True) -> None:
        now = self.clock()
        if self.core.dirty and (force or now - self._last_save >= self.save_interval_s):
            self.store.put_many("model", self.core.saved_models(sorted(self.core.dirty)))
            self.core.dirty.clear()
            self._last_save = now

    def tick(self) -> None:
        """Timer: lease expiry, health checks, keep-alive and prewarm windows, then save what was learned."""
        def work() -> None:
            self.core.tick()
            self._save(force=False)
        self._repeat(work)

    # ------------------------------------------------------------------ PoolPort
    def register_model(self, *, model: str, size_mb: float, load_cost_s: float = 1.0, max_instances: int = 1,
                       keep_alive_s: float | None = None) -> dict[str, Any]:
        result = self.core.register_model(ModelSpec(model, float(size_mb), float(load_cost_s), int(max_instances),
                                                    keep_alive_s))
        self._save(force=True)
        return result

    def allocate(self, *, model: str, holder: str, lease_s: float | None = None) -> dict[str, Any]:
        return self.core.allocate(model, holder, lease_s)

    def lease(self, *, lease_id: str) -> dict[str, Any]:
        return self.core.lease(lease_id)

    def renew(self, *, lease_id: str, lease_s: float | None = None) -> dict[str, Any]:
        return self.core.renew(lease_id, lease_s)

    def release(self, *, lease_id: str) -> dict[str, Any]:
        return self.core.release(lease_id)

    def heartbeat(self, *, instance: str) -> None:
        self.core.heartbeat(instance)

    def loaded(self, *, instance: str) -> None:
        self.core.loaded(instance)

    def failed(self, *, instance: str, reason: str) -> None:
        self.core.failed(instance, reason)

    def lookahead(self, *, models: Sequence[str], horizon_s: float = 60.0, run: str = "") -> dict[str, Any]:
        return self.core.lookahead(models, horizon_s, run)

    def drain(self, *, model: str) -> dict[str, Any]:
        result = self.core.drain(model)
        self._save(force=True)
        return result

    def status(self, *, model: str | None = None) -> dict[str, Any]:
        return self.core.status(model)


def build(settings: ServiceSettings) -> PoolService:
    """Factory for the runtime: ``symphony_actors.pit.pool.service:build``."""
    return PoolService(settings)
